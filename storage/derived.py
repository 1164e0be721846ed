"""Derived data the bot can always recompute: each article's kept signals (table ``article_signals``, schema v6).

Written by ``bot/precompute.py`` on its own connection (a child process of the bot, or ``crosscheck precompute``),
in short transactions, never by a corpus change; read by ``CorpusReader.kept_signals``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

#: Articles read per batch: a transaction of kept signals per batch keeps the write lock for milliseconds.
BATCH = 500


def article_batches(conn: sqlite3.Connection, batch: int = BATCH) -> Iterator[list[tuple[sqlite3.Row, str | None]]]:
    """Every article (as a row ``storage.reader.row_article`` reads) with the key of its kept signals (None when it
    has none), in batches by rowid; each batch read in its own statement, so writes go on between them."""
    after = 0
    while True:
        rows = conn.execute(
            "SELECT a.rowid AS rowid_, a.*, s.key AS kept_key FROM articles a "
            "LEFT JOIN article_signals s ON s.article_id = a.id WHERE a.rowid > ? ORDER BY a.rowid LIMIT ?",
            (after, batch),
        ).fetchall()
        if not rows:
            return
        after = rows[-1]["rowid_"]
        yield [(r, r["kept_key"]) for r in rows]


def articles_without_signals(conn: sqlite3.Connection, batch: int = BATCH) -> Iterator[list[sqlite3.Row]]:
    """The articles that have no kept signals, in batches by id.  Found through the id index and the kept rows'
    primary key, so the text of articles that have them is never read (a pass over 400k kept articles: a second)."""
    after = ""
    while True:
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM articles WHERE id > ? AND id NOT IN (SELECT article_id FROM article_signals) "
            "ORDER BY id LIMIT ?",
            (after, batch),
        )]
        if not ids:
            return
        after = ids[-1]
        marks = ",".join("?" * len(ids))
        yield conn.execute(f"SELECT * FROM articles WHERE id IN ({marks}) ORDER BY id", ids).fetchall()  # noqa: S608


def signals_code(conn: sqlite3.Connection) -> str | None:
    """The signal code the kept signals were last brought up to date for (``meta``), None before any."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'signals_code'").fetchone()
    return row[0] if row else None


def set_signals_code(conn: sqlite3.Connection, code: str) -> None:
    conn.execute("INSERT INTO meta (key, value) VALUES ('signals_code', ?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (code,))


def store_signals(conn: sqlite3.Connection, rows: Iterable[tuple[str, str, str]]) -> int:
    """Keep (article id, key, own) in one transaction; an article deleted meanwhile is skipped.  Returns the count."""
    n = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for article_id, key, own in rows:
            cur = conn.execute(
                "INSERT INTO article_signals (article_id, key, own) SELECT ?, ?, ? "
                "WHERE EXISTS (SELECT 1 FROM articles WHERE id = ?) "
                "ON CONFLICT(article_id) DO UPDATE SET key = excluded.key, own = excluded.own",
                (article_id, key, own, article_id),
            )
            n += cur.rowcount
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return n
