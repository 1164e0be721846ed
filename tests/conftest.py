"""Shared fixtures: real SQLite files in tmp_path, seeded from seeds/ exactly as a first start does."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.seeds import load_seed, seed_fingerprint
from storage.corpus import Corpus
from storage.reader import CorpusReader

ROOT = Path(__file__).resolve().parents[1]
SEED_STORY = "ru-af-military-technical-agreement-2026"

#: A corpus where most words are common: 46 stories "Video shows the president with a <thing>", one of them with a
#: lemon.  A message that shares only common words and "lemon" with it holds one distinctive term, so the quick pass
#: (stories sharing two distinctive terms) finds nothing, while scoring the full candidate list finds it at once.
COMMON_THINGS = ("apple banana cherry dragon eagle falcon guitar harbor island jungle kettle ladder magnet nickel "
                 "orchid parrot quartz rocket saddle tunnel umbrella violin walrus xylophone yogurt zephyr anchor "
                 "bucket candle dolphin engine feather garlic hammer igloo jacket kitten lantern mirror needle oyster "
                 "pepper quiver ribbon spider lemon").split()
LEMON_STORY = "video-president-lemon"
LEMON_TITLE = "Video shows the president with a lemon"
LEMON_CLAIM = "this video shows the president holding a lemon"


def common_word_corpus():
    """The corpus file of COMMON_THINGS (no entities: stories as a fact-check import makes them)."""
    from bot.models import Claim, CorpusFile, Story

    stories = [Story(id=LEMON_STORY if w == "lemon" else f"video-president-{w}", title=f"Video shows the president with a {w}")
               for w in COMMON_THINGS]
    return CorpusFile(stories=stories, claims=[Claim(id=f"{s.id}-c", story=s.id, text=f"{s.title} at the White House")
                                               for s in stories])


@pytest.fixture(autouse=True)
def _root_logger_restored():
    """Tests that run the CLI in-process call setup_logging, which replaces the root logger's handlers; put them back
    so no test's logging depends on which tests ran before it."""
    import logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    for h in list(root.handlers):
        if h not in saved[0]:
            root.removeHandler(h)
    for h in saved[0]:
        if h not in root.handlers:
            root.addHandler(h)
    root.setLevel(saved[1])


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "crosscheck.db"


@pytest.fixture
async def corpus(db_path: Path):
    """A seeded corpus on a fresh file (async write side)."""
    c = await Corpus.open(db_path)
    await c.seed(load_seed(), seed_fingerprint())
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
def seeded_path(tmp_path: Path) -> Path:
    """A fresh database file, seeded, for synchronous tests (reader, matcher, CLI)."""
    import asyncio

    path = tmp_path / "seeded.db"

    async def go() -> None:
        c = await Corpus.open(path)
        await c.seed(load_seed(), seed_fingerprint())
        await c.close()

    asyncio.run(go())
    return path


@pytest.fixture
def reader(seeded_path: Path):
    r = CorpusReader(seeded_path)
    yield r
    r.close()


@pytest.fixture
def checker(reader: CorpusReader):
    from bot.service import Checker

    return Checker(reader)
