"""Concurrency on one database file: checks in worker threads (the path the cogs use: asyncio.to_thread over
Checker), moderator edits through the async write side, a second write connection and `crosscheck import` in other
processes, all at once.  No "database is locked" reaches a caller; nothing is lost (rows and audit entries counted)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
from pathlib import Path

from bot.models import CorpusFile, Position, Question, RatingEntry
from bot.service import Checker
from storage.corpus import Actor, Corpus
from tests.conftest import SEED_STORY
from tests.reliability.helpers import big_file, small_file

ROOT = Path(__file__).resolve().parents[2]
GUILDS = [Actor(guild_id=1000 + i, user_id=i, name=f"mod-{i}") for i in range(4)]
QUERIES = ["Moscow inks defense pact with Kabul", "Russia and the Taliban sign a military agreement",
           "https://kabuldispatch.example/news/russia-afghanistan", "the council approved bus lanes",
           "nothing to see here at all", "#MoscowKabulPact Shoigu"]


async def _moderator(corpus: Corpus, actor: Actor, rounds: int) -> int:
    """Edits of every kind by one server; returns how many audited changes it made."""
    n = 0
    for r in range(rounds):
        prefix = f"g{actor.guild_id}r{r}"
        await corpus.apply(small_file(prefix), actor)
        await corpus.rate_outlet("kabul-dispatch", "bias", RatingEntry(value=f"v{r}"), actor)
        await corpus.upsert_question(SEED_STORY, Question(id=f"{prefix}-q", text="When?", positions=[
            Position(id=f"{prefix}-p", statement="Monday", articles=[f"{prefix}-a1"])]), actor)
        await corpus.hide_story(SEED_STORY, r % 2 == 0, actor)
        await corpus.remove("claim", f"{prefix}-c1", actor)
        await corpus.add_feedback(actor.guild_id, 1, actor.user_id, SEED_STORY, f"feedback {r}")
        n += 5
        if r % 3 == 2:
            assert await corpus.undo(actor) is not None  # undoes the remove
            n += 1
    return n


async def test_checks_edits_and_other_writers_at_once(seeded_path: Path, tmp_path: Path) -> None:
    corpus = await Corpus.open(seeded_path)
    other = await Corpus.open(seeded_path)  # a second write connection, like the CLI next to the running bot
    checker = Checker(corpus.reader)
    audit_before = sqlite3.connect(seeded_path).execute("SELECT count(*) FROM audit_log").fetchone()[0]
    import_file = tmp_path / "cli-import.json"
    import_file.write_text(big_file(1000, prefix="cli").model_dump_json(), encoding="utf-8")
    stop = threading.Event()
    sync_errors: list[BaseException] = []
    sync_checks = [0]

    def plain_thread_checks() -> None:
        """Threads of their own (not the executor), each with its own connection through the shared reader."""
        i = 0
        try:
            while not stop.is_set() and i < 30:
                checker.check(QUERIES[i % len(QUERIES)], GUILDS[i % len(GUILDS)].guild_id)
                i += 1
        except BaseException as exc:  # noqa: BLE001
            sync_errors.append(exc)
        sync_checks[0] += i

    threads = [threading.Thread(target=plain_thread_checks) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        async def checks(k: int) -> list:
            out = []
            for i in range(15):
                out.append(await asyncio.to_thread(checker.check, QUERIES[(i + k) % len(QUERIES)],
                                                   GUILDS[k % len(GUILDS)].guild_id))
            return out

        async def cli_import() -> tuple[int, bytes]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "--db", str(seeded_path), "import", str(import_file), cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": ""},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await proc.communicate()
            return proc.returncode, out + err

        async def other_writer() -> int:
            for r in range(10):
                await other.apply(small_file(f"other{r}"), Actor(guild_id=9999, user_id=9, name="other"))
            return 10

        results = await asyncio.gather(
            *(checks(k) for k in range(8)),
            *(_moderator(corpus, g, 4) for g in GUILDS),
            other_writer(),
            cli_import(),
            cli_import(),
            return_exceptions=True,
        )
    finally:
        stop.set()
        for t in threads:
            t.join()
    errors = [r for r in results if isinstance(r, BaseException)] + sync_errors
    assert not errors, errors
    reports = [r for batch in results[:8] for r in batch]
    assert len(reports) == 120
    assert any(m.story.id == SEED_STORY for r in reports for m in r.matches)
    for rc, output in results[-2:]:
        assert rc == 0 and b"imported" in output, output
    edits = sum(results[8:12]) + results[12]
    try:
        conn = sqlite3.connect(seeded_path)
        audits = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        assert audits == audit_before + edits + 2  # the two CLI imports are audited too
        assert conn.execute("SELECT count(*) FROM claims WHERE id LIKE 'cli-c%'").fetchone()[0] == 1000
        for g in GUILDS:
            own = conn.execute("SELECT count(*) FROM stories WHERE guild_id = ?", (g.guild_id,)).fetchone()[0]
            assert own == 4
            feedback = conn.execute("SELECT count(*) FROM feedback WHERE guild_id = ?", (g.guild_id,)).fetchone()[0]
            assert feedback == 4
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    finally:
        await corpus.close()
        await other.close()
    assert sync_checks[0] > 0


async def test_a_database_held_elsewhere_is_a_clear_busy_error_and_changes_nothing(seeded_path: Path) -> None:
    """Regression: when another process held the write lock past the busy timeout (a large CLI import), sqlite3's
    "database is locked" reached callers (a generic error in Discord).  Now: CorpusBusy, a CorpusError shown as is."""
    from storage.corpus import CorpusBusy
    from tests.reliability.helpers import table_dump

    corpus = await Corpus.open(seeded_path)
    await corpus.conn.execute("PRAGMA busy_timeout = 50")  # production waits 10 s first
    other = sqlite3.connect(seeded_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        before = table_dump(seeded_path, with_audit=True)
        g = GUILDS[0]
        for op in (lambda: corpus.apply(small_file("busy"), g), lambda: corpus.add_feedback(1, 1, 1, None, "q"),
                   lambda: corpus.set_settings(g.guild_id, threshold=60.0),
                   lambda: corpus.set_autoreply(g.guild_id, 42, enabled=True), lambda: corpus.undo(g)):
            try:
                await op()
            except CorpusBusy as exc:
                assert "Try again" in str(exc)
            else:
                raise AssertionError("a write went through while another process held the database")
        other.execute("ROLLBACK")
        assert table_dump(seeded_path, with_audit=True) == before
        await corpus.apply(small_file("busy"), g)  # and works again once the other writer is done
    finally:
        other.close()
        await corpus.close()
