"""Speed and scale, side by side: Crosscheck against bm25s, rank-bm25, tantivy and a rapidfuzz scan, on one machine.

    .venv/bin/python -m benchmarks.run                 # 1k and 10k stories (10k and 100k claims): a few minutes
    .venv/bin/python -m benchmarks.run --scales 100000 # 100k stories, 1M claims (first run generates and imports)
    .venv/bin/python -m benchmarks.run --full          # 1k, 10k and 100k
    .venv/bin/python -m benchmarks.run --scales 100000 --rounds 3 --peers bm25s tantivy   # medians of 3 turns
    .venv/bin/python -m benchmarks.run --import-only --scales 1000 10000     # import speed alone, fresh databases
    .venv/bin/python -m benchmarks.run --import-only --scales 5000 \
        --import-into benchmarks/.cache/synth-100000-g4-s5/corpus.db        # 5k more stories into a copy of 100k

Needs the bench extra (pip install -e '.[bench]').  For each scale: a synthetic corpus (benchmarks/synth.py) is
imported through ``Corpus.apply`` (chunks of 1,000 stories, audited, as the CLI imports a file) into a database
cached under benchmarks/.cache/; then every system runs in its own fresh process (so that start-up and peak memory
are its own) over the same queries:

- check latency p50/p99 for short claims, long pastes (~1,500 characters) and links (``Matcher.match``, top 5,
  threshold 0: the most work a check does);
- the auto-reply path's throughput on chatter that matches nothing (``Matcher.match`` at the default threshold,
  thorough for at most ``AUTOREPLY_THOROUGH_RATE`` messages a second, as cogs/autoreply.py checks them);
- start-up: open the database and answer the first check, in a new process (module imports reported apart); the
  first start after `crosscheck import` loads the index snapshot the import saved (its cost is reported as the
  import's index build), a start without a snapshot rebuilds it (reported apart);
- peak memory (max RSS of the process) and database size; import rate (articles/s through Corpus.apply);
- peers: the same claims (every claim, mapped to its story) indexed by bm25s (Porter stemmer, English stop
  words), rank-bm25 (BM25Okapi over the same stemmed tokens), tantivy (en_stem, in memory) and rapidfuzz
  (process.extract with token_set_ratio over all claims); their latency as a ratio to Crosscheck's, precision@1
  against the story each query was made from, and top-5 agreement with Crosscheck (share of Crosscheck's five
  stories the peer also returns).  Slow peers answer a bounded number of queries per kind (noted).

With ``--rounds N`` Crosscheck and the peers run N times, one after another in turn (Crosscheck, each peer, again):
each query's latency is the median of its N runs, and the ratios of every round are printed too.  Single runs on a
shared 2-core machine move by ±40%, which is more than some of the ratios being compared.

Before each Crosscheck round the database file is read through once (``--page-cache warm``, the default), so that
Crosscheck reads its index from the OS page cache as a serving bot does, as the peers hold theirs in memory; with
``--page-cache as-is`` pages the kernel has reclaimed meanwhile are read from disk during the measured checks.

For each round the run also says how fast the machine itself was (a fixed piece of work timed between the checks,
in every system's process) and, for Crosscheck, what else the machine did while its checks were timed (other
processes' share of the CPU time, the hypervisor's steal, iowait) and how much they read from disk: a slow round is
then told apart from slower code.

Results go to stdout (a table) and to benchmarks/out/run-<scales>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
OUT = HERE / "out"
KINDS = ("short", "long", "link")
PEERS = ("bm25s", "rank_bm25", "tantivy", "rapidfuzz")


# -- machine ---------------------------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem / 2**30, 1), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "os": platform.platform(), "packages": package_versions()}


def package_versions() -> dict[str, str]:
    """Installed versions of what the run measures with: a peer's speed moves with its release and numpy's (bm25s
    short-claim p50 at 1M claims read 5.6-9.1 ms in one install and 13.6 ms in another on this machine)."""
    from importlib import metadata

    out = {}
    for dist in ("bm25s", "rank-bm25", "tantivy", "rapidfuzz", "numpy", "scipy", "PyStemmer", "numba"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def packages_line(m: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items() if v)


# -- what else the machine did ------------------------------------------------------------------------------------


#: /proc/stat's first line: the machine's CPU time in clock ticks, all cores together (Linux).
_CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def cpu_ticks(line: str) -> dict[str, int] | None:
    """The fields of /proc/stat's aggregate "cpu" line (None for another line)."""
    parts = line.split()
    if not parts or parts[0] != "cpu":
        return None
    values = [int(x) for x in parts[1 : 1 + len(_CPU_FIELDS)]]
    return dict(zip(_CPU_FIELDS, values + [0] * (len(_CPU_FIELDS) - len(values))))


def _read_cpu_ticks() -> dict[str, int] | None:
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            return cpu_ticks(fh.readline())
    except (OSError, ValueError):
        return None


def host_load(before: dict[str, int], after: dict[str, int], own_cpu_s: float, hz: int) -> dict[str, float]:
    """Shares of the machine's CPU time (all cores) between two readings: time the hypervisor gave to others
    (steal), time waiting on the disk (iowait) and time other processes ran (busy time less ``own_cpu_s``)."""
    d = {k: after[k] - before[k] for k in _CPU_FIELDS}
    total = sum(d.values()) or 1
    busy = d["user"] + d["nice"] + d["system"] + d["irq"] + d["softirq"]
    return {"steal_pct": 100 * d["steal"] / total, "iowait_pct": 100 * d["iowait"] / total,
            "others_pct": 100 * max(0.0, busy - own_cpu_s * hz) / total}


def _probe_work() -> int:
    d: dict[int, int] = {}
    for i in range(4000):
        d[i & 511] = d.get(i & 511, 0) + i
    return len(d)


class HostWatch:
    """What the machine did besides this process while a timed section ran, and what the section read from disk: a
    slow run is then told apart from slower code (runs on this shared machine move by ±30%, performance-log.md).

    ``probe()``, called between timed checks, times a fixed piece of pure-Python work (the best of three, ~0.5 ms):
    how fast the machine itself was at that moment.  On this machine it changes by up to 1.8x within seconds with
    nothing else running (the virtual machine's host), which no counter of the guest shows."""

    def __init__(self) -> None:
        self._cpu = _read_cpu_ticks()
        self._ru = resource.getrusage(resource.RUSAGE_SELF)
        self._t = time.perf_counter()
        self.probes: list[float] = []

    def probe(self) -> None:
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            _probe_work()
            best = min(best, time.perf_counter() - t)
        self.probes.append(best * 1000)

    def stop(self) -> dict[str, float]:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        own = (ru.ru_utime - self._ru.ru_utime) + (ru.ru_stime - self._ru.ru_stime)
        out = {"wall_s": time.perf_counter() - self._t, "cpu_s": own,
               # Blocks of 512 bytes read by this process (a page-cache miss of the database file is one).
               "disk_read_mib": (ru.ru_inblock - self._ru.ru_inblock) * 512 / 2**20,
               # Page faults: memory touched for the first time in this process (the mapped part of the database,
               # PRAGMA mmap_size, and new heap), or a mapped page touched again after the kernel unmapped it
               # (minor: the page was in memory; major: read from disk).
               "minor_faults": ru.ru_minflt - self._ru.ru_minflt, "major_faults": ru.ru_majflt - self._ru.ru_majflt}
        if self.probes:
            out["probe_ms"] = statistics.median(self.probes)
            out["probe_min_ms"], out["probe_max_ms"] = min(self.probes), max(self.probes)
        after = _read_cpu_ticks()
        if self._cpu is not None and after is not None:
            out.update(host_load(self._cpu, after, own, os.sysconf("SC_CLK_TCK")))
        return out


def probed(items: list, watch: HostWatch, every: int = 10):
    """``items`` one by one, the machine's speed probed before every ``every``-th: between timed checks, never inside
    one."""
    for i, item in enumerate(items):
        if i % every == 0:
            watch.probe()
        yield item


def host_line(rounds: list[dict]) -> str:
    """One line on the host during Crosscheck's timed checks, a value per round."""
    def each(key: str, fmt: str) -> str:
        return " / ".join(format(r[key], fmt) if key in r else "–" for r in rounds)

    return (f"the speed probe (fixed work, lower is faster; median of the round) {each('probe_ms', '.3f')} ms; "
            f"disk read {each('disk_read_mib', '.1f')} MiB, page faults {each('minor_faults', ',')} minor and "
            f"{each('major_faults', ',')} major; of the machine's CPU time: other processes "
            f"{each('others_pct', '.1f')}%, steal {each('steal_pct', '.1f')}%, iowait {each('iowait_pct', '.1f')}%")


# -- corpus ----------------------------------------------------------------------------------------------------------


def _schema_tag() -> str:
    from storage.db import schema_version

    from benchmarks.synth import GENERATOR_VERSION

    return f"g{GENERATOR_VERSION}-s{schema_version()}"


def import_stories(db: Path, gen: list, stats: dict, log=print, *, merge: bool = False) -> None:
    """Import synthetic stories into ``db`` as the CLI imports files: their outlets first, then files of 1,000
    stories, each one ``Corpus.apply`` (one audited transaction).  Adds counts and the time spent to ``stats``."""
    from bot.models import Article, Claim, CorpusFile, Entity, Outlet, Story
    from storage.corpus import Actor, Corpus

    outlets = sorted({a["outlet"] for s in gen for a in s.articles})

    async def go() -> None:
        corpus = await Corpus.open(db)
        try:
            first = CorpusFile(outlets=[Outlet(id=o, name=o.replace("-", " ").title(), domains=[o.replace("outlet-", "news") + ".example"])
                                        for o in outlets])
            await corpus.apply(first, Actor(name="bench"), action="import outlets")
            for start in range(0, len(gen), 1000):
                chunk = gen[start:start + 1000]
                t0 = time.perf_counter()
                file = CorpusFile(
                    stories=[Story(id=s.id, title=s.title, topic_terms=s.topic,
                                   entities=[Entity(**e) for e in s.entities]) for s in chunk],
                    articles=[Article(id=a["id"], story=s.id, outlet=a["outlet"], title=a["title"], url=a["url"], text=a["text"])
                              for s in chunk for a in s.articles],
                    claims=[Claim(id=f"{s.id}-c{k}", story=s.id, text=c, articles=[s.articles[k % len(s.articles)]["id"]])
                            for s in chunk for k, c in enumerate(s.claims)],
                )
                t1, c1 = time.perf_counter(), time.process_time()
                await corpus.apply(file, Actor(name="bench"), action="import bench")
                t2 = time.perf_counter()
                stats["validate_s"] += t1 - t0
                stats["apply_s"] += t2 - t1
                stats["apply_cpu_s"] = stats.get("apply_cpu_s", 0.0) + time.process_time() - c1
                stats["stories"] += len(file.stories)
                stats["claims"] += len(file.claims)
                stats["articles"] += len(file.articles)
                if (start // 1000) % 10 == 9:
                    log(f"  {stats['stories']:,} stories, {stats['articles'] / stats['apply_s']:,.0f} articles/s")
            if merge:  # as `crosscheck import` ends (the last of several files): the story index in one b-tree
                t0 = time.perf_counter()
                await corpus.optimize_story_index()
                stats["optimize_s"] = time.perf_counter() - t0
        finally:
            await corpus.close()

    asyncio.run(go())


def prepare(n: int, n_queries: int, log=print) -> Path:
    """The cached folder for ``n`` stories: corpus.db (imported through Corpus.apply), queries.json, import.json."""
    from benchmarks.synth import generate, queries

    folder = CACHE / f"synth-{n}-{_schema_tag()}"
    if (folder / "import.json").exists():
        _keep_signals(folder, log)
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "corpus.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    log(f"generating and importing {n:,} stories into {db} ...")
    t_gen = time.perf_counter()
    gen = list(generate(n))
    t_gen = time.perf_counter() - t_gen
    stats = {"stories": 0, "claims": 0, "articles": 0, "validate_s": 0.0, "apply_s": 0.0, "generate_s": t_gen}
    import_stories(db, gen, stats, log, merge=True)
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    stats["db_bytes"] = db.stat().st_size
    stories = gen
    qs = queries(stories, n_queries)
    (folder / "queries.json").write_text(json.dumps(qs), encoding="utf-8")
    (folder / "import.json").write_text(json.dumps(stats), encoding="utf-8")
    log(f"  imported: {stats['articles']:,} articles in {stats['apply_s']:.1f} s "
        f"({stats['articles'] / stats['apply_s']:,.0f}/s), db {stats['db_bytes'] / 2**20:,.0f} MiB")
    _keep_signals(folder, log)
    return folder


def _keep_signals(folder: Path, log=print) -> None:
    """Keep the articles' signals (bot/precompute.py), as a running bot has done once it has started: once per
    cached database, its time recorded in import.json (``signals_s``); the latencies are those of a bot whose
    articles' signals are kept."""
    meta = json.loads((folder / "import.json").read_text(encoding="utf-8"))
    if "signals_s" in meta:
        return
    from bot.precompute import fill

    log(f"keeping the articles' signals of {folder.name} (as the bot does after it starts) ...")
    done = fill(folder / "corpus.db")
    meta.update(signals_s=done.seconds, signals_articles=done.articles, signals_computed=done.computed)
    (folder / "import.json").write_text(json.dumps(meta), encoding="utf-8")
    log(f"  {done.describe()}")


def import_only(n: int, into: Path | None = None, profile: Path | None = None, log=print) -> dict:
    """Import speed alone: ``n`` synthetic stories imported as ``prepare`` does, into a fresh database, or with
    ``into`` into a copy of that database (stories with other ids, so an import into a large corpus is measured).
    The copy lives in a temporary folder beside the cache and is deleted afterwards."""
    import shutil
    import tempfile

    from benchmarks.synth import generate

    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="import-") as tmp:
        db = Path(tmp) / "corpus.db"
        if into is not None:
            t0 = time.perf_counter()
            for suffix in ("", "-wal"):
                if Path(f"{into}{suffix}").exists():
                    shutil.copyfile(f"{into}{suffix}", f"{db}{suffix}")
                    # Flush the copy now: otherwise the import's first fsync would write the whole file.
                    fd = os.open(f"{db}{suffix}", os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            log(f"copied {into} in {time.perf_counter() - t0:.1f} s")
        gen = list(generate(n, seed=99, prefix="x") if into is not None else generate(n))
        stats = {"stories": 0, "claims": 0, "articles": 0, "validate_s": 0.0, "apply_s": 0.0}
        if profile is not None:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
            import_stories(db, gen, stats, log)
            prof.disable()
            prof.dump_stats(profile)
        else:
            import_stories(db, gen, stats, log)
    stats["articles_per_s"] = stats["articles"] / stats["apply_s"]
    log(f"import of {n:,} stories{f' into a copy of {into}' if into else ''}: {stats['articles']:,} articles in "
        f"{stats['apply_s']:.2f} s through Corpus.apply = {stats['articles_per_s']:,.0f} articles/s (CPU time of all "
        f"threads {stats['apply_cpu_s']:.2f} s; on a shared machine the wall time varies more)")
    return stats


# -- one system in its own process -----------------------------------------------------------------------------------


def _rss_mib() -> float:
    """Peak RSS of this process: VmHWM (getrusage's maxrss would include the parent's, kept across fork/exec)."""
    hwm = _status_mib().get("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))
    return xs[k]


def _status_mib() -> dict:
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in ("VmHWM", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) / 1024
    except OSError:
        pass
    return out


def child_import_index(folder: Path) -> dict:
    """What `crosscheck import` does after the import itself: build the matcher's index and save its snapshot."""
    Path(f"{folder / 'corpus.db'}.matcher-index").unlink(missing_ok=True)
    from bot.cli import build_matcher_index

    took = build_matcher_index(folder / "corpus.db")
    if took is None:
        raise SystemExit("building the matcher index failed")
    return {"import_index_s": took}


def child_crosscheck(folder: Path, qs: dict, limit: int, fresh: bool = False) -> dict:
    if fresh:  # a start without a snapshot of the matcher's index (an import that did not go through the CLI)
        Path(f"{folder / 'corpus.db'}.matcher-index").unlink(missing_ok=True)
    t0 = time.perf_counter()
    from bot.cli import open_corpus
    from bot.matching import DEFAULT_THRESHOLD, Matcher
    from bot.render import report_pages
    from bot.service import AUTOREPLY_THOROUGH_RATE, Budget, Checker

    t_import = time.perf_counter() - t0
    # Opened as the bot opens it (setup_hook): migrations, and the integrity check started beside it.  (Not seeded:
    # the bot would add the one seed story to a file that lacks it, which a CLI import does at its start.)
    loop = asyncio.new_event_loop()
    t0 = time.perf_counter()
    corpus = loop.run_until_complete(open_corpus(folder / "corpus.db", check="quick", seed=False, defer_check=True))
    matcher = Matcher(corpus.reader)
    matcher.match(qs["short"][0][0], None, top=5, threshold=0.0)
    startup = time.perf_counter() - t0
    # The rest of the typo-correction tables, as the bot builds them right after start (setup_hook, while it
    # connects to Discord): the latencies below are those of a bot that has started, not of its first second.
    t1 = time.perf_counter()
    matcher.index.warm()
    warm = time.perf_counter() - t1
    # ...and the integrity check (it reads the whole file; until it passes the bot refuses changes, not checks).
    loop.run_until_complete(corpus.verified())
    out: dict = {"startup_s": startup, "module_import_s": t_import, "warm_s": warm,
                 "integrity_check_s": time.perf_counter() - t0, "lat": {}, "top5": {}, "lat_product": {}}
    gc.collect()
    watch = HostWatch()  # from here on, everything is timed
    for kind in KINDS:  # as /check runs: top 3, the default threshold, thorough (a member asked)
        lats = []
        for text, _gold in probed(qs[kind][:limit], watch):
            t = time.perf_counter()
            matcher.match(text, None, thorough=True)
            lats.append(time.perf_counter() - t)
        out["lat_product"][kind] = lats
    # The whole /check: the match, then the report (each matched story's versions and its sources' signals, read and
    # computed from its articles) and the Discord pages.  Each query is of another story, and the checker's report
    # cache starts empty: the first check of a story, the costliest case (a repeated one costs the match and ~0.3 ms).
    out["lat_report"] = {}
    for kind in KINDS:  # (a new checker for each kind: the kinds' queries come from the same stories)
        checker = Checker(corpus.reader, matcher=matcher)
        lats = []
        for text, _gold in probed(qs[kind][:limit], watch):
            t = time.perf_counter()
            report_pages(checker.check(text, thorough=True))
            lats.append(time.perf_counter() - t)
        out["lat_report"][kind] = lats
    # ...and a /check of text that matches nothing (the chatter below, asked for by a member): the quick pass finds
    # nothing, so the thorough pass runs (for chatter holding a distinctive term) before the bot says so.
    lats = []
    for text, _gold in probed(qs["chatter"][:limit], watch):
        t = time.perf_counter()
        report_pages(checker.check(text, thorough=True))
        lats.append(time.perf_counter() - t)
    out["lat_nomatch"] = {"chatter": lats}
    for kind in KINDS:  # ranking mode, for agreement with the peers: top 5, no threshold
        lats, tops = [], []
        for text, _gold in probed(qs[kind][:limit], watch):
            t = time.perf_counter()
            r = matcher.match(text, None, top=5, threshold=0.0)
            lats.append(time.perf_counter() - t)
            tops.append([h.story_id for h in r.hits])
        out["lat"][kind], out["top5"][kind] = lats, tops
    # The auto-reply path: as cogs/autoreply.py checks a message, with the thorough pass for at most
    # AUTOREPLY_THOROUGH_RATE messages a second (a flood of chatter gets the quick pass past that).
    chatter = [t for t, _ in qs["chatter"]]
    watch.probe()
    false_hits = 0
    thorough = Budget(AUTOREPLY_THOROUGH_RATE).asker(time.monotonic)
    t = time.perf_counter()
    n = 0
    while time.perf_counter() - t < 3.0 or n < len(chatter):
        r = matcher.match(chatter[n % len(chatter)], None, threshold=DEFAULT_THRESHOLD,
                          thorough=thorough)
        false_hits += bool(r.hits) and n < len(chatter)
        n += 1
    out["chatter_per_s"] = n / (time.perf_counter() - t)
    out["chatter_false_hits"] = false_hits
    out["chatter_n"] = len(chatter)
    watch.probe()
    out["host"] = watch.stop()
    out["rss_mib"] = _rss_mib()
    out["mem"] = _status_mib()
    loop.run_until_complete(corpus.close())
    loop.close()
    return out


def _claims(folder: Path) -> tuple[list[str], list[str]]:
    con = sqlite3.connect(folder / "corpus.db")
    rows = con.execute("SELECT text, story_id FROM claims ORDER BY rowid").fetchall()
    con.close()
    return [r[0] for r in rows], [r[1] for r in rows]


def _stories_from(claim_idx, story_of: list[str], k: int = 5) -> list[str]:
    out: list[str] = []
    for i in claim_idx:
        s = story_of[int(i)]
        if s not in out:
            out.append(s)
            if len(out) == k:
                break
    return out


def child_peer(name: str, folder: Path, qs: dict, limit: int, budget_s: float) -> dict:
    import Stemmer

    texts, story_of = _claims(folder)
    stemmer = Stemmer.Stemmer("porter")
    t0 = time.perf_counter()
    if name == "bm25s":
        import bm25s

        tok = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
        index = bm25s.BM25()
        index.index(tok, show_progress=False)

        def search(q: str) -> list[str]:
            qt = bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False)
            if not qt.vocab:
                return []
            docs, _scores = index.retrieve(qt, k=50, show_progress=False, n_threads=1)
            return _stories_from(docs[0], story_of)
    elif name == "rank_bm25":
        import re

        from rank_bm25 import BM25Okapi

        from bot.text import STOP_WORDS

        wre = re.compile(r"\w+")

        def toks(s: str) -> list[str]:
            return [stemmer.stemWord(w) for w in wre.findall(s.lower()) if w not in STOP_WORDS]

        index = BM25Okapi([toks(t) for t in texts])
        import numpy as np

        def search(q: str) -> list[str]:
            scores = index.get_scores(toks(q))
            top = np.argpartition(-scores, 50)[:50]
            top = top[np.argsort(-scores[top])]
            return _stories_from(top, story_of)
    elif name == "tantivy":
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_text_field("text", stored=False, tokenizer_name="en_stem")
        sb.add_unsigned_field("i", stored=True, fast=True)
        schema = sb.build()
        index = tantivy.Index(schema)
        writer = index.writer(heap_size=256_000_000, num_threads=1)
        for i, t in enumerate(texts):
            doc = tantivy.Document()
            doc.add_text("text", t)
            doc.add_unsigned("i", i)
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        searcher = index.searcher()
        import re

        clean = re.compile(r"[^\w\s]")

        def search(q: str) -> list[str]:
            q = clean.sub(" ", q).strip()
            if not q:
                return []
            query = index.parse_query(q, ["text"])
            hits = searcher.search(query, 50).hits
            return _stories_from([searcher.doc(a)["i"][0] for _s, a in hits], story_of)
    elif name == "rapidfuzz":
        from rapidfuzz import fuzz, process, utils

        choices = [utils.default_process(t) for t in texts]

        def search(q: str) -> list[str]:
            res = process.extract(utils.default_process(q), choices, scorer=fuzz.token_set_ratio, limit=50,
                                  processor=None)
            return _stories_from([i for _c, _s, i in res], story_of)
    else:
        raise SystemExit(f"unknown peer {name}")
    build = time.perf_counter() - t0
    out: dict = {"build_s": build, "lat": {}, "top5": {}, "answered": {}}
    watch = HostWatch()
    for kind in KINDS:
        lats, tops = [], []
        t_kind = time.perf_counter()
        for text, _gold in probed(qs[kind][:limit], watch):
            t = time.perf_counter()
            tops.append(search(text))
            lats.append(time.perf_counter() - t)
            if time.perf_counter() - t_kind > budget_s and len(lats) >= 5:
                break
        out["lat"][kind], out["top5"][kind], out["answered"][kind] = lats, tops, len(lats)
    out["host"] = watch.stop()
    out["rss_mib"] = _rss_mib()
    out["mem"] = _status_mib()
    return out


def read_through(path: Path) -> float:
    """Read the file once, start to end, so that the OS holds it in its page cache (seconds taken).  Crosscheck reads
    its index from the database file through that cache, where the peers hold theirs in process memory; a serving
    bot's file stays cached, but this machine's kernel evicts file pages no process maps after about a minute idle
    (a DAMON pageout scheme), so each fresh round's process would start cold (seen 2026-12-03: after ten minutes of
    peer rounds, the first checks of a round read from a disk of ~80 MB/s)."""
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as fh:
        while fh.read(16 << 20):
            pass
    return time.perf_counter() - t0


def run_child(system: str, folder: Path, limit: int, budget_s: float, timeout: int = 3600) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.run", "--child", system, "--folder", str(folder), "--limit", str(limit),
           "--budget", str(budget_s)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent)
    if p.returncode != 0:
        return {"error": (p.stderr or p.stdout)[-2000:]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def merge_rounds(rounds: list[dict]) -> dict:
    """One result per system from several rounds of it: each query's latency is its median over the rounds that
    answered it (slow peers stop after a time budget, so rounds may answer different numbers); start-up and chatter
    throughput are medians too; peak memory is the highest round's; answers are the round that gave the most (they
    do not change between rounds)."""
    if len(rounds) == 1 or any("error" in r for r in rounds):
        return rounds[0]
    out = dict(rounds[0])
    for key in ("lat", "lat_product", "lat_report", "lat_nomatch"):
        if key in out:
            out[key] = {kind: [statistics.median(r[key][kind][i] for r in rounds if i < len(r[key][kind]))
                               for i in range(max(len(r[key][kind]) for r in rounds))]
                        for kind in out[key]}
    if "top5" in out:  # as many answers as latencies
        out["top5"] = {kind: max((r["top5"][kind] for r in rounds), key=len) for kind in out["top5"]}
    for key in ("startup_s", "warm_s", "integrity_check_s", "chatter_per_s", "build_s"):
        if key in out and all(key in r for r in rounds):
            out[key] = statistics.median(r[key] for r in rounds)
    out["rss_mib"] = max(r["rss_mib"] for r in rounds)
    return out


def round_ratios(rounds: list[dict[str, dict]]) -> dict[str, dict[str, list[float]]]:
    """peer -> kind -> [peer p50 / Crosscheck p50, one per round]."""
    out: dict[str, dict[str, list[float]]] = {}
    for res in rounds:
        cc = res.get("crosscheck", {})
        if "error" in cc:
            continue
        for name, r in res.items():
            if name == "crosscheck" or "error" in r:
                continue
            for kind in KINDS:
                base = _pct(cc["lat"][kind], 50)
                if base and r["lat"][kind]:
                    out.setdefault(name, {}).setdefault(kind, []).append(_pct(r["lat"][kind], 50) / base)
    return out


# -- report ----------------------------------------------------------------------------------------------------------


def summarise(folder: Path, results: dict, qs: dict) -> dict:
    imp = json.loads((folder / "import.json").read_text())
    imported_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime((folder / "import.json").stat().st_mtime))
    cc = results["crosscheck"]
    summary: dict = {"stories": imp["stories"], "claims": imp["claims"], "articles": imp["articles"],
                     "db_mib": imp["db_bytes"] / 2**20, "import_articles_per_s": imp["articles"] / imp["apply_s"],
                     "import_incl_validation_per_s": imp["articles"] / (imp["apply_s"] + imp["validate_s"]),
                     "import_measured_at": imported_at,
                     "signals_s": imp.get("signals_s"), "signals_computed": imp.get("signals_computed"),
                     "systems": {}}
    for name, r in results.items():
        if "error" in r:
            summary["systems"][name] = {"error": r["error"][-300:]}
            continue
        s: dict = {"rss_mib": r["rss_mib"]}
        s["mem"] = r.get("mem", {})
        if "startup_s" in r:
            s.update(startup_s=r["startup_s"], first_startup_s=r.get("first_startup_s"),
                     no_snapshot_startup_s=r.get("no_snapshot_startup_s"), import_index_s=r.get("import_index_s"),
                     module_import_s=r["module_import_s"], warm_s=r.get("warm_s"),
                     integrity_check_s=r.get("integrity_check_s"),
                     chatter_per_s=r["chatter_per_s"], chatter_false_hits=r["chatter_false_hits"], chatter_n=r["chatter_n"])
            s["product"] = {kind: {"p50_ms": 1000 * _pct(r["lat_product"][kind], 50),
                                   "p99_ms": 1000 * _pct(r["lat_product"][kind], 99)} for kind in KINDS}
            if "lat_report" in r:
                s["report"] = {kind: {"p50_ms": 1000 * _pct(r["lat_report"][kind], 50),
                                      "p99_ms": 1000 * _pct(r["lat_report"][kind], 99)} for kind in KINDS}
            if "lat_nomatch" in r:
                lats = r["lat_nomatch"]["chatter"]
                s["report_nomatch"] = {"p50_ms": 1000 * _pct(lats, 50), "p99_ms": 1000 * _pct(lats, 99)}
        if "build_s" in r:
            s["build_s"] = r["build_s"]
        for kind in KINDS:
            lats = r["lat"][kind]
            tops = r["top5"][kind]
            gold = [g for _t, g in qs[kind][: len(tops)]]
            k = {"n": len(lats), "p50_ms": 1000 * _pct(lats, 50), "p99_ms": 1000 * _pct(lats, 99),
                 "p_at_1": sum(1 for t, g in zip(tops, gold) if t[:1] == [g]) / max(1, len(tops))}
            if name != "crosscheck" and "error" not in cc:
                ref = cc["top5"][kind][: len(tops)]
                k["agree_top5"] = statistics.fmean(
                    len(set(a) & set(b)) / len(b) if b else float(not a) for a, b in zip(tops, ref)) if tops else float("nan")
                k["agree_top1"] = statistics.fmean(a[:1] == b[:1] for a, b in zip(tops, ref)) if tops else float("nan")
            s[kind] = k
        summary["systems"][name] = s
    return summary


def print_summary(summary: dict) -> None:
    cc = summary["systems"].get("crosscheck", {})
    print(f"\n== {summary['stories']:,} stories, {summary['claims']:,} claims, {summary['articles']:,} articles; "
          f"database {summary['db_mib']:,.0f} MiB; import {summary['import_articles_per_s']:,.0f} articles/s through "
          f"Corpus.apply ({summary['import_incl_validation_per_s']:,.0f}/s including model validation; measured when "
          f"the cached database was built, {summary.get('import_measured_at', '?')}: for the import speed of the "
          f"current code run --import-only); page cache {summary.get('page_cache', '?')}")
    if summary.get("signals_s"):
        print(f"Articles' signals kept (bot/precompute.py, as the bot does after it starts) when the cached database was "
              f"built: {summary['signals_computed'] or 0:,} in {summary['signals_s']:,.0f} s "
              f"({(summary['signals_computed'] or 0) / summary['signals_s']:,.0f}/s)")
    if "startup_s" in cc:
        bare = cc.get("no_snapshot_startup_s")
        built = cc.get("import_index_s")
        mem = cc.get("mem", {})
        warm = cc.get("warm_s")
        print(f"Crosscheck: start-up (open + first check) {cc['startup_s'] * 1000:,.0f} ms (+{cc['module_import_s'] * 1000:,.0f} ms "
              f"module imports; then {warm * 1000 if warm is not None else float('nan'):,.0f} ms to complete the typo "
              f"tables, as the bot does in the background while it connects, before the latencies below; this is also the first start after `crosscheck import`, which saves the matcher's "
              f"index snapshot at its end in {built * 1000 if built else float('nan'):,.0f} ms; a start without the "
              f"snapshot rebuilds it: {bare * 1000 if bare else float('nan'):,.0f} ms); "
              f"the integrity check beside it, which changes wait for, done {cc.get('integrity_check_s') or float('nan'):.1f} s "
              f"after the start; "
              f"chatter {cc['chatter_per_s']:,.0f} messages/s "
              f"({cc['chatter_false_hits']} of {cc['chatter_n']} matched something); peak RSS {cc['rss_mib']:,.0f} MiB "
              f"(at exit: {mem.get('RssAnon', float('nan')):,.0f} MiB private, {mem.get('RssFile', float('nan')):,.0f} MiB "
              f"mapped database pages)")
        print("Crosscheck /check as shipped, the match (top 3, threshold 50): " + "; ".join(
            f"{k} p50 {cc['product'][k]['p50_ms']:.2f} ms, p99 {cc['product'][k]['p99_ms']:.2f} ms" for k in KINDS))
        if "report" in cc:
            print("Crosscheck /check as shipped with its report (match, versions, source signals, Discord pages; the "
                  "first check of each story): " + "; ".join(
                      f"{k} p50 {cc['report'][k]['p50_ms']:.2f} ms, p99 {cc['report'][k]['p99_ms']:.2f} ms" for k in KINDS))
        if "report_nomatch" in cc:
            nm = cc["report_nomatch"]
            print(f"Crosscheck /check of text that matches nothing (the chatter, asked for by a member: the "
                  f"thorough pass after the quick one, before the bot says so): p50 {nm['p50_ms']:.2f} ms, "
                  f"p99 {nm['p99_ms']:.2f} ms")
    if summary.get("host_rounds"):
        print("During Crosscheck's timed checks (each round): " + host_line(summary["host_rounds"]))
    if summary.get("probe_rounds"):
        print("The speed probe in each system's rounds, ms (fixed work; lower is faster): " + "; ".join(
            f"{name} " + " / ".join("–" if x is None else f"{x:.3f}" for x in xs)
            for name, xs in summary["probe_rounds"].items()))
    head = f"{'system':<11}{'kind':<7}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}{'x CC p50':>10}{'P@1':>7}{'top5 agr':>10}{'top1 agr':>10}{'RSS MiB':>9}{'build s':>9}"
    print("Ranking mode (top 5, no threshold) side by side; x CC = p50 / Crosscheck's ranking-mode p50:")
    print(head)
    print("-" * len(head))
    for name, s in summary["systems"].items():
        if "error" in s:
            print(f"{name:<11}ERROR {s['error'][-200:]}")
            continue
        for kind in KINDS:
            k = s[kind]
            ratio = k["p50_ms"] / cc[kind]["p50_ms"] if kind in cc and cc[kind]["p50_ms"] else float("nan")
            agr5 = f"{k['agree_top5']:.2f}" if "agree_top5" in k else "-"
            agr1 = f"{k['agree_top1']:.2f}" if "agree_top1" in k else "-"
            print(f"{name:<11}{kind:<7}{k['n']:>5}{k['p50_ms']:>9.2f}{k['p99_ms']:>9.2f}{ratio:>10.1f}{k['p_at_1']:>7.2f}"
                  f"{agr5:>10}{agr1:>10}{s['rss_mib']:>9,.0f}{s.get('build_s', float('nan')):>9.1f}")
    rounds = summary.get("rounds", 1)
    if rounds > 1:
        print(f"(latencies: each query's median over {rounds} rounds)  x CC p50 in each round:")
        for name, kinds in summary.get("round_ratios", {}).items():
            print(f"  {name:<11}" + "; ".join(f"{kind} " + " ".join(f"{x:.2f}" for x in xs) for kind, xs in kinds.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", type=int, nargs="+", default=[1000, 10000], help="numbers of stories")
    ap.add_argument("--full", action="store_true", help="1k, 10k and 100k stories (1M claims)")
    ap.add_argument("--queries", type=int, default=200, help="queries per kind")
    ap.add_argument("--peers", nargs="*", default=list(PEERS))
    ap.add_argument("--budget", type=float, default=60.0, help="seconds a peer may spend per query kind")
    ap.add_argument("--page-cache", choices=["warm", "as-is"], default="warm",
                    help="warm (default): read the database file through before each Crosscheck round, the steady "
                         "state of a serving bot; as-is: leave the OS page cache as it is")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run Crosscheck and the peers this many times in turn; latencies are per-query medians")
    ap.add_argument("--child")
    ap.add_argument("--folder", type=Path)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--import-only", action="store_true",
                    help="measure import alone: each of --scales imported into a fresh database (nothing cached)")
    ap.add_argument("--import-into", type=Path, metavar="DB",
                    help="with --import-only: import into a copy of DB (e.g. the cached 100k corpus) instead")
    ap.add_argument("--profile", type=Path, metavar="FILE", help="with --import-only: cProfile stats to FILE")
    args = ap.parse_args(argv)
    if args.import_only:
        for n in args.scales:
            import_only(n, args.import_into, args.profile)
        return 0
    if args.child:
        qs = json.loads((args.folder / "queries.json").read_text())
        if args.child == "import-index":
            r = child_import_index(args.folder)
        elif args.child in ("crosscheck", "crosscheck-fresh"):
            r = child_crosscheck(args.folder, qs, args.limit, fresh=args.child == "crosscheck-fresh")
        else:
            r = child_peer(args.child, args.folder, qs, args.limit, args.budget)
        print(json.dumps(r))
        return 0
    scales = [1000, 10000, 100000] if args.full else args.scales
    m = machine()
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; Python {m['python']}, SQLite {m['sqlite']}; "
          f"{packages_line(m)}")
    report = {"machine": m, "command": " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])]),
              "scales": []}
    for n in scales:
        folder = prepare(n, args.queries)
        qs = json.loads((folder / "queries.json").read_text())
        # Start-up without a snapshot of the matcher's index (it is rebuilt: what the first start after an import
        # cost before `crosscheck import` saved the snapshot, and still costs after a change made by another program);
        # then what `crosscheck import` does after importing (build and save the snapshot); then the first start
        # after that, which loads the snapshot: the first start after a CLI import.
        fresh = run_child("crosscheck-fresh", folder, args.queries, args.budget)
        index = run_child("import-index", folder, args.queries, args.budget)
        rounds: list[dict[str, dict]] = []
        cached: list[float] = []
        for r in range(args.rounds):
            if args.page_cache == "warm":
                cached.append(read_through(folder / "corpus.db"))
            res = {"crosscheck": run_child("crosscheck", folder, args.queries, args.budget)}
            for peer in args.peers:
                print(f"  running {peer} on {n:,} stories{f' (round {r + 1} of {args.rounds})' if args.rounds > 1 else ''} ...",
                      flush=True)
                res[peer] = run_child(peer, folder, args.queries, args.budget)
            rounds.append(res)
        results = {name: merge_rounds([res[name] for res in rounds]) for name in rounds[0]}
        if "error" not in results["crosscheck"]:
            # The first round's start-up is the first start after `crosscheck import` (it loads the saved snapshot).
            results["crosscheck"]["first_startup_s"] = rounds[0]["crosscheck"]["startup_s"]
            if "error" not in fresh:
                results["crosscheck"]["no_snapshot_startup_s"] = fresh["startup_s"]
            if "error" not in index:
                results["crosscheck"]["import_index_s"] = index["import_index_s"]
        summary = summarise(folder, results, qs)
        summary["rounds"] = args.rounds
        summary["page_cache"] = (f"warm: the database file read through before each Crosscheck round "
                                 f"({', '.join(f'{x:.1f}' for x in cached)} s)" if cached else
                                 "as it was: nothing read ahead (pages the kernel reclaimed are read from disk)")
        summary["host_rounds"] = [res["crosscheck"]["host"] for res in rounds if "host" in res["crosscheck"]]
        # The speed probe of each system's rounds: a round's ratio means most when both ran at the same speed.
        summary["probe_rounds"] = {name: [res[name]["host"].get("probe_ms") for res in rounds if "host" in res[name]]
                                   for name in rounds[0]}
        if args.rounds > 1:
            summary["round_ratios"] = round_ratios(rounds)
        print_summary(summary)
        report["scales"].append(summary)
        OUT.mkdir(exist_ok=True)
        (OUT / f"run-{'-'.join(map(str, scales))}.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
