"""Rendering: corpus text full of mentions, markdown, masked links, invites, bidi overrides and terminal escapes is
shown inert in every output (report pages, the compact auto-reply embed, the text report, error messages)."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.models import Article, Claim, CorpusFile, Entity, Evidence, Outlet, Position, Question, Story
from bot.render import check_embed_limits, compact_embed, inert, no_match_embed, render_text, report_pages
from storage.corpus import Corpus
from tests.reliability.helpers import A
from tests.reliability.test_hostile_input import assert_inert

EVIL = ("@everyone @here <@123456789012345678> <@!42> <@&456> <#789> **bold** __u__ ~~s~~ ||spoiler|| `code` "
        "> quote\n# Heading\n-# small [BBC News](https://evil.example/phish) [x]( https://evil.example ) "
        "discord.gg/abc https://discord.gg/xyz discordapp.com/invite/q https://discord.com/invite/zz "
        "\u202eevil\u202c \x1b[31mred\x1b[0m \u200b")


def hostile_corpus() -> CorpusFile:
    e = EVIL
    return CorpusFile(
        outlets=[Outlet(id="evil-outlet", name=("Evil " + e)[:300], domains=["evil.example"], type="content_farm"),
                 Outlet(id="fine-outlet", name="Fine Wire @everyone", domains=["fine.example"], type="wire")],
        stories=[Story(
            id="evil-story", title=("Harbour cranes moved " + e)[:300], summary=("Cranes " + e)[:2000],
            entities=[Entity(id="harbour", name="Harbour", aliases=["harbor"]), Entity(id="cranes", name="Cranes")],
            topic_terms=["cranes"],
            questions=[Question(id="q-evil", text=("When? " + e)[:300], kind="date", positions=[
                Position(id="p1", statement=("Monday " + e)[:500], articles=["evil-a1"],
                         evidence=[Evidence(article="evil-a1", quote=("Quote " + e)[:1000])]),
                Position(id="p2", statement=("Tuesday " + e)[:500], articles=["evil-a2"]),
            ])],
        )],
        articles=[
            Article(id="evil-a1", story="evil-story", outlet="evil-outlet", title=("Cranes " + e)[:300],
                    url="https://evil.example/cranes", text=("The harbour cranes were moved on Monday. " + e) * 3),
            Article(id="evil-a2", story="evil-story", outlet="fine-outlet", title="Cranes moved",
                    url="https://fine.example/cranes", text="The harbour cranes were moved on Tuesday, officials said."),
        ],
        claims=[Claim(id="evil-c1", story="evil-story", text="Harbour cranes moved " + e, articles=["evil-a1"])],
    )


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    from bot.service import Checker
    from storage.reader import CorpusReader

    path = tmp_path_factory.mktemp("render") / "hostile.db"

    async def go() -> None:
        c = await Corpus.open(path)
        await c.apply(hostile_corpus(), A)
        await c.close()

    asyncio.run(go())
    reader = CorpusReader(path)
    try:
        report = Checker(reader).check("the harbour cranes were moved https://evil.example/other", A.guild_id, top=3,
                                       threshold=0)
    finally:
        reader.close()
    assert report.matches and report.matches[0].story.id == "evil-story"
    return report


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def test_report_pages_are_inert(hostile_report) -> None:
    pages = report_pages(hostile_report)
    for page in pages:
        assert check_embed_limits([page]) == []
        for s in _strings(page):
            assert_inert(s)
            assert "\u202e" not in s and "\x1b" not in s
    text = json.dumps(pages, ensure_ascii=False)
    assert "Harbour cranes moved" in text  # the content is there, only defused


def test_compact_and_no_match_embeds_are_inert(hostile_report) -> None:
    for embed in (compact_embed(hostile_report), no_match_embed(hostile_report)):
        for s in _strings(embed):
            assert_inert(s)
            assert "\u202e" not in s


def test_text_report_has_no_terminal_escapes_or_bidi(hostile_report) -> None:
    """Regression: render_text printed corpus text as is, so a story title with ESC sequences or a right-to-left
    override reached the operator's terminal (`crosscheck check`, the console)."""
    out = render_text(hostile_report)
    assert "Harbour cranes moved" in out
    for bad in ("\x1b", "\u202e", "\u202c", "\u200b", "\x00"):
        assert bad not in out


@pytest.mark.parametrize("markdown", [True, False])
def test_masked_links_are_inert_in_plain_content_too(markdown: bool) -> None:
    """Regression: inert(markdown=False) (used for error messages in message content) kept "[x](https://evil)" a
    live masked link."""
    out = inert("unknown story '[Official BBC](https://evil.example/phish)' @everyone discord.gg/x", markdown=markdown)
    assert_inert(out)
    assert "evil.example/phish" in out


def test_bidi_override_cannot_disguise_text() -> None:
    """Regression: a right-to-left override in corpus text (outlet name, title) reversed what readers saw."""
    out = inert("Trusted \u202egro.sweN-CBB\u202c Wire")
    assert "\u202e" not in out and "\u202c" not in out


@pytest.mark.parametrize("case", ["@every\u200bone", "<@\u200b123>", "@\u202eeveryone", "<@1\u200d23>", "disc\u200bord.gg/abc"])
def test_invisible_characters_cannot_smuggle_a_mention(case: str) -> None:
    for markdown in (True, False):
        assert_inert(inert(case, markdown=markdown))
