"""Durability: pragmas as documented, a refused corrupt file, and a crash test — an import killed with SIGKILL at
random points leaves a database that opens, passes PRAGMA integrity_check and holds all of the import or none of it.

Sizes (CROSSCHECK_CRASH_CLAIMS, CROSSCHECK_CRASH_KILLS) default to what keeps the suite fast; the numbers in
docs/reliability.md come from CROSSCHECK_CRASH_CLAIMS=20000 CROSSCHECK_CRASH_KILLS=25.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import storage.db as storage_db
from storage.corpus import Corpus, CorpusBusy, CorpusDamaged
from storage.db import (
    BUSY_TIMEOUT_MS,
    IntegrityCheck,
    IntegrityCheckStopped,
    StorageError,
    connect,
    is_current,
    migrate,
    schema_version,
)

ROOT = Path(__file__).resolve().parents[2]
CLAIMS = int(os.environ.get("CROSSCHECK_CRASH_CLAIMS", "2000"))
KILLS = int(os.environ.get("CROSSCHECK_CRASH_KILLS", "25"))
LANES = 2  # fork servers working in parallel


async def test_pragmas_on_every_connection(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    c = await Corpus.open(path)
    try:
        async with c.conn.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
        for pragma, value in (("synchronous", 2), ("foreign_keys", 1), ("busy_timeout", BUSY_TIMEOUT_MS)):
            async with c.conn.execute(f"PRAGMA {pragma}") as cur:
                assert (await cur.fetchone())[0] == value, pragma
            assert c.reader.conn.execute(f"PRAGMA {pragma}").fetchone()[0] == value, pragma
        assert c.reader.conn.execute("PRAGMA user_version").fetchone()[0] == schema_version()
    finally:
        await c.close()


def test_damaged_file_is_refused_at_start_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    _filled(path)
    data = bytearray(path.read_bytes())
    page = 4096
    for p in range(3, len(data) // page - 1, 7):  # scribble over the middle of some b-tree pages
        data[p * page + 100 : p * page + 400] = os.urandom(300)
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError) as info:
        connect(path, check="quick").close()
    msg = str(info.value)
    assert "crosscheck restore PATH" in msg, msg
    # Regression: the whole integrity report (hundreds of lines for a scribbled file) was the message.
    assert len(msg) < 600 and msg.count("\n") == 0, msg
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(5000))  # a damaged header
    with pytest.raises(StorageError, match="crosscheck restore PATH"):
        connect(path)


def _verify(path: Path, n_claims: int) -> str:
    """'whole' or 'none', after checking integrity; raises AssertionError for anything in between."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        claims = conn.execute("SELECT count(*) FROM claims WHERE id LIKE 'bulk-c%'").fetchone()[0]
        stories = conn.execute("SELECT count(*) FROM stories WHERE id LIKE 'bulk-s%'").fetchone()[0]
        links = conn.execute("SELECT count(*) FROM claim_articles").fetchone()[0]
        indexed = conn.execute(  # lines of the story index: each story's claims and its article's title
            "SELECT coalesce(sum(length(body) - length(replace(body, char(10), '')) + 1), 0) FROM search_story "
            "WHERE story_id LIKE 'bulk-s%'").fetchone()[0]
        audits = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'import crash-test'").fetchone()[0]
        version = conn.execute("SELECT version FROM corpus_version").fetchone()[0]
    finally:
        conn.close()
    state = (claims, stories, links, indexed, audits, version)
    if state == (0, 0, 0, 0, 0, 0):
        result = "none"
    else:
        n_stories = max(1, n_claims // 50)
        assert state == (n_claims, n_stories, n_claims, n_claims + n_stories, 1, 1), state
        result = "whole"
    connect(path).close()  # and it opens for the bot: quick_check, migrations
    return result


class _ForkServer:
    def __init__(self, n_claims: int):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.crashchild", str(n_claims)], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.proc.stdout.readline().strip() == "ready", self.proc.stderr.read()

    def run(self, path: Path, kill_after: float | None) -> str:
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        pid = int(self.proc.stdout.readline().split()[1])
        if kill_after is not None:
            time.sleep(kill_after)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it finished first
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def test_import_killed_at_random_points_is_all_or_nothing(tmp_path: Path) -> None:
    base = tmp_path / "base.db"
    connect(base).close()
    servers = [_ForkServer(CLAIMS) for _ in range(LANES)]
    try:
        # One full import first: how long the whole thing takes, so the kills land before, during and after it.
        full = tmp_path / "full.db"
        shutil.copy(base, full)
        t = time.perf_counter()
        assert servers[0].run(full, None) == "exit 0"
        duration = time.perf_counter() - t
        assert _verify(full, CLAIMS) == "whole"

        rng = random.Random(int(os.environ.get("CROSSCHECK_CRASH_SEED", "0")) or None)
        outcomes: list[tuple[float, str, str, Path]] = []
        errors: list[BaseException] = []

        def lane(k: int) -> None:
            try:
                for i in range(k, KILLS, LANES):
                    path = tmp_path / f"kill{i}.db"
                    shutil.copy(base, path)
                    delay = rng.uniform(0.0, duration * 1.1)
                    ended = servers[k].run(path, delay)
                    outcomes.append((delay, ended, _verify(path, CLAIMS), path))
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=lane, args=(k,)) for k in range(LANES)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        if errors:
            raise errors[0]
        assert len(outcomes) == KILLS
        killed = [o for o in outcomes if o[1] == "signal 9"]
        assert killed, outcomes
        for delay, ended, state, _ in outcomes:
            if ended == "exit 0":
                assert state == "whole", (delay, ended, state)
        # A killed import leaves nothing behind; the same import then runs to completion on that file. The victim is
        # a run killed before its commit (a kill that lands after the commit leaves the whole import, and importing
        # it again would rightly record a second import); if every kill landed late, kill one more early.
        victim = next((o[3] for o in outcomes if o[1:3] == ("signal 9", "none")), None)
        for attempt in range(20):
            if victim is not None:
                break
            path = tmp_path / f"early{attempt}.db"
            shutil.copy(base, path)
            if servers[0].run(path, rng.uniform(0.0, duration * 0.5)) == "signal 9" and _verify(path, CLAIMS) == "none":
                victim = path
        assert victim is not None, [o[:3] for o in outcomes]
        assert servers[0].run(victim, None) == "exit 0"
        assert _verify(victim, CLAIMS) == "whole"
        print(f"\ncrash test: {CLAIMS} claims, full import {duration:.2f}s; {len(killed)} of {KILLS} runs killed; "
              f"afterwards {sum(o[2] == 'none' for o in outcomes)} held none of the import and "
              f"{sum(o[2] == 'whole' for o in outcomes)} all of it (killed after the commit or finished)")
    finally:
        for s in servers:
            s.close()


# -- the integrity check beside the bot (Corpus.open(defer_check=True)) ---------------------------------------------


def _filled(path: Path) -> None:
    """Some rows to check (2,000 feedback rows, ~1 MB) in ``path``: created at the current schema, or an existing
    database (the seed corpus is not needed)."""
    conn = connect(path) if not path.exists() else sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO feedback (guild_id, user_id, query) VALUES (1, 1, ?)", [("x" * 500,)] * 2000)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _damage(path: Path, table: str = "feedback") -> None:
    """Damage ``table``'s leaf pages only, so that the rest of the file still reads.  Deterministic, so that any read
    of a damaged page fails: no b-tree page has type 0, and every cell pointer is out of range.  (Random bytes once
    failed a clean-clone run: SQLite masks a cell pointer to the page size as it reads it, so a random pointer of a
    one-cell page, 58980, read as 1636, the real cell, one time in 4,096, while the integrity check called it out of
    range.)"""
    conn = sqlite3.connect(path)
    pages = [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'", (table,))]
    conn.close()
    assert pages
    data = bytearray(path.read_bytes())
    for p in pages[::3] if len(pages) > 10 else pages:
        start = (p - 1) * 4096
        data[start] = 0  # the page's type
        data[start + 8 : start + 200] = b"\xff" * 192  # its cell pointers
    path.write_bytes(bytes(data))


async def test_a_deferred_check_opens_at_once_and_refuses_changes_until_it_passes(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "d.db"
    _filled(path)
    started, release = threading.Event(), threading.Event()
    real_run = IntegrityCheck.run

    def held(self: IntegrityCheck) -> None:
        started.set()
        assert release.wait(10)
        real_run(self)

    monkeypatch.setattr(IntegrityCheck, "run", held)
    c = await Corpus.open(path, defer_check=True)
    try:
        assert await asyncio.to_thread(started.wait, 10)
        assert c.reader.counts()["stories"] == 0  # reads go on while the file is checked
        with pytest.raises(CorpusBusy, match="still checking its database for damage"):
            await c.set_settings(7, threshold=70)
        assert (await c.settings(7))["threshold"] is None  # nothing changed
        release.set()
        await c.verified()
        await c.set_settings(7, threshold=70)
        assert (await c.settings(7))["threshold"] == 70
    finally:
        release.set()
        await c.close()


async def test_a_deferred_check_of_a_damaged_file_refuses_every_change(tmp_path: Path, caplog) -> None:
    path = tmp_path / "d.db"
    _filled(path)
    _damage(path)
    with pytest.raises(StorageError, match="crosscheck restore PATH"):  # checked before it opens, as before
        await Corpus.open(path)
    c = await Corpus.open(path, defer_check=True)  # opens at once; the check runs beside
    try:
        with pytest.raises(StorageError, match="crosscheck restore PATH"):
            await c.verified()
        with pytest.raises(CorpusDamaged, match="failed its integrity check.*Nothing was changed"):
            await c.set_settings(7, threshold=70)
        assert "crosscheck restore PATH" in caplog.text  # the operator's log says what to do
    finally:
        await c.close()


async def test_a_file_that_needs_migrating_is_checked_before_it_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=schema_version() - 1)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO feedback (guild_id, user_id, query) VALUES (1, 1, ?)", [("x" * 500,)] * 2000)
    conn.execute("COMMIT")
    conn.close()
    _damage(path)
    assert not is_current(path)
    with pytest.raises(StorageError, match="crosscheck restore PATH"):
        await Corpus.open(path, defer_check=True)


def test_stopping_an_integrity_check_ends_it(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "d.db"
    _filled(path)
    check = IntegrityCheck(path)
    real = storage_db.check_integrity

    def stop_first(conn: sqlite3.Connection, *, full: bool = False) -> None:
        check.stop()  # from inside: the case interrupt() cannot reach (no statement running yet)
        real(conn, full=full)

    monkeypatch.setattr(storage_db, "check_integrity", stop_first)
    with pytest.raises(IntegrityCheckStopped):
        check.run()
    monkeypatch.undo()
    IntegrityCheck(path).run()  # the same file passes when not stopped


async def test_closing_the_corpus_stops_its_check(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "d.db"
    _filled(path)
    started = threading.Event()
    real_run = IntegrityCheck.run

    def until_stopped(self: IntegrityCheck) -> None:
        started.set()
        self._stopped.wait(10)
        real_run(self)

    monkeypatch.setattr(IntegrityCheck, "run", until_stopped)
    c = await Corpus.open(path, defer_check=True)
    assert await asyncio.to_thread(started.wait, 10)
    t = time.perf_counter()
    await c.close()
    assert time.perf_counter() - t < 5
    await c.verified()  # stopped is not damaged
