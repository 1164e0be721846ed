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
import re
import threading
from functools import lru_cache
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from bot.report import Confidence
from bot.text import STOP_WORDS, content_terms, normalize, split_hashtag, stem, words
from bot.urls import canonicalize_url, find_urls, registered_domain, slug_words, strip_urls
from storage.reader import Candidate, CorpusReader, StoryMeta

#: Longest text the matcher reads; the rest of a paste is ignored (the cogs tell the user).
MAX_QUERY_CHARS = 4_000
#: Most words considered from a query.
MAX_QUERY_WORDS = 300
#: Typo correction of index terms only for messages of at most this many content words.
MAX_CORRECTED_WORDS = 12

DEFAULT_THRESHOLD = 50.0
HIGH = 75.0
MEDIUM = 60.0


@lru_cache(maxsize=65_536)
def _normalized(text: str) -> str:
    return normalize(text)


@lru_cache(maxsize=65_536)
def _term_list(text: str) -> tuple[str, ...]:
    return tuple(content_terms(text))


@lru_cache(maxsize=65_536)
def _terms(text: str) -> frozenset[str]:
    return frozenset(_term_list(text))


# Pasted posts: "pic.twitter.com/AbC" (often glued to the word before it) and bare "host.tld/path" links are links, not
# words; "@LindseyGrahamSC" names "Lindsey Graham SC" (handles are split like hashtags).
_PIC_LINK_RE = re.compile(r"pic\.twitter\.com/\w+", re.IGNORECASE)
_BARE_LINK_RE = re.compile(r"(?<![^\s(])(?:[a-z0-9-]{1,63}\.){1,5}[a-z]{2,12}/[^\s]{0,500}", re.IGNORECASE)
_MENTION_RE = re.compile(r"@(\w{1,64})(?!\w)(?!\.\w)")  # not a mail address (user@host.tld)


def _mention_words(m: re.Match[str]) -> str:
    return " " + " ".join(split_hashtag(m.group(1).replace("_", " ").strip() or m.group(1))) + " "


def prepare_text(text: str) -> str:
    """Links without a scheme out, @handles split into words (before normalisation, while the case is there)."""
    if "/" in text:
        text = _BARE_LINK_RE.sub(" ", _PIC_LINK_RE.sub(" ", text))
    if "@" in text:
        text = _MENTION_RE.sub(_mention_words, text)
    return text


#: Stories without curated entities (imported fact-checks) are ranked by a linear model over lexical features of the
#: query against the story's text (title, summary, claims, article titles), fitted on CLEF CheckThat! train splits
#: only by benchmarks/tune_checkthat.py (listwise softmax with weights >= 0, so more shared evidence never lowers a
#: score, then a logistic calibration so that score 50 = even odds
#: that the top story is the one the message repeats).  Features, in order (see Matcher._plain_features):
#:   bm25      BM25 (k1 1.2, b 0.75) of the query's stems against the story text, IDF from the full-text index,
#:             over its bound (k1 + 1) x the query's IDF mass, so that it reads the same in a small or a large corpus
#:   bm25_rel  bm25 / the best candidate's bm25
#:   rank_rr   1 / (1 + rank by bm25 among the candidates)
#:   cov_q     IDF mass of the query's stems that the story shares / the query's IDF mass
#:   cov_d     IDF mass shared / the story text's IDF mass
#:   cov_claim best share of one claim's (or summary's) IDF mass covered by the query
#:   cov_title share of the title's IDF mass covered by the query
#:   fuzz      rapidfuzz partial_ratio of the closest claim inside the query (ratio when the claim is longer) / 100
#:   log_len   log(1 + distinct stems of the story text)
PLAIN_FEATURES = ("bm25", "bm25_rel", "rank_rr", "cov_q", "cov_d", "cov_claim", "cov_title", "fuzz", "log_len")
PLAIN_MEAN = (0.0594029, 0.423617, 0.125425, 0.105377, 0.154475, 0.197742, 0.217366, 0.436054, 2.76532)
PLAIN_SCALE = (0.031649, 0.197709, 0.184567, 0.0554677, 0.0804869, 0.109099, 0.180066, 0.0531763, 0.353038)
PLAIN_WEIGHTS = (0.319573, 1.09015, 0.328519, 0, 0, 0.305162, 0.650406, 0.129882, 0.735987)
#: score = 100 * sigmoid(CAL_A * (w . standardised features) + CAL_B)
PLAIN_CAL_A = 1.08827
PLAIN_CAL_B = -6.9429
BM25_K1 = 1.2
BM25_B = 0.75
AVGDL = 0.0


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
        content = [w for w in ws if w not in STOP_WORDS and (len(w) > 1 or w.isdigit())]
        # Typo correction reads short messages ("rusia afganistan militry deal"); in a long paste the words the index
        # does not know are mostly real words it has no use for, and "correcting" them adds wrong ones.
        correct = len(content) <= MAX_CORRECTED_WORDS
        for w in content:
            w = corrections.get(w, w)
            s = stem(w)
            if correct and s not in idx.df:
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
        body = prepare_text(strip_urls(text))
        extra_text = prepare_text(extra_text)
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

    def _candidates(self, q: _Query, idx: _Index, guild_id: int | None, visible) -> dict[str, list[Candidate]]:
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
        return by_story

    def plain_features(self, text: str, guild_id: int | None = None) -> list[tuple[str, list[float]]]:
        """(story id, PLAIN_FEATURES) of the candidate stories without entities, exactly as ``match`` computes them.

        For fitting the ranking model (benchmarks/tune_checkthat.py); not used on the hot path.
        """
        idx = self.index
        hidden = self.reader.hidden_stories(guild_id)
        visible_guilds = (0, int(guild_id or 0))

        def visible(story_id: str) -> bool:
            s = idx.stories.get(story_id)
            return s is not None and s.guild_id in visible_guilds and story_id not in hidden

        q = self._analyse(prepare_text(strip_urls(text[:MAX_QUERY_CHARS])), idx)
        plain = {s: c for s, c in self._candidates(q, idx, guild_id, visible).items() if not idx.stories[s].core}
        texts = self.reader.story_texts(list(plain), guild_id)
        return [(sid, feats) for sid, feats, _t, _s in self._plain_features(q, plain, texts, idx)]

    def _score(self, q: _Query, idx: _Index, guild_id: int | None, visible) -> list[Hit]:
        by_story = self._candidates(q, idx, guild_id, visible)
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
        plain = {sid: c for sid, c in gated.items() if not idx.stories[sid].core}
        hits = self._score_plain(q, plain, texts, idx) if plain else []
        max_bm25 = max((c.bm25 for cs in gated.values() for c in cs), default=0.0) or 1.0
        for story_id, cands in gated.items():
            st = idx.stories[story_id]
            if not st.core:
                continue
            best_text, lexical, strict = "", 0.0, 0.0
            for kind, t in [(c.kind, c.text) for c in cands] + texts.get(story_id, []):
                tn = _normalized(t)
                r = fuzz.token_set_ratio(q.text, tn, processor=None)
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

    def _plain_features(
        self, q: _Query, plain: dict[str, list[Candidate]], texts: dict[str, list[tuple[str, str]]], idx: _Index
    ) -> list[tuple[str, list[float], str, list[str]]]:
        """(story id, PLAIN_FEATURES, closest text, shared stems) for candidate stories without entities."""
        qstems = set(q.stems)
        if not qstems:
            return []
        idf = idx.idf
        q_idf = sum(idf(t) for t in qstems) or 1.0
        docs = []
        for story_id, cands in plain.items():
            rows = texts.get(story_id, [])
            tf: dict[str, int] = defaultdict(int)
            for _kind, t in rows:
                for term in _term_list(t):
                    tf[term] += 1
            docs.append((story_id, cands, rows, tf, sum(tf.values())))
        if not docs:
            return []
        avgdl = AVGDL or (sum(d[4] for d in docs) / len(docs) or 1.0)
        scored = []
        for story_id, cands, rows, tf, dl in docs:
            norm = BM25_K1 * (1 - BM25_B + BM25_B * dl / avgdl)
            bm25 = sum(idf(t) * tf[t] * (BM25_K1 + 1) / (tf[t] + norm) for t in qstems if t in tf)
            scored.append((bm25, story_id, cands, rows, tf))
        scored.sort(key=lambda x: (-x[0], x[1]))
        best_bm25 = scored[0][0] or 1.0
        out = []
        for rank, (bm25, story_id, cands, rows, tf) in enumerate(scored):
            shared = qstems.intersection(tf)
            shared_idf = sum(idf(t) for t in shared)
            d_idf = sum(idf(t) for t in tf) or 1.0
            cov_claim, cov_title, best_text, fz = 0.0, 0.0, "", 0.0
            for kind, t in rows + [(c.kind, c.text) for c in cands if c.kind == "passage"]:
                terms = _terms(t)
                if not terms:
                    continue
                cov = sum(idf(x) for x in terms & qstems) / (sum(idf(x) for x in terms) or 1.0)
                if kind == "story":
                    cov_title = max(cov_title, cov)
                    continue
                if kind == "passage":
                    cov *= 0.85
                if cov > cov_claim or not best_text:
                    cov_claim, best_text = max(cov, cov_claim), t
            if best_text:
                tn = _normalized(best_text)
                fz = (fuzz.partial_ratio(tn, q.text, processor=None) if len(tn) < len(q.text)
                      else fuzz.ratio(tn, q.text, processor=None)) / 100
            feats = [bm25 / (q_idf * (BM25_K1 + 1)), bm25 / best_bm25, 1 / (1 + rank), shared_idf / q_idf, shared_idf / d_idf, cov_claim,
                     cov_title, fz, math.log1p(len(tf))]
            out.append((story_id, feats, best_text, sorted(shared, key=idf, reverse=True)))
        return out

    def _score_plain(
        self, q: _Query, plain: dict[str, list[Candidate]], texts: dict[str, list[tuple[str, str]]], idx: _Index
    ) -> list[Hit]:
        hits = []
        for story_id, feats, best_text, shared in self._plain_features(q, plain, texts, idx):
            z = sum(w * (f - m) / s for w, f, m, s in zip(PLAIN_WEIGHTS, feats, PLAIN_MEAN, PLAIN_SCALE))
            score = round(min(99.0, 100 / (1 + math.exp(-(PLAIN_CAL_A * z + PLAIN_CAL_B)))), 1)
            why = []
            if best_text:
                why.append(f"close to: “{best_text[:120]}”")
            if shared:
                why.append("shares: " + ", ".join(shared[:6]))
            if q.corrections:
                why.append("read " + ", ".join(f"{a}→{b}" for a, b in list(q.corrections.items())[:4]))
            hits.append(Hit(story_id, score, confidence_for(score), best_text[:300], why))
        return hits

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
            return None  # stories without entities are scored by _score_plain
        if lexical >= 60 and best_text:
            why.append(f"close to: “{best_text[:120]}”")
        if q.corrections:
            why.append("read " + ", ".join(f"{a}→{b}" for a, b in list(q.corrections.items())[:4]))
        score = round(min(score, 99.0), 1)
        return Hit(st.id, score, confidence_for(score), best_text[:300], why)
