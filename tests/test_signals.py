"""Tests for bot/signals.py on the five seed articles, on clean wire copy, and on hostile input."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from re import _constants as sre_constants  # the public sre_constants module is deprecated
from re import _parser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bot.signals as signals
from bot.models import Article, ArticleRole, Outlet, OutletFlag, OutletRating, OutletType, RatingEntry
from bot.report import Polarity, Signal, SourceOut
from bot.signals import (
    SIGNAL_IDS,
    article_signals,
    build_sources,
    reload_lexicons,
    source_trust,
    strength_band,
    summarize,
)

STORY = "russia-afghanistan-military-technical-agreement-2026"
STEMS = {
    "000": "000_22e34d3b350ba09d",  # content-farm rewrite with a tweet and Amazon lines
    "001": "001_3ef12a10435f65e9",  # careful report
    "002": "002_b6fe9083fad07963",  # partisan explainer with nine references
    "003": "003_364ba9286f04d5aa",  # advocacy analysis
    "004": "004_2475d2059478e91a",  # machine-generated page with a chatbot tail
}
SEED_DIRS = [Path(__file__).parents[1] / "seeds" / "articles", Path("/work/shared/seeds")]


def seed_text(stem: str) -> str:
    for d in SEED_DIRS:
        p = d / f"{stem}.txt"
        if p.exists():
            return p.read_text(encoding="utf-8")
    pytest.skip(f"seed article {stem} not found")


def seed_article(key: str, **kw) -> Article:
    stem = STEMS[key]
    kw.setdefault("published", date(2026, 5, 31) if key == "001" else None)
    return Article(id=stem, story=STORY, outlet=f"outlet-{key}", text=seed_text(stem), **kw)


def by_id(sigs: list[Signal]) -> dict[str, Signal]:
    return {s.id: s for s in sigs}


@pytest.fixture(scope="module")
def seeds() -> dict[str, list[Signal]]:
    return {key: article_signals(seed_article(key)) for key in STEMS}


# --- clean copy written for these tests: several paragraphs, named sources, no hype ---------------------------------

WIRE = """KABUL, June 2 — Afghanistan and Russia signed an agreement on military and technical cooperation in Moscow on \
Friday, the two governments said.

Afghanistan's acting defence minister, Mullah Mohammad Yaqoob, told reporters after the ceremony that the accord \
covered training, maintenance of Soviet-era equipment and technical assistance. "This is an agreement on cooperation, \
not an alliance," Yaqoob said.

Sergei Shoigu, secretary of Russia's Security Council, said in a statement published by the council that the two \
sides had agreed to hold regular consultations on border security. The statement did not give details of any \
equipment deliveries.

Russia's foreign ministry spokeswoman, Maria Zakharova, said on Thursday that Moscow would continue to engage with the \
authorities in Kabul. Russia formally accepted the credentials of a Taliban-appointed ambassador in January, according \
to the Russian Foreign Ministry.

Oz Hassan, a national security scholar at the University of Warwick, said the agreement formalised contacts that had \
been building for several years. "The text is short and most of it concerns training," he said in an interview.

The United Nations has not recognised the Taliban government. A spokesperson for the U.N. Secretary-General, Stephane \
Dujarric, said the organisation had no comment on bilateral agreements between member states.

The full text of the agreement has not been published. Reuters could not independently verify its contents."""

EXPLAINER = """Moscow and Kabul sign a defence pact: what we know

The agreement signed in Moscow on May 31, 2026 covers training, the repair of helicopters and transport aircraft, and \
the supply of spare parts, according to a statement from the Afghan Ministry of Defence \
(https://mod.gov.af/en/statement-2026-05-31).

Russia's Security Council said in its own statement (https://www.scrf.gov.ru/news/allnews/3912/) that the parties \
would set up a joint working group. Neither statement mentions weapons deliveries or troops.

Andrew Watkins, a researcher who has followed Afghan security policy for a decade, said the document was narrower than \
some early headlines suggested. "It is a framework for technical cooperation; the details will come later," Watkins \
said.

Russia removed the Taliban from its list of banned organisations in April 2025, the TASS news agency reported at the \
time. Most of the Afghan air force's remaining aircraft are of Soviet or Russian design, the U.S. Special Inspector \
General for Afghanistan Reconstruction noted in its final report."""

#: Ids that must never fire on clean copy.
ALARMS = {
    "vague_sourcing", "social_evidence", "sensational", "commercial", "chatbot_boilerplate", "markup_residue",
    "repeated_text", "loaded_language", "opinion_as_analysis", "hedging", "certainty_boosters", "date_conflict",
    "misspellings",
}  # fmt: skip


def clean_article(text: str, **kw) -> Article:
    kw.setdefault("published", date(2026, 6, 2))
    kw.setdefault("author", "Jane Doe")
    return Article(id=kw.pop("id", "clean-wire"), story=STORY, outlet="wire", text=text, **kw)


# =====================================================================================================================
# The catalogue and the evidence contract
# =====================================================================================================================


def test_catalogue_ids_are_stable_slugs_with_labels():
    assert len(SIGNAL_IDS) >= 15
    for sid, label in SIGNAL_IDS.items():
        assert re.fullmatch(r"[a-z][a-z_]{2,40}", sid)
        assert label and label[0].isupper()


def test_docs_describe_every_signal_id():
    doc = Path(__file__).parents[1] / "docs" / "signals.md"
    text = doc.read_text(encoding="utf-8")
    missing = [sid for sid in SIGNAL_IDS if f"`{sid}`" not in text]
    assert not missing, f"docs/signals.md does not describe {missing}"


def test_every_signal_has_evidence_a_known_id_and_sane_strength(seeds):
    all_sigs = [s for sigs in seeds.values() for s in sigs]
    all_sigs += article_signals(clean_article(WIRE)) + article_signals(clean_article(EXPLAINER, id="clean-explainer"))
    assert all_sigs
    for s in all_sigs:
        assert s.id in SIGNAL_IDS and s.label == SIGNAL_IDS[s.id]
        assert s.evidence.strip(), s
        assert len(s.evidence) <= 240, s.evidence
        assert 0.0 <= s.strength <= 1.0


def test_signals_come_strongest_first(seeds):
    for sigs in seeds.values():
        strengths = [s.strength for s in sigs]
        assert strengths == sorted(strengths, reverse=True)


def test_strength_bands():
    assert strength_band(0.1) == "weak"
    assert strength_band(0.5) == "moderate"
    assert strength_band(0.9) == "strong"


# =====================================================================================================================
# The seed articles
# =====================================================================================================================


def test_000_content_farm_rewrite(seeds):
    sig = by_id(seeds["000"])
    vague = sig["vague_sourcing"].evidence
    assert "according to the news story" in vague or "Source: Source" in vague
    assert sig["vague_sourcing"].polarity == Polarity.negative
    assert "@Prime_Line0 May 1, 2026" in sig["social_evidence"].evidence
    commercial = sig["commercial"].evidence
    assert "SHOP AMAZON BEST SELLERS, CLICK TO BUY FROM AMAZON." in commercial
    assert "×2" in commercial and "repeated" in commercial
    sensational = sig["sensational"].evidence
    assert "🚨" in sensational and ("Breaking" in sensational or "#breaking" in sensational)
    assert "citations" not in sig and "named_attribution" not in sig


def test_001_careful_report(seeds):
    sig = by_id(seeds["001"])
    assert "Defence Minister said" in sig["named_attribution"].evidence
    assert sig["named_attribution"].polarity == Polarity.positive
    assert sig["citations"].evidence.startswith("1 distinct reference")
    negatives = [s for s in seeds["001"] if s.polarity == Polarity.negative]
    assert all(strength_band(s.strength) == "weak" for s in negatives), negatives
    assert not ALARMS & {s.id for s in negatives} - {"vague_sourcing"}


def test_002_partisan_explainer(seeds):
    sig = by_id(seeds["002"])
    cites = sig["citations"].evidence
    assert cites.startswith("9 distinct references") and "[1]–[9]" in cites
    loaded = sig["loaded_language"].evidence
    assert "abandoned" in loaded and "regime" in loaded
    assert sig["loaded_language"].polarity == Polarity.negative
    misspelt = sig["misspellings"].evidence
    assert "Minsiter" in misspelt and "Afgahn" in misspelt
    assert "undeniably" in sig["certainty_boosters"].evidence
    # the tweet is there, but beside nine references it is not the main evidence
    assert "pic.twitter.com" in sig["social_evidence"].evidence
    assert strength_band(sig["social_evidence"].strength) == "weak"


def test_002_headlines_in_the_sources_list_are_not_the_articles_own_words(seeds):
    # "[1] Web – Moscow, Taliban forge military alliance in power grab …" is a cited headline
    assert "power grab" not in by_id(seeds["002"])["loaded_language"].evidence


def test_003_advocacy_analysis(seeds):
    sig = by_id(seeds["003"])
    opinion = sig["opinion_as_analysis"]
    assert opinion.polarity == Polarity.negative
    assert "no citations" in opinion.evidence
    assert "undeniable" in opinion.evidence and "rightly" in opinion.evidence
    assert "citations" not in sig
    assert "Zionist regime" in sig["loaded_language"].evidence or "zionist regime" in sig["loaded_language"].evidence


def test_004_machine_generated_page(seeds):
    sig = by_id(seeds["004"])
    chatbot = sig["chatbot_boilerplate"].evidence
    assert "Thank you for the opportunity" in chatbot
    assert strength_band(sig["chatbot_boilerplate"].strength) == "strong"
    assert '"headline":' in sig["markup_residue"].evidence
    repeated = sig["repeated_text"].evidence
    assert "Thank you for your patience and thorough evaluation." in repeated
    assert "Ready for any follow-up actions or inquiries as may arise." in repeated
    assert "×2" in repeated


def test_build_sources_orders_careful_report_first_and_machine_text_last():
    items = [(seed_article(k), Outlet(id=f"outlet-{k}", name=f"Outlet {k}"), None) for k in STEMS]
    sources = build_sources(items)
    order = [s.article for s in sources]
    assert order[0] == STEMS["001"]
    assert set(order[-2:]) == {STEMS["000"], STEMS["004"]}
    trusts = [s.trust for s in sources]
    assert trusts == sorted(trusts, reverse=True)
    assert all(-1.0 <= t <= 1.0 for t in trusts)


def test_build_sources_with_outlet_ratings():
    types = {"000": OutletType.content_farm, "001": OutletType.newspaper, "002": OutletType.partisan_site,
             "003": OutletType.advocacy, "004": OutletType.unknown}  # fmt: skip
    farm = OutletRating(flags={OutletFlag.ai_content_farm: RatingEntry(value="yes", basis="chatbot text on page")})
    items = [
        (seed_article(k), Outlet(id=f"outlet-{k}", name=f"Outlet {k}", type=types[k]), farm if k == "004" else None)
        for k in STEMS
    ]
    sources = build_sources(items)
    assert sources[0].article == STEMS["001"]
    assert {s.article for s in sources[-2:]} == {STEMS["000"], STEMS["004"]}
    by_article = {s.article: s for s in sources}
    assert by_article[STEMS["004"]].rating == {"flags": {"ai_content_farm": {"value": "yes", "basis": "chatbot text on page"}}}
    assert by_article[STEMS["001"]].rating is None
    assert "flagged: ai content farm" in by_article[STEMS["004"]].summary


def test_build_sources_fields_and_tie_break():
    text = seed_text(STEMS["001"])
    a = Article(id="b-copy", story=STORY, outlet="o1", text=text, url="https://example.com/a", published=date(2026, 5, 31))
    b = Article(id="a-copy", story=STORY, outlet="o1", text=text, role=ArticleRole.background)
    outlet = Outlet(id="o1", name="Example Daily", type=OutletType.newspaper)
    out = build_sources([(a, outlet, None), (b, outlet, None)])
    assert all(isinstance(s, SourceOut) for s in out)
    first, second = out
    assert (first.article, second.article) == ("b-copy", "a-copy")  # b is dated, so it ranks higher
    assert first.outlet == "Example Daily" and first.outlet_id == "o1"
    assert first.url == "https://example.com/a" and first.published == "2026-05-31"
    assert second.published is None and second.role == "background"
    assert first.signals and first.summary
    # identical articles tie: ordered by article id
    c = Article(id="c-copy", story=STORY, outlet="o1", text=text)
    d = Article(id="d-copy", story=STORY, outlet="o1", text=text)
    assert [s.article for s in build_sources([(d, outlet, None), (c, outlet, None)])] == ["c-copy", "d-copy"]


def test_build_sources_passes_other_dates_per_article():
    a = seed_article("001")
    out = build_sources([(a, Outlet(id="o", name="O"), None)], other_dates_by_article={a.id: [date(2026, 5, 29)]})
    assert "date_conflict" in {s.id for s in out[0].signals}


# =====================================================================================================================
# No false alarms on clean copy
# =====================================================================================================================


@pytest.mark.parametrize("text", [WIRE, EXPLAINER], ids=["wire", "explainer"])
def test_clean_copy_raises_no_alarm(text):
    sigs = article_signals(clean_article(text))
    ids = {s.id for s in sigs}
    assert not ids & ALARMS, [s for s in sigs if s.id in ALARMS]
    assert not [s for s in sigs if s.polarity == Polarity.negative]
    assert {"named_attribution", "citations", "byline", "dated"} <= ids


def test_clean_wire_finds_named_speakers_and_quotes():
    sig = by_id(article_signals(clean_article(WIRE)))
    ev = sig["named_attribution"].evidence
    assert "Mullah Mohammad Yaqoob" in ev and "Sergei Shoigu" in ev
    assert "not an alliance" in sig["direct_quote"].evidence
    assert "Reuters" in sig["citations"].evidence


def test_explainer_counts_links_and_named_outlets():
    ev = by_id(article_signals(clean_article(EXPLAINER)))["citations"].evidence
    assert "mod.gov.af" in ev and "scrf.gov.ru" in ev and "TASS" in ev


OPED = """Why the West should talk to Kabul

The West should stop pretending the Taliban will disappear. We have tried isolation for five years, and it has failed. \
Our policy must change.

Russia has understood this. Its new agreement with Kabul is a pragmatic step, and Washington should take note. We \
ignore this at our peril."""


def test_opinion_labelled_as_such_is_not_disguised():
    unlabelled = by_id(article_signals(clean_article(OPED)))
    assert "should stop pretending" in unlabelled["opinion_as_analysis"].evidence
    assert "labelled_opinion" not in unlabelled
    labelled = by_id(article_signals(clean_article("Opinion | " + OPED)))
    assert "opinion_as_analysis" not in labelled
    assert labelled["labelled_opinion"].polarity == Polarity.neutral
    assert "Opinion | Why the West" in labelled["labelled_opinion"].evidence


def test_newsletter_sign_off_is_not_chatbot_text():
    text = (
        "Russia and Afghanistan signed a cooperation agreement last week. Our correspondent in Tashkent, Dilnoza "
        "Karimova, says the deal is mostly about spare parts and training.\n\n"
        "That's all for this week. Let me know if you have tips or questions. Thank you for reading."
    )
    sig = by_id(article_signals(clean_article(text)))
    assert "chatbot_boilerplate" not in sig
    assert "Dilnoza Karimova" in sig["named_attribution"].evidence


def test_anonymous_sources_beside_named_ones_stay_weak():
    text = (
        "Russia and the Taliban signed a military cooperation agreement on Friday, Russian officials said. The deal "
        "could cover training and helicopter repairs, analysts say. Two diplomats told Reuters it may open the way "
        "for arms sales.\n\n\"We are ready to help our Afghan partners,\" Sergei Shoigu, secretary of Russia's "
        "Security Council, said at the ceremony."
    )
    vague = by_id(article_signals(clean_article(text)))["vague_sourcing"]
    assert "Russian officials said" in vague.evidence and "analysts say" in vague.evidence
    assert strength_band(vague.strength) == "weak"


def test_quoted_words_are_not_the_outlets_wording():
    text = (
        'The minister, Ahmad Karimi, rejected the criticism. "We will never surrender to this regime of thugs and '
        'traitors, it is a shameful and disgraceful betrayal," Karimi said at a news conference in Kabul.'
    )
    ids = {s.id for s in article_signals(clean_article(text))}
    assert "loaded_language" not in ids and "opinion_as_analysis" not in ids


def test_loaded_words_in_the_outlets_own_voice_are_reported():
    text = (
        "The regime of thugs and traitors has betrayed the nation in a shameful capitulation. "
        "The minister, Ahmad Karimi, said the talks would continue."
    )
    ev = by_id(article_signals(clean_article(text)))["loaded_language"].evidence
    assert "thugs" in ev and "traitors" in ev and "shameful" in ev


def test_month_may_is_not_a_hedge():
    text = "The agreement was signed on May 31, 2026. " * 3 + "The minister, Ahmad Karimi, said so on May 30."
    assert "hedging" not in {s.id for s in article_signals(clean_article(text))}


# =====================================================================================================================
# Dates, byline, metadata
# =====================================================================================================================


def test_two_dates_for_the_same_signing_conflict():
    text = (
        "The agreement was signed on May 31, 2026 in Moscow. Officials later said the signing took place on "
        "29 May 2026. An earlier accord was signed on 2019-04-10."
    )
    sig = by_id(article_signals(clean_article(text)))
    ev = sig["date_conflict"].evidence
    assert "May 31, 2026" in ev and "29 May 2026" in ev and "2019" not in ev


def test_date_contradicting_other_sources():
    ev = by_id(article_signals(seed_article("001"), other_dates=[date(2026, 5, 29)]))["date_conflict"].evidence
    assert "May 31, 2026" in ev and "2026-05-29" in ev
    agree = article_signals(seed_article("001"), other_dates=[date(2026, 5, 31), date(2026, 5, 29)])
    assert "date_conflict" not in {s.id for s in agree}
    # one other source may be the one in error; several agreeing on another date weigh more
    one = by_id(article_signals(seed_article("001"), other_dates=[date(2026, 5, 29)]))["date_conflict"]
    three = by_id(article_signals(seed_article("001"), other_dates=[date(2026, 5, 29)] * 3))["date_conflict"]
    assert strength_band(one.strength) == "weak" and three.strength > one.strength
    # a date far from every other date is another event, not a contradiction
    far = article_signals(seed_article("001"), other_dates=[date(2019, 4, 10)])
    assert "date_conflict" not in {s.id for s in far}


def test_date_of_an_embedded_post_is_not_an_event_date():
    # 000's tweet is dated May 1, 2026: the date of the post, not of the signing
    sigs = article_signals(seed_article("000"), other_dates=[date(2026, 5, 31)])
    assert "date_conflict" not in {s.id for s in sigs}


def test_byline_and_publication_date():
    with_meta = by_id(article_signals(clean_article(WIRE)))
    assert with_meta["byline"].evidence == "by “Jane Doe”" and with_meta["dated"].evidence == "published 2026-06-02"
    bare = by_id(article_signals(Article(id="bare", story=STORY, outlet="o", text=WIRE)))
    assert bare["no_byline"].polarity == Polarity.negative and "undated" in bare
    assert strength_band(bare["no_byline"].strength) == "weak"


def test_non_english_article_gets_only_language_neutral_signals():
    text = "🚨 СРОЧНО 🚨 Россия и Афганистан подписали соглашение. pic.twitter.com/abc123 " * 3
    ids = {s.id for s in article_signals(Article(id="ru", story=STORY, outlet="o", text=text, language="ru"))}
    assert {"sensational", "social_evidence"} <= ids
    assert not ids & {"vague_sourcing", "loaded_language", "opinion_as_analysis", "misspellings", "hedging"}


# =====================================================================================================================
# Trust and summary
# =====================================================================================================================


def test_source_trust_bounds_and_rating_effects(seeds):
    careful = seeds["001"]
    base = source_trust(careful, OutletType.unknown, None)
    assert source_trust(careful, OutletType.wire, None) > base
    assert source_trust(careful, OutletType.content_farm, None) < base
    low = OutletRating(factual_record=RatingEntry(value="low"))
    high = OutletRating(factual_record=RatingEntry(value="high"))
    assert source_trust(careful, OutletType.unknown, low) < base < source_trust(careful, OutletType.unknown, high)
    for flag in (OutletFlag.ai_content_farm, OutletFlag.satire, OutletFlag.state_media):
        flagged = OutletRating(flags={flag: RatingEntry(value="yes")})
        assert source_trust(careful, OutletType.unknown, flagged) < base
    assert source_trust([], OutletType.unknown, None) == 0.0
    worst = OutletRating(factual_record=RatingEntry(value="very_low"), flags={OutletFlag.ai_content_farm: RatingEntry(value="yes")})
    assert -1.0 <= source_trust(seeds["004"], OutletType.ai_content_farm, worst) < -0.8


def test_signals_with_evidence_dominate_the_rating(seeds):
    # a machine-generated page from a "high"-rated wire still ranks below a careful report from an unknown outlet
    best_rating = OutletRating(factual_record=RatingEntry(value="high"))
    assert source_trust(seeds["004"], OutletType.wire, best_rating) < source_trust(seeds["001"], OutletType.unknown, None)


def test_summaries_are_one_actionable_line(seeds):
    s002 = summarize(seeds["002"], None)
    assert "cites 9 references" in s002 and "partisan wording:" in s002 and "'abandoned'" not in s002.split(";")[0]
    assert "\n" not in s002 and len(s002) <= 240
    assert "leftover chatbot text" in summarize(seeds["004"], None)
    s001 = summarize(seeds["001"], None)
    assert "cites 1 reference" in s001 and "references" not in s001
    rated = summarize(seeds["001"], OutletRating(factual_record=RatingEntry(value="mostly_high")))
    assert rated.startswith("factual record: mostly high; ")
    assert summarize([], None) == "no notable signals"


# =====================================================================================================================
# Lexicons
# =====================================================================================================================


def test_lexicons_are_small_and_parse():
    lex_dir = Path(signals.__file__).with_name("lexicons")
    total = sum(p.stat().st_size for p in lex_dir.iterdir() if p.is_file())
    assert total < 200_000
    for name in ("loaded", "opinion", "hedges", "boosters", "chatbot", "misspellings", "outlets"):
        assert (lex_dir / f"{name}.txt").exists()
    for line in (lex_dir / "misspellings.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            wrong, right = (p.strip() for p in line.split("->"))
            assert wrong and right and wrong.lower() != right.lower()


def test_editing_a_lexicon_takes_effect(tmp_path, monkeypatch):
    lex_dir = Path(signals.__file__).with_name("lexicons")
    for p in lex_dir.glob("*.txt"):
        (tmp_path / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    with (tmp_path / "loaded.txt").open("a", encoding="utf-8") as f:
        f.write("\nquagmire | 3\n")
    text = "The minister, Ahmad Karimi, said the war had become a quagmire for the coalition."
    assert "loaded_language" not in {s.id for s in article_signals(clean_article(text))}
    monkeypatch.setattr(signals, "LEXICON_DIR", tmp_path)
    reload_lexicons()
    try:
        assert "quagmire" in by_id(article_signals(clean_article(text)))["loaded_language"].evidence
    finally:
        monkeypatch.undo()
        reload_lexicons()


# =====================================================================================================================
# Robustness: hostile input
# =====================================================================================================================


def _walk(parsed):
    for op, av in parsed:
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            lo, hi, sub = av
            yield hi
            yield from _walk(sub)
        elif op == sre_constants.SUBPATTERN:
            yield from _walk(av[-1])
        elif op == sre_constants.BRANCH:
            for alt in av[1]:
                yield from _walk(alt)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            yield from _walk(av[1])


def test_every_pattern_has_bounded_repetition():
    """No `+` / `*` anywhere: every repeat in every pattern of the module has an upper bound."""
    patterns = {n: p for n, p in vars(signals).items() if isinstance(p, re.Pattern)}
    lex = signals._lexicons()
    patterns["lexicon trie"], patterns["outlet trie"] = lex.ci_re, lex.cs_re
    assert len(patterns) > 30
    for name, pattern in patterns.items():
        bounds = list(_walk(_parser.parse(pattern.pattern, pattern.flags)))
        assert all(b != sre_constants.MAXREPEAT and b <= 1000 for b in bounds), name


MB = 1_000_000
ADVERSARIAL = {
    "a": "a" * MB,
    "bangs": "!" * MB,
    "sirens": "🚨" * (MB // 4),
    "refs": "[1]" * (MB // 3),
    "json": '"headline":' * (MB // 11),
    "spaces": " " * MB,
    "nested": "[" * (MB // 2) + "]" * (MB // 2),
    "braces": "{{" * (MB // 4) + "}}" * (MB // 4),
    "quotes": '"' * MB,
    "caps": "ABCD " * (MB // 5),
    "said": "Hassan said " * (MB // 12),
    "tweets": "— @a May 1, 2026 " * (MB // 18),
    "dates": "signed on May 31, 2026. " * (MB // 24),
    "according": "according to the news story " * (MB // 28),
    "newlines": "\n" * MB,
    "hashtags": "#tag " * (MB // 5),
    "urls": "http://" * (MB // 7),
    "mixed": 'Experts say 🚨 BREAKING NEWS!!! SHOP NOW [1] "headline": may could "a b c d e ' * (MB // 80),
}


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_megabyte_completes(name):
    text = ADVERSARIAL[name]
    article = Article.model_construct(id="x", story="s", outlet="o", text=text, title="", language="en", author=None,
                                      published=None)  # fmt: skip  (bypasses the 200,000-character model limit)
    sigs = article_signals(article)
    assert all(isinstance(s, Signal) and s.evidence for s in sigs)
    assert -1.0 <= source_trust(sigs, OutletType.unknown, None) <= 1.0
    assert summarize(sigs, None)


@pytest.mark.parametrize(
    "text",
    [
        "a\ud800b\udfff said Hassan",  # lone surrogates
        "\x00\x01\x02 NUL and controls \x7f",
        "\u202eevil\u202c RTL override \u2066said\u2069 Minister",
        "e\u0301\u0301\u0301 combining marks " * 50,
        "İstanbul İİİ SAID",  # lower-cases to a longer string
        "\ufeff\u200b\u200d",
        "“unclosed quote " * 1000,
        "Sources:\n" + "[1] x\n" * 500,
    ],
)
def test_odd_strings_never_raise(text):
    article = Article.model_construct(id="x", story="s", outlet="o", text=text, title=text[:50], language="en",
                                      author=text[:20], published=None)  # fmt: skip
    for s in article_signals(article):
        assert s.evidence


_ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=3000)
_WORDY_TEXT = st.lists(
    st.sampled_from(
        "said Minister the according to news story Source: 🚨 BREAKING May 31, 2026 signed [1] \" “ ” #tag "
        "SHOP AMAZON click to buy \"headline\": ``` regime undeniably should we might Afgahn — @x http://t.co/a "
        "\n , . ! ? Experts say Reuters".split(" ")
    ),
    max_size=400,
).map(" ".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_ANY_TEXT | _WORDY_TEXT, title=_ANY_TEXT, lang=st.sampled_from(["en", "ru", ""]))
def test_fuzz_article_signals_never_raises(text, title, lang):
    article = Article.model_construct(id="x", story="s", outlet="o", text=text, title=title[:300], language=lang,
                                      author=None, published=None)  # fmt: skip
    sigs = article_signals(article, other_dates=[date(2026, 5, 29)])
    for s in sigs:
        assert s.id in SIGNAL_IDS and s.evidence and 0.0 <= s.strength <= 1.0
    assert -1.0 <= source_trust(sigs, OutletType.unknown, None) <= 1.0
    assert isinstance(summarize(sigs, None), str)


@settings(max_examples=60, deadline=None)
@given(text=_ANY_TEXT.filter(lambda t: t.strip()))
def test_fuzz_validated_articles(text):
    try:
        article = Article(id="x", story="s", outlet="o", text=text)
    except ValueError:
        return  # the model rejects it; nothing to analyse
    out = build_sources([(article, Outlet(id="o", name="O"), None)])
    assert len(out) == 1 and out[0].article == "x"
