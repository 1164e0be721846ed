"""Keep each article's own quality signals in the database, so that a report reads them instead of computing them.

    python -m bot.precompute DB        # or: crosscheck precompute

A report computes its sources' signals from the articles' text (bot/signals.py): ~0.5 us per character, most of a
story's first /check.  This goes through every article, and for each whose kept signals are missing or no longer fit
(``signals_key``: the article's fields and the signal code) computes ``own_signals`` and keeps them (table
``article_signals``, storage/derived.py), a batch per short transaction.  Reports use what is kept and fits, and
compute the rest as before, so running it (or not) changes no report, only its cost.  The bot runs it in a child
process at low priority (``run_in_background``) once its integrity check has passed, after a moderator's import,
article or undo, and whenever it sees the corpus version move (looked at every 30 s, ``PRECOMPUTE_EVERY``: a
command-line import beside it); an article written since the last pass is computed at its first check.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bot.signals as signals
from bot.signals import dump_own, own_signals, signals_key
from storage.db import connect
from storage.derived import article_batches, articles_without_signals, set_signals_code, signals_code, store_signals
from storage.reader import row_article

log = logging.getLogger(__name__)


@dataclass
class Filled:
    articles: int  # seen
    computed: int  # whose signals were computed and kept now
    seconds: float
    busy: bool = False  # another pass on the same file was running: this one did nothing

    def describe(self) -> str:
        if self.busy:
            return "another pass is keeping this database's signals (a bot's, or another shard's): nothing done"
        rate = self.computed / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.computed:,} articles' signals computed and kept ({self.articles:,} articles read) in "
                f"{self.seconds:.1f} s ({rate:,.0f}/s); the others' kept signals still fit")


def fill(path: str | Path) -> Filled:
    """Compute and keep the signals of every article whose kept ones are missing or stale.

    When the signal code is the one the kept signals were last brought up to date for (``meta``), only articles
    without kept signals are read: a write to an article deletes its kept signals (a trigger), so those are the
    missing and the stale ones.  Otherwise every article is read and its key compared, and the code is recorded."""
    started = time.perf_counter()
    with _only_pass(path) as alone:
        if not alone:
            return Filled(0, 0, time.perf_counter() - started, busy=True)
        return _fill(path, started)


@contextlib.contextmanager
def _only_pass(path: str | Path) -> Iterator[bool]:
    """One pass per database file at a time (several shards of a bot each start one): an exclusive lock on
    ``<db>.precompute-lock``, given up by the operating system if the process dies.  Yields False if another pass
    holds it.  ``flock`` on POSIX; on Windows ``msvcrt.locking`` of the file's first byte (not run on this project's
    machines, which are all Linux)."""
    with open(f"{path}.precompute-lock", "a+b") as fh:
        lock, unlock = _lock_functions(fh)
        if lock is None:  # neither: no lock (passes may overlap; each computes what it finds missing)
            yield True
            return
        try:
            lock()
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            unlock()


def _lock_functions(fh: Any) -> tuple[Callable[[], None] | None, Callable[[], None]]:
    """(take the lock without waiting, raising OSError if it is held; give it up) for the open file ``fh``."""
    try:
        import fcntl
    except ImportError:
        pass
    else:
        return (lambda: fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB),
                lambda: fcntl.flock(fh.fileno(), fcntl.LOCK_UN))
    try:
        import msvcrt
    except ImportError:
        return None, lambda: None

    def at_start(mode: int) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), mode, 1)  # type: ignore[attr-defined]  (a byte past the end may be locked)

    return (lambda: at_start(msvcrt.LK_NBLCK),  # type: ignore[attr-defined]
            lambda: at_start(msvcrt.LK_UNLCK))  # type: ignore[attr-defined]


def _fill(path: str | Path, started: float) -> Filled:
    conn = connect(path, check="off")
    conn.row_factory = sqlite3.Row
    code = signals.SIGNALS_CODE.hex()
    seen = computed = 0
    try:
        if signals_code(conn) == code:  # only the articles without kept signals (they have no key to compare)
            batches = ([(row, None) for row in rows] for rows in articles_without_signals(conn))
        else:
            batches = article_batches(conn)
        for batch in batches:
            todo = []
            for row, kept_key in batch:
                article = row_article(row)
                key = signals_key(article)
                if key != kept_key:
                    todo.append((article.id, key, dump_own(own_signals(article))))
            seen += len(batch)
            if todo:
                computed += store_signals(conn, todo)
        set_signals_code(conn, code)
    finally:
        conn.close()
    return Filled(seen, computed, time.perf_counter() - started)


def run_in_background(path: str | Path) -> subprocess.Popen[bytes] | None:
    """``python -m bot.precompute DB --nice`` as a child process: it shares no GIL with the checks, and at the
    lowest CPU priority it yields the CPU to them.  None if it cannot be started (reports then compute signals as
    before)."""
    try:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bot.precompute", str(path), "--nice"], stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        log.warning("cannot start the signals precompute (%s): reports compute their sources' signals", exc)
        return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    nice = "--nice" in args
    args = [a for a in args if a != "--nice"]
    if len(args) != 1:
        print("usage: python -m bot.precompute DB [--nice]", file=sys.stderr)
        return 2
    if nice and hasattr(os, "nice"):
        os.nice(19)  # in the child itself: a preexec_fn is not safe in the bot's threaded process
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    log.info("%s", fill(args[0]).describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
