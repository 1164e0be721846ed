"""Rendering: the report as text and as embed dicts within Discord's limits, with all corpus text made inert."""

from __future__ import annotations

import discord
import pytest

from bot.render import (
    EMBED_TOTAL_MAX,
    check_embed_limits,
    compact_embed,
    embed_size,
    inert,
    no_match_embed,
    render_text,
    report_pages,
)
from bot.report import Confidence, Match, PositionOut, Report, Signal, SourceOut, StoryRef, VersionOut


@pytest.fixture
def seed_report(checker):
    report = checker.check("Moscow inks defense pact with Kabul")
    assert report.matches
    return report


def test_text_shows_versions_sources_and_evidence(seed_report: Report) -> None:
    text = render_text(seed_report)
    assert "When was the agreement signed?" in text
    assert "“The agreement was signed on May 31, 2026" in text
    # Sources most to least trustworthy: the careful report before the content farm and the generated page.
    assert text.index("Kabul Dispatch") < text.index("Trending World Digest")
    assert text.index("Kabul Dispatch") < text.index("GlobalPulse AI News")


def test_pages_are_valid_discord_embeds(seed_report: Report) -> None:
    pages = report_pages(seed_report)  # pages are sent one at a time
    for page in pages:
        assert check_embed_limits([page]) == []
        embed = discord.Embed.from_dict(page)
        assert len(embed) <= EMBED_TOTAL_MAX and len(embed) == embed_size(page)
    titles = [p["title"] for p in pages]
    assert titles[0].startswith("Russia and the Taliban")
    fields = [f["name"] for f in pages[0]["fields"]]
    assert any("When was the agreement signed?" in f for f in fields)
    assert any("Where was it signed?" in f for f in fields)
    assert any("technical cooperation or a military alliance" in f for f in fields)


def _huge_report(n: int = 60, size: int = 5000) -> Report:
    long = ("Very long text with words " * 400)[:size]
    versions = [
        VersionOut(question=f"Q{i} {long}", status="conflicting",
                   positions=[PositionOut(statement=long, articles=[f"a{j}" for j in range(20)],
                                          evidence=[{"article": "a1", "quote": long}]) for _ in range(5)])
        for i in range(n)
    ]
    sources = [
        SourceOut(article=f"a{i}", outlet=f"Outlet {long}", summary=long,
                  signals=[Signal(id="x", label=long, polarity="negative", strength=1, evidence=long) for _ in range(10)])
        for i in range(n)
    ]
    m = Match(story=StoryRef(id="s", title=long, summary=long), score=99, confidence=Confidence.high,
              matched_text=long, why=[long], versions=versions, sources=sources, background=[f"a{i}" for i in range(n)])
    return Report(query=long, matches=[m, m, m])


def test_longest_entries_stay_within_limits() -> None:
    report = _huge_report()
    for page in report_pages(report) + [compact_embed(report), no_match_embed(report)]:
        assert check_embed_limits([page]) == [], page.get("title", "")[:40]
        assert len(discord.Embed.from_dict(page)) <= EMBED_TOTAL_MAX


@pytest.mark.parametrize(
    "hostile",
    ["@everyone look", "@here now", "<@123456789012345678>", "<@!123>", "<@&987654321>", "<#555>", "</check:1>"],
)
def test_mentions_are_inert(hostile: str) -> None:
    out = inert(hostile)
    for token in ("@everyone", "@here", "<@1", "<@!", "<@&", "<#5", "</c"):
        assert token not in out


def test_masked_links_invites_and_markdown_are_inert() -> None:
    out = inert("[click here](https://evil.example) **bold** discord.gg/abc https://discord.com/invite/xyz")
    assert "](" not in out.replace("\\](", "").replace("\\]\\(", "")
    assert "[click here](" not in out
    assert "**bold**" not in out
    assert "discord.gg/" not in out and "discord.com/invite/" not in out


def test_compact_embed_for_auto_replies(seed_report: Report) -> None:
    e = compact_embed(seed_report)
    assert check_embed_limits([e]) == []
    assert "⚠️" in e["description"] and "Less trustworthy" in e["description"]
    assert len(e["description"]) < 1500


def test_strongest_sources_marked_on_conflicts(seed_report: Report) -> None:
    text = render_text(seed_report, width=400)
    line = next(x for x in text.splitlines() if "★" in x and "cooperation" in x.lower())
    assert "Kabul Dispatch" in line and "Emirate Strategic Review" not in line
    page = report_pages(seed_report)[0]
    kind = next(f for f in page["fields"] if "military alliance" in f["name"])
    assert kind["value"].index("★") < kind["value"].index("strategic alliance")
