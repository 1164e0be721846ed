"""Channel auto-replies: which messages are checked, when the bot replies, the caps, and /autoreply."""

from __future__ import annotations

import threading

import pytest

from bot.app import CrosscheckBot
from bot.models import CorpusFile, Entity, Story
from cogs.autoreply import CHANNEL_RATE, AutoReply, Window
from storage.corpus import Actor
from tests.conftest import LEMON_CLAIM, LEMON_STORY, common_word_corpus
from tests.cogs.conftest import (
    CHAN_A,
    CHAN_A2,
    CHAN_B,
    GUILD_A,
    GUILD_B,
    MATCHING_CLAIM,
    MEMBER,
    MOD,
    MOD_B,
    OTHER_BOT,
    SEED_STORY,
    THREAD_A,
    BOT_ID,
    ChannelRef,
    FakeClock,
    FakeDiscord,
    channel_payload,
)


@pytest.fixture
async def cog(bot: CrosscheckBot, fake: FakeDiscord) -> AutoReply:
    """Auto-replies on in #news of server A (through the command), with a clock the test moves."""
    answer = await fake.cmd("autoreply enable", {}, user=MOD, channel=CHAN_A)
    assert "Auto-replies enabled" in answer.content
    c: AutoReply = bot.get_cog("AutoReply")
    c.clock = FakeClock()
    fake.clear()
    return c


async def say(fake: FakeDiscord, cog: AutoReply, content: str, **kw):
    """A message arrives from the gateway; returns what the bot sent in reply (or None)."""
    before = len(fake.calls)
    await cog.on_message(fake.message_object(fake.user_message(content, **kw)))
    new = [c for c in fake.calls[before:] if c.kind == "channel"]
    assert len(new) <= 1
    return new[0] if new else None


async def test_listeners_are_registered(bot: CrosscheckBot, cog: AutoReply):
    assert cog.on_message in bot.extra_events["on_message"]
    assert cog.on_message_edit in bot.extra_events["on_message_edit"]


async def test_strong_match_in_an_enabled_channel_gets_a_compact_reply_that_pings_nobody(fake: FakeDiscord, cog):
    msg = fake.user_message(MATCHING_CLAIM)
    await cog.on_message(fake.message_object(msg))
    reply = fake.last("channel")
    assert reply.params["channel_id"] == CHAN_A
    assert int(reply.payload["message_reference"]["message_id"]) == int(msg["id"])
    assert reply.payload["allowed_mentions"] == {"parse": [], "replied_user": False}
    e = reply.embeds[0]
    assert "known story" in e.description and e.footer.text.startswith("Use /check")
    assert len(e) <= 6000
    assert reply.button("Not relevant")["custom_id"] == f"cc:nr:{SEED_STORY}"


async def test_no_reply_in_channels_that_are_not_enabled_and_no_query_either(bot, fake: FakeDiscord, cog, monkeypatch):
    async def no_db(*a, **k):
        raise AssertionError("the database was queried for a message in a channel without auto-replies")

    def no_check(*a, **k):
        raise AssertionError("a message in a channel without auto-replies was checked")

    monkeypatch.setattr(bot.corpus, "autoreply_channels", no_db)
    monkeypatch.setattr(bot.corpus, "settings", no_db)
    monkeypatch.setattr(bot, "check", no_check)
    assert await say(fake, cog, MATCHING_CLAIM, channel=CHAN_A2) is None
    assert await say(fake, cog, MATCHING_CLAIM, channel=CHAN_B, guild=GUILD_B) is None
    assert fake.calls == []


async def test_auto_replies_look_as_thoroughly_as_check_within_their_budget(bot, fake: FakeDiscord, cog):
    """A message sharing one distinctive term ("lemon") and common words with its story is missed by the quick pass
    (two distinctive terms) and found by the thorough one, as /check finds it.  Auto-replies take the thorough pass
    for at most AUTOREPLY_THOROUGH_RATE messages a second: past that (a flood) the quick pass alone, so no reply;
    a second later the budget is back.  Only a message that would take the pass spends from the budget."""
    await bot.corpus.verified()
    await bot.corpus.apply(common_word_corpus(), Actor())
    budget = cog.thorough
    full = budget.rate
    assert await say(fake, cog, MATCHING_CLAIM) is not None and budget.tokens == full  # the quick pass answered
    assert await say(fake, cog, "lol that was such a good game last night") is None and budget.tokens == full
    reply = await say(fake, cog, LEMON_CLAIM)
    assert reply is not None and reply.button("Not relevant")["custom_id"] == f"cc:nr:{LEMON_STORY}"
    assert budget.tokens == full - 1
    budget.tokens = 0.0  # the second's budget spent by a flood of messages with a distinctive word
    cog.last_story.clear()  # (the story's cooldown in this channel is not what this test is about)
    assert await say(fake, cog, "yes " + LEMON_CLAIM) is None
    cog.clock.advance(1.0)
    assert await say(fake, cog, "so " + LEMON_CLAIM) is not None and budget.tokens == full - 1


def test_the_thorough_budget_allows_its_rate_in_bursts_and_on_average() -> None:
    from bot.service import Budget

    b = Budget(3.0)
    assert [b.take(100.0) for _ in range(5)] == [True, True, True, False, False]  # a burst of 3, then nothing
    assert b.take(100.2) is False and b.take(100.4) is True  # one every 1/3 s
    assert [b.take(110.0) for _ in range(4)] == [True, True, True, False]  # never more than a second's worth saved
    assert b.take(109.0) is False  # (a clock that goes back refills nothing ...
    assert b.take(110.2) is False  # ... and moves nothing back: 0.2 s since 110 is not a whole event)


async def test_no_match_gets_no_reply(bot, fake: FakeDiscord, cog):
    assert await say(fake, cog, "The city council approved a new bicycle lane on the high street") is None
    assert await say(fake, cog, "Russia and Afghanistan signed some deal, what do you think?") is None
    assert fake.calls == []


@pytest.mark.parametrize(
    "kw",
    [
        {"author": OTHER_BOT, "bot": True},
        {"author": BOT_ID, "bot": True},
        {"webhook": True},
        {"type": 7},  # a member joined (system message)
        {"guild": None},
    ],
    ids=["other bot", "itself", "webhook", "system message", "DM"],
)
async def test_bots_itself_webhooks_system_messages_and_dms_are_ignored(bot, fake: FakeDiscord, cog, kw, monkeypatch):
    checked = []
    real = bot.check
    monkeypatch.setattr(bot, "check", lambda *a, **k: checked.append(a) or real(*a, **k))
    if kw.get("guild", GUILD_A) is None:
        kw = {**kw, "channel": 999}
    assert await say(fake, cog, MATCHING_CLAIM, **kw) is None
    assert checked == []


@pytest.mark.parametrize("content", ["lol", "ok thanks!!", "👍👍👍 🔥🔥", "Russia?  ", "1234567890 12345"])
async def test_very_short_messages_are_not_checked(bot, fake: FakeDiscord, cog, content, monkeypatch):
    checked = []
    monkeypatch.setattr(bot, "check", lambda *a, **k: checked.append(a))
    assert await say(fake, cog, content) is None
    assert checked == []


async def test_matching_happens_in_a_worker_thread(bot, fake: FakeDiscord, cog, monkeypatch):
    threads = []
    real = bot.checker.check
    monkeypatch.setattr(bot.checker, "check", lambda *a, **k: threads.append(threading.current_thread()) or real(*a, **k))
    assert await say(fake, cog, MATCHING_CLAIM) is not None
    assert threads and threads[0] is not threading.main_thread()


async def test_same_story_same_channel_waits_for_the_cooldown(fake: FakeDiscord, cog: AutoReply):
    assert await say(fake, cog, MATCHING_CLAIM) is not None
    cog.clock.advance(60)
    assert await say(fake, cog, "Moscow and Kabul are now military allies after the Taliban deal") is None
    # Another channel (a thread counts as its own channel) is not held back ...
    assert await say(fake, cog, MATCHING_CLAIM, channel=THREAD_A) is not None
    # ... and after the channel's cooldown (10 minutes by default) the story is answered again.
    cog.clock.advance(600)
    assert await say(fake, cog, MATCHING_CLAIM) is not None


async def test_cooldown_set_with_the_command_is_used(fake: FakeDiscord, cog: AutoReply):
    await fake.cmd("autoreply cooldown", {"minutes": 2}, user=MOD, channel=CHAN_A)
    assert await say(fake, cog, MATCHING_CLAIM) is not None
    cog.clock.advance(100)
    assert await say(fake, cog, MATCHING_CLAIM) is None
    cog.clock.advance(21)
    assert await say(fake, cog, MATCHING_CLAIM) is not None


async def _add_stories(bot: CrosscheckBot, n: int) -> list[str]:
    """``n`` unrelated stories in server A, each matched by "<name> treaty signed" ."""
    names = ["zorblax", "quintara", "velmora", "draxos", "pellucid", "marvinia", "sollax", "trevarr"][:n]
    stories = [
        Story(id=f"s-{name}", title=f"{name.capitalize()} treaty signed", topic_terms=["treaty"],
              entities=[Entity(id=name, name=name.capitalize())])
        for name in names
    ]
    await bot.corpus.apply(CorpusFile(stories=stories), Actor(guild_id=GUILD_A), action="test")
    return names


async def test_per_channel_rate_cap_holds_whatever_happens(bot: CrosscheckBot, fake: FakeDiscord, cog: AutoReply):
    names = await _add_stories(bot, CHANNEL_RATE + 2)
    replies = 0
    for name in names[: CHANNEL_RATE + 1]:
        cog.clock.advance(1)
        if await say(fake, cog, f"Breaking: the {name.capitalize()} treaty was signed today, big news") is not None:
            replies += 1
    assert replies == CHANNEL_RATE
    # Its threads share the cap; another enabled channel has its own.
    assert await say(fake, cog, f"Breaking: the {names[-1].capitalize()} treaty was signed", channel=THREAD_A) is None
    await bot.corpus.set_autoreply(GUILD_A, CHAN_A2, enabled=True)
    await cog.reload()
    assert await say(fake, cog, f"Breaking: the {names[-1].capitalize()} treaty was signed", channel=CHAN_A2) is not None
    # A minute later the channel answers the message it had to skip.
    cog.clock.advance(61)
    assert await say(fake, cog, f"Breaking: the {names[CHANNEL_RATE].capitalize()} treaty was signed today, big news") is not None


async def test_global_cap_holds_across_channels(bot: CrosscheckBot, fake: FakeDiscord, cog: AutoReply):
    await fake.cmd("autoreply enable", {"channel": ChannelRef(str(CHAN_A2))}, user=MOD,
                   resolved={"channels": {str(CHAN_A2): {**channel_payload(CHAN_A2, GUILD_A, "offtopic"), "permissions": "0"}}})
    cog.global_window = Window(2, 60)
    names = await _add_stories(bot, 3)
    assert await say(fake, cog, f"The {names[0].capitalize()} treaty was signed today") is not None
    assert await say(fake, cog, f"The {names[1].capitalize()} treaty was signed today", channel=CHAN_A2) is not None
    assert await say(fake, cog, f"The {names[2].capitalize()} treaty was signed today", channel=CHAN_A2) is None
    cog.global_window = Window(10, 60)  # control: the same message is answered once the cap allows it
    assert await say(fake, cog, f"The {names[2].capitalize()} treaty was signed today", channel=CHAN_A2) is not None


async def test_the_edit_that_adds_link_previews_is_checked_once(fake: FakeDiscord, cog: AutoReply):
    payload = fake.user_message("have you seen this?? https://news.example/a/123")
    before = fake.message_object(payload)
    await cog.on_message(before)
    assert fake.sent("channel") == []  # the bare link says nothing
    with_preview = dict(payload, embeds=[{"type": "link", "title": "Moscow and the Taliban sign a military alliance",
                                          "description": "Russia and Afghanistan are now allies, Kabul says."}])
    after = fake.message_object(with_preview)
    await cog.on_message_edit(before, after)
    assert len(fake.sent("channel")) == 1
    # Another edit (or the same event again) does not make a second reply.
    await cog.on_message_edit(before, after)
    assert len(fake.sent("channel")) == 1


async def test_an_edit_of_the_text_alone_is_not_checked(bot, fake: FakeDiscord, cog: AutoReply, monkeypatch):
    checked = []
    monkeypatch.setattr(bot, "check", lambda *a, **k: checked.append(a))
    payload = fake.user_message("nothing yet")
    edited = dict(payload, content=MATCHING_CLAIM)
    await cog.on_message_edit(fake.message_object(payload), fake.message_object(edited))
    assert checked == []


async def test_one_message_gets_one_reply(fake: FakeDiscord, cog: AutoReply):
    msg = fake.message_object(fake.user_message(MATCHING_CLAIM))
    await cog.on_message(msg)
    cog.clock.advance(10_000)
    await cog.on_message(msg)
    assert len(fake.sent("channel")) == 1


async def test_not_relevant_on_an_auto_reply_records_the_original_message(bot: CrosscheckBot, fake: FakeDiscord, cog):
    reply = await say(fake, cog, MATCHING_CLAIM)
    await fake.press(reply.message_id, f"cc:nr:{SEED_STORY}", user=MEMBER)
    assert fake.last().ephemeral and "not relevant" in fake.last().content
    rows = await bot.corpus.feedback(GUILD_A)
    assert rows[0]["story_id"] == SEED_STORY and rows[0]["query"] == MATCHING_CLAIM
    assert rows[0]["channel_id"] == CHAN_A and rows[0]["user_id"] == MEMBER


async def test_autoreply_threshold_from_the_command(bot: CrosscheckBot, fake: FakeDiscord, cog: AutoReply):
    report = await bot.check(MATCHING_CLAIM, GUILD_A, threshold=0)
    score = report.matches[0].score
    await fake.cmd("autoreply threshold", {"value": min(100.0, score + 1)}, user=MOD)
    assert await say(fake, cog, MATCHING_CLAIM) is None
    await fake.cmd("autoreply threshold", {"value": score - 1}, user=MOD)
    assert await say(fake, cog, MATCHING_CLAIM) is not None


async def test_hidden_story_is_not_answered(fake: FakeDiscord, cog: AutoReply):
    await fake.cmd("corpus hide", {"story": SEED_STORY}, user=MOD)
    assert await say(fake, cog, MATCHING_CLAIM) is None


# -- /autoreply -----------------------------------------------------------------------------------------------------


async def test_autoreply_status_disable_and_the_in_memory_config(bot: CrosscheckBot, fake: FakeDiscord, cog: AutoReply):
    assert CHAN_A in cog.channels
    status = await fake.cmd("autoreply status", {}, user=MOD)
    assert f"<#{CHAN_A}>: on · threshold 75 (default) · same story again after 10 min" in status.content
    await fake.cmd("autoreply disable", {}, user=MOD, channel=CHAN_A)
    assert CHAN_A not in cog.channels
    assert await say(fake, cog, MATCHING_CLAIM) is None
    assert f"<#{CHAN_A}>: off" in (await fake.cmd("autoreply status", {}, user=MOD)).content
    # Server B sees none of server A's channels.
    assert "off in every channel" in (await fake.cmd("autoreply status", {}, user=MOD_B, guild=GUILD_B)).content


async def test_autoreply_values_out_of_range_are_refused(bot: CrosscheckBot, fake: FakeDiscord, cog: AutoReply):
    answer = await fake.cmd("autoreply threshold", {"value": 250.0}, user=MOD)
    assert answer.ephemeral and "not valid" in answer.content
    answer = await fake.cmd("autoreply cooldown", {"minutes": 0}, user=MOD)
    assert answer.ephemeral and "not valid" in answer.content
    cfg = (await bot.corpus.autoreply_channels(GUILD_A))[CHAN_A]
    assert cfg["threshold"] is None and cfg["cooldown_s"] == 600


async def test_another_server_cannot_configure_this_servers_channel(bot: CrosscheckBot, fake: FakeDiscord, cog):
    resolved = {"channels": {str(CHAN_A): {**channel_payload(CHAN_A, GUILD_A, "news"), "permissions": "0"}}}
    answer = await fake.cmd("autoreply disable", {"channel": ChannelRef(str(CHAN_A))}, user=MOD_B, guild=GUILD_B,
                            resolved=resolved)
    assert answer.ephemeral and "not valid" in answer.content
    assert (await bot.corpus.autoreply_channels(GUILD_A))[CHAN_A]["enabled"] is True
    assert CHAN_A in cog.channels
