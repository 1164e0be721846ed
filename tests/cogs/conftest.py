"""A never-connected real ``CrosscheckBot`` on a real SQLite file, and a fake Discord around it.

Nothing here mocks discord.py's classes: interactions, messages, guilds, members and channels are the library's own
objects built from payloads shaped like Discord's.  Only the network is replaced: every HTTP call the bot makes (the
interaction webhook endpoints and the REST API) lands in ``FakeDiscord.calls``, which answers the way Discord does
(message payloads with fresh ids), so views, follow-ups and edits work end to end.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.webhook.async_ import AsyncWebhookAdapter

from bot.app import CrosscheckBot
from bot.config import Settings

APP_ID = 900000000000000001
BOT_ID = 900000000000000002
OWNER_ID = 900000000000000003

GUILD_A = 100000000000000001
GUILD_B = 200000000000000001
CHAN_A = 100000000000000010  # #news in server A
CHAN_A2 = 100000000000000011  # #offtopic in server A
THREAD_A = 100000000000000012  # a thread in #news
CHAN_B = 200000000000000010
MOD_ROLE_A = 100000000000000020
DEFAULT_CHANNEL = {GUILD_A: CHAN_A, GUILD_B: CHAN_B}

MOD = 500000000000000001  # has Manage Server in A
MEMBER = 500000000000000002  # plain member (no Manage Server)
MEMBER2 = 500000000000000003
MOD_B = 500000000000000004  # has Manage Server in B
HELPER = 500000000000000005  # holds MOD_ROLE_A, no Manage Server
OTHER_BOT = 500000000000000006

MEMBER_PERMS = discord.Permissions(
    view_channel=True, send_messages=True, read_message_history=True, use_application_commands=True,
    embed_links=True, attach_files=True,
)
MOD_PERMS = MEMBER_PERMS | discord.Permissions(manage_guild=True)
SEED_STORY = "ru-af-military-technical-agreement-2026"
MATCHING_CLAIM = "Russia and the Taliban signed a military alliance, Moscow and Kabul are now allies"
NO_MATCH_CLAIM = "The city council approved a new bicycle lane on the high street yesterday"
NONE_MENTIONS = {"parse": []}

_ids = itertools.count(700000000000000000)


def snowflake() -> int:
    return next(_ids)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def user_payload(uid: int, name: str | None = None, *, bot: bool = False) -> dict[str, Any]:
    name = name or f"user{uid % 1000}"
    return {"id": str(uid), "username": name, "discriminator": "0", "global_name": name, "avatar": None, "bot": bot}


def role_payload(rid: int, name: str, perms: discord.Permissions) -> dict[str, Any]:
    return {"id": str(rid), "name": name, "color": 0, "hoist": False, "position": 0 if name == "@everyone" else 1,
            "permissions": str(perms.value), "managed": False, "mentionable": False, "flags": 0}


def channel_payload(cid: int, gid: int, name: str, *, type: int = 0, parent: int | None = None) -> dict[str, Any]:  # noqa: A002
    p: dict[str, Any] = {"id": str(cid), "guild_id": str(gid), "name": name, "type": type, "position": 0,
                         "permission_overwrites": [], "nsfw": False, "parent_id": str(parent) if parent else None}
    if type in (11, 12):
        p.update({"owner_id": str(MEMBER), "message_count": 0, "member_count": 1,
                  "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                      "archive_timestamp": now_iso(), "locked": False}})
    return p


def guild_payload(gid: int, name: str, channels: list[dict[str, Any]], roles: list[dict[str, Any]],
                  threads: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": str(gid), "name": name, "owner_id": str(OWNER_ID), "icon": None, "splash": None,
        "discovery_splash": None, "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
        "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0,
        "premium_tier": 0, "preferred_locale": "en-US", "system_channel_flags": 0, "features": [], "emojis": [],
        "stickers": [], "member_count": 5, "large": False, "unavailable": False,
        "roles": [role_payload(gid, "@everyone", MEMBER_PERMS), *roles],
        "channels": channels, "threads": threads or [], "members": [], "voice_states": [], "presences": [],
    }


@dataclass
class Call:
    """One HTTP request the bot made."""

    method: str
    path: str
    params: dict[str, Any]
    payload: dict[str, Any] | None
    files: list[discord.File] = field(default_factory=list)
    message_id: int | None = None

    @property
    def kind(self) -> str:
        p, t = self.path, (self.payload or {}).get("type")
        if p.endswith("/callback"):
            return {4: "respond", 5: "defer", 6: "defer_update", 7: "update", 8: "autocomplete", 9: "modal"}.get(t, "callback")
        if p == "/webhooks/{webhook_id}/{webhook_token}" and self.method == "POST":
            return "followup"
        if self.method == "PATCH":
            return "edit"
        if self.method == "DELETE":
            return "delete"
        if p == "/channels/{channel_id}/messages" and self.method == "POST":
            return "channel"
        return f"{self.method} {p}"

    @property
    def message(self) -> dict[str, Any]:
        """The message part of the payload (interaction callbacks nest it under "data")."""
        if self.payload is None:
            return {}
        if self.path.endswith("/callback"):
            return self.payload.get("data") or {}
        return self.payload

    @property
    def content(self) -> str:
        return self.message.get("content") or ""

    @property
    def ephemeral(self) -> bool:
        return bool((self.message.get("flags") or 0) & 64)

    @property
    def embeds(self) -> list[discord.Embed]:
        return [discord.Embed.from_dict(e) for e in self.message.get("embeds") or []]

    @property
    def embed_dicts(self) -> list[dict[str, Any]]:
        return list(self.message.get("embeds") or [])

    @property
    def buttons(self) -> list[dict[str, Any]]:
        out = []
        for row in self.message.get("components") or []:
            out.extend(c for c in row.get("components", []) if c.get("type") == 2)
        return out

    def button(self, label: str) -> dict[str, Any]:
        for b in self.buttons:
            if b.get("label") == label:
                return b
        raise AssertionError(f"no button {label!r} in {[b.get('label') for b in self.buttons]}")

    @property
    def plain(self) -> str:
        """``text`` with markdown escapes removed (what a person reads)."""
        return re.sub(r"\\(.)", r"\1", self.text)

    @property
    def text(self) -> str:
        """Everything a person reads in the message: content and embeds, as one string."""
        parts = [self.content]
        for e in self.embed_dicts:
            parts += [e.get("title", ""), e.get("description", ""), (e.get("footer") or {}).get("text", "")]
            for f in e.get("fields", []):
                parts += [f.get("name", ""), f.get("value", "")]
        return "\n".join(parts)


def _payload_of(payload: dict[str, Any] | None, multipart: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    if payload is not None:
        return payload
    for part in multipart or []:
        if part.get("name") == "payload_json":
            return json.loads(part["value"])
    return None


class FakeDiscord:
    """Builds Discord payloads for the bot and answers its HTTP calls like Discord does."""

    def __init__(self, bot: CrosscheckBot):
        self.bot = bot
        self.state = bot._connection
        self.calls: list[Call] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.cdn: dict[str, bytes] = {}
        self.interaction_messages: dict[str, int] = {}  # interaction token -> id of its original response
        self.channel_of: dict[int, int] = {}

    # -- answering the bot's requests -----------------------------------------------------------------------------

    def _message(self, body: dict[str, Any] | None, channel_id: int, *, author: int = BOT_ID, mid: int | None = None,
                 flags: int = 0) -> dict[str, Any]:
        body = body or {}
        mid = mid or snowflake()
        msg = {
            "id": str(mid), "channel_id": str(channel_id), "author": user_payload(author, "Crosscheck", bot=True),
            "content": body.get("content") or "", "timestamp": now_iso(), "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
            "embeds": body.get("embeds") or [], "pinned": False, "type": 0,
            "flags": body.get("flags") or flags, "components": body.get("components") or [],
        }
        if body.get("message_reference"):
            msg["message_reference"] = body["message_reference"]
            ref = self.messages.get(int(body["message_reference"]["message_id"]))
            if ref is not None:
                msg["referenced_message"] = ref
                msg["type"] = 19
        self.messages[mid] = msg
        self.channel_of[mid] = channel_id
        return msg

    async def webhook_request(self, route, session, *, payload=None, multipart=None, files=None, params=None, **_: Any):
        body = _payload_of(payload, multipart)
        call = Call(route.method, route.path, {k: getattr(route, k, None) for k in ("webhook_id", "webhook_token")},
                    body, list(files or []))
        self.calls.append(call)
        token = route.webhook_token
        channel = self._interaction_channels.get(token, CHAN_A)
        if route.path.endswith("/callback"):
            rtype = (body or {}).get("type")
            result: dict[str, Any] = {"interaction": {"id": str(route.webhook_id), "type": 2}}
            if rtype in (4, 5):
                msg = self._message((body or {}).get("data"), channel)
                call.message_id = int(msg["id"])
                self.interaction_messages[token] = call.message_id
                result["interaction"]["response_message_id"] = msg["id"]
                result["interaction"]["response_message_loading"] = rtype == 5
                result["interaction"]["response_message_ephemeral"] = bool(
                    ((body or {}).get("data") or {}).get("flags", 0) & 64
                )
                result["resource"] = {"type": rtype, "message": msg}
            elif rtype == 7:
                result["resource"] = {"type": 7}
            return result
        if route.method == "POST":  # follow-up
            if token in self.interaction_messages and self._deferred(token):
                mid = self.interaction_messages[token]  # the first follow-up after a defer edits the placeholder
                self._undefer(token)
                msg = self._message(body, channel, mid=mid)
            else:
                msg = self._message(body, channel)
            call.message_id = int(msg["id"])
            return msg
        if route.method == "PATCH":
            mid = self.interaction_messages.get(token) if "@original" in route.url else None
            m = re.search(r"/messages/(\d+)", route.url)
            if m:
                mid = int(m.group(1))
            mid = mid or snowflake()
            old = self.messages.get(mid, {})
            merged = {**old, **(body or {})}
            msg = self._message(merged, channel, mid=mid)
            call.message_id = mid
            return msg
        if route.method == "GET":
            mid = self.interaction_messages.get(token) or snowflake()
            return self.messages.get(mid) or self._message({}, channel, mid=mid)
        return None

    _interaction_channels: dict[str, int]
    _deferred_tokens: set[str]

    def _deferred(self, token: str) -> bool:
        return token in self._deferred_tokens

    def _undefer(self, token: str) -> None:
        self._deferred_tokens.discard(token)

    async def http_request(self, route, *, files=None, form=None, **kwargs: Any):
        body = kwargs.get("json")
        if body is None and form:
            body = _payload_of(None, form)
        call = Call(route.method, route.path, {"channel_id": route.channel_id}, body, list(files or []))
        self.calls.append(call)
        if route.method == "POST" and route.path == "/channels/{channel_id}/messages":
            msg = self._message(body, int(route.channel_id))
            call.message_id = int(msg["id"])
            return msg
        m = re.search(r"/messages/(\d+)", route.url)
        if route.method == "PATCH" and m:
            return self._message(body, int(route.channel_id), mid=int(m.group(1)))
        return None

    async def get_from_cdn(self, url: str) -> bytes:
        return self.cdn[url]

    # -- what the bot sent ----------------------------------------------------------------------------------------

    def sent(self, *kinds: str) -> list[Call]:
        """Calls that send or change a message a person sees (optionally of the given kinds)."""
        visible = ("respond", "update", "followup", "edit", "channel")
        return [c for c in self.calls if c.kind in (kinds or visible)]

    def last(self, *kinds: str) -> Call:
        calls = self.sent(*kinds)
        assert calls, f"nothing sent (calls: {[c.kind for c in self.calls]})"
        return calls[-1]

    def clear(self) -> None:
        self.calls.clear()

    # -- building what Discord sends the bot ----------------------------------------------------------------------

    def member(self, uid: int, *, roles: tuple[int, ...] = (), perms: discord.Permissions = MEMBER_PERMS,
               bot: bool = False, name: str | None = None) -> dict[str, Any]:
        return {"user": user_payload(uid, name, bot=bot), "roles": [str(r) for r in roles], "joined_at": now_iso(),
                "deaf": False, "mute": False, "flags": 0, "permissions": str(perms.value), "nick": None}

    def _base(self, itype: int, data: dict[str, Any], *, user: int, guild: int | None, channel: int,
              perms: discord.Permissions, roles: tuple[int, ...], bot: bool, message: dict[str, Any] | None,
              name: str | None) -> discord.Interaction:
        token = f"tok{snowflake()}"
        self._interaction_channels[token] = channel
        payload: dict[str, Any] = {
            "id": str(snowflake()), "application_id": str(APP_ID), "type": itype, "data": data, "token": token,
            "version": 1, "locale": "en-US", "attachment_size_limit": 10 * 1024 * 1024,
            "app_permissions": str(MEMBER_PERMS.value), "entitlements": [], "authorizing_integration_owners": {},
        }
        if guild is not None:
            payload["guild_id"] = str(guild)
            payload["guild_locale"] = "en-US"
            payload["member"] = self.member(user, roles=roles, perms=perms, bot=bot, name=name)
            guild_obj = self.state._get_guild(guild)
            ch = guild_obj.get_channel_or_thread(channel) if guild_obj else None
            payload["channel"] = {**channel_payload(channel, guild, getattr(ch, "name", "channel")),
                                  "type": ch.type.value if ch else 0}
            payload["context"] = 0
        else:
            payload["user"] = user_payload(user, name, bot=bot)
            payload["channel"] = {"id": str(channel), "type": 1, "recipients": [user_payload(user, name)]}
            payload["context"] = 1
        payload["channel_id"] = str(channel)
        if message is not None:
            payload["message"] = message
        return discord.Interaction(data=payload, state=self.state)

    def command(self, path: str, options: dict[str, Any] | None = None, *, user: int = MOD, guild: int | None = GUILD_A,
                channel: int | None = None, perms: discord.Permissions | None = None, roles: tuple[int, ...] = (),
                bot: bool = False, resolved: dict[str, Any] | None = None, focused: str | None = None,
                name: str | None = None) -> discord.Interaction:
        """A slash command interaction; ``path`` is "check" or "corpus story-add"; autocomplete when ``focused``."""
        if perms is None:
            perms = MOD_PERMS if user in (MOD, MOD_B) else MEMBER_PERMS
        channel = channel or DEFAULT_CHANNEL.get(guild, CHAN_A)
        opts = []
        for key, value in (options or {}).items():
            opts.append({"name": key, "type": _option_type(value), "value": _option_value(value),
                         **({"focused": True} if key == focused else {})})
        parts = path.split()
        cmd_opts: list[dict[str, Any]] = opts
        for sub in reversed(parts[1:]):
            cmd_opts = [{"name": sub, "type": 1, "options": cmd_opts}]
        data = {"id": str(snowflake()), "name": parts[0], "type": 1, "options": cmd_opts}
        if resolved:
            data["resolved"] = resolved
        return self._base(4 if focused else 2, data, user=user, guild=guild, channel=channel, perms=perms,
                          roles=roles, bot=bot, message=None, name=name)

    def context_menu(self, message: dict[str, Any], *, user: int = MEMBER, guild: int | None = GUILD_A,
                     channel: int | None = None, perms: discord.Permissions = MEMBER_PERMS) -> discord.Interaction:
        channel = channel or int(message["channel_id"])
        data = {"id": str(snowflake()), "name": "Check claim", "type": 3, "target_id": message["id"],
                "resolved": {"messages": {message["id"]: message}}}
        return self._base(2, data, user=user, guild=guild, channel=channel, perms=perms, roles=(), bot=False,
                          message=None, name=None)

    def component(self, message_id: int, custom_id: str, *, user: int = MEMBER, guild: int | None = GUILD_A,
                  channel: int | None = None, perms: discord.Permissions = MEMBER_PERMS) -> discord.Interaction:
        msg = dict(self.messages[message_id])
        channel = channel or self.channel_of.get(message_id, CHAN_A)
        data = {"custom_id": custom_id, "component_type": 2}
        return self._base(3, data, user=user, guild=guild, channel=channel, perms=perms, roles=(), bot=False,
                          message=msg, name=None)

    def user_message(self, content: str, *, author: int = MEMBER, channel: int = CHAN_A, guild: int | None = GUILD_A,
                     embeds: list[dict[str, Any]] | None = None, bot: bool = False, webhook: bool = False,
                     type: int = 0) -> dict[str, Any]:  # noqa: A002
        mid = snowflake()
        msg = {
            "id": str(mid), "channel_id": str(channel), "author": user_payload(author, bot=bot), "content": content,
            "timestamp": now_iso(), "edited_timestamp": None, "tts": False, "mention_everyone": False,
            "mentions": [], "mention_roles": [], "attachments": [], "embeds": embeds or [], "pinned": False,
            "type": type, "flags": 0, "components": [],
        }
        if guild is not None:
            msg["guild_id"] = str(guild)
            msg["member"] = {k: v for k, v in self.member(author).items() if k != "user"}
        if webhook:
            msg["webhook_id"] = str(snowflake())
        self.messages[mid] = msg
        self.channel_of[mid] = channel
        return msg

    def message_object(self, payload: dict[str, Any]) -> discord.Message:
        """A real ``discord.Message`` as the gateway would give the bot (its channel from the cached guild)."""
        channel_id = int(payload["channel_id"])
        guild_id = payload.get("guild_id")
        channel: Any
        if guild_id:
            guild = self.state._get_guild(int(guild_id))
            channel = guild.get_channel_or_thread(channel_id)
        else:
            channel = self.state._get_private_channel(channel_id) or discord.DMChannel(
                me=self.state.user, state=self.state, data={"id": str(channel_id), "type": 1,
                                                             "recipients": [payload["author"]]})
        return discord.Message(state=self.state, channel=channel, data=payload)

    def attachment(self, filename: str, data: bytes, *, content_type: str | None = None,
                   size: int | None = None) -> tuple[str, dict[str, Any]]:
        """(attachment id, resolved payload); its bytes are served by the fake CDN."""
        aid = str(snowflake())
        url = f"https://cdn.discordapp.com/attachments/1/{aid}/{filename}"
        self.cdn[url] = data
        payload = {"id": aid, "filename": filename, "size": len(data) if size is None else size, "url": url,
                   "proxy_url": url}
        if content_type:
            payload["content_type"] = content_type
        return aid, payload

    # -- running them through the bot -----------------------------------------------------------------------------

    async def run(self, interaction: discord.Interaction) -> None:
        """What ``CommandTree._from_interaction`` does for an application command, awaited instead of scheduled."""
        tree = self.bot.tree
        try:
            await tree._call(interaction)
        except app_commands.AppCommandError as e:
            await tree._dispatch_error(interaction, e)

    async def press(self, message_id: int, custom_id: str, **kw: Any) -> discord.Interaction:
        """Press a button of a message the bot sent, through discord.py's view store (awaited, not scheduled)."""
        interaction = self.component(message_id, custom_id, **kw)
        store = self.state._view_store
        for pattern, factory in store._dynamic_items.items():
            match = pattern.fullmatch(custom_id)
            if match:
                await store.schedule_dynamic_item_call(2, factory, interaction, custom_id, match)
                return interaction
        item = store._views.get(message_id, {}).get((2, custom_id))
        assert item is not None and item.view is not None, f"no live button {custom_id!r} on message {message_id}"
        await item.view._scheduled_task(item, interaction)
        return interaction

    def view_of(self, message_id: int) -> discord.ui.View:
        return self.state._view_store._synced_message_views[message_id]

    async def cmd(self, path: str, options: dict[str, Any] | None = None, **kw: Any) -> Call:
        """Run a slash command and return the last visible message it produced."""
        before = len(self.calls)
        await self.run(self.command(path, options, **kw))
        new = [c for c in self.calls[before:] if c.kind in ("respond", "followup", "update", "edit")]
        assert new, f"/{path} answered nothing (calls: {[c.kind for c in self.calls[before:]]})"
        return new[-1]

    async def autocomplete(self, path: str, options: dict[str, Any], focused: str, **kw: Any) -> list[dict[str, Any]]:
        before = len(self.calls)
        await self.run(self.command(path, options, focused=focused, **kw))
        got = [c for c in self.calls[before:] if c.kind == "autocomplete"]
        assert got, "no autocomplete answer"
        return got[-1].payload["data"]["choices"]


def _option_type(value: Any) -> int:
    """Discord's application command option type of a value (bool before int: a bool is an int); 3 is a string."""
    types = ((bool, 5), (int, 4), (float, 10), (Attach, 11), (RoleRef, 8), (ChannelRef, 7))
    return next((t for cls, t in types if isinstance(value, cls)), 3)


def _option_value(value: Any) -> Any:
    if isinstance(value, Attach | RoleRef | ChannelRef):
        return value.id
    return value


@dataclass
class Attach:
    id: str


@dataclass
class RoleRef:
    id: str


@dataclass
class ChannelRef:
    id: str


class FakeClock:
    def __init__(self, start: float = 10_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- fixtures -----------------------------------------------------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    # No signals precompute child per test bot (tests/test_precompute.py starts one on purpose).
    return Settings(_env_file=None, DISCORD_TOKEN="", CROSSCHECK_THRESHOLD=50, CROSSCHECK_PRECOMPUTE=False)


def wire_fake_discord(b: CrosscheckBot, setattr_: Callable[[Any, str, Any], None]) -> FakeDiscord:
    """Point a CrosscheckBot's HTTP and interaction webhooks at a FakeDiscord (``setattr_`` is a monkeypatch's
    setattr, so everything is undone with it); the caller then runs ``_async_setup_hook`` and adds guilds."""
    fake = FakeDiscord(b)
    fake._interaction_channels = {}
    fake._deferred_tokens = set()
    b.fake = fake  # type: ignore[attr-defined]

    class Adapter(AsyncWebhookAdapter):
        async def request(self, route, session, **kwargs: Any):  # type: ignore[override]
            return await fake.webhook_request(route, session, **kwargs)

        def create_interaction_response(self, interaction_id, token, *, session, proxy=None, proxy_auth=None, params):
            if (params.payload or {}).get("type") == 5:
                fake._deferred_tokens.add(token)
            return super().create_interaction_response(
                interaction_id, token, session=session, proxy=proxy, proxy_auth=proxy_auth, params=params
            )

    adapter = Adapter()

    class Ctx:
        @staticmethod
        def get() -> AsyncWebhookAdapter:
            return adapter

    setattr_(discord.interactions, "async_context", Ctx)
    setattr_(discord.webhook.async_, "async_context", Ctx)
    setattr_(b.http, "request", fake.http_request)
    setattr_(b.http, "get_from_cdn", fake.get_from_cdn)
    return fake


async def start_fake_bot(b: CrosscheckBot) -> None:
    """``_async_setup_hook`` and the bot's own user, as login would set them."""
    await b._async_setup_hook()
    state = b._connection
    state.user = discord.ClientUser(state=state, data=user_payload(BOT_ID, "Crosscheck", bot=True))
    state.application_id = APP_ID


@pytest.fixture
async def bot(tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch):
    """A real CrosscheckBot after ``setup_hook`` (seeded database, cogs loaded), never connected to Discord."""
    b = CrosscheckBot(settings, tmp_path / "crosscheck.db")
    fake = wire_fake_discord(b, monkeypatch.setattr)
    await start_fake_bot(b)
    state = b._connection
    state._add_guild_from_data(guild_payload(
        GUILD_A, "Server A",
        [channel_payload(CHAN_A, GUILD_A, "news"), channel_payload(CHAN_A2, GUILD_A, "offtopic")],
        [role_payload(MOD_ROLE_A, "Fact team", MEMBER_PERMS)],
        threads=[channel_payload(THREAD_A, GUILD_A, "a thread", type=11, parent=CHAN_A)],
    ))
    state._add_guild_from_data(guild_payload(GUILD_B, "Server B", [channel_payload(CHAN_B, GUILD_B, "general")], []))
    await b.setup_hook()
    calls_during_setup = list(fake.calls)
    b.calls_during_setup = calls_during_setup  # type: ignore[attr-defined]
    try:
        yield b
    finally:
        # Nothing the bot sent may ping anyone: every message carries AllowedMentions.none().
        for c in fake.calls:
            if c.kind in ("respond", "followup", "channel", "update", "edit") and c.message:
                am = c.message.get("allowed_mentions")
                if c.kind in ("respond", "followup", "channel"):
                    assert am is not None and am.get("parse") == [] and not am.get("users") and not am.get("roles"), (
                        f"{c.kind} without AllowedMentions.none(): {am}"
                    )
                    assert not am.get("replied_user"), "a reply pinged its author"
        await b.close()


@pytest.fixture
def fake(bot: CrosscheckBot) -> FakeDiscord:
    return bot.fake  # type: ignore[attr-defined]
