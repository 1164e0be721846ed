"""Quality signals: what in an article should raise or lower a reader's trust, each with the evidence that shows it.

Pure functions, no Discord, no network.  The criteria draw on NewsGuard's nine credibility criteria (sourcing,
attribution, news/opinion separation, headlines, authorship ...), the Credibility Coalition / W3C Credible Web content
signals (clickbait, emotional tone, citation of sources, quotes, spelling) and the SemEval-2020 task 11 propaganda
techniques (loaded language, name calling, doubt, exaggeration ...).  docs/signals.md documents the catalogue, what
triggers each signal and the trust formula; the word lists live in bot/lexicons/ (bot/lexicons/README.md).

Guarantees
  * every signal carries evidence: quoted spans (trimmed with "…", at most ~200 characters in all) or a count and what
    was counted;
  * nothing here raises on any ``str`` (lone surrogates, NULs, bidi overrides, combining marks are cleaned first);
  * linear time: one trie-shaped scan of the lower-cased text finds every lexicon word and every "trigger" word
    (speech verbs, "according to", month names, shopping phrases ...); detectors then run anchored, bounded patterns
    at those positions only.  No pattern has nested unbounded quantifiers or ambiguous alternation under repetition,
    and per-hit Python work is capped, so a 1 MB paste is analysed in a fraction of a second.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from bot.models import Article, Outlet, OutletFlag, OutletRating, OutletType, rating_json
from bot.report import Polarity, Signal, SourceOut
from bot.text import clean_text

__all__ = [
    "SIGNAL_IDS",
    "article_signals",
    "build_sources",
    "reload_lexicons",
    "source_trust",
    "strength_band",
    "summarize",
]

LEXICON_DIR = Path(__file__).with_name("lexicons")

#: Strength bands: below WEAK a signal is "weak", below STRONG "moderate", else "strong".
WEAK = 0.34
STRONG = 0.67

#: Most hits of one kind that get per-hit Python work (a hostile paste may repeat a trigger 100,000 times).
MAX_HITS = 5_000
#: Most hits of one kind that get an expensive check (a regex over the surrounding sentence).
MAX_CHECKS = 1_000
#: Most hits of the shared word scan that are looked at.
MAX_SCAN = 20_000
#: At most this many characters of evidence per signal (quotes are trimmed with "…").
EVIDENCE_BUDGET = 200

POS, NEG, NEUTRAL = Polarity.positive, Polarity.negative, Polarity.neutral


class _Def(NamedTuple):
    label: str
    polarity: Polarity
    #: How much a full-strength signal of this kind moves the trust score (docs/signals.md, "Trust").
    weight: float
    #: Summary phrase: {n} = the evidence's leading count, {s} = plural "s", {items} = its first quoted spans.
    phrase: str


_CATALOGUE: dict[str, _Def] = {
    # --- positive -------------------------------------------------------------------------------------------
    "citations": _Def("Cites references", POS, 1.0, "cites {n} reference{s}"),
    "named_attribution": _Def("Named sources", POS, 0.8, "names its sources: {items}"),
    "direct_quote": _Def("Quotes a named speaker", POS, 0.5, "{n} quote{s} with a named speaker"),
    "byline": _Def("Author named", POS, 0.2, "author named"),
    "dated": _Def("Publication date given", POS, 0.15, "dated"),
    # --- neutral: context for the reader, no weight in trust ---------------------------------------------------
    "labelled_opinion": _Def("Labelled as opinion", NEUTRAL, 0.0, "labelled as opinion"),
    # --- negative -------------------------------------------------------------------------------------------
    "vague_sourcing": _Def("Anonymous or vague sourcing", NEG, 0.8, "vague sourcing: {items}"),
    "social_evidence": _Def("Social posts as evidence", NEG, 0.7, "leans on social posts: {items}"),
    "sensational": _Def("Sensational presentation", NEG, 0.7, "sensational presentation: {items}"),
    "commercial": _Def("Commercial injection", NEG, 1.0, "shopping/ad lines: {items}"),
    "chatbot_boilerplate": _Def("Machine-generation artefact: chatbot text", NEG, 1.5, "leftover chatbot text: {items}"),
    "markup_residue": _Def("Machine-generation artefact: leftover JSON/markup", NEG, 1.0, "leftover JSON/markup: {items}"),
    "repeated_text": _Def("Machine-generation artefact: repeated sentences", NEG, 0.8, "repeats sentences: {items}"),
    "loaded_language": _Def("Loaded or partisan wording", NEG, 0.8, "partisan wording: {items}"),
    "opinion_as_analysis": _Def("Opinion presented as analysis", NEG, 0.7, "opinion framed as analysis: {items}"),
    "hedging": _Def("Heavy hedging and speculation", NEG, 0.4, "heavy speculation: {items}"),
    "certainty_boosters": _Def("Certainty boosters", NEG, 0.4, "certainty claims: {items}"),
    "date_conflict": _Def("Conflicting dates", NEG, 0.8, "conflicting dates: {items}"),
    "misspellings": _Def("Spelling errors", NEG, 0.5, "misspellings: {items}"),
    "no_byline": _Def("No author named", NEG, 0.2, "no author named"),
    "undated": _Def("No publication date", NEG, 0.15, "no publication date"),
}

#: The catalogue: signal id -> human label (docs/signals.md describes each).
SIGNAL_IDS: dict[str, str] = {k: d.label for k, d in _CATALOGUE.items()}


def strength_band(strength: float) -> str:
    """'weak' (< 0.34), 'moderate' (< 0.67) or 'strong'."""
    return "weak" if strength < WEAK else "moderate" if strength < STRONG else "strong"


# =====================================================================================================================
# Lexicons and trigger words: one trie-shaped regex over the lower-cased text
# =====================================================================================================================

#: Words that make a detector look closer (internal lexicons; their names start with "_").
_TRIGGERS: dict[str, tuple[str, ...]] = {
    "_verb": tuple(
        """said says stated states told tells added adds noted notes explained explains remarked remarks warned warns
        announced announces confirmed confirms declared declares emphasized emphasised emphasizes emphasises insisted
        insists argued argues wrote writes tweeted stressed stresses replied responded acknowledged admitted denied
        claimed claims""".split()
    )
    + ("pointed out",),
    "_vague": tuple(
        """expert experts analyst analysts observer observers source sources reports critics insider insiders
        commentators officials diplomats reporters outlets coverage studies assessments""".split()
    )
    + ("people familiar with the matter",),
    "_according": ("according to",),
    "_selfref": ("story", "narrative", "article", "text"),
    "_source": ("source", "sources"),
    "_commercial": (
        "shop now", "shop amazon", "shop our", "shop the", "click to buy", "click here to buy", "click to shop",
        "click to order", "click here to order", "buy now", "buy it now", "buy from amazon", "buy on amazon",
        "best sellers", "affiliate link", "affiliate links", "sponsored content", "sponsored post", "sponsored by",
        "use code", "use promo code", "use coupon code", "use discount code", "limited time offer", "order now",
        "add to cart", "free shipping", "deal of the day", "amzn.to", "paid partnership",
        "we may earn a commission", "as an amazon associate",
    ),
    "_month": tuple(
        """january february march april may june july august september october november december jan feb mar apr
        jun jul aug sep sept oct nov dec""".split()
    ),
    "_url": ("http", "https"),
    "_social": (
        "pic.twitter.com", "t.co", "twitter.com", "www.twitter.com", "mobile.twitter.com", "x.com", "www.x.com",
        "facebook.com", "www.facebook.com", "instagram.com", "www.instagram.com", "tiktok.com", "www.tiktok.com",
        "t.me",
    ),
    "_breaking": (
        "breaking", "breaking news", "breakingnews", "just in", "urgent", "shocking", "bombshell", "must see",
        "must read", "alert", "exposed",
    ),
}  # fmt: skip

_SEP, _APOS, _STAR, _END = "\x00s", "\x00a", "\x00*", "\x00e"
_UNIT_RE = {_SEP: r"[\s\-–]{1,3}", _APOS: r"['’]", _STAR: r"\w{0,25}"}
_CANON_SEP_RE = re.compile(r"[\s\-–]{1,50}")
_MAX_PHRASE = 80


def _canon(s: str, lower: bool = True) -> str:
    s = _CANON_SEP_RE.sub(" ", s.replace("’", "'")).strip()
    return s.lower() if lower else s


@dataclass(frozen=True)
class _Entry:
    lexicon: str
    text: str  # canonical phrase (lower-case unless exact), without the trailing '*'
    weight: float = 1.0
    exact: bool = False
    star: bool = False
    order: int = 0
    fix: str = ""  # misspellings: the right spelling


@dataclass
class _Lexicons:
    ci_re: re.Pattern[str] | None  # scans the lower-cased text
    cs_re: re.Pattern[str] | None  # outlet names, exact case, scans the text
    ci_exact: dict[str, list[_Entry]]
    ci_star: list[_Entry]
    cs_exact: dict[str, list[_Entry]]


def _trie_regex(phrases: Iterable[str], star: set[str]) -> str | None:
    """A regex matching any of ``phrases``, shaped as a trie: each alternative starts with a different literal.

    No leading look-behind or ``\\b``: a literal-led alternation lets the scanner skip quickly; word starts are
    checked in Python for the (few) matches.  Longest phrase wins (a terminal node is an optional group).
    """
    root: dict = {}
    for phrase in phrases:
        node = root
        for ch in phrase:
            unit = _SEP if ch == " " else _APOS if ch == "'" else ch
            node = node.setdefault(unit, {})
        if phrase in star:
            node = node.setdefault(_STAR, {})
        node[_END] = {}
    if not root:
        return None

    def emit(node: dict) -> str:
        alts = [
            (_UNIT_RE[u] if u in _UNIT_RE else re.escape(u)) + emit(child)
            for u, child in sorted(node.items())
            if u != _END
        ]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return "(?:" + body + ")?" if _END in node else body

    return emit(root) + r"(?!\w)"


def _read_lexicon(name: str) -> list[str]:
    try:
        return (LEXICON_DIR / name).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


def _parse_entry(lexicon: str, raw: str, order: int) -> _Entry | None:
    line = clean_text(raw.split("#", 1)[0]).strip()
    if not line:
        return None
    weight, fix = 1.0, ""
    if lexicon == "misspellings":
        if "->" not in line:
            return None
        line, fix = (p.strip() for p in line.split("->", 1))
    elif "|" in line:
        line, w = line.rsplit("|", 1)
        try:
            weight = _clamp(float(w), 0.0, 5.0)
        except ValueError:
            weight = 1.0
        line = line.strip()
    exact = len(line) > 2 and line[0] == "[" and line[-1] == "]"
    if exact:
        line = line[1:-1].strip()
    star = line.endswith("*")
    text = _canon(line.rstrip("*"), lower=not exact)
    if not text or len(text) > _MAX_PHRASE:
        return None
    return _Entry(lexicon, text, weight, exact, star, order, fix)


@lru_cache(maxsize=1)
def _lexicons() -> _Lexicons:
    ci_exact: dict[str, list[_Entry]] = {}
    ci_star: list[_Entry] = []
    phrases: set[str] = set()
    star_phrases: set[str] = set()
    lines: list[tuple[str, str]] = [
        (lex, raw)
        for lex in ("loaded", "opinion", "hedges", "boosters", "chatbot", "misspellings")
        for raw in _read_lexicon(lex + ".txt")
    ]
    lines += [(lex, word) for lex, words in _TRIGGERS.items() for word in words]
    for order, (lex, raw) in enumerate(lines):
        entry = _parse_entry(lex, raw, order)
        if entry is None:
            continue
        key = entry.text.lower()
        phrases.add(key)
        if entry.star:
            star_phrases.add(key)
            ci_star.append(entry)
        else:
            ci_exact.setdefault(key, []).append(entry)
    ci_star.sort(key=lambda e: -len(e.text))
    cs_exact: dict[str, list[_Entry]] = {}
    for raw in _read_lexicon("outlets.txt"):
        text = _canon(clean_text(raw.split("#", 1)[0]), lower=False)
        if text and len(text) <= _MAX_PHRASE:
            cs_exact.setdefault(text, []).append(_Entry("outlets", text))
    ci_src = _trie_regex(sorted(phrases), star_phrases)
    cs_src = _trie_regex(sorted(cs_exact), set())
    return _Lexicons(
        re.compile(ci_src) if ci_src else None,
        re.compile(cs_src) if cs_src else None,
        ci_exact,
        ci_star,
        cs_exact,
    )


def reload_lexicons() -> None:
    """Forget the cached word lists so edits to bot/lexicons/ take effect."""
    _lexicons.cache_clear()


# =====================================================================================================================
# Evidence formatting
# =====================================================================================================================


def _trim(s: str, limit: int = 70) -> str:
    s = " ".join(s.split()).replace("“", '"').replace("”", '"')
    if len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return s


def _q(s: str, limit: int = 70) -> str:
    return "“" + _trim(s, limit) + "”"


def _evidence(head: str, items: Sequence[str], budget: int = EVIDENCE_BUDGET) -> str:
    """``head: item, item, …`` within ``budget`` characters (items come quoted)."""
    out = head
    sep = ": " if head else ""
    for i, item in enumerate(items):
        piece = sep + item
        if len(out) + len(piece) > budget:
            if i == 0:  # always show at least one span, shortened
                room = max(12, budget - len(out) - len(sep) - 2)
                out += sep + _q(item.strip("“”"), room)
            else:
                out += ", …"
            break
        out += piece
        sep = ", "
    return out or "(no detail)"


def _counted(counter: Counter[str], display: Mapping[str, str] | None = None, limit: int = 40) -> list[str]:
    """Quoted items ordered by frequency then first appearance, with ×n for repeats."""
    return [_q(display[k] if display else k, limit) + (f" ×{n}" if n > 1 else "") for k, n in counter.most_common()]


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _clamp(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    if x != x:  # NaN
        return lo
    return max(lo, min(hi, x))


def _signal(sid: str, strength: float, evidence: str) -> Signal:
    d = _CATALOGUE[sid]
    return Signal(id=sid, label=d.label, polarity=d.polarity, strength=round(_clamp(strength), 3), evidence=evidence)


# =====================================================================================================================
# The document: cleaned text plus what several detectors share
# =====================================================================================================================

_CTRL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# A quotation: bounded, no quote characters inside, so pairs are found left to right without backtracking blow-ups.
_QUOTE_RE = re.compile(r"[“\"«„]([^“”\"«»„\n]{8,600})[”\"»“]")
_REF_RE = re.compile(r"\[(\d{1,3})\]")
_REF_AFTER_RE = re.compile(r"[ \t]{0,2}\[\d{1,3}\]")
_ASCII_LOWER = {c: c + 32 for c in range(65, 91)}


def _prepare(text: object) -> str:
    if not isinstance(text, str):
        return ""
    if text.isascii():  # the common case: only control characters to drop, at C speed
        return _CTRL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " "))
    return clean_text(text, keep_newlines=True)


def _lower(text: str) -> str:
    low = text.lower()
    # A few characters lower-case to two ("İ" -> "i̇"); then fall back to ASCII-only lower-casing, which keeps length.
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


def _word_start(text: str, pos: int) -> bool:
    """No letter, digit, underscore or apostrophe right before ``pos``."""
    if pos <= 0:
        return True
    ch = text[pos - 1]
    return not (ch.isalnum() or ch in "_'’")


def _line_at(text: str, start: int, end: int, reach: int = 300) -> tuple[int, int]:
    """Bounds of the line around [start, end), at most ``reach`` characters each way."""
    lo = max(0, start - reach)
    nl = text.rfind("\n", lo, start)
    ls = nl + 1 if nl != -1 else lo
    hi = min(len(text), end + reach)
    nl = text.find("\n", end, hi)
    return ls, (nl if nl != -1 else hi)


class _Hit(NamedTuple):
    entry: _Entry
    start: int
    end: int
    surface: str


@dataclass
class _Doc:
    text: str
    #: ``text`` lower-cased, same length (positions carry over); case-insensitive patterns scan this.
    low: str
    n_words: int = 0
    quote_spans: list[tuple[int, int]] = field(default_factory=list)
    hits: dict[str, list[_Hit]] = field(default_factory=dict)  # lexicon name -> hits, in text order
    outlet_hits: list[_Hit] = field(default_factory=list)
    # filled by earlier detectors for later ones
    citation_count: int = 0
    list_span: tuple[int, int] = (0, 0)
    attributions: list[tuple[int, int, str]] = field(default_factory=list)
    commercial_lines: set[str] = field(default_factory=set)
    social_spans: list[tuple[int, int]] = field(default_factory=list)
    _quote_starts: list[int] = field(default_factory=list)

    def per_1000(self, n: float) -> float:
        """Per 1,000 words; texts under 200 words count as 200 (a density over a few lines is noise)."""
        return 1000.0 * n / max(self.n_words, 200)

    def in_quote(self, pos: int) -> bool:
        i = bisect_right(self._quote_starts, pos) - 1
        return i >= 0 and pos < self.quote_spans[i][1]

    def in_social(self, pos: int) -> bool:
        i = bisect_right(self.social_spans, (pos, len(self.text) + 1)) - 1
        return i >= 0 and pos < self.social_spans[i][1]

    def trig(self, name: str) -> list[_Hit]:
        return self.hits.get(name, [])

    def sentence(self, pos: int, end: int | None = None) -> tuple[int, int]:
        """Bounds of the sentence around ``pos`` (at most 400 characters each way)."""
        text = self.text
        end = pos if end is None else end
        lo, hi = max(0, pos - 400), min(len(text), end + 400)
        s = max(lo, max(text.rfind(c, lo, pos) for c in ".!?\n") + 1)
        ends = [x for x in (text.find(c, end, hi) for c in ".!?\n") if x != -1]
        return s, (min(ends) + 1 if ends else hi)

    def cited(self, pos: int) -> bool:
        """Whether the sentence at ``pos`` carries a numbered reference or a link."""
        s, e = self.sentence(pos)
        return bool(_REF_RE.search(self.text, s, e) or _REF_AFTER_RE.match(self.text, e) or "http" in self.low[s:e])


def _build_doc(text: str) -> _Doc:
    low = _lower(text)
    doc = _Doc(text=text, low=low)
    doc.n_words = len(low.split())
    for m in islice(_QUOTE_RE.finditer(text), MAX_HITS):
        if m.group(1).count(" ") >= 3:
            doc.quote_spans.append(m.span())
    doc._quote_starts = [s for s, _ in doc.quote_spans]
    lex = _lexicons()
    if lex.ci_re is not None:
        lookup: dict[str, list[_Entry]] = {}  # matched text -> entries (the same words recur)
        hits = doc.hits
        for m in islice(lex.ci_re.finditer(low), MAX_SCAN):
            start = m.start()
            if start and (low[start - 1].isalnum() or low[start - 1] in "_'’"):
                continue  # not a word start
            raw = m.group()
            entries = lookup.get(raw)
            if entries is None:
                key = _canon(raw)
                entries = lex.ci_exact.get(key) or [e for e in lex.ci_star if key.startswith(e.text)][:1]
                lookup[raw] = entries
            for e in entries:
                surface = text[start : m.end()]
                if e.exact and _canon(surface, lower=False) != e.text:
                    continue
                found = hits.setdefault(e.lexicon, [])
                if len(found) < MAX_HITS:
                    found.append(_Hit(e, start, m.end(), surface))
    if lex.cs_re is not None:
        for m in islice(lex.cs_re.finditer(text), MAX_HITS):
            if _word_start(text, m.start()):
                for e in lex.cs_exact.get(_canon(m.group(), lower=False), ()):
                    doc.outlet_hits.append(_Hit(e, m.start(), m.end(), m.group()))
    return doc


def _lex_hits(doc: _Doc, lexicon: str) -> list[_Hit]:
    """Hits of one lexicon in the article's own words: not inside quotations nor in its list of sources."""
    ls, le = doc.list_span
    return [h for h in doc.hits.get(lexicon, []) if not doc.in_quote(h.start) and not ls <= h.start < le]


# =====================================================================================================================
# Attribution, quotes, citations
# =====================================================================================================================

_ADV = r"(?:(?:also|later|previously|then|further|recently|again|[a-z]{2,20}ly)[ \t]{1,2}){0,2}"
_NAME = r"[A-Z][\w'’.\-]{0,30}"
_CHAIN = rf"{_NAME}(?:[ \t]{{1,2}}(?:(?:of|the|for|al|bin|de|von|van|da)[ \t]{{1,2}}){{0,2}}{_NAME}){{0,5}}"
# The subject right before a speech verb: searched only in the 100 characters before each verb, anchored at its end.
_SUBJ_RE = re.compile(rf"(?<![\w'’])(?P<who>{_CHAIN})[ \t]{{1,2}}{_ADV}\Z")
_ROLE_SUBJ_RE = re.compile(
    rf"(?<![\w'’])(?P<who>(?:the|[a-z]{{2,20}}['’]s|{_NAME})[ \t]{{1,2}}(?:[\w'’\-]{{1,20}}[ \t]{{1,2}}){{0,2}}"
    r"(?:minister|spokes(?:man|woman|person)|president|secretary|ambassador|governor|mayor|chancellor|commander|"
    rf"envoy|chairman|chairwoman|prosecutor|premier))[ \t]{{1,2}}{_ADV}\Z"
)
# "Oz Hassan, a scholar at Warwick, said" / "the minister, Mullah Yaqoob, told": names around an appositive.
_CHAIN_END_RE = re.compile(rf"(?<![\w'’])(?P<who>{_CHAIN})[ \t]{{0,2}}\Z")
_CHAIN_FULL_RE = re.compile(rf"[ \t]{{0,2}}(?P<who>{_CHAIN})[ \t]{{0,2}}\Z")
_APPOS_BEFORE_VERB_RE = re.compile(rf",[ \t]{{1,2}}{_ADV}\Z")
_INV_VERBS = frozenset("said says noted added told remarked explained wrote warned argued stressed".split())
_NAME_AFTER_RE = re.compile(rf"[ \t]{{1,2}}(?P<who>{_NAME}(?:[ \t]{{1,2}}{_NAME}){{0,3}})")
_NOUN_VERBS = frozenset("states notes claims remarks stresses tells adds".split())
_NOUN_VERB_OK_RE = re.compile(r"[ \t]{0,2}(?:[:“\"]|that\b)")
_SPACES_RE = re.compile(r"[ \t]{0,3}")
_ACC_VAGUE_RE = re.compile(  # lower-cased text, right after "according to"
    r"(?:(?:the|a|an|this|that|some|many|several|unnamed|anonymous|local|media|western|initial|unconfirmed|"
    r"multiple|other)[ \t]{1,2}){0,3}(?P<noun>news[ \t]story|story|article|provided[ \t]text|text|narrative|"
    r"media[ \t]reports?|reports?|sources?|experts?|analysts?|observers?|officials?|insiders?|rumou?rs|the[ \t]news|"
    r"news|people[ \t]familiar|residents|witnesses)\b"
)
_ACC_STOP_RE = re.compile(r"[,.;:()\n\[]")
_ACC_NAMED_AFTER_RE = re.compile(r"[ \t]{1,2}(?:by|from|of|in)[ \t]{1,2}(?:the[ \t]{1,2})?[A-Z]")
_ACC_ROLE_RE = re.compile(
    r"(?:the[ \t]{1,2})?(?:[A-Z][\w'’.\-]{0,30}|head|minister|ministry|spokes(?:man|woman|person)|president|"
    r"secretary|director|chief|office|agency|embassy|statement|government|court|foreign[ \t]ministry)\b"
)
_SUBJ_SKIP = frozenset(
    """The This That These Those A An It It's He She They We I You Some Many Most Several Other Others Multiple Both
    Such Its His Her Their Our But And However Meanwhile Also Earlier Later Then When While As In On At After Before
    Yesterday Today Now Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June
    July August September October November December Last Next According If Overall Because So Yet Still""".split()
)
_VAGUE_HEADS = frozenset(
    """Experts Expert Analysts Analyst Observers Observer Reports Report Reporters Sources Source Officials Critics
    Media Coverage Outlets Diplomats Insiders Commentators People Residents Witnesses Researchers Scholars Studies
    Research Analysis Story News Article Narrative Text Assessments Many Some Others""".split()
)


def _named_subject(who: str) -> str | None:
    """The named part of an attribution subject, or None if it is a pronoun or a vague group."""
    parts = who.split()
    # "… in Ukraine. Hassan explained": a full stop after a word (not an initial or "U.S.") ends a sentence
    for i in range(len(parts) - 2, -1, -1):
        w = parts[i]
        if w.endswith(".") and len(w) > 3 and "." not in w[:-1]:
            parts = parts[i + 1 :]
            break
    while parts and parts[0].strip(".,") in _SUBJ_SKIP:
        parts.pop(0)
    if not parts or parts[-1].strip(".,’'") in _VAGUE_HEADS:
        return None
    return " ".join(parts)


def _find_attributions(doc: _Doc) -> list[tuple[int, int, str]]:
    text, low = doc.text, doc.low
    found: dict[int, tuple[int, int, str]] = {}  # keyed by the verb's position
    for h in doc.trig("_verb")[:MAX_CHECKS]:
        vs, ve = h.start, h.end
        verb = low[vs:ve]
        if verb in _NOUN_VERBS and not _NOUN_VERB_OK_RE.match(text, ve):
            continue  # "most Western states." / "Closed remarks": a noun, not a verb
        lo = max(0, vs - 100)
        subj = _SUBJ_RE.search(text, lo, vs)
        if subj:
            named = _named_subject(subj.group("who"))
            if named:
                start = subj.start("who") + subj.group("who").find(named.split()[0])
                found[vs] = (start, ve, named)
                continue
        role = _ROLE_SUBJ_RE.search(text, lo, vs)
        if role:
            who = role.group("who")
            if who.split()[0] == "The" or who.split()[0] not in _SUBJ_SKIP:
                found[vs] = (role.start("who"), ve, who)
                continue
        comma = _APPOS_BEFORE_VERB_RE.search(text, max(0, vs - 40), vs)
        if comma:
            c1 = comma.start()
            c0 = text.rfind(",", max(0, c1 - 120), c1)
            inner = _CHAIN_FULL_RE.match(text, c0 + 1, c1) if c0 != -1 else None
            named = _named_subject(inner.group("who")) if inner else None
            if inner and named:  # "the minister, Mullah Yaqoob, told"
                found[vs] = (inner.start("who"), ve, named)
                continue
            outer = _CHAIN_END_RE.search(text, max(0, c0 - 100), c0) if c0 != -1 else None
            named = _named_subject(outer.group("who")) if outer else None
            if outer and named:  # "Oz Hassan, a scholar at Warwick, said"
                found[vs] = (outer.start("who"), ve, named)
                continue
        if verb in _INV_VERBS and text[max(0, vs - 3) : vs].rstrip(" \t")[-1:] in (",", "”", '"'):
            after = _NAME_AFTER_RE.match(text, ve, ve + 140)
            named = _named_subject(after.group("who")) if after else None
            if after and named:
                found[vs] = (vs, after.end(), named)
    for h in doc.trig("_according")[:MAX_CHECKS]:
        pos = _SPACES_RE.match(low, h.end).end()
        if pos == h.end or _ACC_VAGUE_RE.match(low, pos, pos + 120):
            continue
        rest = text[pos : pos + 120]
        r = _ACC_ROLE_RE.match(rest)
        if r and _named_subject(rest[: r.end()]) is not None:
            stop = _ACC_STOP_RE.search(rest, r.end())
            cut = stop.start() if stop else min(len(rest), r.end() + 60)
            found.setdefault(h.start, (h.start, pos + cut, rest[:cut].strip()))
    doc.attributions = sorted(found.values())
    return doc.attributions


def _sig_named_attribution(doc: _Doc) -> Signal | None:
    atts = _find_attributions(doc)
    if not atts:
        return None
    spans: list[str] = []
    seen: set[str] = set()
    for s, e, who in atts:
        speaker = _canon(who).split()[-1]  # "Mullah Mohammad Yaqoob" and "Yaqoob" are one source
        if speaker not in seen:
            seen.add(speaker)
            spans.append(_q(doc.text[s:e], 60))
    n = len(atts)
    head = f"{_plural(n, 'attributed statement')} from {_plural(len(seen), 'named source')}"
    return _signal("named_attribution", min(0.85, 0.15 + 0.08 * n + 0.07 * len(seen)), _evidence(head, spans))


def _sig_direct_quote(doc: _Doc) -> Signal | None:
    """Quotations with an attributed speaker within 150 characters before or 80 after, in the same paragraph."""
    if not doc.quote_spans or not doc.attributions:
        return None
    text = doc.text
    att_starts = [a[0] for a in doc.attributions]
    attributed: list[tuple[int, int]] = []
    for qs, qe in doc.quote_spans:
        lo = max(0, qs - 150)
        nl = text.rfind("\n", lo, qs)
        lo = nl + 1 if nl != -1 else lo
        nl = text.find("\n", qe, qe + 80)
        hi = nl if nl != -1 else qe + 80
        i = max(0, bisect_right(att_starts, lo) - 1)
        while i < len(doc.attributions) and doc.attributions[i][0] <= hi:
            a_s, a_e, _ = doc.attributions[i]
            if a_e >= lo:
                attributed.append((qs, qe))
                break
            i += 1
    if not attributed:
        return None
    n = len(attributed)
    spans = [_q(text[s + 1 : e - 1], 60) for s, e in attributed[:3]]
    head = f"{_plural(n, 'direct quote')} with a named speaker"
    return _signal("direct_quote", min(0.6, 0.15 + 0.1 * n), _evidence(head, spans))


_SOURCES_HEAD_RE = re.compile(  # lower-cased text
    r"(?m)^[ \t]{0,8}(?:sources?|references|bibliography|works[ \t]cited|notes|further[ \t]reading|citations)"
    r"[ \t]{0,3}:?[ \t]{0,8}$"
)
_LIST_ITEM_RE = re.compile(r"[ \t]{0,8}(?:\[\d{1,3}\]|\d{1,3}[.)]|[-*•–])[ \t]{0,3}\S")
_URL_RE = re.compile(r"https?://[^\s<>\"'“”‘’()\[\]{}|\\^`]{1,500}")  # lower-cased text, at "http" triggers
_SOCIAL_DOMAINS = (
    "twitter.com", "x.com", "t.co", "facebook.com", "fb.com", "instagram.com", "tiktok.com", "t.me", "telegram.me",
    "youtube.com", "youtu.be", "threads.net", "bsky.app", "truthsocial.com", "vk.com", "reddit.com",
)  # fmt: skip


def _sig_citations(doc: _Doc) -> Signal | None:
    text = doc.text
    numbers = sorted({int(n) for n in set(_REF_RE.findall(text))} - {0})
    list_entries, list_head = 0, ""
    head = _SOURCES_HEAD_RE.search(doc.low)
    if head:
        pos, entries = head.end(), 0
        for line in islice(text[pos : pos + 40_000].split("\n"), 1, 300):
            if not line.strip():
                if entries:
                    break
                continue
            if not _LIST_ITEM_RE.match(line):
                break
            entries += 1
        if entries:
            list_entries, list_head = entries, text[head.start() : head.end()].strip()
            doc.list_span = (head.start(), pos + 40_000)
    domains: list[str] = []
    for h in doc.trig("_url"):
        m = _URL_RE.match(doc.low, h.start)
        if not m:
            continue
        try:
            host = urlsplit(m.group()).hostname or ""
        except ValueError:
            continue
        host = host[4:] if host.startswith("www.") else host
        if host and not any(host == d or host.endswith("." + d) for d in _SOCIAL_DOMAINS) and host not in domains:
            domains.append(host)
    outlets: list[str] = []
    ls, le = doc.list_span
    for h in doc.outlet_hits:
        if not ls <= h.start < le and h.entry.text not in outlets:
            outlets.append(h.entry.text)
    total = max(len(numbers), list_entries) + len(domains) + len(outlets)
    doc.citation_count = total
    if not total:
        return None
    parts = []
    if numbers:
        if len(numbers) > 1 and numbers == list(range(numbers[0], numbers[-1] + 1)):
            parts.append(f"numbered [{numbers[0]}]–[{numbers[-1]}]")
        else:
            parts.append("numbered " + ", ".join(f"[{n}]" for n in numbers[:6]) + (" …" if len(numbers) > 6 else ""))
    if list_entries:
        parts.append(f"a {_q(list_head, 20)} list of {_plural(list_entries, 'entry', 'entries')}")
    if domains:
        more = " …" if len(domains) > 3 else ""
        parts.append(f"{_plural(len(domains), 'linked site')} (" + ", ".join(domains[:3]) + more + ")")
    if outlets:
        more = " …" if len(outlets) > 4 else ""
        parts.append("named outlets " + ", ".join(_q(o, 30) for o in outlets[:4]) + more)
    evidence = f"{_plural(total, 'distinct reference')}: " + "; ".join(parts)
    if len(evidence) > EVIDENCE_BUDGET:
        evidence = evidence[: EVIDENCE_BUDGET - 1] + "…"
    return _signal("citations", min(0.95, 0.25 + 0.075 * total), evidence)


# =====================================================================================================================
# Sourcing problems
# =====================================================================================================================

_VAGUE_RE = re.compile(  # lower-cased text, at a vague-noun trigger
    r"(?P<noun>experts?|analysts?|observers?|sources?|reports|critics|insiders?|commentators|officials|diplomats|"
    r"reporters|outlets|coverage|studies|assessments|people[ \t]familiar[ \t]with[ \t]the[ \t]matter)"
    r"[ \t]{1,2}(?:(?:also|have|has|had|widely|[a-z]{2,20}ly)[ \t]{1,2}){0,2}"
    r"(?P<verb>say|said|says|suggest|suggests|suggested|note|notes|noted|believe|believes|believed|claim|claims|"
    r"claimed|indicate|indicates|indicated|view|views|viewed|speculate|speculates|speculated|describe|describes|"
    r"described|warn|warns|warned|argue|argues|argued|think|fear|fears|feared|remain|remains|point|points|pointed|"
    r"stress|stresses|emphasi[sz]es|characteri[sz]ed|told)(?!\w)"
)
_VAGUE_MODS_RE = re.compile(
    r"(?<![\w'’])(?:(?:an?|one|some|many|several|other|multiple|unnamed|anonymous|western|local|senior|security|"
    r"military|political|independent|foreign|russian|european|regional|neutral|recent|informed|credible)"
    r"[ \t]{1,2}){1,3}\Z"
)
_SELF_REF_BEFORE_RE = re.compile(r"(?<![\w'’])(?:the|this)[ \t]{1,2}(?:news[ \t]{1,2})?\Z")
_SELF_REF_AFTER_RE = re.compile(
    r"[ \t]{1,2}(?:also[ \t]{1,2})?"
    r"(?:highlights|presents|portrays|describes|says|notes|underscores|suggests|focuses|states|mentions|claims)(?!\w)"
)
_SOURCE_SOURCE_RE = re.compile(  # lower-cased text, at a "source" trigger
    r"sources?:[ \t]{0,5}(?:source|sources|n/?a|unknown|internet|web|google)(?!\w)[ \t.]{0,3}$", re.MULTILINE
)
_CAP_BEFORE_RE = re.compile(r"(?<![\w'’])([A-Z][\w'’.\-]{0,30})[ \t]{1,2}\Z")


def _is_sentence_start(text: str, pos: int) -> bool:
    before = text[max(0, pos - 3) : pos].rstrip(" \t")
    return not before or before[-1] in ".!?\n:;\"“”-—•"


def _sig_vague_sourcing(doc: _Doc) -> Signal | None:
    text, low = doc.text, doc.low
    hits: list[tuple[int, int, float]] = []
    for h in doc.trig("_source"):
        m = _SOURCE_SOURCE_RE.match(low, h.start)
        if m:
            hits.append((m.start(), m.end(), 2.0))
    for h in doc.trig("_according")[:MAX_CHECKS]:
        pos = _SPACES_RE.match(low, h.end).end()
        v = _ACC_VAGUE_RE.match(low, pos, pos + 120) if pos > h.end else None
        if not v or _ACC_NAMED_AFTER_RE.match(text, v.end(), v.end() + 60) or doc.cited(h.start):
            continue  # "according to a report by Reuters" / a cited sentence
        noun = v.group("noun")
        weight = 2.0 if any(w in noun for w in ("story", "article", "text", "narrative", "news")) else 1.0
        hits.append((h.start, v.end(), weight))
    for h in doc.trig("_selfref")[:MAX_CHECKS]:
        before = _SELF_REF_BEFORE_RE.search(low, max(0, h.start - 12), h.start)
        after = _SELF_REF_AFTER_RE.match(low, h.end, h.end + 30) if before else None
        if before and after:
            hits.append((before.start(), after.end(), 1.0))
    for h in doc.trig("_vague")[:MAX_CHECKS]:
        m = _VAGUE_RE.match(low, h.start)
        if not m or doc.in_quote(h.start) or doc.cited(h.start):
            continue
        start = h.start
        mods = _VAGUE_MODS_RE.search(low, max(0, start - 60), start)
        if mods:
            start = mods.start()
        # "A UN report said" / "Reuters sources said": a name right before the group makes it attributed
        before = _CAP_BEFORE_RE.search(text, max(0, start - 32), start)
        if (
            before
            and before.group(1) not in _SUBJ_SKIP
            and not before.group(1).endswith(".")
            and not _is_sentence_start(text, before.start())
        ):
            continue
        hits.append((start, m.end(), 1.0))
    if not hits:
        return None
    weight = sum(w for _, _, w in hits)
    shown = Counter(_trim(text[s:e], 60) for s, e, _ in sorted(hits, key=lambda h: (-h[2], h[0])))
    head = _plural(len(hits), "vague or placeholder attribution")
    strength = 0.1 * weight + 0.01 * doc.per_1000(len(hits))
    if doc.attributions:  # beside named sources, an unnamed one is a smaller problem
        strength *= 0.6
    strength = min(0.9, strength)
    return _signal("vague_sourcing", strength, _evidence(head, _counted(shown, limit=60)))


_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
# An embedded post's signature: "— Name (@handle) May 29, 2026"; literal-led ("@"), the dash is looked for after.
_SOCIAL_SIG_RE = re.compile(
    rf"@(?P<handle>[A-Za-z0-9_]{{1,30}})\)?[ \t]{{1,3}}{_MONTHS}\.?[ \t]{{1,3}}\d{{1,2}},?[ \t]{{1,3}}\d{{4}}"
)
_SOCIAL_LINK_RE = re.compile(  # lower-cased text, at a social-domain trigger
    r"(?:pic\.twitter\.com/\w{1,30}|t\.co/\w{1,30}|(?:(?:www|mobile)\.)?(?:twitter|x)\.com/\w{1,30}/"
    r"status(?:es)?/\d{1,25}|(?:www\.)?(?:facebook|instagram|tiktok)\.com/[\w./\-]{1,100}|t\.me/\w{1,60})"
)


def _sig_social(doc: _Doc) -> Signal | None:
    text = doc.text
    sigs: list[str] = []
    for m in islice(_SOCIAL_SIG_RE.finditer(text), MAX_HITS):
        ls, _ = _line_at(text, m.start(), m.start(), 120)
        prefix = text[ls : m.start()]
        dash = max(prefix.rfind("—"), prefix.rfind("–"), prefix.rfind("- "))
        if dash == -1:
            continue
        doc.social_spans.append((ls + dash, m.end()))
        sigs.append(text[ls + dash : m.end()])
    links = [text[m.start() : m.end()] for h in doc.trig("_social") if (m := _SOCIAL_LINK_RE.match(doc.low, h.start))]
    n = max(len(sigs), len(links))
    if not n:
        return None
    spans = [_q(s, 70) for s in sigs[:2]] + [_q(x, 50) for x in links[:2]]
    cites = doc.citation_count
    if cites < n * 2:
        tail = " and no other references" if not cites else f" vs {_plural(cites, 'reference')}"
        head = _plural(n, "embedded social post") + tail
        strength = min(0.9, 0.45 + 0.15 * (n - 1))
    else:
        head = f"{_plural(n, 'embedded social post')} alongside {_plural(cites, 'reference')}"
        strength = min(0.4, 0.15 + 0.05 * n)
    return _signal("social_evidence", strength, _evidence(head, spans))


# =====================================================================================================================
# Presentation: sensationalism, ads, machine-generation artefacts
# =====================================================================================================================

_ALARM = "🚨⚠‼❗❕🔥💥🛑📢🔴⛔"
_ALARM_RE = re.compile("[" + _ALARM + "]")
_EMOJI_RE = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u203C\u2049]")
_BREAKING_AFTER_RE = re.compile(r"[ \t]{0,2}:|[ \t]{1,2}[Nn]ews\b")
_HASHTAG_RE = re.compile(r"#[^\W\d_]\w{1,60}")
# An all-caps run of 3+ words; the look-behind sits after the first letter so the scan can skip to capitals.
_CAPS_RUN_RE = re.compile(r"[A-Z](?<![\w'’][A-Z])[A-Z]{1,24}(?:[ \t,:;&'’\-]{1,3}[A-Z]{2,25}){2,30}(?!\w)")
_CAPS_WORD_RE = re.compile(r"[A-Z]{2,25}")


def _sig_sensational(doc: _Doc) -> Signal | None:
    text = doc.text
    items: list[str] = []
    score = 0.0
    alarms = Counter(_ALARM_RE.findall(text))
    n_alarms = sum(alarms.values())
    if alarms:
        score += 2 * min(3, n_alarms)
        items += [_q(a) + (f" ×{n}" if n > 1 else "") for a, n in alarms.most_common(2)]
    breaking: Counter[str] = Counter()
    for h in doc.trig("_breaking"):
        word = h.surface
        if text[h.start - 1 : h.start] == "#":
            breaking["#" + word] += 1
        elif word.isupper() and len(word) > 3:
            breaking[word] += 1
        elif word[:1].isupper() and (
            word.lower() == "breaking news" or (word.lower() == "breaking" and _BREAKING_AFTER_RE.match(text, h.end))
        ):
            m = _BREAKING_AFTER_RE.match(text, h.end)
            breaking[text[h.start : m.end() if m else h.end].rstrip(": \t")] += 1
    if breaking:
        score += 2 * min(3, sum(breaking.values()))
        items += _counted(breaking, limit=30)[:3]
    emoji = len(_EMOJI_RE.findall(text)) - n_alarms
    if emoji > 0:
        score += min(3.0, 0.5 * emoji)
    tags: Counter[str] = Counter()
    for m in islice(_HASHTAG_RE.finditer(text), MAX_HITS):
        if _word_start(text, m.start()) and text[m.start() - 1 : m.start()] not in ("#", "&", "/"):
            tags[m.group()] += 1
    if tags:
        score += min(3.0, 0.5 * sum(tags.values()))
        items += [_q(t, 30) for t in tags if t not in breaking][:2]
    caps = []
    for m in islice(_CAPS_RUN_RE.finditer(text), MAX_HITS):
        run = m.group()
        if sum(ch.isalpha() for ch in run) < 12 or max(len(w) for w in _CAPS_WORD_RE.findall(run)) < 4:
            continue
        ls, le = _line_at(text, m.start(), m.end())
        if text[ls:le].strip() not in doc.commercial_lines:
            caps.append(run)
    if caps:
        score += min(4.0, 1.0 * len(caps))
        items.append(_q(caps[0], 40) + (f" and {len(caps) - 1} more all-caps runs" if len(caps) > 1 else ""))
    bangs = text.count("!")
    density = doc.per_1000(bangs)
    if bangs >= 3 and density >= 5:
        score += min(3.0, 1.0 + (density - 5) / 10)
        items.append(f"{bangs} exclamation marks ({density:.0f} per 1,000 words)")
    if emoji > 0:
        items.append(_plural(emoji, "other emoji", "other emoji"))
    if score < 2:
        return None
    return _signal("sensational", min(0.9, 0.12 * score), _evidence("", items))


def _sig_commercial(doc: _Doc) -> Signal | None:
    lines: Counter[str] = Counter()
    seen: set[int] = set()
    text = doc.text
    for h in doc.trig("_commercial"):
        ls, le = _line_at(text, h.start, h.end)
        if ls not in seen:  # one count per line, however many triggers it holds
            seen.add(ls)
            lines[text[ls:le].strip()] += 1
    if not lines:
        return None
    doc.commercial_lines = set(lines)
    total = sum(lines.values())
    repeated = sum(1 for n in lines.values() if n > 1)
    head = _plural(total, "shopping/ad line") + (f", {repeated} repeated" if repeated else "")
    return _signal("commercial", min(0.9, 0.45 + 0.15 * (total - 1)), _evidence(head, _counted(lines, limit=70)))


def _sig_chatbot(doc: _Doc) -> Signal | None:
    hits = _lex_hits(doc, "chatbot")
    if not hits:
        return None
    weight = sum(h.entry.weight for h in hits)
    if max(h.entry.weight for h in hits) < 3 and weight < 4:
        return None  # one newsletter sign-off ("Let me know if you have tips. Thank you for reading.") is not enough
    sentences = {doc.sentence(h.start)[0] for h in hits[:MAX_HITS]}
    by_entry: dict[str, _Hit] = {}
    for h in hits:
        by_entry.setdefault(h.entry.text, h)
    best = sorted(by_entry.values(), key=lambda h: (-h.entry.weight, h.entry.order, h.start))
    spans = []
    for h in best[:4]:
        s, e = doc.sentence(h.start)
        start = s
        if h.start - s > 30:  # mid-sentence: keep a few words of context before the phrase
            sp = doc.text.find(" ", h.start - 30, h.start)
            start = sp + 1 if sp != -1 else h.start
        spans.append(_q(doc.text[start : min(e, h.end + 30)].strip(), 50))
    head = _plural(len(sentences), "assistant-style sentence")
    return _signal("chatbot_boilerplate", min(1.0, 0.15 * weight), _evidence(head, spans))


_MARKUP_RE = re.compile(  # lower-cased text; every alternative starts with a punctuation literal
    r"\"(?:headline|subheadline|sub_headline|keywords|category|title|description|body|content|summary|tags|slug|"
    r"meta_description|article_body|articlebody|lede|byline|excerpt)\"[ \t]{0,3}:"
    r"|\",[ \t]{0,2}\"[a-z_]{1,30}\"[ \t]{0,2}:[ \t]{0,2}[\"\[{]"
    r"|````{0,9}"
    r"|<\|[\w\-]{1,30}\|>"
    r"|\[(?:insert|your|add|name[ \t]of|placeholder)\b[^\]\n]{0,60}\]"
    r"|\{\{[ \t]{0,3}[\w.]{1,40}[ \t]{0,3}\}\}"
)


def _sig_markup(doc: _Doc) -> Signal | None:
    found = Counter(_trim(doc.text[m.start() : m.end()], 30) for m in islice(_MARKUP_RE.finditer(doc.low), MAX_HITS))
    if not found:
        return None
    n = sum(found.values())
    items = [_q(k, 30) + (f" ×{c}" if c > 1 else "") for k, c in found.most_common() if "`" not in k][:4]
    fences = sum(c for k, c in found.items() if "`" in k)
    if fences:
        items.append(f"{_plural(fences, 'code fence')} (```)")
    head = _plural(n, "leftover code/JSON fragment")
    return _signal("markup_residue", min(0.9, 0.5 + 0.1 * (n - 1)), _evidence(head, items))


_LONG_SENT_RE = re.compile(r"[^\s.!?][^.!?\n]{20,1000}[.!?]{0,10}")


def _sig_repeated(doc: _Doc) -> Signal | None:
    counts: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for m in islice(_LONG_SENT_RE.finditer(doc.text), MAX_HITS * 4):
        s = m.group()
        if s.count(" ") < 4 or s.strip() in doc.commercial_lines:
            continue
        key = " ".join(s.lower().split())
        counts[key] += 1
        shown.setdefault(key, s)
    dups = Counter({k: n for k, n in counts.items() if n > 1})
    if not dups:
        return None
    extra = sum(n - 1 for n in dups.values())
    head = f"{_plural(len(dups), 'sentence')} repeated verbatim ({_plural(extra, 'extra copy', 'extra copies')})"
    return _signal("repeated_text", min(0.8, 0.3 + 0.15 * extra), _evidence(head, _counted(dups, shown, limit=60)))


# =====================================================================================================================
# Wording: loaded language, opinion, hedging, boosters, spelling
# =====================================================================================================================


def _lexicon_summary(hits: list[_Hit]) -> tuple[Counter[str], float]:
    """Terms as written (lower-cased) with counts, and the weight: full for a term's first use, a quarter after."""
    counter: Counter[str] = Counter()
    weight = 0.0
    for h in hits:
        key = " ".join(h.surface.lower().split())
        weight += h.entry.weight if key not in counter else 0.25 * h.entry.weight
        counter[key] += 1
    return counter, weight


def _sig_loaded(doc: _Doc) -> Signal | None:
    hits = _lex_hits(doc, "loaded")
    counter, weight = _lexicon_summary(hits)
    if weight < 3:
        return None
    head = f"{_plural(len(counter), 'loaded term')} ({_plural(sum(counter.values()), 'use')})"
    strength = min(0.9, 0.08 * weight + 0.02 * doc.per_1000(len(hits)))
    return _signal("loaded_language", strength, _evidence(head, _counted(counter)))


_OPINION_LABEL_RE = re.compile(
    r"[ \t]{0,8}[\[(]?(?:opinion|op-ed|op ed|commentary|editorial|column|perspective|viewpoint|analysis and opinion)"
    r"[\])]?[ \t]{0,3}(?:[|:\-–—][^\n]{0,200})?$"
)


def _sig_labelled_opinion(doc: _Doc) -> Signal | None:
    """The title or first line says it is opinion ("Opinion | …", "Commentary: …")."""
    first = doc.low[: doc.low.find("\n") if "\n" in doc.low[:400] else 400]
    m = _OPINION_LABEL_RE.match(first)
    if not m:
        return None
    return _signal("labelled_opinion", 0.3, f"the first line says so: {_q(doc.text[: len(first)], 60)}")


_NEXT_WORDS_RE = re.compile(r"[ \t]{1,2}[\w'’\-]{1,20}(?:[ \t]{1,2}[\w'’\-]{1,20})?")


def _sig_opinion(doc: _Doc) -> Signal | None:
    hits = _lex_hits(doc, "opinion")
    taken = {h.start for h in hits}
    hits += [h for h in _lex_hits(doc, "boosters") if h.entry.weight >= 2 and h.start not in taken]
    if not hits:
        return None
    counter: Counter[str] = Counter()
    strong: set[str] = set()
    seen: set[str] = set()
    weight = 0.0
    for h in sorted(hits, key=lambda h: h.start):
        shown = h.surface
        if h.entry.weight < 2 and len(h.surface) <= 6:  # "should", "we": show the words that follow
            nxt = _NEXT_WORDS_RE.match(doc.text, h.end)
            shown = h.surface + (nxt.group() if nxt else "")
        shown = _trim(shown, 30)
        key = _canon(h.surface)
        weight += h.entry.weight if key not in seen else 0.5 * h.entry.weight
        seen.add(key)
        counter[shown] += 1
        if h.entry.weight >= 2:
            strong.add(shown)
    if weight < 4 or len(seen) < 2:
        return None
    cites = doc.citation_count
    head = _plural(sum(counter.values()), "opinion marker") + (", no citations" if not cites else "")
    strength = (0.06 * weight + 0.02 * doc.per_1000(len(hits))) * (1.25 if not cites else 0.8)
    # evaluative words first (they carry the judgement), then by frequency
    ranked = sorted(counter.items(), key=lambda kv: (kv[0] not in strong, -kv[1]))
    items = [_q(k, 30) + (f" ×{n}" if n > 1 else "") for k, n in ranked]
    return _signal("opinion_as_analysis", min(0.9, strength), _evidence(head, items))


def _sig_hedging(doc: _Doc) -> Signal | None:
    hits = _lex_hits(doc, "hedges")
    n = len(hits)
    density = doc.per_1000(n)
    if n < 4 or density < 10:
        return None
    counter = Counter(_canon(h.surface) for h in hits)
    head = f"{_plural(n, 'hedge')} in {_plural(doc.n_words, 'word')} ({density:.0f} per 1,000)"
    return _signal("hedging", min(0.6, 0.15 + 0.02 * (density - 10)), _evidence(head, _counted(counter)))


def _sig_boosters(doc: _Doc) -> Signal | None:
    counter, weight = _lexicon_summary(_lex_hits(doc, "boosters"))
    if weight < 2:
        return None
    head = _plural(sum(counter.values()), "certainty booster")
    return _signal("certainty_boosters", min(0.7, 0.15 * weight), _evidence(head, _counted(counter)))


def _sig_misspellings(doc: _Doc) -> Signal | None:
    hits = doc.hits.get("misspellings", [])
    if not hits:
        return None
    counter: Counter[str] = Counter()
    fixes: dict[str, str] = {}
    for h in hits:
        counter[h.surface] += 1
        fixes[h.surface] = h.entry.fix
    n = sum(counter.values())
    items = [_q(w, 30) + f" (→ {_trim(fixes[w], 30)})" + (f" ×{c}" if c > 1 else "") for w, c in counter.most_common()]
    strength = min(0.7, 0.1 + 0.08 * n + 0.02 * doc.per_1000(n))
    return _signal("misspellings", strength, _evidence(_plural(n, "likely misspelling"), items))


# =====================================================================================================================
# Dates
# =====================================================================================================================

_MONTH_NUM = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_MDY_AFTER_RE = re.compile(r"\.?[ \t]{1,3}(?P<d>\d{1,2})(?:st|nd|rd|th)?,?[ \t]{1,3}(?P<y>\d{4})(?!\d)")
_DAY_BEFORE_RE = re.compile(r"(?<!\d)(?P<d>\d{1,2})(?:st|nd|rd|th)?[ \t]{1,3}(?:of[ \t]{1,3})?\Z")
_YEAR_AFTER_RE = re.compile(r"\.?,?[ \t]{1,3}(?P<y>\d{4})(?!\d)")
_ISO_TAIL_RE = re.compile(r"-(\d\d)-(\d\d)(?!\d)")  # literal-led; the year is checked before it
_EVENT_RE = re.compile(r"\b(?:sign(?:ed|ing|s)?|inked|ceremony|concluded|took[ \t]place)\b")  # lower-cased text


def _as_date(d: object) -> date | None:
    if isinstance(d, datetime):
        return d.date()
    if isinstance(d, date):
        return d
    return None


def _make_date(y: str, m: int, d: str) -> date | None:
    try:
        return date(int(y), m, int(d))
    except ValueError:
        return None


def _full_dates(doc: _Doc) -> list[tuple[int, int, date]]:
    """Full dates in the text ("May 31, 2026", "31 May 2026", "2026-05-31") with their spans."""
    text = doc.text
    out: list[tuple[int, int, date]] = []
    for h in doc.trig("_month")[:MAX_CHECKS]:
        if not text[h.start].isupper():
            continue
        month = _MONTH_NUM.get(h.surface[:3].lower())
        if month is None:
            continue
        m = _MDY_AFTER_RE.match(text, h.end)
        if m:
            d = _make_date(m.group("y"), month, m.group("d"))
            if d:
                out.append((h.start, m.end(), d))
            continue
        before = _DAY_BEFORE_RE.search(text, max(0, h.start - 14), h.start)
        after = _YEAR_AFTER_RE.match(text, h.end) if before else None
        if before and after:
            d = _make_date(after.group("y"), month, before.group("d"))
            if d:
                out.append((before.start(), after.end(), d))
    for m in islice(_ISO_TAIL_RE.finditer(text), MAX_CHECKS):
        year, start = text[max(0, m.start() - 4) : m.start()], m.start() - 4
        if len(year) == 4 and year.isascii() and year.isdigit() and not text[start - 1 : start].isdigit():
            d = _make_date(year, int(m.group(1)), m.group(2)) if 1 <= int(m.group(1)) <= 12 else None
            if d:
                out.append((start, m.end(), d))
    out.sort()
    return out[:MAX_CHECKS]


def _event_dates(doc: _Doc) -> dict[date, str]:
    """The event dates the text gives (not those of embedded posts), each with the words around it."""
    text = doc.text
    event_dates: dict[date, str] = {}
    for start, end, d in _full_dates(doc):
        if doc.in_social(start):
            continue  # the date of an embedded post, not of the event
        s, e = doc.sentence(start, end)
        ev = _EVENT_RE.search(doc.low, s, e)
        if ev:
            event_dates.setdefault(d, text[max(s, min(ev.start(), start)) : max(ev.end(), end)])
    return event_dates


def _sig_dates(event_dates: Mapping[date, str], other_dates: Sequence[object]) -> Signal | None:
    if not event_dates:
        return None
    dates = sorted(event_dates)

    def close(a: date, b: date) -> bool:  # far-apart dates are other events, not a contradiction
        return abs((a - b).days) <= 60

    internal = [d for d in dates if any(d != o and close(d, o) for o in dates)]
    counts = Counter(x for x in (_as_date(o) for o in other_dates) if x is not None)
    others = set(counts)
    external = [d for d in dates if others and d not in others and any(close(d, o) for o in others)]
    if not internal and not external:
        return None
    items = [_q(event_dates[d], 60) for d in (internal or external)]
    if internal:
        head = f"the text gives {_plural(len(internal), 'different date')} for the same event"
        strength = 0.5
    else:
        head = f"{_plural(len(external), 'event date')} that other sources contradict"
        # one other source may be the one in error; several agreeing on another date weigh more
        agreeing = max(n for o, n in counts.items() if any(close(d, o) for d in external))
        strength = 0.3 if agreeing < 2 else 0.45
    if external:
        items.append("other sources give " + ", ".join(o.isoformat() for o in sorted(others)[:3]))
        strength += 0.1 if internal else 0.0
    return _signal("date_conflict", strength, _evidence(head, items))


# =====================================================================================================================
# Public API
# =====================================================================================================================


def _signal_order(s: Signal) -> tuple[float, int, str]:
    return (-s.strength, 0 if s.polarity == NEG else 1, s.id)


class OwnSignals(NamedTuple):
    """What an article's text alone gives (``own_signals``): every signal but the one that compares its event dates
    with other sources', and those dates.  It can be computed once, when the article is written, and kept
    (``bot/precompute.py``); ``signals_key`` says whether a kept one still fits the article."""

    signals: list[Signal]
    event_dates: dict[date, str]


def _code_fingerprint() -> bytes:
    """This module, the text cleaning it uses and its word lists: kept signals made by other code no longer fit."""
    h = hashlib.blake2b(digest_size=16)
    for path in (Path(__file__), Path(__file__).with_name("text.py"), *sorted(LEXICON_DIR.glob("*"))):
        try:
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        except OSError:
            h.update(path.name.encode() + b"\0?\0")
    return h.digest()


SIGNALS_CODE = _code_fingerprint()


def signals_key(article: Article) -> str:
    """What kept ``own_signals`` of an article must have been made from: the fields they read and the signal code."""
    h = hashlib.blake2b(SIGNALS_CODE, digest_size=16)
    for value in (article.title, article.text, article.language, getattr(article, "published", None) or "",
                  article.author or ""):
        v = str(value or "").encode("utf-8", "surrogatepass")
        h.update(len(v).to_bytes(8, "little") + v)
    return h.hexdigest()


def dump_own(own: OwnSignals) -> str:
    """``own`` as compact JSON, for keeping (``load_own`` reads it back equal)."""
    return json.dumps(
        {"signals": [[x.id, x.label, x.polarity.value, x.strength, x.evidence] for x in own.signals],
         "event_dates": [[d.isoformat(), t] for d, t in own.event_dates.items()]},
        ensure_ascii=False, separators=(",", ":"),
    )


def load_own(raw: str) -> OwnSignals:
    data = json.loads(raw)
    signals = [Signal.model_construct(id=i, label=label, polarity=Polarity(pol), strength=st, evidence=ev)
               for i, label, pol, st, ev in data["signals"]]
    return OwnSignals(signals, {date.fromisoformat(d): t for d, t in data["event_dates"]})


def article_signals(article: Article, *, other_dates: Sequence[date] = ()) -> list[Signal]:
    """Every quality signal of ``article``, strongest first; each with a stable id and its evidence.

    ``other_dates``: event dates that other sources of the story give (for the "contradicts other sources" check).
    Wording, attribution and spelling signals are English-only; other languages get the language-neutral ones.
    """
    return with_other_sources(own_signals(article), other_dates)


def with_other_sources(own: OwnSignals, other_dates: Sequence[date] = ()) -> list[Signal]:
    """``own``'s signals with the date comparison against ``other_dates`` added, strongest first."""
    try:
        dates = list(other_dates or ())
    except TypeError:
        dates = []
    signals = list(own.signals)
    conflict = _sig_dates(own.event_dates, dates)
    if conflict is not None and conflict.evidence:
        signals.append(conflict)
    signals.sort(key=_signal_order)
    return signals


def own_signals(article: Article) -> OwnSignals:
    """The signals of ``article`` that depend on it alone, and the event dates it gives."""
    title = _prepare(getattr(article, "title", "") or "")
    body = _prepare(getattr(article, "text", "") or "")
    doc = _build_doc((title + "\n\n" + body) if title else body)
    english = str(getattr(article, "language", "en") or "en").lower().startswith("en")
    if not english:  # keep only the language-neutral triggers
        doc.hits = {k: v for k, v in doc.hits.items() if k in ("_url", "_social", "_month", "_commercial", "_breaking")}

    found: list[Signal | None] = [
        _sig_citations(doc),  # sets citation_count and list_span for later detectors
        _sig_commercial(doc),  # sets commercial_lines
        _sig_social(doc),  # sets social_spans
    ]
    if english:
        found += [
            _sig_named_attribution(doc),  # sets attributions
            _sig_direct_quote(doc),
            _sig_vague_sourcing(doc),
            _sig_chatbot(doc),
            _sig_loaded(doc),
            (labelled := _sig_labelled_opinion(doc)),
            None if labelled else _sig_opinion(doc),  # opinion labelled as such is not disguised
            _sig_hedging(doc),
            _sig_boosters(doc),
            _sig_misspellings(doc),
        ]
    found += [_sig_sensational(doc), _sig_markup(doc), _sig_repeated(doc)]
    event_dates = _event_dates(doc)

    published = _as_date(getattr(article, "published", None))
    if published is not None:
        found.append(_signal("dated", 0.1, f"published {published.isoformat()}"))
    else:
        found.append(_signal("undated", 0.1, "no publication date given"))
    author = getattr(article, "author", None)
    author = _trim(clean_text(author), 60) if isinstance(author, str) else ""
    if author:
        found.append(_signal("byline", 0.15, f"by {_q(author, 60)}"))
    else:
        found.append(_signal("no_byline", 0.1, "no author given"))

    signals = [s for s in found if s is not None and s.evidence]
    signals.sort(key=_signal_order)
    return OwnSignals(signals, event_dates)


#: factual_record value -> contribution to the rating score (values of FACTUAL_RECORD_VALUES, best first).
FACTUAL_RECORD_SCORE = {"high": 0.6, "mostly_high": 0.35, "mixed": 0.0, "low": -0.6, "very_low": -0.9}
#: Flags -> contribution to the rating score.
FLAG_SCORE = {
    OutletFlag.ai_content_farm: -0.8,
    OutletFlag.satire: -0.6,
    OutletFlag.state_media: -0.3,
    OutletFlag.user_generated: -0.2,
}
#: Outlet type -> contribution to the rating score.
OUTLET_TYPE_SCORE = {
    OutletType.wire: 0.3,
    OutletType.fact_checker: 0.3,
    OutletType.newspaper: 0.2,
    OutletType.broadcaster: 0.15,
    OutletType.magazine: 0.1,
    OutletType.unknown: 0.0,
    OutletType.aggregator: -0.1,
    OutletType.blog: -0.1,
    OutletType.advocacy: -0.2,
    OutletType.state_media: -0.3,
    OutletType.partisan_site: -0.3,
    OutletType.social_account: -0.3,
    OutletType.content_farm: -0.6,
    OutletType.ai_content_farm: -0.8,
}
#: Share of the trust score that comes from the article's own signals; the rest comes from the outlet's rating.
SIGNAL_SHARE = 0.7
#: Signal scores are squashed with tanh(score / SIGNAL_SCALE).
SIGNAL_SCALE = 1.5


def _rating_score(outlet_type: OutletType | str | None, rating: OutletRating | None) -> float:
    """-1..+1 from the outlet type, the rating's factual_record and its flags (docs/signals.md)."""
    score = 0.0
    try:
        score += OUTLET_TYPE_SCORE.get(OutletType(outlet_type), 0.0) if outlet_type else 0.0
    except ValueError:
        pass
    if rating is not None:
        if rating.factual_record is not None:
            score += FACTUAL_RECORD_SCORE.get(_canon(rating.factual_record.value).replace(" ", "_"), 0.0)
        for flag in rating.flags:
            score += FLAG_SCORE.get(flag, 0.0)
    return _clamp(score, -1.0, 1.0)


def source_trust(signals: list[Signal], outlet_type: OutletType, rating: OutletRating | None) -> float:
    """-1 (least trustworthy) .. +1.

    trust = 0.7 × tanh(Σ ±weight(id) × strength / 1.5) + 0.3 × rating score, where the rating score adds the outlet
    type, the factual record and the flags (clamped to -1..+1); see docs/signals.md.
    """
    score = 0.0
    for s in signals:
        d = _CATALOGUE.get(s.id)
        weight = d.weight if d else 0.5
        sign = 1.0 if s.polarity == POS else -1.0 if s.polarity == NEG else 0.0
        score += sign * weight * _clamp(s.strength)
    trust = SIGNAL_SHARE * math.tanh(score / SIGNAL_SCALE) + (1 - SIGNAL_SHARE) * _rating_score(outlet_type, rating)
    return round(_clamp(trust, -1.0, 1.0), 3)


_ITEM_RE = re.compile(r"“([^“”]{1,200})”")
_LEAD_INT_RE = re.compile(r"(\d{1,9})\b")


def _phrase(s: Signal) -> str:
    d = _CATALOGUE.get(s.id)
    if d is None:
        return _trim(s.label, 60).lower()
    m = _LEAD_INT_RE.match(s.evidence)
    n = m.group(1) if m else ""
    items = ", ".join("'" + _trim(x, 32) + "'" for x in _ITEM_RE.findall(s.evidence)[:2])
    phrase = d.phrase
    if "{items}" in phrase and not items:
        return phrase.split(":")[0]
    if "{n}" in phrase and not n:
        return d.label.lower()
    return phrase.format(n=n, items=items, s="" if n == "1" else "s")


def summarize(signals: list[Signal], rating: OutletRating | None) -> str:
    """One line a reader can act on: the outlet's rating in brief, then the strongest signals with their evidence."""
    parts: list[str] = []
    if rating is not None:
        if rating.factual_record is not None:
            parts.append(f"factual record: {_trim(rating.factual_record.value.replace('_', ' '), 20)}")
        if rating.flags:
            parts.append("flagged: " + ", ".join(str(f.value).replace("_", " ") for f in sorted(rating.flags)))
    ranked = sorted(signals, key=_signal_order)
    chosen = [s for s in ranked if s.strength >= 0.15][:3] or ranked[:1]
    parts += [_phrase(s) for s in chosen]
    line = "; ".join(p for p in parts if p) or "no notable signals"
    return line if len(line) <= 240 else line[:239] + "…"


def build_sources(
    items: Sequence[tuple[Article, Outlet, OutletRating | None]],
    *,
    other_dates_by_article: Mapping[str, Sequence[date]] | None = None,
    own: Mapping[str, OwnSignals] | None = None,
) -> list[SourceOut]:
    """One SourceOut per article, most to least trustworthy (ties broken by article id).

    ``rating`` is the effective rating of the outlet (e.g. a server's over the global one); when it is None the
    outlet's own ``rating`` is used.  An empty rating is reported as None.  ``own``: articles' ``own_signals``
    already at hand (kept ones that still fit), by article id; the others are computed.
    """
    out: list[SourceOut] = []
    for article, outlet, rating in items:
        effective = rating if rating is not None else outlet.rating
        mine = (own or {}).get(article.id) or own_signals(article)
        signals = with_other_sources(mine, (other_dates_by_article or {}).get(article.id, ()))
        published = _as_date(article.published)
        out.append(
            SourceOut(
                article=article.id,
                outlet=outlet.name,
                outlet_id=outlet.id,
                url=article.url,
                published=published.isoformat() if published else None,
                role=str(getattr(article.role, "value", article.role)),
                rating=rating_json(effective),
                signals=signals,
                trust=source_trust(signals, outlet.type, effective),
                summary=summarize(signals, effective),
            )
        )
    out.sort(key=lambda s: (-s.trust, s.article))
    return out
