"""/corpus and /settings: every command's happy path, permission denial, bad input, and per-server isolation."""

from __future__ import annotations

import asyncio
import json
import re

import discord
import pytest

from bot.app import CrosscheckBot
from tests.cogs.conftest import (
    CHAN_A,
    GUILD_A,
    GUILD_B,
    HELPER,
    MEMBER,
    MEMBER_PERMS,
    MOD,
    MOD_B,
    MOD_ROLE_A,
    SEED_STORY,
    Attach,
    FakeDiscord,
    RoleRef,
    role_payload,
)

SEED_ARTICLE = "001_3ef12a10435f65e9"
NEW_STORY = {"title": "Vulkaria bans Zentrix ride-hailing app", "summary": "Vulkaria's transport ministry banned Zentrix.",
             "entities": "Vulkaria|Vulkarian, Zentrix", "topic_terms": "ban, ride-hailing, app", "id": "vulkaria-zentrix-ban"}


async def counts(bot: CrosscheckBot, guild: int) -> dict[str, int]:
    return await bot.corpus.read(bot.corpus.reader.counts, guild)


async def add_story(fake: FakeDiscord, guild: int = GUILD_A, user: int = MOD, roles: tuple[int, ...] = (), **over) -> None:
    answer = await fake.cmd("corpus story-add", {**NEW_STORY, **over}, user=user, guild=guild, roles=roles)
    assert "Added the story" in answer.content, answer.content


# -- permissions ----------------------------------------------------------------------------------------------------


MODERATOR_CALLS = [
    ("corpus story-add", NEW_STORY),
    ("corpus claim-add", {"story": SEED_STORY, "text": "A claim"}),
    ("corpus rate", {"outlet": "kabul-dispatch", "field": "bias", "value": "x"}),
    ("corpus remove", {"kind": "story", "id": SEED_STORY}),
    ("corpus hide", {"story": SEED_STORY}),
    ("corpus undo", {}),
    ("corpus export", {}),
    ("corpus history", {}),
    ("corpus feedback", {}),
    ("settings", {"threshold": 10.0}),
    ("autoreply enable", {}),
    ("autoreply status", {}),
]


@pytest.mark.parametrize(("path", "options"), MODERATOR_CALLS, ids=[p for p, _ in MODERATOR_CALLS])
async def test_members_without_manage_server_are_refused_in_code(bot, fake: FakeDiscord, path, options):
    """Discord delivered the interaction (an admin widened who sees the command): the code still refuses."""
    before = await counts(bot, GUILD_A)
    answer = await fake.cmd(path, options, user=MEMBER, perms=MEMBER_PERMS)
    assert answer.ephemeral and "Only moderators" in answer.content and "Manage Server" in answer.content
    assert await counts(bot, GUILD_A) == before
    assert await bot.corpus.history(GUILD_A) == []
    assert await bot.corpus.autoreply_channels(GUILD_A) == {}
    assert (await bot.guild_settings(GUILD_A))["threshold"] is None


async def test_configured_moderator_role_grants_access_and_only_it(bot, fake: FakeDiscord):
    assert "Only moderators" in (await fake.cmd("corpus history", {}, user=HELPER, roles=(MOD_ROLE_A,))).content
    role = role_payload(MOD_ROLE_A, "Fact team", MEMBER_PERMS)
    answer = await fake.cmd("settings", {"moderator_role": RoleRef(str(MOD_ROLE_A))}, user=MOD,
                            resolved={"roles": {str(MOD_ROLE_A): role}})
    assert f"<@&{MOD_ROLE_A}>" in answer.content and "Integrations" in answer.content
    await add_story(fake, user=HELPER, roles=(MOD_ROLE_A,))
    assert (await bot.corpus.history(GUILD_A))[0].actor_id == HELPER
    # A member without the role is still refused; the role of server A means nothing in server B.
    assert "Only moderators" in (await fake.cmd("corpus history", {}, user=MEMBER)).content
    assert "Only moderators" in (await fake.cmd("corpus history", {}, user=HELPER, roles=(MOD_ROLE_A,),
                                                 guild=GUILD_B)).content
    # Clearing the role takes it away again (the cache follows the change).
    await fake.cmd("settings", {"clear_moderator_role": True}, user=MOD)
    assert "Only moderators" in (await fake.cmd("corpus history", {}, user=HELPER, roles=(MOD_ROLE_A,))).content


async def test_moderator_autocomplete_shows_nothing_to_members(fake: FakeDiscord):
    assert await fake.autocomplete("corpus claim-add", {"story": "tali"}, "story", user=MEMBER) == []
    got = await fake.autocomplete("corpus claim-add", {"story": "tali"}, "story", user=MOD)
    assert [c["value"] for c in got] == [SEED_STORY]


# -- stories, articles, claims ----------------------------------------------------------------------------------------


async def test_story_add_is_visible_in_its_server_only_and_audited(bot: CrosscheckBot, fake: FakeDiscord):
    await add_story(fake)
    reader = bot.corpus.reader
    story = reader.story("vulkaria-zentrix-ban", GUILD_A)
    assert story.title == NEW_STORY["title"] and [e.name for e in story.entities] == ["Vulkaria", "Zentrix"]
    assert story.entities[0].aliases == ["Vulkarian"] and story.topic_terms == ["ban", "ride-hailing", "app"]
    assert reader.story("vulkaria-zentrix-ban", GUILD_B) is None
    assert await fake.autocomplete("story", {"story": "vulk"}, "story", user=MEMBER) != []
    assert await fake.autocomplete("story", {"story": "vulk"}, "story", user=MEMBER, guild=GUILD_B) == []
    entry = (await bot.corpus.history(GUILD_A))[0]
    assert entry.action == "story-add" and entry.actor_id == MOD and entry.actor_name == "user1"
    assert await bot.corpus.history(GUILD_B) == []


async def test_story_add_refuses_taken_ids_and_bad_fields(bot: CrosscheckBot, fake: FakeDiscord):
    answer = await fake.cmd("corpus story-add", {**NEW_STORY, "id": SEED_STORY})
    assert answer.ephemeral and "exists already" in answer.content
    answer = await fake.cmd("corpus story-add", {**NEW_STORY, "id": "Not A Slug!"})
    assert answer.ephemeral and answer.content.startswith("id:")
    # Server B cannot take server A's id either.
    await add_story(fake)
    answer = await fake.cmd("corpus story-add", NEW_STORY, user=MOD_B, guild=GUILD_B)
    assert "exists already" in answer.content
    assert bot.corpus.reader.story("vulkaria-zentrix-ban", GUILD_A).guild_id == GUILD_A


async def test_article_add_with_fields_creates_the_outlet_from_the_link(bot: CrosscheckBot, fake: FakeDiscord):
    await add_story(fake)
    answer = await fake.cmd("corpus article-add", {
        "story": "vulkaria-zentrix-ban", "url": "https://www.vulkaria-times.example/2026/zentrix-banned",
        "title": "Vulkaria bans Zentrix", "text": "The ministry banned the Zentrix app on Monday.",
        "published": "2026-03-02", "id": "vt-zentrix",
    })
    assert "Added the article" in answer.content and "new outlet `vulkaria-times-example`" in answer.content
    art = bot.corpus.reader.article("vt-zentrix", GUILD_A)
    assert art.outlet == "vulkaria-times-example" and str(art.published) == "2026-03-02"
    assert bot.corpus.reader.article("vt-zentrix", GUILD_B) is None
    assert bot.corpus.reader.outlet("vulkaria-times-example", GUILD_B) is None
    # A second article from the same site reuses the outlet.
    answer = await fake.cmd("corpus article-add", {
        "story": "vulkaria-zentrix-ban", "url": "https://vulkaria-times.example/2026/zentrix-appeal",
        "text": "Zentrix appealed the ban.",
    })
    assert "new outlet" not in answer.content


async def test_a_new_article_or_an_undo_asks_for_a_signals_pass_but_a_rating_does_not(bot: CrosscheckBot,
                                                                                     fake: FakeDiscord, monkeypatch):
    """So that the new article's story's next check reads its signals instead of computing them (bot/precompute)."""
    asked = []
    monkeypatch.setattr(bot, "keep_signals", lambda: asked.append(1))
    await add_story(fake)
    assert asked == []
    answer = await fake.cmd("corpus article-add", {"story": "vulkaria-zentrix-ban", "outlet": "kabul-dispatch",
                                                   "text": "The ministry banned the Zentrix app on Monday."})
    assert "Added the article" in answer.content and len(asked) == 1
    answer = await fake.cmd("corpus article-add", {"story": "no-such-story", "outlet": "kabul-dispatch", "text": "x y z"})
    assert "Added" not in answer.content and len(asked) == 1  # nothing written, nothing to keep
    assert "Undid" in (await fake.cmd("corpus undo", {})).content
    assert len(asked) == 2


async def test_article_add_from_a_txt_or_json_attachment(bot: CrosscheckBot, fake: FakeDiscord):
    await add_story(fake)
    aid, att = fake.attachment("article.txt", "Line one about Zentrix.\nLine two about the ban.".encode(), content_type="text/plain")
    answer = await fake.cmd("corpus article-add", {"story": "vulkaria-zentrix-ban", "outlet": "kabul-dispatch",
                                                   "file": Attach(aid), "id": "from-txt"},
                            resolved={"attachments": {aid: att}})
    assert "Added the article" in answer.content
    assert bot.corpus.reader.article("from-txt", GUILD_A).text == "Line one about Zentrix.\nLine two about the ban."
    obj = {"title": "JSON article", "url": "https://kabuldispatch.example/zentrix", "text": "Zentrix news.", "author": "A. B."}
    aid, att = fake.attachment("article.json", json.dumps(obj).encode())
    answer = await fake.cmd("corpus article-add", {"story": "vulkaria-zentrix-ban", "file": Attach(aid), "id": "from-json"},
                            resolved={"attachments": {aid: att}})
    art = bot.corpus.reader.article("from-json", GUILD_A)
    assert art.author == "A. B." and art.outlet == "kabul-dispatch"  # outlet found from the domain


@pytest.mark.parametrize(
    ("filename", "data", "size", "expected"),
    [
        ("article.pdf", b"%PDF-1.4", None, "attach a .txt or .json file"),
        ("article.txt", b"x", 5 * 1024 * 1024, "over the 1,024 KiB limit"),
        ("article.txt", b"\xff\xfe\x00bad", None, "not UTF-8"),
        ("article.json", b"{not json", None, "not valid JSON"),
        ("article.json", b'{"text": "x", "evil": 1}', None, "a JSON object with some of the fields"),
    ],
)
async def test_article_add_refuses_bad_attachments(bot, fake: FakeDiscord, filename, data, size, expected):
    before = await counts(bot, GUILD_A)
    aid, att = fake.attachment(filename, data, size=size)
    answer = await fake.cmd("corpus article-add", {"story": SEED_STORY, "outlet": "kabul-dispatch", "file": Attach(aid)},
                            resolved={"attachments": {aid: att}})
    assert answer.ephemeral and expected in answer.content
    assert await counts(bot, GUILD_A) == before


async def test_article_add_needs_text_a_known_story_and_outlet(bot, fake: FakeDiscord):
    assert "Give the article's text" in (await fake.cmd("corpus article-add", {"story": SEED_STORY, "outlet": "kabul-dispatch"})).content
    assert "Unknown story" in (await fake.cmd("corpus article-add", {"story": "nope", "text": "t", "outlet": "kabul-dispatch"})).content
    assert "Unknown outlet" in (await fake.cmd("corpus article-add", {"story": SEED_STORY, "text": "t", "outlet": "nope"})).content
    assert "Name the outlet" in (await fake.cmd("corpus article-add", {"story": SEED_STORY, "text": "t"})).content
    # Another server's story is unknown here.
    await add_story(fake)
    answer = await fake.cmd("corpus article-add", {"story": "vulkaria-zentrix-ban", "text": "t", "outlet": "kabul-dispatch"},
                            user=MOD_B, guild=GUILD_B)
    assert "Unknown story" in answer.content


async def test_article_add_suggests_positions_to_accept_or_reject(bot: CrosscheckBot, fake: FakeDiscord):
    text = ("Russia and Afghanistan signed the military-technical cooperation agreement on 2 June 2026 in Kazan, "
            "officials said. The deal is a military alliance, the Taliban said.")
    answer = await fake.cmd("corpus article-add", {"story": SEED_STORY, "outlet": "kabul-dispatch", "text": text,
                                                   "title": "Signed in Kazan", "id": "kazan-report"})
    statements = [f.value.split("\n")[0] for f in answer.embeds[0].fields]  # the statement, not its quote
    assert any("2 June 2026" in s for s in statements) and any("Kazan" in s for s in statements)
    labels = [b["label"] for b in answer.buttons]
    assert labels[:2] == ["Accept 1", "Reject 1"]
    # Counted among the bot's live views, so that a flood of article-adds cannot hold views without bound.
    assert any(type(v).__name__ == "SuggestionView" for _t, v in bot.live_views._views.values())
    when_i = next(i for i, s in enumerate(statements) if "2 June 2026" in s) + 1
    where_i = next(i for i, s in enumerate(statements) if "Kazan" in s) + 1
    # Only the moderator who added it may press.
    await fake.press(answer.message_id, answer.button(f"Accept {when_i}")["custom_id"], user=MOD_B)
    assert "Only the moderator" in fake.last().content
    await fake.press(answer.message_id, answer.button(f"Accept {when_i}")["custom_id"], user=MOD,
                     perms=discord.Permissions(manage_guild=True))
    assert "Accepted" in fake.last("followup").content
    story = bot.corpus.reader.story(SEED_STORY, GUILD_A)
    when = next(q for q in story.questions if q.id == "when-signed")
    accepted = next(p for p in when.positions if "2 June 2026" in p.statement)
    assert accepted.status.value == "accepted" and accepted.articles == ["kazan-report"]
    # Server B's view of the global story is unchanged.
    when_b = next(q for q in bot.corpus.reader.story(SEED_STORY, GUILD_B).questions if q.id == "when-signed")
    assert all("2 June" not in p.statement for p in when_b.positions)
    await fake.press(answer.message_id, answer.button(f"Reject {where_i}")["custom_id"], user=MOD,
                     perms=discord.Permissions(manage_guild=True))
    assert "not be suggested again" in fake.last("followup").content
    where = next(q for q in bot.corpus.reader.story(SEED_STORY, GUILD_A).questions if q.id == "where-signed")
    kazan = next(p for p in where.positions if "Kazan" in p.statement)
    assert kazan.status.value == "rejected"
    # Answers show accepted positions only: 2 June is there, Kazan is not.
    shown = await fake.cmd("story", {"story": SEED_STORY}, user=MEMBER)
    assert "**On 2 June 2026**" in shown.plain and "**In Kazan**" not in shown.plain
    # A second article saying the same is not offered Kazan again.
    again = await fake.cmd("corpus article-add", {"story": SEED_STORY, "outlet": "freedom-brief", "text": text,
                                                  "title": "Also Kazan", "id": "kazan-report-2"})
    assert again.embeds and all("Kazan" not in f.value.split("\n")[0] for f in again.embeds[0].fields)
    # A suggestion for a global position cannot be stored by a server: a clear message, nothing changed.
    kind_i = next(i for i, s in enumerate(statements) if "alliance" in s.lower()) + 1
    before = bot.corpus.reader.story(SEED_STORY, GUILD_A)
    await fake.press(answer.message_id, answer.button(f"Accept {kind_i}")["custom_id"], user=MOD,
                     perms=discord.Permissions(manage_guild=True))
    assert "global corpus" in fake.last().content
    assert bot.corpus.reader.story(SEED_STORY, GUILD_A) == before
    # A member who lost Manage Server meanwhile cannot accept.
    await fake.press(answer.message_id, answer.button(f"Accept {kind_i}")["custom_id"], user=MOD, perms=MEMBER_PERMS)
    assert "Only moderators" in fake.last().content


async def test_claim_add_and_edit(bot: CrosscheckBot, fake: FakeDiscord):
    answer = await fake.cmd("corpus claim-add", {"story": SEED_STORY, "text": "Russia will send troops to Kabul",
                                                 "verdict": "False", "id": "troops-claim"})
    assert "Added the claim" in answer.content
    claims = {c.id: c for c in bot.corpus.reader.claims(SEED_STORY, GUILD_A)}
    assert claims["troops-claim"].verdict == "False"
    assert "troops-claim" not in {c.id for c in bot.corpus.reader.claims(SEED_STORY, GUILD_B)}
    got = await fake.autocomplete("corpus claim-edit", {"story": SEED_STORY, "claim": "troops"}, "claim")
    assert [c["value"] for c in got] == ["troops-claim"]  # only this server's claims
    await fake.cmd("corpus claim-edit", {"story": SEED_STORY, "claim": "troops-claim", "text": "Russia will send troops",
                                         "verdict": "-", "claimant": "a blog"})
    claim = next(c for c in bot.corpus.reader.claims(SEED_STORY, GUILD_A) if c.id == "troops-claim")
    assert claim.text == "Russia will send troops" and claim.verdict is None and claim.claimant == "a blog"
    # Global claims and other servers' claims cannot be edited.
    answer = await fake.cmd("corpus claim-edit", {"story": SEED_STORY, "claim": "ru-af-military-alliance", "text": "x"})
    assert "global corpus" in answer.content
    answer = await fake.cmd("corpus claim-edit", {"story": SEED_STORY, "claim": "troops-claim", "text": "hacked"},
                            user=MOD_B, guild=GUILD_B)
    assert "Unknown claim" in answer.content
    assert next(c for c in bot.corpus.reader.claims(SEED_STORY, GUILD_A) if c.id == "troops-claim").text != "hacked"


async def test_claim_add_refuses_a_duplicate_and_a_bad_url(fake: FakeDiscord):
    await fake.cmd("corpus claim-add", {"story": SEED_STORY, "text": "A claim", "id": "c1"})
    assert "exists already" in (await fake.cmd("corpus claim-add", {"story": SEED_STORY, "text": "B", "id": "c1"})).content
    answer = await fake.cmd("corpus claim-add", {"story": SEED_STORY, "text": "B", "review_url": "javascript:alert(1)"})
    assert answer.ephemeral and "review_url" in answer.content


# -- questions and positions ------------------------------------------------------------------------------------------


async def test_question_and_position_add_and_edit(bot: CrosscheckBot, fake: FakeDiscord):
    answer = await fake.cmd("corpus question-add", {"story": SEED_STORY, "text": "How many advisers?", "kind": "number",
                                                    "id": "advisers"})
    assert "Added the question" in answer.content
    got = await fake.autocomplete("corpus position-add", {"story": SEED_STORY, "question": "advis"}, "question")
    assert [c["value"] for c in got] == ["advisers"]
    answer = await fake.cmd("corpus position-add", {
        "story": SEED_STORY, "question": "advisers", "statement": "About 200", "articles": SEED_ARTICLE,
        "quote": "about 200 advisers", "id": "advisers-200",
    })
    assert "Added the position" in answer.content
    q = next(q for q in bot.corpus.reader.story(SEED_STORY, GUILD_A).questions if q.id == "advisers")
    assert q.kind.value == "number" and q.positions[0].evidence[0].article == SEED_ARTICLE
    assert all(q.id != "advisers" for q in bot.corpus.reader.story(SEED_STORY, GUILD_B).questions)
    await fake.cmd("corpus question-edit", {"story": SEED_STORY, "question": "advisers", "text": "How many military advisers?"})
    await fake.cmd("corpus position-edit", {"story": SEED_STORY, "question": "advisers", "position": "advisers-200",
                                            "statement": "About 250"})
    q = next(q for q in bot.corpus.reader.story(SEED_STORY, GUILD_A).questions if q.id == "advisers")
    assert q.text == "How many military advisers?" and q.positions[0].statement == "About 250"
    assert q.positions[0].evidence  # kept through the edit
    # A server's position on a global question is fine; editing the global question is not.
    await fake.cmd("corpus position-add", {"story": SEED_STORY, "question": "when-signed", "statement": "In April 2026",
                                           "id": "when-april"})
    assert any(p.id == "when-april" for q in bot.corpus.reader.story(SEED_STORY, GUILD_A).questions for p in q.positions)
    answer = await fake.cmd("corpus question-edit", {"story": SEED_STORY, "question": "when-signed", "text": "x?"})
    assert answer.ephemeral and "global corpus" in answer.content


async def test_position_add_refuses_unknown_articles_and_questions(bot, fake: FakeDiscord):
    before = await counts(bot, GUILD_A)
    answer = await fake.cmd("corpus position-add", {"story": SEED_STORY, "question": "when-signed", "statement": "x",
                                                    "articles": "no-such-article"})
    assert "unknown article" in answer.content
    answer = await fake.cmd("corpus position-add", {"story": SEED_STORY, "question": "nope", "statement": "x"})
    assert "Unknown question" in answer.content
    assert await counts(bot, GUILD_A) == before


# -- ratings ----------------------------------------------------------------------------------------------------------


async def test_rate_sets_and_clears_a_field_for_this_server_only(bot: CrosscheckBot, fake: FakeDiscord):
    answer = await fake.cmd("corpus rate", {"outlet": "trending-world-digest", "field": "factual_record", "value": "very_low",
                                            "basis": "three retractions", "evidence_url": "https://example.org/r"})
    assert "Rated" in answer.content
    a = bot.corpus.reader.rating("trending-world-digest", GUILD_A)
    b = bot.corpus.reader.rating("trending-world-digest", GUILD_B)
    assert a.factual_record.value == "very_low" and a.factual_record.basis == "three retractions"
    assert a.factual_record.set_by == "user1"
    assert b.factual_record.value != "very_low"
    await fake.cmd("corpus rate", {"outlet": "trending-world-digest", "field": "flag:satire", "value": "yes"})
    assert "satire" in {f.value for f in bot.corpus.reader.rating("trending-world-digest", GUILD_A).flags}
    await fake.cmd("corpus rate", {"outlet": "trending-world-digest", "field": "factual_record", "clear": True})
    assert bot.corpus.reader.rating("trending-world-digest", GUILD_A).factual_record.value == b.factual_record.value


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"field": "factual_record", "value": "great"}, "factual record: one of"),
        ({"field": "outlet_type", "value": "zine"}, "outlet type: one of"),
        ({"field": "bias", "value": "x", "evidence_url": "not a link"}, "evidence_url"),
        ({"field": "bias"}, "give the rating"),
        ({"field": "nonsense", "value": "x"}, "not valid here"),
    ],
)
async def test_rate_refuses_bad_values(bot, fake: FakeDiscord, options, expected):
    answer = await fake.cmd("corpus rate", {"outlet": "kabul-dispatch", **options})
    assert answer.ephemeral and expected in answer.content
    assert await bot.corpus.history(GUILD_A) == []


# -- remove, hide, undo; isolation between servers ------------------------------------------------------------------


async def test_remove_own_records_and_never_another_servers(bot: CrosscheckBot, fake: FakeDiscord):
    await add_story(fake)
    got = await fake.autocomplete("corpus remove", {"kind": "story", "id": "vulk"}, "id")
    assert [c["value"] for c in got] == ["vulkaria-zentrix-ban"]
    assert await fake.autocomplete("corpus remove", {"kind": "story", "id": "vulk"}, "id", user=MOD_B, guild=GUILD_B) == []
    # Server B cannot remove, rate, hide or add to A's story.
    answer = await fake.cmd("corpus remove", {"kind": "story", "id": "vulkaria-zentrix-ban"}, user=MOD_B, guild=GUILD_B)
    assert "unknown story" in answer.content
    assert "Unknown story" in (await fake.cmd("corpus hide", {"story": "vulkaria-zentrix-ban"}, user=MOD_B, guild=GUILD_B)).content
    assert bot.corpus.reader.story("vulkaria-zentrix-ban", GUILD_A) is not None
    # The global corpus cannot be removed by a server (it can be hidden).
    answer = await fake.cmd("corpus remove", {"kind": "story", "id": SEED_STORY})
    assert "global corpus" in answer.content and "hide" in answer.content
    answer = await fake.cmd("corpus remove", {"kind": "story", "id": "vulkaria-zentrix-ban"})
    assert "Removed the story" in answer.content
    assert bot.corpus.reader.story("vulkaria-zentrix-ban", GUILD_A) is None


async def test_rating_another_servers_outlet_is_refused(bot: CrosscheckBot, fake: FakeDiscord):
    await add_story(fake)
    await fake.cmd("corpus article-add", {"story": "vulkaria-zentrix-ban", "url": "https://vt.example/a", "text": "Zentrix."})
    assert bot.corpus.reader.outlet("vt-example", GUILD_A) is not None
    answer = await fake.cmd("corpus rate", {"outlet": "vt-example", "field": "bias", "value": "x"}, user=MOD_B, guild=GUILD_B)
    assert answer.ephemeral and "unknown outlet" in answer.content
    assert bot.corpus.reader.rating("vt-example", GUILD_A) is None


async def test_undo_restores_the_last_change_of_this_server_only(bot: CrosscheckBot, fake: FakeDiscord):
    await add_story(fake)
    await fake.cmd("corpus story-add", {**NEW_STORY, "id": "b-story", "title": "Server B story"}, user=MOD_B, guild=GUILD_B)
    # B's undo undoes B's change, never A's.
    answer = await fake.cmd("corpus undo", {}, user=MOD_B, guild=GUILD_B)
    assert "Undid" in answer.content and "`b-story`" in answer.content
    assert bot.corpus.reader.story("vulkaria-zentrix-ban", GUILD_A) is not None
    assert bot.corpus.reader.story("b-story", GUILD_B) is None
    assert "Nothing to undo" in (await fake.cmd("corpus undo", {}, user=MOD_B, guild=GUILD_B)).content
    await fake.cmd("corpus undo", {})
    assert bot.corpus.reader.story("vulkaria-zentrix-ban", GUILD_A) is None


async def test_hide_and_unhide_a_global_story(bot: CrosscheckBot, fake: FakeDiscord):
    assert "Hid" in (await fake.cmd("corpus hide", {"story": SEED_STORY})).content
    assert SEED_STORY in bot.corpus.reader.hidden_stories(GUILD_A)
    assert SEED_STORY not in bot.corpus.reader.hidden_stories(GUILD_B)
    got = await fake.autocomplete("corpus unhide", {"story": "tali"}, "story")
    assert [c["value"] for c in got] == [SEED_STORY]
    assert "shown again" in (await fake.cmd("corpus unhide", {"story": SEED_STORY})).content
    assert "not hidden" in (await fake.cmd("corpus unhide", {"story": SEED_STORY})).content


# -- import and export ----------------------------------------------------------------------------------------------


CORPUS_FILE = {
    "format": "crosscheck-corpus", "version": 1,
    "outlets": [{"id": "imp-outlet", "name": "Imported Outlet", "domains": ["imported.example"]}],
    "stories": [{"id": "imp-story", "title": "Imported story about Quuxland", "topic_terms": ["quux"]}],
    "articles": [{"id": "imp-a1", "story": "imp-story", "outlet": "imp-outlet", "text": "Quuxland text."}],
    "claims": [{"id": "imp-c1", "story": "imp-story", "text": "Quuxland claim", "verdict": "False",
                "reviewed_by": "Checkers"}],
}


async def test_import_a_corpus_file_then_export_it_back(bot: CrosscheckBot, fake: FakeDiscord):
    bot.settings.precompute = True  # (off for the other tests): the import starts keeping the new articles' signals
    assert bot._precompute is None
    aid, att = fake.attachment("corpus.json", json.dumps(CORPUS_FILE).encode())
    answer = await fake.cmd("corpus import", {"file": Attach(aid)}, resolved={"attachments": {aid: att}})
    assert "Imported corpus.json (corpus): 1 stories, 1 articles, 1 claims, 1 outlets" in answer.content
    child = bot._precompute
    assert child is not None and await asyncio.to_thread(child.wait, 60) == 0
    assert "imp-a1" in bot.corpus.reader.kept_signals(["imp-a1", "nope"])
    assert bot.corpus.reader.story("imp-story", GUILD_A) and not bot.corpus.reader.story("imp-story", GUILD_B)
    answer = await fake.cmd("corpus export", {})
    assert answer.kind == "followup" and answer.ephemeral and len(answer.files) == 1
    f = answer.files[0]
    assert f.filename.startswith(f"crosscheck-{GUILD_A}-corpus-") and f.filename.endswith(".json")
    exported = json.loads(f.fp.getvalue())
    assert [s["id"] for s in exported["stories"]] == ["imp-story"]
    assert [a["id"] for a in exported["articles"]] == ["imp-a1"]
    answer = await fake.cmd("corpus export", {"format": "claimreview"})
    reviews = json.loads(answer.files[0].fp.getvalue())
    assert reviews[0]["claimReviewed"] == "Quuxland claim" and reviews[0]["reviewRating"]["alternateName"] == "False"
    # Server B's export holds none of it.
    answer = await fake.cmd("corpus export", {}, user=MOD_B, guild=GUILD_B)
    assert json.loads(answer.files[0].fp.getvalue())["stories"] == []


async def test_a_bulk_import_merges_the_story_index_and_a_small_one_does_not(bot: CrosscheckBot, fake: FakeDiscord,
                                                                            monkeypatch):
    """As `crosscheck import` does: after a /corpus import of many stories the story index is one b-tree again; a
    failed merge never turns a committed import into a reported failure."""
    import sqlite3

    from cogs.corpus_admin import IMPORT_MERGE_MIN_STORIES
    from storage.corpus import Corpus

    def segments() -> int:
        conn = sqlite3.connect(bot.corpus.path)
        try:
            return conn.execute("SELECT count(*) FROM search_story_data WHERE id > 10").fetchone()[0]
        finally:
            conn.close()

    def bulk(prefix: str, n: int) -> bytes:
        return json.dumps({"format": "crosscheck-corpus", "version": 1,
                           "stories": [{"id": f"{prefix}{i}", "title": f"Quuxland harbour story {prefix} {i}"}
                                       for i in range(n)],
                           "claims": [{"id": f"{prefix}{i}-c", "story": f"{prefix}{i}", "text": f"Quuxland claim {i}"}
                                      for i in range(n)]}).encode()

    for i in range(6):  # several small imports: several segments, left as they are
        aid, att = fake.attachment(f"small{i}.json", bulk(f"small{i}-", 1))
        answer = await fake.cmd("corpus import", {"file": Attach(aid)}, resolved={"attachments": {aid: att}})
        assert "Imported" in answer.content
    merged: list[int] = []
    real_optimize = Corpus.optimize_story_index

    async def optimize(self) -> None:  # noqa: ANN001
        merged.append(segments())
        await real_optimize(self)

    monkeypatch.setattr(Corpus, "optimize_story_index", optimize)
    aid, att = fake.attachment("small.json", bulk("small-", IMPORT_MERGE_MIN_STORIES - 1))
    answer = await fake.cmd("corpus import", {"file": Attach(aid)}, resolved={"attachments": {aid: att}})
    assert f"{IMPORT_MERGE_MIN_STORIES - 1} stories" in answer.content and merged == []
    aid, att = fake.attachment("bulk.json", bulk("bulk-", IMPORT_MERGE_MIN_STORIES))
    answer = await fake.cmd("corpus import", {"file": Attach(aid)}, resolved={"attachments": {aid: att}})
    assert f"{IMPORT_MERGE_MIN_STORIES} stories" in answer.content
    assert len(merged) == 1 and segments() < merged[0]  # the index pages of 8 imports, merged
    assert bot.corpus.reader.story("bulk-7", GUILD_A) and bot.corpus.reader.story("small3-0", GUILD_A)

    async def broken(self) -> None:  # noqa: ANN001
        raise RuntimeError("disk full")

    monkeypatch.setattr(Corpus, "optimize_story_index", broken)
    aid, att = fake.attachment("bulk2.json", bulk("again-", IMPORT_MERGE_MIN_STORIES))
    answer = await fake.cmd("corpus import", {"file": Attach(aid)}, resolved={"attachments": {aid: att}})
    assert answer.content.startswith("Imported bulk2.json") and bot.corpus.reader.story("again-3", GUILD_A)


async def test_import_claimreview(bot: CrosscheckBot, fake: FakeDiscord):
    items = [{"@context": "https://schema.org", "@type": "ClaimReview", "claimReviewed": "Moon is cheese",
              "url": "https://factcheck.example/moon", "author": {"@type": "Organization", "name": "FC Org"},
              "reviewRating": {"@type": "Rating", "alternateName": "False"}}]
    aid, att = fake.attachment("reviews.jsonld", json.dumps(items).encode())
    answer = await fake.cmd("corpus import", {"file": Attach(aid)}, resolved={"attachments": {aid: att}})
    assert "(claimreview): 1 stories" in answer.content


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        ("corpus.json", b'{"format": "crosscheck-corpus", "stories": [{"id": "x"}]}', "stories[0].title"),
        ("corpus.json", b"[1, 2", "not valid JSON"),
        ("corpus.json", json.dumps({**CORPUS_FILE, "stories": [{"id": SEED_STORY, "title": "Mine now"}]}).encode(),
         "global corpus"),
        ("corpus.json", b'{"hello": "world"}', "neither a Crosscheck corpus file"),
        ("corpus.txt", b"{}", "attach a .json or .jsonld file"),
    ],
)
async def test_malformed_import_changes_nothing(bot: CrosscheckBot, fake: FakeDiscord, filename, data, expected):
    before = await counts(bot, GUILD_A)
    version = bot.corpus.reader.version()
    aid, att = fake.attachment(filename, data)
    answer = await fake.cmd("corpus import", {"file": Attach(aid)}, resolved={"attachments": {aid: att}})
    assert answer.ephemeral and expected in answer.content
    assert await counts(bot, GUILD_A) == before
    assert bot.corpus.reader.version() == version
    assert bot.corpus.reader.story(SEED_STORY, None).title != "Mine now"


async def test_import_refuses_an_oversized_attachment_before_reading_it(bot, fake: FakeDiscord):
    aid, att = fake.attachment("big.json", b"{}", size=30 * 1024 * 1024)
    fake.cdn.clear()  # reading it would fail the test
    answer = await fake.cmd("corpus import", {"file": Attach(aid)}, resolved={"attachments": {aid: att}})
    assert "over the" in answer.content


async def test_import_cannot_overwrite_another_servers_records(bot: CrosscheckBot, fake: FakeDiscord):
    aid, att = fake.attachment("corpus.json", json.dumps(CORPUS_FILE).encode())
    await fake.cmd("corpus import", {"file": Attach(aid)}, resolved={"attachments": {aid: att}})
    hostile = {**CORPUS_FILE, "stories": [{"id": "imp-story", "title": "Taken over"}], "outlets": [], "articles": [], "claims": []}
    aid, att = fake.attachment("corpus.json", json.dumps(hostile).encode())
    answer = await fake.cmd("corpus import", {"file": Attach(aid)}, user=MOD_B, guild=GUILD_B,
                            resolved={"attachments": {aid: att}})
    assert "already taken" in answer.content
    assert bot.corpus.reader.story("imp-story", GUILD_A).title == "Imported story about Quuxland"


# -- history, feedback, settings ------------------------------------------------------------------------------------


async def test_history_lists_who_changed_what(bot: CrosscheckBot, fake: FakeDiscord):
    assert "No changes yet" in (await fake.cmd("corpus history", {})).embeds[0].description
    await add_story(fake)
    await fake.cmd("corpus hide", {"story": SEED_STORY})
    await fake.cmd("corpus undo", {})
    answer = await fake.cmd("corpus history", {"limit": 5})
    e = answer.embeds[0]
    names = [re.sub(r"\\(.)", r"\1", f.name) for f in e.fields]
    assert names[0].startswith("#") and "undo" in names[0]
    assert any("hide" in n and "(undone)" in n for n in names)
    assert any("story-add" in n for n in names)
    assert all(f"({MOD})" in f.value for f in e.fields)
    assert (await fake.cmd("corpus history", {}, user=MOD_B, guild=GUILD_B)).embeds[0].fields == []


async def test_feedback_review_lists_not_relevant_reports(bot: CrosscheckBot, fake: FakeDiscord):
    await bot.corpus.add_feedback(GUILD_A, CHAN_A, MEMBER, SEED_STORY, "my @everyone message")
    e = (await fake.cmd("corpus feedback", {})).embeds[0]
    assert SEED_STORY.replace("-", "\\-") in e.fields[0].name
    assert "@everyone" not in e.fields[0].value and f"<@{MEMBER}>" in e.fields[0].value
    assert (await fake.cmd("corpus feedback", {}, user=MOD_B, guild=GUILD_B)).embeds[0].fields == []


async def test_settings_show_and_change(bot: CrosscheckBot, fake: FakeDiscord):
    answer = await fake.cmd("settings", {})
    assert "Moderator role: none" in answer.content and "default (50)" in answer.content
    answer = await fake.cmd("settings", {"threshold": 80.0, "private_replies": True})
    assert "Settings saved" in answer.content and "threshold: 80" in answer.content and "private" in answer.content
    stored = await bot.corpus.settings(GUILD_A)
    assert stored["threshold"] == 80.0 and stored["ephemeral"] is True
    assert (await bot.corpus.settings(GUILD_B))["threshold"] is None
    assert await bot.check_threshold(GUILD_A) == 80.0 and await bot.check_threshold(GUILD_B) == 50.0
    everyone = role_payload(GUILD_A, "@everyone", MEMBER_PERMS)
    answer = await fake.cmd("settings", {"moderator_role": RoleRef(str(GUILD_A))}, resolved={"roles": {str(GUILD_A): everyone}})
    assert "everyone cannot be the moderator role" in answer.content


async def test_settings_threshold_out_of_range_is_refused(bot, fake: FakeDiscord):
    answer = await fake.cmd("settings", {"threshold": 150.0})
    assert answer.ephemeral and "not valid" in answer.content
    assert (await bot.corpus.settings(GUILD_A))["threshold"] is None


async def test_moderator_role_works_when_the_guilds_roles_are_not_cached(bot: CrosscheckBot, fake: FakeDiscord):
    """Interactions carry the member's role ids; the check does not depend on the role being in the cache."""
    uncached = 777000000000000001
    assert bot.get_guild(GUILD_B).get_role(uncached) is None
    await bot.set_guild_settings(GUILD_B, moderator_role_id=uncached)
    answer = await fake.cmd("corpus history", {}, user=HELPER, roles=(uncached,), guild=GUILD_B)
    assert answer.embeds and answer.embeds[0].title == "Corpus history"
    assert "Only moderators" in (await fake.cmd("corpus history", {}, user=HELPER, guild=GUILD_B)).content


async def test_position_merge(bot: CrosscheckBot, fake: FakeDiscord):
    await fake.cmd("corpus question-add", {"story": SEED_STORY, "text": "How many advisers?", "kind": "number", "id": "adv"})
    for pid, statement in (("adv-200", "About 200"), ("adv-two-hundred", "Two hundred")):
        await fake.cmd("corpus position-add", {"story": SEED_STORY, "question": "adv", "statement": statement,
                                               "articles": SEED_ARTICLE, "id": pid})
    answer = await fake.cmd("corpus position-merge", {"story": SEED_STORY, "question": "adv", "position": "adv-200",
                                                      "merge": "adv-two-hundred"})
    assert answer.ephemeral and "Merged" in answer.content
    q = next(q for q in bot.corpus.reader.story(SEED_STORY, GUILD_A).questions if q.id == "adv")
    assert [p.id for p in q.positions] == ["adv-200"]
    # Global positions cannot be merged by a server.
    answer = await fake.cmd("corpus position-merge", {"story": SEED_STORY, "question": "when-signed",
                                                      "position": "when-2026-05-31", "merge": "when-by-2026-05-29"})
    assert answer.ephemeral and "global corpus" in answer.content
    await fake.cmd("corpus undo", {})
    q = next(q for q in bot.corpus.reader.story(SEED_STORY, GUILD_A).questions if q.id == "adv")
    assert {p.id for p in q.positions} == {"adv-200", "adv-two-hundred"}


async def test_settings_and_autoreply_changes_are_audited_and_undone_at_once(bot: CrosscheckBot, fake: FakeDiscord):
    await fake.cmd("settings", {"threshold": 80.0})
    await fake.cmd("autoreply enable", {}, user=MOD, channel=CHAN_A)
    history = await bot.corpus.history(GUILD_A)
    assert [(h.action, h.actor_id) for h in history[:2]] == [("autoreply", MOD), ("settings", MOD)]
    assert all(h.actor_name and h.actor_name != "?" for h in history[:2])
    autoreply = bot.get_cog("AutoReply")
    assert CHAN_A in autoreply.channels
    # Undo the auto-reply change: the running cog stops answering in that channel without a restart.
    answer = await fake.cmd("corpus undo", {})
    assert "Undid" in answer.content
    assert CHAN_A not in autoreply.channels
    # Undo the settings change: the next /check uses the old threshold (the bot's cache is refreshed).
    assert await bot.check_threshold(GUILD_A) == 80.0
    await fake.cmd("corpus undo", {})
    assert await bot.check_threshold(GUILD_A) == 50.0
    assert (await bot.corpus.settings(GUILD_A))["threshold"] is None
