"""Hostile imports: every bad file gives one clear error naming the record (and field) at fault, and the corpus,
its full-text index and its audit log are exactly as before (table dumps compared)."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
from pathlib import Path

import pytest

from bot.cli import main as cli
from bot.importers import MAX_DEPTH, MAX_IMPORT_BYTES, MAX_RECORDS, ImportFileError, load_bytes, load_path
from bot.seeds import load_seed, seed_fingerprint
from storage.corpus import Corpus, CorpusError, PermissionDenied
from tests.reliability.helpers import A, B, small_file, table_dump

BASE = {
    "format": "crosscheck-corpus",
    "outlets": [{"id": "o1", "name": "Outlet One", "domains": ["one.example"]}],
    "stories": [
        {"id": "s1", "title": "Story one", "questions": [
            {"id": "q1", "text": "When?", "positions": [{"id": "p1", "statement": "Monday", "articles": ["a1"]}]}]},
        {"id": "s2", "title": "Story two"},
    ],
    "articles": [{"id": "a1", "story": "s1", "outlet": "o1", "text": "Text of a1.", "url": "https://one.example/a1"}],
    "claims": [{"id": "c1", "story": "s1", "text": "A claim.", "articles": ["a1"]}],
}


def variant(fn) -> bytes:
    obj = copy.deepcopy(BASE)
    fn(obj)
    return json.dumps(obj).encode()


def _claimreview(n: int, bad: int | None = None, dup: int | None = None, prefix: str = "cr") -> bytes:
    items = []
    for i in range(n):
        item = {"@context": "https://schema.org", "@type": "ClaimReview", "claimReviewed": f"Claim number {i} is true",
                "url": f"https://factcheck.example/{prefix}/{i}", "author": {"@type": "Organization", "name": "FC"},
                "reviewRating": {"@type": "Rating", "alternateName": "False"}, "datePublished": "2026-05-01"}
        if i == bad:
            item["claimReviewed"] = "   "
        if i == dup:
            item["url"] = f"https://factcheck.example/{prefix}/0"
        items.append(item)
    return json.dumps({"@context": "https://schema.org", "@graph": items}).encode()


# (name, file bytes, the error must contain all of these)
PARSE_CASES = [
    ("truncated-json", json.dumps(BASE).encode()[:-7], ["not valid JSON", "line 1, column"]),
    ("not-utf8", b'{"stories": ["\xff"]}', ["not UTF-8"]),
    ("top-level-string", b'"hello"', ["neither a Crosscheck corpus file"]),
    ("stories-not-a-list", variant(lambda o: o.update(stories={"id": "s1"})), ["stories", "valid list"]),
    ("text-is-a-number", variant(lambda o: o["articles"][0].update(text=5)), ["articles[0].text", "valid string"]),
    ("bad-url", variant(lambda o: o["articles"][0].update(url="javascript:alert(1)")), ["articles[0].url", "http(s)"]),
    ("bad-slug", variant(lambda o: o["stories"][1].update(id="Robert'); DROP TABLE stories;--")), ["stories[1].id", "slug"]),
    ("dup-story-id", variant(lambda o: o["stories"][1].update(id="s1")), ["stories[1].id", "duplicate id 's1'"]),
    ("dup-claim-id", variant(lambda o: o["claims"].append(dict(o["claims"][0]))), ["claims[1].id", "duplicate"]),
    ("extra-field", variant(lambda o: o["stories"][0].update(owner="me")), ["stories[0].owner", "not permitted"]),
    ("huge-integer", b'{"stories": [' + b"9" * 5000 + b"]}", ["4300 digits"]),
    ("deep-nesting", b"[" * 100_000 + b"]" * 100_000, ["nested too deeply"]),
    ("nesting-over-limit", b'{"stories": ' + b"[" * (MAX_DEPTH + 2) + b"]" * (MAX_DEPTH + 2) + b"}",
     [f"deeper than {MAX_DEPTH} levels"]),
    ("too-many-records", b'{"stories": [' + b"0," * MAX_RECORDS + b"0]}", [f"over the limit of {MAX_RECORDS:,}"]),
    ("claimreview-bad-item", _claimreview(5_000, bad=4_321), ["ClaimReview[4321].claimReviewed", "missing"]),
    ("claimreview-duplicate", _claimreview(5_000, dup=3_210), ["ClaimReview[3210]", "duplicate"]),
]

# Files that parse but cannot be applied: the store refuses them, in one transaction.
APPLY_CASES = [
    ("unknown-story-ref", variant(lambda o: o["articles"][0].update(story="nope")), CorpusError, ["articles[0].story", "'nope'"]),
    ("unknown-position-article", variant(lambda o: o["stories"][0]["questions"][0]["positions"][0].update(articles=["zz"])),
     CorpusError, ["positions[p1]", "unknown article 'zz'"]),
    ("domain-in-two-outlets", variant(lambda o: o["outlets"].append({"id": "o2", "name": "Two", "domains": ["one.example"]})),
     CorpusError, ["outlets[1].domains", "one.example"]),
    ("dup-entity-id", variant(lambda o: o["stories"][0].update(entities=[{"id": "e", "name": "E"}, {"id": "e", "name": "F"}])),
     CorpusError, ["stories[0].entities", "duplicate id 'e'"]),
    ("dup-question-across-stories", variant(lambda o: o["stories"][1].update(questions=[{"id": "q1", "text": "Other?"}])),
     CorpusError, ["stories[1].questions[q1]", "duplicate"]),
    ("dup-position-id", variant(lambda o: o["stories"][0]["questions"][0]["positions"].append({"id": "p1", "statement": "x"})),
     CorpusError, ["positions[p1]", "duplicate"]),
    ("global-story-id", variant(lambda o: o["stories"][1].update(id="ru-af-military-technical-agreement-2026")),
     PermissionDenied, ["stories[1].id", "global corpus"]),
]


@pytest.fixture(scope="module")
def _populated_master(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("populated") / "master.db"

    async def go() -> None:
        c = await Corpus.open(path)
        await c.seed(load_seed(), seed_fingerprint())
        await c.apply(small_file("mine"), A)
        await c.close()  # the last connection to close folds the WAL into the file

    asyncio.run(go())
    return path


@pytest.fixture
def populated(_populated_master: Path, tmp_path: Path) -> Path:
    """Seeded global corpus plus server A's own small corpus (a fresh copy for each test)."""
    path = tmp_path / "c.db"
    shutil.copyfile(_populated_master, path)
    return path


@pytest.mark.parametrize(("name", "data", "expect"), PARSE_CASES, ids=[c[0] for c in PARSE_CASES])
def test_bad_file_is_refused_by_the_cli_naming_the_record(populated: Path, tmp_path: Path, capsys, name, data, expect) -> None:
    before = table_dump(populated, with_audit=True)
    f = tmp_path / f"{name}.json"
    f.write_bytes(data)
    assert cli(["--db", str(populated), "import", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("crosscheck: import failed, nothing changed: ") and err.count("\n") == 1, err
    for part in expect:
        assert part in err, (part, err)
    assert "Traceback" not in err
    assert table_dump(populated, with_audit=True) == before


@pytest.mark.parametrize(("name", "data", "exc", "expect"), APPLY_CASES, ids=[c[0] for c in APPLY_CASES])
async def test_file_the_store_refuses_changes_nothing(populated: Path, name, data, exc, expect) -> None:
    before = table_dump(populated, with_audit=True)
    _fmt, file = load_bytes(data)
    corpus = await Corpus.open(populated)
    try:
        with pytest.raises(exc) as info:
            await corpus.apply(file, B)
    finally:
        await corpus.close()
    for part in expect:
        assert part in str(info.value), (part, str(info.value))
    assert table_dump(populated, with_audit=True) == before


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.truncate(MAX_IMPORT_BYTES + 1)  # sparse: costs no disk or memory
    with pytest.raises(ImportFileError, match="over the 64 MiB limit"):
        load_path(big)
    with pytest.raises(ImportFileError, match="over the 64 MiB limit"):
        load_bytes(b" " * (MAX_IMPORT_BYTES + 1))
    assert os.path.getsize(big) == MAX_IMPORT_BYTES + 1


async def test_thousands_of_claimreview_items_colliding_at_the_end_change_nothing(populated: Path) -> None:
    """Server A imports 1,200 fact-checks; server B imports a page whose last item is one of A's: B gets an error
    naming that record and nothing of B's 1,200 items is stored."""
    corpus = await Corpus.open(populated)
    try:
        _fmt, mine = load_bytes(_claimreview(1_200, prefix="a"))
        await corpus.apply(mine, A)
        before = table_dump(populated, with_audit=True)
        items = json.loads(_claimreview(1_200, prefix="b"))["@graph"]
        items[-1] = json.loads(_claimreview(1_200, prefix="a"))["@graph"][-1]  # same url -> same ids as A's
        _fmt, theirs = load_bytes(json.dumps(items).encode())
        with pytest.raises(PermissionDenied) as info:
            await corpus.apply(theirs, B)
        assert "is already taken" in str(info.value) and "[" in str(info.value)
        assert table_dump(populated, with_audit=True) == before
    finally:
        await corpus.close()


async def test_reimporting_a_question_under_another_story_is_refused(populated: Path) -> None:
    """Regression: an existing question id under a different story was silently kept on its old story with the new
    text (and undo, which snapshots the new story only, could not restore it)."""
    corpus = await Corpus.open(populated)
    try:
        _fmt, file = load_bytes(json.dumps(BASE).encode())
        await corpus.apply(file, A)
        moved = copy.deepcopy(BASE)
        moved["stories"][1]["questions"] = moved["stories"][0].pop("questions")
        before = table_dump(populated, with_audit=True)
        with pytest.raises(CorpusError, match=r"stories\[1\]\.questions\[q1\]: id is taken by a question of story 's1'"):
            await corpus.apply(load_bytes(json.dumps(moved).encode())[1], A)
        assert table_dump(populated, with_audit=True) == before
    finally:
        await corpus.close()
