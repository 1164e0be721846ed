"""`crosscheck backup PATH` and `crosscheck restore PATH`: online, consistent, verified, atomic; restore refuses bad
files and a database the bot holds, and keeps the old file."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main as cli
from storage import backup as backup_mod
from storage.backup import BackupError, backup_database, database_in_use, restore_database
from storage.corpus import Corpus
from storage.db import connect, schema_version
from tests.reliability.helpers import A, small_file, table_dump


def _consistent(path: Path) -> int:
    """Every import in the file is whole (story, article, claim and audit entry together); returns how many."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        stories = {r[0][: -len("-story")] for r in conn.execute("SELECT id FROM stories WHERE id LIKE 'w%-story'")}
        articles = {r[0][: -len("-a1")] for r in conn.execute("SELECT id FROM articles WHERE id LIKE 'w%-a1'")}
        claims = {r[0][: -len("-c1")] for r in conn.execute("SELECT id FROM claims WHERE id LIKE 'w%-c1'")}
        audits = conn.execute("SELECT count(*) FROM audit_log WHERE actor_name = 'mod-a'").fetchone()[0]
        version = conn.execute("SELECT version FROM corpus_version").fetchone()[0]
        assert stories == articles == claims, (stories ^ articles, stories ^ claims)
        assert audits == len(stories) and version == len(stories) + 1  # +1: the seed
        return len(stories)
    finally:
        conn.close()


async def test_backups_while_the_bot_writes_are_consistent_and_verified(seeded_path: Path, tmp_path: Path) -> None:
    bot = await Corpus.open(seeded_path)
    done = asyncio.Event()
    writes = 0

    async def moderator() -> None:
        nonlocal writes
        i = 0
        while not done.is_set():
            await bot.apply(small_file(f"w{i}"), A)
            writes += 1
            i += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(moderator())
    try:
        results = []
        for n in range(6):
            await asyncio.sleep(0.05)
            results.append(await asyncio.to_thread(backup_database, seeded_path, tmp_path / f"b{n}.db"))
        done.set()
        await task
    finally:
        await bot.close()
    seen = []
    for info in results:
        assert info.path.is_file() and not Path(f"{info.path}-wal").exists()  # one self-contained file
        seen.append(_consistent(info.path))
        conn = connect(info.path, check="full")  # opens as a Crosscheck database
        conn.close()
    assert seen == sorted(seen) and seen[-1] > 0 and writes > seen[0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_backup_into_a_directory_and_via_the_cli(seeded_path: Path, tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "backups"
    out_dir.mkdir()
    assert cli(["--db", str(seeded_path), "backup", str(out_dir)]) == 0
    (made,) = list(out_dir.iterdir())
    assert made.name.startswith("seeded-") and made.suffix == ".db"
    assert "backed up to" in capsys.readouterr().out
    assert table_dump(made, with_audit=True) == table_dump(seeded_path, with_audit=True)
    # Errors are one line, exit 1, nothing written.
    assert cli(["--db", str(tmp_path / "missing.db"), "backup", str(out_dir / "x.db")]) == 1
    assert cli(["--db", str(seeded_path), "backup", str(seeded_path)]) == 1
    assert cli(["--db", str(seeded_path), "backup", str(tmp_path / "no" / "such" / "dir.db")]) == 1
    err = capsys.readouterr().err
    assert err.count("crosscheck: ") == 3 and "Traceback" not in err
    assert list(out_dir.iterdir()) == [made]


def test_dated_backups_are_rotated(seeded_path: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "rot"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("not a backup")
    (out_dir / "seeded-manual.db").write_bytes(b"kept: not a dated name")
    made = [backup_database(seeded_path, out_dir, keep=3).path for _ in range(5)]
    left = sorted(p.name for p in out_dir.glob("seeded-2*.db"))
    assert left == sorted(p.name for p in made[-3:])
    assert (out_dir / "notes.txt").exists() and (out_dir / "seeded-manual.db").exists()
    with pytest.raises(BackupError, match="at least 1"):
        backup_database(seeded_path, out_dir, keep=0)


def test_a_backup_that_fails_verification_never_appears(seeded_path: Path, tmp_path: Path, monkeypatch) -> None:
    def broken(path, *, what="the file"):
        raise BackupError(f"{what} failed its integrity check (simulated)")

    monkeypatch.setattr(backup_mod, "verify", broken)
    target = tmp_path / "b.db"
    target.write_bytes(b"an older backup")
    with pytest.raises(BackupError, match="simulated"):
        backup_database(seeded_path, target)
    assert target.read_bytes() == b"an older backup"  # the previous backup at that path is untouched
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nor a temporary file


async def test_restore_replaces_the_database_and_keeps_the_old_one(seeded_path: Path, tmp_path: Path, capsys) -> None:
    saved = backup_database(seeded_path, tmp_path / "saved.db").path
    at_backup = table_dump(saved, with_audit=True)
    bot = await Corpus.open(seeded_path)
    await bot.apply(small_file("later"), A)  # a change after the backup
    # While the bot holds the database, restore refuses and changes nothing.
    live = table_dump(seeded_path, with_audit=True)
    assert database_in_use(seeded_path)
    with pytest.raises(BackupError, match="is the bot running"):
        restore_database(saved, seeded_path)
    assert table_dump(seeded_path, with_audit=True) == live
    assert not list(tmp_path.glob("*.bak-*"))
    await bot.close()

    assert not database_in_use(seeded_path)
    assert cli(["--db", str(seeded_path), "restore", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "restored" in out and ".bak-" in out
    (kept,) = list(tmp_path.glob("seeded.db.bak-*"))
    assert table_dump(kept, with_audit=True) == live  # the replaced database, complete on its own
    assert table_dump(seeded_path, with_audit=True) == at_backup
    bot = await Corpus.open(seeded_path, check="full")  # the bot starts on it: WAL again, migrated, checked
    try:
        assert bot.reader.story("later-story", A.guild_id) is None
        async with bot.conn.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
    finally:
        await bot.close()


def _bad_backups(tmp: Path, good: Path) -> dict[str, tuple[Path, str]]:
    out = {}
    p = tmp / "random.db"
    p.write_bytes(os.urandom(20_000))
    out["random bytes"] = (p, "not a usable Crosscheck database")
    p = tmp / "other-app.db"
    conn = sqlite3.connect(p)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    out["another app's SQLite file"] = (p, "not a Crosscheck one")
    p = tmp / "newer.db"
    p.write_bytes(good.read_bytes())
    conn = sqlite3.connect(p)
    conn.execute(f"PRAGMA user_version = {schema_version() + 1}")
    conn.close()
    out["newer schema"] = (p, "upgrade Crosscheck")
    p = tmp / "damaged.db"
    data = bytearray(good.read_bytes())
    for page in range(3, len(data) // 4096 - 1, 3):
        data[page * 4096 + 200 : page * 4096 + 600] = os.urandom(400)
    p.write_bytes(bytes(data))
    out["damaged"] = (p, "integrity check|not a usable Crosscheck database")
    p = tmp / "empty.db"
    p.write_bytes(b"")
    out["empty file"] = (p, "not a Crosscheck one")
    out["missing"] = (tmp / "nope.db", "no backup file")
    return out


@pytest.mark.parametrize("case", ["random bytes", "another app's SQLite file", "newer schema", "damaged", "empty file",
                                  "missing"])
def test_restore_refuses_what_is_not_a_good_backup(seeded_path: Path, tmp_path: Path, case: str, capsys) -> None:
    good = backup_database(seeded_path, tmp_path / "good.db").path
    bad, message = _bad_backups(tmp_path, good)[case]
    live = table_dump(seeded_path, with_audit=True)
    with pytest.raises(BackupError, match=message):
        restore_database(bad, seeded_path)
    assert cli(["--db", str(seeded_path), "restore", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("crosscheck: ") and err.count("\n") == 1 and "Traceback" not in err
    assert table_dump(seeded_path, with_audit=True) == live
    assert not list(tmp_path.glob("*.bak-*")) and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_restore_onto_a_new_machine(seeded_path: Path, tmp_path: Path) -> None:
    saved = backup_database(seeded_path, tmp_path / "saved.db").path
    fresh = tmp_path / "new" / "crosscheck.db"
    fresh.parent.mkdir()
    info = restore_database(saved, fresh)
    assert info.previous is None and table_dump(fresh, with_audit=True) == table_dump(saved, with_audit=True)
