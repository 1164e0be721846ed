"""Shared helpers for the reliability tests: table dumps (to prove "nothing changed"), small corpus files, actors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.models import Article, Claim, CorpusFile, Entity, Outlet, Story
from storage.corpus import Actor

A = Actor(guild_id=111, user_id=1, name="mod-a")
B = Actor(guild_id=222, user_id=2, name="mod-b")
OWNER = Actor(name="cli")

#: Tables whose content is the corpus (what "unchanged" means); audit_log/corpus_version are compared separately.
#: index_changes is a log for the matcher, like the audit log: an undo adds to it, it does not restore it.
_SKIP = ("audit_log", "corpus_version", "sqlite_sequence", "index_changes")


def table_dump(path: str | Path, *, with_audit: bool = False) -> dict[str, list[str]]:
    """Every row of every table (sorted reprs), the full-text index included: equal dumps mean equal corpora."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out: dict[str, list[str]] = {}
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'search%' AND name NOT LIKE 'sqlite_%'")]
        for name in names:
            if name in _SKIP and not (with_audit and name == "audit_log"):
                continue
            out[name] = sorted(map(repr, conn.execute(f"SELECT * FROM {name}").fetchall()))  # noqa: S608
        out["search"] = sorted(map(repr, conn.execute("SELECT text, ref_id, story_id, guild_id FROM search_passage")))
        out["search"] += sorted(repr((t, sorted(b.split("\n")) if b else [], s, g)) for t, b, s, g in
                                conn.execute("SELECT title, body, story_id, guild_id FROM search_story"))
        return out
    finally:
        conn.close()


def audit_rows(path: str | Path) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id, guild_id, actor_id, actor_name, action, target_kind, target_id, undone "
                            "FROM audit_log ORDER BY id").fetchall()
    finally:
        conn.close()


def small_file(prefix: str = "s", *, text: str = "The town council approved new bus lanes on Monday.") -> CorpusFile:
    return CorpusFile(
        outlets=[Outlet(id=f"{prefix}-outlet", name="Local Paper", domains=[f"{prefix}paper.example"], type="newspaper")],
        stories=[
            Story(id=f"{prefix}-story", title="Town council approves new bus lanes",
                  entities=[Entity(id="council", name="Town council", aliases=["council"])], topic_terms=["bus", "lanes"])
        ],
        articles=[
            Article(id=f"{prefix}-a1", story=f"{prefix}-story", outlet=f"{prefix}-outlet", title="Bus lanes approved",
                    url=f"https://{prefix}paper.example/bus-lanes", text=text)
        ],
        claims=[Claim(id=f"{prefix}-c1", story=f"{prefix}-story", text="The council approved bus lanes.",
                      articles=[f"{prefix}-a1"])],
    )


def big_file(n_claims: int, prefix: str = "bulk", per_story: int = 50) -> CorpusFile:
    """A corpus file of ``n_claims`` claims over ``n_claims / per_story`` stories, one article each (fast to build)."""
    n_stories = max(1, n_claims // per_story)
    outlets = [Outlet(id=f"{prefix}-o", name="Bulk Wire", domains=[f"{prefix}.example"], type="wire")]
    stories = [Story(id=f"{prefix}-s{i}", title=f"Bulk story number {i} about harbour cranes {i}") for i in range(n_stories)]
    articles = [Article(id=f"{prefix}-a{i}", story=f"{prefix}-s{i}", outlet=f"{prefix}-o", title=f"Cranes {i}",
                        url=f"https://{prefix}.example/cranes-{i}", text=f"Harbour crane report {i}. " * 5)
                for i in range(n_stories)]
    claims = [Claim(id=f"{prefix}-c{j}", story=f"{prefix}-s{j % n_stories}", text=f"Claim {j}: crane {j} was moved.",
                    articles=[f"{prefix}-a{j % n_stories}"]) for j in range(n_claims)]
    return CorpusFile(outlets=outlets, stories=stories, articles=articles, claims=claims)


class LongestCallback:
    """Context manager: the most CPU time (thread_time, so other processes do not count) any one event-loop callback
    took while it was active, and which callback that was.  Garbage-collection pauses inside a callback are counted
    apart (``gc_seconds``, the longest): they depend on the whole process's heap (a test process holds far more than
    the bot), not on the callback's own work."""

    def __enter__(self) -> LongestCallback:
        import asyncio
        import gc
        import time

        self.seconds, self.where, self.gc_seconds = 0.0, "", 0.0
        self._real = asyncio.events.Handle._run
        gc_total = [0.0]
        gc_start = [0.0]

        def on_gc(phase: str, info: dict) -> None:
            if phase == "start":
                gc_start[0] = time.thread_time()
            else:
                spent = time.thread_time() - gc_start[0]
                gc_total[0] += spent
                self.gc_seconds = max(self.gc_seconds, spent)

        def timed(handle: asyncio.events.Handle) -> None:
            g, t = gc_total[0], time.thread_time()
            self._real(handle)
            spent = time.thread_time() - t - (gc_total[0] - g)
            if spent > self.seconds:
                self.seconds, self.where = spent, repr(handle)[:200]

        self._on_gc = on_gc
        gc.callbacks.append(on_gc)
        asyncio.events.Handle._run = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        import asyncio
        import gc

        asyncio.events.Handle._run = self._real  # type: ignore[method-assign]
        gc.callbacks.remove(self._on_gc)
