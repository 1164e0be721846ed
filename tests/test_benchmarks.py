"""Tests of the benchmark scripts: the CheckThat! metrics, file readers and corpus conversion, the synthetic
generator's determinism, and benchmarks/checkthat.py, benchmarks/run.py and benchmarks/shards.py end to end on tiny
inputs.  The benchmarks themselves (the real data, the timings) are not run here (see docs/performance.md)."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from benchmarks.checkthat import read_qrels, read_queries, to_corpus
from benchmarks.metrics import average_precision, precision_at, reciprocal_rank, score_run
from benchmarks.synth import generate, queries


def test_average_precision_follows_the_task_definition() -> None:
    assert average_precision(["a", "b"], {"a"}, 5) == 1.0
    assert average_precision(["x", "a"], {"a"}, 5) == 0.5
    assert average_precision(["x", "a"], {"a"}, 1) == 0.0
    # two relevant: (1/1 + 2/3) / 2
    assert average_precision(["a", "x", "b"], {"a", "b"}, 5) == pytest.approx((1 + 2 / 3) / 2)
    # relevant beyond the cut-off do not count, and the divisor is min(#relevant, k)
    assert average_precision(["x", "y", "z", "w", "v", "a"], {"a"}, 5) == 0.0
    assert average_precision([], {"a"}, 5) == 0.0


def test_rr_and_precision() -> None:
    assert reciprocal_rank(["x", "y", "a"], {"a"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x"], {"a"}) == 0.0
    assert precision_at(["a", "b"], {"a"}, 1) == 1.0
    assert precision_at(["b", "a"], {"a"}, 1) == 0.0


def test_score_run_skips_queries_without_gold() -> None:
    run = {"q1": ["a", "b"], "q2": ["c"], "q3": ["z"]}
    qrels = {"q1": {"b"}, "q2": {"c"}, "q3": set()}
    r = score_run(run, qrels)
    assert r["queries"] == 2
    assert r["map@5"] == pytest.approx((0.5 + 1.0) / 2)
    assert r["p@1"] == pytest.approx(0.5)
    assert r["mrr"] == pytest.approx(0.75)


def test_checkthat_readers_and_conversion(tmp_path) -> None:
    (tmp_path / "queries.tsv").write_text("1\tfirst tweet\n2\tsecond\ttab inside\n\n", encoding="utf-8")
    (tmp_path / "qrels.tsv").write_text("1 0 10 1\n1 0 11 1\n2 0 12 0\n", encoding="utf-8")
    assert read_queries(tmp_path / "queries.tsv") == [("1", "first tweet"), ("2", "second\ttab inside")]
    assert read_qrels(tmp_path / "qrels.tsv") == {"1": {"10", "11"}}
    file, ids = to_corpus([
        {"id": "10", "claim": "A claim.", "title": "A title"},
        {"id": "vclaim-sno-x", "claim": "Other claim.", "title": "", "subtitle": "Sub"},
    ])
    assert [s.title for s in file.stories] == ["A title", "Other claim."]
    assert file.stories[1].summary == "Sub"
    assert [c.text for c in file.claims] == ["A claim.", "Other claim."]
    assert sorted(ids.values()) == ["10", "vclaim-sno-x"]
    # Zero-padded ids: ties rank in the collection's order.
    assert sorted(ids) == list(ids)


def test_synthetic_corpus_is_deterministic() -> None:
    a = list(generate(30, seed=3))
    b = list(generate(30, seed=3))
    assert json.dumps([s.__dict__ for s in a]) == json.dumps([s.__dict__ for s in b])
    assert all(8 <= len(s.claims) <= 12 and 3 <= len(s.articles) <= 5 for s in a)
    assert sum(1 for s in a if not s.entities) == 6  # one story in five is an imported fact-check
    qs = queries(a, 10)
    assert set(qs) == {"short", "long", "link", "chatter"}
    assert all(gold for _t, gold in qs["short"]) and not any(gold for _t, gold in qs["chatter"])


def test_rounds_are_merged_per_query_and_their_ratios_kept() -> None:
    from benchmarks.report import render
    from benchmarks.run import KINDS, merge_rounds, round_ratios

    def result(lat: list[float], **extra) -> dict:
        return {"lat": {k: list(lat) for k in KINDS}, "top5": {k: [["s1"]] * len(lat) for k in KINDS},
                "rss_mib": 10.0, **extra}

    cc = [result([1.0, 2.0, 3.0], startup_s=0.5), result([3.0, 2.0, 1.0], startup_s=0.7),
          result([2.0, 9.0, 2.0], startup_s=0.6)]
    # A slow peer answered fewer queries in one round: its later queries are the median of the rounds that ran them.
    peer = [result([4.0, 4.0, 4.0]), result([2.0, 2.0]), result([6.0, 6.0, 8.0])]
    merged = merge_rounds(cc)
    assert merged["lat"]["short"] == [2.0, 2.0, 2.0]
    assert merged["startup_s"] == 0.6
    assert merge_rounds(peer)["lat"]["long"] == [4.0, 4.0, 6.0]
    assert merge_rounds(peer)["top5"]["long"] == [["s1"]] * 3
    assert merge_rounds(cc[:1]) is cc[0]
    ratios = round_ratios([{"crosscheck": c, "bm25s": p} for c, p in zip(cc, peer)])
    assert ratios["bm25s"]["short"] == [2.0, 1.0, 3.0]
    report = {"machine": {"cpu": "x", "cores": 2, "ram_gib": 1, "os": "y", "python": "3", "sqlite": "3"},
              "command": "c", "scales": [{"stories": 1, "claims": 1, "articles": 1, "rounds": 3, "round_ratios": ratios,
                                          "systems": {}}]}
    assert "bm25s short 2.00 / 1.00 / 3.00" in render(report)


def test_bootstrap_interval_of_a_mean() -> None:
    from benchmarks.metrics import bootstrap_interval

    assert bootstrap_interval([0.5] * 40) == (0.5, 0.5)
    assert bootstrap_interval([]) == (0.0, 0.0)
    values = [1.0] * 180 + [0.0] * 20  # mean 0.9
    lo, hi = bootstrap_interval(values)
    assert 0.85 < lo < 0.9 < hi < 0.95 and bootstrap_interval(values) == (lo, hi)  # seeded: the same every run
    lo99, hi99 = bootstrap_interval(values, level=0.99)
    assert lo99 <= lo and hi <= hi99


def test_checkthat_script_runs_any_collection_of_that_layout(tmp_path, capsys) -> None:
    """benchmarks/checkthat.py end to end on a tiny collection: the normal import and matcher, a readable table, and
    the JSON summary as the last line; a directory without the layout is refused."""
    from benchmarks.checkthat import main

    coll = tmp_path / "mini"
    (coll / "dev").mkdir(parents=True)
    vclaims = [
        {"id": "1", "title": "Did a giant squid wash ashore in Lisbon?", "claim": "A giant squid washed up on a Lisbon beach."},
        {"id": "2", "title": "Was the Eiffel Tower sold for scrap?", "claim": "The Eiffel Tower was sold as scrap metal."},
        {"id": "3", "title": "Do carrots improve night vision?", "claim": "Eating carrots lets people see in the dark."},
    ]
    (coll / "vclaims.jsonl").write_text("\n".join(json.dumps(v) for v in vclaims) + "\n", encoding="utf-8")
    (coll / "dev" / "queries.tsv").write_text(
        "q1\tA giant squid washed ashore on a beach in Lisbon!\n"
        "q2\tthey sold the eiffel tower for scrap metal??\n"
        "q3\tno gold for this one\n", encoding="utf-8")
    (coll / "dev" / "qrels.tsv").write_text("q1\t0\t1\t1\nq2\t0\t2\t1\n", encoding="utf-8")
    assert main([str(coll), "dev"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert {"collection", "split", "queries", "map@1", "map@5", "mrr", "p@1", "ms_per_query"} <= summary.keys()
    assert (summary["collection"], summary["split"], summary["queries"]) == ("mini", "dev", 2)
    assert summary["map@5"] == 1.0 and summary["p@1"] == 1.0
    assert any(line.startswith("MAP@5") for line in lines[:-1])
    assert any(line.startswith("MAP@5 95% CI") and "1.0000 – 1.0000" in line for line in lines[:-1])
    # Another split name works the same, and --run writes the ranked lists (TREC run format); a directory without
    # the layout is refused with exit status 2.
    (coll / "dev").rename(coll / "dev-test")
    assert main([str(coll), "dev-test", "--run", str(tmp_path / "run.txt")]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["split"] == "dev-test"
    rows = [line.split() for line in (tmp_path / "run.txt").read_text(encoding="utf-8").splitlines()]
    assert rows[0] == ["q1", "Q0", "1", "1", "1.0000", "crosscheck"]
    assert {r[0] for r in rows} == {"q1", "q2"} and all(len(r) == 6 for r in rows)
    assert [r[2] for r in rows if r[0] == "q2"][0] == "2" and [int(r[3]) for r in rows if r[0] == "q2"][0] == 1
    assert main([str(coll), "dev"]) == 2
    assert main([str(tmp_path / "nothing"), "dev"]) == 2


def test_checkthat_script_scores_bm25s_on_the_same_queries(tmp_path, capsys) -> None:
    """--peer bm25s (the bench extra): the lexical reference scored on the same queries, with the paired interval of
    the difference."""
    pytest.importorskip("bm25s")
    pytest.importorskip("Stemmer")
    from benchmarks.checkthat import main

    coll = tmp_path / "mini"
    (coll / "dev").mkdir(parents=True)
    vclaims = [{"id": str(i), "title": t, "claim": c} for i, (t, c) in enumerate([
        ("Did a giant squid wash ashore in Lisbon?", "A giant squid washed up on a Lisbon beach."),
        ("Was the Eiffel Tower sold for scrap?", "The Eiffel Tower was sold as scrap metal."),
        ("Do carrots improve night vision?", "Eating carrots lets people see in the dark."),
        ("Is the moon made of cheese?", "Astronauts found cheese on the moon."),
        ("Did a dog become mayor of a town?", "A dog was elected mayor of a small town."),
        ("Was a whale found in a river?", "A whale swam up the Thames river."),
    ], start=1)]
    (coll / "vclaims.jsonl").write_text("\n".join(json.dumps(v) for v in vclaims) + "\n", encoding="utf-8")
    (coll / "dev" / "queries.tsv").write_text(
        "q1\tgiant squid on a Lisbon beach\nq2\tthe eiffel tower was sold for scrap\nq3\tcarrots and night vision\n",
        encoding="utf-8")
    (coll / "dev" / "qrels.tsv").write_text("q1\t0\t1\t1\nq2\t0\t2\t1\nq3\t0\t3\t1\n", encoding="utf-8")
    assert main([str(coll), "dev", "--peer", "bm25s"]) == 0
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if x.startswith("bm25s"))
    assert "MAP@5 1.0000" in line and "Crosscheck minus bm25s: +0.0000" in line and "paired bootstrap" in line


def test_speed_benchmark_runs_end_to_end_on_a_tiny_corpus(tmp_path, monkeypatch, capsys) -> None:
    """benchmarks/run.py at 60 stories with one peer, the rapidfuzz scan (the others are a benchmark-only extra): the
    corpus generated and imported through Corpus.apply, Crosscheck and the peer measured each in its own process, the
    table printed with the machine noted, and the JSON report written.  Timings are printed, never asserted."""
    import benchmarks.run as run

    monkeypatch.setattr(run, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(run, "OUT", tmp_path / "out")
    assert run.main(["--scales", "60", "--queries", "5", "--peers", "rapidfuzz"]) == 0
    printed = capsys.readouterr().out
    assert "page cache warm: the database file read through before each Crosscheck round" in printed
    assert "machine:" in printed and "Python" in printed and "SQLite" in printed
    assert "chatter" in printed and "Ranking mode" in printed
    report = json.loads((tmp_path / "out" / "run-60.json").read_text())
    scale = report["scales"][0]
    assert scale["stories"] == 60 and scale["claims"] > 60 and scale["articles"] > 0 and scale["db_mib"] > 0
    assert scale["import_articles_per_s"] > 0
    cc = scale["systems"]["crosscheck"]
    assert set(scale["systems"]) == {"crosscheck", "rapidfuzz"}  # (rapidfuzz: the one peer the bot installs)
    assert scale["systems"]["rapidfuzz"]["short"]["n"] == 5 and "agree_top5" in scale["systems"]["rapidfuzz"]["short"]
    for kind in ("short", "long", "link"):
        assert cc[kind]["n"] == 5 and 0 < cc[kind]["p50_ms"] <= cc[kind]["p99_ms"]
        assert cc[kind]["p_at_1"] >= 0.6  # the query is made from its story: the matcher finds most of them
        assert 0 < cc["product"][kind]["p50_ms"] <= cc["product"][kind]["p99_ms"]
        assert 0 < cc["report"][kind]["p50_ms"] <= cc["report"][kind]["p99_ms"]  # the whole /check, report included
    assert cc["chatter_n"] == 500 and cc["chatter_false_hits"] == 0 and cc["chatter_per_s"] > 0
    assert cc["startup_s"] > 0 and cc["rss_mib"] > 0
    assert cc["integrity_check_s"] >= cc["startup_s"]  # opened as the bot opens it: the check runs beside the start
    assert "the integrity check beside it" in printed and "with its report" in printed
    assert 0 < cc["report_nomatch"]["p50_ms"] <= cc["report_nomatch"]["p99_ms"]  # a /check that finds nothing
    assert "matches nothing" in printed
    assert "Articles' signals kept" in printed  # as a started bot has them
    host = scale["host_rounds"]
    assert len(host) == 1 and host[0]["wall_s"] > 0 and host[0]["cpu_s"] > 0 and host[0]["disk_read_mib"] >= 0
    # The speed probe ran between the checks (every 10th of 5 queries of 3 kinds, 4 ways, and around the chatter).
    assert 0 < host[0]["probe_min_ms"] <= host[0]["probe_ms"] <= host[0]["probe_max_ms"]
    assert scale["probe_rounds"]["crosscheck"] == [host[0]["probe_ms"]] and scale["probe_rounds"]["rapidfuzz"][0] > 0
    assert "During Crosscheck's timed checks (each round): the speed probe" in printed
    assert f"The speed probe in each system's rounds, ms (fixed work; lower is faster): crosscheck " \
           f"{host[0]['probe_ms']:.3f}" in printed
    if Path("/proc/stat").exists():  # Linux: what else the machine did during the timed checks
        assert all(0 <= host[0][k] <= 100 for k in ("steal_pct", "iowait_pct", "others_pct"))
        assert "of the machine's CPU time: other processes" in printed
    from benchmarks.report import render

    table = render(report)
    assert "| 60 | " in table and "integrity check done" in table
    whole = table[table.index("integrity check done"):]  # the whole-/check table: its row holds the report's times
    row = next(line for line in whole.splitlines() if line.startswith("| 60 | "))
    assert row.startswith(f"| 60 | {cc['report']['short']['p50_ms']:.2f} / {cc['report']['short']['p99_ms']:.2f} |")
    assert f"The speed probe in each system's rounds, ms (a fixed piece of work timed between the checks; lower " \
           f"is faster): crosscheck {host[0]['probe_ms']:.3f}; rapidfuzz " in table
    assert f"60 stories: the speed probe (fixed work, lower is faster; median of the round) " \
           f"{host[0]['probe_ms']:.3f} ms; disk read {host[0]['disk_read_mib']:.1f} MiB" in table


def test_host_load_is_the_share_of_the_machines_cpu_time_between_two_readings() -> None:
    """/proc/stat's aggregate line, two readings 10 s apart on 2 cores at 100 ticks a second (2,000 ticks): this
    process used 3 s (300 ticks) of the 700 busy ones, so other processes ran 400 (20%)."""
    from benchmarks.run import cpu_ticks, host_line, host_load

    before = cpu_ticks("cpu  1000 0 500 9000 100 0 0 50 0 0")
    after = cpu_ticks("cpu  1550 0 650 10150 200 0 0 100 0 0")
    assert cpu_ticks("cpu0 1 2 3 4 5 6 7 8") is None and cpu_ticks("intr 5") is None
    load = host_load(before, after, own_cpu_s=3.0, hz=100)
    assert load == {"steal_pct": 2.5, "iowait_pct": 5.0, "others_pct": 20.0}
    assert host_load(before, after, own_cpu_s=30.0, hz=100)["others_pct"] == 0  # never below nothing
    short = cpu_ticks("cpu  10 0 5 90")  # an old kernel's shorter line: the missing fields count as 0
    assert short is not None and short["steal"] == 0 and short["idle"] == 90
    line = host_line([{**load, "disk_read_mib": 0.04, "minor_faults": 1200, "major_faults": 0, "probe_ms": 0.4},
                      {"disk_read_mib": 12.0, "minor_faults": 5, "major_faults": 3}])
    assert line == "the speed probe (fixed work, lower is faster; median of the round) 0.400 / – ms; disk read 0.0 / 12.0 MiB, page faults 1,200 / 5 minor and 0 / 3 major; of the machine's CPU " \
                   "time: other processes 20.0 / –%, steal 2.5 / –%, iowait 5.0 / –%"


def test_shards_benchmark_runs_several_processes_on_one_file(tmp_path, monkeypatch, capsys) -> None:
    """benchmarks/shards.py on a tiny corpus: one and two shard processes open a copy of the same file and check
    while this process adds a story through Corpus.apply; every shard finds that story, its memory is read, and
    the copy is deleted afterwards.  Timings are printed, never asserted."""
    import benchmarks.run as run
    import benchmarks.shards as shards

    monkeypatch.setattr(run, "CACHE", tmp_path / "cache")
    folder = run.prepare(60, 5, log=lambda *_: None)
    assert shards.main([str(folder), "--shards", "1", "2", "--seconds", "1"]) == 0
    printed = capsys.readouterr().out
    result = json.loads(printed.strip().splitlines()[-1])
    assert "machine:" in printed and "| shards |" in printed
    assert [r["shards"] for r in result["rounds"]] == [1, 2]
    for r in result["rounds"]:
        assert r["checks"] > 0 and 0 < r["p50_ms"] <= r["p99_ms"]
        assert len(r["found_s"]) == r["shards"] and all(s is not None and s >= 0 for s in r["found_s"])
        assert r["found_by_every_shard_s"] == max(r["found_s"])
        if sys.platform == "linux":
            assert 0 < r["pss_mib"] <= r["rss_mib"]
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith("shards-")] == []  # the copy is gone
    # ...and the cached corpus itself was never written to.
    con = sqlite3.connect(folder / "corpus.db")
    try:
        assert con.execute("SELECT count(*) FROM stories WHERE id LIKE 'zz-shards-%'").fetchone()[0] == 0
    finally:
        con.close()
