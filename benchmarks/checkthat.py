"""Accuracy on CLEF CheckThat! "detecting previously fact-checked claims": the product's import path and matcher.

    .venv/bin/python -m benchmarks.checkthat ../shared/benchmarks/checkthat/2020 test

1. ``COLLECTION_DIR/vclaims.jsonl`` becomes a corpus file: one Story per verified claim (its title; its subtitle,
   where the collection has one, as the story's summary) with one Claim (the claim text), no entities, no topic terms;
2. it is imported with ``Corpus.apply`` (the CLI's import path, audited) into a fresh database in a temporary folder;
3. every query of ``COLLECTION_DIR/SPLIT/queries.tsv`` goes through ``Matcher.match(text, top=5, threshold=0)``:
   the product's matcher, its ranking, with no threshold so that every query returns its best five;
4. the run is scored against ``qrels.tsv`` (queries without a gold pair are skipped): MAP@1, MAP@5, MRR (over the
   five returned) and P@1.  A readable table goes to stdout, and the last line is one JSON object.

Works for any directory of that layout.  The data stays outside the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.metrics import score_run
from bot.matching import Matcher
from bot.models import MAX_SHORT, MAX_TITLE, Claim, CorpusFile, Story
from storage.corpus import Actor, Corpus
from storage.reader import CorpusReader

TOP = 5


def read_vclaims(path: Path) -> list[dict]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def to_corpus(vclaims: list[dict]) -> tuple[CorpusFile, dict[str, str]]:
    """The verified claims as a corpus file, and story id -> the collection's claim id."""
    stories, claims, ids = [], [], {}
    for i, vc in enumerate(vclaims):
        sid = f"vc-{i:07d}"  # zero-padded: ties (duplicate claims) rank in the collection's order
        ids[sid] = str(vc["id"])
        claim = (vc.get("claim") or "").strip() or (vc.get("title") or "").strip()
        title = (vc.get("title") or "").strip() or claim
        summary = (vc.get("subtitle") or "").strip()
        stories.append(Story(id=sid, title=title[:MAX_TITLE], summary=summary[:MAX_SHORT]))
        claims.append(Claim(id=f"{sid}-claim", story=sid, text=claim[:MAX_SHORT]))
    return CorpusFile(stories=stories, claims=claims), ids


def read_queries(path: Path) -> list[tuple[str, str]]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            qid, _, text = line.partition("\t")
            out.append((qid.strip(), text))
    return out


def read_qrels(path: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    if not path.exists():
        return out
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 4 and parts[3] != "0":
                out[parts[0]].add(parts[2])
    return out


def build_db(collection: Path, db_path: Path) -> tuple[dict[str, str], float]:
    """Import the collection through Corpus.apply into ``db_path``; (story id -> claim id, seconds)."""
    file, ids = to_corpus(read_vclaims(collection / "vclaims.jsonl"))

    async def go() -> None:
        corpus = await Corpus.open(db_path)
        try:
            await corpus.apply(file, Actor(name="checkthat"), action="import checkthat")
        finally:
            await corpus.close()

    t0 = time.perf_counter()
    asyncio.run(go())
    return ids, time.perf_counter() - t0


def run_queries(matcher: Matcher, queries: list[tuple[str, str]], ids: dict[str, str]) -> tuple[dict[str, list[str]], float]:
    run: dict[str, list[str]] = {}
    t0 = time.perf_counter()
    for qid, text in queries:
        result = matcher.match(text, None, top=TOP, threshold=0.0)
        run[qid] = [ids.get(h.story_id, h.story_id) for h in result.hits]
    return run, time.perf_counter() - t0


def evaluate(collection: Path, split: str, db_path: Path | None = None) -> dict:
    collection = Path(collection)
    queries = read_queries(collection / split / "queries.tsv")
    qrels = read_qrels(collection / split / "qrels.tsv")
    with tempfile.TemporaryDirectory(prefix="checkthat-") as tmp:
        path = db_path or Path(tmp) / "checkthat.db"
        if db_path is not None and db_path.exists():
            raise SystemExit(f"{db_path} exists: give a new path")
        ids, import_s = build_db(collection, path)
        reader = CorpusReader(path)
        try:
            matcher = Matcher(reader)
            t0 = time.perf_counter()
            matcher.index  # noqa: B018 - load the in-memory index before timing queries
            load_s = time.perf_counter() - t0
            scored = [(q, t) for q, t in queries if qrels.get(q)]
            run, secs = run_queries(matcher, scored, ids)
        finally:
            reader.close()
    metrics = score_run(run, {q: qrels[q] for q, _ in scored})
    return {
        "collection": collection.name or str(collection),
        "split": split,
        **metrics,
        "ms_per_query": 1000 * secs / max(1, len(scored)),
        "_import_s": import_s,
        "_index_s": load_s,
        "_claims": len(ids),
        "_skipped": len(queries) - len(scored),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("collection", type=Path, help="e.g. ../shared/benchmarks/checkthat/2020")
    ap.add_argument("split", help="e.g. train, dev, test, dev-test")
    ap.add_argument("--db", type=Path, help="keep the imported database at this (new) path")
    args = ap.parse_args(argv)
    if not (args.collection / "vclaims.jsonl").exists() or not (args.collection / args.split / "queries.tsv").exists():
        print(f"{args.collection} has no vclaims.jsonl or {args.split}/queries.tsv", file=sys.stderr)
        return 2
    r = evaluate(args.collection, args.split, args.db)
    print(f"CheckThat! {r['collection']} {r['split']}: {r['_claims']:,} verified claims imported in {r['_import_s']:.1f} s; "
          f"{r['queries']} queries scored ({r['_skipped']} without gold skipped)")
    print(f"{'metric':<14}{'value':>10}")
    for k in ("map@1", "map@5", "mrr", "p@1"):
        print(f"{k.upper():<14}{r[k]:>10.4f}")
    print(f"{'ms/query':<14}{r['ms_per_query']:>10.2f}")
    out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if not k.startswith("_")}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
