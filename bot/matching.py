"""The matcher: which known story is a pasted claim or link about?  Everything that decides a match is here.

Pipeline (all in one place so it can be measured, see benchmarks/):
1. links: canonicalise; an exact canonical-URL hit is its article's story; a known domain names its outlet; the
   link's slug words (and, in Discord, its preview's title and description) join the text;
2. text: normalise (NFKC, casefold, invisible characters out, hashtags split), stem (Porter, as the index does),
   correct typos against the index's vocabulary and the entities' aliases;
3. entities: find the stories' entities by alias (any language, plural/possessive/inflected forms, typos);
4. candidates: FTS5 BM25 over titles, claims and passages, plus the stories whose core entities the text names;
5. re-rank with rapidfuzz and gate: a story with core entities matches only if the text names enough of them
   *and* the story's topic (or closely paraphrases one of its claims).  Generic overlap is never enough.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from bot.report import Confidence
from bot.text import STOP_WORDS, content_terms, normalize, stem, words
from bot.urls import canonicalize_url, find_urls, registered_domain, slug_words, strip_urls
from storage.reader import Candidate, CorpusReader, StoryMeta

#: Longest text the matcher reads; the rest of a paste is ignored (the cogs tell the user).
MAX_QUERY_CHARS = 4_000
#: Most words considered from a query.
MAX_QUERY_WORDS = 300

DEFAULT_THRESHOLD = 50.0
HIGH = 75.0
MEDIUM = 60.0


@lru_cache(maxsize=65_536)
def _normalized(text: str) -> str:
    return normalize(text)


@lru_cache(maxsize=65_536)
def _terms(text: str) -> frozenset[str]:
    return frozenset(content_terms(text))


def confidence_for(score: float) -> Confidence:
    if score >= HIGH:
        return Confidence.high
    if score >= MEDIUM:
        return Confidence.medium
    return Confidence.low


@dataclass(slots=True)
class Hit:
    story_id: str
    score: float
    confidence: Confidence
    matched_text: str
    why: list[str] = field(default_factory=list)
    article_id: str | None = None  # set on an exact link hit


@dataclass(slots=True)
class LinkInfo:
    url: str
    canonical: str
    domain: str
    outlet_id: str | None = None
    article_id: str | None = None
    story_id: str | None = None


@dataclass(slots=True)
class MatchResult:
    query: str
    hits: list[Hit]
    links: list[LinkInfo]
    truncated: bool = False


@dataclass(slots=True)
class _Story:
    id: str
    guild_id: int
    title: str
    core: frozenset[str]
    entity_names: dict[str, str]
    topic: frozenset[str]


class _Index:
    """In-memory structures rebuilt when the corpus version changes: aliases, story facets, vocabulary."""

    def __init__(self, reader: CorpusReader):
        self.version = reader.version()
        self.stories: dict[str, _Story] = {}
        # alias (tuple of normalised words) -> [(story id, entity id)]
        self.aliases: dict[tuple[str, ...], list[tuple[str, str]]] = defaultdict(list)
        self.alias_words: set[str] = set()
        self.max_alias_len = 1
        for meta in reader.story_meta():
            self._add_story(meta)
        self.alias_by_len: dict[tuple[str, int], list[str]] = defaultdict(list)
        for w in self.alias_words:
            if len(w) >= 4:
                self.alias_by_len[(w[0], len(w))].append(w)
        # Vocabulary of the full-text index (Porter stems) with document frequencies.
        self.df: dict[str, int] = {}
        self.vocab_by_len: dict[tuple[str, int], list[str]] = defaultdict(list)
        for term, doc in reader.vocabulary():
            self.df[term] = doc
            if len(term) >= 4 and term.isalpha():
                self.vocab_by_len[(term[0], len(term))].append(term)
        self.n_docs = max(1, reader.document_count())

    def _add_story(self, meta: StoryMeta) -> None:
        core = frozenset(e.entity_id for e in meta.entities if e.core)
        topic = set()
        for t in meta.topic_terms:
            for w in words(t):
                if w not in STOP_WORDS:
                    topic.add(stem(w))
        self.stories[meta.id] = _Story(
            meta.id, meta.guild_id, meta.title, core, {e.entity_id: e.name for e in meta.entities}, frozenset(topic)
        )
        for e in meta.entities:
            for alias in {e.name, *e.aliases}:
                key = tuple(words(alias))
                if not key:
                    continue
                self.aliases[key].append((meta.id, e.entity_id))
                self.alias_words.update(key)
                self.max_alias_len = max(self.max_alias_len, len(key))

    # -- typo correction -----------------------------------------------------------------------------------------

    def correct_alias_word(self, w: str) -> str | None:
        if len(w) < 4 or w in self.alias_words:
            return None
        best, best_d = None, 3
        max_d = 1 if len(w) < 8 else 2
        for n in range(len(w) - max_d, len(w) + max_d + 1):
            for cand in self.alias_by_len.get((w[0], n), ()):
                d = Levenshtein.distance(w, cand, score_cutoff=max_d)
                if d <= max_d and d < best_d:
                    best, best_d = cand, d
        return best

    def correct_term(self, s: str) -> str | None:
        """The index term closest to an unknown stem (edit distance 1, or 2 for long words), most frequent first."""
        if len(s) < 5 or s in self.df or not s.isalpha():
            return None
        max_d = 1 if len(s) < 7 else 2
        best, best_key = None, None
        for n in range(len(s) - max_d, len(s) + max_d + 1):
            bucket = self.vocab_by_len.get((s[0], n))
            if not bucket:
                continue
            for cand, _score, _ in process.extract(
                s, bucket, scorer=Levenshtein.distance, score_cutoff=max_d, limit=5
            ):
                if cand in STOP_WORDS:
                    continue
                key = (Levenshtein.distance(s, cand), -self.df.get(cand, 0))
                if best_key is None or key < best_key:
                    best, best_key = cand, key
        return best

    def idf(self, term: str) -> float:
        df = self.df.get(term, 0)
        return math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))


@dataclass(slots=True)
class _Query:
    text: str  # normalised text used for fuzzy comparison
    words: list[str]
    stems: list[str]  # content stems (typo-corrected)
    entities: dict[str, dict[str, str]]  # story id -> {entity id: alias as found}
    corrections: dict[str, str]


class Matcher:
    """Thread-safe; one per corpus file.  ``match`` is CPU-bound: call it from a worker thread in async code."""

    def __init__(self, reader: CorpusReader, *, candidates: int = 40):
        self.reader = reader
        self.candidates = candidates
        self._index: _Index | None = None
        self._lock = threading.Lock()

    @property
    def index(self) -> _Index:
        idx = self._index
        if idx is None or idx.version != self.reader.version():
            with self._lock:
                idx = self._index
                if idx is None or idx.version != self.reader.version():
                    idx = self._index = _Index(self.reader)
        return idx

    # -- query analysis -------------------------------------------------------------------------------------------

    def _analyse(self, text: str, idx: _Index) -> _Query:
        ws = words(text)[:MAX_QUERY_WORDS]
        corrections: dict[str, str] = {}
        # Entities: longest alias first, exact, inflected (prefix + up to 3 letters) or one typo away.
        found: dict[str, dict[str, str]] = defaultdict(dict)
        consumed = [False] * len(ws)
        for n in range(min(idx.max_alias_len, 6), 0, -1):
            for i in range(len(ws) - n + 1):
                if any(consumed[i : i + n]):
                    continue
                key = tuple(ws[i : i + n])
                owners = idx.aliases.get(key)
                if owners is None and n == 1:
                    w = ws[i]
                    fixed = idx.correct_alias_word(w)
                    if fixed is None and len(w) >= 6:
                        for cut in (1, 2, 3):
                            if (w[:-cut],) in idx.aliases and len(w) - cut >= 5:
                                fixed = w[:-cut]
                                break
                    if fixed is not None:
                        owners = idx.aliases.get((fixed,))
                        if owners:
                            corrections[w] = fixed
                if owners:
                    for story_id, entity_id in owners:
                        found[story_id].setdefault(entity_id, " ".join(key))
                    for j in range(i, i + n):
                        consumed[j] = True
        stems: list[str] = []
        for w in ws:
            if w in STOP_WORDS or (len(w) < 2 and not w.isdigit()):
                continue
            w = corrections.get(w, w)
            s = stem(w)
            if s not in idx.df:
                fixed = idx.correct_term(s)
                if fixed:
                    corrections[w] = fixed
                    s = fixed
            stems.append(s)
        norm = " ".join(corrections.get(w, w) for w in ws if w not in STOP_WORDS)
        return _Query(norm, ws, list(dict.fromkeys(stems)), dict(found), corrections)

    def _fts_expression(self, q: _Query, idx: _Index) -> str:
        # Rare terms first; very common terms add cost and no discrimination.
        terms = [s for s in q.stems if s in idx.df and s.replace("'", "").isalnum()]
        terms.sort(key=idx.idf, reverse=True)
        terms = terms[:24]
        return " OR ".join(f'"{t}"' for t in terms)

    # -- matching -------------------------------------------------------------------------------------------------

    def match(
        self,
        text: str,
        guild_id: int | None = None,
        *,
        top: int = 3,
        threshold: float = DEFAULT_THRESHOLD,
        extra_text: str = "",
    ) -> MatchResult:
        """Ranked stories for ``text`` (plus ``extra_text``, e.g. link previews) at or above ``threshold``."""
        truncated = len(text) > MAX_QUERY_CHARS
        text = text[:MAX_QUERY_CHARS]
        extra_text = extra_text[:MAX_QUERY_CHARS]
        idx = self.index
        hidden = self.reader.hidden_stories(guild_id)
        visible_guilds = (0, int(guild_id or 0))

        def visible(story_id: str) -> bool:
            s = idx.stories.get(story_id)
            return s is not None and s.guild_id in visible_guilds and story_id not in hidden

        links = self._links(text, guild_id)
        hits: dict[str, Hit] = {}
        for link in links:
            if link.story_id and visible(link.story_id) and link.story_id not in hits:
                hits[link.story_id] = Hit(
                    link.story_id, 100.0, Confidence.high, link.url, [f"link: the article {link.article_id}"], link.article_id
                )
        body = strip_urls(text)
        slug_text = " ".join(slug_words(link.url) for link in links if not link.story_id)
        full = " ".join(x for x in (body, slug_text, extra_text) if x.strip())
        q = self._analyse(full, idx)
        if q.stems or q.entities:
            for hit in self._score(q, idx, guild_id, visible):
                if hit.story_id not in hits and hit.score >= threshold:
                    hits[hit.story_id] = hit
        ranked = sorted(hits.values(), key=lambda h: (-h.score, h.story_id))[:top]
        return MatchResult(text, ranked, links, truncated)

    def _links(self, text: str, guild_id: int | None) -> list[LinkInfo]:
        out = []
        for url in find_urls(text)[:5]:
            canon = canonicalize_url(url)
            if not canon:
                continue
            host = canon.split("/")[2]
            info = LinkInfo(url, canon, host)
            art = self.reader.article_by_canonical_url(canon, guild_id)
            if art:
                info.article_id, info.story_id = art
            outlet = self.reader.outlet_by_domain(host, guild_id) or self.reader.outlet_by_domain(
                registered_domain(host), guild_id
            )
            if outlet:
                info.outlet_id = outlet.id
            out.append(info)
        return out

    def _score(self, q: _Query, idx: _Index, guild_id: int | None, visible) -> list[Hit]:
        # Candidates from the full-text index...
        by_story: dict[str, list[Candidate]] = defaultdict(list)
        expr = self._fts_expression(q, idx)
        if expr:
            for c in self.reader.fts_candidates(expr, guild_id, self.candidates):
                if visible(c.story_id):
                    by_story[c.story_id].append(c)
        # ...and from entities: stories whose core entities the text names.
        entity_stories = [s for s in q.entities if visible(s) and idx.stories[s].core]
        entity_stories.sort(key=lambda s: -len(set(q.entities[s]) & idx.stories[s].core))
        for s in entity_stories[:20]:
            by_story.setdefault(s, [])
        if not by_story:
            return []
        qstems = set(q.stems)
        # Gate first: a story with core entities needs enough of them named; the rest is not worth scoring.
        gated = {}
        for story_id, cands in by_story.items():
            st = idx.stories[story_id]
            if st.core and len(set(q.entities.get(story_id, {})) & st.core) < min(len(st.core), 2):
                continue
            gated[story_id] = cands
        if not gated:
            return []
        texts = self.reader.story_texts(list(gated), guild_id)
        max_bm25 = max((c.bm25 for cs in gated.values() for c in cs), default=0.0) or 1.0
        hits = []
        for story_id, cands in gated.items():
            st = idx.stories[story_id]
            best_text, lexical, strict = "", 0.0, 0.0
            for kind, t in [(c.kind, c.text) for c in cands] + texts.get(story_id, []):
                tn = _normalized(t)
                if st.core:
                    r = fuzz.token_set_ratio(q.text, tn, processor=None)
                else:
                    r = 100 * self._overlap(qstems, _terms(t), idx)
                if kind == "passage":
                    r *= 0.85
                if r > lexical:
                    lexical, best_text = r, t
                    strict = fuzz.token_sort_ratio(q.text, tn, processor=None)
            bm25 = max((c.bm25 for c in cands), default=0.0) / max_bm25
            hit = self._judge(q, st, qstems, lexical, strict, bm25, best_text)
            if hit:
                hits.append(hit)
        return hits

    @staticmethod
    def _overlap(qstems: set[str], tstems: frozenset[str], idx: _Index) -> float:
        """IDF-weighted Dice coefficient of two sets of stems (0..1): shared rare words count most."""
        if not qstems or not tstems:
            return 0.0
        shared = sum(idx.idf(t) for t in qstems & tstems)
        total = sum(idx.idf(t) for t in qstems) + sum(idx.idf(t) for t in tstems)
        return 2 * shared / total if total else 0.0

    def _judge(
        self, q: _Query, st: _Story, qstems: set[str], lexical: float, strict: float, bm25: float, best_text: str
    ) -> Hit | None:
        why: list[str] = []
        named = q.entities.get(st.id, {})
        topic_hits = sorted(qstems & st.topic)
        if st.core:
            core_named = set(named) & st.core
            need = min(len(st.core), 2)
            if len(core_named) < need:
                return None
            if not topic_hits and strict < 80:
                # Naming the same countries is not the same story: without the topic, only a close paraphrase.
                return None
            coverage = len(core_named) / len(st.core)
            score = 50 + 18 * coverage + min(len(topic_hits), 3) * 6 + max(0.0, lexical - 40) * 0.25
            why.append("names " + ", ".join(f"{st.entity_names[e]} ({named[e]})" for e in sorted(core_named)))
            if topic_hits:
                why.append("topic: " + ", ".join(topic_hits))
        else:
            # No entities curated (e.g. imported fact-checks): a close paraphrase of a claim or title is needed.
            score = 0.8 * lexical + 0.2 * strict
        if lexical >= 60 and best_text:
            why.append(f"close to: “{best_text[:120]}”")
        if q.corrections:
            why.append("read " + ", ".join(f"{a}→{b}" for a, b in list(q.corrections.items())[:4]))
        score = round(min(score, 99.0), 1)
        return Hit(st.id, score, confidence_for(score), best_text[:300], why)
