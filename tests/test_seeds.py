"""The seed corpus: every quote is verbatim from its source document, and the report shows the known disagreements."""

from __future__ import annotations

from bot.models import ArticleRole
from bot.seeds import load_seed
from bot.versions import suggest_positions
from tests.conftest import ROOT


def test_every_evidence_quote_is_verbatim_from_its_document() -> None:
    seed = load_seed()
    n = 0
    for story in seed.stories:
        for q in story.questions:
            for p in q.positions:
                assert p.evidence, f"{q.id}/{p.id} has no evidence"
                for e in p.evidence:
                    assert e.article in p.articles
                    text = (ROOT / "seeds" / "articles" / f"{e.article}.txt").read_text(encoding="utf-8")
                    assert e.quote in text, (q.id, p.id, e.quote)
                    n += 1
    assert n >= 10


def test_seed_articles_are_the_five_source_documents() -> None:
    seed = load_seed()
    ids = sorted(a.id for a in seed.articles)
    assert ids == sorted(p.stem for p in (ROOT / "seeds" / "articles").glob("*.txt"))
    assert len(ids) == 5
    assert {a.id for a in seed.articles if a.role == ArticleRole.background} == {"004_2475d2059478e91a"}


def test_report_shows_date_place_and_kind_conflicts(checker) -> None:
    m = checker.check("Moscow inks defense pact with Kabul").matches[0]
    conflicting = {v.question: v for v in m.versions if v.status == "conflicting"}
    assert set(conflicting) == {
        "When was the agreement signed?",
        "Where was it signed?",
        "What kind of agreement is it: technical cooperation or a military alliance?",
    }
    # Conflicting questions come first, and every position carries quoted evidence.
    assert [v.status for v in m.versions[:3]] == ["conflicting"] * 3
    assert all(p.evidence for v in conflicting.values() for p in v.positions)
    # The strongest sources hold the cooperation reading: its weight beats the alliance reading's.
    kind = conflicting["What kind of agreement is it: technical cooperation or a military alliance?"]
    assert kind.positions[0].statement.startswith("Military-technical cooperation")
    assert kind.positions[0].weight > kind.positions[1].weight
    # The careful report is the most trustworthy source; the content farm and the generated page the least.
    order = [s.article for s in m.sources]
    assert order[0] == "001_3ef12a10435f65e9"
    assert set(order[-2:]) == {"000_22e34d3b350ba09d", "004_2475d2059478e91a"}
    assert m.background == ["004_2475d2059478e91a"]


def test_curated_questions_cover_what_the_extractors_find() -> None:
    seed = load_seed()
    story = seed.stories[0]
    assert suggest_positions(story, seed.articles) == []
