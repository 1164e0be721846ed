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

import gc
import itertools
import json
import logging
import marshal
import math
import operator
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from functools import lru_cache
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from bot.report import Confidence
from bot.text import STOP_WORDS, content_terms, normalize, split_hashtag, stem, words
from bot.urls import canonicalize_url, find_urls, registered_domain, slug_words, strip_urls
from storage.reader import CorpusReader, StoryDoc, fts_word

log = logging.getLogger(__name__)

#: Longest text the matcher reads; the rest of a paste is ignored (the cogs tell the user).
MAX_QUERY_CHARS = 4_000
#: Most words considered from a query.
MAX_QUERY_WORDS = 300
#: Typo correction of index terms only for messages of at most this many content words.
MAX_CORRECTED_WORDS = 12
#: Hashtags of this many letters that the corpus does not know as one word are split into known words
#: ("#fyrefestival": +0.009 MAP@5 on CheckThat! 2020 dev, fitted on 2020 train; see docs/performance-log.md).
GLUED_MIN, GLUED_MAX = 6, 40
#: ... or, when no such split exists, into one known word of this many letters or more and an unknown rest of 4 or
#: more ("#krystinamartelli" -> "krystina martelli"; +0.005 on 2020 dev, +0.0006 to +0.0012 in cross-validation).
GLUED_KNOWN_MIN = 5

DEFAULT_THRESHOLD = 50.0
#: Auto-replies need a strong match: the score a channel needs unless its moderators set another.
AUTOREPLY_THRESHOLD = 75.0
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
#: A pasted post's signature, as a copied tweet ends: "— Name (@handle) March 24, 2019".  It says who posted and when,
#: not what is claimed: the ranking reads the message's coverage without it as a feature of its own (cov_body).
_SIGNATURE_RE = re.compile(
    r"[—–-]{1,2}[^\S\n]*[^—–()\n]{0,80}?\(@\w{1,50}\)\s*(?:January|February|March|April|May|June|July|August|September|"
    r"October|November|December)\s+\d{1,2},\s+\d{4}"
)
#: A hashtag (as bot.text reads one) whose glued words may be split by the corpus's vocabulary.
_TAG_RE = re.compile(r"#(\w{1,100})")


def _query_texts(text: str, *more: str) -> tuple[str, str, str | None]:
    """(``text`` prepared: links out, @handles split; that with ``more`` (link slugs, previews) joined on: what the
    matcher reads; the same without pasted posts' signatures, or None if there are none)."""
    body = prepare_text(strip_urls(text))
    full = " ".join(x for x in (body, *more) if x.strip())
    if "(@" not in text or not _SIGNATURE_RE.search(text):
        return body, full, None
    said = prepare_text(strip_urls(_SIGNATURE_RE.sub(" ", text)))
    return body, full, " ".join(x for x in (said, *more) if x.strip())


def _mention_words(m: re.Match[str]) -> str:
    parts = split_hashtag(m.group(1).replace("_", " ").strip() or m.group(1))
    if len(parts) == 1 and parts[0].isalpha():
        return " #" + parts[0] + " "  # read as a hashtag: glued words ("@marcorubio") may be split (Matcher._read)
    return " " + " ".join(parts) + " "


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
#:   q_title   cov_q x cov_title: the message is covered by the story and covers its title, both at once
#:   cov_rare  IDF share of the message's RARE_STEMS rarest stems that the story holds
#:   cov_body  cov_q without a pasted post's signature ("— Name (@handle) March 24, 2019"): who posted is not the claim
#:   title_local  share of the title in the message's own stems (without a signature) weighted by IDF x log(1 + n / m),
#:             n candidates of which m hold the stem: a word every candidate shares tells them apart poorly
#:   bm25_qtf  BM25 over every stem of the message, each weighted by its IDF and how often the message says it
#:             (saturated, k3 = QTF_K3), over its bound
#:   claim_rel cov_claim / the best cov_claim among the candidates
#:   char_cos  TF-IDF cosine of character 3-grams (inside words) of the message's own words and of the story's
#:             title and CHAR_LINES closest lines, IDF over the candidates (_char_cosines)
PLAIN_FEATURES = ("bm25", "bm25_rel", "rank_rr", "cov_q", "cov_d", "cov_claim", "cov_title", "fuzz", "log_len",
                  "q_title", "cov_rare", "cov_body", "title_local", "bm25_qtf", "claim_rel", "char_cos")
QTF_K3 = 8.0
RARE_STEMS = 5
_FUZZ = PLAIN_FEATURES.index("fuzz")
PLAIN_MEAN = (0.0567388, 0.432654, 0.106964, 0.102725, 0.150834, 0.190714, 0.200037, 0.432247, 2.77002, 0.0227956, 0.0380294, 0.111479, 0.0656161, 0.0586194, 0.403297, 0.130811)
PLAIN_SCALE = (0.0270822, 0.186425, 0.170484, 0.051938, 0.0758596, 0.0946653, 0.159406, 0.05055, 0.360234, 0.0367126, 0.0863422, 0.0939124, 0.0838638, 0.0315241, 0.201707, 0.0748963)
PLAIN_WEIGHTS = (0, 0, 0.323123, 0, 0, 0, 0.247263, 0, 0.62209, 0.0735745, 0.152144, 0, 0.242952, 0.798782, 0.417851, 1.2211)
#: score = 100 * sigmoid(CAL_A * (w . standardised features) + CAL_B)
PLAIN_CAL_A = 0.704682
PLAIN_CAL_B = -6.01801
BM25_K1 = 1.2
BM25_B = 0.75
#: Candidate generation: the rarest query terms (at most this many) in one OR query over the story-level index ...
MAX_FTS_TERMS = 24
#: ... leaving out terms in more than this share of stories (they cost the most and tell the least) while at least
#: MIN_FTS_TERMS rarer ones remain ...
MAX_DF_SHARE = 0.05
MIN_FTS_TERMS = 3
#: ... and in a large corpus, terms in more than this many stories or this share of them, whichever is more: the
#: index reads and scores every story holding a term, so a term's cost grows with the corpus while what it tells
#: does not (at 100k stories 5% is 5,000 stories per term, the cap 1,000; below 20k stories it changes nothing).
MAX_DF_STORIES = 1000
MAX_DF_SHARE_LARGE = 0.01
#: In a corpus of more than LARGE_CORPUS stories, a long paste (more distinct content stems than LONG_QUERY_STEMS; a
#: tweet has fewer) contributes only its LONG_FTS_TERMS rarest: the index's cost grows with the query's terms much
#: faster than what the 17th to 24th rarest words of a page tell (100k stories: 24 terms ~11 ms, 16 terms ~5 ms).
LARGE_CORPUS = 20_000
LONG_QUERY_STEMS = 80
LONG_FTS_TERMS = 16
#: BM25 weight of a story's title against its other lines (claims, summary, article titles).
TITLE_WEIGHT = 1.0
#: A story without entities matches (score >= 50 possible) only if the message covers at least this share of the IDF
#: weight of one of its claims (or its title), with two shared words or more.
PLAIN_MIN_COVER = 0.5
#: The most a story without entities scores when it fails that gate (99 x 0.5).
PLAIN_GATED_MAX = 49.5
#: At thresholds above PLAIN_GATED_MAX (auto-reply, /check), candidates must hold two of this many rarest terms.
STRICT_TERMS = 8
#: ... and when at most this many stories do, they are read unranked and scored by Matcher._bm25.
STRICT_UNRANKED_MAX = 160
#: ... and only terms in at most this share of stories (or this many, in a small corpus) count as distinctive there.
STRICT_MAX_DF_SHARE = 0.01
STRICT_MIN_DF = 20
#: A thorough check (``Matcher.match``) shows a story the quick pass missed only if it holds this many of the
#: message's stems ...
THOROUGH_MIN_SHARED = 3
#: ... and it looks only at stories holding two of the message's index terms, one of them distinctive, or three of
#: the others, read unranked when at most this many do.
THOROUGH_UNRANKED_MAX = 400
#: Longest word looked up as a misspelt name.
MAX_ALIAS_TYPO_LEN = 20
#: Most stories added as candidates because the message names their core entities.
MAX_ENTITY_CANDIDATES = 20
#: Article passages are searched for long pastes only (at least this many content words), with their rarest terms.
PASSAGE_MIN_WORDS = 20
PASSAGE_TERMS = 8
#: A long paste whose best stories score within QUOTE_TIE of each other (near-duplicates: the same names and topic)
#: goes to the one whose article it quotes: the one holding the most of its QUOTE_WORDS-word runs, at least
#: QUOTE_MIN_RUNS of them, and more than any other.
QUOTE_TIE = 10.0
QUOTE_WORDS = 8
QUOTE_MIN_RUNS = 3
QUOTE_STORIES = 5


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
    rank: float = -1.0  # the unrounded score the ranking uses (-1: the score)
    shared: int = 0  # a story without entities: how many of the message's stems it holds

    @property
    def sort_key(self) -> float:
        return self.rank if self.rank >= 0 else self.score


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


#: Article passages a check reads as candidates' text, at most.
PASSAGE_LIMIT = 20
#: Bumped whenever what _Index keeps changes, so that an older snapshot file is never read.
INDEX_FORMAT = 4
#: A background rebuild updates the index from the corpus's change log when at most this many stories changed
#: since it was made (a moderator's edits, a small import); more, and the index is built again in full.
INCREMENTAL_MAX_STORIES = 2_000
_FS, _RS, _US = "\x1f", "\x1e", "\x1d"  # field, record and unit separators of the packed index


class _Stories:
    """Story facets packed one string per story (cheap to build, load and keep), unpacked on use and cached."""

    __slots__ = ("packed", "_cache")

    def __init__(self, packed: dict[str, str]):
        self.packed = packed
        self._cache: dict[str, _Story] = {}

    def get(self, story_id: str) -> _Story | None:
        st = self._cache.get(story_id)
        if st is None:
            raw = self.packed.get(story_id)
            if raw is None:
                return None
            guild, title, ents, topic = raw.split(_FS)
            core, names = [], {}
            for e in ents.split(_RS) if ents else ():
                eid, is_core, name = e.split(_US)
                names[eid] = name
                if is_core == "1":
                    core.append(eid)
            st = _Story(story_id, int(guild), title, frozenset(core), names, frozenset(topic.split()))
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[story_id] = st
        return st

    def __getitem__(self, story_id: str) -> _Story:
        st = self.get(story_id)
        if st is None:
            raise KeyError(story_id)
        return st

    def __contains__(self, story_id: str) -> bool:
        return story_id in self.packed

    def __len__(self) -> int:
        return len(self.packed)


class _Index:
    """In-memory structures rebuilt when the corpus version changes: aliases, story facets, vocabulary.

    Kept compact (a string per story and per alias, unpacked on use) so that 100k stories cost tens of MB, and kept
    in a snapshot file beside the database (``<db>.matcher-index``, marshal, written atomically): the next process
    that opens the same corpus state loads it instead of reading every story and the whole vocabulary again.  The
    snapshot is keyed by the corpus version, the index's row count and last row id and the last audit id, so an
    edited or restored database is never read from a stale one.
    """

    def __init__(self, reader: CorpusReader, *, snapshot: bool = True):
        started = time.perf_counter()
        # One state of the file throughout: the next update applies the log's later entries to exactly this one.
        with reader.read_transaction():
            self.version = reader.version()
            #: The last entry of the corpus's log of re-indexed stories this index includes.
            self.change_id = reader.index_change_id()
            self._fresh_caches()
            path = _snapshot_path(reader) if snapshot else None
            key = self._key = _snapshot_key(reader, self.version) if path else None
            with _no_cyclic_gc():  # millions of small objects: the collector would rescan them again and again
                loaded = bool(path and self._load(path, key))
                if not loaded:
                    self._build(reader)
                    if path:
                        self._save(path, key)
        self.stories = _Stories(self._packed_stories)
        #: Seconds this index took to load or build (Matcher decides from it how to replace it).
        self.build_s = time.perf_counter() - started
        #: How it was made: "snapshot", "build" or "update" (from the previous index and the change log).
        self.made_by = "snapshot" if loaded else "build"

    def _fresh_caches(self) -> None:
        self._vocab_by_len: dict[tuple[str, int], tuple[str, ...]] | None = None
        #: One-letter deletions of the alias words -> those words, per first letter of the words (built a letter at a
        #: time: the first check after a start builds only the letters it needs, 20-40 ms, not the whole 0.5 s).
        self._alias_deletes: dict[str, dict[str, tuple[str, ...]]] = {}
        self._alias_words_by_letter: dict[str, list[str]] | None = None
        self._warm_lock = threading.Lock()
        self.warming = False  # a thread builds (or has built) the typo-correction structures
        self._owners: dict[str, list[tuple[str, str]]] = {}
        self._idf_table: _IdfTable | None = None
        self.fts_totals: tuple[int, int] | None = None  # (rows, tokens) of the story-level index, read on use
        self._mass: dict[frozenset[str], float] = {}
        self._extent: dict[tuple[str, int], tuple[int, float]] = {}
        self._glued: dict[str, tuple[str, ...]] = {}

    @staticmethod
    def _facets(entity_rows, story_rows) -> tuple[dict[str, str], dict[str, list[str]]]:
        """(story id -> packed facets, alias key -> owners in entity-row order) of these rows."""
        word_cache: dict[str, str] = {}

        def key_of(text: str) -> str:
            k = word_cache.get(text)
            if k is None:
                k = word_cache[text] = " ".join(words(text))
            return k

        ents: dict[str, list[str]] = defaultdict(list)
        aliases: dict[str, list[str]] = defaultdict(list)
        rows = list(entity_rows)
        n_core: dict[str, int] = defaultdict(int)
        for story_id, _eid, _name, _aliases, core in rows:
            n_core[story_id] += 1 if core else 0
        for story_id, eid, name, alias_json, core in rows:
            ents[story_id].append(f"{eid}{_US}{1 if core else 0}{_US}{name}")
            # owner: story, entity, and the story's number of core entities (0 for a non-core entity)
            owner = f"{story_id}{_US}{eid}{_US}{n_core[story_id] if core else 0}"
            for alias in {name, *json.loads(alias_json)}:
                k = key_of(alias)
                if k:
                    aliases[k].append(owner)
        packed = {}
        for story_id, guild, title, topic_json in story_rows:
            topic = {stem(w) for t in json.loads(topic_json) for w in words(t) if w not in STOP_WORDS}
            packed[story_id] = _FS.join((str(guild), title.replace(_FS, " "), _RS.join(ents.get(story_id, ())),
                                         " ".join(sorted(topic))))
        return packed, aliases

    def _alias_index(self) -> None:
        """alias_first and alias_words, from the alias keys."""
        self.alias_first: dict[str, int] = {}
        self.alias_words: set[str] = set()
        for k in self.aliases:
            ws = k.split(" ")
            self.alias_words.update(ws)
            if len(ws) > self.alias_first.get(ws[0], 0):
                self.alias_first[ws[0]] = len(ws)

    def _build(self, reader: CorpusReader) -> None:
        packed, aliases = self._facets(reader.entity_rows(), reader.story_rows())
        self._packed_stories = packed
        self.aliases = {k: _RS.join(dict.fromkeys(v)) for k, v in aliases.items()}
        self._alias_index()
        # Vocabulary of the story-level full-text index (Porter stems) with document frequencies.
        self.df: dict[str, int] = dict(reader.story_vocabulary())
        self.n_docs = max(1, reader.story_row_count())

    @classmethod
    def updated(cls, old: _Index, reader: CorpusReader, *, snapshot: bool = True) -> _Index | None:
        """The index of the corpus's current state made from ``old`` and the log of re-indexed stories (schema v4):
        only those stories' facets and aliases are read again, and the document frequencies change by the terms of
        those stories' rows before and now (schema v5; the whole vocabulary is read again only if an entry predates
        it).  None when the log cannot say what changed since ``old`` (too many stories: INCREMENTAL_MAX_STORIES, or
        entries dropped): then build in full.  ``old`` is not changed (checks go on using it meanwhile).  Equal to a
        full build of the same state (tests/test_matching.py)."""
        with reader.read_transaction():  # the log, the rows and the counts of one state
            return cls._updated(old, reader, snapshot=snapshot)

    @classmethod
    def _updated(cls, old: _Index, reader: CorpusReader, *, snapshot: bool) -> _Index | None:
        started = time.perf_counter()
        version = reader.version()
        since = reader.index_changes_since(old.change_id, INCREMENTAL_MAX_STORIES)
        if since is None:
            return None
        change_id, touched = since
        new = cls.__new__(cls)
        new.version, new.change_id = version, change_id
        new._fresh_caches()
        with _no_cyclic_gc():
            packed, aliases = cls._facets(reader.stories_entity_rows(touched), reader.stories_rows(touched))
            new._packed_stories = dict(old._packed_stories)
            for story_id in touched:
                new._packed_stories.pop(story_id, None)
            new._packed_stories.update(packed)
            # Owners of the touched stories leave every alias; their current ones join, and each alias's owners
            # are put back in entity-row order (story id, then the story's order), as a full build lists them.
            gone = set(touched)
            marks = [f"{x}{_US}" for x in gone] if len(gone) <= 64 else None  # a substring search first, in C
            merged: dict[str, list[str]] = {}
            for k, v in old.aliases.items():
                if marks is not None and not any(m in v for m in marks):
                    continue
                if any(o.split(_US, 1)[0] in gone for o in v.split(_RS)):
                    merged[k] = [o for o in v.split(_RS) if o.split(_US, 1)[0] not in gone]
            for k, owners in aliases.items():
                if k not in merged:
                    raw = old.aliases.get(k)
                    merged[k] = raw.split(_RS) if raw else []
                merged[k].extend(dict.fromkeys(owners))
            new.aliases = dict(old.aliases)
            for k, owners in merged.items():
                if owners:
                    owners.sort(key=lambda o: o.split(_US, 1)[0])  # stable: each story's owners keep their order
                    new.aliases[k] = _RS.join(owners)
                else:
                    del new.aliases[k]
            if merged:
                new._alias_index()
            else:
                new.alias_first, new.alias_words = old.alias_first, old.alias_words
            changes = reader.index_term_changes(old.change_id, change_id)
            if changes is None:
                new.df = dict(reader.story_vocabulary())
                terms_gone, terms_came = old.df.keys() - new.df.keys(), new.df.keys() - old.df.keys()
            else:
                new.df = dict(old.df)
                terms_gone, terms_came = set(), set()
                for term, gained in changes.items():
                    was = new.df.get(term, 0)
                    n = was + gained
                    if n > 0:
                        new.df[term] = n
                        if not was:
                            terms_came.add(term)
                    elif was:
                        del new.df[term]
                        terms_gone.add(term)
            new.n_docs = max(1, reader.story_row_count())
            path = _snapshot_path(reader)
            new._key = _snapshot_key(reader, version) if path else None
            if path and snapshot:
                new._save(path, new._key)
        # The typo-correction structures of the old index, if built, are updated for the words that came and went
        # (shared if none did; read-only once built), not built again (1 s at 100k stories).
        gone, came = old.alias_words - new.alias_words, new.alias_words - old.alias_words
        for letter, part in old._alias_deletes.items():
            new._alias_deletes[letter] = _retabled(part, [w for w in gone if w[0] == letter],
                                                   [w for w in came if w[0] == letter], _alias_deletes_keys)
        if old._vocab_by_len is not None:
            new._vocab_by_len = _retabled(old._vocab_by_len, terms_gone, terms_came, _vocab_by_len_keys)
        new.stories = _Stories(new._packed_stories)
        new.build_s = old.build_s  # what a full build costs, for Matcher._slow
        new.made_by = "update"
        log.debug("matcher index updated for %d stories in %.2f s", len(touched), time.perf_counter() - started)
        return new

    def owners(self, key: tuple[str, ...]) -> list[tuple[str, str, int]] | None:
        """(story id, entity id, the story's number of core entities or 0 if this one is not core) of the entities
        with this alias (a tuple of normalised words)."""
        k = " ".join(key)
        got = self._owners.get(k)
        if got is None:
            raw = self.aliases.get(k)
            if raw is None:
                return None
            got = []
            for x in raw.split(_RS):
                sid, eid, n = x.split(_US)
                got.append((sid, eid, int(n)))
            if len(self._owners) > 100_000:
                self._owners.clear()
            self._owners[k] = got
        return got

    def warm(self) -> None:
        """Build the typo-correction structures now (a background rebuild does, before the new index serves checks).

        Their values are tuples, not lists: tuples of strings leave the cyclic collector's lists after its first look
        at them, and 250k lists (at 100k stories) made every full collection after a rebuild cost 100-270 ms of held
        GIL, several times over.  The deletion table is built a first letter at a time (``alias_deletes_of``), so a
        check that needs a letter builds only that one (20-40 ms) and never waits for the others.

        Then everything the process holds is moved out of the cyclic collector's way (``gc.freeze``): the index lives
        until the next one replaces it, and a full collection that scanned its tables cost 35-55 ms in the middle of
        a check at 100k stories (6-11 ms once frozen).  A frozen object is still freed when its last reference goes:
        a replaced index holds no reference cycle (``test_a_replaced_index_is_freed_without_the_cyclic_collector``)."""
        for letter in sorted(self.alias_words_by_letter):
            self.alias_deletes_of(letter)
        self.vocab_by_len  # noqa: B018
        gc.freeze()

    def warm_in_background(self) -> None:
        """``warm`` in a daemon thread, once per index."""
        if not self.warming:
            self.warming = True
            threading.Thread(target=self.warm, name="matcher-index-warm", daemon=True).start()

    @property
    def vocab_by_len(self) -> dict[tuple[str, int], tuple[str, ...]]:
        if self._vocab_by_len is None:
            with self._warm_lock:
                if self._vocab_by_len is None:
                    self._vocab_by_len = _retabled({}, (), self.df.keys(), _vocab_by_len_keys)
        return self._vocab_by_len

    #: Entries per marshal record of a snapshot: written and read a record at a time, so a background save or load
    #: holds the GIL for milliseconds at a time, not for the whole index (50 ms on a quiet machine at 100k stories,
    #: 400 ms when the machine is busy and the saving thread is pre-empted while it holds the GIL).
    _SNAPSHOT_CHUNK = 10_000

    def _save(self, path: Path, key: tuple) -> None:
        # alias_words as a list: marshal writes a set of 36k words (at 100k stories) in 140 ms holding the GIL, a
        # list in a few; _load makes it a set again.  Each record is preceded by its length (4 bytes).
        parts = (self._packed_stories, self.aliases, self.alias_first, list(self.alias_words), self.df)
        n = self._SNAPSHOT_CHUNK
        chunked = []
        for part in parts:
            if isinstance(part, dict):
                items = list(part.items())
                chunked.append([dict(items[i : i + n]) for i in range(0, len(items), n)])
            else:
                chunked.append([part[i : i + n] for i in range(0, len(part), n)])
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                for record in [(key, self.n_docs, tuple(len(c) for c in chunked)), *(x for c in chunked for x in c)]:
                    blob = marshal.dumps(record)
                    fh.write(len(blob).to_bytes(4, "little"))
                    fh.write(blob)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)

    def save_snapshot(self, reader: CorpusReader) -> None:
        """Save this index as the snapshot beside the database (one made with ``snapshot=False``, saved once it
        serves), unless the corpus has changed since: a snapshot of an older state would never be loaded."""
        path = _snapshot_path(reader)
        if path and self._key is not None and self.version == reader.version():
            self._save(path, self._key)

    def _load(self, path: Path, key: tuple) -> bool:
        try:
            records = _snapshot_records(path.read_bytes())
            head = next(records)
            if not (isinstance(head, tuple) and len(head) == 3 and head[0] == key and len(head[2]) == 5):
                return False
            parts: list = []
            for i, count in enumerate(head[2]):
                whole: dict | list = {} if i != 3 else []
                for _ in range(count):
                    chunk = next(records)
                    if isinstance(whole, dict):
                        whole.update(chunk)
                    else:
                        whole += chunk
                parts.append(whole)
        except (OSError, EOFError, ValueError, TypeError, StopIteration):
            return False
        self._packed_stories, self.aliases, self.alias_first, alias_words, self.df = parts
        self.alias_words = set(alias_words)
        self.n_docs = head[1]
        return True

    # -- typo correction -----------------------------------------------------------------------------------------

    def glued_words(self, tag: str) -> tuple[str, ...]:
        """A hashtag of glued words the corpus knows apart, split: "fyrefestival" -> ("fyre", "festival"); () if the
        corpus knows the tag as one word, or cannot split it into two or three known words of 3 letters or more (no
        stop words).  Of several splits, the fewest parts, then the most frequent words (a unigram model of the
        corpus's document frequencies) win.  Failing that, one known word of GLUED_KNOWN_MIN letters or more and an
        unknown rest: "krystinamartelli" -> ("krystina", "martelli").  Cached per index."""
        found = self._glued.get(tag)
        if found is not None:
            return found
        df = self.df
        best: tuple[int, tuple[str, ...]] | None = None  # (product of the parts' document frequencies, parts)
        if GLUED_MIN <= len(tag) <= GLUED_MAX and stem(tag) not in df:
            def known(part: str) -> int:
                return df.get(stem(part), 0) if len(part) >= 3 and part not in STOP_WORDS else 0

            n = len(tag)
            for i in range(3, n - 2):
                if (f := known(tag[:i]) * known(tag[i:])) and (best is None or f > best[0]):
                    best = (f, (tag[:i], tag[i:]))
            if best is None and n >= 9:
                for i in range(3, n - 5):
                    if a := known(tag[:i]):
                        for j in range(i + 3, n - 2):
                            if (f := a * known(tag[i:j]) * known(tag[j:])) and (best is None or f > best[0]):
                                best = (f, (tag[:i], tag[i:j], tag[j:]))
            if best is None:
                # A name the corpus spells another way ("#krystinamartelli" for Kristyna Martelli): one known word of
                # 5 letters or more and an unknown rest of 4 or more, the longest known word first.
                for i in range(4, n - 3):
                    for known_part, rest in ((tag[:i], tag[i:]), (tag[i:], tag[:i])):
                        if (len(known_part) >= GLUED_KNOWN_MIN and len(rest) >= 4 and known(known_part)
                                and stem(rest) not in df and (best is None or len(known_part) > best[0])):
                            best = (len(known_part), (tag[:i], tag[i:]))
        found = best[1] if best else ()
        if len(self._glued) < 65_536:
            self._glued[tag] = found
        return found

    def alias_word_candidates(self, w: str) -> list[str]:
        """Every alias word one edit away from ``w`` (same first letter), sorted, through a deletion index: the word
        and its one-letter deletions against the alias words' own.  (One edit, not two for long words: two cost a
        scan per word and the auto-reply path reads every word of every message.)"""
        if len(w) < 4 or len(w) > MAX_ALIAS_TYPO_LEN or w in self.alias_words:
            return []
        dels, words_ = self.alias_deletes_of(w[0]), self.alias_words  # candidates share w's first letter
        found = set(dels.get(w, ()))
        for i in range(len(w)):
            v = w[:i] + w[i + 1 :]
            if v in words_:
                found.add(v)
            found.update(dels.get(v, ()))
        return sorted(c for c in found if c[0] == w[0] and Levenshtein.distance(w, c, score_cutoff=1) <= 1)

    @property
    def alias_words_by_letter(self) -> dict[str, list[str]]:
        if self._alias_words_by_letter is None:
            by: dict[str, list[str]] = defaultdict(list)
            for w in self.alias_words:
                by[w[0]].append(w)
            self._alias_words_by_letter = dict(by)
        return self._alias_words_by_letter

    def alias_deletes_of(self, letter: str) -> dict[str, tuple[str, ...]]:
        """One-letter deletions of the alias words of 4 to MAX_ALIAS_TYPO_LEN + 1 letters that start with ``letter``
        -> those words."""
        part = self._alias_deletes.get(letter)
        if part is None:
            # No lock: a check never waits while another thread builds another letter; two threads that build the
            # same one (20-40 ms) keep the first.
            part = _retabled({}, (), self.alias_words_by_letter.get(letter, ()), _alias_deletes_keys)
            part = self._alias_deletes.setdefault(letter, part)
        return part

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
        return self.idf_table[term]

    @property
    def idf_table(self) -> _IdfTable:
        """term -> IDF, filled on use (``table[term]`` or ``map(table.__getitem__, terms)``: no Python call per hit)."""
        t = self._idf_table
        if t is None or len(t) > 400_000:
            t = self._idf_table = _IdfTable(self.df, self.n_docs)
        return t

    def extent(self, story_id: str, cand: _Cand, title_terms: frozenset[str]) -> tuple[int, float]:
        """(distinct stems, their IDF mass) of a candidate story's title and lines, cached per story and text: the
        same candidates come back check after check, and the union of a story's dozen line sets was a quarter of the
        ranking features' time.  Two numbers per entry (keyed by the text's hash), so the cache stays a few MB."""
        key = (story_id, hash((cand.title, *cand.bodies)))
        got = self._extent.get(key)
        if got is None:
            terms = title_terms.union(*cand.terms) if cand.terms else title_terms
            got = (len(terms), sum(map(self.idf_table.__getitem__, terms)))
            if len(self._extent) >= 100_000:
                self._extent = {}
            self._extent[key] = got
        return got

    def mass(self, terms: frozenset[str]) -> float:
        """The IDF mass of a line's stems, cached per line (candidates' lines come back check after check)."""
        m = self._mass.get(terms)
        if m is None:
            if len(self._mass) > 200_000:
                self._mass = {}
            m = self._mass[terms] = sum(map(self.idf_table.__getitem__, terms))
        return m


def _vocab_by_len_keys(term: str) -> tuple[tuple[str, int], ...]:
    return ((term[0], len(term)),) if len(term) >= 4 and term.isalpha() else ()


def _alias_deletes_keys(word: str) -> list[str]:
    return [word[:i] + word[i + 1 :] for i in range(len(word))] if 4 <= len(word) <= MAX_ALIAS_TYPO_LEN + 1 else []


@contextmanager
def _no_cyclic_gc():
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _tabled(words_, keys_of) -> dict:
    built: dict = defaultdict(list)
    for w in words_:
        for k in keys_of(w):
            built[k].append(w)
    return {k: (ws[0],) if len(ws) == 1 else tuple(sorted(set(ws))) for k, ws in built.items()}


def _retabled(table: dict, gone, came, keys_of) -> dict:
    """``table`` (key -> sorted tuple of the words filed under it by ``keys_of``) without the words ``gone`` and with
    the words ``came`` (all of them, if ``table`` is empty): only their keys are touched; ``table`` itself is not
    changed.  Tuples, not lists: the cyclic collector stops scanning tuples of strings after its first look at them."""
    if not table:
        with _no_cyclic_gc():  # hundreds of thousands of new lists: the collector would rescan them again and again
            return _tabled(came, keys_of)
    if not gone and not came:
        return table
    changed: dict = {}
    for w in gone:
        for k in keys_of(w):
            changed.setdefault(k, set(table.get(k, ()))).discard(w)
    for w in came:
        for k in keys_of(w):
            changed.setdefault(k, set(table.get(k, ()))).add(w)
    out = dict(table)
    for k, ws in changed.items():
        if ws:
            out[k] = tuple(sorted(ws))
        else:
            out.pop(k, None)
    return out


class _IdfTable(dict):
    """IDF of the story-level index's terms, computed once per term and index (a dict, so hits cost no Python call)."""

    __slots__ = ("df", "n_docs")

    def __init__(self, df: dict[str, int], n_docs: int):
        super().__init__()
        self.df, self.n_docs = df, n_docs

    def __missing__(self, term: str) -> float:
        df = self.df.get(term, 0)
        v = self[term] = math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))
        return v


def _snapshot_path(reader: CorpusReader) -> Path | None:
    path = Path(reader.path)
    if str(path) in ("", ":memory:") or not path.parent.is_dir():
        return None
    return path.with_name(path.name + ".matcher-index")


def _snapshot_key(reader: CorpusReader, version: int) -> tuple:
    return (INDEX_FORMAT, version, *reader.index_fingerprint())


def _snapshot_records(data: bytes):
    """The records of a snapshot file's bytes, one at a time (each is its length in 4 bytes, then marshal data);
    ValueError if one is cut short."""
    view, pos = memoryview(data), 0
    while pos < len(view):
        size = int.from_bytes(view[pos : pos + 4], "little")
        if size <= 0 or pos + 4 + size > len(view):
            raise ValueError("truncated snapshot")
        pos += 4 + size
        yield marshal.loads(view[pos - size : pos])


#: The longest a child process may take to build an index snapshot (at 100k stories it takes ~5 s).
SNAPSHOT_CHILD_TIMEOUT_S = 300


def _snapshot_in_subprocess(reader: CorpusReader) -> bool:
    """Build the snapshot of the corpus's current state in a child process (``python -m bot.matching DB``): the
    build is CPU-bound Python, and in a thread it shares the GIL with every check for its whole length (10-14 s at
    100k stories, with checks stalling in its stretches); a child runs on another core.  False (and logged) when
    there is no snapshot file to write, or the child failed: the caller then builds in its own thread."""
    if _snapshot_path(reader) is None:
        return False
    try:
        # Run from the folder that holds this package, so that it imports the same code however the bot was started.
        subprocess.run([sys.executable, "-m", "bot.matching", str(Path(reader.path).resolve())], check=True,
                       capture_output=True, timeout=SNAPSHOT_CHILD_TIMEOUT_S, stdin=subprocess.DEVNULL,
                       cwd=Path(__file__).resolve().parent.parent)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        log.warning("building the matcher index in a child process failed (%s%s); building it in a thread", exc,
                    f": {detail.decode(errors='replace').strip().splitlines()[-1]}" if detail.strip() else "")
        return False
    return True


def _main(argv: list[str]) -> int:
    """``python -m bot.matching DB``: build (or find current) the matcher index snapshot of a corpus file."""
    if len(argv) != 1:
        print("usage: python -m bot.matching CORPUS_DB", file=sys.stderr)
        return 2
    reader = CorpusReader(argv[0])
    try:
        _Index(reader)
    finally:
        reader.close()
    return 0


@dataclass(slots=True)
class _Query:
    text: str  # normalised text used for fuzzy comparison
    words: list[str]
    stems: list[str]  # content stems (typo-corrected)
    entities: dict[str, dict[str, str]]  # story id -> {entity id: alias as found}
    corrections: dict[str, str]
    gated: list[str] = field(default_factory=list)  # stories naming enough of their core entities, most named first
    #: Stems of the message without a pasted post's signature (None: it has none, all stems are the message's own).
    body_stems: frozenset[str] | None = None
    #: How many times the message says each stem.
    qtf: dict[str, int] = field(default_factory=dict)
    #: The message's words without a pasted post's signature, in order (None: it has none; ``words`` are its own).
    body_words: list[str] | None = None
    #: The entity gate's verdict per story, decided once per message (_gated_out).
    gated_out: dict[str, bool] = field(default_factory=dict)
    #: Its index terms (Matcher._fts_terms), worked out once per message: each pass and the thorough test ask.
    fts_terms: list[str] | None = None


@dataclass(slots=True)
class _Cand:
    """A candidate story's text as the server sees it: title, lines (summary, claims, article titles) with stems.

    The lines are split and their stems parsed on first use: most candidates of a large corpus are stories with
    entities that fail the entity gate, and are never read further.
    """

    bm25: float = 0.0
    length: int = 0  # tokens of its index rows, as FTS5 counted them
    title: str = ""
    bodies: list[tuple[str, str]] = field(default_factory=list)  # (body, its stems) of each index row
    passages: list[str] = field(default_factory=list)
    _lines: list[str] | None = None
    _line_terms: list[frozenset[str]] | None = None

    def add(self, doc: StoryDoc) -> None:
        self.bm25 += doc.bm25
        self.length += doc.length
        if doc.title:
            self.title = doc.title
        if doc.body:
            self.bodies.append((doc.body, doc.terms))
            self._lines = self._line_terms = None

    def _parse(self) -> None:
        lines: list[str] = []
        terms: list[frozenset[str]] = []
        for body, stems in self.bodies:
            ls = body.split("\n")
            ts = stems.split("\n") if stems else []
            terms.extend(map(_split_terms, ts) if len(ts) == len(ls) else map(_terms, ls))
            lines.extend(ls)
        self._lines, self._line_terms = lines, terms

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._parse()
        return self._lines  # type: ignore[return-value]

    @property
    def terms(self) -> list[frozenset[str]]:
        if self._line_terms is None:
            self._parse()
        return self._line_terms  # type: ignore[return-value]


#: Character n-grams of a word padded with a space each side (" cat " -> " ca", "cat", "at "), for char_cos.
CHAR_GRAM = 3
#: char_cos reads a candidate's title and this many of its lines, those with the most IDF-weighted coverage of the
#: message (then the first): a verified claim's title, claim and summary all; of a long story the part a message is
#: about.  Counting grams is the costly part (~1,500 in a 10-claim story's lines, ~50 ns each).
CHAR_LINES = 3


@lru_cache(maxsize=131_072)
def _word_grams(word: str) -> tuple[str, ...]:
    w = f" {word} "
    return tuple(w[i : i + CHAR_GRAM] for i in range(len(w) - CHAR_GRAM + 1))


def _char_cosines(message_words: list[str], texts: list[str]) -> list[float]:
    """char_cos of each candidate: the TF-IDF cosine of the message's character 3-grams (taken inside words) and the
    candidate's (title and lines), with IDF over the candidate list (smoothed: log((1 + n) / (1 + df)) + 1).  It
    sees what stems miss: "migrants" / "immigrants", "photo" / "photograph", names spelt two ways."""
    n = len(texts)
    if not n:
        return []
    chain = itertools.chain.from_iterable
    docs = [Counter(chain(map(_word_grams, words(t)))) for t in texts]
    df = Counter(chain(docs))  # iterating a Counter gives its keys: each gram once per candidate
    idf = [math.log(1 + n) - math.log(1 + k) + 1 for k in range(n + 1)]  # by document frequency; [0]: none holds it
    idf2 = [x * x for x in idf]
    qw = {g: c * idf[df.get(g, 0)] for g, c in Counter(chain(map(_word_grams, message_words))).items()}
    q_norm = math.sqrt(sum(x * x for x in qw.values()))
    mul, q_keys = operator.mul, qw.keys()
    out = []
    for d in docs:
        shared = q_keys & d.keys()
        if not shared:
            out.append(0.0)
            continue
        dot = sum([qw[g] * d[g] * idf[df[g]] for g in shared])
        tfs = d.values()
        norm2 = sum(map(mul, map(mul, tfs, tfs), map(idf2.__getitem__, map(df.__getitem__, d))))
        out.append(dot / (q_norm * math.sqrt(norm2)))
    return out


def _gated_out(q: _Query, st: _Story) -> bool:
    """The entity gate: a story with core entities is a candidate only if the message names enough of them (two, or
    all of them when it has fewer).  Asked for the same story by the candidate read and the scoring: decided once."""
    out = q.gated_out.get(st.id)
    if out is None:
        out = q.gated_out[st.id] = bool(st.core) and len(set(q.entities.get(st.id, {})) & st.core) < min(len(st.core), 2)
    return out


@lru_cache(maxsize=65_536)
def _split_terms(line: str) -> frozenset[str]:
    return frozenset(line.split())


def _holds_stem(stems: str, term: str) -> bool:
    """Whether ``stems`` (stems separated by spaces and newlines) holds ``term`` whole: a few substring searches, where
    splitting a story row's ~200 stems into a set would cost more than the rest of the test."""
    n, i = len(stems), stems.find(term)
    while i >= 0:
        j = i + len(term)
        if (i == 0 or stems[i - 1] in " \n") and (j == n or stems[j] in " \n"):
            return True
        i = stems.find(term, j)  # (a match starting inside this one cannot start a stem)
    return False


def _any_can_show(q: _Query, docs: list[StoryDoc], visible: Callable[[str], bool]) -> bool:
    """Whether a thorough pass over these story-index rows (all it read) can show anything.  It shows only a story
    without entities whose title and lines hold THOROUGH_MIN_SHARED of the message's stems (``Hit.shared``), so when
    no story's rows together hold that many, the candidates need no scoring: the answer is none.  (Passages are read
    only when no row is visible, and a story with entities is never shown by the thorough pass: with every row
    visible, nothing else could be.)"""
    if not all(visible(d.story_id) for d in docs):
        return True  # (the pass as it was: not worth reasoning about)
    qstems = set(q.stems)
    held: dict[str, set[str]] = {}
    for d in docs:
        h = held.setdefault(d.story_id, set())
        # (the stems _Cand reads: a row's own, unless they are missing or do not line up with its lines)
        if d.terms and d.terms.count("\n") == d.body.count("\n"):
            h.update(t for t in qstems if t not in h and _holds_stem(d.terms, t))
        else:
            h |= qstems.intersection(content_terms(d.body))
        if d.title:
            h |= qstems & _terms(d.title)
        if len(h) >= THOROUGH_MIN_SHARED:
            return True
    return False


#: When the corpus changes and the current index took at least this long to build, or holds at least this many
#: story rows (loaded from a snapshot, its build time is unknown; a build takes ~0.1 s per 1,000 stories, 5.8 s at
#: 100k), the new one is built in the background while checks go on with the current one: every moderator edit would
#: otherwise pause every shard's checks that long.  Smaller corpora are re-indexed by the check that notices it.
BACKGROUND_REBUILD_S = 0.5
BACKGROUND_REBUILD_ROWS = 5_000


class Matcher:
    """Thread-safe; one per corpus file.  ``match`` is CPU-bound: call it from a worker thread in async code."""

    def __init__(self, reader: CorpusReader, *, candidates: int = 40, background_rebuild: bool | None = None):
        """``background_rebuild``: None decides by the index's size and build time (see BACKGROUND_REBUILD_S);
        True always rebuilds in the background after the first build, False never does."""
        self.reader = reader
        self.candidates = candidates
        self.background_rebuild = background_rebuild
        self._index: _Index | None = None
        self._lock = threading.Lock()
        self._rebuild_lock = threading.Lock()
        self._rebuilder: ThreadPoolExecutor | None = None  # one thread, so one reader connection, for every rebuild
        self._rebuild: Future[None] | None = None
        #: A background rebuild builds the new index (and its snapshot) in a child process, which the checks do not
        #: share the GIL with, then loads the snapshot; in a thread of this process if that fails.
        self.rebuild_in_subprocess = True

    @property
    def index(self) -> _Index:
        """The in-memory index of the current corpus version; while a slow rebuild runs in the background, the
        previous one (hits are then checked against the live database: a removed story is never reported, a hidden
        one never shown, and a story added seconds ago is found once the rebuild is done)."""
        idx = self._index
        if idx is not None and idx.version == self.reader.version():
            return idx
        if idx is not None and self._slow(idx):
            self._rebuild_in_background()
            return idx
        with self._lock:
            idx = self._index
            if idx is None or idx.version != self.reader.version():
                # A small corpus: the check that notices the change updates the index (from the change log) or
                # builds it, in a fraction of a second.
                idx = self._index = self._next_index(idx, child=False)
        return idx

    def _next_index(self, current: _Index | None, *, child: bool, snapshot: bool = True) -> _Index:
        """The index of the corpus's current state: ``current`` updated from the change log, or else built in full
        (``child``: by a child process, whose snapshot is then loaded, if the corpus has not changed again since).
        ``snapshot=False``: an update does not save its snapshot (the caller does, once the index serves)."""
        idx = _Index.updated(current, self.reader, snapshot=snapshot) if current is not None else None
        if idx is None:
            if child:
                _snapshot_in_subprocess(self.reader)
            idx = _Index(self.reader)
        return idx

    def _slow(self, idx: _Index) -> bool:
        if self.background_rebuild is not None:
            return self.background_rebuild
        return idx.build_s >= BACKGROUND_REBUILD_S or idx.n_docs >= BACKGROUND_REBUILD_ROWS

    def _rebuild_in_background(self) -> None:
        with self._rebuild_lock:
            if self._rebuild is not None and not self._rebuild.done():
                return  # one at a time; a change made meanwhile is picked up by the next check after it
            if self._rebuilder is None:
                self._rebuilder = ThreadPoolExecutor(1, thread_name_prefix="matcher-index")
            self._rebuild = self._rebuilder.submit(self._rebuild_now)

    def _rebuild_now(self) -> None:
        try:
            current = self._index
            if current is not None and current.version == self.reader.version():
                # A check that read the previous index just before the last rebuild replaced it asked for this one.
                return
            # An update's snapshot is saved after it serves (0.2 s at 100k stories that the new story need not wait).
            idx = self._next_index(current, child=self.rebuild_in_subprocess, snapshot=False)
            # Ready before it serves: otherwise the first checks on it that meet an unknown word would wait for the
            # typo-correction structures (1.7 s at 100k stories, sharing the CPU with the checks).
            idx.warming = True
            idx.warm()
        except Exception:  # e.g. the database is being restored: the next check tries again
            log.exception("rebuilding the matcher index failed; checks go on with the previous one")
            return
        with self._lock:
            if self._index is None or idx.version >= self._index.version:
                self._index = idx
        if idx.made_by == "update":
            try:
                idx.save_snapshot(self.reader)
            except Exception:  # a snapshot only saves the next start some seconds
                log.exception("saving the matcher index snapshot failed")

    def wait_for_index(self) -> _Index:
        """The index of the current corpus version, after any background rebuild (CLI, tests, benchmarks)."""
        fut = self._rebuild
        if fut is not None:
            fut.result()
        with self._lock:
            if self._index is None or self._index.version != self.reader.version():
                self._index = _Index(self.reader)
            return self._index

    # -- query analysis -------------------------------------------------------------------------------------------

    @staticmethod
    def _read(text: str, idx: _Index, term_visible=None) -> str:
        """Hashtags of glued words split by the corpus's vocabulary ("#fyrefestival" -> "fyre festival"); a split
        into a word the server may not see is not made."""

        def unglue(m: re.Match[str]) -> str:
            parts = split_hashtag(m.group(1))
            if len(parts) == 1 and parts[0].isalpha():
                glued = idx.glued_words(parts[0])
                # Every known part must be one the server may see (an unknown rest tells nothing).
                if glued and (term_visible is None
                              or all(term_visible(stem(w)) for w in glued if stem(w) in idx.df)):
                    return " " + " ".join(glued) + " "
            return m.group(0)

        return _TAG_RE.sub(unglue, text) if "#" in text else text

    def _analyse(
        self, text: str, idx: _Index, visible=None, term_visible=None, body: str | None = None
    ) -> _Query:
        """``visible(story_id)`` and ``term_visible(term)`` keep typo corrections to what the server may see: a
        correction towards another server's private word would show that word in ``why`` and steer the query.
        ``body``: the text without a pasted post's signature, if it had one (see _SIGNATURE_RE)."""
        text = self._read(text, idx, term_visible)
        ws = words(text)[:MAX_QUERY_WORDS]
        corrections: dict[str, str] = {}
        # Entities: longest alias first (left to right), exact, inflected (prefix + up to 3 letters) or one typo away.
        found: dict[str, dict[str, str]] = {}
        core_named: dict[str, set[str]] = {}
        core_total: dict[str, int] = {}
        owners_of, longest = idx.owners, idx.alias_first
        seen: set[tuple[str, ...]] = set()  # aliases already counted (a name said again adds nothing)
        df, n_ws, aliases = idx.df, len(ws), idx.aliases
        # Only words that start an alias, or that the corpus does not know (a misspelt or inflected name?), can name
        # an entity ("fenjador" is not "fenja": a word the corpus knows is neither); each distinct word is judged once.
        def unknown(word: str) -> bool:
            return len(word) >= 4 and word not in STOP_WORDS and stem(word) not in df

        maybe = {w for w in set(ws) if w in longest or unknown(w)}

        def shown(owners):
            return [o for o in owners if visible(o[0])] if owners and visible is not None else owners

        found_get, core_get = found.get, core_named.get

        def name(key: tuple[str, ...], owners) -> None:
            # (A long paste names ~15 aliases of ~40 owners each at 1M claims: this loop is kept to a few lookups.)
            if key not in seen:
                seen.add(key)
                alias = " ".join(key)
                for story_id, entity_id, n_core in owners:
                    named_here = found_get(story_id)
                    if named_here is None:
                        found[story_id] = {entity_id: alias}
                    elif entity_id not in named_here:
                        named_here[entity_id] = alias
                    if n_core:
                        core = core_get(story_id)
                        if core is None:
                            core_named[story_id] = {entity_id}
                        else:
                            core.add(entity_id)
                        core_total[story_id] = n_core

        def last_word_typo(key: tuple[str, ...]):
            """A typo in the last word of a longer name ("riyor rigaryr" for Riyor Rigaryor): (key, owners)."""
            for fixed in idx.alias_word_candidates(key[-1]):
                owners = shown(owners_of((*key[:-1], fixed)))
                if owners:
                    corrections[key[-1]] = fixed
                    return (*key[:-1], fixed), owners
            return key, None

        # Misspelt names one edit from several names: decided after the exact ones (below).
        ambiguous: list[tuple[str, list[tuple[str, list]]]] = []
        resume = 0
        for i, w in enumerate(ws):
            if i < resume or w not in maybe:
                continue
            longest_n = longest.get(w)
            owners, n, key = None, 1, (w,)
            if longest_n:
                for n in range(min(longest_n, n_ws - i), 0, -1):
                    key = tuple(ws[i : i + n])
                    owners = owners_of(key)
                    if not owners and n >= 2 and unknown(key[-1]):
                        key, owners = last_word_typo(key)
                    if owners:
                        break
                else:
                    n, key = 1, (w,)
            if not owners and unknown(w):
                fixed = None
                if len(w) >= 6:
                    for cut in (1, 2, 3):
                        if w[:-cut] in aliases and len(w) - cut >= 5:
                            fixed = w[:-cut]
                            break
                if fixed is not None:
                    owners = shown(owners_of((fixed,)))
                    if owners:
                        corrections[w] = fixed
                else:
                    options = [(c, o) for c in idx.alias_word_candidates(w) if (o := shown(owners_of((c,))))]
                    if len(options) == 1:
                        corrections[w], owners = options[0]
                    elif options:
                        ambiguous.append((w, options))
                        continue
            if not owners:
                if longest_n is None:
                    maybe.discard(w)  # names nothing, wherever it is
                continue
            name(key, owners)
            resume = i + n
        for w, options in ambiguous:
            # The name whose story the message names otherwise, else the first in order (as one edit always did).
            fixed, owners = next(((c, o) for c, o in options if any(x[0] in found for x in o)), options[0])
            corrections[w] = fixed
            name((fixed,), owners)
        stems: list[str] = []
        content = [w for w in ws if w not in STOP_WORDS and (len(w) > 1 or w.isdigit())]
        # Typo correction reads short messages that name a story's entities ("rusia afganistan militry deal"); in a
        # long paste or in chatter the words the index does not know are mostly real words it has no use for, and
        # "correcting" them adds wrong ones (and costs the most of any step on the auto-reply path).
        correct = len(content) <= MAX_CORRECTED_WORDS and bool(found)
        body_wl = words(self._read(body, idx, term_visible))[:MAX_QUERY_WORDS] if body is not None else None
        body_ws = set(body_wl) if body_wl is not None else None
        body_stems: set[str] = set()
        for w in content:
            said = body_ws is not None and w in body_ws
            w = corrections.get(w, w)
            s = stem(w)
            if correct and s not in idx.df:
                fixed = idx.correct_term(s)
                if fixed and term_visible is not None and not term_visible(fixed):
                    fixed = None
                if fixed:
                    corrections[w] = fixed
                    s = fixed
            stems.append(s)
            if said:
                body_stems.add(s)
        norm = " ".join(corrections.get(w, w) for w in ws if w not in STOP_WORDS)
        # Stories that pass the entity gate: enough of their core entities named (see _judge).
        named = sorted([(-len(c), sid) for sid, c in core_named.items() if len(c) >= 2 or len(c) >= core_total[sid]])
        return _Query(norm, ws, list(dict.fromkeys(stems)), dict(found), corrections, [sid for _n, sid in named],
                      frozenset(body_stems) if body_ws is not None else None, Counter(stems), body_wl)

    def _fts_terms(self, q: _Query, idx: _Index) -> list[str]:
        """The message's index terms, rarest first; very common terms add cost and no discrimination."""
        if q.fts_terms is None:
            q.fts_terms = self._work_out_fts_terms(q, idx)
        return q.fts_terms

    @staticmethod
    def _work_out_fts_terms(q: _Query, idx: _Index) -> list[str]:
        df = idx.df
        ranked = sorted([(n, s) for s in q.stems if (n := df.get(s)) is not None and s.replace("'", "").isalnum()])
        cap = min(MAX_DF_SHARE * idx.n_docs, max(MAX_DF_STORIES, MAX_DF_SHARE_LARGE * idx.n_docs))
        long = len(q.stems) > LONG_QUERY_STEMS and idx.n_docs > LARGE_CORPUS
        keep = [t for i, (n, t) in enumerate(ranked) if i < MIN_FTS_TERMS or n <= cap]
        return keep[: LONG_FTS_TERMS if long else MAX_FTS_TERMS]

    @staticmethod
    def _distinctive(idx: _Index, terms: list[str], limit: int | None = STRICT_TERMS) -> list[str]:
        """The distinctive ones of a message's index terms (rarest first): held by at most 1% of the stories (or 20)."""
        cap = max(STRICT_MAX_DF_SHARE * idx.n_docs, STRICT_MIN_DF)
        return [t for t in terms if idx.df[t] <= cap][:limit]

    @staticmethod
    def _thorough_expression(terms: list[str], rare: list[str]) -> str:
        """Rows holding two of ``terms`` of which one is in ``rare`` (a subset), or three of the others."""
        other = [t for t in terms if t not in rare]
        parts = [p for p in (Matcher._pairs_expression(rare), Matcher._at_least(other, 3)) if p]
        if rare and other:
            parts.append(f"({Matcher._expression(rare)}) AND ({Matcher._expression(other)})")
        return " OR ".join(f"({p})" for p in parts)

    @staticmethod
    def _at_least(terms: list[str], k: int) -> str:
        """Rows holding at least ``k`` (>= 1) of ``terms``: i of the first half and k - i of the second, for each i."""
        if len(terms) < k:
            return ""
        if k == 1:
            return Matcher._expression(terms)
        if len(terms) == k:
            return " AND ".join(f'"{fts_word(t)}"' for t in terms)
        h = len(terms) // 2
        a, b = terms[:h], terms[h:]
        parts = []
        for i in range(k + 1):
            left, right = Matcher._at_least(a, i) if i else None, Matcher._at_least(b, k - i) if i < k else None
            if left != "" and right != "":
                parts.append(" AND ".join(f"({x})" for x in (left, right) if x is not None))
        return " OR ".join(f"({p})" for p in parts)

    @staticmethod
    def _expression(terms: list[str]) -> str:
        return " OR ".join(f'"{fts_word(t)}"' for t in terms)

    @staticmethod
    def _pairs_expression(terms: list[str]) -> str:
        """Rows holding at least two of ``terms``, split in halves A and B: two of A, or two of B, or one of each.

        The same rows as (a AND (b OR c ...)) OR (b AND (c OR ...)) ..., with k log k phrases instead of k^2 / 2: FTS5
        reads a posting list per phrase, and bm25() counts each phrase's documents once more (most of the query's
        time).  Each term appears about as often as any other, so bm25() ranks as an OR of the terms would.
        """
        return Matcher._at_least(terms, 2)

    # -- matching -------------------------------------------------------------------------------------------------

    def _visible(self, idx: _Index, guild_id: int | None) -> Callable[[str], bool]:
        """Whether a story may be shown on this server: global or its own, and not hidden there."""
        hidden = self.reader.hidden_stories(guild_id)
        visible_guilds = (0, int(guild_id or 0))

        def visible(story_id: str) -> bool:
            s = idx.stories.get(story_id)
            return s is not None and s.guild_id in visible_guilds and story_id not in hidden

        return visible

    def match(
        self,
        text: str,
        guild_id: int | None = None,
        *,
        top: int = 3,
        threshold: float = DEFAULT_THRESHOLD,
        extra_text: str = "",
        thorough: bool | Callable[[], bool] = False,
    ) -> MatchResult:
        """Ranked stories for ``text`` (plus ``extra_text``, e.g. link previews) at or above ``threshold``.

        Above PLAIN_GATED_MAX the quick pass scores only the stories that share two distinctive terms with the text
        (what keeps chatter cheap).  ``thorough`` (/check, the "Check claim" menu, ``crosscheck check``: a member
        asked; and auto-replies within bot.service.AUTOREPLY_THOROUGH_RATE messages a second): when that pass finds
        nothing and the text holds a distinctive term, the stories holding two of its index terms (one distinctive)
        or three are scored as ranking does, and those at the threshold that share THOROUGH_MIN_SHARED of the
        message's stems are shown (everyday words alone are generic overlap, which never matches: they skip it).
        On CheckThat! 2020 dev that answers 47% of the tweets instead of 40%, about as precisely (89 of 92 answers
        right, against 77 of 78).  ``thorough`` may be a callable (an auto-reply's budget,
        ``bot.service.Budget.asker``), asked only when that pass would run: a message the quick pass answers, or that
        holds no distinctive term, spends nothing."""
        truncated = len(text) > MAX_QUERY_CHARS
        text = text[:MAX_QUERY_CHARS]
        extra_text = extra_text[:MAX_QUERY_CHARS]
        idx = self.index
        visible = self._visible(idx, guild_id)

        links = self._links(text, guild_id)
        hits: dict[str, Hit] = {}
        for link in links:
            if link.story_id and visible(link.story_id) and link.story_id not in hits:
                hits[link.story_id] = Hit(
                    link.story_id, 100.0, Confidence.high, link.url, [f"link: the article {link.article_id}"], link.article_id
                )
        extra_text = prepare_text(extra_text)
        slug_text = " ".join(slug_words(link.url) for link in links if not link.story_id)
        body, full, said = _query_texts(text, slug_text, extra_text)
        q = self._analyse(full, idx, visible, lambda term: self.reader.term_visible(term, guild_id), said)
        if q.stems or q.entities:
            strict = threshold > PLAIN_GATED_MAX
            scored = self._score(q, idx, guild_id, visible, strict=strict)
            if (thorough and strict and not hits and not any(h.score >= threshold for h in scored)
                    and self._distinctive(idx, self._fts_terms(q, idx))
                    and (thorough() if callable(thorough) else True)):  # (an auto-reply's budget: asked only now)
                # Only stories without entities can be missed by the quick pass (a story with entities is found by
                # its names), and of those only one that shares THOROUGH_MIN_SHARED of the message's stems: two
                # (one rare name, one everyday word: "see you guys at the meeting") is a coincidence.
                scored = [h for h in self._score(q, idx, guild_id, visible, thorough=True)
                          if h.shared >= THOROUGH_MIN_SHARED]
            for hit in scored:
                if hit.story_id not in hits and hit.score >= threshold:
                    hits[hit.story_id] = hit
        ranked = sorted(hits.values(), key=lambda h: (-h.sort_key, h.story_id))
        if len(ranked) > 1 and len(words(body)) >= PASSAGE_MIN_WORDS:
            self._prefer_quoted(body, ranked, guild_id)
        ranked = ranked[:top]
        # The typo-correction structures: built off the check path, after the first check (not competing with it).
        idx.warm_in_background()
        return MatchResult(text, ranked, links, truncated)

    def _prefer_quoted(self, body: str, ranked: list[Hit], guild_id: int | None) -> None:
        """Among near-tied best hits of a long paste, put first the story whose article the paste quotes (in place)."""
        tied = [h for h in ranked[:QUOTE_STORIES] if ranked[0].sort_key - h.sort_key < QUOTE_TIE and h.article_id is None]
        if len(tied) < 2 or ranked[0] not in tied:
            return
        # Runs of words as written (lower case, split at white space): a quote is copied, not paraphrased.
        def windows(ws: list[str]):  # each run of QUOTE_WORDS words, as a tuple (built by zip, in C)
            return zip(*(ws[i:] for i in range(QUOTE_WORDS)))

        runs = set(windows(body.lower().split()))
        counts: dict[str, tuple[int, str]] = {}
        for story_id, arts in self.reader.article_texts([h.story_id for h in tied], guild_id).items():
            best = (0, "")
            for article_id, text in arts:
                n = sum(map(runs.__contains__, windows(text.lower().split())))
                best = max(best, (n, article_id))
            counts[story_id] = best
        order = sorted(counts.items(), key=lambda kv: -kv[1][0])
        (winner, (n, article_id)), runner_up = order[0], (order[1][1][0] if len(order) > 1 else 0)
        if n < QUOTE_MIN_RUNS or n <= runner_up:
            return
        hit = next(h for h in ranked if h.story_id == winner)
        hit.why.append(f"quotes its article {article_id}")
        if hit is not ranked[0]:
            top = ranked[0]
            hit.rank = top.sort_key + 0.01
            hit.score = max(hit.score, top.score)
            hit.confidence = confidence_for(hit.score)
            ranked.remove(hit)
            ranked.insert(0, hit)

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

    def _candidates(self, q: _Query, idx: _Index, guild_id: int | None, visible, strict: bool = False,
                    thorough: bool = False) -> dict[str, _Cand]:
        cands: dict[str, _Cand] = {}

        def needs_text(story_id: str) -> bool:
            st = idx.stories.get(story_id)
            return st is None or not _gated_out(q, st)

        # Candidates from the story-level full-text index, with their text...
        terms = self._fts_terms(q, idx)
        if strict:
            # Above PLAIN_GATED_MAX only a story that shares two words or more can show (the plain gate; a story with
            # entities is found by its names), and generic overlap is never enough: ask the index for stories that
            # hold two of the message's distinctive terms.  Chatter made of everyday words asks nothing at all.
            rare = self._distinctive(idx, terms)
            expr = self._pairs_expression(rare) if len(rare) >= 2 else ""
            bm25_terms, unranked_max = rare, STRICT_UNRANKED_MAX
        elif thorough:
            # A thorough check after a quick pass that found nothing: only a story holding THOROUGH_MIN_SHARED of the
            # message's stems may show, so ask for those holding two of its index terms, one of them distinctive, or
            # three of the others ("60% of arrested anti-Trump protesters didn't vote": anti, protest, vote).  Two
            # everyday words ("good game last night") then ask nothing, and no term's posting list is counted for
            # bm25() unless too many stories match.
            rare = self._distinctive(idx, terms, None)
            expr = self._thorough_expression(terms, rare)
            bm25_terms, unranked_max = terms, THOROUGH_UNRANKED_MAX
        else:
            rare = []
            expr = self._expression(terms)
        if expr:
            docs = None
            if strict or thorough:
                # Few stories hold two distinctive terms (a handful, usually): read them unranked and score them here,
                # which skips the costliest part of FTS5's bm25() (counting every phrase's rows once more).
                docs = self.reader.story_matches(expr, guild_id, unranked_max)
                if thorough and docs and not _any_can_show(q, docs, visible):
                    return {}
                if docs is not None:
                    for doc in docs:
                        doc.bm25 = self._bm25(bm25_terms, doc, idx)
                    docs.sort(key=lambda d: (-d.bm25, d.story_id))
                    docs = docs[: self.candidates]
            if docs is None:
                # The text of a story with entities that fails the entity gate is never read (at 1k-100k stories,
                # most of the candidates of a short message).  Too many stories for a thorough pass to read: the best
                # by bm25() of its terms, as ranking has them.
                docs = self.reader.story_candidates(self._expression(terms) if thorough else expr, guild_id,
                                                    self.candidates, (TITLE_WEIGHT, 1.0), needs_text)
            for doc in docs:
                if visible(doc.story_id):
                    cands.setdefault(doc.story_id, _Cand()).add(doc)
        # ...article passages for long pastes, when the story index ran out of stories: it found fewer than it was
        # asked for (thresholded: found nothing, and then passages holding two distinctive terms).  With a full list
        # of stories, passages (the costliest query: the line index is ten times the story index) changed no ranking.
        gated = strict or thorough
        if len(q.stems) >= PASSAGE_MIN_WORDS and terms and not (cands if gated else len(cands) >= self.candidates):
            # Single-token terms only: the passage index keeps no positions (detail=none), so no phrases.
            p_rare = [t for t in rare if t.isalnum()]
            if strict:
                p_expr = self._pairs_expression(p_rare) if len(p_rare) >= 2 else ""
            elif thorough:
                p_expr = self._thorough_expression([t for t in terms if t.isalnum()], p_rare)
            else:
                p_expr = self._expression([t for t in terms if t.isalnum()][:PASSAGE_TERMS])
            # Thresholded, the few passages that hold two distinctive terms are read unranked (all of them are kept).
            found = self.reader.passage_matches(p_expr, guild_id, PASSAGE_LIMIT) if gated else None
            if found is None:
                found = self.reader.passage_candidates(p_expr, guild_id, PASSAGE_LIMIT)
            for c in found:
                if visible(c.story_id):
                    cands.setdefault(c.story_id, _Cand()).passages.append(c.text)
        # ...and stories whose core entities the text names.
        n = 0
        for s in q.gated:
            if visible(s):
                cands.setdefault(s, _Cand())
                n += 1
                if n == MAX_ENTITY_CANDIDATES:
                    break
        missing = [s for s, c in cands.items() if not c.title and not c.bodies and needs_text(s)]
        for doc in self.reader.story_docs(missing, guild_id):
            doc.bm25 = 0.0
            cands[doc.story_id].add(doc)
        return cands

    def _fts_totals(self, idx: _Index) -> tuple[int, int]:
        """(rows, tokens) of the story-level index as FTS5's bm25() reads them, read once per index."""
        if idx.fts_totals is None:
            idx.fts_totals = self.reader.story_index_totals()
        return idx.fts_totals

    def _bm25(self, terms: list[str], doc: StoryDoc, idx: _Index) -> float:
        """FTS5's bm25() of ``doc`` for the OR of ``terms`` (title weight TITLE_WEIGHT, body 1), computed here from
        the row's stems: the same IDF (from the index's document frequencies), k1, b and average row length."""
        n_rows, n_tokens = self._fts_totals(idx)
        if not n_rows:
            return 0.0
        # Only the terms the row holds are counted (a row has ~170 stems, of which a message's terms are a few).
        body = doc.terms.split() if doc.terms else content_terms(doc.body)
        title = _term_list(doc.title) if doc.title else ()
        norm = BM25_K1 * (1 - BM25_B + BM25_B * doc.length / (n_tokens / n_rows))
        score = 0.0
        asked = set(terms)
        held = asked.intersection(body)
        held.update(asked.intersection(title))
        for t in sorted(held):  # (in one order always: a float sum's last digit depends on it)
            f = TITLE_WEIGHT * title.count(t) + body.count(t)
            n = idx.df.get(t, 0)
            idf = max(math.log((n_rows - n + 0.5) / (n + 0.5)), 1e-6)
            score += idf * f * (BM25_K1 + 1) / (f + norm)
        return score

    def plain_features(self, text: str, guild_id: int | None = None) -> list[tuple[str, list[float]]]:
        """(story id, PLAIN_FEATURES) of the candidate stories without entities, exactly as ``match`` computes them.

        For fitting the ranking model (benchmarks/tune_checkthat.py); not used on the hot path.
        """
        idx = self.index
        visible = self._visible(idx, guild_id)

        text = text[:MAX_QUERY_CHARS]
        _body, full, said = _query_texts(text)
        q = self._analyse(full, idx, body=said)
        plain = {s: c for s, c in self._candidates(q, idx, guild_id, visible).items() if not idx.stories[s].core}
        return [(sid, feats) for sid, feats, _t, _s in self._plain_features(q, plain, idx, all_features=True)]

    def _score(self, q: _Query, idx: _Index, guild_id: int | None, visible, strict: bool = False,
               thorough: bool = False) -> list[Hit]:
        cands = self._candidates(q, idx, guild_id, visible, strict, thorough)
        if not cands:
            return []
        qstems = set(q.stems)
        plain: dict[str, _Cand] = {}
        judged: dict[str, Hit] = {}
        max_bm25 = max((c.bm25 for c in cands.values()), default=0.0) or 1.0
        for story_id, cand in cands.items():
            st = idx.stories[story_id]
            if not st.core:
                plain[story_id] = cand
                continue
            # Gate first: a story with core entities needs enough of them named; the rest is not worth scoring.
            if _gated_out(q, st):
                continue
            # The closest row (title, lines, then passages at 0.85): one extractOne per kind reads the query once.
            best_text, lexical, close = "", 0.0, 0.0
            for rows, factor in (([cand.title, *cand.lines], 1.0), (cand.passages, 0.85)):
                rows = [t for t in rows if t]
                if not rows:
                    continue
                _tn, r, i = process.extractOne(q.text, [_normalized(t) for t in rows], scorer=fuzz.token_set_ratio,
                                               processor=None)
                if r * factor > lexical:
                    lexical, best_text = r * factor, rows[i]
            if best_text:
                close = fuzz.token_sort_ratio(q.text, _normalized(best_text), processor=None)
            hit = self._judge(q, st, qstems, lexical, close, cand.bm25 / max_bm25, best_text)
            if hit:
                judged[story_id] = hit
        if not plain and not judged:
            return []
        # The lexical model ranks every story that can still match: plain ones by it alone; a story that passed the
        # entity gate keeps the better of its entity score and the model's, so a close paraphrase of it outranks a
        # story that only shares its names.
        pool = {**plain, **{s: cands[s] for s in judged}}
        hits = list(judged.values())
        for story_id, raw, feats, best_text, shared in self._model_scores(q, pool, idx):
            if story_id in judged:
                hit = judged[story_id]
                if raw > hit.score:
                    hit.rank = raw
                    hit.score = round(min(99.0, raw), 1)
                    hit.confidence = confidence_for(hit.score)
                continue
            hits.append(self._plain_hit(q, story_id, raw, feats, best_text, shared))
        return hits

    def _plain_features(
        self, q: _Query, plain: dict[str, _Cand], idx: _Index, all_features: bool = False
    ) -> list[tuple[str, list[float], str, list[str]]]:
        """(story id, PLAIN_FEATURES, closest text, shared stems) for candidate stories without entities.

        ``fuzz`` is computed only if its weight is not 0, or ``all_features`` (fitting): a partial ratio grows faster
        than the product of the two lengths, and a long paste against a closest text of 500-800 characters (an
        article's paragraph) took 5-24 ms per candidate, for a feature the fitted model gives no weight (0 in its
        place, which the score multiplies by 0)."""
        need_fuzz = all_features or PLAIN_WEIGHTS[_FUZZ] != 0
        qstems = set(q.stems)
        if not qstems or not plain:
            return []
        idf = idx.idf_table
        qidf = {t: idf[t] for t in qstems}
        qget, mass = qidf.__getitem__, idx.mass
        q_idf = sum(qidf.values()) or 1.0
        rare = sorted(qidf, key=lambda t: (-qidf[t], t))[:RARE_STEMS]
        rare_idf = sum(qidf[t] for t in rare) or 1.0
        said = q.body_stems
        said_idf = (sum(map(qget, said)) or 1.0) if said is not None else q_idf
        ranked = sorted(plain.items(), key=lambda x: (-x[1].bm25, x[0]))
        best_bm25 = ranked[0][1].bm25 or 1.0
        # The message's stems weighted by IDF and by how often the message says them (BM25's query-term saturation,
        # k3 = 8), for bm25_qtf: BM25 over every stem of the message, not only the rare ones the candidates were
        # found with.
        qtf = q.qtf
        qw = {t: qidf[t] * (QTF_K3 + 1) * qtf.get(t, 1) / (QTF_K3 + qtf.get(t, 1)) for t in qstems}
        qw_bound = (BM25_K1 + 1) * sum(qw.values()) or 1.0
        n_rows, n_tokens = self._fts_totals(idx)
        avg_len = n_tokens / n_rows if n_rows else 1.0
        part = []
        for rank, (story_id, cand) in enumerate(ranked):
            title_terms = _terms(cand.title) if cand.title else frozenset()
            n_terms, d_idf = idx.extent(story_id, cand, title_terms)
            d_idf = d_idf or 1.0
            in_title = title_terms & qstems
            cov_title = (sum(map(qget, in_title)) / (mass(title_terms) or 1.0)) if title_terms else 0.0
            shared = set(in_title)  # the message's stems the title or a line holds
            cov_claim, best_text, fz = 0.0, "", 0.0
            n_lines = len(cand.lines)
            line_cov = [0.0] * n_lines
            for i, (t, terms) in enumerate(zip(cand.lines + cand.passages, cand.terms + [_terms(p) for p in cand.passages])):
                hit = terms & qstems
                if not hit:
                    continue
                cov = sum(map(qget, hit)) / (mass(terms) or 1.0)
                if i >= n_lines:
                    cov *= 0.85
                else:
                    shared |= hit
                    line_cov[i] = cov
                if cov > cov_claim + 1e-12:  # a tie (sums over sets differ in the last bits) goes to the first line
                    cov_claim, best_text = cov, t
            shared_idf = sum(map(qget, shared))
            if not best_text:
                best_text = cand.title
            if best_text and need_fuzz:
                tn = _normalized(best_text)
                fz = (fuzz.partial_ratio(tn, q.text, processor=None) if len(tn) < len(q.text)
                      else fuzz.ratio(tn, q.text, processor=None)) / 100
            # bm25_qtf: the story's counts of the stems it shares with the message (title weighted as in the index).
            tf: Counter[str] = Counter()
            for body, stems in cand.bodies:
                tf.update(stems.split() if stems else content_terms(body))  # counted in C, looked up for `shared` only
            title_list = _term_list(cand.title) if in_title else ()
            norm = BM25_K1 * (1 - BM25_B + BM25_B * cand.length / avg_len)
            bm25_qtf = 0.0
            for t in shared:
                f = tf[t] + TITLE_WEIGHT * title_list.count(t)
                bm25_qtf += qw[t] * f * (BM25_K1 + 1) / (f + norm)
            bm25_qtf /= qw_bound
            feats = [cand.bm25 / (q_idf * (BM25_K1 + 1)), cand.bm25 / best_bm25, 1 / (1 + rank), shared_idf / q_idf,
                     shared_idf / d_idf, cov_claim, cov_title, fz, math.log1p(n_terms),
                     shared_idf / q_idf * cov_title, sum(qidf[t] for t in rare if t in shared) / rare_idf,
                     (sum(map(qget, shared & said)) if said is not None else shared_idf) / said_idf]
            # char_cos reads the title and the CHAR_LINES lines closest to the message (all of a short story's).
            lines = cand.lines if n_lines <= CHAR_LINES else [
                cand.lines[i] for i in sorted(range(n_lines), key=lambda i: (-line_cov[i], i))[:CHAR_LINES]]
            char_text = " ".join([cand.title, *lines]) if cand.title else " ".join(lines)  # printable: words' fast path
            part.append((story_id, feats, best_text, shared, in_title, bm25_qtf, cov_claim, char_text))
        # Features relative to this list of candidates: a stem most of them share tells them apart poorly (its weight
        # is its IDF x log(1 + candidates / candidates holding it)), and the best claim coverage among them.
        held = Counter(t for row in part for t in row[3])
        n = len(part)
        own = said if said is not None else qstems  # the message's own words, without a pasted post's signature
        local = {t: qidf[t] * math.log(1 + n / k) for t, k in held.items() if t in own}
        local_mass = sum(local.values()) or 1.0
        best_claim = max(row[6] for row in part) or 1.0
        # char_cos: the message's own words (without a pasted post's signature) against each candidate's title and
        # closest lines.
        grams = _char_cosines(q.body_words if q.body_words is not None else q.words, [row[7] for row in part])
        out = []
        for (story_id, feats, best_text, shared, in_title, bm25_qtf, cov_claim, _text), char in zip(part, grams):
            feats += [sum(local.get(t, 0.0) for t in in_title) / local_mass, bm25_qtf, cov_claim / best_claim, char]
            out.append((story_id, feats, best_text, sorted(shared, key=lambda t: (-qidf[t], t))))
        return out

    def _model_scores(self, q: _Query, pool: dict[str, _Cand], idx: _Index):
        """(story id, model score 0..100 unrounded, features, closest text, shared stems) for ``pool``."""
        for story_id, feats, best_text, shared in self._plain_features(q, pool, idx):
            z = sum(w * (f - m) / s for w, f, m, s in zip(PLAIN_WEIGHTS, feats, PLAIN_MEAN, PLAIN_SCALE))
            yield story_id, 100 / (1 + math.exp(-(PLAIN_CAL_A * z + PLAIN_CAL_B))), feats, best_text, shared

    def _plain_hit(self, q: _Query, story_id: str, raw: float, feats: list[float], best_text: str,
                   shared: list[str]) -> Hit:
        cover = max(feats[PLAIN_FEATURES.index("cov_claim")], feats[PLAIN_FEATURES.index("cov_title")])
        why = []
        gated = cover < PLAIN_MIN_COVER or len(shared) < 2
        if gated:
            # The gate: without half of one claim's (or the title's) weight, in two words or more, it is related at
            # best.  The ranking among such stories stays; the score falls under any threshold.
            raw *= 0.5
        elif best_text:
            why.append(f"close to: “{best_text[:120]}”")
        if shared:
            why.append("shares: " + ", ".join(shared[:6]))
        if q.corrections:
            why.append("read " + ", ".join(f"{a}→{b}" for a, b in list(q.corrections.items())[:4]))
        score = round(min(PLAIN_GATED_MAX if gated else 99.0, raw), 1)
        return Hit(story_id, score, confidence_for(score), best_text[:300], why, rank=raw, shared=len(shared))

    def _score_plain(self, q: _Query, plain: dict[str, _Cand], idx: _Index) -> list[Hit]:
        return [self._plain_hit(q, *row) for row in self._model_scores(q, plain, idx)]

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


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
