"""The read path: what a check needs, synchronous and thread-safe (one connection per thread).

Checks run in worker threads (never on the event loop), so this side uses plain ``sqlite3``; with WAL they never
wait for a writer.  Everything that turns rows into models lives here and is shared with the write side.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

from bot.models import Article, ArticleRole, Claim, Entity, Outlet, OutletRating, Position, Question, Story
from bot.text import stem
from storage.db import connect

GLOBAL = 0


@lru_cache(maxsize=65_536)
def fts_word(term: str) -> str:
    """A word that FTS5's porter tokenizer turns into the stem ``term``: what a MATCH expression must say to find it.

    FTS5 stems a query's words as it stemmed the text's, and a stem is not always its own stem: Porter turns "abuse"
    into "abus" and "abus" into "abu", "taxpayers" into "taxpay" and "taxpay" into "taxpai".  About 4% of a corpus's
    stems are like that, and a query that said them as they are found nothing for them.  Porter strips a final "e"
    after such stems, so the stem plus "e" gives them back (all but a few tokens like "5s" in the CheckThat! and
    synthetic vocabularies, which keep the stem itself)."""
    if stem(term) == term:
        return term
    return term + "e" if stem(term + "e") == term else term


def gid(guild_id: int | None) -> int:
    return int(guild_id or 0)


def visible(guild_id: int | None) -> tuple[int, int]:
    """The guild ids whose rows a server sees: the global corpus and its own."""
    return (GLOBAL, gid(guild_id))


@dataclass(slots=True)
class Candidate:
    kind: str  # "passage" (the only kind since schema v3)
    ref_id: str
    story_id: str
    text: str
    bm25: float


@dataclass(slots=True)
class StoryDoc:
    """One row of the story-level index (schema v2): a story's text as one server contributed it."""

    story_id: str
    guild_id: int
    title: str
    body: str  # summary, claims and article titles, one per line
    terms: str  # their stems (space-separated), one line each; '' when not computed
    bm25: float = 0.0
    length: int = 0  # tokens in title and body, as FTS5 counted them (its docsize record: what bm25() reads)


@dataclass(slots=True)
class EntityRow:
    story_id: str
    entity_id: str
    name: str
    aliases: list[str]
    core: bool


@dataclass(slots=True)
class StoryMeta:
    id: str
    guild_id: int
    title: str
    topic_terms: list[str]
    entities: list[EntityRow] = field(default_factory=list)


@dataclass(slots=True)
class Bundle:
    """A story as one server sees it, with everything a report needs (its claims are not: a report does not show
    them, and reading them was a fifth of a report's reads)."""

    story: Story
    articles: list[Article]
    outlets: dict[str, Outlet]
    ratings: dict[str, OutletRating | None]


def _d(v: str | None):
    return v or None


def row_story(r: sqlite3.Row, entities: list[Entity], questions: list[Question]) -> Story:
    return Story(
        id=r["id"],
        title=r["title"],
        summary=r["summary"],
        first_seen=_d(r["first_seen"]),
        last_seen=_d(r["last_seen"]),
        topic_terms=json.loads(r["topic_terms"]),
        entities=entities,
        questions=questions,
        guild_id=r["guild_id"] or None,
    )


def row_entity(r: sqlite3.Row) -> Entity:
    return Entity(id=r["id"], name=r["name"], kind=r["kind"], aliases=json.loads(r["aliases"]), core=bool(r["core"]))


def row_article(r: sqlite3.Row) -> Article:
    """An article as stored.  Its fields were validated, and its text cleaned, when it was written: built without
    validating them again (which cleaned every article's text again, a third of a report's reads), unless a value
    is not in the stored form (then validated as usual)."""
    try:
        published = r["published"]
        return Article.model_construct(
            id=r["id"],
            story=r["story_id"],
            outlet=r["outlet_id"],
            title=r["title"] or "",
            url=r["url"],
            published=date.fromisoformat(published) if published else None,
            author=r["author"],
            language=r["language"],
            role=ArticleRole(r["role"]),
            text=r["text"],
            guild_id=r["guild_id"] or None,
        )
    except (ValueError, TypeError):
        return _validated_article(r)


def _validated_article(r: sqlite3.Row) -> Article:
    return Article(
        id=r["id"],
        story=r["story_id"],
        outlet=r["outlet_id"],
        title=r["title"],
        url=r["url"],
        published=_d(r["published"]),
        author=r["author"],
        language=r["language"],
        role=r["role"],
        text=r["text"],
        guild_id=r["guild_id"] or None,
    )


def row_claim(r: sqlite3.Row, article_ids: list[str]) -> Claim:
    return Claim(
        id=r["id"],
        story=r["story_id"],
        text=r["text"],
        articles=article_ids,
        verdict=r["verdict"],
        claimant=r["claimant"],
        reviewed_by=r["reviewed_by"],
        review_url=r["review_url"],
        review_date=_d(r["review_date"]),
        guild_id=r["guild_id"] or None,
    )


def row_position(r: sqlite3.Row) -> Position:
    return Position(
        id=r["id"],
        statement=r["statement"],
        articles=json.loads(r["articles"]),
        evidence=json.loads(r["evidence"]),
        status=r["status"],
    )


#: A story-level index row's columns, and its token count from FTS5's docsize record, read in the same statement.
_STORY_COLUMNS = ("story_id, guild_id, title, body, terms, "
                  "(SELECT sz FROM search_story_docsize WHERE id = search_story.rowid)")


def _story_doc(r: Sequence, bm25: float = 0.0) -> StoryDoc:
    """A StoryDoc from a row of ``_STORY_COLUMNS``; its token count from the docsize record (a varint per column)."""
    return StoryDoc(r[0], r[1], r[2], r[3], r[4], bm25, _varint_sum(r[5]) if r[5] else 0)


def _varint_sum(data: bytes) -> int:
    """The sum of the SQLite varints in ``data`` (a docsize record: a story row's token count), read in one pass."""
    if max(data) < 0x80:
        return sum(data)  # every value under 128: a byte each
    total = v = n = 0
    for c in data:
        if n == 8:  # a nine-byte varint (2**56 or more, never a token count): the full reading
            return sum(_varints(data))
        v = (v << 7) | (c & 0x7F)
        if c & 0x80:
            n += 1
        else:
            total, v, n = total + v, 0, 0
    return total


def _varints(data: bytes) -> list[int]:
    """SQLite varints (big-endian groups of 7 bits, high bit set on all but the last; a 9th byte gives 8 bits)."""
    out, i = [], 0
    while i < len(data):
        v = 0
        for k in range(9):
            c = data[i]
            i += 1
            if k == 8:
                v = (v << 8) | c
                break
            v = (v << 7) | (c & 0x7F)
            if not c & 0x80:
                break
        out.append(v)
    return out


#: The tokenizer of the story-level index (storage/migrations/0002_search_story.sql); a scratch table that
#: tokenises rows the way the index does uses it too (tests check the two agree).
STORY_TOKENIZER = "porter unicode61 remove_diacritics 2"
#: A ``search_story`` row as one text for the change log (schema v5; the delete trigger of migration 0005 writes the
#: same): its terms are the row's terms, since the newline only separates the title's tokens from the body's.
STORY_ROW_TEXT = "coalesce(title, '') || char(10) || coalesce(body, '')"


class CorpusReader:
    """Read-only queries over a corpus file, safe to call from any thread."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, check="off")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for c in self._all:
                try:
                    c.close()
                except sqlite3.ProgrammingError:
                    pass
            self._all.clear()
        self._local = threading.local()

    # -- cheap checks ---------------------------------------------------------------------------------------------

    def version(self) -> int:
        return self.conn.execute("SELECT version FROM corpus_version WHERE id = 1").fetchone()[0]

    def counts(self, guild_id: int | None = None) -> dict[str, int]:
        g = visible(guild_id)
        out = {}
        for table in ("stories", "articles", "claims", "questions"):
            out[table] = self.conn.execute(
                f"SELECT count(*) FROM {table} WHERE guild_id IN (?, ?)", g  # noqa: S608 - fixed table names
            ).fetchone()[0]
        out["outlets"] = self.conn.execute("SELECT count(*) FROM outlets WHERE guild_id IN (?, ?)", g).fetchone()[0]
        return out

    # -- matching -------------------------------------------------------------------------------------------------

    def _rank_then_read(
        self, table: str, bm25: str, bm25_args: Sequence[float], columns: str, match: str, fetch: int
    ) -> tuple[int, dict[int, float], list[tuple]]:
        """Rank rowids of an FTS5 table alone (``bm25`` with ``bm25_args``; reading a matched row's columns costs a
        lookup per row), then read ``columns`` of the best ``fetch``.  (rows ranked, rowid -> score, rows as
        ``(rowid, *columns)``.)  ``table``, ``bm25`` and ``columns`` are this module's constants, never user text."""
        ranked = self.conn.execute(
            f"SELECT rowid, {bm25} AS score FROM {table} WHERE {table} MATCH ? ORDER BY score LIMIT ?",  # noqa: S608
            (*bm25_args, match, fetch),
        ).fetchall()
        if not ranked:
            return 0, {}, []
        score = {r[0]: -float(r[1]) for r in ranked}
        marks = ",".join("?" * len(ranked))
        rows = self.conn.execute(
            f"SELECT rowid, {columns} FROM {table} WHERE rowid IN ({marks})",  # noqa: S608
            list(score),
        ).fetchall()
        return len(ranked), score, rows

    def story_candidates(
        self, match: str, guild_id: int | None, limit: int = 30, weights: tuple[float, float] = (1.0, 1.0),
        needs_text: Callable[[str], bool] | None = None,
    ) -> list[StoryDoc]:
        """Best stories by BM25 (story-level index) for an FTS5 MATCH expression, with their text, for this server.

        Two steps: rank rowids in the full-text index alone (reading a matched row's server or text costs a lookup
        per row, which at 100k stories is most of the time), then read the best rows and keep what the server sees;
        asks again for more only if too few were visible.  With ``needs_text``, the second step reads each row's
        story and server only, and a third reads the text of the best rows whose story ``needs_text`` (the others
        come back with empty title, body and terms, and length 0).
        """
        if not match:
            return []
        g = visible(guild_id)
        fetch = limit
        columns = "story_id, guild_id" if needs_text else _STORY_COLUMNS
        while True:
            n_ranked, score, rows = self._rank_then_read(
                "search_story", "bm25(search_story, ?, ?, 0, 0, 0)", weights, columns, match, fetch,
            )
            if sum(r[2] in g for r in rows) >= limit or n_ranked < fetch or fetch >= 64 * limit:
                break
            fetch *= 4
        if needs_text is None:
            out = [_story_doc(r[1:], score[r[0]]) for r in rows if r[2] in g]
            out.sort(key=lambda d: (-d.bm25, d.story_id))
            return out[:limit]
        best = sorted((r for r in rows if r[2] in g), key=lambda r: (-score[r[0]], r[1]))[:limit]
        want = {r[0] for r in best if needs_text(r[1])}
        texts = {}
        if want:
            marks = ",".join("?" * len(want))
            texts = {r[0]: r for r in self.conn.execute(
                f"SELECT rowid, {_STORY_COLUMNS} FROM search_story WHERE rowid IN ({marks})", list(want))}  # noqa: S608
        # A row removed between the two reads is left out, as the two-step read without ``needs_text`` does.
        return [_story_doc(texts[r[0]][1:], score[r[0]]) if r[0] in texts else StoryDoc(r[1], r[2], "", "", "", score[r[0]])
                for r in best if r[0] in texts or r[0] not in want]

    def story_matches(self, match: str, guild_id: int | None, at_most: int) -> list[StoryDoc] | None:
        """Every story-level index row this server sees that matches an FTS5 MATCH expression, unranked (bm25 0), or
        None when more than ``at_most`` rows match (rank them with ``story_candidates`` then).

        Cheaper than ranking when few rows match: FTS5's bm25() first counts the rows holding each phrase of the
        expression, which for a long "two of these terms" expression is most of the query.
        """
        rows = self._match_then_read("search_story", _STORY_COLUMNS, match, at_most)
        if rows is None:
            return None
        g = visible(guild_id)
        return [_story_doc(r) for r in rows if r[1] in g]

    def _match_then_read(self, table: str, columns: str, match: str, at_most: int) -> list[tuple] | None:
        """``columns`` of every row of an FTS5 table that matches, in rowid order, unranked; None when more than
        ``at_most`` match.  ``table`` and ``columns`` are this module's constants, never user text."""
        if not match:
            return []
        ids = [r[0] for r in self.conn.execute(
            f"SELECT rowid FROM {table} WHERE {table} MATCH ? LIMIT ?", (match, at_most + 1))]  # noqa: S608
        if len(ids) > at_most:
            return None
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return self.conn.execute(
            f"SELECT {columns} FROM {table} WHERE rowid IN ({marks}) ORDER BY rowid", ids).fetchall()  # noqa: S608

    def story_index_totals(self) -> tuple[int, int]:
        """(rows, tokens in all columns) of the story-level index, as FTS5's bm25() reads them (its averages record:
        a varint row count, then a varint token count per column)."""
        r = self.conn.execute("SELECT block FROM search_story_data WHERE id = 1").fetchone()
        values = _varints(bytes(r[0])) if r and r[0] is not None else []
        return (values[0], sum(values[1:])) if values else (0, 0)

    def story_docs(self, story_ids: Iterable[str], guild_id: int | None) -> list[StoryDoc]:
        """The story-level index rows of these stories that this server sees (bm25 0)."""
        ids = list(dict.fromkeys(story_ids))
        if not ids:
            return []
        g = visible(guild_id)
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT {_STORY_COLUMNS} FROM search_story WHERE rowid IN "  # noqa: S608
            f"(SELECT row FROM search_rows WHERE fts = 'search_story' AND story_id IN ({marks})) AND guild_id IN (?, ?)",
            (*ids, *g),
        ).fetchall()
        return [_story_doc(r) for r in rows]

    def passage_candidates(self, match: str, guild_id: int | None, limit: int = 20) -> list[Candidate]:
        """Best article passages by BM25 for an FTS5 MATCH expression, for this server (ranked first, then read).

        ``search_passage`` has detail=none (schema v3): the expression may hold single terms only, no phrases."""
        if not match:
            return []
        g = visible(guild_id)
        _, score, rows = self._rank_then_read("search_passage", "bm25(search_passage)", (),
                                              "ref_id, story_id, text, guild_id", match, 3 * limit)
        out = [Candidate("passage", r[1], r[2], r[3], score[r[0]]) for r in rows if r[4] in g]
        out.sort(key=lambda c: -c.bm25)
        return out[:limit]

    def passage_matches(self, match: str, guild_id: int | None, at_most: int) -> list[Candidate] | None:
        """Every article passage this server sees that matches an FTS5 MATCH expression, unranked (bm25 0, in index
        order), or None when more than ``at_most`` rows match (rank them with ``passage_candidates`` then).

        A "two of these terms" expression over passages matches a handful of rows; ranking them with bm25() first
        reads every phrase's rows once more (1.5 ms of a long paste's check at 1M claims)."""
        rows = self._match_then_read("search_passage", "ref_id, story_id, text, guild_id", match, at_most)
        if rows is None:
            return None
        g = visible(guild_id)
        return [Candidate("passage", r[0], r[1], r[2], 0.0) for r in rows if r[3] in g]

    def story_vocabulary(self) -> Iterator[tuple[str, int]]:
        """(term, number of story rows holding it) of the story-level index."""
        self.conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_story_vocab USING fts5vocab(main, search_story, row)"
        )
        yield from self.conn.execute("SELECT term, doc FROM temp.search_story_vocab")

    def index_fingerprint(self) -> tuple[int, int, int]:
        """(story index rows, last index row id, last audit id of a corpus change): with the corpus version, what
        identifies a state.  Server settings and auto-reply changes (and their undos) are left out: they change
        nothing the matcher indexes, so they must not cost the next start an index rebuild."""
        r = self.conn.execute(
            "SELECT (SELECT count(*) FROM search_rows WHERE fts = 'search_story'), "
            "(SELECT max(row) FROM search_rows WHERE fts = 'search_story'), "
            "(SELECT id FROM audit_log WHERE target_kind NOT IN ('settings', 'autoreply') ORDER BY id DESC LIMIT 1)"
        ).fetchone()
        return (int(r[0] or 0), int(r[1] or 0), int(r[2] or 0))

    def story_row_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM search_rows WHERE fts = 'search_story'").fetchone()[0]

    def term_visible(self, term: str, guild_id: int | None) -> bool:
        """Whether an index term (a Porter stem) occurs in text this server may see (global or its own).

        Used to keep typo corrections from revealing another server's words; rare terms match few rows."""
        if not term.isalnum():
            return False
        g = visible(guild_id)
        row = self.conn.execute(
            "SELECT 1 FROM search_story WHERE search_story MATCH ? AND guild_id IN (?, ?) LIMIT 1",
            (f'"{fts_word(term)}"', *g),
        ).fetchone()
        return row is not None

    def hidden_stories(self, guild_id: int | None) -> set[str]:
        if not guild_id:
            return set()
        return {r[0] for r in self.conn.execute("SELECT story_id FROM hidden_stories WHERE guild_id = ?", (guild_id,))}

    def story_meta(self) -> Iterator[StoryMeta]:
        """Every story with its entities (all servers'; the matcher filters by visibility)."""
        entities: dict[str, list[EntityRow]] = {}
        for r in self.conn.execute("SELECT story_id, id, name, aliases, core FROM entities ORDER BY story_id, ord"):
            entities.setdefault(r[0], []).append(EntityRow(r[0], r[1], r[2], json.loads(r[3]), bool(r[4])))
        for r in self.conn.execute("SELECT id, guild_id, title, topic_terms FROM stories"):
            yield StoryMeta(r[0], r[1], r[2], json.loads(r[3]), entities.get(r[0], []))

    def story_rows(self) -> Iterator[tuple[str, int, str, str]]:
        """(id, guild id, title, topic terms JSON) of every story (all servers'; the matcher filters)."""
        yield from self.conn.execute("SELECT id, guild_id, title, topic_terms FROM stories")

    def entity_rows(self) -> Iterator[tuple[str, str, str, str, int]]:
        """(story id, entity id, name, aliases JSON, core) of every entity, in each story's order."""
        yield from self.conn.execute("SELECT story_id, id, name, aliases, core FROM entities ORDER BY story_id, ord")

    def _rows_in(self, sql: str, ids: Sequence[str]) -> list[tuple]:
        """Rows of ``sql`` (this module's text, with one ``{marks}``) for ``ids``, 400 to a query, in the order given."""
        out: list[tuple] = []
        for i in range(0, len(ids), 400):
            chunk = ids[i : i + 400]
            out += self.conn.execute(sql.format(marks=",".join("?" * len(chunk))), chunk).fetchall()
        return out

    def stories_rows(self, story_ids: Sequence[str]) -> list[tuple[str, int, str, str]]:
        """``story_rows`` of these stories only (those that exist)."""
        return self._rows_in("SELECT id, guild_id, title, topic_terms FROM stories WHERE id IN ({marks})", story_ids)

    def stories_entity_rows(self, story_ids: Sequence[str]) -> list[tuple[str, str, str, str, int]]:
        """``entity_rows`` of these stories only, in the same order (by story id, then each story's order): the ids
        are sorted and read in consecutive ranges, each ordered by SQLite as ``entity_rows`` is."""
        return self._rows_in("SELECT story_id, id, name, aliases, core FROM entities WHERE story_id IN ({marks}) "
                             "ORDER BY story_id, ord", sorted(set(story_ids)))

    def index_change_id(self) -> int:
        """The last entry of the log of re-indexed stories (schema v4), 0 if there is none."""
        return self.conn.execute("SELECT coalesce(max(id), 0) FROM index_changes").fetchone()[0]

    def index_changes_since(self, after: int, at_most: int) -> tuple[int, list[str]] | None:
        """(the last entry, the stories re-indexed after entry ``after``), or None when the log cannot say: entries
        after ``after`` were dropped already, the log is behind ``after`` (another file), or more than ``at_most``
        stories changed."""
        lo, hi = self.conn.execute("SELECT min(id), max(id) FROM index_changes").fetchone()
        if hi is None:
            return (after, []) if after == 0 else None
        if after > hi or lo > after + 1:
            return None
        ids = [r[0] for r in self.conn.execute(
            "SELECT DISTINCT story_id FROM index_changes WHERE id > ? AND id <= ? LIMIT ?", (after, hi, at_most + 1))]
        return None if len(ids) > at_most else (hi, ids)

    def index_term_changes(self, after: int, last: int) -> dict[str, int] | None:
        """How the document frequencies of the story-level index's terms changed with the log's entries after
        ``after`` up to ``last`` (term -> rows gained, negative if lost; terms that did not change left out): each
        story's rows as they were before its first entry there are taken away and its rows now are added, each row
        tokenised by a scratch FTS5 table with the index's own tokenizer.  None when an entry does not hold the rows
        (made before schema v5): then only the whole vocabulary can say.  Read it in the same transaction as the
        log's ``last`` entry (``read_transaction``)."""
        c = self.conn
        first = "SELECT min(id) FROM index_changes WHERE id > ? AND id <= ? GROUP BY story_id"
        if c.execute(f"SELECT 1 FROM index_changes WHERE id IN ({first}) AND old_rows IS NULL LIMIT 1",  # noqa: S608
                     (after, last)).fetchone():
            return None
        c.execute("DROP TABLE IF EXISTS temp.reindexed_rows")
        c.execute(f"CREATE VIRTUAL TABLE temp.reindexed_rows USING fts5(before, now, tokenize = {STORY_TOKENIZER!r})")
        c.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.reindexed_vocab USING fts5vocab(temp, reindexed_rows, col)")
        c.execute(f"INSERT INTO temp.reindexed_rows (before) SELECT j.value FROM index_changes AS e, json_each(e.old_rows) AS j "  # noqa: S608
                  f"WHERE e.id IN ({first})", (after, last))
        c.execute(
            f"INSERT INTO temp.reindexed_rows (now) SELECT {STORY_ROW_TEXT} "  # noqa: S608
            "FROM search_story WHERE rowid IN (SELECT row FROM search_rows WHERE fts = 'search_story' AND story_id IN "
            "(SELECT story_id FROM index_changes WHERE id > ? AND id <= ?))", (after, last))
        out: dict[str, int] = {}
        for term, col, doc in c.execute("SELECT term, col, doc FROM temp.reindexed_vocab"):
            out[term] = out.get(term, 0) + (doc if col == "now" else -doc)
        c.execute("DROP TABLE temp.reindexed_rows")
        return {t: d for t, d in out.items() if d}

    @contextmanager
    def read_transaction(self) -> Iterator[None]:
        """Every read in the block sees one state of the file (WAL: a writer's commit meanwhile is not seen), so
        that what is read together agrees (the matcher's index: its change-log position and the vocabulary).
        Re-entrant: inside another one it adds nothing."""
        conn = self.conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")  # nothing was written but temp tables: ends the read

    def article_by_canonical_url(self, canonical: str, guild_id: int | None) -> tuple[str, str] | None:
        """(article id, story id) of the article at this canonical URL, if the server sees it."""
        g = visible(guild_id)
        r = self.conn.execute(
            "SELECT id, story_id FROM articles WHERE canonical_url = ? AND guild_id IN (?, ?) "
            "ORDER BY guild_id DESC LIMIT 1",
            (canonical, *g),
        ).fetchone()
        return (r[0], r[1]) if r else None

    def outlet_by_domain(self, domain: str, guild_id: int | None) -> Outlet | None:
        g = visible(guild_id)
        r = self.conn.execute(
            "SELECT outlet_id FROM outlet_domains WHERE domain = ? AND guild_id IN (?, ?) "
            "ORDER BY guild_id DESC LIMIT 1",
            (domain, *g),
        ).fetchone()
        return self.outlet(r[0], guild_id) if r else None

    # -- records --------------------------------------------------------------------------------------------------

    def outlet(self, outlet_id: str, guild_id: int | None) -> Outlet | None:
        g = visible(guild_id)
        r = self.conn.execute(
            "SELECT id, name, type FROM outlets WHERE id = ? AND guild_id IN (?, ?)", (outlet_id, *g)
        ).fetchone()
        if not r:
            return None
        domains = [
            d[0]
            for d in self.conn.execute(
                "SELECT domain FROM outlet_domains WHERE outlet_id = ? AND guild_id IN (?, ?) ORDER BY domain",
                (outlet_id, *g),
            )
        ]
        return Outlet(id=r[0], name=r[1], type=r[2], domains=domains, rating=self.rating(outlet_id, guild_id))

    def rating(self, outlet_id: str, guild_id: int | None) -> OutletRating | None:
        """The server's rating of an outlet over the global default, field by field."""
        rows = dict(
            self.conn.execute(
                "SELECT guild_id, rating FROM outlet_ratings WHERE outlet_id = ? AND guild_id IN (?, ?)",
                (outlet_id, *visible(guild_id)),
            ).fetchall()
        )
        base = OutletRating.model_validate_json(rows[GLOBAL]) if GLOBAL in rows else None
        own = OutletRating.model_validate_json(rows[gid(guild_id)]) if guild_id and gid(guild_id) in rows else None
        merged = own.merged_over(base) if own else base
        return None if merged is None or merged.is_empty() else merged

    def outlets(self, guild_id: int | None) -> list[Outlet]:
        ids = [
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM outlets WHERE guild_id IN (?, ?) ORDER BY name", visible(guild_id)
            )
        ]
        return [o for o in (self.outlet(i, guild_id) for i in ids) if o]

    def story_owner(self, story_id: str) -> int | None:
        r = self.conn.execute("SELECT guild_id FROM stories WHERE id = ?", (story_id,)).fetchone()
        return None if r is None else r[0]

    def story(self, story_id: str, guild_id: int | None) -> Story | None:
        g = visible(guild_id)
        r = self.conn.execute("SELECT * FROM stories WHERE id = ? AND guild_id IN (?, ?)", (story_id, *g)).fetchone()
        if not r:
            return None
        entities = [
            row_entity(e) for e in self.conn.execute("SELECT * FROM entities WHERE story_id = ? ORDER BY ord", (r["id"],))
        ]
        questions = []
        for q in self.conn.execute(
            "SELECT * FROM questions WHERE story_id = ? AND guild_id IN (?, ?) ORDER BY ord, rowid", (story_id, *g)
        ):
            positions = [
                row_position(p)
                for p in self.conn.execute(
                    "SELECT * FROM positions WHERE question_id = ? AND guild_id IN (?, ?) ORDER BY ord, rowid",
                    (q["id"], *g),
                )
            ]
            questions.append(Question(id=q["id"], text=q["text"], kind=q["kind"], positions=positions))
        return row_story(r, entities, questions)

    def articles(self, story_id: str, guild_id: int | None) -> list[Article]:
        return [
            row_article(r)
            for r in self.conn.execute(
                "SELECT * FROM articles WHERE story_id = ? AND guild_id IN (?, ?) ORDER BY id",
                (story_id, *visible(guild_id)),
            )
        ]

    def article_texts(self, story_ids: Iterable[str], guild_id: int | None) -> dict[str, list[tuple[str, str]]]:
        """(article id, text) of the visible articles of these stories, by story (for the matcher's quote check)."""
        ids = list(dict.fromkeys(story_ids))
        out: dict[str, list[tuple[str, str]]] = {i: [] for i in ids}
        if not ids:
            return out
        marks = ",".join("?" * len(ids))
        for r in self.conn.execute(
            f"SELECT story_id, id, text FROM articles WHERE story_id IN ({marks}) AND guild_id IN (?, ?) ORDER BY id",  # noqa: S608
            (*ids, *visible(guild_id)),
        ):
            out[r[0]].append((r[1], r[2]))
        return out

    def article(self, article_id: str, guild_id: int | None) -> Article | None:
        r = self.conn.execute(
            "SELECT * FROM articles WHERE id = ? AND guild_id IN (?, ?)", (article_id, *visible(guild_id))
        ).fetchone()
        return row_article(r) if r else None

    def claims(self, story_id: str, guild_id: int | None) -> list[Claim]:
        g = visible(guild_id)
        out = []
        for r in self.conn.execute(
            "SELECT * FROM claims WHERE story_id = ? AND guild_id IN (?, ?) ORDER BY rowid", (story_id, *g)
        ):
            arts = [a[0] for a in self.conn.execute("SELECT article_id FROM claim_articles WHERE claim_id = ?", (r["id"],))]
            out.append(row_claim(r, arts))
        return out

    def kept_signals(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(key, own) of the articles' kept signals (table ``article_signals``), by article id."""
        rows = self._rows_in("SELECT article_id, key, own FROM article_signals WHERE article_id IN ({marks})", article_ids)
        return {r[0]: (r[1], r[2]) for r in rows}

    def bundle(
        self, story_id: str, guild_id: int | None, outlet: Callable[[str, int | None], Outlet | None] | None = None
    ) -> Bundle | None:
        """``outlet``: how to read an outlet (default ``self.outlet``; the checker passes its cache: a corpus has far
        fewer outlets than stories, and each took three queries)."""
        story = self.story(story_id, guild_id)
        if story is None:
            return None
        articles = self.articles(story_id, guild_id)
        read_outlet = outlet or self.outlet
        outlets: dict[str, Outlet] = {}
        for a in articles:
            if a.outlet not in outlets:
                o = read_outlet(a.outlet, guild_id)
                if o is not None:
                    outlets[a.outlet] = o
        return Bundle(story=story, articles=articles, outlets=outlets, ratings={k: o.rating for k, o in outlets.items()})

    def search_stories(self, text: str, guild_id: int | None, limit: int = 25) -> list[tuple[str, str]]:
        """(id, title) of visible stories whose id or title contains ``text`` (for autocomplete)."""
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        hidden = self.hidden_stories(guild_id)
        rows = self.conn.execute(
            "SELECT id, title FROM stories WHERE guild_id IN (?, ?) AND (title LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\') "
            "ORDER BY title LIMIT ?",
            (*visible(guild_id), like, like, limit + len(hidden)),
        ).fetchall()
        return [(r[0], r[1]) for r in rows if r[0] not in hidden][:limit]
