"""Reading corpus files: the corpus's own JSON format and schema.org ClaimReview JSON-LD.  No SQL here.

Every error is an ``ImportFileError`` whose message names the record and field at fault
("articles[3].url: not an http(s) URL"), so a moderator can fix the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.models import CORPUS_FORMAT, Article, Claim, CorpusFile, Outlet, OutletType, Story, slugify
from bot.text import clean_text
from bot.urls import canonicalize_url, normalize_domain

#: Largest file an import reads (the CLI and Discord attachments alike).
MAX_IMPORT_BYTES = 64 * 1024 * 1024
#: Deepest JSON nesting accepted (a corpus file needs about 8).
MAX_DEPTH = 32
#: Most records one file may hold.
MAX_RECORDS = 2_000_000


class ImportFileError(ValueError):
    """The file cannot be imported; nothing was changed.  The message is safe to show to a moderator."""


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(file)"


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    errs = exc.errors(include_url=False)
    first = errs[0]
    loc = _loc(tuple(first.get("loc", ())))
    msg = first.get("msg", "invalid").removeprefix("Value error, ")
    more = f" (and {len(errs) - 1} more problem{'s' if len(errs) > 2 else ''})" if len(errs) > 1 else ""
    where = f"{prefix}{'.' if prefix and not loc.startswith('[') else ''}{loc}" if prefix else loc
    return f"{where}: {msg}{more}"


def _depth_ok(obj: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(obj, 1)]
    while stack:
        cur, d = stack.pop()
        if d > limit:
            return False
        if isinstance(cur, dict):
            stack.extend((v, d + 1) for v in cur.values())
        elif isinstance(cur, list):
            stack.extend((v, d + 1) for v in cur)
    return True


def parse_json_bytes(data: bytes, name: str = "file") -> Any:
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileError(f"{name}: {len(data):,} bytes is over the {MAX_IMPORT_BYTES // (1024 * 1024)} MiB limit")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{name}: not UTF-8 text (byte {exc.start})") from exc
    try:
        obj = json.loads(text)
    except RecursionError as exc:
        raise ImportFileError(f"{name}: JSON nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"{name}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits (sys.get_int_max_str_digits)
        raise ImportFileError(f"{name}: not usable JSON: {str(exc).split(';')[0]}") from exc
    if not _depth_ok(obj):
        raise ImportFileError(f"{name}: JSON nested deeper than {MAX_DEPTH} levels")
    return obj


def _surrogate_free(obj: Any) -> Any:
    """JSON may carry lone surrogates (\\ud800); they cannot be stored as UTF-8, so they are dropped."""
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
            return obj
        except UnicodeEncodeError:
            return obj.encode("utf-8", "ignore").decode("utf-8")
    if isinstance(obj, list):
        return [_surrogate_free(v) for v in obj]
    if isinstance(obj, dict):
        return {_surrogate_free(k): _surrogate_free(v) for k, v in obj.items()}
    return obj


def detect_format(obj: Any) -> str:
    if isinstance(obj, dict) and obj.get("format") == CORPUS_FORMAT:
        return "corpus"
    if any(True for _ in _claimreview_items(obj)):
        return "claimreview"
    if isinstance(obj, dict) and {"stories", "articles"} & set(obj):
        return "corpus"
    raise ImportFileError(
        "file: neither a Crosscheck corpus file (\"format\": \"crosscheck-corpus\") nor schema.org ClaimReview JSON-LD"
    )


def load_corpus_obj(obj: Any) -> CorpusFile:
    if not isinstance(obj, dict):
        raise ImportFileError("file: a corpus file is a JSON object")
    n = sum(len(obj.get(k) or []) for k in ("outlets", "stories", "articles", "claims") if isinstance(obj.get(k), list))
    if n > MAX_RECORDS:
        raise ImportFileError(f"file: {n:,} records is over the limit of {MAX_RECORDS:,}")
    try:
        return CorpusFile.model_validate(_surrogate_free(obj))
    except ValidationError as exc:
        raise ImportFileError(format_validation_error(exc)) from exc


# -- schema.org ClaimReview ---------------------------------------------------------------------------------------


def _types(item: dict[str, Any]) -> set[str]:
    t = item.get("@type")
    if isinstance(t, str):
        return {t.split("/")[-1].split(":")[-1]}
    if isinstance(t, list):
        return {str(x).split("/")[-1].split(":")[-1] for x in t}
    return set()


def _claimreview_items(obj: Any) -> Iterator[dict[str, Any]]:
    if isinstance(obj, list):
        for x in obj:
            yield from _claimreview_items(x)
    elif isinstance(obj, dict):
        if "ClaimReview" in _types(obj):
            yield obj
        elif "@graph" in obj:
            yield from _claimreview_items(obj["@graph"])
        elif "mainEntity" in obj and isinstance(obj["mainEntity"], (dict, list)):
            yield from _claimreview_items(obj["mainEntity"])


def _text(v: Any, limit: int = 2000) -> str | None:
    """A text field of a ClaimReview item; None when it has no visible character (so the next candidate is used)."""
    if isinstance(v, str):
        v = v.strip()
        return v[:limit] if clean_text(v).strip() else None
    if isinstance(v, dict):
        return _text(v.get("name") or v.get("text") or v.get("headline"), limit)
    if isinstance(v, list) and v:
        return _text(v[0], limit)
    return None


def _date(v: Any) -> date | None:
    if not isinstance(v, str) or not v.strip():
        return None
    s = v.strip()
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return date.fromisoformat(s[:10])
        except ValueError:
            return None


def load_claimreview_obj(obj: Any, *, story: str | None = None) -> CorpusFile:
    """ClaimReview items -> one story per reviewed claim (or all under ``story``), the reviewer as an outlet, the
    review page as an article.  Errors name the item: "ClaimReview[3].claimReviewed: missing"."""
    items = list(_claimreview_items(obj))
    if not items:
        raise ImportFileError("file: no ClaimReview items found")
    if len(items) > MAX_RECORDS // 4:
        raise ImportFileError(f"file: {len(items):,} ClaimReview items is over the limit of {MAX_RECORDS // 4:,}")
    outlets: dict[str, Outlet] = {}
    stories: dict[str, Story] = {}
    articles: list[Article] = []
    claims: list[Claim] = []
    seen_claims: set[str] = set()
    for i, raw in enumerate(items):
        where = f"ClaimReview[{i}]"
        item = _surrogate_free(raw)
        claim_text = _text(item.get("claimReviewed"))
        if not claim_text:
            raise ImportFileError(f"{where}.claimReviewed: missing or empty")
        url = item.get("url") if isinstance(item.get("url"), str) else None
        if url and not canonicalize_url(url):
            raise ImportFileError(f"{where}.url: not an http(s) URL")
        rating = item.get("reviewRating") if isinstance(item.get("reviewRating"), dict) else {}
        verdict = _text(rating.get("alternateName")) or _text(rating.get("name"))
        if verdict is None and rating.get("ratingValue") is not None:
            verdict = f"{rating.get('ratingValue')}/{rating.get('bestRating', '?')}"
        author = item.get("author")
        reviewer = _text(author) or (normalize_domain(url) if url else None) or "Unknown fact-checker"
        reviewer_url = author.get("url") if isinstance(author, dict) and isinstance(author.get("url"), str) else url
        reviewed = item.get("itemReviewed") if isinstance(item.get("itemReviewed"), dict) else {}
        claimant = _text(reviewed.get("author"))
        key = hashlib.sha1((url or claim_text).encode("utf-8", "ignore")).hexdigest()[:10]
        outlet_id = "fc-" + slugify(reviewer, 50)
        if outlet_id not in outlets:
            domain = normalize_domain(reviewer_url) if reviewer_url else None
            try:
                outlets[outlet_id] = Outlet(id=outlet_id, name=reviewer[:300], type=OutletType.fact_checker,
                                            domains=[domain] if domain else [])
            except ValidationError as exc:
                raise ImportFileError(format_validation_error(exc, f"{where}.author")) from exc
        story_id = story or f"cr-{slugify(claim_text, 50)}-{key}"
        try:
            if story is None and story_id not in stories:
                stories[story_id] = Story(id=story_id, title=claim_text[:300], summary=_text(item.get("reviewBody")) or "",
                                          first_seen=_date(item.get("datePublished")))
            claim_id = f"claim-{key}"
            if claim_id in seen_claims:
                raise ImportFileError(f"{where}: duplicate of an earlier item (same url or claim)")
            seen_claims.add(claim_id)
            art_ids = []
            if url:
                art_id = f"review-{key}"
                body = _text(item.get("reviewBody"), 20_000) or _text(item.get("description"), 20_000) or claim_text
                articles.append(Article(id=art_id, story=story_id, outlet=outlet_id, url=url,
                                        title=(_text(item.get("name")) or _text(item.get("headline")) or claim_text)[:300],
                                        published=_date(item.get("datePublished")), text=body))
                art_ids.append(art_id)
            claims.append(Claim(id=claim_id, story=story_id, text=claim_text, articles=art_ids, verdict=verdict,
                                claimant=claimant, reviewed_by=reviewer[:200], review_url=url,
                                review_date=_date(item.get("datePublished"))))
        except ValidationError as exc:
            raise ImportFileError(format_validation_error(exc, where)) from exc
    try:
        return CorpusFile(outlets=list(outlets.values()), stories=list(stories.values()), articles=articles, claims=claims)
    except ValidationError as exc:
        raise ImportFileError(format_validation_error(exc)) from exc


def load_bytes(data: bytes, name: str = "file", *, story: str | None = None) -> tuple[str, CorpusFile]:
    """(format, corpus file) from a file's bytes; raises ImportFileError naming the record and field at fault."""
    obj = parse_json_bytes(data, name)
    fmt = detect_format(obj)
    if fmt == "corpus":
        return fmt, load_corpus_obj(obj)
    return fmt, load_claimreview_obj(obj, story=story)


def load_path(path: str | Path, *, story: str | None = None) -> tuple[str, CorpusFile]:
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ImportFileError(f"{p}: {exc.strerror or exc}") from exc
    if size > MAX_IMPORT_BYTES:
        raise ImportFileError(f"{p.name}: {size:,} bytes is over the {MAX_IMPORT_BYTES // (1024 * 1024)} MiB limit")
    return load_bytes(p.read_bytes(), p.name, story=story)


def to_claimreview(file: CorpusFile) -> list[dict[str, Any]]:
    """Claims that carry a verdict, as schema.org ClaimReview objects."""
    out = []
    for c in file.claims:
        if not c.verdict:
            continue
        item: dict[str, Any] = {
            "@context": "https://schema.org",
            "@type": "ClaimReview",
            "claimReviewed": c.text,
            "reviewRating": {"@type": "Rating", "alternateName": c.verdict},
        }
        if c.review_url:
            item["url"] = c.review_url
        if c.reviewed_by:
            item["author"] = {"@type": "Organization", "name": c.reviewed_by}
        if c.review_date:
            item["datePublished"] = c.review_date.isoformat()
        if c.claimant:
            item["itemReviewed"] = {"@type": "Claim", "author": {"@type": "Organization", "name": c.claimant}}
        out.append(item)
    return out
