"""Several shards of the bot on one machine, checking against one corpus file while a moderator writes to it.

    .venv/bin/python -m benchmarks.shards benchmarks/.cache/synth-100000-g4-s6 --shards 1 2 4 --seconds 20

A bot shard is a process (Discord's gateway sharding): each opens the corpus file, holds its own matcher index and
answers its own servers' checks.  On a copy of a cached benchmark corpus (deleted afterwards), for each shard count
N: N processes open it as the bot opens it (migrations, the matcher's index from its snapshot, the integrity check
beside the start) and say when they are ready; then all of them run the whole /check as members ask it (thorough:
the match, the report, the Discord pages) back to back for the given seconds, over a mix of short claims, long
pastes and links, each shard starting at another place in the list.  Halfway through, this process adds one story to
the global corpus through ``Corpus.apply`` (one transaction, as ``/corpus story-add`` makes for a server), and every
shard looks for it every 0.05 s (those checks count too) until it finds it.

Printed per N: the checks per second of all shards together, the p50 and p99 of a check, the longest check in the
two seconds after the write began, how long from then until every shard found the new story, each shard's start,
and its memory: RSS, PSS (shared pages divided among the processes that map them: what N shards really cost is N
times this) and private.  The last line is the JSON of all of it.  Timings are printed, never asserted
(tests/test_benchmarks.py runs it on a tiny corpus).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.run import KINDS, _pct, machine

#: How often a shard looks for the new story once it has been written, and for how long at most.
PROBE_EVERY_S = 0.05
PROBE_WINDOW_S = 60.0
#: The longest check is taken over this long after the write.
AFTER_WRITE_S = 2.0
ANIMALS = ("quokka", "numbat", "bilby", "dugong", "potoroo", "wombat", "bandicoot", "wallaroo")


def new_story(k: int):
    """The story the moderator adds in round ``k``, and the claim that finds it."""
    from bot.models import Claim, CorpusFile, Entity, Story

    name = ANIMALS[k % len(ANIMALS)].title()
    sid = f"zz-shards-{k}"
    text = f"the {name} Party was elected to the {name} Harbour Council"
    story = Story(id=sid, title=f"{name} Party elected to the {name} Harbour Council", topic_terms=["elected"],
                  entities=[Entity(id=f"{sid}-party", name=f"{name} Party"),
                            Entity(id=f"{sid}-council", name=f"{name} Harbour Council")])
    return CorpusFile(stories=[story], claims=[Claim(id=f"{sid}-c", story=sid, text=text)]), sid, text


def _memory_mib() -> dict[str, float]:
    """This process's RSS, PSS and private memory (Linux; empty elsewhere)."""
    out: dict[str, float] = {}
    try:
        rows = Path("/proc/self/smaps_rollup").read_text().splitlines()
    except OSError:
        return out
    kb = {}
    for line in rows[1:]:
        k, _, v = line.partition(":")
        if v.strip().endswith("kB"):
            kb[k] = int(v.split()[0])
    out["rss"] = kb.get("Rss", 0) / 1024
    out["pss"] = kb.get("Pss", 0) / 1024
    out["private"] = (kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) / 1024
    return out


def child(db: Path, queries: Path, offset: int, seconds: float, story_id: str, probe: str) -> dict:
    """One shard: open, say ready, wait for "go", check for ``seconds``, then look for ``story_id`` until found."""
    t0 = time.perf_counter()
    from bot.cli import open_corpus
    from bot.render import report_pages
    from bot.service import Checker

    qs = json.loads(queries.read_text(encoding="utf-8"))
    mixed = [qs[kind][i][0] for i in range(max(len(qs[k]) for k in KINDS)) for kind in KINDS if i < len(qs[kind])]
    mixed = mixed[offset % len(mixed):] + mixed[: offset % len(mixed)]
    loop = asyncio.new_event_loop()
    corpus = loop.run_until_complete(open_corpus(db, check="quick", seed=False, defer_check=True))
    try:
        checker = Checker(corpus.reader)
        report_pages(checker.check(mixed[0], thorough=True))
        checker.matcher.index.warm()
        startup = time.perf_counter() - t0
        loop.run_until_complete(corpus.verified())
        out: dict = {"startup_s": startup, "integrity_check_s": time.perf_counter() - t0}
        print("ready", flush=True)
        write_at = float(sys.stdin.readline().split()[1])  # "go WRITE_AT": when (wall clock) the parent writes
        lat: list[tuple[float, float]] = []  # (wall-clock start, seconds) of every check, the probes included
        found_at = None
        next_probe = write_at
        start = time.perf_counter()
        i = 0
        while time.perf_counter() - start < seconds or (found_at is None and time.time() < write_at + PROBE_WINDOW_S):
            probing = time.time() >= next_probe and found_at is None
            if not probing and time.perf_counter() - start >= seconds:  # the time is up: only the probes go on
                time.sleep(max(0.0, next_probe - time.time()))
                continue
            text = probe if probing else mixed[i % len(mixed)]
            if i and not probing and i % len(mixed) == 0:
                checker = Checker(corpus.reader, matcher=checker.matcher)  # each pass: a story's first check again
            w, t = time.time(), time.perf_counter()
            report = checker.check(text, thorough=True)  # as /check asks
            report_pages(report)
            took = time.perf_counter() - t
            if probing:
                next_probe = time.time() + PROBE_EVERY_S
                if any(m.story.id == story_id for m in report.matches):
                    found_at = time.time()
            else:
                i += 1
            if time.perf_counter() - start < seconds:
                lat.append((w, took))
        out.update(checks=len(lat), seconds=min(time.perf_counter() - start, seconds), found_at=found_at,
                   lat=lat, memory=_memory_mib())
        checker.matcher.wait_for_index()
    finally:
        loop.run_until_complete(corpus.close())  # (its connection's thread would keep a failed shard alive)
        loop.close()
    return out


def one_round(db: Path, queries: Path, n: int, seconds: float, k: int, log=print) -> dict:
    """``n`` shards at once on ``db``; the ``k``-th story written halfway."""
    from storage.corpus import Actor, Corpus

    file, story_id, probe = new_story(k)
    n_queries = sum(len(v) for kind, v in json.loads(queries.read_text(encoding="utf-8")).items() if kind in KINDS)
    procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.shards", "--child", str(db), "--queries", str(queries),
                               "--offset", str(j * n_queries // n), "--seconds", str(seconds), "--story", story_id,
                               "--probe", probe],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parent.parent)
             for j in range(n)]
    try:
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise SystemExit(f"a shard did not start (exit code {p.wait()})")

        async def write() -> tuple[float, float]:
            corpus = await Corpus.open(db, check="off")  # the shards have just checked the file
            try:
                await asyncio.sleep(max(0.0, write_at - time.time()))
                began = time.time()
                await corpus.apply(file, Actor(name="bench"), action="story-add")
                return began, time.time() - began
            finally:
                await corpus.close()

        write_at = time.time() + seconds / 2
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(f"go {write_at!r}\n")
            p.stdin.flush()
        written, write_s = asyncio.run(write())  # (from the moderator's write: before its commit)
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=seconds + PROBE_WINDOW_S + 120)
            if p.returncode:
                raise SystemExit(f"a shard failed (exit code {p.returncode})")
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    lats = [s for r in results for _w, s in r["lat"]]
    after = [s for r in results for w, s in r["lat"] if written <= w < written + AFTER_WRITE_S]
    found = [r["found_at"] - written if r["found_at"] is not None else None for r in results]
    mem = [r["memory"] for r in results if r["memory"]]

    def mean(key: str) -> float | None:
        return sum(m[key] for m in mem) / len(mem) if mem else None

    row = {
        "shards": n,
        "checks": len(lats),
        "checks_per_s": sum(r["checks"] / r["seconds"] for r in results if r["seconds"]),
        "p50_ms": _pct(lats, 50) * 1000,
        "p99_ms": _pct(lats, 99) * 1000,
        "write_s": write_s,
        "longest_after_write_ms": max(after) * 1000 if after else None,
        "found_by_every_shard_s": None if None in found else max(found),
        "found_s": found,
        "startup_s": max(r["startup_s"] for r in results),
        "integrity_check_s": max(r["integrity_check_s"] for r in results),
        "rss_mib": mean("rss"), "pss_mib": mean("pss"), "private_mib": mean("private"),
    }
    log(render_row(row))
    return row


def render_row(r: dict) -> str:
    def mib(v: float | None) -> str:
        return "–" if v is None else f"{v:,.0f}"

    found = "never (in the window)" if r["found_by_every_shard_s"] is None else f"{r['found_by_every_shard_s']:.2f}"
    longest = "–" if r["longest_after_write_ms"] is None else f"{r['longest_after_write_ms']:,.0f}"
    return (f"| {r['shards']} | {r['checks_per_s']:,.0f} | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | {longest} | {found} "
            f"| {r['startup_s']:.2f} / {r['integrity_check_s']:.1f} | {mib(r['rss_mib'])} / {mib(r['pss_mib'])} / "
            f"{mib(r['private_mib'])} |")


HEADER = ("| shards | whole /checks per s, all shards | p50 / p99 ms | longest check in the 2 s after the write began, "
          "ms | the new story found by every shard, s after the write began | start s (slowest shard): open + first "
          "check / integrity check done | memory per shard MiB: RSS / PSS / private |\n"
          "|---:|---:|---|---:|---:|---|---|")


def run(folder: Path, shards: list[int], seconds: float, log=print) -> dict:
    m = machine()
    log(f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, Python {m['python']}, SQLite {m['sqlite']}")
    log(f"{folder}: {len(shards)} rounds of {seconds:g} s, on a copy of the corpus")
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix="shards-") as tmp:
        db = Path(tmp) / "corpus.db"
        t0 = time.perf_counter()
        for suffix in ("", "-wal", ".matcher-index"):
            if Path(f"{folder / 'corpus.db'}{suffix}").exists():
                shutil.copyfile(f"{folder / 'corpus.db'}{suffix}", f"{db}{suffix}")
        log(f"copied in {time.perf_counter() - t0:.1f} s")
        log(HEADER)
        rows = [one_round(db, folder / "queries.json", n, seconds, k, log) for k, n in enumerate(shards)]
    return {"machine": m, "folder": str(folder), "seconds": seconds, "rounds": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, nargs="?", help="a cached benchmark folder (corpus.db, queries.json)")
    ap.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4], help="shard counts, one round each")
    ap.add_argument("--seconds", type=float, default=20.0, help="how long every shard checks, per round")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--queries", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--story", help=argparse.SUPPRESS)
    ap.add_argument("--probe", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.queries, args.offset, args.seconds, args.story, args.probe)))
        return 0
    if args.folder is None or not (args.folder / "corpus.db").exists():
        ap.error("give a cached benchmark folder (benchmarks.run makes them), e.g. benchmarks/.cache/synth-10000-g4-s6")
    if any(n < 1 for n in args.shards):
        ap.error("--shards: one or more")
    print(json.dumps(run(args.folder, args.shards, args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
