"""Extractors in bot/extract.py: dates, places, people and roles, numbers, characterizations (negation-aware)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.extract import (
    Polarity,
    Precision,
    extract_characterizations,
    extract_dates,
    extract_deployments,
    extract_events,
    extract_numbers,
    extract_people,
    extract_places,
    extract_roles,
    polarity_of,
    quote_around,
    split_sentences,
)

ROOT = Path(__file__).resolve().parents[1]


def seed_text(stem: str) -> str:
    """A seed article, from seeds/articles/ (or the shared copy while the lead has not copied them yet)."""
    for base in (ROOT / "seeds" / "articles", Path("/work/shared/seeds")):
        p = base / f"{stem}.txt"
        if p.exists():
            return p.read_text(encoding="utf-8")
    pytest.skip(f"seed article {stem} not available")


A000 = "000_22e34d3b350ba09d"
A001 = "001_3ef12a10435f65e9"
A002 = "002_b6fe9083fad07963"
A003 = "003_364ba9286f04d5aa"
A004 = "004_2475d2059478e91a"

MON_1_JUNE = date(2026, 6, 1)  # a Monday; 31 May 2026 is a Sunday


def one_date(text: str, **kw):
    found = extract_dates(text, **kw)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The agreement was signed on May 31, 2026 [1], during a ceremony.", date(2026, 5, 31)),
        ("It was signed on 31 May 2026 in Moscow.", date(2026, 5, 31)),
        ("It was signed on the 31st of May 2026.", date(2026, 5, 31)),
        ("It was signed on 31st May, 2026.", date(2026, 5, 31)),
        ("It was signed on Sunday, May 31st, 2026.", date(2026, 5, 31)),
        ("Signed: 2026-05-31.", date(2026, 5, 31)),
        ("Signed: 2026/05/31.", date(2026, 5, 31)),
        ("Signed 31/05/2026 in Moscow.", date(2026, 5, 31)),
        ("Signed 31.05.2026 in Moscow.", date(2026, 5, 31)),
        ("Signed 05/31/2026 in Moscow.", date(2026, 5, 31)),  # unambiguous month-first
        ("Signed Sept. 5, 2026.", date(2026, 9, 5)),
        ("— @Prime_Line0 May 1, 2026", date(2026, 5, 1)),
    ],
)
def test_absolute_dates(text: str, expected: date) -> None:
    d = one_date(text)
    assert d.value == expected
    assert d.precision == Precision.day
    assert not d.relative
    assert text[d.start : d.end] == d.text


def test_numeric_dates_are_day_first_by_default_and_configurable() -> None:
    assert one_date("on 05/06/2026").value == date(2026, 6, 5)
    assert one_date("on 05/06/2026", day_first=False).value == date(2026, 5, 6)


@pytest.mark.parametrize(
    "text, expected",
    [("By January 2026, the government accepted the credentials.", (2026, 1)), ("in May 2026", (2026, 5)),
     ("in March of 2025", (2025, 3))],
)  # fmt: skip
def test_month_precision(text: str, expected: tuple[int, int]) -> None:
    d = one_date(text)
    assert d.value == expected
    assert d.precision == Precision.month
    assert d.key == f"{expected[0]:04d}-{expected[1]:02d}"
    assert d.interval[0] == date(*expected, 1)


def test_invalid_and_non_dates() -> None:
    assert extract_dates("31/02/2026 and 2026-13-45") == []
    # "may" the verb is not a month, nor is a bare year or a reference number.
    assert extract_dates("Officials may meet again; the deal may 2 ways [1] in 2021.") == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("They signed it yesterday.", date(2026, 5, 31)),
        ("They signed it on Sunday.", date(2026, 5, 31)),
        ("They signed it Sunday.", date(2026, 5, 31)),
        ("They met last Friday.", date(2026, 5, 29)),
        ("They met two days ago.", date(2026, 5, 30)),
        ("They met 3 days ago.", date(2026, 5, 29)),
        ("They will meet on Friday.", date(2026, 6, 5)),
        ("They meet next Friday.", date(2026, 6, 5)),
        ("It happened today.", date(2026, 6, 1)),
    ],
)
def test_relative_dates_resolve_against_the_anchor(text: str, expected: date) -> None:
    d = one_date(text, anchor=MON_1_JUNE)
    assert d.relative
    assert d.value == expected
    assert d.precision == Precision.day


def test_relative_weeks_and_months() -> None:
    d = one_date("Earlier this week, Shoigu made his way to Kabul.", anchor=date(2024, 11, 28))
    assert d.precision == Precision.week
    assert d.value == date(2024, 11, 25)  # the Monday of that week
    assert d.interval == (date(2024, 11, 25), date(2024, 12, 1))
    assert d.event == "visited"
    assert one_date("last week", anchor=MON_1_JUNE).value == date(2026, 5, 25)
    assert one_date("last month", anchor=MON_1_JUNE).value == (2026, 5)
    assert one_date("earlier this month", anchor=date(2026, 1, 20)).value == (2026, 1)
    assert one_date("two months ago", anchor=date(2026, 1, 20)).value == (2025, 11)


def test_relative_and_yearless_dates_without_anchor_have_no_value() -> None:
    for text in ("signed yesterday", "signed on Sunday", "signed earlier this week", "signed on May 31"):
        d = one_date(text)
        assert d.value is None, text
    d = one_date("signed on May 31", anchor=MON_1_JUNE)
    assert d.value == date(2026, 5, 31) and d.year_inferred
    # A day-month far after the anchor belongs to the previous year.
    assert one_date("signed on December 30", anchor=date(2026, 1, 3)).value == date(2025, 12, 30)


@pytest.mark.parametrize(
    "text, event",
    [
        ("The agreement was signed on May 31, 2026 [1], during a ceremony in Moscow.", "signed"),
        ("By January 2026, the Russian government formally accepted the credentials of an ambassador.", "accepted"),
        ("Russia's Supreme Court delisted the Taliban on 17 April 2025.", "delisted"),
        ("Shoigu visited Kabul on 25 November 2024.", "visited"),
        ("The weather on 3 June 2026 was fine.", None),
    ],
)
def test_governing_event(text: str, event: str | None) -> None:
    assert one_date(text).event == event


def test_post_dates_carry_the_event_of_the_post() -> None:
    d = [x for x in extract_dates(seed_text(A000)) if x.value == date(2026, 5, 1)]
    assert len(d) == 1 and d[0].posted and d[0].event == "signed"
    d2 = [x for x in extract_dates(seed_text(A002)) if x.posted]
    assert [x.value for x in d2] == [date(2026, 5, 29)]
    assert d2[0].event == "signed"
    assert "signing" in seed_text(A002)[d2[0].event_at : d2[0].event_at + 10]


def test_dateline_is_not_the_event_date() -> None:
    text = "MOSCOW, June 1 (Wire) - Russia and Afghanistan signed a military-technical agreement on Sunday."
    found = extract_dates(text, anchor=MON_1_JUNE)
    assert [(d.value, d.dateline, d.event) for d in found] == [
        (date(2026, 6, 1), True, None),
        (date(2026, 5, 31), False, "signed"),
    ]


def test_seed_001_signing_date() -> None:
    found = [d for d in extract_dates(seed_text(A001), anchor=MON_1_JUNE) if d.event == "signed"]
    assert [(d.value, d.text) for d in found] == [(date(2026, 5, 31), "May 31, 2026")]


# ---------------------------------------------------------------------------------------------------------- places


def place(text: str, name: str):
    hits = [p for p in extract_places(text) if p.name == name]
    assert hits, (name, extract_places(text))
    return hits[0]


def test_places_and_cues() -> None:
    p = place("signed a deal during a security forum in the Moscow region, officials said", "Moscow region")
    assert (p.kind, p.country, p.cue, p.event) == ("region", "Russia", "forum in", "signed")
    # The region is one mention, not "Moscow" plus a region.
    assert [x.name for x in extract_places("in the Moscow region")] == ["Moscow region"]
    p = place("The agreement was signed on May 31, 2026 [1], during a ceremony in Moscow.", "Moscow")
    assert (p.kind, p.cue, p.event) == ("city", "ceremony in", "signed")
    assert place("The signing took place in Moscow, where officials met.", "Moscow").cue == "took place in"
    assert place("The talks were held in Doha.", "Doha").cue == "held in"
    p = place("Shoigu made his way to Kabul with one message.", "Kabul")
    assert (p.cue, p.event, p.country) == ("to", "visited", "Afghanistan")
    assert place("Taliban defence Minsiter Mullah Yqoob is in moscow .", "Moscow").cue == "in"
    assert place("fighting in the Kursk region", "Kursk region").kind == "region"
    p = place("The accord was signed in Zarafshan.", "Zarafshan")
    assert (p.kind, p.known) == ("unknown", False)


def test_not_places() -> None:
    names = [p.name for p in extract_places("He told us in January that in Russian media, in addition, that was it.")]
    assert names == []
    assert [p.name for p in extract_places("the U.S. and the US")] == ["United States", "United States"]


# ---------------------------------------------------------------------------------------------------------- people


def test_people() -> None:
    text = seed_text(A004)
    names = {p.name for p in extract_people(text)}
    assert {"Sergei Shoigu", "Abdul Ghani Baradar", "Oz Hassan", "Aleksei Zakharov", "Vladimir Putin"} <= names
    assert not names & {"Security Council", "Central Asia", "Supreme Court", "United States"}
    p = extract_people("Taliban defence Minsiter Mullah Yqoob is in moscow .")
    assert [(x.name, x.honorific) for x in p] == [("Mullah Yqoob", "Mullah")]
    assert [x.name for x in extract_people("talks with Mullah Yaqoob, the defence minister")] == ["Mullah Yaqoob"]


def test_roles() -> None:
    roles = extract_roles(seed_text(A004))
    sc = [r for r in roles if r.role == "security council secretary"]
    assert sc and sc[0].affiliation == "Russia" and sc[0].person == "Sergei Shoigu"
    assert any(r.role == "defence minister" and r.former for r in roles)
    assert any(r.role == "president" and r.person == "Vladimir Putin" for r in roles)
    dpm = [r for r in roles if r.role == "deputy prime minister"]
    assert dpm and dpm[0].affiliation == "Afghanistan" and dpm[0].person == "Abdul Ghani Baradar"

    r = extract_roles("Reporters say it was signed by Russia’s Security Council secretary and the Taliban’s defense minister.")
    assert [(x.role, x.affiliation) for x in r] == [
        ("security council secretary", "Russia"),
        ("defence minister", "Taliban"),
    ]
    r = extract_roles("Afghanistan's Defence Minister said the agreement is for cooperation.")
    assert [(x.role, x.affiliation, x.text) for x in r] == [
        ("defence minister", "Afghanistan", "Afghanistan's Defence Minister")
    ]
    r = extract_roles("The Minister of Defense of the Islamic Emirate also pointed out the link.")
    assert [(x.role, x.affiliation) for x in r] == [("defence minister", "Islamic Emirate")]


# ---------------------------------------------------------------------------------------------------------- numbers


def test_numbers_with_units() -> None:
    got = [(n.value, n.unit) for n in extract_numbers("1,500 troops, $2 billion, over five years, 40% and 12 km")]
    assert got == [(1500.0, "troops"), (2e9, "USD"), (5.0, "years"), (40.0, "%"), (12.0, "km")]
    assert extract_numbers("[1] In 2026, one of the 3 sides") == []


# ---------------------------------------------------------------------------------------------------------- characterizations


def chars(text: str, term_part: str):
    hits = [c for c in extract_characterizations(text) if term_part in c.term]
    assert hits, (term_part, extract_characterizations(text))
    return hits


@pytest.mark.parametrize(
    "text, term, polarity",
    [
        ("the military agreement signed with Russia is for cooperation and technical assistance rather than a "
         "formal strategic alliance.", "strategic alliance", Polarity.negated),
        ("the military agreement signed with Russia is for cooperation and technical assistance rather than a "
         "formal strategic alliance.", "technical assistance", Polarity.affirmed),
        ("Reports describe this as a military-technical cooperation deal, not a publicly disclosed mutual-defense "
         "treaty, and the contents have not been released.", "mutual-defense treaty", Polarity.negated),
        ("Reports describe this as a military-technical cooperation deal, not a publicly disclosed mutual-defense "
         "treaty.", "military-technical cooperation", Polarity.affirmed),
        ("the document itself does not prove a full mutual-defense alliance, but it undeniably marks a deeper "
         "security partnership", "mutual-defense alliance", Polarity.negated),
        ("the document itself does not prove a full mutual-defense alliance, but it undeniably marks a deeper "
         "security partnership", "security partnership", Polarity.affirmed),
        ("the arrangement is focused on cooperation, not a broader strategic partnership.", "strategic partnership",
         Polarity.negated),
        ("The minister denied that the deal was an alliance.", "alliance", Polarity.negated),
        ("This agreement is not a simple military deal; Rather, it is a declaration.", "military deal",
         Polarity.negated),
        ("Pillars of a Comprehensive Alliance: Beyond the Military", "comprehensive alliance", Polarity.affirmed),
        ("A full strategic alliance would imply deeper obligations.", "strategic alliance", Polarity.hedged),
        ("Some reports initially characterized the pact as a military alliance.", "military alliance",
         Polarity.hedged),
        ("The pact could become an alliance.", "alliance", Polarity.hedged),
        ("It may possibly turn into a partnership.", "partnership", Polarity.hedged),
        ("It could not be called an alliance.", "alliance", Polarity.hedged),
        ("It is not just cooperation.", "cooperation", Polarity.affirmed),
        ("It is never done without cooperation.", "cooperation", Polarity.affirmed),  # two negations cancel
        ("It is not done, never, without cooperation.", "cooperation", Polarity.negated),  # clause: one negation
    ],
)  # fmt: skip
def test_characterization_polarity(text: str, term: str, polarity: Polarity) -> None:
    c = chars(text, term)[0]
    assert c.term == term
    assert c.polarity == polarity, (c, text)


def test_scare_quotes_and_citations() -> None:
    c = chars("The distinction between 'technical cooperation' and a 'strategic alliance' allows both.", "alliance")[0]
    assert c.polarity == Polarity.hedged and c.mention
    text = "Body.\nSources:\n[1] Web – Moscow, Taliban forge military alliance in power grab after US …\n"
    c = chars(text, "military alliance")[0]
    assert c.citation and c.polarity == Polarity.affirmed


def test_seed_001_is_negation_aware() -> None:
    text = seed_text(A001)
    alliance = [c for c in extract_characterizations(text) if c.side == "alliance"]
    assert "alliance" in text.lower() and alliance
    assert not [c for c in alliance if c.polarity == Polarity.affirmed and not c.citation]
    assert sum(c.polarity == Polarity.negated for c in alliance) >= 3


@pytest.mark.parametrize(
    "text, polarity",
    [
        ("questions arising about whether the arrangement could lead to the deployment of fighters to other "
         "conflicts", Polarity.hedged),
        ("Security experts speculate about the potential for deploying Taliban fighters as mercenaries",
         Polarity.hedged),
        ("Russia has ruled out sending troops to Afghanistan.", Polarity.negated),
        ("Russia began the deployment of troops to the border.", Polarity.affirmed),
    ],
)  # fmt: skip
def test_deployments(text: str, polarity: Polarity) -> None:
    found = extract_deployments(text)
    assert len(found) == 1
    assert found[0].polarity == polarity


def test_hedges_and_polarity_cue() -> None:
    text = "The deal could lead to the deployment of fighters."
    i = text.index("deployment")
    pol, cue = polarity_of(text, i, i + len("deployment"))
    assert pol == Polarity.hedged and cue == "could"
    text = "Moscow will not sign an alliance."
    i = text.index("alliance")
    assert polarity_of(text, i, i + 8) == (Polarity.negated, "not")


# ---------------------------------------------------------------------------------------------------------- sentences, quotes, events


def test_split_sentences() -> None:
    text = "Mr. Smith met Dr. Jones in the U.S. capital. They signed it.[1][2] Next one\nA line without a stop"
    got = [s.text for s in split_sentences(text)]
    assert got == [
        "Mr. Smith met Dr. Jones in the U.S. capital.",
        "They signed it.[1][2]",
        "Next one",
        "A line without a stop",
    ]
    for s in split_sentences(text):
        assert text[s.start : s.end] == s.text
    assert [s.text for s in split_sentences("see pic.twitter.com/Yh3X8ANuKJ now")] == ["see pic.twitter.com/Yh3X8ANuKJ now"]


def test_quotes_are_verbatim_and_short() -> None:
    text = seed_text(A004)
    for c in extract_characterizations(text) + extract_deployments(text):
        assert len(c.quote) <= 300
        assert c.quote in text
        assert c.text in c.quote
    long = "word " * 200 + "alliance" + " word" * 200
    i = long.index("alliance")
    q = quote_around(long, i, i + 8)
    assert "alliance" in q and len(q) <= 300 and q in long


def test_events() -> None:
    got = [(e.event, e.text) for e in extract_events("Shoigu made his way to Kabul to possibly delist them; signed.")]
    assert got == [("visited", "made his way to"), ("delisted", "delist"), ("signed", "signed")]


# ---------------------------------------------------------------------------------------------------------- robustness

_EXTRACTORS = [
    lambda s: extract_dates(s, anchor=MON_1_JUNE),
    lambda s: extract_dates(s, day_first=False),
    extract_places,
    extract_people,
    extract_roles,
    extract_numbers,
    extract_characterizations,
    extract_deployments,
    extract_events,
    split_sentences,
]

_TOKENS = [
    "May", "may", "31", "31st", "of", "2026", "2026-05-31", "31/05/2026", "/", "-", ".", ",", " ", "\n", "on",
    "Sunday", "last", "earlier this week", "two days ago", "yesterday", "in", "the", "Moscow", "region", "Kabul",
    "ceremony", "forum", "signed", "not", "rather than", "alliance", "strategic", "partnership", "cooperation",
    "could", "'", "“", "[1]", "@handle", "—", "Mullah", "Yaqoob", "Sergei Shoigu", ",", "Russia's", "Defence Minister",
    "Security Council secretary", "secretary of", "$", "1,500", "troops", "deployment of fighters", "\ud800", "\x00",
    "\u202e", "é", "٢٠٢٦",
]  # fmt: skip


def _check(s: str, extractors=_EXTRACTORS) -> None:
    for f in extractors:
        out = f(s)
        assert isinstance(out, list)
        for m in out:
            assert 0 <= m.start <= m.end <= len(s)
            assert s[m.start : m.end] == m.text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=()), max_size=400))
def test_fuzz_any_text_never_raises(s: str) -> None:
    _check(s)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=60).map(" ".join), st.dates(), st.booleans())
def test_fuzz_domain_tokens_never_raise(s: str, anchor: date, day_first: bool) -> None:
    _check(s)
    for d in extract_dates(s, anchor=anchor, day_first=day_first):
        assert d.interval is None or d.interval[0] <= d.interval[1]
    for c in extract_characterizations(s):
        assert len(c.quote) <= 300


def test_adversarial_megabyte_completes() -> None:
    """Pathological 1 MB inputs finish (the regexes are linear); this would hang if one backtracked."""
    chunks = [
        "a" * 60_000, "A" * 60_000, "Aaaa " * 12_000, "May " * 15_000, "1" * 60_000, "31/" * 20_000,
        "not " * 15_000, "in the " * 9_000, "'" * 60_000, "[1]" * 20_000, "." * 60_000, "\n" * 60_000,
        "Abc Def Ghi " * 5_000, "Moscow Moscow region " * 3_000, "deployment of of of " * 3_000, "@" * 60_000,
        " " * 60_000, "-" * 60_000, "1,000,000,000 " * 4_000, "on on Sunday " * 5_000, "secretary of " * 5_000,
    ]  # fmt: skip
    s = "".join(chunks)[:1_000_000]
    assert len(s) == 1_000_000
    _check(s, _EXTRACTORS[:1] + _EXTRACTORS[2:])
    # The same holds for a megabyte of realistic text, and the results scale with it.
    unit = "The agreement was signed on May 31, 2026 during a ceremony in Moscow, not a formal strategic alliance. "
    big = unit * (1_000_000 // len(unit))
    dates = extract_dates(big)
    assert len(dates) == 1_000_000 // len(unit)
    assert all(d.event == "signed" for d in dates)
    found = extract_characterizations(big)
    assert len(found) == len(dates)
    assert all(c.polarity == Polarity.negated for c in found)
