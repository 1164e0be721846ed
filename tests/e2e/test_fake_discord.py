"""The fake Discord itself, proven with a plain discord.py bot: protocol, validation, and what it records."""

from __future__ import annotations

import asyncio
import socket
import zlib

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.e2e.conftest import HandlerErrors, running
from tests.e2e.fake_discord import P, FakeDiscord, would_ping


def make_bot(*, message_content: bool = True) -> commands.Bot:
    intents = discord.Intents.default()
    intents.message_content = message_content
    bot = commands.Bot(command_prefix="!", intents=intents, help_command=None)
    seen: list[discord.Message] = []
    bot.seen = seen  # type: ignore[attr-defined]

    @bot.listen()
    async def on_message(message: discord.Message) -> None:
        seen.append(message)
        if message.author.bot or not message.content.startswith("echo "):
            return
        await message.reply(message.content[5:], allowed_mentions=discord.AllowedMentions.none())

    @bot.tree.command(description="Answers privately")
    @app_commands.describe(text="What to say")
    async def say(interaction: discord.Interaction, text: str, times: int = 1) -> None:
        await interaction.response.send_message(text * times, ephemeral=True)

    group = app_commands.Group(name="cfg", description="Settings")
    sub = app_commands.Group(name="channel", description="Per channel", parent=group)

    @sub.command(name="set", description="Set a value")
    async def cfg_set(interaction: discord.Interaction, channel: discord.TextChannel, on: bool) -> None:
        await interaction.response.send_message(f"{channel.id}:{on}", ephemeral=True)

    bot.tree.add_command(group)

    @bot.tree.command(description="Slow")
    async def slow(interaction: discord.Interaction, defer: bool) -> None:
        if defer:
            await interaction.response.defer(thinking=True, ephemeral=True)
        await asyncio.sleep(0.5)
        if defer:
            await interaction.followup.send("done")
        else:
            await interaction.response.send_message("done")

    @bot.tree.command(description="Misbehaves on purpose")
    @app_commands.choices(what=[app_commands.Choice(name=n, value=n) for n in
                                ("long-embed", "ping", "no-ping", "many-fields", "total")])
    async def bad(interaction: discord.Interaction, what: str) -> None:
        r = interaction.response
        if what == "long-embed":
            await r.send_message(embed=discord.Embed(title="t" * 257))
        elif what == "many-fields":
            e = discord.Embed(title="x")
            for i in range(26):
                e.add_field(name=str(i), value="v")
            await r.send_message(embed=e)
        elif what == "total":
            await r.send_message(embeds=[discord.Embed(description="d" * 4000), discord.Embed(description="d" * 2001)])
        elif what == "ping":
            await r.send_message(f"hi {interaction.user.mention}")
        elif what == "no-ping":
            await r.send_message(f"hi {interaction.user.mention}", allowed_mentions=discord.AllowedMentions.none())

    @bot.tree.context_menu(name="Quote")
    async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
        text = message.content or (message.embeds[0].title if message.embeds else "")
        await interaction.response.send_message(f"> {text}", ephemeral=True)

    return bot


@pytest.fixture
def world(fake: FakeDiscord):
    g = fake.add_guild("Alpha", channels=("general", "news"))
    alice = fake.add_member(g, "alice").user
    return g, alice


async def test_login_gateway_and_sync(fake: FakeDiscord, world, handler_errors: HandlerErrors) -> None:
    g, _ = world
    async with running(make_bot(), fake, handler_errors) as rb:
        bot = rb.client
        assert bot.user is not None and bot.user.id == fake.bot_user.id
        guild = bot.get_guild(g.id)
        assert guild is not None and {c.name for c in guild.text_channels} == {"general", "news"}
        conn = fake.session.conn
        assert conn is not None and conn.compress == "zlib-stream"  # what discord.py 2.7 asks for
        assert conn.url.startswith("/gateway?v=10&encoding=json")
        await fake.wait_for(lambda: conn.heartbeats >= 1, what="a heartbeat")
        assert any(p.get("op") == 11 for p in conn.sent)
        synced = await bot.tree.sync()
        assert {c.name for c in synced} == {"say", "cfg", "slow", "bad", "Quote"}
        assert [r.route for r in fake.requests[:2]] == ["/users/@me", "/oauth2/applications/@me"]


def test_zlib_stream_framing() -> None:
    # Each gateway message is a zlib stream chunk ending in the sync-flush suffix discord.py looks for.
    c = zlib.compressobj()
    frames = [c.compress(b'{"op":11}') + c.flush(zlib.Z_SYNC_FLUSH) for _ in range(2)]
    assert all(f.endswith(b"\x00\x00\xff\xff") for f in frames)
    d = zlib.decompressobj()
    assert [d.decompress(f) for f in frames] == [b'{"op":11}', b'{"op":11}']


async def test_messages_and_replies(fake: FakeDiscord, world, handler_errors: HandlerErrors) -> None:
    g, alice = world
    general = fake.channel("general")
    async with running(make_bot(), fake, handler_errors) as rb:
        msg = await fake.post_message(general, alice, "echo hello <@123456789012345678>")
        [reply] = await fake.wait_for(lambda: fake.replies_to(msg), what="the echo")
        assert reply.content == "hello <@123456789012345678>"
        assert reply.data["message_reference"]["message_id"] == msg["id"]
        await rb.settle()
        # Discord echoes the bot's own message to it (it must ignore it), and the user's.
        assert [m.id for m in rb.client.seen] == [int(msg["id"]), reply.id]  # type: ignore[attr-defined]


async def test_slash_commands_and_nested_options(fake: FakeDiscord, world, handler_errors: HandlerErrors) -> None:
    g, alice = world
    general, news = fake.channel("general"), fake.channel("news")
    async with running(make_bot(), fake, handler_errors) as rb:
        await rb.client.tree.sync()
        ix = await fake.slash("say", {"text": "hi", "times": 2}, user=alice, guild=g, channel=general)
        [answer] = await fake.answer(ix)
        assert answer.content == "hihi" and answer.ephemeral and ix.response_type == 4
        ix = await fake.slash("cfg channel set", {"channel": news, "on": True}, user=alice, guild=g, channel=general)
        [answer] = await fake.answer(ix)
        assert answer.content == f"{news.id}:True"
        assert ix.payload["data"]["options"][0]["type"] == 2  # group -> subcommand -> options
        with pytest.raises(LookupError):
            await fake.slash("nope", user=alice, guild=g, channel=general)
        with pytest.raises(ValueError):
            await fake.slash("say", {}, user=alice, guild=g, channel=general)  # required option missing


async def test_context_menu_on_link_preview(fake: FakeDiscord, world, handler_errors: HandlerErrors) -> None:
    g, alice = world
    general = fake.channel("general")
    async with running(make_bot(), fake, handler_errors) as rb:
        await rb.client.tree.sync()
        msg = await fake.post_message(general, alice, "")
        await fake.unfurl(msg, url="https://news.example/a", title="A headline")
        ix = await fake.message_command("Quote", msg, user=alice, guild=g)
        [answer] = await fake.answer(ix)
        assert answer.content == "> A headline"


async def test_validation_errors_reach_the_bot(fake: FakeDiscord, world, handler_errors: HandlerErrors) -> None:
    g, alice = world
    general = fake.channel("general")
    async with running(make_bot(), fake, handler_errors) as rb:
        await rb.client.tree.sync()
        for what, field in (("long-embed", "title"), ("many-fields", "fields"), ("total", None)):
            ix = await fake.slash("bad", {"what": what}, user=alice, guild=g, channel=general)
            await fake.wait_for(lambda: ix.rejected, what="the rejection")
            rec = ix.rejected[0]
            assert rec.status == 400 and rec.response["code"] == 50035, rec.response
            errors = rec.response["errors"]["data"]["embeds"]
            if field:
                assert field in errors["0"]
            else:
                assert errors["_errors"][0]["code"] == "MAX_EMBED_SIZE_EXCEEDED"
            assert not ix.acknowledged
        await rb.settle()
        assert len(fake.take_violations("invalid_form_body")) == 3
        # discord.py raised HTTPException in the command: the tree reported it.
        assert len(handler_errors.commands) == 3
        assert all(isinstance(e.original, discord.HTTPException) for _, e in handler_errors.commands)  # type: ignore[attr-defined]
        handler_errors.clear()


async def test_mentions_must_be_suppressed(fake: FakeDiscord, world, handler_errors: HandlerErrors) -> None:
    g, alice = world
    general = fake.channel("general")
    assert would_ping("hi <@123456789012345678>", None) == ["<@123456789012345678>"]
    assert would_ping("hi <@123456789012345678>", {"parse": []}) == []
    assert would_ping("@everyone", {"parse": ["users"]}) == []
    assert would_ping("hi <@\u200b123456789012345678>", None) == []
    async with running(make_bot(), fake, handler_errors) as rb:
        await rb.client.tree.sync()
        ix = await fake.slash("bad", {"what": "ping"}, user=alice, guild=g, channel=general)
        await fake.wait_for(lambda: ix.rejected)
        assert [v.kind for v in fake.take_violations("unsuppressed_mention")] == ["unsuppressed_mention"]
        ix = await fake.slash("bad", {"what": "no-ping"}, user=alice, guild=g, channel=general)
        [answer] = await fake.answer(ix)
        assert answer.data["content"] == f"hi <@{alice.id}>"
        await rb.settle()
        handler_errors.clear()


async def test_interaction_deadline_and_double_ack(fake: FakeDiscord, world, handler_errors: HandlerErrors) -> None:
    g, alice = world
    general = fake.channel("general")
    fake.interaction_window = 0.25  # Discord's 3 s, scaled down (the slow command takes 0.5 s)
    async with running(make_bot(), fake, handler_errors) as rb:
        await rb.client.tree.sync()
        late = await fake.slash("slow", {"defer": False}, user=alice, guild=g, channel=general)
        await fake.wait_for(lambda: late.rejected)
        assert late.rejected[0].status == 404 and late.rejected[0].response["code"] == 10062
        assert len(fake.take_violations("interaction_timeout")) == 1

        deferred = await fake.slash("slow", {"defer": True}, user=alice, guild=g, channel=general)
        [answer] = await fake.answer(deferred)
        assert deferred.response_type == 5 and answer.content == "done" and answer.ephemeral
        assert answer is deferred.original and not deferred.followups  # the follow-up replaced "thinking…"

        # discord.py refuses a second response itself; a second process answering would get 40060.
        twice = await fake.slash("say", {"text": "once"}, user=alice, guild=g, channel=general)
        await fake.answer(twice)
        async with aiohttp.ClientSession() as http:
            url = f"{fake.api_base}/interactions/{twice.id}/{twice.token}/callback"
            async with http.post(url, json={"type": 4, "data": {"content": "again"}}) as resp:
                assert resp.status == 400
                assert await resp.json() == {"code": 40060, "message": "Interaction has already been acknowledged."}
            async with http.post(f"{fake.api_base}/interactions/1/nope/callback", json={"type": 5}) as resp:
                assert resp.status == 404 and (await resp.json())["code"] == 10062
        assert len(fake.take_violations("already_acknowledged")) == 1
        assert len(fake.take_violations("unknown_interaction")) == 1
        await rb.settle()
        assert {type(e.original).__name__ for _, e in handler_errors.commands} == {"NotFound"}  # type: ignore[attr-defined]
        handler_errors.clear()


async def test_reconnects(fake: FakeDiscord, world, handler_errors: HandlerErrors) -> None:
    g, alice = world
    general = fake.channel("general")
    async with running(make_bot(), fake, handler_errors) as rb:
        session = fake.session
        # A resumable close: the bot RESUMEs on resume_gateway_url, and gets what it missed.
        await fake.drop_connection(4000, wait_resumed=False)
        missed = await fake.post_message(general, alice, "echo while away")
        await fake.wait_for(lambda: session.resumes == 1, what="RESUME")
        assert fake.session is session and fake.identifies == 1
        assert session.conn is not None and session.conn.url.startswith("/gateway/resume?")
        await fake.wait_for(lambda: fake.replies_to(missed), what="the reply to the missed message")
        # Op 7 RECONNECT, then op 9 INVALID_SESSION (a fresh IDENTIFY, READY, GUILD_CREATE).
        await fake.request_reconnect()
        await fake.invalidate_session()
        assert fake.identifies == 2 and fake.session is not session
        await rb.ready()
        after = await fake.post_message(general, alice, "echo still here")
        await fake.wait_for(lambda: fake.replies_to(after), what="a reply after re-identifying")


async def test_intents(fake: FakeDiscord, world, handler_errors: HandlerErrors) -> None:
    g, alice = world
    async with running(make_bot(message_content=False), fake, handler_errors) as rb:
        await fake.post_message(fake.channel("general"), alice, "echo hidden")
        await rb.settle()
        assert [m.content for m in rb.client.seen] == [""]  # type: ignore[attr-defined]
    fake.privileged_intents_enabled = 0  # Message Content not enabled in the portal
    with pytest.raises(AssertionError, match="PrivilegedIntentsRequired"):
        async with running(make_bot(), fake, handler_errors):
            pass
    [found] = handler_errors.clear()
    assert "PrivilegedIntentsRequired" in found  # close code 4014, as Discord does


async def test_permissions(fake: FakeDiscord, world, handler_errors: HandlerErrors) -> None:
    g, alice = world
    news = fake.channel("news")
    news.overwrite(g.id, deny=P.SEND_MESSAGES)  # a read-only channel
    async with running(make_bot(), fake, handler_errors) as rb:
        with pytest.raises(discord.Forbidden):
            await rb.client.get_channel(news.id).send("x")  # type: ignore[union-attr]
        assert [v.kind for v in fake.take_violations("missing_permissions")] == ["missing_permissions"]
        ix_perms = fake._interaction_base(2, None, alice, g, news)
        assert not int(ix_perms["member"]["permissions"]) & P.SEND_MESSAGES
        assert not int(ix_perms["app_permissions"]) & P.SEND_MESSAGES


async def test_handler_exceptions_are_caught(fake: FakeDiscord, world, handler_errors: HandlerErrors) -> None:
    g, alice = world
    bot = make_bot()

    @bot.listen("on_message")
    async def explode(message: discord.Message) -> None:
        raise RuntimeError("boom")

    async with running(bot, fake, handler_errors) as rb:
        await fake.post_message(fake.channel("general"), alice, "anything")
        await rb.settle()
    found = handler_errors.clear()
    assert any("on_error(on_message): RuntimeError: boom" in f for f in found), found
    assert any(f.startswith("log discord.client ERROR") for f in found), found
    with pytest.raises(pytest.fail.Exception):
        handler_errors.events.append(("x", RuntimeError("y")))
        handler_errors.check()
    handler_errors.clear()


def test_only_loopback() -> None:
    s = socket.socket()
    try:
        with pytest.raises(ConnectionRefusedError, match="127.0.0.1"):
            s.connect(("192.0.2.1", 80))
    finally:
        s.close()


async def _post(fake: FakeDiscord, path: str, body: object, *, auth: bool = True) -> tuple[int, dict]:
    headers = {"Authorization": f"Bot {fake.token}"} if auth else {}
    async with aiohttp.ClientSession() as http, http.post(fake.api_base + path, json=body, headers=headers) as resp:
        return resp.status, (await resp.json() if resp.status != 204 else {})


@pytest.mark.parametrize(
    ("body", "where", "code"),
    [
        ({"content": "x" * 2001}, ["content"], "BASE_TYPE_MAX_LENGTH"),
        ({"embeds": [{"description": "d" * 4097}]}, ["embeds", "0", "description"], "BASE_TYPE_MAX_LENGTH"),
        ({"embeds": [{"title": "t"}] * 11}, ["embeds"], "BASE_TYPE_MAX_LENGTH"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}, ["embeds", "0", "fields", "0", "value"],
         "BASE_TYPE_MAX_LENGTH"),
        ({"embeds": [{"fields": [{"name": "n" * 257, "value": "v"}]}]}, ["embeds", "0", "fields", "0", "name"],
         "BASE_TYPE_MAX_LENGTH"),
        ({"embeds": [{"fields": [{"name": "", "value": "v"}]}]}, ["embeds", "0", "fields", "0", "name"],
         "BASE_TYPE_REQUIRED"),
        ({"embeds": [{"footer": {"text": "f" * 2049}}]}, ["embeds", "0", "footer", "text"], "BASE_TYPE_MAX_LENGTH"),
        ({"embeds": [{"description": "d" * 3000}, {"description": "d" * 3001}]}, ["embeds"], "MAX_EMBED_SIZE_EXCEEDED"),
        ({"content": "<@&123456789012345678> hi", "allowed_mentions": {"parse": ["roles"]}}, ["allowed_mentions"],
         "UNSUPPRESSED_MENTION"),
        ({"content": "@everyone"}, ["allowed_mentions"], "UNSUPPRESSED_MENTION"),
        ({"content": "x", "components": [{"type": 2, "style": 1, "label": "b", "custom_id": "c"}]},
         ["components", "0", "type"], "COMPONENT_LAYOUT_INVALID"),
    ],
)
async def test_rest_validation(fake: FakeDiscord, body: dict, where: list[str], code: str) -> None:
    g = fake.add_guild("Alpha")
    status, resp = await _post(fake, f"/channels/{fake.channel('general').id}/messages", body)
    assert status == 400 and resp["code"] == 50035 and resp["message"] == "Invalid Form Body", resp
    node = resp["errors"]
    for part in where:
        node = node[part]
    assert node["_errors"][0]["code"] == code, resp
    assert len(fake.violations) == 1
    fake.violations.clear()
    assert g.id in fake.guilds


async def test_rest_answers_like_discord(fake: FakeDiscord) -> None:
    ch = fake.add_guild("Alpha").channels
    cid = next(iter(ch))
    assert await _post(fake, f"/channels/{cid}/messages", {"content": "hi"}, auth=False) == (
        401, {"message": "401: Unauthorized", "code": 0})
    assert await _post(fake, f"/channels/{cid}/messages", {}) == (400, {"code": 50006, "message": "Cannot send an empty message"})
    assert (await _post(fake, "/channels/1/messages", {"content": "hi"}))[1]["code"] == 10003
    assert (await _post(fake, "/no/such/route", {}))[0] == 404
    status, msg = await _post(fake, f"/channels/{cid}/messages", {"content": "hi <@123456789012345678>",
                                                                  "allowed_mentions": {"parse": []}})
    assert status == 200 and msg["author"]["id"] == str(fake.bot_user.id) and fake.bot_messages()[0].id == int(msg["id"])
    assert sorted(v.kind for v in fake.violations) == ["empty_message", "unauthorized", "unknown_channel", "unknown_route"]
    fake.violations.clear()
    assert [r.status for r in fake.requests] == [401, 400, 404, 404, 200]
