"""The write path: every change to the corpus, in one transaction each, audited and undoable.

Rules enforced here (not in the cogs), so that no command, import or guessed id can break them:
- a server (guild) writes only rows it owns; the global corpus (guild 0) is written only by the bot owner's CLI;
- a server's articles, claims and questions may attach to a global story; a server may hide a global story;
- every change records the prior state of what it touched (row snapshots), so ``undo`` restores it exactly;
- the full-text index is rebuilt for the touched stories inside the same transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from bot.models import (
    RATING_FIELDS,
    Article,
    Claim,
    CorpusFile,
    Outlet,
    OutletFlag,
    OutletRating,
    Position,
    Question,
    RatingEntry,
    RatingRecord,
    Story,
    AttachedPosition,
    AttachedQuestion,
)
from storage.db import IntegrityCheck, IntegrityCheckStopped, StorageError, connect_async, is_current
from storage.reader import GLOBAL, STORY_ROW_TEXT, CorpusReader, gid, row_article, row_claim, row_position, row_story, row_entity

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

#: Passages of an article indexed for matching: paragraphs packed up to this many characters.
PASSAGE_CHARS = 600
_CHUNK = 400  # ids per IN (...) query
#: Entries of ``index_changes`` kept (schema v4): a running matcher updates its index from them when it is fewer
#: stories behind than bot.matching.INCREMENTAL_MAX_STORIES (far fewer), else it rebuilds in full.
INDEX_CHANGES_KEPT = 20_000
#: Of those, the latest entries that keep the story's rows as they were (schema v5); older ones drop them (an update
#: that reaches back that far reads the whole vocabulary instead), so a large re-import leaves the log small.
INDEX_CHANGE_ROWS_KEPT = 4_000


class CorpusError(ValueError):
    """A change that cannot be made; the message names the record and field at fault and is safe to show."""


class PermissionDenied(CorpusError):
    pass


class CorpusBusy(CorpusError):
    """Another process (a command-line import, a restore) held the database longer than the busy timeout."""


class CorpusDamaged(CorpusError):
    """The integrity check that ``Corpus.open(defer_check=True)`` started found the file damaged: no more writes."""


@dataclass(slots=True)
class Actor:
    """Who makes a change: a Discord user in a server, or the bot owner at the CLI (guild 0)."""

    guild_id: int = GLOBAL
    user_id: int = 0
    name: str = "cli"


@dataclass(slots=True)
class AuditEntry:
    id: int
    guild_id: int
    actor_id: int
    actor_name: str
    action: str
    target_kind: str
    target_id: str
    summary: str
    undone: bool
    created_at: str


@dataclass(slots=True)
class ApplyResult:
    outlets: int = 0
    stories: int = 0
    articles: int = 0
    claims: int = 0
    audit_id: int | None = None

    def describe(self) -> str:
        return f"{self.stories} stories, {self.articles} articles, {self.claims} claims, {self.outlets} outlets"


def _chunks(seq: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _iso(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


def passages(text: str, limit: int = PASSAGE_CHARS) -> list[str]:
    """Paragraphs of an article packed into passages of at most ``limit`` characters (long ones split at spaces)."""
    out: list[str] = []
    cur = ""
    for para in text.split("\n"):
        para = " ".join(para.split())
        while len(para) > limit:
            cut = para.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if cur:
                out.append(cur)
                cur = ""
            out.append(para[:cut])
            para = para[cut:].strip()
        if not para:
            continue
        if cur and len(cur) + 1 + len(para) > limit:
            out.append(cur)
            cur = para
        else:
            cur = f"{cur} {para}" if cur else para
    if cur:
        out.append(cur)
    return out


#: Logs stories about to be re-indexed (a JSON array of ids) with the story-index rows each has now.
_LOG_REINDEXED = f"""
INSERT INTO index_changes (story_id, old_rows)
SELECT s.value, (SELECT json_group_array({STORY_ROW_TEXT}) FROM search_story
                 WHERE rowid IN (SELECT row FROM search_rows WHERE fts = 'search_story' AND story_id = s.value))
FROM json_each(?) AS s ORDER BY s.key
"""


def _story_rows(docs: dict[tuple[str, int], list[Any]]) -> list[tuple[str, str, str, str, int]]:
    """Rows of ``search_story``: (title, body lines, their stems, story id, guild) per story and server."""
    from bot.text import content_terms

    out = []
    for (story_id, guild), (title, lines) in docs.items():
        lines = [" ".join(x.split()) for x in lines]
        terms = "\n".join(" ".join(content_terms(x)) for x in lines)
        out.append((title, "\n".join(lines), terms, story_id, guild))
    return out


# Tables that make up one story as one server owns it, with the condition selecting its rows.
_STORY_SCOPE: list[tuple[str, str]] = [
    ("stories", "id = :s AND guild_id = :g"),
    ("entities", "story_id = :s AND EXISTS (SELECT 1 FROM stories WHERE id = :s AND guild_id = :g)"),
    ("articles", "story_id = :s AND guild_id = :g"),
    ("claims", "story_id = :s AND guild_id = :g"),
    ("claim_articles", "claim_id IN (SELECT id FROM claims WHERE story_id = :s AND guild_id = :g)"),
    ("questions", "story_id = :s AND guild_id = :g"),
    ("positions", "guild_id = :g AND question_id IN (SELECT id FROM questions WHERE story_id = :s)"),
    ("hidden_stories", "story_id = :s AND guild_id = :g"),
]
_OUTLET_SCOPE: list[tuple[str, str]] = [
    ("outlets", "id = :s AND guild_id = :g"),
    ("outlet_domains", "outlet_id = :s AND guild_id = :g"),
    ("outlet_ratings", "outlet_id = :s AND guild_id = :g"),
]
# A server's settings, and one auto-reply channel of a server (target: the channel id as text).  Not corpus content:
# changing them is audited and undoable but does not bump the corpus version (the matcher's index stays valid).
_SETTINGS_SCOPE: list[tuple[str, str]] = [("guild_settings", "guild_id = :g")]
_AUTOREPLY_SCOPE: list[tuple[str, str]] = [("autoreply_channels", "channel_id = CAST(:s AS INTEGER) AND guild_id = :g")]
_SCOPES = {"story": _STORY_SCOPE, "outlet": _OUTLET_SCOPE, "settings": _SETTINGS_SCOPE, "autoreply": _AUTOREPLY_SCOPE}
#: Kinds of audited change that are not corpus content.
_NOT_CORPUS = frozenset({"settings", "autoreply"})
# The same scopes for many targets in one query per table (``:ids``: a JSON array of target ids): each row comes with
# its target as the first column ``_k``.  ``Corpus._snapshots`` uses these; they select exactly the rows the
# per-target conditions above select (tests/test_storage.py compares them).
_IDS = "(SELECT value FROM json_each(:ids))"
_BATCH: dict[str, list[tuple[str, str]]] = {
    "story": [
        ("stories", f"SELECT id AS _k, * FROM stories WHERE guild_id = :g AND id IN {_IDS}"),
        ("entities", f"SELECT e.story_id AS _k, e.* FROM entities e JOIN stories s ON s.id = e.story_id "
                     f"WHERE s.guild_id = :g AND e.story_id IN {_IDS}"),
        ("articles", f"SELECT story_id AS _k, * FROM articles WHERE guild_id = :g AND story_id IN {_IDS}"),
        ("claims", f"SELECT story_id AS _k, * FROM claims WHERE guild_id = :g AND story_id IN {_IDS}"),
        ("claim_articles", f"SELECT c.story_id AS _k, ca.* FROM claim_articles ca JOIN claims c ON c.id = ca.claim_id "
                           f"WHERE c.guild_id = :g AND c.story_id IN {_IDS}"),
        ("questions", f"SELECT story_id AS _k, * FROM questions WHERE guild_id = :g AND story_id IN {_IDS}"),
        ("positions", f"SELECT q.story_id AS _k, p.* FROM positions p JOIN questions q ON q.id = p.question_id "
                      f"WHERE p.guild_id = :g AND q.story_id IN {_IDS}"),
        ("hidden_stories", f"SELECT story_id AS _k, * FROM hidden_stories WHERE guild_id = :g AND story_id IN {_IDS}"),
    ],
    "outlet": [
        ("outlets", f"SELECT id AS _k, * FROM outlets WHERE guild_id = :g AND id IN {_IDS}"),
        ("outlet_domains", f"SELECT outlet_id AS _k, * FROM outlet_domains WHERE guild_id = :g AND outlet_id IN {_IDS}"),
        ("outlet_ratings", f"SELECT outlet_id AS _k, * FROM outlet_ratings WHERE guild_id = :g AND outlet_id IN {_IDS}"),
    ],
    "settings": [
        ("guild_settings", f"SELECT CAST(guild_id AS TEXT) AS _k, * FROM guild_settings WHERE guild_id = :g "
                           f"AND CAST(guild_id AS TEXT) IN {_IDS}"),
    ],
    "autoreply": [
        ("autoreply_channels", "SELECT CAST(channel_id AS TEXT) AS _k, * FROM autoreply_channels WHERE guild_id = :g "
                               "AND channel_id IN (SELECT CAST(value AS INTEGER) FROM json_each(:ids))"),
    ],
}
#: Scoped tables keyed by ``id`` whose rows other rows reference (restored in place, see ``Corpus._restore``).
_KEYED = frozenset({"articles", "claims", "questions", "positions"})


#: A scratch table (per connection, in memory) for the passages of one re-index, and the two statements that move
#: them into ``search_passage`` and ``search_rows``.
_SCRATCH = ("CREATE TEMP TABLE IF NOT EXISTS passage_new "
            "(row INTEGER PRIMARY KEY, text TEXT, ref_id TEXT, story_id TEXT, guild_id INTEGER)")
_INSERT_PASSAGES = ("INSERT INTO search_passage (rowid, text, ref_id, story_id, guild_id) "
                    "SELECT row, text, ref_id, story_id, guild_id FROM temp.passage_new")
_INSERT_PASSAGE_ROWS = ("INSERT INTO search_rows (fts, row, story_id) "
                        "SELECT 'search_passage', row, story_id FROM temp.passage_new")


class Corpus:
    """The corpus of one database file: async writes (aiosqlite) plus the shared synchronous reader."""

    def __init__(self, conn: aiosqlite.Connection, path: Path):
        self.conn = conn
        self.path = path
        self.reader = CorpusReader(path)
        self._write_lock = asyncio.Lock()
        self._integrity: IntegrityCheck | None = None
        self._verifying: asyncio.Task[None] | None = None
        self._damaged: StorageError | None = None

    @classmethod
    async def open(cls, path: str | Path, *, check: str = "quick", defer_check: bool = False) -> Corpus:
        """``check``: the integrity check (quick, full or off).  With ``defer_check`` (the bot) a file that needs no
        migration opens at once and is checked in a worker thread while reads go on: every write is refused with a
        clear CorpusBusy until the check has passed, and with CorpusDamaged if it fails (``verified`` raises its
        StorageError, and the bot stops).  A file to migrate is checked first, as without it."""
        path = Path(path)
        deferred = defer_check and check != "off" and is_current(path)
        conn = await connect_async(path, check="off" if deferred else check)
        conn.row_factory = sqlite3.Row
        corpus = cls(conn, path)
        if deferred:
            corpus._integrity = IntegrityCheck(path, full=check == "full")
            corpus._verifying = asyncio.create_task(corpus._verify(corpus._integrity), name="corpus-integrity-check")
        return corpus

    async def _verify(self, check: IntegrityCheck) -> None:
        started = time.perf_counter()
        try:
            await asyncio.to_thread(check.run)
        except IntegrityCheckStopped:
            return
        except StorageError as exc:
            self._damaged = exc
            log.error("%s", exc)
            return
        log.info("the database passed its %s integrity check in %.1f s (in the background; writes waited for it)",
                 "full" if check.full else "quick", time.perf_counter() - started)

    async def verified(self) -> None:
        """Wait for the integrity check ``open(defer_check=True)`` started (at once if none runs); raises its
        StorageError if the file is damaged."""
        if self._verifying is not None:
            await asyncio.shield(self._verifying)
        if self._damaged is not None:
            raise StorageError(str(self._damaged))

    def _refuse_unchecked(self) -> None:
        if self._damaged is not None:
            raise CorpusDamaged(
                "The database failed its integrity check, so Crosscheck changes nothing in it; the bot's operator "
                "has the details in the log. Nothing was changed."
            )
        if self._verifying is not None and not self._verifying.done():
            raise CorpusBusy(
                "Crosscheck is still checking its database for damage after starting (a minute or two for a large "
                "corpus); nothing was changed. Try again in a minute or two."
            )

    async def close(self) -> None:
        if self._verifying is not None and not self._verifying.done():
            assert self._integrity is not None
            self._integrity.stop()
            await self._verifying
        self.reader.close()
        await self.conn.close()

    async def __aenter__(self) -> Corpus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a reader query in a worker thread (never on the event loop)."""
        return await asyncio.to_thread(fn, *args)

    # -- transactions ---------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _writing(self):
        """The write lock.  A database another process holds for longer than the busy timeout (a large import from
        the command line) gives a clear CorpusBusy, never sqlite3's bare "database is locked"."""
        self._refuse_unchecked()
        async with self._write_lock:
            try:
                yield
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise CorpusBusy(
                        "The corpus is busy with another change (an import from the command line?); nothing was "
                        "changed. Try again in a minute."
                    ) from exc
                raise

    @asynccontextmanager
    async def _transaction(self, *, bump: bool = True):
        """One write transaction; ``bump``: the change is to the corpus, so its version goes up (in-memory indexes
        reload).  Settings and auto-reply channels are not corpus content."""
        async with self._writing():
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                if bump:
                    await self.conn.execute("UPDATE corpus_version SET version = version + 1 WHERE id = 1")
                await self.conn.execute("COMMIT")
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise

    async def _fetch(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        async with self.conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def _owners(self, table: str, ids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for r in await self._fetch(f"SELECT id, guild_id FROM {table} WHERE id IN ({marks})", chunk):  # noqa: S608
                out[r[0]] = r[1]
        return out

    # -- snapshots (for audit and undo) ---------------------------------------------------------------------------

    async def _snapshot(self, kind: str, target: str, guild: int) -> dict[str, list[dict[str, Any]]]:
        snap: dict[str, list[dict[str, Any]]] = {}
        for table, where in _SCOPES[kind]:
            rows = await self._fetch(f"SELECT * FROM {table} WHERE {where}", {"s": target, "g": guild})  # noqa: S608
            snap[table] = [dict(r) for r in rows]
        return snap

    async def _restore(self, kind: str, target: str, guild: int, snap: dict[str, list[dict[str, Any]]]) -> None:
        params = {"s": target, "g": guild}
        # Delete children first (reverse order), then re-insert parents first.  Rows that exist in the snapshot are
        # updated in place, never deleted and re-inserted: deleting an article would cascade to claim links that
        # this server's claims in *other* stories hold on it, which are outside this snapshot.
        for table, where in reversed(_SCOPES[kind]):
            if table in ("stories", "outlets") and not snap.get(table):
                # The record did not exist before: remove it (and, for a story, what hangs off it in this scope).
                await self.conn.execute(f"DELETE FROM {table} WHERE {where}", params)  # noqa: S608
            elif table in ("stories", "outlets"):
                continue  # updated in place below, so that other servers' rows hanging off it survive
            elif table in _KEYED:
                keep = json.dumps([r["id"] for r in snap.get(table) or []])
                await self.conn.execute(
                    f"DELETE FROM {table} WHERE ({where}) AND id NOT IN (SELECT value FROM json_each(:keep))",  # noqa: S608
                    {**params, "keep": keep},
                )
            else:
                await self.conn.execute(f"DELETE FROM {table} WHERE {where}", params)  # noqa: S608
        for table, _ in _SCOPES[kind]:
            rows = snap.get(table) or []
            for row in rows:
                cols = list(row)
                keyed = table in ("stories", "outlets") or table in _KEYED
                # A row of a link table may still be there (a claim moved to another story kept its links): the
                # snapshot's row replaces it.
                verb = "INSERT" if keyed else "INSERT OR REPLACE"
                sql = f"{verb} INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"  # noqa: S608
                if keyed:
                    updates = ",".join(f"{c}=excluded.{c}" for c in cols if c != "id")
                    sql += f" ON CONFLICT(id) DO UPDATE SET {updates}"
                await self.conn.execute(sql, [row[c] for c in cols])

    async def _audit(
        self,
        actor: Actor,
        action: str,
        target_kind: str,
        target_id: str,
        before: list[dict[str, Any]],
        summary: str,
        after: dict[str, Any] | None = None,
    ) -> int:
        cur = await self.conn.execute(
            "INSERT INTO audit_log (guild_id, actor_id, actor_name, action, target_kind, target_id, before, after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                actor.guild_id,
                actor.user_id,
                actor.name[:200],
                action,
                target_kind,
                target_id[:200],
                json.dumps(before, ensure_ascii=False),
                json.dumps({"summary": summary, **(after or {})}, ensure_ascii=False),
            ),
        )
        return cur.lastrowid

    async def _snapshots(self, targets: Iterable[tuple[str, str]], guild: int) -> list[dict[str, Any]]:
        """Snapshots of many targets (("story" | "outlet", id)), in order, as ``_snapshot`` makes them one by one,
        with one query per table for all of them."""
        targets = list(dict.fromkeys(targets))
        snaps = {t: {"kind": t[0], "id": t[1], "guild": guild, "rows": {table: [] for table, _ in _SCOPES[t[0]]}}
                 for t in targets}
        for kind in dict.fromkeys(k for k, _ in targets):
            ids = json.dumps([t for k, t in targets if k == kind])
            for table, sql in _BATCH[kind]:
                async with self.conn.execute(sql, {"ids": ids, "g": guild}) as cur:
                    names = [d[0] for d in cur.description][1:]
                    for r in await cur.fetchall():
                        snaps[(kind, r[0])]["rows"][table].append(dict(zip(names, tuple(r)[1:])))
        return [snaps[t] for t in targets]

    # -- full-text index ------------------------------------------------------------------------------------------

    async def _reindex(self, story_ids: Iterable[str], written: tuple[CorpusFile, int, set[str]] | None = None) -> None:
        """Rebuild the full-text rows of these stories: ``search_story`` (one row per story and contributing server:
        title, and the rest one per line, with their stems), ``search_passage`` (one row per article passage), and
        the ``search_rows`` map that finds them again by story.

        ``written``: (the file just written, its server, the ids of the stories it created).  A story created by
        the file has exactly the file's rows (nothing else could refer to it before), so those are taken from the
        file instead of being read back, and it has no index rows to delete."""
        async def last_rowid(fts: str) -> int:
            rows = await self._fetch(f"SELECT rowid FROM {fts} ORDER BY rowid DESC LIMIT 1")  # noqa: S608
            return int(rows[0][0]) if rows else 0

        created: set[str] = set()
        new_stories: dict[str, Story] = {}
        new_claims: dict[str, list[Claim]] = {}
        new_articles: dict[str, list[Article]] = {}
        written_guild = GLOBAL
        if written is not None:
            file, written_guild, created = written
            # Deduplicated by id the way the upserts were (first position, last values).
            new_stories = {x.id: x for x in file.stories if x.id in created}
            for c in {x.id: x for x in file.claims}.values():
                if c.story in created:
                    new_claims.setdefault(c.story, []).append(c)
            for a in {x.id: x for x in file.articles}.values():
                if a.story in created:
                    new_articles.setdefault(a.story, []).append(a)
        ids = list(dict.fromkeys(story_ids))
        for chunk in _chunks(ids, 1000):  # large chunks: each is one insert per index, overlapped with its stems
            old = [x for x in chunk if x not in created]
            new = [x for x in chunk if x in created]
            marks = ",".join("?" * len(old))
            story_src = [(x, written_guild, new_stories[x].title, new_stories[x].summary) for x in new if x in new_stories]
            claim_src = [(c.id, c.story, written_guild, c.text) for x in new for c in new_claims.get(x, ())]
            article_src = [(a.id, a.story, written_guild, a.title, a.text) for x in new for a in new_articles.get(x, ())]
            # Every story re-indexed here (also one left with no rows) goes to the log running matchers update their
            # index from, with its story-index rows as they are before this change (schema v5: the matcher takes
            # their terms out of its document frequencies; '[]' for a story created by this file, which has none).
            await self.conn.execute(_LOG_REINDEXED, (json.dumps(chunk),))
            if old:
                for fts in ("search_passage", "search_story"):
                    await self.conn.execute(
                        f"DELETE FROM {fts} WHERE rowid IN (SELECT row FROM search_rows WHERE fts = ? AND story_id IN ({marks}))",  # noqa: S608
                        (fts, *old),
                    )
                await self.conn.execute(f"DELETE FROM search_rows WHERE story_id IN ({marks})", old)  # noqa: S608
                story_src += await self._fetch(f"SELECT id, guild_id, title, summary FROM stories WHERE id IN ({marks})", old)  # noqa: S608
                claim_src += await self._fetch(f"SELECT id, story_id, guild_id, text FROM claims WHERE story_id IN ({marks})", old)  # noqa: S608
                article_src += await self._fetch(
                    f"SELECT id, story_id, guild_id, title, text FROM articles WHERE story_id IN ({marks})", old)  # noqa: S608
            rows: list[tuple[str, str, str, int]] = []  # passages: (text, article, story, server)
            # (story, guild) -> [title, body lines]
            docs: dict[tuple[str, int], list[Any]] = {}

            def doc(story_id: str, guild: int) -> list[Any]:
                return docs.setdefault((story_id, guild), ["", []])

            for r in story_src:
                doc(r[0], r[1])[0] = r[2]
                if r[3]:
                    doc(r[0], r[1])[1].append(r[3])
            for r in claim_src:
                doc(r[1], r[2])[1].append(r[3])
            for r in article_src:
                if r[3]:
                    doc(r[1], r[2])[1].append(r[3])
                for p in passages(r[4]):
                    rows.append((p, r[0], r[1], r[2]))
            pending = []
            if rows:
                base = await last_rowid("search_passage")
                # The rows go to a scratch table first (row by row, while no other thread wants the GIL), then into
                # the index with one statement: SQLite tokenises them in a single step on the connection's thread,
                # never taking Python's GIL back, while the stems of the story rows are computed in a worker thread.
                # (Inserted row by row into the index, the two threads fought over the GIL: three times as long.)
                await self.conn.execute(_SCRATCH)
                await self.conn.execute("DELETE FROM temp.passage_new")
                await self.conn.executemany("INSERT INTO temp.passage_new VALUES (?, ?, ?, ?, ?)",
                                            [(base + i, *row) for i, row in enumerate(rows, start=1)])
                pending = [asyncio.ensure_future(self.conn.execute(sql)) for sql in (_INSERT_PASSAGES, _INSERT_PASSAGE_ROWS)]
                await asyncio.sleep(0)
            # Stemming is CPU work: a worker thread does it, so a large import never stalls the event loop.
            try:
                story_rows = await asyncio.to_thread(_story_rows, docs)
            finally:
                for fut in pending:  # never leave a statement of this transaction running unawaited
                    await fut
            if rows:
                await self.conn.execute("DELETE FROM temp.passage_new")
            if story_rows:
                base = await last_rowid("search_story")
                await self.conn.executemany(
                    "INSERT INTO search_story (rowid, title, body, terms, story_id, guild_id) VALUES (?, ?, ?, ?, ?, ?)",
                    [(base + i, *r) for i, r in enumerate(story_rows, start=1)],
                )
                await self.conn.executemany(
                    "INSERT INTO search_rows (fts, row, story_id) VALUES ('search_story', ?, ?)",
                    [(base + i, r[3]) for i, r in enumerate(story_rows, start=1)],
                )
        await self.conn.execute("DELETE FROM index_changes WHERE id <= (SELECT max(id) FROM index_changes) - ?",
                                (INDEX_CHANGES_KEPT,))
        await self.conn.execute("UPDATE index_changes SET old_rows = NULL "
                                "WHERE id <= (SELECT max(id) FROM index_changes) - ? AND old_rows IS NOT NULL",
                                (INDEX_CHANGE_ROWS_KEPT,))

    # -- applying a corpus file (seed, import, every add/edit) ----------------------------------------------------

    async def apply(
        self,
        file: CorpusFile,
        actor: Actor,
        *,
        action: str = "import",
        progress: Progress | None = None,
        audit: bool = True,
    ) -> ApplyResult:
        """Insert or update every record of ``file`` as ``actor``'s server, all or nothing."""
        guild = actor.guild_id
        async with self._transaction():
            await self._check_ownership(file, guild)
            attached = await self._attached_stories(file, guild)
            touched_stories = {s.id for s in file.stories} | {a.story for a in file.articles} | {
                c.story for c in file.claims
            } | set(attached)
            # An article or claim the file moves to another story leaves its old story: that one changes too (its
            # index rows, and undo must put the record back there).
            touched_stories |= await self._current_stories(file)
            before: list[dict[str, Any]] = []
            existing = set(await self._owners("stories", sorted(touched_stories)))
            if audit:
                # Snapshots of the stories that exist (this server's, or global ones it attaches records to).
                before += await self._snapshots((("story", s) for s in sorted(existing)), guild)
                # Stories new in this file need no snapshot: an empty one means "did not exist" on undo.
                before += [
                    {"kind": "story", "id": s, "guild": guild, "rows": {}}
                    for s in sorted(touched_stories - existing)
                ]
                before += await self._snapshots(
                    (("outlet", o) for o in [o.id for o in file.outlets] + [r.outlet for r in file.ratings]), guild
                )
            total = len(file.outlets) + len(file.stories) + len(file.articles) + len(file.claims)
            done = 0

            def tick(n: int) -> None:
                nonlocal done
                done += n
                if progress:
                    progress(done, total)

            await self._write_outlets(file.outlets, guild)
            tick(len(file.outlets))
            await self._write_stories(file.stories, guild)
            tick(len(file.stories))
            for chunk in _chunks(file.articles, 500):
                await self._write_articles(chunk, guild)
                tick(len(chunk))
            await self._write_claims(file.claims, guild)
            tick(len(file.claims))
            await self._write_attached(file, guild)
            await self._reindex(sorted(touched_stories), (file, guild, touched_stories - existing))
            result = ApplyResult(len(file.outlets), len(file.stories), len(file.articles), len(file.claims))
            if audit:
                target = next(iter(touched_stories)) if len(touched_stories) == 1 and not file.outlets else "*"
                result.audit_id = await self._audit(actor, action, "corpus", target, before, result.describe())
        return result

    async def _current_stories(self, file: CorpusFile) -> set[str]:
        """The stories the file's articles and claims that exist already are in now (before the change)."""
        out: set[str] = set()
        for table, recs in (("articles", file.articles), ("claims", file.claims)):
            ids = [r.id for r in recs]
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                out.update(r[0] for r in await self._fetch(
                    f"SELECT DISTINCT story_id FROM {table} WHERE id IN ({marks})", chunk))  # noqa: S608
        return out

    async def _attached_stories(self, file: CorpusFile, guild: int) -> dict[str, int]:
        """Story id -> owner for the file's attached questions and positions; refuses what the server cannot see.

        Attached records (``questions``, ``positions``, ``ratings``) are a server's additions to records that are not
        in the file, typically global ones: they are checked here, before anything is written."""
        in_file = {s.id for s in file.stories}
        out: dict[str, int] = {}
        hidden = set()
        if guild:
            hidden = {r[0] for r in await self._fetch("SELECT story_id FROM hidden_stories WHERE guild_id = ?", (guild,))}
        owners = await self._owners("stories", sorted({q.story for q in file.questions} - in_file))
        for i, q in enumerate(file.questions):
            owner = GLOBAL if q.story in in_file and not owners.get(q.story) else owners.get(q.story)
            if q.story not in in_file and owner not in (GLOBAL, guild):
                raise CorpusError(f"questions[{i}].story: unknown story {q.story!r}")
            if q.story in hidden:
                raise CorpusError(f"questions[{i}].story: story {q.story!r} is hidden on this server")
            if q.story not in in_file:
                out[q.story] = owner
        file_questions = {q.id for s in file.stories for q in s.questions} | {q.id for q in file.questions}
        for i, p in enumerate(file.positions):
            if p.question in file_questions:
                raise CorpusError(f"positions[{i}].question: put positions of {p.question!r} in that question instead")
            rows = await self._fetch(
                "SELECT q.story_id, s.guild_id FROM questions q JOIN stories s ON s.id = q.story_id "
                "WHERE q.id = ? AND q.guild_id IN (?, ?)", (p.question, GLOBAL, guild))
            if not rows or rows[0][1] not in (GLOBAL, guild) or rows[0][0] in hidden:
                raise CorpusError(f"positions[{i}].question: unknown question {p.question!r}")
            out[rows[0][0]] = rows[0][1]
        article_ids = {a.id for a in file.articles}
        for i, p in enumerate([*file.positions, *(p for q in file.questions for p in q.positions)]):
            for ref in list(p.articles) + [e.article for e in p.evidence]:
                if ref not in article_ids and not await self._visible_article(ref, guild):
                    raise CorpusError(f"positions[{p.id}].articles: unknown article {ref!r}")
        outlet_ids = {o.id for o in file.outlets}
        owners = await self._owners("outlets", sorted({r.outlet for r in file.ratings} - outlet_ids))
        for i, r in enumerate(file.ratings):
            if r.outlet not in outlet_ids and owners.get(r.outlet) not in (GLOBAL, guild):
                raise CorpusError(f"ratings[{i}].outlet: unknown outlet {r.outlet!r}")
        return out

    async def _ord(self, table: str, record_id: str, parent_col: str, parent_id: str) -> int:
        """A record's place among its parent's: kept if it exists, else after the last one.  ``table`` and
        ``parent_col`` are this module's constants."""
        rows = await self._fetch(f"SELECT ord FROM {table} WHERE id = ?", (record_id,))  # noqa: S608
        if rows:
            return rows[0][0]
        sql = f"SELECT coalesce(max(ord) + 1, 0) FROM {table} WHERE {parent_col} = ?"  # noqa: S608
        return (await self._fetch(sql, (parent_id,)))[0][0]

    async def _write_attached(self, file: CorpusFile, guild: int) -> None:
        for q in file.questions:
            ord_ = await self._ord("questions", q.id, "story_id", q.story)
            await self._write_question(q.story, Question.model_validate(q.model_dump(exclude={"story"})), guild, ord_)
        for p in file.positions:
            ord_ = await self._ord("positions", p.id, "question_id", p.question)
            await self._write_position(p.question, Position.model_validate(p.model_dump(exclude={"question"})), guild, ord_)
        for r in file.ratings:
            await self.conn.execute(
                "INSERT INTO outlet_ratings (outlet_id, guild_id, rating) VALUES (?, ?, ?) "
                "ON CONFLICT(outlet_id, guild_id) DO UPDATE SET rating = excluded.rating",
                (r.outlet, guild, r.rating.model_dump_json(exclude_none=True)),
            )

    async def _check_ownership(self, file: CorpusFile, guild: int) -> None:
        def deny(kind: str, i: int, rec_id: str, owner: int) -> CorpusError:
            if owner == GLOBAL:
                return PermissionDenied(
                    f"{kind}[{i}].id: {rec_id!r} is part of the global corpus; only the bot owner can change it"
                )
            return PermissionDenied(f"{kind}[{i}].id: {rec_id!r} is already taken; choose another id")

        for kind, table in (("outlets", "outlets"), ("stories", "stories"), ("articles", "articles"), ("claims", "claims")):
            recs = getattr(file, kind)
            owners = await self._owners(table, [r.id for r in recs])
            for i, r in enumerate(recs):
                owner = owners.get(r.id)
                if owner is not None and owner != guild:
                    raise deny(kind, i, r.id, owner)
        # References: stories and outlets must exist in the file or be visible to this server.
        story_ids = {s.id for s in file.stories}
        refs = {a.story for a in file.articles} | {c.story for c in file.claims}
        story_owners = await self._owners("stories", sorted(refs - story_ids))
        outlet_ids = {o.id for o in file.outlets}
        outlet_owners = await self._owners("outlets", sorted({a.outlet for a in file.articles} - outlet_ids))
        hidden = set()
        if guild:
            hidden = {r[0] for r in await self._fetch("SELECT story_id FROM hidden_stories WHERE guild_id = ?", (guild,))}
        for i, a in enumerate(file.articles):
            if a.story not in story_ids and story_owners.get(a.story) not in (GLOBAL, guild):
                raise CorpusError(f"articles[{i}].story: unknown story {a.story!r}")
            if a.story in hidden:
                raise CorpusError(f"articles[{i}].story: story {a.story!r} is hidden on this server")
            if a.outlet not in outlet_ids and outlet_owners.get(a.outlet) not in (GLOBAL, guild):
                raise CorpusError(f"articles[{i}].outlet: unknown outlet {a.outlet!r}")
        article_ids = {a.id for a in file.articles}
        claim_refs = sorted({x for c in file.claims for x in c.articles} - article_ids)
        article_owners = await self._owners("articles", claim_refs)
        for i, c in enumerate(file.claims):
            if c.story not in story_ids and story_owners.get(c.story) not in (GLOBAL, guild):
                raise CorpusError(f"claims[{i}].story: unknown story {c.story!r}")
            for ref in c.articles:
                if ref not in article_ids and article_owners.get(ref) not in (GLOBAL, guild):
                    raise CorpusError(f"claims[{i}].articles: unknown article {ref!r}")
        for i, s in enumerate(file.stories):
            for q in s.questions:
                for p in q.positions:
                    for ref in list(p.articles) + [e.article for e in p.evidence]:
                        if ref not in article_ids and not await self._visible_article(ref, guild):
                            raise CorpusError(f"stories[{i}].questions[{q.id}].positions[{p.id}]: unknown article {ref!r}")
        await self._check_nested_ids([(f"stories[{i}]", s.id, s.questions) for i, s in enumerate(file.stories)], guild)
        for i, s in enumerate(file.stories):
            entity_ids: set[str] = set()
            for e in s.entities:
                if e.id in entity_ids:
                    raise CorpusError(f"stories[{i}].entities: duplicate id {e.id!r}")
                entity_ids.add(e.id)
        # Domains: another server's (or the global) outlet may already own a domain; a server then keeps its own.
        domain_owner: dict[str, int] = {}
        for i, o in enumerate(file.outlets):
            for d in o.domains:
                if domain_owner.setdefault(d, i) != i:
                    raise CorpusError(f"outlets[{i}].domains: {d!r} is also a domain of outlets[{domain_owner[d]}]")
                rows = await self._fetch("SELECT outlet_id FROM outlet_domains WHERE domain = ? AND guild_id = ?", (d, guild))
                if rows and rows[0][0] != o.id:
                    raise CorpusError(f"outlets[{i}].domains: {d!r} already belongs to outlet {rows[0][0]!r}")

    async def _check_nested_ids(self, stories: Sequence[tuple[str, str, Sequence[Question]]], guild: int) -> None:
        """Question and position ids are unique within a change, belong to this server, and an existing one stays
        under the same story (question) or question (position): an upsert must never silently move or merge them.

        ``stories``: (where in the file, story id, its questions)."""
        seen_q: dict[str, str] = {}
        seen_p: dict[str, str] = {}
        for where, _story, questions in stories:
            for q in questions:
                if q.id in seen_q:
                    raise CorpusError(f"{where}.questions[{q.id}]: duplicate id (also in {seen_q[q.id]})")
                seen_q[q.id] = where
                for p in q.positions:
                    if p.id in seen_p:
                        raise CorpusError(f"{where}.questions[{q.id}].positions[{p.id}]: duplicate id "
                                          f"(also under question {seen_p[p.id]!r})")
                    seen_p[p.id] = q.id
        q_rows: dict[str, tuple[str, int]] = {}
        for chunk in _chunks(list(seen_q)):
            marks = ",".join("?" * len(chunk))
            for r in await self._fetch(f"SELECT id, story_id, guild_id FROM questions WHERE id IN ({marks})", chunk):  # noqa: S608
                q_rows[r[0]] = (r[1], r[2])
        p_rows: dict[str, tuple[str, int]] = {}
        for chunk in _chunks(list(seen_p)):
            marks = ",".join("?" * len(chunk))
            for r in await self._fetch(f"SELECT id, question_id, guild_id FROM positions WHERE id IN ({marks})", chunk):  # noqa: S608
                p_rows[r[0]] = (r[1], r[2])
        for where, story_id, questions in stories:
            for q in questions:
                if q.id in q_rows:
                    owner_story, owner = q_rows[q.id]
                    if owner != guild:
                        raise PermissionDenied(f"{where}.questions[{q.id}]: id belongs to another server or the global "
                                               "corpus; choose another id")
                    if owner_story != story_id:
                        raise CorpusError(f"{where}.questions[{q.id}]: id is taken by a question of story "
                                          f"{owner_story!r}; choose another id")
                for p in q.positions:
                    if p.id in p_rows:
                        owner_q, owner = p_rows[p.id]
                        if owner != guild:
                            raise PermissionDenied(f"{where}.questions[{q.id}].positions[{p.id}]: id belongs to another "
                                                   "server or the global corpus; choose another id")
                        if owner_q != q.id:
                            raise CorpusError(f"{where}.questions[{q.id}].positions[{p.id}]: id is taken by a position "
                                              f"of question {owner_q!r}; choose another id")

    async def _visible_article(self, article_id: str, guild: int) -> bool:
        rows = await self._fetch("SELECT 1 FROM articles WHERE id = ? AND guild_id IN (?, ?)", (article_id, GLOBAL, guild))
        return bool(rows)

    async def _write_outlets(self, outlets: Sequence[Outlet], guild: int) -> None:
        for o in outlets:
            await self.conn.execute(
                "INSERT INTO outlets (id, guild_id, name, type) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET name = excluded.name, type = excluded.type",
                (o.id, guild, o.name, o.type.value),
            )
            await self.conn.execute("DELETE FROM outlet_domains WHERE outlet_id = ? AND guild_id = ?", (o.id, guild))
            await self.conn.executemany(
                "INSERT INTO outlet_domains (domain, guild_id, outlet_id) VALUES (?, ?, ?)",
                [(d, guild, o.id) for d in o.domains],
            )
            if o.rating is not None and not o.rating.is_empty():
                await self.conn.execute(
                    "INSERT INTO outlet_ratings (outlet_id, guild_id, rating) VALUES (?, ?, ?) "
                    "ON CONFLICT(outlet_id, guild_id) DO UPDATE SET rating = excluded.rating",
                    (o.id, guild, o.rating.model_dump_json(exclude_none=True)),
                )

    async def _write_stories(self, stories: Sequence[Story], guild: int) -> None:
        if not stories:
            return
        await self.conn.executemany(
            "INSERT INTO stories (id, guild_id, title, summary, first_seen, last_seen, topic_terms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET title = excluded.title, "
            "summary = excluded.summary, first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
            "topic_terms = excluded.topic_terms",
            [
                (s.id, guild, s.title, s.summary, _iso(s.first_seen), _iso(s.last_seen), json.dumps(s.topic_terms, ensure_ascii=False))
                for s in stories
            ],
        )
        ids = [s.id for s in stories]
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            await self.conn.execute(f"DELETE FROM entities WHERE story_id IN ({marks})", chunk)  # noqa: S608
            await self.conn.execute(
                f"DELETE FROM questions WHERE guild_id = ? AND story_id IN ({marks})", (guild, *chunk)  # noqa: S608
            )
        await self.conn.executemany(
            "INSERT INTO entities (story_id, id, name, kind, aliases, core, ord) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (s.id, e.id, e.name, e.kind.value, json.dumps(e.aliases, ensure_ascii=False), int(e.core), i)
                for s in stories
                for i, e in enumerate(s.entities)
            ],
        )
        for s in stories:
            for i, q in enumerate(s.questions):
                await self._write_question(s.id, q, guild, i)

    async def _write_question(self, story_id: str, q: Question, guild: int, ord_: int) -> None:
        owners = await self._owners("questions", [q.id])
        if q.id in owners and (owners[q.id] != guild):
            raise PermissionDenied(f"question {q.id!r} belongs to another server or the global corpus")
        await self.conn.execute(
            "INSERT INTO questions (id, story_id, guild_id, text, kind, ord) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET text = excluded.text, kind = excluded.kind, ord = excluded.ord",
            (q.id, story_id, guild, q.text, q.kind.value, ord_),
        )
        await self.conn.execute("DELETE FROM positions WHERE question_id = ? AND guild_id = ?", (q.id, guild))
        for j, p in enumerate(q.positions):
            await self._write_position(q.id, p, guild, j)

    async def _write_position(self, question_id: str, p: Position, guild: int, ord_: int) -> None:
        owners = await self._owners("positions", [p.id])
        if p.id in owners and owners[p.id] != guild:
            raise PermissionDenied(f"position {p.id!r} belongs to another server or the global corpus")
        await self.conn.execute(
            "INSERT INTO positions (id, question_id, guild_id, statement, articles, evidence, status, ord) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET statement = excluded.statement, "
            "articles = excluded.articles, evidence = excluded.evidence, status = excluded.status",
            (
                p.id,
                question_id,
                guild,
                p.statement,
                json.dumps(p.articles),
                json.dumps([e.model_dump() for e in p.evidence], ensure_ascii=False),
                p.status.value,
                ord_,
            ),
        )

    async def _write_articles(self, articles: Sequence[Article], guild: int) -> None:
        await self.conn.executemany(
            "INSERT INTO articles (id, story_id, outlet_id, guild_id, title, url, canonical_url, published, author, "
            "language, role, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "story_id = excluded.story_id, outlet_id = excluded.outlet_id, title = excluded.title, url = excluded.url, "
            "canonical_url = excluded.canonical_url, published = excluded.published, author = excluded.author, "
            "language = excluded.language, role = excluded.role, text = excluded.text",
            [
                (
                    a.id, a.story, a.outlet, guild, a.title, a.url, a.canonical_url, _iso(a.published), a.author,
                    a.language, a.role.value, a.text,
                )
                for a in articles
            ],
        )

    async def _write_claims(self, claims: Sequence[Claim], guild: int) -> None:
        if not claims:
            return
        await self.conn.executemany(
            "INSERT INTO claims (id, story_id, guild_id, text, verdict, claimant, reviewed_by, review_url, review_date) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET story_id = excluded.story_id, "
            "text = excluded.text, verdict = excluded.verdict, claimant = excluded.claimant, "
            "reviewed_by = excluded.reviewed_by, review_url = excluded.review_url, review_date = excluded.review_date",
            [
                (c.id, c.story, guild, c.text, c.verdict, c.claimant, c.reviewed_by, c.review_url, _iso(c.review_date))
                for c in claims
            ],
        )
        for chunk in _chunks([c.id for c in claims]):
            marks = ",".join("?" * len(chunk))
            await self.conn.execute(f"DELETE FROM claim_articles WHERE claim_id IN ({marks})", chunk)  # noqa: S608
        await self.conn.executemany(
            "INSERT INTO claim_articles (claim_id, article_id) VALUES (?, ?)",
            [(c.id, a) for c in claims for a in dict.fromkeys(c.articles)],
        )

    # -- single edits ---------------------------------------------------------------------------------------------

    async def _story_for_edit(self, story_id: str, guild: int) -> int:
        """The owner of a story this server may attach things to; raises if it cannot see it."""
        rows = await self._fetch("SELECT guild_id FROM stories WHERE id = ?", (story_id,))
        if not rows or rows[0][0] not in (GLOBAL, guild):
            raise CorpusError(f"unknown story {story_id!r}")
        return rows[0][0]

    async def upsert_question(self, story_id: str, question: Question, actor: Actor) -> int:
        """Add or replace one question (with its positions) of a visible story, as the actor's server."""
        guild = actor.guild_id
        async with self._transaction():
            await self._story_for_edit(story_id, guild)
            await self._check_nested_ids([("question", story_id, [question])], guild)
            for p in question.positions:
                for ref in list(p.articles) + [e.article for e in p.evidence]:
                    if not await self._visible_article(ref, guild):
                        raise CorpusError(f"positions[{p.id}].articles: unknown article {ref!r}")
            before = await self._snapshots([("story", story_id)], guild)
            ord_ = await self._ord("questions", question.id, "story_id", story_id)
            await self._write_question(story_id, question, guild, ord_)
            return await self._audit(actor, "question", "question", question.id, before, f"question {question.id} on {story_id}")

    async def upsert_position(self, question_id: str, position: Position, actor: Actor) -> int:
        guild = actor.guild_id
        async with self._transaction():
            rows = await self._fetch(
                "SELECT q.story_id, q.guild_id FROM questions q JOIN stories s ON s.id = q.story_id WHERE q.id = ?",
                (question_id,),
            )
            if not rows or rows[0][1] not in (GLOBAL, guild):
                raise CorpusError(f"unknown question {question_id!r}")
            story_id = rows[0][0]
            for ref in list(position.articles) + [e.article for e in position.evidence]:
                if not await self._visible_article(ref, guild):
                    raise CorpusError(f"position.articles: unknown article {ref!r}")
            before = await self._snapshots([("story", story_id)], guild)
            existing = await self._fetch("SELECT question_id, guild_id FROM positions WHERE id = ?", (position.id,))
            if existing and existing[0][1] == guild and existing[0][0] != question_id:
                raise CorpusError(f"position {position.id!r} is taken by question {existing[0][0]!r}; choose another id")
            ord_ = await self._ord("positions", position.id, "question_id", question_id)
            await self._write_position(question_id, position, guild, ord_)
            return await self._audit(actor, "position", "position", position.id, before, f"position {position.id} on {question_id}")

    async def merge_positions(self, keep_id: str, merge_id: str, actor: Actor) -> Position:
        """Fold position ``merge_id`` into ``keep_id`` (same question, both the actor's server's): the kept one gains
        the other's articles and evidence, the other is removed.  One audited, undoable change."""
        guild = actor.guild_id
        if keep_id == merge_id:
            raise CorpusError("merge: choose two different positions")
        async with self._transaction():
            rows = {r["id"]: r for r in await self._fetch(
                "SELECT p.*, q.story_id FROM positions p JOIN questions q ON q.id = p.question_id WHERE p.id IN (?, ?)",
                (keep_id, merge_id))}
            for pid in (keep_id, merge_id):
                if pid not in rows or rows[pid]["guild_id"] not in (GLOBAL, guild):
                    raise CorpusError(f"unknown position {pid!r}")  # another server's: not even its existence
                if rows[pid]["guild_id"] != guild:
                    raise PermissionDenied(f"position {pid!r} is part of the global corpus")
            keep, other = rows[keep_id], rows[merge_id]
            if keep["question_id"] != other["question_id"]:
                raise CorpusError("merge: the two positions answer different questions")
            before = await self._snapshots([("story", keep["story_id"])], guild)
            a, b = row_position(keep), row_position(other)
            merged = a.model_copy(update={
                "articles": list(dict.fromkeys([*a.articles, *b.articles])),
                "evidence": list({(e.article, e.quote): e for e in [*a.evidence, *b.evidence]}.values()),
            })
            await self._write_position(keep["question_id"], merged, guild, keep["ord"])
            await self.conn.execute("DELETE FROM positions WHERE id = ?", (merge_id,))
            await self._audit(actor, "merge", "position", keep_id, before, f"merged {merge_id} into {keep_id}")
        return merged

    async def rate_outlet(self, outlet_id: str, field: str, entry: RatingEntry | None, actor: Actor) -> OutletRating:
        """Set (or clear, with None) one rating field or flag ("flag:satire") of an outlet for the actor's server."""
        guild = actor.guild_id
        flag = None
        if field.startswith("flag:"):
            try:
                flag = OutletFlag(field[5:])
            except ValueError as exc:
                raise CorpusError(f"field: unknown flag {field[5:]!r} (one of {', '.join(f.value for f in OutletFlag)})") from exc
        elif field not in RATING_FIELDS:
            raise CorpusError(f"field: unknown rating field {field!r} (one of {', '.join(RATING_FIELDS)})")
        async with self._transaction():
            rows = await self._fetch("SELECT guild_id FROM outlets WHERE id = ?", (outlet_id,))
            if not rows or rows[0][0] not in (GLOBAL, guild):
                raise CorpusError(f"unknown outlet {outlet_id!r}")
            before = await self._snapshots([("outlet", outlet_id)], guild)
            cur = await self._fetch("SELECT rating FROM outlet_ratings WHERE outlet_id = ? AND guild_id = ?", (outlet_id, guild))
            rating = OutletRating.model_validate_json(cur[0][0]) if cur else OutletRating()
            if entry is not None and entry.set_at is None:
                entry = entry.model_copy(update={"set_at": datetime.now(UTC).replace(microsecond=0)})
            if flag is not None:
                flags = dict(rating.flags)
                if entry is None:
                    flags.pop(flag, None)
                else:
                    flags[flag] = entry
                rating = rating.model_copy(update={"flags": flags})
            else:
                rating = rating.model_copy(update={field: entry})
            await self.conn.execute(
                "INSERT INTO outlet_ratings (outlet_id, guild_id, rating) VALUES (?, ?, ?) "
                "ON CONFLICT(outlet_id, guild_id) DO UPDATE SET rating = excluded.rating",
                (outlet_id, guild, rating.model_dump_json(exclude_none=True)),
            )
            await self._audit(actor, "rate", "outlet", outlet_id, before, f"{field} = {entry.value if entry else '(cleared)'}")
        return rating

    async def remove(self, kind: str, record_id: str, actor: Actor) -> str:
        """Remove a story, article, claim, question, position or outlet owned by the actor's server."""
        guild = actor.guild_id
        tables = {"story": "stories", "article": "articles", "claim": "claims", "question": "questions",
                  "position": "positions", "outlet": "outlets"}
        if kind not in tables:
            raise CorpusError(f"kind: cannot remove a {kind!r}")
        async with self._transaction():
            rows = await self._fetch(f"SELECT guild_id FROM {tables[kind]} WHERE id = ?", (record_id,))  # noqa: S608
            if not rows:
                raise CorpusError(f"unknown {kind} {record_id!r}")
            if rows[0][0] != guild:
                if rows[0][0] == GLOBAL:
                    raise PermissionDenied(
                        f"{kind} {record_id!r} is part of the global corpus"
                        + ("; use hide to hide it on this server" if kind == "story" else "")
                    )
                raise CorpusError(f"unknown {kind} {record_id!r}")
            story_id = await self._story_of(kind, record_id)
            if kind == "outlet":
                used = await self._fetch("SELECT count(*) FROM articles WHERE outlet_id = ?", (record_id,))
                if used[0][0]:
                    raise CorpusError(f"outlet {record_id!r} still has {used[0][0]} article(s); remove them first")
                before = await self._snapshots([("outlet", record_id)], guild)
            else:
                before = await self._snapshots([("story", story_id)], guild)
            removed_articles: list[str] = []
            if kind == "article":
                removed_articles = [record_id]
            elif kind == "story":
                removed_articles = [r[0] for r in await self._fetch("SELECT id FROM articles WHERE story_id = ?", (record_id,))]
            if removed_articles:
                # This server's claims and positions in other stories may cite the removed articles: they change too
                # (claim links cascade, positions drop them), so undo must restore those stories as well.
                citing = await self._citing_stories(removed_articles, guild)
                before += await self._snapshots((("story", s) for s in citing if s != story_id), guild)
            if guild == GLOBAL:
                # The owner removes a global record: what servers attached to it (their articles, claims, questions
                # and positions on a global story, claim links to a global article, ratings of a global outlet) goes
                # with it (foreign keys cascade).  Their snapshots are kept too, marked as cascaded, so that undoing
                # the removal restores them as well.
                before += await self._cascaded_snapshots(kind, record_id, story_id, removed_articles)
            await self.conn.execute(f"DELETE FROM {tables[kind]} WHERE id = ?", (record_id,))  # noqa: S608
            for article_id in removed_articles:
                # Positions keep their JSON lists: drop the removed article from them.
                await self._drop_article_from_positions(article_id, guild)
            if story_id and kind != "story":
                await self._reindex([story_id])
            # (A removed story's index rows go with it: the stories_search_cleanup trigger, schema v2.)
            await self._audit(actor, "remove", kind, record_id, before, f"removed {kind} {record_id}")
        return story_id or record_id

    async def _cascaded_snapshots(self, kind: str, record_id: str, story_id: str | None,
                                  removed_articles: Sequence[str]) -> list[dict[str, Any]]:
        """Snapshots of the servers' rows that removing the global ``kind`` ``record_id`` deletes with it, one per
        server and story (or outlet), marked ``cascade`` (restored by the owner's undo)."""
        out: list[dict[str, Any]] = []
        if kind == "outlet":
            rows = await self._fetch(
                "SELECT guild_id FROM outlet_ratings WHERE outlet_id = :o AND guild_id != 0 UNION "
                "SELECT guild_id FROM outlet_domains WHERE outlet_id = :o AND guild_id != 0", {"o": record_id})
            for (g,) in rows:
                out += await self._snapshots([("outlet", record_id)], g)
        elif story_id:
            rows = await self._fetch(
                "SELECT guild_id FROM articles WHERE story_id = :s UNION SELECT guild_id FROM claims WHERE story_id = :s "
                "UNION SELECT guild_id FROM questions WHERE story_id = :s UNION SELECT p.guild_id FROM positions p "
                "JOIN questions q ON q.id = p.question_id WHERE q.story_id = :s UNION "
                "SELECT guild_id FROM hidden_stories WHERE story_id = :s", {"s": story_id})
            guilds = {g for (g,) in rows if g != GLOBAL}
            citing: dict[int, list[str]] = {}
            if removed_articles:
                for chunk in _chunks(list(removed_articles)):
                    marks = ",".join("?" * len(chunk))
                    for g, s in await self._fetch(
                            f"SELECT DISTINCT c.guild_id, c.story_id FROM claim_articles ca JOIN claims c "  # noqa: S608
                            f"ON c.id = ca.claim_id WHERE c.guild_id != 0 AND ca.article_id IN ({marks})", chunk):
                        if s != story_id:
                            citing.setdefault(g, []).append(s)
            for g in sorted(guilds | set(citing)):
                targets = ([("story", story_id)] if g in guilds else []) + [("story", x) for x in citing.get(g, [])]
                out += await self._snapshots(targets, g)
        return [{**snap, "cascade": True} for snap in out]

    async def _citing_stories(self, article_ids: Sequence[str], guild: int) -> list[str]:
        """Stories in which this server's claims or positions cite any of ``article_ids``."""
        out: dict[str, None] = {}
        for chunk in _chunks(list(article_ids)):
            marks = ",".join("?" * len(chunk))
            for r in await self._fetch(
                f"SELECT DISTINCT c.story_id FROM claim_articles ca JOIN claims c ON c.id = ca.claim_id "  # noqa: S608
                f"WHERE c.guild_id = ? AND ca.article_id IN ({marks})", (guild, *chunk)):
                out[r[0]] = None
        for article_id in article_ids:
            for r in await self._fetch(
                "SELECT p.articles, p.evidence, q.story_id FROM positions p JOIN questions q ON q.id = p.question_id "
                "WHERE p.guild_id = ? AND (p.articles LIKE ? OR p.evidence LIKE ?)",
                (guild, f'%"{article_id}"%', f'%"{article_id}"%')):
                pos = row_position({"id": "x", "statement": "x", "articles": r[0], "evidence": r[1], "status": "accepted"})
                if article_id in pos.articles or any(e.article == article_id for e in pos.evidence):
                    out[r[2]] = None
        return list(out)

    async def _drop_article_from_positions(self, article_id: str, guild: int) -> None:
        for r in await self._fetch("SELECT * FROM positions WHERE guild_id = ? AND (articles LIKE ? OR evidence LIKE ?)",
                                   (guild, f'%"{article_id}"%', f'%"{article_id}"%')):
            p = row_position(r)
            p = p.model_copy(update={
                "articles": [a for a in p.articles if a != article_id],
                "evidence": [e for e in p.evidence if e.article != article_id],
            })
            await self.conn.execute("UPDATE positions SET articles = ?, evidence = ? WHERE id = ?",
                                    (json.dumps(p.articles), json.dumps([e.model_dump() for e in p.evidence]), p.id))

    async def _story_of(self, kind: str, record_id: str) -> str | None:
        q = {
            "story": "SELECT id FROM stories WHERE id = ?",
            "article": "SELECT story_id FROM articles WHERE id = ?",
            "claim": "SELECT story_id FROM claims WHERE id = ?",
            "question": "SELECT story_id FROM questions WHERE id = ?",
            "position": "SELECT q.story_id FROM positions p JOIN questions q ON q.id = p.question_id WHERE p.id = ?",
        }.get(kind)
        if q is None:
            return None
        rows = await self._fetch(q, (record_id,))
        return rows[0][0] if rows else None

    async def hide_story(self, story_id: str, hidden: bool, actor: Actor) -> None:
        """Hide (or show again) a global story on the actor's server."""
        guild = actor.guild_id
        if not guild:
            raise CorpusError("hiding is per server; the bot owner removes global stories instead")
        async with self._transaction():
            rows = await self._fetch("SELECT guild_id FROM stories WHERE id = ?", (story_id,))
            if not rows or rows[0][0] not in (GLOBAL, guild):
                raise CorpusError(f"unknown story {story_id!r}")
            before = await self._snapshots([("story", story_id)], guild)
            if hidden:
                await self.conn.execute("INSERT OR IGNORE INTO hidden_stories (guild_id, story_id) VALUES (?, ?)", (guild, story_id))
            else:
                await self.conn.execute("DELETE FROM hidden_stories WHERE guild_id = ? AND story_id = ?", (guild, story_id))
            await self._audit(actor, "hide" if hidden else "unhide", "story", story_id, before, f"{'hid' if hidden else 'showed'} {story_id}")

    # -- audit and undo -------------------------------------------------------------------------------------------

    async def history(self, guild_id: int, limit: int = 20) -> list[AuditEntry]:
        rows = await self._fetch(
            "SELECT id, guild_id, actor_id, actor_name, action, target_kind, target_id, after, undone, created_at "
            "FROM audit_log WHERE guild_id = ? ORDER BY id DESC LIMIT ?",
            (guild_id, limit),
        )
        out = []
        for r in rows:
            summary = json.loads(r["after"] or "{}").get("summary", "")
            out.append(AuditEntry(r["id"], r["guild_id"], r["actor_id"], r["actor_name"], r["action"], r["target_kind"],
                                  r["target_id"], summary, bool(r["undone"]), r["created_at"]))
        return out

    async def undo(self, actor: Actor) -> AuditEntry | None:
        """Restore the state before the server's last change that is not undone yet; None if there is none."""
        guild = actor.guild_id
        async with self._transaction(bump=False):
            rows = await self._fetch(
                "SELECT * FROM audit_log WHERE guild_id = ? AND undone = 0 AND action != 'undo' ORDER BY id DESC LIMIT 1",
                (guild,),
            )
            if not rows:
                return None
            entry = rows[0]
            if entry["target_kind"] not in _NOT_CORPUS:
                await self.conn.execute("UPDATE corpus_version SET version = version + 1 WHERE id = 1")
            snaps = json.loads(entry["before"] or "[]")
            stories = []
            for snap in snaps:
                # Never restore another server's rows, except those the owner's removal of a global record deleted
                # with it (marked by the removal itself, in the owner's own audit entry).
                if snap["guild"] != guild and not (guild == GLOBAL and snap.get("cascade")):
                    continue
                await self._restore(snap["kind"], snap["id"], snap["guild"], snap["rows"])
                if snap["kind"] == "story":
                    stories.append(snap["id"])
            await self._reindex(stories)
            await self.conn.execute("UPDATE audit_log SET undone = 1 WHERE id = ?", (entry["id"],))
            summary = json.loads(entry["after"] or "{}").get("summary", "")
            await self._audit(actor, "undo", entry["target_kind"], entry["target_id"], [], f"undid #{entry['id']}: {summary}")
            return AuditEntry(entry["id"], guild, entry["actor_id"], entry["actor_name"], entry["action"],
                              entry["target_kind"], entry["target_id"], summary, True, entry["created_at"])

    # -- export ---------------------------------------------------------------------------------------------------

    async def export(self, guild_id: int = GLOBAL) -> CorpusFile:
        """Everything the server owns (guild 0: the global corpus) as a corpus file that imports back unchanged."""
        g = gid(guild_id)
        outlets = []
        for r in await self._fetch("SELECT id, name, type FROM outlets WHERE guild_id = ? ORDER BY id", (g,)):
            domains = [d[0] for d in await self._fetch("SELECT domain FROM outlet_domains WHERE outlet_id = ? AND guild_id = ? ORDER BY domain", (r[0], g))]
            rating_rows = await self._fetch("SELECT rating FROM outlet_ratings WHERE outlet_id = ? AND guild_id = ?", (r[0], g))
            rating = OutletRating.model_validate_json(rating_rows[0][0]) if rating_rows else None
            outlets.append(Outlet(id=r[0], name=r[1], type=r[2], domains=domains, rating=rating))
        # What this server added to records it does not own (global ones) goes in the attached lists.
        ratings = [
            RatingRecord(outlet=r[0], rating=OutletRating.model_validate_json(r[1]))
            for r in await self._fetch(
                "SELECT r.outlet_id, r.rating FROM outlet_ratings r JOIN outlets o ON o.id = r.outlet_id "
                "WHERE r.guild_id = ? AND o.guild_id != ? ORDER BY r.outlet_id", (g, g))
        ]
        attached_questions = []
        for q in await self._fetch(
            "SELECT q.* FROM questions q JOIN stories s ON s.id = q.story_id WHERE q.guild_id = ? AND s.guild_id != ? "
            "ORDER BY q.story_id, q.ord, q.rowid", (g, g)):
            positions = [row_position(p) for p in await self._fetch(
                "SELECT * FROM positions WHERE question_id = ? AND guild_id = ? ORDER BY ord, rowid", (q["id"], g))]
            attached_questions.append(AttachedQuestion(id=q["id"], story=q["story_id"], text=q["text"], kind=q["kind"],
                                                       positions=positions))
        attached_positions = [
            AttachedPosition(question=p["question_id"], **row_position(p).model_dump())
            for p in await self._fetch(
                "SELECT p.* FROM positions p JOIN questions q ON q.id = p.question_id WHERE p.guild_id = ? "
                "AND q.guild_id != ? ORDER BY p.question_id, p.ord, p.rowid", (g, g))
        ]
        stories = []
        for r in await self._fetch("SELECT * FROM stories WHERE guild_id = ? ORDER BY rowid", (g,)):
            entities = [row_entity(e) for e in await self._fetch("SELECT * FROM entities WHERE story_id = ? ORDER BY ord", (r["id"],))]
            questions = []
            for q in await self._fetch("SELECT * FROM questions WHERE story_id = ? AND guild_id = ? ORDER BY ord, rowid", (r["id"], g)):
                positions = [row_position(p) for p in await self._fetch(
                    "SELECT * FROM positions WHERE question_id = ? AND guild_id = ? ORDER BY ord, rowid", (q["id"], g))]
                questions.append(Question(id=q["id"], text=q["text"], kind=q["kind"], positions=positions))
            stories.append(row_story(r, entities, questions).model_copy(update={"guild_id": None}))
        articles = [row_article(r).model_copy(update={"guild_id": None})
                    for r in await self._fetch("SELECT * FROM articles WHERE guild_id = ? ORDER BY rowid", (g,))]
        claims = []
        for r in await self._fetch("SELECT * FROM claims WHERE guild_id = ? ORDER BY rowid", (g,)):
            arts = [a[0] for a in await self._fetch("SELECT article_id FROM claim_articles WHERE claim_id = ?", (r["id"],))]
            claims.append(row_claim(r, arts).model_copy(update={"guild_id": None}))
        return CorpusFile(outlets=outlets, stories=stories, articles=articles, claims=claims,
                          questions=attached_questions, positions=attached_positions, ratings=ratings)

    # -- maintenance ----------------------------------------------------------------------------------------------

    async def optimize_story_index(self) -> None:
        """Merge the story-level full-text index into one b-tree (FTS5 ``optimize``).  Imports in many chunks leave it
        in many segments, and a check then reads a term's postings from each; merged, a long paste's query reads
        far fewer pages (at 1M claims: long-paste p50 5.1 -> 2.9 ms on a cold page cache; 2.2 s to run).  Changes
        no rows, so neither the corpus version nor the audit log; readers keep reading meanwhile (WAL)."""
        async with self._transaction(bump=False) as conn:
            await conn.execute("INSERT INTO search_story(search_story) VALUES('optimize')")

    async def merge_after_import(self) -> bool:
        """``optimize_story_index`` at the end of an import (`crosscheck import`, a bulk `/corpus import`): the import
        is committed already, so a failure here is logged and never reported as a failed import.  True if merged."""
        try:
            await self.optimize_story_index()
        except Exception:  # noqa: BLE001
            log.warning("imported, but could not merge the story index (checks stay correct)", exc_info=True)
            return False
        return True

    # -- meta and seeding -----------------------------------------------------------------------------------------

    async def meta(self, key: str) -> str | None:
        rows = await self._fetch("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    async def seed(self, file: CorpusFile, fingerprint: str, *, force: bool = False) -> ApplyResult | None:
        """Load the seed corpus into the global corpus once per database (or again with ``force``).

        Returns None when the database was seeded before: seeding twice changes nothing.
        """
        if not force and await self.meta("seeded") is not None:
            return None
        result = await self.apply(file, Actor(GLOBAL, 0, "seed"), action="seed", audit=False)
        async with self._writing():
            await self.conn.execute(
                "INSERT INTO meta (key, value) VALUES ('seeded', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (fingerprint,),
            )
        return result

    # -- server settings, auto-reply channels, feedback -----------------------------------------------------------

    async def settings(self, guild_id: int) -> dict[str, Any]:
        rows = await self._fetch("SELECT moderator_role_id, threshold, ephemeral FROM guild_settings WHERE guild_id = ?", (guild_id,))
        if not rows:
            return {"moderator_role_id": None, "threshold": None, "ephemeral": False}
        r = rows[0]
        return {"moderator_role_id": r[0], "threshold": r[1], "ephemeral": bool(r[2])}

    async def set_settings(self, guild_id: int, *, actor: Actor | None = None, **values: Any) -> dict[str, Any]:
        """Change a server's settings; audited (who, when, before and after) and undoable like a corpus change.
        ``actor``: who changes them (a moderator of that server; unnamed when not given)."""
        allowed = {"moderator_role_id", "threshold", "ephemeral"}
        bad = set(values) - allowed
        if bad:
            raise CorpusError(f"unknown setting(s): {', '.join(sorted(bad))}")
        actor = self._settings_actor(guild_id, actor)
        async with self._transaction(bump=False):
            before = await self._snapshots([("settings", str(guild_id))], guild_id)
            old = await self.settings(guild_id)
            current = {**old, **values}
            await self.conn.execute(
                "INSERT INTO guild_settings (guild_id, moderator_role_id, threshold, ephemeral) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(guild_id) DO UPDATE SET moderator_role_id = excluded.moderator_role_id, "
                "threshold = excluded.threshold, ephemeral = excluded.ephemeral",
                (guild_id, current["moderator_role_id"], current["threshold"], int(bool(current["ephemeral"]))),
            )
            changed = {k: v for k, v in current.items() if old.get(k) != v}
            summary = "settings: " + (", ".join(f"{k} {old.get(k)!r} -> {v!r}" for k, v in changed.items()) or "unchanged")
            await self._audit(actor, "settings", "settings", str(guild_id), before, summary,
                              {"before": old, "after": current})
        return current

    async def set_autoreply(self, guild_id: int, channel_id: int, *, enabled: bool, threshold: float | None = None,
                            cooldown_s: int | None = None, actor: Actor | None = None) -> dict[str, Any]:
        """Turn auto-reply on or off in a channel of the server (and its threshold and cooldown); audited and
        undoable like a corpus change.  A channel another server configured is refused."""
        actor = self._settings_actor(guild_id, actor)
        async with self._transaction(bump=False):
            rows = await self._fetch("SELECT guild_id FROM autoreply_channels WHERE channel_id = ?", (channel_id,))
            if rows and rows[0][0] != guild_id:
                raise PermissionDenied("that channel belongs to another server")
            before = await self._snapshots([("autoreply", str(channel_id))], guild_id)
            old = (await self.autoreply_channels(guild_id)).get(channel_id)
            await self.conn.execute(
                "INSERT INTO autoreply_channels (channel_id, guild_id, enabled, threshold, cooldown_s) "
                "VALUES (?, ?, ?, ?, coalesce(?, 600)) ON CONFLICT(channel_id) DO UPDATE SET enabled = excluded.enabled, "
                "threshold = coalesce(?, autoreply_channels.threshold), cooldown_s = coalesce(?, autoreply_channels.cooldown_s)",
                (channel_id, guild_id, int(enabled), threshold, cooldown_s, threshold, cooldown_s),
            )
            new = (await self.autoreply_channels(guild_id))[channel_id]
            state = "on" if new["enabled"] else "off"
            await self._audit(actor, "autoreply", "autoreply", str(channel_id), before,
                              f"auto-reply {state} in channel {channel_id} (threshold {new['threshold']}, "
                              f"cooldown {new['cooldown_s']} s)", {"before": old, "after": new})
        return new

    @staticmethod
    def _settings_actor(guild_id: int, actor: Actor | None) -> Actor:
        if actor is None:
            return Actor(guild_id=guild_id, user_id=0, name="unknown")
        if actor.guild_id != guild_id:
            raise PermissionDenied("a server's settings are changed only by that server")
        return actor

    async def autoreply_channels(self, guild_id: int | None = None) -> dict[int, dict[str, Any]]:
        sql = "SELECT channel_id, guild_id, enabled, threshold, cooldown_s FROM autoreply_channels"
        rows = await self._fetch(sql + (" WHERE guild_id = ?" if guild_id is not None else ""),
                                 (guild_id,) if guild_id is not None else ())
        return {r[0]: {"channel_id": r[0], "guild_id": r[1], "enabled": bool(r[2]), "threshold": r[3], "cooldown_s": r[4]}
                for r in rows}

    async def add_feedback(self, guild_id: int, channel_id: int | None, user_id: int, story_id: str | None,
                           query: str, kind: str = "not_relevant") -> int:
        async with self._writing():
            cur = await self.conn.execute(
                "INSERT INTO feedback (guild_id, channel_id, user_id, story_id, query, kind) VALUES (?, ?, ?, ?, ?, ?)",
                (guild_id, channel_id, user_id, story_id, query[:2000], kind),
            )
            return cur.lastrowid

    async def feedback(self, guild_id: int, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self._fetch(
            "SELECT id, channel_id, user_id, story_id, query, kind, created_at FROM feedback WHERE guild_id = ? "
            "ORDER BY id DESC LIMIT ?", (guild_id, limit))
        return [dict(r) for r in rows]


async def run_with_corpus(path: str | Path, fn: Callable[[Corpus], Awaitable[Any]], *, check: str = "quick") -> Any:
    corpus = await Corpus.open(path, check=check)
    try:
        return await fn(corpus)
    finally:
        await corpus.close()
