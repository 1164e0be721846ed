"""Ranking metrics as the CLEF CheckThat! "previously fact-checked claims" task defines them (pure functions)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence


def average_precision(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """AP@k: the precision at each relevant hit in the top ``k``, summed, over min(#relevant, k)."""
    rel = set(relevant)
    if not rel:
        return 0.0
    hits, total = 0, 0.0
    for i, doc in enumerate(ranked[:k], start=1):
        if doc in rel:
            hits += 1
            total += hits / i
    return total / min(len(rel), k)


def reciprocal_rank(ranked: Sequence[str], relevant: Iterable[str]) -> float:
    rel = set(relevant)
    for i, doc in enumerate(ranked, start=1):
        if doc in rel:
            return 1.0 / i
    return 0.0


def precision_at(ranked: Sequence[str], relevant: Iterable[str], k: int) -> float:
    rel = set(relevant)
    return sum(1 for d in ranked[:k] if d in rel) / k


def score_run(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Iterable[str]]) -> dict[str, float | int]:
    """MAP@1, MAP@5, MRR (over the returned list) and P@1 over the queries that have gold pairs."""
    qids = [q for q in qrels if set(qrels[q])]
    n = len(qids)
    if not n:
        return {"queries": 0, "map@1": 0.0, "map@5": 0.0, "mrr": 0.0, "p@1": 0.0}
    out = {
        "queries": n,
        "map@1": sum(average_precision(run.get(q, []), qrels[q], 1) for q in qids) / n,
        "map@5": sum(average_precision(run.get(q, []), qrels[q], 5) for q in qids) / n,
        "mrr": sum(reciprocal_rank(run.get(q, []), qrels[q]) for q in qids) / n,
        "p@1": sum(precision_at(run.get(q, []), qrels[q], 1) for q in qids) / n,
    }
    return out


def bootstrap_interval(values: Sequence[float], *, resamples: int = 10_000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of ``values`` (e.g. each query's AP@5): how far the score
    could move on another sample of queries like these.  Seeded, so a run prints the same interval every time."""
    n = len(values)
    if not n:
        return (0.0, 0.0)
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    tail = (1.0 - level) / 2
    return means[int(tail * resamples)], means[min(resamples - 1, int((1.0 - tail) * resamples))]
