"""Crosscheck end to end: the real ``CrosscheckBot`` (its cogs, its SQLite corpus) against the fake Discord.

Each test is one thing a person does in Discord.  The fixtures fail a test on any payload Discord would reject, any
ping, any late or repeated interaction response, and any exception inside a handler (see conftest.py).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import HandlerErrors, RunningBot, running
from tests.e2e.fake_discord import (Channel, FakeDiscord, FakeInteraction, Flags, Guild, P, SentMessage, User,
                                    shard_of)

app = pytest.importorskip("bot.app", reason="the Discord app (bot/app.py) is not there yet")

SEED_STORY = "ru-af-military-technical-agreement-2026"
SEED_TITLE = "Russia and the Taliban government sign a military-technical cooperation agreement (2026)"
#: The seed story's questions on which its sources disagree.
CONFLICTING = {
    "When was the agreement signed?",
    "Where was it signed?",
    "What kind of agreement is it: technical cooperation or a military alliance?",
}
CLAIM = "Russia and the Taliban signed a military alliance, Moscow and Kabul are now allies"
CLAIM_2 = "Taliban and Russia sign military-technical cooperation deal at a security forum in the Moscow region"
NO_MATCH = "The city council approved a new bicycle lane on the high street yesterday"


def unescape(text: str) -> str:
    """Discord-rendered text: markdown escapes and the zero-width spaces that defuse mentions removed."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u200b", "")


def title_of(message: SentMessage) -> str:
    return unescape(message.embeds[0].get("title", "")) if message.embeds else ""


def fields_of(message: SentMessage) -> list[str]:
    return [unescape(f["name"]) for e in message.embeds for f in e.get("fields", [])]


@dataclass
class World:
    alpha: Guild
    beta: Guild
    general: Channel
    news: Channel
    offtopic: Channel
    beta_general: Channel
    alice: User  # a member of Alpha
    carol: User  # another member of Alpha
    mod: User  # Alpha: Manage Server through the Moderators role
    newsbot: User  # another bot in Alpha
    bob: User  # a member of Beta
    beta_mod: User  # Beta's owner


@pytest.fixture
def world(fake: FakeDiscord) -> World:
    alpha = fake.add_guild("Alpha", channels=("general", "news", "offtopic"))
    moderators = fake.add_role(alpha, "Moderators", P.MANAGE_GUILD)
    alice = fake.add_member(alpha, "alice").user
    carol = fake.add_member(alpha, "carol").user
    mod = fake.add_member(alpha, "mod", roles=[moderators]).user
    newsbot = fake.add_user("newsbot", bot=True)
    fake.add_member(alpha, newsbot)
    beta = fake.add_guild("Beta", channels=("general",))
    bob = fake.add_member(beta, "bob").user
    return World(
        alpha=alpha, beta=beta, general=fake.channel("general", alpha), news=fake.channel("news", alpha),
        offtopic=fake.channel("offtopic", alpha), beta_general=fake.channel("general", beta), alice=alice,
        carol=carol, mod=mod, newsbot=newsbot, bob=bob, beta_mod=fake.users[beta.owner_id],
    )


@pytest.fixture
def settings(fake: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from bot.config import Settings

    for var in ("DISCORD_TOKEN", "CROSSCHECK_DB", "CROSSCHECK_THRESHOLD", "CROSSCHECK_LOG_LEVEL",
                "CROSSCHECK_INTEGRITY_CHECK", "CROSSCHECK_OWNER_IDS"):
        monkeypatch.delenv(var, raising=False)
    return Settings(_env_file=None, DISCORD_TOKEN=fake.token, CROSSCHECK_DB=str(tmp_path / "crosscheck.db"))


@pytest.fixture
async def crosscheck(fake: FakeDiscord, world: World, settings: Any, handler_errors: HandlerErrors
                     ) -> AsyncIterator[RunningBot]:
    """The real bot, started on a fresh seeded database, with its commands synced (as `crosscheck sync` does)."""
    from bot.importers import ImportFileError
    from bot.service import CheckInputError
    from storage.corpus import CorpusError

    handler_errors.expected += (app.UserError, CheckInputError, CorpusError, ImportFileError)
    bot = app.CrosscheckBot(settings, settings.database)
    async with running(bot, fake, handler_errors) as rb:
        await bot.tree.sync()
        yield rb


async def check(fake: FakeDiscord, user: User, guild: Guild, channel: Channel, claim: str, **options: Any
                ) -> tuple[FakeInteraction, SentMessage]:
    ix = await fake.slash("check", {"claim": claim, **options}, user=user, guild=guild, channel=channel)
    [answer] = await fake.answer(ix)
    return ix, answer


async def press(rb: RunningBot, message: SentMessage, label: str, user: User, guild: Guild) -> FakeInteraction:
    """A member presses a button, once the bot has finished sending the message (and registered its view: the
    fake shows the message to users as soon as it has it, a moment before the bot reads Discord's answer)."""
    await rb.settle()
    return await rb.fake.click(message, label=label, user=user, guild=guild)


async def sources_page(rb: RunningBot, answer: SentMessage, user: User, guild: Guild) -> str:
    """Press "Next" on a /check answer and return the text of the page it shows (the sources)."""
    before = len(answer.history)
    ix = await press(rb, answer, "Next", user, guild)
    await rb.fake.wait_for(lambda: len(answer.history) > before, what="the answer to turn the page")
    assert ix.response_type == 7  # UPDATE_MESSAGE: the same message, edited
    return unescape(answer.text())


# -- /check ---------------------------------------------------------------------------------------------------------


async def test_check_reports_the_seed_story(fake: FakeDiscord, world: World, crosscheck: RunningBot) -> None:
    ix, answer = await check(fake, world.alice, world.alpha, world.general, CLAIM)
    assert ix.response_type == 4 and not answer.ephemeral  # answered at once, in the channel
    assert title_of(answer) == SEED_TITLE
    flagged = {name.removeprefix("⚠️").strip() for name in fields_of(answer) if name.startswith("⚠️")}
    assert flagged == CONFLICTING
    assert SEED_STORY in answer.embeds[0]["footer"]["text"]
    assert {b["label"] for b in answer.buttons()} >= {"Next", "Not relevant"}
    page2 = await sources_page(crosscheck, answer, world.alice, world.alpha)
    assert "Sources — " + SEED_TITLE in page2 and "Kabul Dispatch" in page2
    # Discord echoed the bot's public answer back to it; nothing answered it.
    await crosscheck.settle()
    assert fake.bot_messages(world.general) == [answer]


async def test_check_without_a_match_answers_privately(fake: FakeDiscord, world: World, crosscheck: RunningBot) -> None:
    ix, answer = await check(fake, world.alice, world.alpha, world.general, NO_MATCH)
    assert answer.ephemeral and title_of(answer) == "No known story matches this"


async def test_check_claim_on_a_link_preview(fake: FakeDiscord, world: World, crosscheck: RunningBot) -> None:
    url = "https://worldwire.example/2026/06/02/moscow-kabul"
    msg = await fake.post_message(world.general, world.alice, url)
    await fake.unfurl(msg, url=url, title="Russia and the Taliban form a military alliance",
                      description="Moscow and Kabul are now allies after signing a defence pact, officials say.")
    ix = await fake.message_command("Check claim", msg, user=world.carol, guild=world.alpha)
    [answer] = await fake.answer(ix)
    assert answer.flags & Flags.EPHEMERAL  # only the member who asked sees it
    assert title_of(answer) == SEED_TITLE
    assert "Share in channel" in {b["label"] for b in answer.buttons()}


# -- auto-replies ---------------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


async def test_autoreply(fake: FakeDiscord, world: World, crosscheck: RunningBot) -> None:
    cog = crosscheck.client.get_cog("AutoReply")
    clock = cog.clock = Clock()  # the cog's injectable clock: the cooldown passes without sleeping
    ix = await fake.slash("autoreply enable", {"channel": world.news}, user=world.mod, guild=world.alpha,
                          channel=world.general)
    [ok] = await fake.answer(ix)
    assert ok.ephemeral and "Auto-replies enabled" in ok.content

    # Enabled channel: a strong match gets a reply that pings nobody.
    first = await fake.post_message(world.news, world.alice, CLAIM)
    [reply] = await fake.wait_for(lambda: fake.replies_to(first), what="an auto-reply")
    assert title_of(reply) == SEED_TITLE and not reply.ephemeral
    assert reply.data["message_reference"]["message_id"] == first["id"]
    sent = fake.requests_to("POST", "/channels/{channel_id}/messages")[-1].json
    assert sent["allowed_mentions"]["parse"] == [] and not fake.reply_pings  # not even the author it replies to
    assert [b["label"] for b in reply.buttons()] == ["Not relevant"]

    # Not in a channel where it is off, not to bots, and not twice about one story within the cooldown.
    elsewhere = await fake.post_message(world.offtopic, world.alice, CLAIM)
    from_bot = await fake.post_message(world.news, world.newsbot, CLAIM)
    again = await fake.post_message(world.news, world.carol, CLAIM_2)
    await crosscheck.settle()
    assert not fake.replies_to(elsewhere) and not fake.replies_to(from_bot) and not fake.replies_to(again)
    assert len(fake.bot_messages(world.news)) == 1 and not fake.bot_messages(world.offtopic)

    # After the cooldown (10 minutes by default) the story is answered again: here, for a bare link whose
    # preview Discord adds a moment later (MESSAGE_UPDATE).
    clock.now += 601
    url = "https://worldwire.example/2026/06/02/moscow-kabul"
    link = await fake.post_message(world.news, world.carol, url)
    await crosscheck.settle()
    assert not fake.replies_to(link)  # a bare link says nothing yet
    await fake.unfurl(link, url=url, title="Russia and the Taliban form a military alliance",
                      description="Moscow and Kabul are now allies after signing a defence pact.")
    [later] = await fake.wait_for(lambda: fake.replies_to(link), what="an auto-reply to the link preview")
    assert title_of(later) == SEED_TITLE


# -- /corpus --------------------------------------------------------------------------------------------------------

ARTICLE = {
    "story": SEED_STORY,
    "url": "https://harbourgazette.example/2026/06/03/kabul-moscow-pact",
    "title": "Kabul and Moscow sign a military pact, Harbour Gazette learns",
    "text": (
        "Russia and Afghanistan's Taliban government signed their military-technical cooperation agreement on "
        "2 June 2026 in Kabul, officials told the Harbour Gazette. The deal covers training and equipment.\n"
        "Neither side called it an alliance."
    ),
}
NEW_OUTLET = "harbourgazette.example"


async def test_members_are_refused_corpus_commands(fake: FakeDiscord, world: World, crosscheck: RunningBot,
                                                   handler_errors: HandlerErrors) -> None:
    bot = crosscheck.client
    before = await bot.corpus.export(world.alpha.id)
    # Discord hides /corpus from members without Manage Server (its default permission)...
    with pytest.raises(PermissionError):
        await fake.slash("corpus article-add", ARTICLE, user=world.alice, guild=world.alpha, channel=world.general)
    # ...but a server admin can show it to everyone (Server Settings -> Integrations): the bot still refuses.
    ix = await fake.slash("corpus article-add", ARTICLE, user=world.alice, guild=world.alpha, channel=world.general,
                          bypass_permissions=True)
    [refusal] = await fake.answer(ix)
    assert refusal.ephemeral and "Only moderators can do this" in refusal.content
    assert "Manage Server" in refusal.content
    after = await bot.corpus.export(world.alpha.id)
    assert after == before and not after.articles
    assert await bot.corpus.history(world.alpha.id) == []
    assert [type(e).__name__ for _, e in handler_errors.refusals] == ["NotModerator"]


async def add_article(fake: FakeDiscord, world: World, article: dict[str, Any] = ARTICLE) -> SentMessage:
    ix = await fake.slash("corpus article-add", article, user=world.mod, guild=world.alpha, channel=world.general)
    [confirmation] = await fake.answer(ix)
    assert confirmation.ephemeral and "Added the article" in confirmation.content, confirmation
    return confirmation


async def test_moderator_adds_an_article_and_check_reflects_it(fake: FakeDiscord, world: World,
                                                               crosscheck: RunningBot) -> None:
    _, before = await check(fake, world.alice, world.alpha, world.general, CLAIM)
    assert NEW_OUTLET not in await sources_page(crosscheck, before, world.alice, world.alpha)

    confirmation = await add_article(fake, world)
    assert "with the new outlet `harbourgazette-example`" in confirmation.content
    # The bot suggests positions from the new article; the moderator accepts its date, a new answer to
    # "When was the agreement signed?".
    suggested = fields_of(confirmation)
    assert suggested[0] == "1. When was the agreement signed?", suggested
    assert confirmation.embeds[0]["fields"][0]["value"].startswith("On 2 June 2026")
    ix = await press(crosscheck, confirmation, "Accept 1", world.mod, world.alpha)
    [accepted] = await fake.wait_for(lambda: ix.followups, what="the acceptance")
    assert ix.response_type == 7 and accepted.ephemeral and accepted.content.startswith("Accepted:"), accepted
    assert {b["label"]: b.get("disabled") for b in confirmation.buttons()}["Accepted"] is True

    _, after = await check(fake, world.alice, world.alpha, world.general, CLAIM)
    assert title_of(after) == SEED_TITLE
    when = unescape(next(f["value"] for f in after.embeds[0]["fields"] if "When was the agreement signed?" in f["name"]))
    assert re.search(r"On 2 June 2026\*\* — " + re.escape(NEW_OUTLET), when), when
    assert NEW_OUTLET in await sources_page(crosscheck, after, world.alice, world.alpha)


async def test_one_servers_addition_is_invisible_in_another(fake: FakeDiscord, world: World,
                                                           crosscheck: RunningBot) -> None:
    story = {"title": "Harbour bridge in Glasgow closed after a ferry collision",
             "summary": "A ferry struck the harbour bridge; accounts differ on the damage.",
             "entities": "Glasgow|Clyde, harbour bridge", "topic_terms": "ferry, collision, bridge, harbour",
             "id": "glasgow-bridge-ferry"}
    ix = await fake.slash("corpus story-add", story, user=world.mod, guild=world.alpha, channel=world.general)
    [ok] = await fake.answer(ix)
    assert "Added the story" in ok.content
    await add_article(fake, world, {
        "story": "glasgow-bridge-ferry", "url": "https://harbourgazette.example/glasgow-ferry-bridge",
        "title": "Ferry hits Glasgow harbour bridge", "text": "A ferry collided with the harbour bridge in Glasgow on "
        "the Clyde on Tuesday. The bridge was closed while engineers inspect the damage from the collision.",
    })
    claim = "A ferry crashed into the harbour bridge in Glasgow and the bridge is closed"
    _, here = await check(fake, world.alice, world.alpha, world.general, claim)
    assert title_of(here) == story["title"]
    # Server Beta sees neither the story nor Alpha's article on the shared seed story.
    _, there = await check(fake, world.bob, world.beta, world.beta_general, claim)
    assert title_of(there) == "No known story matches this"
    await add_article(fake, world)
    _, seed_in_beta = await check(fake, world.bob, world.beta, world.beta_general, CLAIM)
    assert NEW_OUTLET not in await sources_page(crosscheck, seed_in_beta, world.bob, world.beta)


GLASGOW_FILE = {
    "format": "crosscheck-corpus", "version": 1,
    "outlets": [{"id": "clyde-courier", "name": "Clyde Courier", "domains": ["clydecourier.example"],
                 "type": "newspaper"}],
    "stories": [{"id": "glasgow-bridge-ferry", "title": "Harbour bridge in Glasgow closed after a ferry collision",
                 "summary": "A ferry struck the harbour bridge; accounts differ on the damage.",
                 "entities": [{"id": "glasgow", "name": "Glasgow", "kind": "place", "aliases": ["Clyde"]},
                              {"id": "bridge", "name": "harbour bridge", "kind": "place", "aliases": []}],
                 "topic_terms": ["ferry", "collision", "bridge"]}],
    "articles": [{"id": "clyde-courier-ferry", "story": "glasgow-bridge-ferry", "outlet": "clyde-courier",
                  "title": "Ferry hits Glasgow harbour bridge", "url": "https://clydecourier.example/ferry",
                  "text": "A ferry collided with the harbour bridge in Glasgow on the Clyde on Tuesday. The bridge "
                          "was closed while engineers inspect the damage from the collision."}],
    "claims": [],
}
GLASGOW_CLAIM = "A ferry crashed into the harbour bridge in Glasgow and the bridge is closed"


async def test_import_and_export_files(fake: FakeDiscord, world: World, crosscheck: RunningBot) -> None:
    import json

    # Beta's owner imports a corpus file: the bot downloads the attachment, defers, and follows up.
    data = json.dumps(GLASGOW_FILE).encode()
    ix = await fake.slash("corpus import", {"file": ("glasgow.json", data)}, user=world.beta_mod, guild=world.beta,
                          channel=world.beta_general)
    [done] = await fake.answer(ix)
    assert ix.response_type == 5 and done.ephemeral and done.content.startswith("Imported glasgow.json"), done
    _, there = await check(fake, world.bob, world.beta, world.beta_general, GLASGOW_CLAIM)
    assert title_of(there) == GLASGOW_FILE["stories"][0]["title"]
    _, here = await check(fake, world.alice, world.alpha, world.general, GLASGOW_CLAIM)
    assert title_of(here) == "No known story matches this"

    # Exporting gives the file back (a multipart upload on the follow-up).
    ix = await fake.slash("corpus export", {}, user=world.beta_mod, guild=world.beta, channel=world.beta_general)
    [export] = await fake.answer(ix)
    upload = next(r for r in fake.requests if r.files and ix.token in r.path)
    [f] = upload.files
    assert f.filename.startswith(f"crosscheck-{world.beta.id}-corpus-") and f.filename.endswith(".json")
    exported = json.loads(f.data)
    assert [st["id"] for st in exported["stories"]] == ["glasgow-bridge-ferry"]
    assert export.data["attachments"][0]["filename"] == f.filename


# -- a slow answer --------------------------------------------------------------------------------------------------


async def test_a_slow_check_defers_and_follows_up(fake: FakeDiscord, world: World, crosscheck: RunningBot) -> None:
    bot = crosscheck.client
    # Time scaled down 3x: Discord's 3 s deadline becomes 1 s, the check takes 1.2 s (so an answer that is not
    # deferred arrives too late), and the bot defers after 0.15 s instead of 2 s (0.85 s to spare on a busy machine).
    fake.interaction_window = 1.0
    bot.defer_after = 0.15
    real_check = bot.checker.check

    def slow_check(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.2)  # in the worker thread, as a big corpus would
        return real_check(*args, **kwargs)

    bot.checker.check = slow_check
    ix = await fake.slash("check", {"claim": CLAIM}, user=world.alice, guild=world.alpha, channel=world.general)
    await fake.response(ix)
    assert ix.response_type == 5 and ix.original is not None and ix.original.loading  # "Crosscheck is thinking…"
    assert ix.response_at - ix.created < fake.interaction_window
    [answer] = await fake.answer(ix)
    assert title_of(answer) == SEED_TITLE and not answer.ephemeral
    followups = [r for r in fake.requests_to("POST", "/webhooks/{application_id}/{token}") if r.path.endswith(ix.token)]
    assert len(followups) == 1 and followups[0].status == 200


# -- the connection -------------------------------------------------------------------------------------------------


async def test_survives_gateway_reconnects(fake: FakeDiscord, world: World, crosscheck: RunningBot) -> None:
    session = fake.session
    await fake.drop_connection(4000)  # Discord closes the socket (resumable): the bot RESUMEs
    assert fake.session is session and session.resumes == 1 and fake.identifies == 1
    await check(fake, world.alice, world.alpha, world.general, CLAIM)

    # An interaction that arrives while the bot is away is replayed on RESUME, within Discord's 3 seconds.
    await fake.drop_connection(4000, wait_resumed=False)
    ix = await fake.slash("check", {"claim": CLAIM}, user=world.carol, guild=world.alpha, channel=world.general)
    [answer] = await fake.answer(ix)
    assert session.resumes == 2 and title_of(answer) == SEED_TITLE

    # A session Discord invalidates: the bot IDENTIFYs again and keeps answering.
    await fake.invalidate_session()
    await crosscheck.ready()
    _, again = await check(fake, world.bob, world.beta, world.beta_general, CLAIM)
    assert title_of(again) == SEED_TITLE


async def test_a_shard_gets_only_its_servers(fake: FakeDiscord, world: World, settings: Any,
                                            handler_errors: HandlerErrors) -> None:
    """One process of several (CROSSCHECK_SHARD_ID / CROSSCHECK_SHARD_COUNT): the bot identifies as its shard, holds
    only the servers Discord gives that shard and answers there, on the same database as the other shards."""
    count = 2
    mine = shard_of(world.alpha.id, count)
    theirs = fake.add_guild("Gamma", shard=(1 - mine, count))
    ours = {g.id for g in fake.guilds.values() if shard_of(g.id, count) == mine}
    handler_errors.expected += (app.UserError,)
    bot = app.CrosscheckBot(settings, settings.database, shard_id=mine, shard_count=count)
    async with running(bot, fake, handler_errors):
        assert fake.session is not None and fake.session.shard == (mine, count)
        assert {g.id for g in bot.guilds} == ours and theirs.id not in ours and world.alpha.id in ours
        await bot.tree.sync()
        _, answer = await check(fake, world.alice, world.alpha, world.general, CLAIM)
        assert title_of(answer) == SEED_TITLE


async def test_two_shards_on_one_database(fake: FakeDiscord, world: World, settings: Any,
                                         handler_errors: HandlerErrors) -> None:
    """Two shards side by side on one database file (two bots in this process; in production, two processes;
    benchmarks/shards.py runs processes): each answers in its own servers, and a story added to the global corpus
    (as `crosscheck import` adds it) is found by both."""
    from bot.models import Claim, CorpusFile, Entity, Story
    from storage.corpus import Actor

    count = 2
    a = shard_of(world.alpha.id, count)
    gamma = fake.add_guild("Gamma", shard=(1 - a, count))
    gamma_member = fake.add_member(gamma, "gil").user
    gamma_general = fake.channel("general", gamma)
    handler_errors.expected += (app.UserError,)
    shard_a = app.CrosscheckBot(settings, settings.database, shard_id=a, shard_count=count)
    shard_b = app.CrosscheckBot(settings, settings.database, shard_id=1 - a, shard_count=count)
    async with running(shard_a, fake, handler_errors), running(shard_b, fake, handler_errors):
        assert world.alpha.id in {g.id for g in shard_a.guilds} and gamma.id in {g.id for g in shard_b.guilds}
        assert not {g.id for g in shard_a.guilds} & {g.id for g in shard_b.guilds}
        await shard_a.tree.sync()
        for user, guild, channel in ((world.alice, world.alpha, world.general), (gamma_member, gamma, gamma_general)):
            _, answer = await check(fake, user, guild, channel, CLAIM)
            assert title_of(answer) == SEED_TITLE
        await shard_a.corpus.verified()
        story = Story(id="quokka-vote", title="Quokka Party elected to the Harbour Council", topic_terms=["elected"],
                      entities=[Entity(id="quokka", name="Quokka Party"), Entity(id="harbour", name="Harbour Council")])
        await shard_a.corpus.apply(
            CorpusFile(stories=[story], claims=[Claim(id="quokka-vote-c", story=story.id,
                                                      text="The Quokka Party was elected to the Harbour Council")]),
            Actor(), action="import")
        for user, guild, channel in ((world.alice, world.alpha, world.general), (gamma_member, gamma, gamma_general)):
            _, answer = await check(fake, user, guild, channel, "the quokka party won the harbour council vote")
            assert title_of(answer) == story.title


async def test_sharding_required_stops_the_bot(fake: FakeDiscord, world: World, settings: Any,
                                               handler_errors: HandlerErrors) -> None:
    """A bot in too many servers for one connection: Discord closes the gateway with 4011, and discord.py gives up
    (``run_bot`` turns it into a message about the shard settings; tests/cogs/test_app.py)."""
    fake.shards_required = 2
    with pytest.raises(AssertionError, match="ConnectionClosed"):
        async with running(app.CrosscheckBot(settings, settings.database), fake, handler_errors):
            pass
    [found] = handler_errors.clear()
    assert "4011" in found
    async with running(app.CrosscheckBot(settings, settings.database, shard_id=0, shard_count=2), fake,
                       handler_errors):
        assert fake.session is not None and fake.session.shard == (0, 2)


# -- failures inside handlers fail the test -------------------------------------------------------------------------


async def test_an_exception_in_a_handler_is_caught(fake: FakeDiscord, world: World, crosscheck: RunningBot,
                                                   handler_errors: HandlerErrors) -> None:
    bot = crosscheck.client

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("matcher exploded")

    real_check = bot.checker.check
    bot.checker.check = broken
    ix = await fake.slash("check", {"claim": CLAIM}, user=world.alice, guild=world.alpha, channel=world.general)
    [apology] = await fake.answer(ix)
    assert apology.ephemeral and "Something went wrong" in apology.content  # the member gets a clear message
    await crosscheck.settle()
    found = handler_errors.clear()
    assert any("matcher exploded" in f for f in found), found
    assert any("tree.on_error(check)" in f for f in found), found

    # A listener that raises reaches Client.on_error.
    bot.checker.check = real_check
    cog = bot.get_cog("AutoReply")

    async def exploding_handle(message: Any) -> None:
        raise RuntimeError("listener exploded")

    cog.handle = exploding_handle
    await fake.post_message(world.news, world.alice, CLAIM)
    await crosscheck.settle()
    found = handler_errors.clear()
    assert any(f.startswith("on_error(on_message): RuntimeError: listener exploded") for f in found), found
    # Had they not been cleared, the fixture would have failed the test:
    handler_errors.events.append(("on_message", RuntimeError("x")))
    with pytest.raises(pytest.fail.Exception, match="failed inside a handler"):
        handler_errors.check()
    handler_errors.clear()


# -- `crosscheck sync` ----------------------------------------------------------------------------------------------


async def test_sync_registers_commands_discord_accepts(fake: FakeDiscord, world: World, settings: Any) -> None:
    rc = await asyncio.to_thread(app.sync_commands, settings, settings.database)  # its own event loop, like the CLI
    assert rc == 0
    names = {(c["name"], c["type"]) for c in fake.commands[None]}
    assert {("check", 1), ("Check claim", 3), ("corpus", 1), ("autoreply", 1), ("settings", 1)} <= names
    corpus = next(c for c in fake.commands[None] if c["name"] == "corpus")
    assert corpus["default_member_permissions"] == str(P.MANAGE_GUILD)
    rc = await asyncio.to_thread(app.sync_commands, settings, settings.database, guild_id=world.alpha.id)
    assert rc == 0 and {c["name"] for c in fake.commands[world.alpha.id]} >= {"check", "corpus"}
