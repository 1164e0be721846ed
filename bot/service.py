"""The check service: text in, ``Report`` out.  Used the same way by the CLI, the console and the Discord cogs.

It is synchronous and CPU-bound; async callers run it with ``asyncio.to_thread`` so the event loop never waits.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING
from datetime import date

from bot.matching import DEFAULT_THRESHOLD, Matcher, MatchResult
from bot.models import ArticleRole, Outlet, rating_json
from bot.report import LinkOutlet, Match, Report, StoryRef
from bot.signals import OwnSignals, build_sources, load_own, signals_key
from bot.versions import build_versions
from storage.reader import CorpusReader

if TYPE_CHECKING:
    from bot.rerank import EmbeddingReranker

log = logging.getLogger(__name__)

#: Outlets a checker keeps between reports (all of them in any corpus seen so far; past this it starts again).
OUTLET_CACHE_SIZE = 4_096

#: The largest claim a check accepts; longer input is refused with a clear message, not silently cut.
MAX_CLAIM_CHARS = 4_000


#: Auto-replies take the thorough pass (``Matcher.match``: what /check does when the quick pass finds nothing) for
#: at most this many messages a second, in bursts of as many; past that a flood of chatter gets the quick pass alone,
#: so it costs at most this many thorough passes a second (~0.3-0.6 ms each at 1M claims).  Only a message that would
#: take the pass spends from the budget (the quick pass found nothing, and it holds a distinctive term).
AUTOREPLY_THOROUGH_RATE = 100.0


class Budget:
    """At most ``rate`` events a second on average, ``rate`` at once after a quiet second (a token bucket).  The
    caller gives the time (a monotonic clock's seconds), so a test moves it.  Checks run in worker threads and take
    from it there: ``take`` holds a lock."""

    def __init__(self, rate: float):
        self.rate = rate
        self.tokens = rate
        self.last: float | None = None
        self._lock = threading.Lock()

    def take(self, now: float) -> bool:
        """Spend one event if the budget allows it now."""
        with self._lock:
            if self.last is not None:
                self.tokens = min(self.rate, self.tokens + max(0.0, now - self.last) * self.rate)
            self.last = now if self.last is None else max(self.last, now)  # (threads read the clock before the lock)
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False

    def asker(self, clock: Callable[[], float]) -> Callable[[], bool]:
        """``take`` at ``clock()``, for ``Matcher.match(thorough=...)``: asked only when the thorough pass would run."""
        return lambda: self.take(clock())


class CheckInputError(ValueError):
    """The input cannot be checked; the message is safe to show to the user."""


def validate_claim(text: str | None) -> str:
    """The claim to check, or CheckInputError saying what is wrong with it."""
    from bot.text import clean_text

    text = clean_text(text or "").strip()
    if not text:
        raise CheckInputError("The claim is empty: paste the text or the link you want to check.")
    if len(text) > MAX_CLAIM_CHARS:
        raise CheckInputError(
            f"That is {len(text):,} characters; a check reads at most {MAX_CLAIM_CHARS:,}. "
            "Paste the claim itself, or the link to the article."
        )
    return text


def load_reranker(enabled: bool) -> EmbeddingReranker | None:
    """The embedding re-ranker when ``enabled`` (CROSSCHECK_RERANK), with its model loaded now; None otherwise, or
    when the ``rerank`` extra is not installed (logged as an error with the install command: checks go on without)."""
    if not enabled:
        return None
    from bot.rerank import EmbeddingReranker, RerankUnavailable

    reranker = EmbeddingReranker()
    try:
        reranker.encoder  # noqa: B018 - loads the model (seconds), not on the first check
    except RerankUnavailable as exc:
        log.error("CROSSCHECK_RERANK is set, but %s; checking without the re-rank", exc)
        return None
    log.info("re-ranking matches with %s", reranker.name)
    return reranker


class Checker:
    """Matches text against the corpus and builds the full report (versions and sources) for each match."""

    def __init__(self, reader: CorpusReader, matcher: Matcher | None = None, *, cache_size: int = 256,
                 reranker: EmbeddingReranker | None = None):
        self.reader = reader
        self.matcher = matcher or Matcher(reader)
        #: Optional (CROSSCHECK_RERANK): re-orders the matches the matcher found; never adds or removes one.
        self.reranker = reranker
        self._cache: OrderedDict[tuple[str, int, int], tuple] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        #: Outlets (with their ratings) as read at ``_outlets_version`` of the corpus, by (outlet, server): a report
        #: reads each of its articles' outlets, and a corpus has far fewer outlets than stories.
        self._outlets: dict[tuple[str, int], Outlet | None] = {}
        self._outlets_version = -1

    def check(
        self,
        text: str,
        guild_id: int | None = None,
        *,
        top: int = 3,
        threshold: float = DEFAULT_THRESHOLD,
        extra_text: str = "",
        details: bool = True,
        thorough: bool | Callable[[], bool] = False,
    ) -> Report:
        """``thorough``: a member asked (/check, "Check claim", ``crosscheck check``), or an auto-reply's budget allows
        it; see ``Matcher.match``."""
        if self.reranker is None:
            result = self.matcher.match(text, guild_id, top=top, threshold=threshold, extra_text=extra_text,
                                        thorough=thorough)
        else:
            result = self._reranked(text, guild_id, top, threshold, extra_text, thorough)
        return self.report(result, guild_id, details=details)

    def _reranked(self, text: str, guild_id: int | None, top: int, threshold: float, extra_text: str,
                  thorough: bool | Callable[[], bool] = False) -> MatchResult:
        """The matcher's matches at ``threshold`` (up to RERANK_CANDIDATES), in the re-ranker's order, ``top`` of them.

        What counts as a match stays the matcher's decision, and so does each match's score and confidence: the
        embedding model only changes which of them come first."""
        from bot.rerank import RERANK_CANDIDATES

        result = self.matcher.match(text, guild_id, top=max(top, RERANK_CANDIDATES), threshold=threshold,
                                    extra_text=extra_text, thorough=thorough)
        if len(result.hits) > 1:
            docs: dict[str, list[str]] = {}
            for doc in self.reader.story_docs([h.story_id for h in result.hits], guild_id):
                docs.setdefault(doc.story_id, []).extend(x for x in (doc.title, *doc.body.split("\n")) if x)
            order = self.reranker.rerank(result.query, result.hits, lambda sid: docs.get(sid, []))
            by_id = {h.story_id: h for h in result.hits}
            result.hits = [by_id[h.story_id] for h in order]
        result.hits = result.hits[:top]
        return result

    def report(self, result: MatchResult, guild_id: int | None, *, details: bool = True) -> Report:
        matches = []
        for hit in result.hits:
            parts = self._story_parts(hit.story_id, guild_id) if details else None
            if details and parts is None:
                continue  # removed between match and report
            ref, versions, sources, background = parts if parts else (StoryRef(id=hit.story_id, title=""), [], [], [])
            matches.append(
                Match(
                    story=ref,
                    score=hit.score,
                    confidence=hit.confidence,
                    matched_text=hit.matched_text,
                    why=hit.why,
                    versions=versions,
                    sources=sources,
                    background=background,
                )
            )
        links = []
        for link in result.links:
            if link.outlet_id:
                outlet = self.reader.outlet(link.outlet_id, guild_id)
                if outlet:
                    links.append(
                        LinkOutlet(
                            url=link.url,
                            domain=link.domain,
                            outlet=outlet.name,
                            outlet_id=outlet.id,
                            rating=rating_json(outlet.rating),
                        )
                    )
        # Lone surrogates cannot be encoded: the report carries the query without them (JSON stays valid).
        query = result.query.encode("utf-8", "ignore").decode("utf-8")
        return Report(query=query, matches=matches, links=links)

    def _story_parts(self, story_id: str, guild_id: int | None):
        key = (story_id, int(guild_id or 0), self.reader.version())
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        version = key[2]

        def outlet(outlet_id: str, guild: int | None) -> Outlet | None:
            okey = (outlet_id, int(guild or 0))
            with self._lock:
                if self._outlets_version == version and okey in self._outlets:
                    return self._outlets[okey]
            found = self.reader.outlet(outlet_id, guild)
            with self._lock:
                if self._outlets_version != version or len(self._outlets) >= OUTLET_CACHE_SIZE:
                    self._outlets.clear()
                    self._outlets_version = version
                self._outlets[okey] = found
            return found

        bundle = self.reader.bundle(story_id, guild_id, outlet)
        if bundle is None:
            return None
        story = bundle.story
        items = [(a, bundle.outlets[a.outlet], bundle.ratings.get(a.outlet)) for a in bundle.articles if a.outlet in bundle.outlets]
        dates = _event_dates(story)
        sources = build_sources(
            items,
            other_dates_by_article={a.id: [d for aid, d in dates if aid != a.id] for a in bundle.articles},
            own=self._kept_signals(bundle.articles),
        )
        trust = {s.article: s.trust for s in sources}
        versions = build_versions(story, bundle.articles, trust)
        background = [a.id for a in bundle.articles if a.role == ArticleRole.background]
        parts = (StoryRef(id=story.id, title=story.title, summary=story.summary), versions, sources, background)
        with self._lock:
            self._cache[key] = parts
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return parts


    def _kept_signals(self, articles: list) -> dict[str, OwnSignals]:
        """The articles' kept signals (bot/precompute.py) that still fit them; the others are computed."""
        kept = self.reader.kept_signals([a.id for a in articles])
        out: dict[str, OwnSignals] = {}
        for a in articles:
            found = kept.get(a.id)
            if found is not None and found[0] == signals_key(a):
                try:
                    out[a.id] = load_own(found[1])
                except (ValueError, KeyError, TypeError):  # a damaged row: computed instead
                    log.warning("kept signals of article %s are unreadable; computing them", a.id)
        return out


def _event_dates(story) -> list[tuple[str, date]]:
    """(article id, date) for the dates curated positions give (e.g. "when was it signed"), for contradiction checks."""
    from bot.extract import extract_dates

    out = []
    for q in story.questions:
        if q.kind != "date":
            continue
        for p in q.positions:
            for d in extract_dates(p.statement):
                value = getattr(d, "value", None)
                if isinstance(value, date):
                    out.extend((a, value) for a in p.articles)
    return out
