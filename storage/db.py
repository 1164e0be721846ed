"""Connections, pragmas, migrations and integrity checks.  The only module that opens SQLite files.

Pragmas, and why:
- ``journal_mode=WAL``: readers (checks) never block the writer (moderator edits) and vice versa.
- ``synchronous=FULL``: a change a moderator was told is saved survives a power cut, not only a crash.  Writes are
  rare (moderator actions, imports in one transaction), so the extra fsync per commit costs nothing users feel;
  the hot path only reads.
- ``foreign_keys=ON``: no article without its story, no claim link to a missing article.
- ``busy_timeout``: a second process (the CLI while the bot runs) waits for the lock instead of failing.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from importlib import resources
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
WRITE_CACHE_KIB = 65_536  # page cache of the write connection (64 MiB, as each reader's)
_MIGRATION_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StorageError(Exception):
    """A problem with the database file that the operator must fix (shown as is, without a traceback)."""


def migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) of every migration shipped in storage/migrations, in order."""
    out = []
    for entry in resources.files("storage.migrations").iterdir():
        m = _MIGRATION_RE.match(entry.name)
        if m:
            out.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    out.sort()
    for i, (n, name, _) in enumerate(out, start=1):
        if n != i:
            raise RuntimeError(f"migration numbers must be 1..N without gaps; found {name}")
    return out


def schema_version() -> int:
    return len(migrations())


def apply_pragmas(conn: sqlite3.Connection, *, readonly: bool = False) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA cache_size = -65536")  # 64 MiB page cache per connection
    conn.execute("PRAGMA mmap_size = 268435456")
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal" and ":memory:" not in str(mode):
            log.warning("journal_mode is %s, not WAL", mode)
        conn.execute("PRAGMA synchronous = FULL")


def migrate(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Apply the migrations above the file's ``user_version`` (each in its own transaction); return the version."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    all_migrations = migrations()
    target = len(all_migrations) if target is None else target
    if current > len(all_migrations):
        raise StorageError(
            f"the database has schema version {current}, newer than this Crosscheck ({len(all_migrations)}); "
            "upgrade Crosscheck or restore a backup"
        )
    for number, name, sql in all_migrations:
        if number <= current or number > target:
            continue
        log.info("applying migration %s", name)
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\n;PRAGMA user_version = {number};\nCOMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        current = number
    return current


def check_integrity(conn: sqlite3.Connection, *, full: bool = False) -> None:
    """Refuse to run on a damaged file, with a message that says what to do."""
    pragma = "integrity_check" if full else "quick_check"
    rows = conn.execute(f"PRAGMA {pragma}").fetchall()
    if [r[0] for r in rows] != ["ok"]:
        # One row may hold hundreds of lines: the first few say enough.
        lines = [ln.strip() for r in rows for ln in str(r[0]).splitlines() if ln.strip() and not ln.startswith("***")]
        detail = "; ".join(lines[:3])[:300] + (f" … and {len(lines) - 3} more problems" if len(lines) > 3 else "")
        raise StorageError(
            f"the database failed its integrity check ({detail}). Stop the bot and restore a backup "
            "with `crosscheck restore PATH`, or move the file away to start from the seed corpus."
        )


class IntegrityCheckStopped(Exception):
    """``IntegrityCheck.stop`` was called before the check finished (the bot is closing)."""


class IntegrityCheck:
    """``check_integrity`` of a file on its own read-only connection, for a check that runs beside the bot
    (``Corpus.open(defer_check=True)``): ``quick_check`` reads every page, 3-5 s for a 3 GB file in the OS page cache
    and ~40 s from a disk that reads 80 MB/s, which a bot should not make its start wait for.  No memory map and a
    small page cache, so checking a large file does not grow the process (and it is faster: 3.0 s against 5.5 s with
    the readers' pragmas, 3 GB); ``stop`` ends it from another thread at once."""

    def __init__(self, path: str | Path, *, full: bool = False):
        self.path = Path(path)
        self.full = full
        self._stopped = threading.Event()
        self._conn: sqlite3.Connection | None = None

    def stop(self) -> None:
        self._stopped.set()
        conn = self._conn
        if conn is not None:
            conn.interrupt()  # thread-safe; the running PRAGMA fails with "interrupted" within a page or so

    def run(self) -> None:
        """Raises StorageError (what to do, as ``connect`` says it) if the file is damaged, IntegrityCheckStopped
        if stopped."""
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the database {self.path} to check it: {exc}") from exc
        self._conn = conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA mmap_size = 0")
            conn.execute("PRAGMA cache_size = -2048")
            # interrupt() does nothing to a statement not yet started: a stop that comes just before the check
            # aborts it at its first step instead.  (The check itself is one step: only interrupt() reaches it.)
            conn.set_progress_handler(self._stopped.is_set, 1)
            check_integrity(conn, full=self.full)
        except sqlite3.OperationalError as exc:
            if self._stopped.is_set():
                raise IntegrityCheckStopped from exc
            raise _unusable(self.path, exc) from exc
        except sqlite3.DatabaseError as exc:
            raise _unusable(self.path, exc) from exc
        finally:
            self._conn = None
            conn.close()


def _unusable(path: Path, exc: Exception) -> StorageError:
    return StorageError(
        f"{path} is not a usable Crosscheck database ({exc}). Restore a backup with `crosscheck restore PATH`, "
        "or move the file away to start from the seed corpus."
    )


def connect(path: str | Path, *, readonly: bool = False, check: str = "quick") -> sqlite3.Connection:
    """A configured sqlite3 connection; migrates (unless read-only) and checks integrity (``check``: quick/full/off).

    Raises StorageError, with a clear message, if the file is not a usable Crosscheck database.
    """
    path = Path(path)
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
        else:
            if path.parent and not path.parent.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:  # a directory, a missing or read-only location ...
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StorageError(f"cannot open the database {path}: {detail} (set CROSSCHECK_DB or --db to a writable file).") from exc
    try:
        apply_pragmas(conn, readonly=readonly)
        if check != "off":
            check_integrity(conn, full=(check == "full"))
        if not readonly:
            migrate(conn)
        else:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != schema_version():
                raise StorageError(f"the database has schema version {version}, expected {schema_version()}")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise _unusable(path, exc) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def is_current(path: str | Path) -> bool:
    """Whether ``path`` is a database at this Crosscheck's schema version (nothing to migrate).  False for a missing,
    empty or unreadable file: opening it the usual way says what is wrong."""
    path = Path(path)
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return False
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return conn.execute("PRAGMA user_version").fetchone()[0] == schema_version()
        finally:
            conn.close()
    except (OSError, sqlite3.Error):
        return False


async def connect_async(path: str | Path, *, check: str = "quick") -> aiosqlite.Connection:
    """The async write connection: the file is migrated and checked first (synchronously, before anything runs)."""
    connect(path, check=check).close()
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA temp_store = MEMORY")
        # The writer touches the indexes of a large file at random (ids, story ids, the full-text segments): with
        # SQLite's default 2 MB cache an import re-reads the same pages again and again.  Same cache as a reader.
        await conn.execute(f"PRAGMA cache_size = {-WRITE_CACHE_KIB}")
    except BaseException:
        await conn.close()
        raise
    return conn
