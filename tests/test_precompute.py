"""Kept signals (schema v6, bot/precompute.py): a report reads each article's own signals from the database instead
of computing them, and the report is the same either way.  Real seeded databases in tmp_path."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from pathlib import Path

import pytest

import bot.signals as signals_mod
from bot.cli import main, prepare
from bot.precompute import fill, run_in_background
from bot.service import Checker
from bot.signals import article_signals, dump_own, load_own, own_signals, signals_key, with_other_sources
from storage.corpus import Actor, Corpus
from storage.reader import CorpusReader

CLAIMS = ["Moscow inks defense pact with Kabul", "is it true the taliban are now russia's military allies?"]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "c.db"
    prepare(path)  # created and seeded: the seed story's five real articles
    return path


def _reports(path: Path) -> list[str]:
    reader = CorpusReader(path)
    try:
        checker = Checker(reader)
        return [checker.check(c).to_json() for c in CLAIMS]
    finally:
        reader.close()


def _seed_articles(path: Path) -> list:
    reader = CorpusReader(path)
    try:
        (story_id,) = reader.conn.execute("SELECT id FROM stories").fetchone()
        return reader.articles(story_id, None)
    finally:
        reader.close()


def test_own_signals_and_the_date_comparison_are_the_article_signals(db: Path) -> None:
    articles = _seed_articles(db)
    assert len(articles) == 5
    for a in articles:
        own = own_signals(a)
        assert load_own(dump_own(own)) == own  # kept and read back equal
        for other in ([], [d for d in own.event_dates][:1], ["2026-01-01"]):
            assert with_other_sources(load_own(dump_own(own)), other) == article_signals(a, other_dates=other)
    assert any(own_signals(a).event_dates for a in articles)  # the seed articles give dates to compare


def test_reports_read_kept_signals_and_stay_the_same(db: Path, monkeypatch) -> None:
    before = _reports(db)
    assert all(json.loads(r)["matches"] for r in before)
    done = fill(db)
    assert done.articles == done.computed == 5
    assert fill(db).computed == 0  # all kept and still fitting
    monkeypatch.setattr(signals_mod, "own_signals", lambda a: pytest.fail(f"computed {a.id}, which is kept"))
    assert _reports(db) == before


def test_kept_signals_no_longer_used_once_the_article_or_the_code_changes(db: Path, monkeypatch) -> None:
    fill(db)
    articles = _seed_articles(db)
    conn = sqlite3.connect(db)
    edited = articles[0]
    conn.execute("UPDATE articles SET text = text || ' Officials said this was unverified.' WHERE id = ?", (edited.id,))
    conn.commit()
    conn.close()
    computed = []
    real = signals_mod.own_signals
    monkeypatch.setattr(signals_mod, "own_signals", lambda a: computed.append(a.id) or real(a))
    _reports(db)
    assert set(computed) == {edited.id}  # only the edited article's kept signals no longer fit
    computed.clear()
    monkeypatch.setattr(signals_mod, "SIGNALS_CODE", b"other code")  # a new version of the signal code
    _reports(db)
    assert set(computed) == {a.id for a in articles}
    assert fill(db).computed == 5  # and the next fill keeps them again for this code


def test_a_fill_with_everything_kept_reads_no_article_and_a_write_makes_its_article_missing(db: Path, monkeypatch) -> None:
    import bot.precompute as precompute

    assert fill(db).computed == 5
    real = precompute.row_article
    read: list[str] = []
    monkeypatch.setattr(precompute, "row_article", lambda r: read.append(r["id"]) or real(r))
    assert fill(db).computed == 0 and read == []  # found through the id index: no article text read
    victim = _seed_articles(db)[2]
    conn = sqlite3.connect(db)
    conn.execute("UPDATE articles SET author = 'A. Writer' WHERE id = ?", (victim.id,))  # the trigger drops its row
    conn.commit()
    assert conn.execute("SELECT count(*) FROM article_signals WHERE article_id = ?", (victim.id,)).fetchone()[0] == 0
    conn.close()
    assert fill(db).computed == 1 and read == [victim.id]
    read.clear()
    monkeypatch.setattr(signals_mod, "SIGNALS_CODE", b"other code")  # new signal code: every article read again
    assert fill(db).computed == 5 and len(read) == 5


def test_a_deleted_article_takes_its_kept_signals_along(db: Path) -> None:
    fill(db)
    victim = _seed_articles(db)[0]

    async def remove() -> None:
        corpus = await Corpus.open(db)
        try:
            await corpus.remove("article", victim.id, Actor(0, 1, "owner"))
        finally:
            await corpus.close()

    asyncio.run(remove())
    conn = sqlite3.connect(db)
    ids = {r[0] for r in conn.execute("SELECT article_id FROM article_signals")}
    conn.close()
    assert victim.id not in ids and len(ids) == 4


def test_unreadable_kept_signals_are_computed_instead(db: Path, caplog) -> None:
    before = _reports(db)
    fill(db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE article_signals SET own = '{not json'")
    conn.commit()
    conn.close()
    with caplog.at_level(logging.WARNING):
        assert _reports(db) == before
    assert "unreadable" in caplog.text


def test_a_change_that_changes_the_signals_changes_the_key(db: Path) -> None:
    """Every field of an article: changing it either leaves its own signals as they were or changes the key (so a
    kept copy is never used for an article it no longer describes)."""
    from datetime import date

    from bot.models import Article, ArticleRole

    articles = _seed_articles(db)
    a = next(x for x in articles if x.published)
    other = {"id": "other-id", "story": "other-story", "outlet": "other-outlet", "title": "SHOCKING!!! You won't believe: " + a.title,
             "url": "https://example.org/x", "published": date(2020, 1, 1), "author": "Someone Else",
             "language": "de", "role": ArticleRole.background, "text": a.text + "\nShop now, click to buy!",
             "guild_id": 7}
    assert set(other) == set(Article.model_fields)  # a new field must be listed here
    changed_signals = set()
    for field, value in other.items():
        changed = a.model_copy(update={field: value})
        if own_signals(changed) != own_signals(a):
            changed_signals.add(field)
            assert signals_key(changed) != signals_key(a), field
    assert changed_signals >= {"title", "text", "language", "author"}, changed_signals


def test_crosscheck_precompute_command(db: Path, capsys) -> None:
    assert main(["--db", str(db), "precompute"]) == 0
    assert "5 articles' signals computed and kept (5 articles read)" in capsys.readouterr().out
    assert main(["--db", str(db), "precompute"]) == 0
    assert "0 articles' signals computed and kept (0 articles read)" in capsys.readouterr().out


def test_the_background_child_keeps_the_signals(db: Path) -> None:
    child = run_in_background(db)
    assert child is not None
    assert child.wait(timeout=60) == 0
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM article_signals").fetchone()[0] == 5
    conn.close()


def test_one_pass_per_database_at_a_time(db: Path) -> None:
    """Several shards of a bot each start a pass: while one runs, the others do nothing."""
    from bot.precompute import _only_pass

    with _only_pass(db) as alone:
        assert alone
        other = fill(db)
        assert other.busy and other.computed == 0 and "another pass" in other.describe()
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT count(*) FROM article_signals").fetchone()[0] == 0
        conn.close()
    assert fill(db).computed == 5  # once it is done, the next pass runs


def test_without_a_lock_module_passes_run_unlocked(db: Path, monkeypatch) -> None:
    """Neither fcntl nor msvcrt (an unusual platform): no lock, and a pass still runs (passes may then overlap)."""
    import sys

    from bot.precompute import _only_pass

    monkeypatch.setitem(sys.modules, "fcntl", None)  # `import fcntl` raises ImportError
    monkeypatch.setitem(sys.modules, "msvcrt", None)
    with _only_pass(db) as alone:
        assert alone
        other = fill(db)
        assert not other.busy and other.computed == 5
