"""Every command and the "Check claim" menu against what a real moderator or member throws at them: an empty value, a
20,000-character paste, a member without permission, a DM.  Each gets a clear private answer, never an internal error
or silence, and nothing the bot sends can ping anyone."""

from __future__ import annotations

import pytest
from discord import app_commands

from bot.app import CrosscheckBot
from tests.cogs.conftest import (
    GUILD_A,
    MATCHING_CLAIM,
    MEMBER,
    MEMBER_PERMS,
    MOD,
    SEED_STORY,
    Call,
    FakeDiscord,
)

BIG = "Russia Taliban agreement " * 799 + "Russia Taliban agreement."  # 20,000 characters, as pasted
assert len(BIG) == 20_000

OUTLET = "kabul-dispatch"
QUESTION = "when-signed"

# Every slash command with its text options; "{}" stands for the value under test.
TEXT_CALLS: list[tuple[str, dict[str, str]]] = [
    ("check", {"claim": "{}"}),
    ("story", {"story": "{}"}),
    ("outlet", {"outlet": "{}"}),
    ("corpus story-add", {"title": "{}", "summary": "{}", "entities": "{}", "topic_terms": "{}", "id": "{}"}),
    ("corpus story-add", {"title": "A title", "entities": "{}"}),
    ("corpus story-add", {"title": "A title", "topic_terms": "{}"}),
    ("corpus article-add", {"story": "{}", "text": "{}"}),
    ("corpus article-add", {"story": SEED_STORY, "url": "{}", "title": "{}", "text": "{}", "outlet": "{}",
                            "published": "{}", "id": "{}"}),
    ("corpus article-add", {"story": SEED_STORY, "url": "https://example.org/a", "text": "{}"}),
    ("corpus claim-add", {"story": SEED_STORY, "text": "{}", "verdict": "{}", "claimant": "{}",
                          "reviewed_by": "{}", "review_url": "{}", "articles": "{}", "id": "{}"}),
    ("corpus claim-add", {"story": SEED_STORY, "text": "A claim", "articles": "{}"}),
    ("corpus claim-edit", {"story": SEED_STORY, "claim": "{}", "text": "{}"}),
    ("corpus question-add", {"story": SEED_STORY, "text": "{}", "id": "{}"}),
    ("corpus question-edit", {"story": SEED_STORY, "question": "{}", "text": "{}"}),
    ("corpus position-add", {"story": SEED_STORY, "question": "{}", "statement": "{}"}),
    ("corpus position-edit", {"story": SEED_STORY, "question": "{}", "position": "{}", "statement": "{}",
                              "articles": "{}"}),
    ("corpus position-merge", {"story": SEED_STORY, "question": "{}", "position": "{}", "merge": "{}"}),
    ("corpus rate", {"outlet": "{}", "field": "bias", "value": "{}", "basis": "{}", "evidence_url": "{}"}),
    ("corpus rate", {"outlet": OUTLET, "field": "bias", "value": "{}"}),
    ("corpus remove", {"kind": "story", "id": "{}"}),
    ("corpus hide", {"story": "{}"}),
    ("corpus unhide", {"story": "{}"}),
]


def fill(options: dict[str, str], value: str) -> dict[str, str]:
    return {k: (value if v == "{}" else v) for k, v in options.items()}


def assert_clear_private_answer(call: Call) -> None:
    assert call.ephemeral, call.kind
    assert "Something went wrong" not in call.text and "error id" not in call.text.lower(), call.text[:300]
    assert call.text.strip()
    assert len(call.content) <= 2000


def assert_pings_nobody(fake: FakeDiscord) -> None:
    for call in fake.calls:
        msg = call.message
        if msg.get("content") or msg.get("embeds"):
            assert msg.get("allowed_mentions") == {"parse": []}, (call.kind, msg.get("allowed_mentions"))


@pytest.mark.parametrize("value", ["", "   ", "\u200b", BIG], ids=["empty", "blank", "zero-width", "20k"])
@pytest.mark.parametrize(("path", "options"), TEXT_CALLS, ids=[f"{p}:{'+'.join(o)}" for p, o in TEXT_CALLS])
async def test_empty_and_huge_text_get_a_clear_private_answer(bot: CrosscheckBot, fake: FakeDiscord, path, options,
                                                             value):
    answer = await fake.cmd(path, fill(options, value), user=MOD)
    if path in ("check", "story", "outlet") and not answer.ephemeral:
        pytest.fail(f"/{path} answered {value[:20]!r} publicly: {answer.text[:200]}")
    assert_clear_private_answer(answer)
    assert_pings_nobody(fake)


def moderator_paths(bot: CrosscheckBot) -> list[str]:
    from bot.app import is_moderator

    return sorted(c.qualified_name for c in bot.tree.walk_commands()
                  if isinstance(c, app_commands.Command) and is_moderator in c.checks)


async def test_every_moderator_command_refuses_members_and_dms_privately(bot: CrosscheckBot, fake: FakeDiscord):
    paths = moderator_paths(bot)
    assert len(paths) >= 20 and "settings" in paths and "autoreply status" in paths
    for path in paths:
        fake.clear()
        answer = await fake.cmd(path, {}, user=MEMBER, perms=MEMBER_PERMS)
        assert answer.ephemeral and "Only moderators" in answer.content, (path, answer.content)
        answer = await fake.cmd(path, {}, user=MOD, guild=None)
        assert answer.ephemeral and "only in a server" in answer.content, (path, answer.content)
        assert_pings_nobody(fake)
    assert await bot.corpus.history(GUILD_A) == []


# -- "Check claim" and the member commands outside a server, and on pastes --------------------------------------------


async def test_check_claim_on_a_huge_message_or_only_invisible_characters(bot: CrosscheckBot, fake: FakeDiscord,
                                                                         monkeypatch):
    ran = []
    monkeypatch.setattr(bot.checker, "check", lambda *a, **k: ran.append(a))
    for content, expected in ((BIG, "20,000 characters"), ("\u200b\u200b \u2060", "The claim is empty")):
        await fake.run(fake.context_menu(fake.user_message(content), user=MEMBER))
        answer = fake.last()
        assert answer.ephemeral and expected in answer.content, answer.content
    assert ran == []
    assert_pings_nobody(fake)


async def test_check_claim_in_a_dm_answers_from_the_global_corpus(fake: FakeDiscord):
    msg = fake.user_message(MATCHING_CLAIM, guild=None, channel=MEMBER)
    await fake.run(fake.context_menu(msg, user=MEMBER, guild=None))
    answer = fake.last()
    assert answer.ephemeral and answer.embeds[0].title.startswith("Russia and the Taliban")
    assert_pings_nobody(fake)


@pytest.mark.parametrize(("path", "options"), [("story", {"story": SEED_STORY}), ("outlet", {"outlet": OUTLET})])
async def test_story_and_outlet_work_in_a_dm(fake: FakeDiscord, path, options):
    answer = await fake.cmd(path, options, user=MEMBER, guild=None)
    assert answer.embeds and answer.buttons
    assert_pings_nobody(fake)


async def test_a_rating_of_invisible_characters_is_refused_and_ids_show_visibly(bot: CrosscheckBot, fake: FakeDiscord):
    answer = await fake.cmd("corpus rate", {"outlet": OUTLET, "field": "bias", "value": "\u200b\u2060"}, user=MOD)
    assert answer.ephemeral and "value: give the rating" in answer.content
    assert await bot.corpus.history(GUILD_A) == []
    # An id of invisible characters is shown as an empty code span with a space, not as a bare pair of backticks.
    answer = await fake.cmd("corpus unhide", {"story": "\u200b"}, user=MOD)
    assert answer.content.startswith("` ` is not hidden")


@pytest.mark.parametrize(("path", "option"), [("story", "story"), ("outlet", "outlet")])
async def test_story_and_outlet_refuse_an_empty_name_or_a_paste(fake: FakeDiscord, path, option):
    answer = await fake.cmd(path, {option: " \u200b "}, user=MEMBER)
    assert answer.ephemeral and f"Name the {path}" in answer.content and not answer.embeds
    answer = await fake.cmd(path, {option: BIG}, user=MEMBER)
    assert answer.ephemeral and "20,000 characters: too long for a name" in answer.content


async def test_invisible_list_items_are_left_out_like_blank_ones(bot: CrosscheckBot, fake: FakeDiscord) -> None:
    answer = await fake.cmd("corpus story-add", {"title": "Harbour cranes", "entities": "Port Authority|PA, \u200b|\u2060",
                                                 "topic_terms": "cranes, \u200b , harbour"}, user=MOD)
    assert "Added the story" in answer.text, answer.text
    story = bot.corpus.reader.story("harbour-cranes", GUILD_A)
    assert story.topic_terms == ["cranes", "harbour"]
    assert [(e.name, e.aliases) for e in story.entities] == [("Port Authority", ["PA"])]
