"""Accuracy on CLEF CheckThat! "detecting previously fact-checked claims": the product's import path and matcher.

    .venv/bin/python -m benchmarks.checkthat ../shared/benchmarks/checkthat/2020 test

1. ``COLLECTION_DIR/vclaims.jsonl`` becomes a corpus file: one Story per verified claim (its title; its subtitle,
   where the collection has one, as the story's summary) with one Claim (the claim text), no entities, no topic terms;
2. it is imported with ``Corpus.apply`` (the CLI's import path, audited) into a fresh database in a temporary folder;
3. every query of ``COLLECTION_DIR/SPLIT/queries.tsv`` goes through ``Matcher.match(text, top=5, threshold=0)``:
   the product's matcher, its ranking, with no threshold so that every query returns its best five;
4. the run is scored against ``qrels.tsv`` (queries without a gold pair are skipped): MAP@1, MAP@5, MRR (over the
   five returned) and P@1.  A readable table goes to stdout (with a 95% bootstrap interval of MAP@5 over the
   queries: 10,000 resamples, seeded), and the last line is one JSON object.  ``--run FILE`` also writes the ranked
   lists in TREC run format (``qid Q0 vclaim_id rank score crosscheck``) for other scorers or paired comparisons.
5. the same tweets as members would see them: through ``match`` as /check asks (top 3, threshold 50) and as an
   auto-reply channel does (top 1, threshold 75), how many get an answer, how many of those answers are right, and
   how many would get one if the corpus lacked the gold claim (printed in the table, not in the JSON line).

``--peer bm25s`` (needs the ``bench`` extra) scores the lexical reference on the same queries in the same run: bm25s
with the English stemmer and stop words over each verified claim's title and claim, its best five (the set-up of the
data's README, which reports 0.907 on 2020 test and 0.846 on 2022 dev-test), and prints its MAP@5 and the paired
bootstrap interval of Crosscheck's MAP@5 minus it (the same resampled queries for both).

``--rerank`` (needs the ``rerank`` extra, see bot/rerank.py) measures the optional embedding re-rank as a separate row:
step 3 asks for ``top=RERANK_CANDIDATES`` and ``bot.rerank.EmbeddingReranker`` re-orders them before the best five
are scored; the JSON gets ``"rerank": "<model>"``.  The stories' embeddings are computed once per collection and kept
in benchmarks/.cache/checkthat/ (their one-off time is printed, not counted in ms/query; a query's own embedding is).

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

from benchmarks.metrics import average_precision, bootstrap_interval, score_run
from bot.matching import AUTOREPLY_THRESHOLD, DEFAULT_THRESHOLD, Matcher
from bot.models import MAX_SHORT, MAX_TITLE, Claim, CorpusFile, Story
from storage.corpus import Actor, Corpus
from storage.reader import CorpusReader

TOP = 5
CACHE = Path(__file__).resolve().parent / ".cache" / "checkthat"


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


def story_texts(collection: Path) -> dict[str, list[str]]:
    """Story id -> the texts the imported story holds (title, summary, claim), as the re-rank reads them."""
    file, _ids = to_corpus(read_vclaims(Path(collection) / "vclaims.jsonl"))
    out: dict[str, list[str]] = {s.id: [s.title, s.summary] for s in file.stories}
    for c in file.claims:
        out[c.story].append(c.text)
    return {sid: list(dict.fromkeys(t.strip() for t in texts if t and t.strip())) for sid, texts in out.items()}


def load_reranker(collection: Path, texts: dict[str, list[str]], threads: int = 1):
    """An EmbeddingReranker with every story text's embedding in its cache (from a file after the first run);
    (reranker, seconds spent embedding the stories now: 0 when the file had them)."""
    import hashlib

    import numpy as np

    from bot.rerank import MODEL_NAME, EmbeddingReranker, load_encoder

    wanted = sorted({t for ts in texts.values() for t in (*ts, *([" ".join(ts)] if len(ts) > 1 else []))})
    digest = hashlib.sha1("\n".join(wanted).encode("utf-8")).hexdigest()[:12]
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"emb-{MODEL_NAME}-{Path(collection).name}-{digest}.npy"
    reranker = EmbeddingReranker(load_encoder(threads=threads), cache_size=len(wanted) + 10_000)
    secs = 0.0
    if path.exists():
        vecs = np.load(path)
    else:
        t0 = time.perf_counter()
        vecs = np.asarray(reranker.encoder.encode(wanted), dtype=np.float32)
        secs = time.perf_counter() - t0
        np.save(path, vecs)
    reranker.preload(wanted, vecs)
    return reranker, secs


def bm25s_run(vclaims: list[dict], queries: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The lexical reference's ranked lists (claim ids): bm25s, English stemmer and stop words, title + claim."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    ids = [str(vc["id"]) for vc in vclaims]
    texts = [f"{vc.get('title') or ''} {vc.get('claim') or ''}" for vc in vclaims]
    index = bm25s.BM25()
    index.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    out: dict[str, list[str]] = {}
    for qid, text in queries:
        tokens = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            out[qid] = []
            continue
        docs, _scores = index.retrieve(tokens, k=min(TOP, len(ids)), show_progress=False)
        out[qid] = [ids[int(i)] for i in docs[0]]
    return out


def run_queries(matcher: Matcher, queries: list[tuple[str, str]], ids: dict[str, str],
                reranker=None, texts: dict[str, list[str]] | None = None,
                candidates: int = TOP) -> tuple[dict[str, list[str]], float]:
    run: dict[str, list[str]] = {}
    t0 = time.perf_counter()
    for qid, text in queries:
        if reranker is None:
            hits = matcher.match(text, None, top=TOP, threshold=0.0).hits
        else:
            hits = matcher.match(text, None, top=candidates, threshold=0.0).hits
            hits = reranker.rerank(text, hits, lambda sid: texts.get(sid, ()), top=TOP)
        run[qid] = [ids.get(h.story_id, h.story_id) for h in hits]
    return run, time.perf_counter() - t0


def as_answered(matcher: Matcher, queries: list[tuple[str, str]], ids: dict[str, str],
                qrels: dict[str, set[str]]) -> list[dict]:
    """What members would see: each tweet through ``match`` as /check asks (top 3, threshold 50) and as an
    auto-reply channel does (top 1, threshold 75; thorough, as within its budget of messages a second): how many get
    an answer, in how many of those the first story is the gold one, and in how many the gold one is among what is
    shown.  And how many would still get an answer if the corpus lacked the gold claim (``answered_without_gold``:
    another story at the threshold; approximated by leaving the gold story out of the answer, the others' scores as
    computed beside it)."""
    rows = []
    for name, top, threshold in (("/check", 3, DEFAULT_THRESHOLD), ("auto-reply", 1, AUTOREPLY_THRESHOLD)):
        answered = first = shown = wrongly = 0
        for qid, text in queries:
            hits = matcher.match(text, None, top=top + len(qrels[qid]), threshold=threshold, thorough=True).hits
            got = [ids.get(h.story_id, h.story_id) for h in hits]
            answered += bool(got[:top])
            first += bool(got) and got[0] in qrels[qid]
            shown += bool(set(got[:top]) & qrels[qid])
            wrongly += any(g not in qrels[qid] for g in got)  # an answer even without the gold claim
        rows.append({"as": name, "top": top, "threshold": threshold, "queries": len(queries), "answered": answered,
                     "first_right": first, "gold_shown": shown, "answered_without_gold": wrongly})
    return rows


def evaluate(collection: Path, split: str, db_path: Path | None = None, *, rerank: bool = False,
             candidates: int | None = None, peer: str | None = None) -> dict:
    collection = Path(collection)
    reranker, texts, embed_s = None, None, 0.0
    if rerank:
        from bot.rerank import RERANK_CANDIDATES

        candidates = candidates or RERANK_CANDIDATES
        texts = story_texts(collection)
        reranker, embed_s = load_reranker(collection, texts)
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
            run, secs = run_queries(matcher, scored, ids, reranker, texts, candidates or TOP)
            answers = as_answered(matcher, scored, ids, qrels) if reranker is None else []
        finally:
            reader.close()
    metrics = score_run(run, {q: qrels[q] for q, _ in scored})
    ap5 = [average_precision(run.get(q, []), qrels[q], TOP) for q, _ in scored]  # per query, for the intervals
    out = {
        "collection": collection.name or str(collection),
        "split": split,
        **metrics,
        "ms_per_query": 1000 * secs / max(1, len(scored)),
        "_import_s": import_s,
        "_index_s": load_s,
        "_claims": len(ids),
        "_skipped": len(queries) - len(scored),
        "_map5_interval": bootstrap_interval(ap5),
        "_run": run,
        "_answers": answers,
    }
    if peer == "bm25s":
        other = bm25s_run(read_vclaims(collection / "vclaims.jsonl"), scored)
        ap5_peer = [average_precision(other.get(q, []), qrels[q], TOP) for q, _ in scored]
        out["_peer"] = {"name": peer, "map@5": sum(ap5_peer) / max(1, len(ap5_peer)),
                        "difference_interval": bootstrap_interval([a - b for a, b in zip(ap5, ap5_peer)])}
    if reranker is not None:
        out["rerank"] = reranker.name
        out["_candidates"] = candidates
        out["_embed_s"] = embed_s
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("collection", type=Path, help="e.g. ../shared/benchmarks/checkthat/2020")
    ap.add_argument("split", help="e.g. train, dev, test, dev-test")
    ap.add_argument("--db", type=Path, help="keep the imported database at this (new) path")
    ap.add_argument("--rerank", action="store_true",
                    help="re-rank the matcher's candidates with the embedding model (needs the 'rerank' extra)")
    ap.add_argument("--peer", choices=["bm25s"], help="also score the lexical reference (needs the 'bench' extra)")
    ap.add_argument("--run", type=Path, help="also write the ranked lists to this file (TREC run format)")
    ap.add_argument("--candidates", type=int, help="with --rerank: how many of the matcher's hits to re-rank "
                    "(default bot.rerank.RERANK_CANDIDATES)")
    args = ap.parse_args(argv)
    if not (args.collection / "vclaims.jsonl").exists() or not (args.collection / args.split / "queries.tsv").exists():
        print(f"{args.collection} has no vclaims.jsonl or {args.split}/queries.tsv", file=sys.stderr)
        return 2
    if args.rerank:
        r = evaluate(args.collection, args.split, args.db, rerank=True, candidates=args.candidates, peer=args.peer)
    else:
        r = evaluate(args.collection, args.split, args.db, peer=args.peer)
    print(f"CheckThat! {r['collection']} {r['split']}: {r['_claims']:,} verified claims imported in {r['_import_s']:.1f} s; "
          f"{r['queries']} queries scored ({r['_skipped']} without gold skipped)")
    if "rerank" in r:
        print(f"re-ranked by {r['rerank']}: the matcher's top {r['_candidates']}; story embeddings "
              + (f"computed in {r['_embed_s']:.1f} s" if r["_embed_s"] else "read from the cache"))
    print(f"{'metric':<14}{'value':>10}")
    for k in ("map@1", "map@5", "mrr", "p@1"):
        print(f"{k.upper():<14}{r[k]:>10.4f}")
    lo, hi = r["_map5_interval"]
    print(f"{'MAP@5 95% CI':<14}{lo:>10.4f} – {hi:.4f} (bootstrap over the {r['queries']} queries)")
    print(f"{'ms/query':<14}{r['ms_per_query']:>10.2f}")
    if "_peer" in r:
        p = r["_peer"]
        lo, hi = p["difference_interval"]
        print(f"{p['name']} (English stemmer and stop words, title + claim): MAP@5 {p['map@5']:.4f}; Crosscheck minus "
              f"{p['name']}: {r['map@5'] - p['map@5']:+.4f} (95% CI {lo:+.4f} to {hi:+.4f}, paired bootstrap)")
    for a in r["_answers"]:
        n, k = a["queries"], a["answered"]
        right, without = a["first_right"], a["answered_without_gold"]
        print(f"as {a['as']} answers (top {a['top']}, threshold {a['threshold']:g}): {k} of {n} tweets answered "
              f"({k / max(1, n):.0%}); the first story is the gold one in {right} ({right / max(1, k):.1%} of the "
              f"answers), the gold one shown in {a['gold_shown']}; {n - k} get no answer; without the gold claim "
              f"{without} ({without / max(1, n):.0%}) would get one")
    if args.run:
        tag = "crosscheck-rerank" if "rerank" in r else "crosscheck"
        with open(args.run, "w", encoding="utf-8") as fh:
            for qid, ranked in r["_run"].items():
                for rank, doc in enumerate(ranked, start=1):
                    fh.write(f"{qid} Q0 {doc} {rank} {1.0 / rank:.4f} {tag}\n")
        print(f"ranked lists written to {args.run}")
    out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if not k.startswith("_")}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
