"""The command line, run in-process on real database files (and once as a real subprocess, as a user would)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from bot.cli import main
from tests.conftest import ROOT, SEED_STORY


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env from the repo
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    return tmp_path / "cli.db"


def _snapshot_file_key(path) -> tuple | None:
    """The key a matcher index snapshot file was saved under (its first record), None if it is unreadable."""
    from bot.matching import _snapshot_records

    try:
        head = next(_snapshot_records(path.read_bytes()))
    except (OSError, EOFError, ValueError, TypeError, StopIteration):
        return None
    return head[0] if isinstance(head, tuple) and head else None


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_text_report(db, capsys) -> None:
    code, out, _ = run(capsys, "--db", str(db), "check", "Moscow inks defense pact with Kabul")
    assert code == 0
    assert "Russia and the Taliban government sign" in out
    assert "When was the agreement signed?" in out and "conflicting" in out
    assert "Trending World Digest" in out and "Kabul Dispatch" in out


def test_check_json_is_the_documented_shape(db, capsys) -> None:
    code, out, _ = run(capsys, "--db", str(db), "check", "is it true the taliban are now russia's military allies?", "--json")
    assert code == 0
    report = json.loads(out)
    assert set(report) >= {"query", "matches"}
    m = report["matches"][0]
    assert set(m) >= {"story", "score", "confidence", "matched_text", "versions", "sources"}
    assert m["story"]["id"] == SEED_STORY and set(m["story"]) >= {"id", "title"}
    assert isinstance(m["score"], float) and m["confidence"] in ("high", "medium", "low")
    v = m["versions"][0]
    assert set(v) >= {"question", "status", "positions"} and v["status"] == "conflicting"
    assert set(v["positions"][0]) >= {"statement", "articles", "evidence"}
    s = m["sources"][0]
    assert set(s) >= {"article", "outlet", "url", "rating", "signals", "summary"}
    assert set(s["signals"][0]) >= {"id", "label", "polarity", "strength", "evidence"}


def test_no_match_is_empty_and_exit_zero(db, capsys) -> None:
    code, out, _ = run(capsys, "--db", str(db), "check", "Afghanistan won the cricket match", "--json")
    assert code == 0 and json.loads(out)["matches"] == []
    code, out, _ = run(capsys, "--db", str(db), "check", "Afghanistan won the cricket match")
    assert code == 0 and "No known story matches" in out


@pytest.mark.parametrize(("text", "reason"), [("   ", "empty"), ("x" * 20_000, "20,000 characters"), ("\u200b\u200b", "empty")])
def test_bad_input_exits_non_zero_with_one_line(db, capsys, text: str, reason: str) -> None:
    code, out, err = run(capsys, "--db", str(db), "check", text)
    assert code == 2 and out == ""
    assert reason in err and err.count("\n") == 1


@pytest.mark.parametrize(("env", "says"), [
    ({"CROSSCHECK_THRESHOLD": "500"}, "CROSSCHECK_THRESHOLD: Input should be less than or equal to 100"),
    ({"CROSSCHECK_LOG_LEVEL": "loud"}, "CROSSCHECK_LOG_LEVEL: unknown log level: use DEBUG, INFO"),
    ({"CROSSCHECK_SHARD_ID": "1"}, "set both CROSSCHECK_SHARD_ID and CROSSCHECK_SHARD_COUNT, or neither"),
    ({"CROSSCHECK_SHARD_ID": "2", "CROSSCHECK_SHARD_COUNT": "2"}, "CROSSCHECK_SHARD_ID must be below"),
])
def test_a_bad_setting_is_named_with_what_is_wrong(db, capsys, monkeypatch, env: dict, says: str) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code, out, err = run(capsys, "--db", str(db), "stats")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("crosscheck: bad setting in the environment or .env: ") and says in err
    assert "loud" not in err  # what was wrong, not the value (a value may be a secret)


def test_top_limits_matches(db, capsys) -> None:
    code, out, _ = run(capsys, "--db", str(db), "check", "Moscow Kabul defense pact", "--json", "--top", "1")
    assert code == 0 and len(json.loads(out)["matches"]) == 1


def test_batch(db, tmp_path, capsys) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text(
        "\n".join([
            json.dumps({"id": "a", "text": "Moscow inks defense pact with Kabul"}),
            json.dumps({"id": "b", "text": "Afghanistan won the cricket match"}),
            "{broken",
            json.dumps({"id": "d", "text": ""}),
        ]) + "\n",
        encoding="utf-8",
    )
    code, out, err = run(capsys, "--db", str(db), "check", "--batch", str(batch))
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["id"] for x in lines] == ["a", "b", 3, "d"]
    assert lines[0]["matches"][0]["story"]["id"] == SEED_STORY and lines[1]["matches"] == []
    assert "error" in lines[2] and "error" in lines[3]
    assert code == 2 and "2 line(s)" in err


def test_import_bad_file_changes_nothing_and_names_the_field(db, tmp_path, capsys) -> None:
    run(capsys, "--db", str(db), "stats", "--json")
    before = json.loads(run(capsys, "--db", str(db), "stats", "--json")[1])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "crosscheck-corpus", "version": 1,
                               "stories": [{"id": "ok", "title": "fine"}],
                               "articles": [{"id": "a", "story": "ok", "outlet": "nope", "text": "t"}]}))
    code, _, err = run(capsys, "--db", str(db), "import", str(bad))
    assert code == 2 and "articles[0].outlet: unknown outlet 'nope'" in err and "nothing changed" in err
    after = json.loads(run(capsys, "--db", str(db), "stats", "--json")[1])
    assert after["stories"] == before["stories"] and after["articles"] == before["articles"]


def test_export_import_round_trip_and_claimreview_export(db, tmp_path, capsys) -> None:
    out = tmp_path / "export.json"
    assert run(capsys, "--db", str(db), "export", str(out))[0] == 0
    data = json.loads(out.read_text())
    assert data["format"] == "crosscheck-corpus" and len(data["articles"]) == 5
    other = tmp_path / "other.db"
    code, msg, _ = run(capsys, "--db", str(other), "import", str(out))
    assert code == 0 and "1 stories, 5 articles" in msg
    cr = tmp_path / "cr.json"
    assert run(capsys, "--db", str(db), "export", str(cr), "--format", "claimreview")[0] == 0
    assert json.loads(cr.read_text()) == []  # the seed claims carry no verdict


def test_seed_twice_changes_nothing(db, capsys) -> None:
    run(capsys, "--db", str(db), "stats")
    code, out, _ = run(capsys, "--db", str(db), "seed")
    assert code == 0 and "already seeded" in out


def test_console_behaves_like_an_auto_reply_channel(db, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("Moscow inks defense pact with Kabul\nAfghanistan won the cricket match\n\n/quit\n"))
    code, out, _ = run(capsys, "--db", str(db), "console")
    assert code == 0
    assert out.count("Russia and the Taliban government sign") == 1
    assert "no known story matches" in out


@pytest.mark.parametrize("command", [["run"], []])
def test_run_without_token_starts_console(db, capsys, monkeypatch, command) -> None:
    """`crosscheck run`, and `crosscheck` alone (what `python -m bot` runs), start the console without a token."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("rusia afganistan militry deal signd\n"))
    code, out, err = run(capsys, "--db", str(db), *command)
    assert code == 0 and "console mode" in err and "Russia and the Taliban" in out


def test_python_m_bot_subprocess(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--db", str(tmp_path / "p.db"), "check", "Moscow inks defense pact with Kabul", "--json"],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["matches"][0]["story"]["id"] == SEED_STORY


def test_import_saves_the_matcher_index_for_the_next_start(db, tmp_path, capsys, monkeypatch) -> None:
    """After `crosscheck import` the matcher's snapshot beside the database is of the imported state: the next
    process loads it and never rebuilds the index."""
    from bot import matching
    from storage.reader import CorpusReader

    snapshot = db.with_name(db.name + ".matcher-index")
    assert run(capsys, "--db", str(db), "check", "Moscow inks defense pact with Kabul")[0] == 0
    old = _snapshot_file_key(snapshot)
    corpus_file = tmp_path / "new.json"
    corpus_file.write_text(json.dumps({
        "format": "crosscheck-corpus", "version": 1,
        "outlets": [{"id": "harbour-post", "name": "Harbour Post", "domains": ["harbourpost.example"]}],
        "stories": [{"id": "ferry-strike", "title": "Ferry workers strike over pay",
                     "entities": [{"id": "ferry-union", "name": "Ferry Workers Union", "aliases": ["FWU"]}],
                     "topic_terms": ["strike", "ferry"]}],
        "articles": [{"id": "hp-1", "story": "ferry-strike", "outlet": "harbour-post", "title": "Ferries stop",
                      "text": "The Ferry Workers Union began a strike over pay on Tuesday."}],
        "claims": [{"id": "fs-c1", "story": "ferry-strike", "text": "Ferry Workers Union strike stops all ferries"}],
    }))
    from storage.corpus import Corpus

    merged: list[str] = []
    real_optimize = Corpus.optimize_story_index

    async def optimize(self) -> None:  # noqa: ANN001
        merged.append(str(self.path))
        await real_optimize(self)

    monkeypatch.setattr(Corpus, "optimize_story_index", optimize)
    code, out, _ = run(capsys, "--db", str(db), "import", str(corpus_file))
    assert code == 0 and "matcher index saved" in out
    assert "crosscheck precompute" in out  # the new article's signals: how they get kept
    assert merged == [str(db)]  # the story index is merged into one b-tree before the snapshot is taken
    reader = CorpusReader(db)
    try:
        key = _snapshot_file_key(snapshot)
        assert key != old and key == matching._snapshot_key(reader, reader.version())

        def no_rebuild(self, reader):  # noqa: ANN001
            raise AssertionError("the index was rebuilt instead of loaded from the snapshot")

        monkeypatch.setattr(matching._Index, "_build", no_rebuild)
        result = matching.Matcher(reader).match("ferry workers union strike stops all ferries", None)
        assert [h.story_id for h in result.hits][:1] == ["ferry-strike"]
    finally:
        reader.close()
    # --no-index leaves the snapshot of the state before.
    corpus_file.write_text(corpus_file.read_text().replace("over pay", "over wages"))
    code, out, _ = run(capsys, "--db", str(db), "import", str(corpus_file), "--no-index")
    assert code == 0 and "matcher index" not in out
    assert merged == [str(db)]  # --no-index skips the merge too
    assert _snapshot_file_key(snapshot) == key


def _damaged_copy(db, capsys, table: str):
    """A seeded database with ``table``'s leaf pages scribbled over."""
    from tests.reliability.test_durability import _damage, _filled

    assert run(capsys, "--db", str(db), "stats")[0] == 0  # created and seeded
    _filled(db)
    _damage(db, table)


def test_reading_commands_skip_the_whole_file_check_and_writing_ones_keep_it(db, capsys) -> None:
    """`check` reads a handful of pages; the quick check reads them all (seconds at a million claims), so reading
    commands leave it out on a file that needs nothing written.  Writing commands, and `full`, still refuse."""
    _damaged_copy(db, capsys, "feedback")
    code, out, err = run(capsys, "--db", str(db), "check", "Moscow inks defense pact with Kabul")
    assert code == 0 and "Russia and the Taliban government sign" in out, err
    code, _, err = run(capsys, "--db", str(db), "export", "-")
    assert code == 1 and "crosscheck restore PATH" in err
    os.environ["CROSSCHECK_INTEGRITY_CHECK"] = "full"
    try:
        code, _, err = run(capsys, "--db", str(db), "stats")
    finally:
        del os.environ["CROSSCHECK_INTEGRITY_CHECK"]
    assert code == 1 and "crosscheck restore PATH" in err


def test_a_damaged_page_met_by_a_reading_command_is_a_clear_error(db, capsys) -> None:
    _damaged_copy(db, capsys, "search_story_content")
    code, _, err = run(capsys, "--db", str(db), "check", "Moscow inks defense pact with Kabul")
    assert code == 1, err
    assert "could not be read" in err and "crosscheck restore PATH" in err and "Traceback" not in err
