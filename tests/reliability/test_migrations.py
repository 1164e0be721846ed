"""Migrations from every earlier schema version, with data preserved — written over ``storage.db.migrations()`` so
that it covers every migration added later.

For each version k (1..N, N the current one) a database is built at version k by applying the first k migrations and
filled with data, then opened the way the bot opens it (which migrates it to N), and checked:
- integrity_check and foreign_key_check are clean and user_version is N;
- every row of every table that still exists keeps the values of every column that still exists;
- the current code reads it (stories, articles, claims, ratings, questions), undoes its last audited change (old
  audit snapshots must still restore) and writes to it.

The data for version k < N comes from a frozen fixture, ``fixtures/schema-v<k>.sql``, written by the code of that time;
version N's data is made by the current code.  Whoever adds migration N freezes its fixture with the code that uses
it, and commits the two together (a missing fixture fails these tests with this instruction):

    .venv/bin/python -m tests.reliability.test_migrations freeze

A synthetic pass also fills every column of every table at every version k (introspected, so no table is missed).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.models import Position, Question, RatingEntry
from storage.corpus import Corpus
from storage.db import StorageError, connect, migrate, migrations, schema_version
from tests.reliability.helpers import A, B, OWNER, small_file

FIXTURES = Path(__file__).with_name("fixtures")
N = schema_version()
SET_AT = datetime(2026, 1, 1, tzinfo=UTC)


def _fixture(version: int) -> Path:
    path = FIXTURES / f"schema-v{version}.sql"
    if not path.exists():
        pytest.fail(f"{path.name} is missing: after adding migration {version}, run "
                    "`.venv/bin/python -m tests.reliability.test_migrations freeze` and commit the file with it")
    return path


def _digest(sql: str) -> str:
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


def _regular_tables(conn: sqlite3.Connection) -> list[str]:
    """Tables holding data: not SQLite's own, not FTS5's shadow tables (the FTS table itself is included)."""
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").fetchall()
    virtual = {n for n, sql in rows if sql and sql.upper().startswith("CREATE VIRTUAL TABLE")}
    return sorted(n for n, _ in rows if n in virtual or not any(n.startswith(v + "_") for v in virtual))


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_xinfo({table})") if r[6] == 0]  # not hidden columns


def _rows(conn: sqlite3.Connection) -> dict[str, list[dict]]:
    out = {}
    for t in _regular_tables(conn):
        cols = _columns(conn, t)
        out[t] = [dict(zip(cols, r, strict=True)) for r in conn.execute(f"SELECT {', '.join(cols)} FROM {t}")]  # noqa: S608
    return out


def _build_at(path: Path, version: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    assert migrate(conn, target=version) == version
    return conn


# -- frozen fixtures ---------------------------------------------------------------------------------------------


async def _fill_with_current_code(path: Path) -> None:
    """Data in every table, through the real write path: global and two servers' corpora, questions, positions,
    ratings, hidden stories, settings, auto-reply channels, feedback and audited changes (one removal to undo)."""
    c = await Corpus.open(path)
    try:
        await c.apply(small_file("g"), OWNER)
        await c.apply(small_file("h"), OWNER)
        await c.apply(small_file("a"), A)
        await c.apply(small_file("b"), B)
        await c.upsert_question("g-story", Question(id="a-q", text="When?", kind="date", positions=[
            Position(id="a-p", statement="On Monday", articles=["g-a1", "a-a1"],
                     evidence=[{"article": "g-a1", "quote": "on Monday"}])]), A)
        await c.upsert_position("a-q", Position(id="a-p2", statement="On Tuesday", status="suggested"), A)
        await c.rate_outlet("g-outlet", "factual_record", RatingEntry(value="low", basis="a view", set_at=SET_AT), A)
        await c.rate_outlet("a-outlet", "flag:satire", RatingEntry(value="yes", set_at=SET_AT), A)
        await c.hide_story("h-story", True, A)
        await c.set_settings(A.guild_id, moderator_role_id=42, threshold=70.0, ephemeral=True)
        await c.set_autoreply(A.guild_id, 5000, enabled=True, threshold=80.0, cooldown_s=60)
        await c.add_feedback(A.guild_id, 5000, 7, "g-story", "not this one")
        await c.remove("claim", "a-c1", A)
    finally:
        await c.close()
    if N >= 6:  # kept signals (derived data, bot/precompute.py) since schema v6
        from bot.precompute import fill

        fill(path)


def _freeze_sql(path: Path) -> str:
    """The data of a database as INSERT statements, headed by the version and the digests of its migrations."""
    conn = sqlite3.connect(path)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        lines = [f"-- Crosscheck schema version {version}: data written by the code of that version (do not edit)."]
        for number, name, sql in migrations()[:version]:
            lines.append(f"-- migration {number} {name} sha256 {_digest(sql)}")
        for t in _regular_tables(conn):
            cols = _columns(conn, t)
            expr = " || ', ' || ".join(f"quote({c})" for c in cols)
            has_rowid = not conn.execute("SELECT sql LIKE '%WITHOUT ROWID%' FROM sqlite_master WHERE name = ?",
                                         (t,)).fetchone()[0]
            order = "rowid" if has_rowid else ", ".join(cols)
            for (values,) in conn.execute(f"SELECT {expr} FROM {t} ORDER BY {order}"):  # noqa: S608
                lines.append(f"INSERT INTO {t} ({', '.join(cols)}) VALUES ({values});")
        return "\n".join(lines) + "\n"
    finally:
        conn.close()


def freeze(version: int = N) -> Path:
    """Write fixtures/schema-v<N>.sql from the current code (run before adding migration N+1)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.db"
        asyncio.run(_fill_with_current_code(path))
        out = FIXTURES / f"schema-v{version}.sql"
        FIXTURES.mkdir(exist_ok=True)
        out.write_text(_freeze_sql(path), encoding="utf-8")
        return out


def _load_fixture(path: Path, version: int) -> None:
    sql = _fixture(version).read_text(encoding="utf-8")
    conn = _build_at(path, version)
    try:
        conn.execute("DELETE FROM corpus_version")  # the fixture carries its own
        conn.executescript("BEGIN;\nPRAGMA defer_foreign_keys = ON;\n" + sql + "\nCOMMIT;")  # checked at commit
    finally:
        conn.close()


# -- tests -------------------------------------------------------------------------------------------------------


def test_migrations_are_numbered_and_each_advances_the_version(tmp_path: Path) -> None:
    ms = migrations()
    assert [n for n, _, _ in ms] == list(range(1, N + 1))
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    for number, _name, _sql in ms:
        assert migrate(conn, target=number) == number
        assert conn.execute("PRAGMA user_version").fetchone()[0] == number
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


@pytest.mark.parametrize("version", range(1, N + 1))
def test_released_migrations_never_change(version: int) -> None:
    """A released migration is never edited: the frozen fixtures record the digest of each one they were built with."""
    header = _fixture(version).read_text(encoding="utf-8").splitlines()
    recorded = {int(ln.split()[2]): ln.split()[-1] for ln in header if ln.startswith("-- migration ")}
    for number, name, sql in migrations()[:version]:
        assert recorded[number] == _digest(sql), f"{name} changed after release: add a new migration instead"


@pytest.mark.parametrize("version", range(1, N + 1))
async def test_upgrade_from_version_preserves_data_and_works(tmp_path: Path, version: int) -> None:
    path = tmp_path / f"v{version}.db"
    if version < N:
        _load_fixture(path, version)
    else:
        _fixture(N)
        await _fill_with_current_code(path)
    conn = sqlite3.connect(path)
    before = _rows(conn)
    conn.close()
    assert sum(len(v) for v in before.values()) > 40

    upgraded = connect(path, check="full")  # what the bot does at start: checks, then migrates
    try:
        assert upgraded.execute("PRAGMA user_version").fetchone()[0] == N
        assert upgraded.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert upgraded.execute("PRAGMA foreign_key_check").fetchall() == []
        after = _rows(upgraded)
    finally:
        upgraded.close()
    for table, rows in before.items():
        if table not in after:
            continue  # dropped by a migration on purpose
        cols = set(after[table][0]) if after[table] else set(rows[0]) if rows else set()
        keep = [{k: v for k, v in r.items() if k in cols} for r in rows]
        got = [{k: v for k, v in r.items() if k in keep[0]} for r in after[table]] if keep else []
        for r in keep:
            assert r in got, (table, r)

    c = await Corpus.open(path, check="full")
    try:
        r = c.reader
        assert {s.id for s in [r.story("g-story", A.guild_id), r.story("a-story", A.guild_id)] if s} == {"g-story", "a-story"}
        assert r.story("b-story", A.guild_id) is None and r.story("b-story", B.guild_id) is not None
        g = r.story("g-story", A.guild_id)
        assert [q.id for q in g.questions] == ["a-q"] and [p.id for p in g.questions[0].positions] == ["a-p", "a-p2"]
        assert r.rating("g-outlet", A.guild_id).factual_record.value == "low"
        assert "h-story" in r.hidden_stories(A.guild_id)
        assert [cl.id for cl in r.claims("a-story", A.guild_id)] == []  # removed
        entry = await c.undo(A)  # an audit snapshot written by version k restores under version N
        assert entry is not None and entry.action == "remove"
        assert [cl.id for cl in r.claims("a-story", A.guild_id)] == ["a-c1"]
        assert r.story_candidates('"council"', A.guild_id) and r.term_visible("council", A.guild_id)
        assert r.passage_candidates('"bus"', A.guild_id)
        await c.apply(small_file("new"), A)
        exported = await c.export(A.guild_id)
        assert {s.id for s in exported.stories} == {"a-story", "new-story"}
        assert (await c.settings(A.guild_id))["moderator_role_id"] == 42
        assert 5000 in await c.autoreply_channels(A.guild_id)
    finally:
        await c.close()


def test_frozen_fixture_loads_as_the_data_it_froze(tmp_path: Path) -> None:
    """The loader used for older versions, on the current version's fixture: the same rows as the live data."""
    live = tmp_path / "live.db"
    asyncio.run(_fill_with_current_code(live))
    loaded = tmp_path / "loaded.db"
    _load_fixture(loaded, N)
    a, b = sqlite3.connect(live), sqlite3.connect(loaded)
    try:
        rows_a, rows_b = _rows(a), _rows(b)
        for t in rows_a:
            strip = {"created_at"}  # timestamps differ between the two runs
            norm = lambda rows: sorted(json.dumps({k: v for k, v in r.items() if k not in strip}, sort_keys=True)
                                       for r in rows)  # noqa: E731
            if t == "audit_log":
                continue  # snapshots hold created_at too
            if t == "article_signals":  # derived from the signal code, which may change after the freeze
                assert sorted(r["article_id"] for r in rows_a[t]) == sorted(r["article_id"] for r in rows_b[t])
                continue
            if t == "meta":  # ...and so is the fingerprint of that code (it changes with bot/text.py, for one)
                rows_a[t], rows_b[t] = ([{**r, "value": "?"} if r["key"] == "signals_code" else r for r in rows[t]]
                                        for rows in (rows_a, rows_b))
            assert norm(rows_a[t]) == norm(rows_b[t]), t
        assert b.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("version", range(0, N + 1))
def test_every_column_of_every_table_survives_the_upgrade(tmp_path: Path, version: int) -> None:
    """Synthetic rows in every table at version k (columns found by introspection), then the upgrade to N."""
    path = tmp_path / f"s{version}.db"
    conn = _build_at(path, version)
    try:
        tables = _regular_tables(conn)
        fks = {t: {r[3]: (r[2], r[4]) for r in conn.execute(f"PRAGMA foreign_key_list({t})")} for t in tables}
        order: list[str] = []
        while len(order) < len(tables):  # parents first
            for t in tables:
                if t not in order and all(p in order or p == t for p, _ in fks[t].values()):
                    order.append(t)
        inserted: dict[str, list[dict]] = {}
        for t in order:
            cols = _columns(conn, t)
            inserted[t] = []
            for i in range(3):
                row = {}
                for c in cols:
                    if c in fks[t]:
                        parent, pcol = fks[t][c]
                        row[c] = inserted[parent][i][pcol] if inserted.get(parent) else None
                    else:
                        decl = next(x[2] for x in conn.execute(f"PRAGMA table_xinfo({t})") if x[1] == c).upper()
                        row[c] = (9000 + i) if "INT" in decl else (0.5 + i) if "REAL" in decl else f"{t}-{c}-{i}"
                cur = conn.execute(f"INSERT OR IGNORE INTO {t} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",  # noqa: S608
                                   list(row.values()))
                if cur.rowcount:
                    inserted[t].append(row)
        before = _rows(conn)
    finally:
        conn.close()
    if version == 0:
        assert before == {}
    upgraded = connect(path, check="full")
    try:
        assert upgraded.execute("PRAGMA user_version").fetchone()[0] == N
        after = _rows(upgraded)
        assert upgraded.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        upgraded.close()
    for t, rows in before.items():
        for row in rows:
            if t in after:
                assert any(all(a.get(k) == v for k, v in row.items() if k in a) for a in after[t]), (t, row)


def test_a_failing_migration_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "f.db"
    connect(path).close()
    conn = sqlite3.connect(path)
    before = conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    broken = (N + 1, f"{N + 1:04d}_broken.sql", "CREATE TABLE half_done (x);\nINSERT INTO no_such_table VALUES (1);")
    import storage.db as db

    real = db.migrations
    monkeypatch.setattr(db, "migrations", lambda: [*real(), broken])
    with pytest.raises((sqlite3.OperationalError, StorageError)):
        connect(path)
    monkeypatch.setattr(db, "migrations", real)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == N
    assert conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall() == before
    conn.close()
    connect(path).close()  # and it still opens


if __name__ == "__main__":
    if sys.argv[1:] == ["freeze"]:
        print(f"wrote {freeze()}")
    else:
        print(__doc__)
