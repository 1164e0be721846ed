"""Backups and restores of the database file (`crosscheck backup PATH`, `crosscheck restore PATH`).

Backup uses SQLite's online backup API in one step: it reads a consistent snapshot inside one read transaction, so it
is safe while the bot runs (in WAL mode readers never block the bot's writes, and the bot's writes never disturb the
snapshot).  The copy goes to a temporary file next to the target, is switched to a self-contained single file
(journal_mode=DELETE), passes ``PRAGMA integrity_check`` and is fsynced before it is renamed over the target, so a
backup file is either complete and verified or not there at all.

Restore checks the file first (a Crosscheck database: the expected tables, a schema version this Crosscheck can run or
migrate, ``integrity_check`` and ``foreign_key_check`` clean), refuses while anything else has the live database open
(the bot), keeps the live file as ``<name>.bak-<timestamp>`` and swaps the new file in with one atomic rename.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from storage.db import BUSY_TIMEOUT_MS, StorageError, schema_version

#: Tables every Crosscheck database has had since schema version 1.
REQUIRED_TABLES = frozenset({"stories", "articles", "claims", "outlets", "audit_log", "corpus_version", "meta"})


class BackupError(StorageError):
    """A backup or restore that cannot be done; the message says why and what to do.  Nothing was changed."""


@dataclass(slots=True)
class BackupInfo:
    path: Path
    bytes: int
    schema_version: int
    stories: int
    claims: int
    corpus_version: int
    seconds: float = 0.0
    previous: Path | None = None  # restore: where the replaced database was kept

    def describe(self) -> str:
        return (f"{self.path} ({self.bytes:,} bytes, schema {self.schema_version}, {self.stories:,} stories, "
                f"{self.claims:,} claims, corpus version {self.corpus_version})")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """``_fsync_file`` of a directory (its entries: a rename is durable), where the platform and file system can."""
    with contextlib.suppress(OSError):
        _fsync_file(directory)


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@contextlib.contextmanager
def _temp_beside(target: Path, failure: str) -> Iterator[Path]:
    """A temporary file name next to ``target`` (same file system: the final rename is atomic), removed at the end
    whatever happens; an OSError inside becomes a BackupError starting with ``failure``."""
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{time.monotonic_ns()}")
    try:
        yield temp
    except OSError as exc:
        raise BackupError(f"{failure}: {exc.strerror or exc}") from exc
    finally:
        _remove(temp)


def _connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """An autocommit connection that waits for locks like the bot's own (``BUSY_TIMEOUT_MS``)."""
    if read_only:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    else:
        conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _destination_ok(dest: Path, other: Path, same: str) -> None:
    """Refuse (BackupError) a destination that is ``other`` itself (message ``same``) or has no directory."""
    if dest.exists() and dest.resolve() == other.resolve():
        raise BackupError(same)
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent} is not a directory")


def verify(path: Path, *, what: str = "the file") -> BackupInfo:
    """Check that ``path`` is a complete, intact Crosscheck database of a schema this Crosscheck can run.

    Opens it read-write (use it on copies only: a self-contained file is not changed by reading it)."""
    try:
        conn = _connect(path)
    except sqlite3.Error as exc:
        raise BackupError(f"{what} cannot be opened: {exc}") from exc
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = REQUIRED_TABLES - tables
        if missing:
            raise BackupError(f"{what} is an SQLite database but not a Crosscheck one (no {', '.join(sorted(missing))} table)")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if not 1 <= version <= schema_version():
            raise BackupError(
                f"{what} has schema version {version}; this Crosscheck runs versions 1 to {schema_version()}"
                + (" (upgrade Crosscheck to use it)" if version > schema_version() else "")
            )
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if rows != ["ok"]:
            lines = [ln.strip() for r in rows for ln in r.splitlines() if ln.strip() and not ln.startswith("***")]
            raise BackupError(f"{what} failed its integrity check ({'; '.join(lines[:3])[:300]})")
        if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
            raise BackupError(f"{what} has rows that point at missing rows (PRAGMA foreign_key_check)")
        stories = conn.execute("SELECT count(*) FROM stories").fetchone()[0]
        claims = conn.execute("SELECT count(*) FROM claims").fetchone()[0]
        cv = conn.execute("SELECT coalesce(max(version), 0) FROM corpus_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{what} is not a usable Crosscheck database ({exc})") from exc
    finally:
        conn.close()
    return BackupInfo(path, path.stat().st_size, version, stories, claims, cv)


def _copy(source: sqlite3.Connection, temp: Path) -> None:
    """Online backup of ``source`` into ``temp`` in one step, then made a single self-contained file."""
    dest = sqlite3.connect(temp, isolation_level=None)
    try:
        source.backup(dest)  # pages=-1: the whole database inside one read transaction: a consistent snapshot
        mode = dest.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        if str(mode).lower() != "delete":
            raise BackupError(f"could not make the copy a single file (journal_mode {mode})")
    finally:
        dest.close()


def _snapshot(source: Path, temp: Path, *, read_only: bool, failed: Callable[[sqlite3.Error], str]) -> None:
    """``_copy`` of ``source`` into ``temp`` through a connection of its own; BackupError if ``source`` cannot be
    opened, or with the message ``failed(error)`` if the copy fails."""
    try:
        src = _connect(source, read_only=read_only)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {source}: {exc}") from exc
    try:
        _copy(src, temp)
    except sqlite3.Error as exc:
        raise BackupError(failed(exc)) from exc
    finally:
        src.close()


def backup_database(db: str | Path, target: str | Path, *, keep: int | None = None) -> BackupInfo:
    """Copy the live database ``db`` to ``target`` (a file, or a directory for a dated file) safely while the bot
    runs; the result is verified before it appears under its name.  With a directory and ``keep``, only the newest
    ``keep`` dated backups of this database stay in it (the older ones are deleted after the new one is safe).
    Returns what the backup holds."""
    started = time.perf_counter()
    db, target = Path(db), Path(target)
    if not db.is_file():
        raise BackupError(f"no database at {db} (set CROSSCHECK_DB or --db)")
    if keep is not None and keep < 1:
        raise BackupError("--keep must be at least 1")
    directory = target if target.is_dir() else None
    if directory is not None:
        stamp = _stamp()
        taken = [_DATED.fullmatch(p.name[len(db.stem) + 1 :]) for p in directory.glob(f"{db.stem}-{stamp}*.db")]
        counters = [int(m.group(2) or 0) for m in taken if m and m.group(1) == stamp]
        # Within one second, a counter that sorts after every earlier backup (rotation keeps the newest).
        target = directory / (f"{db.stem}-{stamp}-{max(counters) + 1}.db" if counters else f"{db.stem}-{stamp}.db")
    _destination_ok(target, db, "the backup would overwrite the database itself; choose another path")
    with _temp_beside(target, f"cannot write the backup to {target}") as temp:
        # Not read-only: a WAL database is read through its -shm index, which a read-only handle may not create.
        _snapshot(db, temp, read_only=False, failed=lambda exc: f"the backup of {db} failed: {exc}")
        info = verify(temp, what="the backup copy")
        _fsync_file(temp)
        os.replace(temp, target)
        _fsync_dir(target.parent)
    info.path = target
    if directory is not None and keep is not None:
        dated = []
        for p in directory.glob(f"{db.stem}-*.db"):
            m = _DATED.fullmatch(p.name[len(db.stem) + 1 :])
            if m:
                dated.append(((m.group(1), int(m.group(2) or 0)), p))
        dated = [p for _, p in sorted(dated)]
        for old in dated[: max(0, len(dated) - keep)]:
            if old != target:
                old.unlink()
    info.seconds = time.perf_counter() - started
    return info


_DATED = re.compile(r"(\d{8}-\d{6})(?:-(\d+))?\.db")


def database_in_use(db: Path) -> bool:
    """Whether another connection (the bot, a CLI command) has ``db`` open.

    Leaving WAL mode needs the database to itself, so the attempt (with no waiting) tells; if it succeeds the file is
    switched back to WAL at once.  A database not in WAL mode is tested with an exclusive lock instead."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=0)
    try:
        conn.execute("PRAGMA busy_timeout = 0")
        mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode == "wal":
            try:
                new = str(conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]).lower()
            except sqlite3.OperationalError:
                return True
            if new != "delete":
                return True
            conn.execute("PRAGMA journal_mode = WAL")
            return False
        try:
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
    finally:
        conn.close()


def restore_database(source: str | Path, db: str | Path) -> BackupInfo:
    """Replace the live database ``db`` with the backup ``source``, keeping the old file as ``<db>.bak-<timestamp>``.

    Refuses (BackupError, nothing changed) if ``source`` is not a usable Crosscheck database or if the live database
    is open elsewhere: stop the bot first."""
    started = time.perf_counter()
    source, db = Path(source), Path(db)
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    _destination_ok(db, source, "that is the live database itself; give the path of a backup")
    previous: Path | None = None
    with _temp_beside(db, f"cannot restore into {db}") as temp:
        # Work on a copy beside the live file: the backup itself is never changed, and the final rename is atomic.
        _snapshot(source, temp, read_only=True, failed=lambda exc: f"{source} is not a usable Crosscheck database ({exc})")
        info = verify(temp, what=str(source))
        _fsync_file(temp)
        if db.exists():
            if database_in_use(db):
                raise BackupError(
                    f"{db} is in use (is the bot running?). Stop the bot, run the restore again, then start the bot."
                )
            # Fold the WAL into the file so that the kept copy is complete on its own.
            conn = _connect(db)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            previous = db.with_name(f"{db.name}.bak-{_stamp()}")
            n = 1
            while previous.exists():
                previous = db.with_name(f"{db.name}.bak-{_stamp()}-{n}")
                n += 1
            try:
                os.link(db, previous)  # the old file keeps its content under the new name; db is never missing
            except OSError:
                import shutil

                shutil.copy2(db, previous)
        os.replace(temp, db)
        for stale in (Path(f"{db}-wal"), Path(f"{db}-shm")):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()  # belonged to the old file (empty after the checkpoint)
        _fsync_dir(db.parent)
    info.path = db
    info.previous = previous
    info.bytes = db.stat().st_size
    info.seconds = time.perf_counter() - started
    return info
