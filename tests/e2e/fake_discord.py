"""A small Discord on 127.0.0.1, for running the real bot (discord.py) end to end.

One ``FakeDiscord`` is an aiohttp server with

- the REST routes a bot uses under ``/api/v10`` (login, application, command sync, channel messages, interaction
  callbacks, follow-up webhooks, channel/guild/member fetches, typing, reactions), and
- the gateway on a websocket (``/gateway``; ``/gateway/resume`` is the ``resume_gateway_url``): HELLO, IDENTIFY ->
  READY + GUILD_CREATE, heartbeats, RESUME with replay of missed events, RECONNECT, INVALID_SESSION, zlib-stream
  transport compression, intents (privileged ones must be "enabled in the portal", Message Content strips content),
  shards (a session gets only its shard's servers and their events; 4010 invalid shard, 4011 sharding required).

It answers like Discord, including its errors, and validates everything the bot sends against Discord's documented
rules: message content and embed limits, components, allowed mentions (a message that would ping is refused and
recorded as a violation), the 3-second interaction window, double acknowledgement, unknown interactions/webhooks,
command registration rules and channel permissions.  Every request is recorded (``requests``); every rule the bot broke
is in ``violations`` (the e2e fixtures fail a test that leaves any).

Tests drive it as users would: ``post_message``, ``edit_message``/``unfurl``, ``slash``, ``message_command``,
``click``, ``submit_modal``, ``autocomplete``; and shake the connection: ``drop_connection``, ``request_reconnect``,
``invalidate_session``.  Waiting is by condition (``wait_for``), never by fixed sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import secrets
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web

API_VERSION = 10
DISCORD_EPOCH_MS = 1_420_070_400_000


# -- permissions and intents --------------------------------------------------------------------------------------


class P:
    """Permission bits (https://discord.com/developers/docs/topics/permissions)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 53) - 1

    #: What @everyone gets in a new server.
    EVERYONE_DEFAULT = (
        CREATE_INSTANT_INVITE | ADD_REACTIONS | VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES
        | READ_MESSAGE_HISTORY | USE_EXTERNAL_EMOJIS | CHANGE_NICKNAME | USE_APPLICATION_COMMANDS
        | SEND_MESSAGES_IN_THREADS
    )
    #: What the bot's invite link asks for (its managed role).
    BOT_DEFAULT = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | READ_MESSAGE_HISTORY | ADD_REACTIONS | SEND_MESSAGES_IN_THREADS


class Intents:
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15
    PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


class Flags:
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7
    SUPPRESS_EMBEDS = 1 << 2
    SUPPRESS_NOTIFICATIONS = 1 << 12
    IS_COMPONENTS_V2 = 1 << 15


# -- ids and time -------------------------------------------------------------------------------------------------

_counter = itertools.count(1)


def snowflake() -> int:
    ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return (ms << 22) | (1 << 17) | (next(_counter) & 0x1FFFF)


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


# -- Discord's error shapes ---------------------------------------------------------------------------------------


class DiscordError(Exception):
    """An error answer: HTTP status and Discord's JSON body."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None, *, kind: str = ""):
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.body: dict[str, Any] = {"code": code, "message": message}
        if errors:
            self.body["errors"] = errors
        self.kind = kind or {
            50035: "invalid_form_body",
            50006: "empty_message",
            10062: "unknown_interaction",
            40060: "already_acknowledged",
            10015: "unknown_webhook",
            10008: "unknown_message",
            10003: "unknown_channel",
            10004: "unknown_guild",
            10007: "unknown_member",
            50013: "missing_permissions",
            50001: "missing_access",
            0: "unauthorized" if status == 401 else "not_found",
        }.get(code, f"error_{code}")


def invalid_form(errors: dict[str, Any]) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", errors)


class Errors:
    """Collects field errors in Discord's nested ``{"field": {"0": {"_errors": [...]}}}`` shape."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_len(self, path: Sequence[str | int], value: Any, limit: int) -> None:
        if isinstance(value, str | list) and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def between(self, path: Sequence[str | int], value: Any, lo: int, hi: int) -> None:
        if not isinstance(value, str | list) or not lo <= len(value) <= hi:
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {lo} and {hi} in length.")

    def required(self, path: Sequence[str | int], value: Any) -> bool:
        if value is None or value == "":
            self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
            return False
        return True

    def __bool__(self) -> bool:
        return bool(self.tree)


# -- validation of what the bot sends -----------------------------------------------------------------------------

EMBED_LIMITS = {"title": 256, "description": 4096, "fields": 25, "field.name": 256, "field.value": 1024,
                "footer.text": 2048, "author.name": 256, "total": 6000, "embeds": 10}
CONTENT_MAX = 2000
_URL_OK = re.compile(r"^(https?|attachment)://\S+$")
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
MENTION_RE = re.compile(r"<@(?P<user>!?\d{15,21})>|<@&(?P<role>\d{15,21})>|@(?P<everyone>everyone|here)")
COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")


def embed_total(embeds: Iterable[dict[str, Any]]) -> int:
    n = 0
    for e in embeds:
        n += len(e.get("title") or "") + len(e.get("description") or "")
        n += len((e.get("footer") or {}).get("text") or "") + len((e.get("author") or {}).get("name") or "")
        for f in e.get("fields") or []:
            n += len(f.get("name") or "") + len(f.get("value") or "")
    return n


def validate_embeds(errs: Errors, base: list[str | int], embeds: Any) -> None:
    if not isinstance(embeds, list):
        errs.add(base, "LIST_TYPE_CONVERT", "Must be an array.")
        return
    errs.max_len(base, embeds, EMBED_LIMITS["embeds"])
    for i, e in enumerate(embeds):
        p = [*base, i]
        if not isinstance(e, dict):
            errs.add(p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        errs.max_len([*p, "title"], e.get("title"), EMBED_LIMITS["title"])
        errs.max_len([*p, "description"], e.get("description"), EMBED_LIMITS["description"])
        for key in ("url",):
            if e.get(key) is not None and not _URL_OK.match(str(e[key])):
                errs.add([*p, key], "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        for key in ("image", "thumbnail"):
            sub = e.get(key)
            if sub is not None and not _URL_OK.match(str((sub or {}).get("url") or "")):
                errs.add([*p, key, "url"], "URL_TYPE_INVALID_URL", "Not a well formed URL.")
        color = e.get("color")
        if color is not None and (not isinstance(color, int) or not 0 <= color <= 0xFFFFFF):
            errs.add([*p, "color"], "NUMBER_TYPE_MAX", "int value should be less than or equal to 16777215.")
        ts = e.get("timestamp")
        if ts is not None and not _ISO_RE.match(str(ts)):
            errs.add([*p, "timestamp"], "DATE_TYPE_PARSE", "Could not parse " + str(ts)[:40] + ". Should be ISO8601.")
        footer = e.get("footer")
        if footer is not None and errs.required([*p, "footer", "text"], (footer or {}).get("text")):
            errs.max_len([*p, "footer", "text"], footer["text"], EMBED_LIMITS["footer.text"])
        author = e.get("author")
        if author is not None and errs.required([*p, "author", "name"], (author or {}).get("name")):
            errs.max_len([*p, "author", "name"], author["name"], EMBED_LIMITS["author.name"])
        fields = e.get("fields") or []
        errs.max_len([*p, "fields"], fields, EMBED_LIMITS["fields"])
        for j, f in enumerate(fields):
            if errs.required([*p, "fields", j, "name"], f.get("name")):
                errs.max_len([*p, "fields", j, "name"], f["name"], EMBED_LIMITS["field.name"])
            if errs.required([*p, "fields", j, "value"], f.get("value")):
                errs.max_len([*p, "fields", j, "value"], f["value"], EMBED_LIMITS["field.value"])
    if all(isinstance(e, dict) for e in embeds) and embed_total(embeds) > EMBED_LIMITS["total"]:
        errs.add(base, "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {EMBED_LIMITS['total']}")


def validate_components(errs: Errors, base: list[str | int], components: Any, *, v2: bool, modal: bool = False) -> None:
    if not isinstance(components, list):
        errs.add(base, "LIST_TYPE_CONVERT", "Must be an array.")
        return
    if not v2:
        errs.max_len(base, components, 5)
    custom_ids: set[str] = set()

    def item(path: list[str | int], c: dict[str, Any], *, in_row: bool) -> None:
        t = c.get("type")
        cid = c.get("custom_id")
        if cid is not None:
            errs.between([*path, "custom_id"], cid, 1, 100)
            if cid in custom_ids:
                errs.add([*path, "custom_id"], "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
            custom_ids.add(cid)
        if t == 1:
            children = c.get("components") or []
            errs.between([*path, "components"], children, 1, 5)
            if any(ch.get("type") in (3, 4, 5, 6, 7, 8) for ch in children) and len(children) > 1:
                errs.add([*path, "components"], "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                         "The specified component exceeds the maximum width")
            for k, ch in enumerate(children):
                item([*path, "components", k], ch, in_row=True)
        elif t == 2:
            style = c.get("style")
            if style not in (1, 2, 3, 4, 5, 6):
                errs.add([*path, "style"], "BASE_TYPE_CHOICES", f"Value must be one of {{1, 2, 3, 4, 5, 6}}.")
            if style == 5:
                if not c.get("url"):
                    errs.add([*path, "url"], "BASE_TYPE_REQUIRED", "This field is required")
                if cid is not None:
                    errs.add([*path, "custom_id"], "COMPONENT_INVALID_FIELD", "A link button cannot have a custom id")
            elif style in (1, 2, 3, 4) and cid is None:
                errs.add([*path, "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
            if c.get("label") is not None:
                errs.max_len([*path, "label"], c["label"], 80)
            if not c.get("label") and not c.get("emoji") and style != 6:
                errs.add([*path, "label"], "BASE_TYPE_REQUIRED", "A button needs a label or an emoji")
            if not (in_row or v2):
                errs.add(path, "COMPONENT_LAYOUT_INVALID", "Buttons must be inside an action row")
        elif t in (3, 5, 6, 7, 8):
            errs.required([*path, "custom_id"], cid)
            if c.get("placeholder") is not None:
                errs.max_len([*path, "placeholder"], c["placeholder"], 150)
            if t == 3:
                options = c.get("options") or []
                errs.between([*path, "options"], options, 1, 25)
                for k, o in enumerate(options):
                    errs.between([*path, "options", k, "label"], o.get("label"), 1, 100)
                    errs.between([*path, "options", k, "value"], o.get("value"), 1, 100)
                    if o.get("description") is not None:
                        errs.max_len([*path, "options", k, "description"], o["description"], 100)
            lo, hi = c.get("min_values", 1), c.get("max_values", 1)
            if not (0 <= lo <= 25 and 1 <= hi <= 25 and lo <= hi):
                errs.add([*path, "max_values"], "BASE_TYPE_BAD_INT", "min_values/max_values out of range")
        elif t == 4:
            if not modal:
                errs.add(path, "COMPONENT_TYPE_INVALID", "Text inputs are only valid in modals")
            errs.required([*path, "custom_id"], cid)
            if c.get("label") is not None:
                errs.between([*path, "label"], c["label"], 1, 45)
            if c.get("placeholder") is not None:
                errs.max_len([*path, "placeholder"], c["placeholder"], 100)
            if c.get("value") is not None:
                errs.max_len([*path, "value"], c["value"], 4000)
            mn, mx = c.get("min_length", 0), c.get("max_length", 4000)
            if not (0 <= mn <= 4000 and 1 <= mx <= 4000 and mn <= mx):
                errs.add([*path, "max_length"], "BASE_TYPE_BAD_INT", "min_length/max_length out of range")
        elif t == 18:  # label (modals)
            errs.between([*path, "label"], c.get("label"), 1, 45)
            if c.get("description") is not None:
                errs.max_len([*path, "description"], c["description"], 100)
            if isinstance(c.get("component"), dict):
                item([*path, "component"], c["component"], in_row=True)
        elif v2 and isinstance(t, int):
            for key in ("components", "items"):
                for k, ch in enumerate(c.get(key) or []):
                    if isinstance(ch, dict) and "type" in ch:
                        item([*path, key, k], ch, in_row=False)
            if isinstance(c.get("accessory"), dict):
                item([*path, "accessory"], c["accessory"], in_row=True)
        else:
            errs.add([*path, "type"], "BASE_TYPE_CHOICES", f"Value {t!r} is not a valid component type here.")

    for i, c in enumerate(components):
        if not isinstance(c, dict):
            errs.add([*base, i], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        if not v2 and not modal and c.get("type") != 1:
            errs.add([*base, i, "type"], "COMPONENT_LAYOUT_INVALID", "Top-level components must be action rows")
        item([*base, i], c, in_row=False)


def validate_allowed_mentions(errs: Errors, base: list[str | int], am: Any) -> None:
    if am is None:
        return
    if not isinstance(am, dict):
        errs.add(base, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return
    parse = am.get("parse", [])
    for i, v in enumerate(parse or []):
        if v not in ("users", "roles", "everyone"):
            errs.add([*base, "parse", i], "BASE_TYPE_CHOICES", "Value must be one of ('everyone', 'roles', 'users').")
    for kind in ("users", "roles"):
        if kind in (parse or []) and am.get(kind):
            errs.add([*base, "parse"], "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                     f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.')
        errs.max_len([*base, kind], am.get(kind) or [], 100)


def would_ping(content: str | None, am: dict[str, Any] | None) -> list[str]:
    """The mentions in ``content`` that would notify someone under ``allowed_mentions`` ``am`` (Discord's rules:
    without ``allowed_mentions`` every mention in the content pings)."""
    if not content:
        return []
    parse = set(am.get("parse", []) or []) if am is not None else {"users", "roles", "everyone"}
    users = {str(u) for u in (am or {}).get("users", []) or []}
    roles = {str(r) for r in (am or {}).get("roles", []) or []}
    pings = []
    for m in MENTION_RE.finditer(content):
        if m["user"]:
            uid = m["user"].lstrip("!")
            if "users" in parse or uid in users:
                pings.append(m.group(0))
        elif m["role"]:
            if "roles" in parse or m["role"] in roles:
                pings.append(m.group(0))
        elif "everyone" in parse:
            pings.append(m.group(0))
    return pings


def validate_message_body(body: dict[str, Any], *, base: list[str | int] | None = None, create: bool = True,
                          ephemeral_ok: bool = False, has_files: bool = False) -> tuple[Errors, bool]:
    """Errors in a message create/edit body, and whether it is empty (50006)."""
    base = base or []
    errs = Errors()
    flags = body.get("flags") or 0
    v2 = bool(flags & Flags.IS_COMPONENTS_V2)
    content = body.get("content")
    if content is not None:
        if not isinstance(content, str):
            errs.add([*base, "content"], "STRING_TYPE_CONVERT", "Could not interpret value as string.")
        else:
            errs.max_len([*base, "content"], content, CONTENT_MAX)
    if body.get("embeds") is not None:
        validate_embeds(errs, [*base, "embeds"], body["embeds"])
    if body.get("components") is not None:
        validate_components(errs, [*base, "components"], body["components"], v2=v2)
    validate_allowed_mentions(errs, [*base, "allowed_mentions"], body.get("allowed_mentions"))
    if v2 and (content or body.get("embeds")):
        errs.add([*base, "content"], "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                 "The 'content' and 'embeds' fields cannot be used when using components v2")
    allowed_flags = Flags.SUPPRESS_EMBEDS | Flags.SUPPRESS_NOTIFICATIONS | Flags.IS_COMPONENTS_V2
    if ephemeral_ok:
        allowed_flags |= Flags.EPHEMERAL
    if flags & ~allowed_flags:
        errs.add([*base, "flags"], "MESSAGE_INVALID_FLAGS", f"Invalid flags {flags & ~allowed_flags} for this message.")
    empty = create and not (content or body.get("embeds") or body.get("components") or body.get("sticker_ids")
                            or body.get("poll") or has_files or body.get("attachments"))
    return errs, empty


def validate_commands(cmds: Any, *, guild: bool) -> Errors:
    """Discord's rules for application commands (a bulk overwrite)."""
    errs = Errors()
    if not isinstance(cmds, list):
        errs.add([], "LIST_TYPE_CONVERT", "Must be an array.")
        return errs
    seen: set[tuple[str, int]] = set()
    counts = {1: 0, 2: 0, 3: 0}
    for i, c in enumerate(cmds):
        t = c.get("type", 1)
        name = c.get("name") or ""
        counts[t] = counts.get(t, 0) + 1
        if (name, t) in seen:
            errs.add([i, "name"], "APPLICATION_COMMAND_ALREADY_EXISTS", "Application command names must be unique")
        seen.add((name, t))
        if t == 1:
            if not COMMAND_NAME_RE.match(name) or name != name.lower():
                errs.add([i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            errs.between([i, "description"], c.get("description"), 1, 100)
            _validate_options(errs, [i, "options"], c.get("options") or [], depth=0)
            size = _command_size(c)
            if size > 8000:
                errs.add([i], "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (8000)")
        elif t in (2, 3):
            errs.between([i, "name"], name, 1, 32)
            if c.get("description"):
                errs.add([i, "description"], "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                         "Context menu commands cannot have description")
            if c.get("options"):
                errs.add([i, "options"], "APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS",
                         "Context menu commands cannot have options")
        else:
            errs.add([i, "type"], "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3, 4}.")
        dmp = c.get("default_member_permissions")
        if dmp is not None and not str(dmp).isdigit():
            errs.add([i, "default_member_permissions"], "NUMBER_TYPE_COERCE", "Value is not int.")
    if counts.get(1, 0) > 100:
        errs.add([], "APPLICATION_COMMANDS_MAX", "Maximum number of application commands reached (100)")
    for t, word in ((2, "user"), (3, "message")):
        if counts.get(t, 0) > 5:
            errs.add([], "APPLICATION_COMMANDS_MAX", f"Maximum number of {word} commands reached (5)")
    return errs


def _command_size(c: dict[str, Any]) -> int:
    n = len(c.get("name") or "") + len(c.get("description") or "")
    for o in c.get("options") or []:
        n += _command_size(o)
        for ch in o.get("choices") or []:
            n += len(str(ch.get("name") or "")) + len(str(ch.get("value") or ""))
    return n


def _validate_options(errs: Errors, base: list[str | int], options: list[dict[str, Any]], *, depth: int) -> None:
    errs.max_len(base, options, 25)
    names: set[str] = set()
    seen_optional = False
    kinds = {o.get("type") in (1, 2) for o in options}
    if len(kinds) > 1:
        errs.add(base, "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                 "Sub-command and sub-command group option types are mutually exclusive to all other types")
    for j, o in enumerate(options):
        p = [*base, j]
        t = o.get("type")
        name = o.get("name") or ""
        if not COMMAND_NAME_RE.match(name) or name != name.lower():
            errs.add([*p, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if name in names:
            errs.add([*p, "name"], "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option names must be unique")
        names.add(name)
        errs.between([*p, "description"], o.get("description"), 1, 100)
        if t not in range(1, 12):
            errs.add([*p, "type"], "BASE_TYPE_CHOICES", "Value must be one of {1, ..., 11}.")
        if t == 2:
            if depth > 0:
                errs.add([*p, "type"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Groups cannot be nested")
            sub = o.get("options") or []
            if any(s.get("type") != 1 for s in sub):
                errs.add([*p, "options"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Groups hold only subcommands")
            _validate_options(errs, [*p, "options"], sub, depth=depth + 1)
        elif t == 1:
            sub = o.get("options") or []
            if any(s.get("type") in (1, 2) for s in sub):
                errs.add([*p, "options"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Subcommands cannot be nested")
            _validate_options(errs, [*p, "options"], sub, depth=depth + 1)
        else:
            if o.get("required"):
                if seen_optional:
                    errs.add([*p, "required"], "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                             "Required options must be placed before non-required options")
            else:
                seen_optional = True
            choices = o.get("choices") or []
            errs.max_len([*p, "choices"], choices, 25)
            for k, ch in enumerate(choices):
                errs.between([*p, "choices", k, "name"], ch.get("name"), 1, 100)
                if isinstance(ch.get("value"), str):
                    errs.max_len([*p, "choices", k, "value"], ch["value"], 100)
            if choices and o.get("autocomplete"):
                errs.add([*p, "autocomplete"], "APPLICATION_COMMAND_OPTIONS_AUTOCOMPLETE_INVALID",
                         "Autocomplete cannot be set if there are choices present")
            for key in ("min_length", "max_length"):
                if o.get(key) is not None and not 0 <= o[key] <= 6000:
                    errs.add([*p, key], "NUMBER_TYPE_MAX", "int value should be less than or equal to 6000.")


# -- the world: users, guilds, channels, roles, members -----------------------------------------------------------


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": str(self.id), "username": self.username, "discriminator": "0", "global_name": self.global_name,
            "avatar": None, "public_flags": 0, "flags": 0, "banner": None, "accent_color": None,
            "avatar_decoration_data": None, "collectibles": None, "primary_guild": None,
        }
        if self.bot:
            d["bot"] = True
        return d

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": str(self.id), "name": self.name, "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None}, "hoist": False,
            "icon": None, "unicode_emoji": None, "position": self.position, "permissions": str(self.permissions),
            "managed": self.managed, "mentionable": False, "flags": 0,
        }
        if self.bot_id:
            d["tags"] = {"bot_id": str(self.bot_id)}
        return d


@dataclass
class Channel:
    id: int
    guild_id: int
    name: str
    type: int = 0
    position: int = 0
    overwrites: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id), "type": self.type, "guild_id": str(self.guild_id), "name": self.name,
            "position": self.position, "permission_overwrites": self.overwrites, "parent_id": None, "nsfw": False,
            "topic": None, "last_message_id": None, "rate_limit_per_user": 0, "flags": 0,
        }

    def overwrite(self, target_id: int, *, allow: int = 0, deny: int = 0, member: bool = False) -> None:
        self.overwrites = [o for o in self.overwrites if o["id"] != str(target_id)]
        self.overwrites.append({"id": str(target_id), "type": 1 if member else 0, "allow": str(allow), "deny": str(deny)})

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


@dataclass
class Member:
    user: User
    guild_id: int
    roles: list[int] = field(default_factory=list)
    joined_at: str = field(default_factory=iso_now)
    nick: str | None = None

    def to_dict(self, *, with_user: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "roles": [str(r) for r in self.roles], "nick": self.nick, "avatar": None, "banner": None,
            "joined_at": self.joined_at, "premium_since": None, "deaf": False, "mute": False, "flags": 0,
            "pending": False, "communication_disabled_until": None,
        }
        if with_user:
            d["user"] = self.user.to_dict()
        return d


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    def base_permissions(self, user_id: int) -> int:
        if user_id == self.owner_id:
            return P.ALL
        member = self.members[user_id]
        perms = self.everyone.permissions
        for r in member.roles:
            perms |= self.roles[r].permissions
        return P.ALL if perms & P.ADMINISTRATOR else perms

    def permissions_in(self, user_id: int, channel: Channel | None) -> int:
        """Discord's algorithm: base permissions, then @everyone, role and member overwrites of the channel."""
        perms = self.base_permissions(user_id)
        if perms & P.ADMINISTRATOR or channel is None or perms == P.ALL:
            return perms
        member = self.members[user_id]
        ows = {o["id"]: o for o in channel.overwrites}
        if (o := ows.get(str(self.id))) is not None:
            perms = (perms & ~int(o["deny"])) | int(o["allow"])
        allow = deny = 0
        for r in member.roles:
            if (o := ows.get(str(r))) is not None:
                allow |= int(o["allow"])
                deny |= int(o["deny"])
        perms = (perms & ~deny) | allow
        if (o := ows.get(str(user_id))) is not None and o.get("type") == 1:
            perms = (perms & ~int(o["deny"])) | int(o["allow"])
        if not perms & P.VIEW_CHANNEL:
            return 0
        return perms

    def to_dict(self, *, members: bool) -> dict[str, Any]:
        mems = list(self.members.values())
        return {
            "id": str(self.id), "name": self.name, "icon": None, "splash": None, "discovery_splash": None,
            "owner_id": str(self.owner_id), "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0,
            "roles": [r.to_dict() for r in self.roles.values()], "emojis": [], "features": [], "mfa_level": 0,
            "application_id": None, "system_channel_id": None, "system_channel_flags": 0, "rules_channel_id": None,
            "max_members": 500000, "vanity_url_code": None, "description": None, "banner": None, "premium_tier": 0,
            "premium_subscription_count": 0, "preferred_locale": "en-US", "public_updates_channel_id": None,
            "nsfw_level": 0, "premium_progress_bar_enabled": False, "safety_alerts_channel_id": None,
            "joined_at": iso_now(), "large": False, "unavailable": False, "member_count": len(mems),
            "voice_states": [], "members": [m.to_dict() for m in mems] if members else [],
            "channels": [c.to_dict() | {"guild_id": None} for c in self.channels.values()], "threads": [],
            "presences": [], "stage_instances": [], "guild_scheduled_events": [], "stickers": [],
            "soundboard_sounds": [], "incidents_data": None, "lazy": True,
        }


# -- what the bot sent: requests, messages, interactions ----------------------------------------------------------


@dataclass
class UploadedFile:
    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Request:
    method: str
    path: str  # below /api/v10, e.g. /channels/123/messages
    route: str  # the template, e.g. /channels/{channel_id}/messages
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    at: float
    status: int = 0
    response: Any = None

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} -> {self.status}>"


@dataclass
class Violation:
    kind: str
    detail: str
    request: Request | None = None

    def __str__(self) -> str:
        where = f" ({self.request.method} {self.request.route})" if self.request else ""
        return f"{self.kind}{where}: {self.detail}"


@dataclass
class SentMessage:
    """A message the bot made: in a channel, as an interaction response, or as a follow-up."""

    data: dict[str, Any]  # the message as Discord stores it (latest version)
    via: str  # "channel" | "interaction" | "followup"
    interaction: FakeInteraction | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier versions (before each edit)
    deleted: bool = False

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def channel_id(self) -> int:
        return int(self.data["channel_id"])

    @property
    def content(self) -> str:
        return self.data.get("content") or ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.data.get("embeds") or []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.data.get("components") or []

    @property
    def flags(self) -> int:
        return int(self.data.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & Flags.EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & Flags.LOADING)

    @property
    def reference_id(self) -> int | None:
        ref = self.data.get("message_reference")
        return int(ref["message_id"]) if ref and ref.get("message_id") else None

    def buttons(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []

        def walk(cs: list[dict[str, Any]]) -> None:
            for c in cs:
                if c.get("type") == 2:
                    out.append(c)
                walk(c.get("components") or [])

        walk(self.components)
        return out

    def text(self) -> str:
        """Everything a reader sees: content, embed titles, descriptions, field names and values, footers."""
        parts = [self.content]
        for e in self.embeds:
            parts += [e.get("title") or "", e.get("description") or ""]
            for f in e.get("fields") or []:
                parts += [f.get("name") or "", f.get("value") or ""]
            parts.append((e.get("footer") or {}).get("text") or "")
        return "\n".join(p for p in parts if p)

    def __repr__(self) -> str:
        title = self.embeds[0].get("title") if self.embeds else None
        return f"<SentMessage {self.via} id={self.id} ephemeral={self.ephemeral} content={self.content[:60]!r} embed={title!r}>"


@dataclass
class FakeInteraction:
    id: int
    token: str
    type: int  # 2 command, 3 component, 4 autocomplete, 5 modal submit
    payload: dict[str, Any]
    created: float  # loop time when dispatched
    guild_id: int | None
    channel_id: int | None
    user_id: int
    response_type: int | None = None  # the accepted callback's type
    response_at: float | None = None
    response_data: dict[str, Any] | None = None
    original: SentMessage | None = None
    followups: list[SentMessage] = field(default_factory=list)
    updated_message: SentMessage | None = None  # for type 7 (UPDATE_MESSAGE) / 6
    rejected: list[Request] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None

    @property
    def deferred(self) -> bool:
        return self.response_type in (5, 6)

    @property
    def modal(self) -> dict[str, Any] | None:
        return self.response_data if self.response_type == 9 else None

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        return (self.response_data or {}).get("choices") if self.response_type == 8 else None

    def messages(self) -> list[SentMessage]:
        """What the user can see now: the response (unless still "thinking…" or deleted) and the follow-ups."""
        out = [m for m in [self.original, *self.followups] if m is not None and not m.deleted and not m.loading]
        return out

    def __repr__(self) -> str:
        return f"<FakeInteraction id={self.id} type={self.type} response={self.response_type}>"


# -- gateway ------------------------------------------------------------------------------------------------------


class GatewayConnection:
    def __init__(self, ws: web.WebSocketResponse, compress: str | None, url: str):
        self.ws = ws
        self.url = url
        self.compress = compress
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._zstd = None
        if compress == "zstd-stream":  # only requested if the client has a zstd library
            try:
                import zstandard  # type: ignore[import-not-found]

                self._zstd = zstandard.ZstdCompressor().compressobj()
            except ImportError:  # pragma: no cover
                from compression import zstd  # type: ignore[import-not-found]

                self._zstd = zstd.ZstdCompressor()
        self.session: GatewaySession | None = None
        self.lock = asyncio.Lock()
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.heartbeats = 0

    @property
    def live(self) -> bool:
        return not self.ws.closed

    async def send(self, payload: dict[str, Any]) -> None:
        async with self.lock:
            await self._send_locked(payload)

    async def _send_locked(self, payload: dict[str, Any]) -> None:
        if self.ws.closed:
            return
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        self.sent.append(payload)
        try:
            if self._zlib is not None:
                await self.ws.send_bytes(self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH))
            elif self._zstd is not None:  # pragma: no cover - depends on an optional library
                import zstandard  # type: ignore[import-not-found]

                await self.ws.send_bytes(self._zstd.compress(text.encode()) + self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))
            else:
                await self.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            pass  # the socket went away while sending: the session keeps the event for a RESUME

    async def close(self, code: int, message: str = "") -> None:
        if not self.ws.closed:
            await self.ws.close(code=code, message=message.encode())


@dataclass
class GatewaySession:
    id: str
    intents: int
    user_id: int
    seq: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    conn: GatewayConnection | None = None
    resumes: int = 0
    invalid: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    shard: tuple[int, int] = (0, 1)  # (shard id, shard count) from its IDENTIFY

    def holds(self, guild_id: int | str | None) -> bool:
        """Whether this session's shard gets the events of ``guild_id`` (Discord: (guild_id >> 22) % shard count;
        direct messages go to shard 0)."""
        return shard_of(guild_id, self.shard[1]) == self.shard[0]


def shard_of(guild_id: int | str | None, shard_count: int) -> int:
    return (int(guild_id) >> 22) % shard_count if guild_id else 0


def snowflake_on_shard(shard_id: int, shard_count: int) -> int:
    """A new id whose server Discord would give to shard ``shard_id`` of ``shard_count``."""
    s = snowflake()
    ms = s >> 22
    return ((ms - ms % shard_count + shard_id) << 22) | (s & ((1 << 22) - 1))


# -- the server ---------------------------------------------------------------------------------------------------


class FakeDiscord:
    """A fake Discord for one bot application.  ``await start()``, point discord.py at ``api_base`` and
    ``gateway_url``, log the bot in with ``token``; ``await close()`` at the end."""

    def __init__(self, *, app_name: str = "Crosscheck", heartbeat_interval_ms: int = 41_250):
        self.bot_user = User(snowflake(), app_name, bot=True)
        self.application_id = self.bot_user.id
        self.app_name = app_name
        self.owner = User(snowflake(), "operator", global_name="Operator")
        self.token = (
            base64.urlsafe_b64encode(str(self.bot_user.id).encode()).decode().rstrip("=")
            + "." + secrets.token_urlsafe(5)[:6] + "." + secrets.token_urlsafe(30)[:38]
        )
        self.heartbeat_interval_ms = heartbeat_interval_ms
        #: Intents the application may use ("enabled in the developer portal"); others close the gateway with 4014.
        self.privileged_intents_enabled = Intents.GUILD_MEMBERS | Intents.MESSAGE_CONTENT
        #: Discord's deadline for the first response to an interaction, in seconds (tests may shorten it).
        self.interaction_window = 3.0
        #: The fewest shards Discord accepts for this bot (1: none needed); an IDENTIFY with fewer is closed with
        #: 4011 "Sharding required", as for a bot in too many servers for one connection.
        self.shards_required = 1
        #: How long an interaction token stays valid for follow-ups and edits.
        self.token_lifetime = 15 * 60.0

        self.users: dict[int, User] = {self.bot_user.id: self.bot_user, self.owner.id: self.owner}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, dict[str, Any]] = {}  # every message, by id (users' and the bot's)
        self.sent: list[SentMessage] = []  # the bot's messages, in order
        self.interactions: dict[int, FakeInteraction] = {}
        self._by_token: dict[str, FakeInteraction] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # None: global; else guild id
        self.requests: list[Request] = []
        self.violations: list[Violation] = []
        self.sessions: dict[str, GatewaySession] = {}
        self.session: GatewaySession | None = None  # the latest
        self.shard_sessions: dict[int, GatewaySession] = {}  # the latest of each shard id (several bots: shards)
        self.connections: list[GatewayConnection] = []
        self.identifies = 0
        self.presence_updates: list[dict[str, Any]] = []
        self.typing: list[int] = []
        self.reactions: list[tuple[int, int, str]] = []
        #: The bot's replies that notify the author of the message they reply to (allowed_mentions.replied_user).
        self.reply_pings: list[SentMessage] = []
        self._attachments: dict[str, bytes] = {}

        self._waiters: list[asyncio.Future[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._routes: list[tuple[str, re.Pattern[str], str, Callable[..., Any]]] = []
        self._register_routes()

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/resume", self._gateway)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)
        app.router.add_route("*", "/api/v{version}/{tail:.*}", self._api)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.close(1001)
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v{API_VERSION}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway/resume"

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- waiting --------------------------------------------------------------------------------------------------

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
        """Wait until ``predicate()`` is truthy (re-checked after every request and gateway event); return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = "\n  ".join(repr(r) for r in self.requests[-10:])
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what or predicate}; violations: "
                    f"{[str(v) for v in self.violations]}; last requests:\n  {recent}"
                )
            fut = loop.create_future()
            self._waiters.append(fut)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, timeout=min(remaining, 0.25))

    # -- the world ------------------------------------------------------------------------------------------------

    def add_user(self, username: str, *, bot: bool = False) -> User:
        user = User(snowflake(), username, bot=bot, global_name=username.title())
        self.users[user.id] = user
        return user

    def add_guild(self, name: str, *, owner: User | None = None, channels: Sequence[str] = ("general",),
                  bot_permissions: int = P.BOT_DEFAULT, shard: tuple[int, int] | None = None) -> Guild:
        """A server with the bot in it (its managed role has ``bot_permissions``), an owner and text channels;
        ``shard`` (id, count): one whose events Discord sends to that shard."""
        owner = owner or self.add_user(f"{name.lower().replace(' ', '-')}-owner")
        g = Guild(snowflake_on_shard(*shard) if shard else snowflake(), name, owner.id)
        g.roles[g.id] = Role(g.id, "@everyone", P.EVERYONE_DEFAULT, position=0)
        bot_role = Role(snowflake(), self.app_name, bot_permissions, position=1, managed=True, bot_id=self.bot_user.id)
        g.roles[bot_role.id] = bot_role
        g.members[owner.id] = Member(owner, g.id)
        g.members[self.bot_user.id] = Member(self.bot_user, g.id, roles=[bot_role.id])
        self.guilds[g.id] = g
        for i, ch in enumerate(channels):
            self.add_channel(g, ch, position=i)
        return g

    def add_channel(self, guild: Guild, name: str, *, position: int = 0) -> Channel:
        ch = Channel(snowflake(), guild.id, name, position=position)
        guild.channels[ch.id] = ch
        self.channels[ch.id] = ch
        return ch

    def add_role(self, guild: Guild, name: str, permissions: int = 0) -> Role:
        role = Role(snowflake(), name, permissions, position=len(guild.roles))
        guild.roles[role.id] = role
        return role

    def add_member(self, guild: Guild, user: User | str, *, roles: Sequence[Role] = ()) -> Member:
        if isinstance(user, str):
            user = self.add_user(user)
        m = Member(user, guild.id, roles=[r.id for r in roles])
        guild.members[user.id] = m
        return m

    def channel(self, name: str, guild: Guild | None = None) -> Channel:
        for c in self.channels.values():
            if c.name == name and (guild is None or c.guild_id == guild.id):
                return c
        raise KeyError(name)

    # -- the bot's messages, for assertions -----------------------------------------------------------------------

    def bot_messages(self, channel: Channel | int | None = None, *, via: str | None = None,
                     include_ephemeral: bool = True) -> list[SentMessage]:
        cid = channel.id if isinstance(channel, Channel) else channel
        return [m for m in self.sent if not m.deleted and not m.loading
                and (cid is None or m.channel_id == cid) and (via is None or m.via == via)
                and (include_ephemeral or not m.ephemeral)]

    def replies_to(self, message: dict[str, Any]) -> list[SentMessage]:
        """The bot's channel messages that reply to (reference) ``message``."""
        return [m for m in self.bot_messages(int(message["channel_id"])) if m.reference_id == int(message["id"])]

    def requests_to(self, method: str, route: str | None = None) -> list[Request]:
        return [r for r in self.requests if r.method == method and (route is None or r.route == route)]

    def take_violations(self, kind: str) -> list[Violation]:
        """Remove and return the violations of one kind (for tests that provoke them on purpose)."""
        taken = [v for v in self.violations if v.kind == kind]
        self.violations = [v for v in self.violations if v.kind != kind]
        return taken

    # -- gateway: the socket --------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        q = request.query
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True, timeout=2.0)
        await ws.prepare(request)
        compress = q.get("compress")
        conn = GatewayConnection(ws, compress, str(request.rel_url))
        self.connections.append(conn)
        self._notify()
        try:
            if q.get("v") != str(API_VERSION):
                await conn.close(4012, "Invalid API version")
                return ws
            if q.get("encoding", "json") != "json":
                await conn.close(4002, "Decode error")
                return ws
            if compress not in (None, "zlib-stream", "zstd-stream"):
                await conn.close(4000, "Unknown compression")
                return ws
            await conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    await conn.close(4002, "Decode error")
                    break
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await conn.close(4002, "Decode error")
                    break
                conn.received.append(payload)
                await self._on_op(conn, payload)
                self._notify()
        finally:
            s = conn.session
            if s is not None and s.conn is conn:
                s.conn = None
            self._notify()
        return ws

    async def _on_op(self, conn: GatewayConnection, payload: dict[str, Any]) -> None:
        op, d = payload.get("op"), payload.get("d")
        if op == 1:
            conn.heartbeats += 1
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, d or {})
        elif op == 6:
            await self._resume(conn, d or {})
        elif conn.session is None:
            await conn.close(4003, "Not authenticated.")
        elif op == 3:
            self.presence_updates.append(d)
        elif op == 4:
            pass  # voice state: not modelled
        elif op == 8:
            await self._request_members(conn, d or {})
        else:
            await conn.close(4001, "Unknown opcode.")

    async def _identify(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        if conn.session is not None:
            await conn.close(4005, "Already authenticated.")
            return
        if d.get("token") != self.token:
            await conn.close(4004, "Authentication failed.")
            return
        intents = d.get("intents")
        if not isinstance(intents, int) or intents < 0:
            await conn.close(4013, "Invalid intent(s).")
            return
        if intents & Intents.PRIVILEGED & ~self.privileged_intents_enabled:
            await conn.close(4014, "Disallowed intent(s).")
            return
        shard = d.get("shard") or [0, 1]
        if (not isinstance(shard, list) or len(shard) != 2 or not all(isinstance(x, int) for x in shard)
                or not 0 <= shard[0] < shard[1]):
            await conn.close(4010, "Invalid shard.")
            return
        if shard[1] < self.shards_required:
            await conn.close(4011, "Sharding required.")
            return
        self.identifies += 1
        s = GatewaySession(secrets.token_hex(16), intents, self.bot_user.id, shard=(shard[0], shard[1]))
        self.sessions[s.id] = s
        self.session = s
        self.shard_sessions[s.shard[0]] = s
        s.conn = conn
        conn.session = s
        async with s.lock:
            me = self.bot_user.to_dict() | {"verified": True, "mfa_enabled": False, "email": None}
            await self._emit(s, "READY", {
                "v": API_VERSION, "user": me, "user_settings": {}, "private_channels": [], "relationships": [],
                "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds if s.holds(g)],
                "session_id": s.id, "session_type": "normal", "resume_gateway_url": self.resume_gateway_url,
                "shard": list(s.shard), "application": {"id": str(self.application_id), "flags": self._app_flags()},
                "presences": [], "guild_join_requests": [], "geo_ordered_rtc_regions": ["us-east"],
                "auth_session_id_hash": secrets.token_urlsafe(32), "_trace": ["[\"fake-gateway\",{}]"],
            })
            for g in self.guilds.values():
                if s.holds(g.id):
                    await self._emit(s, "GUILD_CREATE", self._guild_payload(g, s.intents))

    def _guild_payload(self, g: Guild, intents: int) -> dict[str, Any]:
        data = g.to_dict(members=bool(intents & Intents.GUILD_MEMBERS))
        if not intents & Intents.GUILD_MEMBERS:
            data["members"] = [g.members[self.bot_user.id].to_dict()]
        return data

    def _app_flags(self) -> int:
        flags = 0
        if self.privileged_intents_enabled & Intents.MESSAGE_CONTENT:
            flags |= 1 << 19  # GATEWAY_MESSAGE_CONTENT_LIMITED: a bot in < 100 servers
        if self.privileged_intents_enabled & Intents.GUILD_MEMBERS:
            flags |= 1 << 15
        return flags

    async def _resume(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        if d.get("token") != self.token:
            await conn.close(4004, "Authentication failed.")
            return
        s = self.sessions.get(d.get("session_id") or "")
        if s is None or s.invalid or not isinstance(d.get("seq"), int | None):
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        seq = d.get("seq") or 0
        async with s.lock:
            if s.conn is not None and s.conn is not conn:
                await s.conn.close(4000, "Session resumed elsewhere")
            s.conn = conn
            conn.session = s
            s.resumes += 1
            async with conn.lock:
                for event in s.log:
                    if event["s"] > seq:
                        await conn._send_locked(event)
            await self._emit(s, "RESUMED", {"_trace": ["fake-gateway"]})

    async def _request_members(self, conn: GatewayConnection, d: dict[str, Any]) -> None:
        s = conn.session
        assert s is not None
        if not s.intents & Intents.GUILD_MEMBERS and not d.get("user_ids"):
            await conn.close(4013, "Invalid intent(s).")
            return
        g = self.guilds.get(int(d.get("guild_id") or 0))
        if g is None:
            return
        members = list(g.members.values())
        if d.get("user_ids"):
            ids = {int(u) for u in (d["user_ids"] if isinstance(d["user_ids"], list) else [d["user_ids"]])}
            members = [m for m in members if m.user.id in ids]
        elif d.get("query"):
            members = [m for m in members if m.user.username.lower().startswith(str(d["query"]).lower())]
        if d.get("limit"):
            members = members[: int(d["limit"])]
        chunk = {"guild_id": str(g.id), "members": [m.to_dict() for m in members], "chunk_index": 0, "chunk_count": 1,
                 "not_found": []}
        if d.get("nonce"):
            chunk["nonce"] = d["nonce"]
        async with s.lock:
            await self._emit(s, "GUILD_MEMBERS_CHUNK", chunk)

    async def _emit(self, s: GatewaySession, t: str, d: dict[str, Any]) -> None:
        """Send one dispatch on a session (caller holds ``s.lock``); kept for a RESUME if the socket is gone."""
        s.seq += 1
        event = {"op": 0, "t": t, "s": s.seq, "d": d}
        s.log.append(event)
        if s.conn is not None and s.conn.live:
            await s.conn.send(event)

    async def dispatch(self, t: str, d: dict[str, Any]) -> None:
        """A gateway event for the bot, filtered by its intents as Discord does.  Queued for a RESUME when the bot
        is disconnected."""
        if self.session is None:
            raise RuntimeError("the bot has not identified on the gateway")
        # The session of the shard that holds the server (with one bot: its session, if the server is on its shard).
        s = self.shard_sessions.get(shard_of(d.get("guild_id"), self.session.shard[1]))
        if s is None or not s.holds(d.get("guild_id")):
            return  # another shard's server, and that shard is not connected
        d = self._filter(s.intents, t, d)
        if d is None:
            return
        async with s.lock:
            await self._emit(s, t, d)
        self._notify()

    def _filter(self, intents: int, t: str, d: dict[str, Any]) -> dict[str, Any] | None:
        if t in ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"):
            need = Intents.GUILD_MESSAGES if d.get("guild_id") else Intents.DIRECT_MESSAGES
            if not intents & need:
                return None
            if t != "MESSAGE_DELETE" and not intents & Intents.MESSAGE_CONTENT:
                author = (d.get("author") or {}).get("id")
                mentioned = any(u.get("id") == str(self.bot_user.id) for u in d.get("mentions") or [])
                if author != str(self.bot_user.id) and not mentioned and d.get("guild_id"):
                    d = d | {"content": "", "embeds": [], "attachments": [], "components": []}
                    d.pop("poll", None)
        return d

    async def wait_connected(self, timeout: float = 5.0) -> GatewaySession:
        """Until a session is live on a socket (after IDENTIFY or RESUME)."""
        return await self.wait_for(
            lambda: self.session if self.session and self.session.conn and self.session.conn.live else None,
            timeout, "a live gateway session",
        )

    async def drop_connection(self, code: int = 4000, *, wait_resumed: bool = True, timeout: float = 5.0) -> None:
        """Close the bot's socket as Discord does on trouble (4000 "Unknown error": resumable).  Waits until the bot
        is back (RESUMEd or IDENTIFYd again) unless ``wait_resumed`` is false."""
        s = self.session
        assert s is not None and s.conn is not None, "the bot is not connected"
        before = (s.resumes, self.identifies)
        await s.conn.close(code, "fake: connection dropped")
        if wait_resumed:
            await self.wait_for(lambda: (s.resumes, self.identifies) != before and self.session
                                and self.session.conn is not None, timeout, "the bot to reconnect")

    async def request_reconnect(self, *, timeout: float = 5.0) -> None:
        """Op 7 RECONNECT: the bot must close and RESUME."""
        s = self.session
        assert s is not None and s.conn is not None
        before = s.resumes
        await s.conn.send({"op": 7, "d": None, "s": None, "t": None})
        await self.wait_for(lambda: s.resumes > before and s.conn is not None, timeout, "the bot to RESUME")

    async def invalidate_session(self, *, timeout: float = 5.0) -> None:
        """Op 9 INVALID_SESSION (not resumable): the bot must IDENTIFY again; it gets READY and GUILD_CREATEs."""
        s = self.session
        assert s is not None and s.conn is not None
        before = self.identifies
        s.invalid = True
        await s.conn.send({"op": 9, "d": False, "s": None, "t": None})
        await self.wait_for(lambda: self.identifies > before and self.session is not s, timeout, "a new IDENTIFY")

    # -- users' actions -------------------------------------------------------------------------------------------

    def _message_payload(self, channel: Channel, author: User, content: str, *, embeds: list[dict[str, Any]] | None,
                         reference: dict[str, Any] | None = None, attachments: list[dict[str, Any]] | None = None,
                         ) -> dict[str, Any]:
        g = self.guilds[channel.guild_id]
        mentions, roles = [], []
        for m in MENTION_RE.finditer(content):
            if m["user"] and (u := self.users.get(int(m["user"].lstrip("!")))):
                d = u.to_dict()
                if u.id in g.members:
                    d["member"] = g.members[u.id].to_dict(with_user=False)
                mentions.append(d)
            elif m["role"]:
                roles.append(m["role"])
        everyone = bool(re.search(r"@(everyone|here)", content)) and bool(
            author.id in g.members and g.permissions_in(author.id, channel) & P.MENTION_EVERYONE)
        msg: dict[str, Any] = {
            "id": str(snowflake()), "channel_id": str(channel.id), "guild_id": str(g.id), "author": author.to_dict(),
            "content": content, "timestamp": iso_now(), "edited_timestamp": None, "tts": False,
            "mention_everyone": everyone, "mentions": mentions, "mention_roles": roles, "attachments": attachments or [],
            "embeds": embeds or [], "pinned": False, "type": 19 if reference else 0, "flags": 0, "components": [],
            "nonce": str(snowflake()),
        }
        if author.id in g.members:
            msg["member"] = g.members[author.id].to_dict(with_user=False)
        if reference is not None:
            msg["message_reference"] = {"type": 0, "message_id": reference["id"], "channel_id": reference["channel_id"],
                                        "guild_id": str(g.id)}
            msg["referenced_message"] = {k: v for k, v in reference.items() if k not in ("member", "guild_id")}
        return msg

    async def post_message(self, channel: Channel, author: User, content: str = "", *,
                           embeds: list[dict[str, Any]] | None = None, reply_to: dict[str, Any] | None = None,
                           ) -> dict[str, Any]:
        """A user (or another bot) posts in a channel: MESSAGE_CREATE.  Returns the message object."""
        msg = self._message_payload(channel, author, content, embeds=embeds, reference=reply_to)
        self.messages[int(msg["id"])] = msg
        await self.dispatch("MESSAGE_CREATE", msg)
        return msg

    async def edit_message(self, message: dict[str, Any], *, content: str | None = None,
                           embeds: list[dict[str, Any]] | None = None, edited: bool = True) -> dict[str, Any]:
        """MESSAGE_UPDATE with the full new message (as Discord sends since 2024)."""
        new = dict(message)
        if content is not None:
            new["content"] = content
        if embeds is not None:
            new["embeds"] = embeds
        if edited:
            new["edited_timestamp"] = iso_now()
        self.messages[int(new["id"])] = new
        message.clear()
        message.update(new)
        await self.dispatch("MESSAGE_UPDATE", dict(new))
        return message

    async def unfurl(self, message: dict[str, Any], *, url: str, title: str, description: str = "",
                     site: str | None = None) -> dict[str, Any]:
        """Discord's link preview arriving after the message: a MESSAGE_UPDATE adding an embed, not an edit."""
        embed = {"type": "article", "url": url, "title": title, "description": description,
                 "provider": {"name": site or url.split("/")[2]},
                 "thumbnail": {"url": url.rstrip("/") + "/thumb.jpg", "proxy_url": url, "width": 1200, "height": 630}}
        return await self.edit_message(message, embeds=[*message.get("embeds", []), embed], edited=False)

    def find_command(self, name: str, type_: int = 1, guild: Guild | None = None) -> dict[str, Any]:
        """A registered (synced) command: guild commands first, then global."""
        for scope in ([guild.id] if guild else []) + [None]:
            for c in self.commands.get(scope, []):
                if c["name"] == name and c.get("type", 1) == type_:
                    return c
        synced = {k: [c["name"] for c in v] for k, v in self.commands.items()}
        raise LookupError(f"command {name!r} (type {type_}) is not registered with Discord; synced: {synced}")

    def _interaction_base(self, type_: int, data: dict[str, Any] | None, user: User, guild: Guild, channel: Channel,
                          *, message: dict[str, Any] | None = None, locale: str = "en-US") -> dict[str, Any]:
        member = guild.members[user.id]
        perms = guild.permissions_in(user.id, channel)
        app_perms = guild.permissions_in(self.bot_user.id, channel)
        payload: dict[str, Any] = {
            "id": str(snowflake()), "application_id": str(self.application_id), "type": type_,
            "guild_id": str(guild.id), "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "channel_id": str(channel.id),
            "channel": channel.to_dict() | {"permissions": str(perms)},
            "member": member.to_dict() | {"permissions": str(perms)},
            "token": "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96), "version": 1,
            "app_permissions": str(app_perms), "locale": locale, "guild_locale": "en-US", "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild.id)}, "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if data is not None:
            payload["data"] = data
        if message is not None:
            payload["message"] = message
        return payload

    async def _dispatch_interaction(self, payload: dict[str, Any]) -> FakeInteraction:
        loop = asyncio.get_running_loop()
        ix = FakeInteraction(
            id=int(payload["id"]), token=payload["token"], type=payload["type"], payload=payload, created=loop.time(),
            guild_id=int(payload["guild_id"]) if payload.get("guild_id") else None,
            channel_id=int(payload["channel_id"]) if payload.get("channel_id") else None,
            user_id=int(payload["member"]["user"]["id"]),
        )
        self.interactions[ix.id] = ix
        self._by_token[ix.token] = ix
        await self.dispatch("INTERACTION_CREATE", payload)
        return ix

    async def slash(self, command: str, options: dict[str, Any] | None = None, *, user: User, guild: Guild,
                    channel: Channel, bypass_permissions: bool = False, locale: str = "en-US") -> FakeInteraction:
        """A member runs a slash command, e.g. ``slash("corpus article add", {"url": ...})``.

        The command must be registered (synced); options are typed from its registration, and the Discord client's
        own rules apply (required options, choices, lengths).  A command whose ``default_member_permissions`` the
        member lacks is refused here as the client would hide it, unless ``bypass_permissions`` (a server admin
        allowed it for everyone in Server Settings -> Integrations)."""
        path = command.split()
        cmd = self.find_command(path[0], 1, guild)
        perms = guild.permissions_in(user.id, channel)
        dmp = cmd.get("default_member_permissions")
        if dmp is not None and not bypass_permissions and (int(dmp) & perms) != int(dmp) and not perms & P.ADMINISTRATOR:
            raise PermissionError(f"/{command} is hidden from {user.username}: it needs permissions {dmp}")
        resolved: dict[str, dict[str, Any]] = {}
        node = cmd
        chain: list[dict[str, Any]] = []
        for part in path[1:]:
            sub = next((o for o in node.get("options") or [] if o["name"] == part and o["type"] in (1, 2)), None)
            if sub is None:
                raise LookupError(f"/{command}: no subcommand {part!r} under {node['name']!r}")
            chain.append(sub)
            node = sub
        if any(o["type"] in (1, 2) for o in node.get("options") or []):
            raise LookupError(f"/{command} is a group: name one of its subcommands")
        leaf_options = self._build_options(node, options or {}, guild, resolved)
        for sub in reversed(chain):
            leaf_options = [{"type": sub["type"], "name": sub["name"], "options": leaf_options}]
        data: dict[str, Any] = {"id": cmd["id"], "name": cmd["name"], "type": 1}
        if leaf_options:
            data["options"] = leaf_options
        if resolved:
            data["resolved"] = resolved
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return await self._dispatch_interaction(self._interaction_base(2, data, user, guild, channel, locale=locale))

    def _build_options(self, node: dict[str, Any], values: dict[str, Any], guild: Guild,
                       resolved: dict[str, dict[str, Any]], *, focused: str | None = None) -> list[dict[str, Any]]:
        schema = {o["name"]: o for o in node.get("options") or []}
        for name in values:
            if name not in schema:
                raise LookupError(f"/{node['name']} has no option {name!r}; it has {sorted(schema)}")
        out = []
        for name, o in schema.items():
            if name not in values:
                if o.get("required") and focused is None:
                    raise ValueError(f"option {name!r} is required")
                continue
            v = values[name]
            t = o["type"]
            if focused is not None and name == focused:
                out.append({"type": t, "name": name, "value": str(v), "focused": True})
                continue
            if o.get("choices") and v not in [c["value"] for c in o["choices"]]:
                raise ValueError(f"option {name!r} must be one of the choices {[c['value'] for c in o['choices']]}")
            if t == 3:
                v = str(v)
                if not o.get("min_length", 0) <= len(v) <= o.get("max_length", 6000):
                    raise ValueError(f"option {name!r}: length {len(v)} outside {o.get('min_length', 0)}-"
                                     f"{o.get('max_length', 6000)} (the client would not send it)")
            elif t == 4:
                v = int(v)
            elif t == 5:
                v = bool(v)
            elif t == 10:
                v = float(v)
            elif t in (6, 9) and isinstance(v, User):
                resolved.setdefault("users", {})[str(v.id)] = v.to_dict()
                if v.id in guild.members:
                    resolved.setdefault("members", {})[str(v.id)] = guild.members[v.id].to_dict(with_user=False) | {
                        "permissions": str(guild.base_permissions(v.id))}
                v = str(v.id)
            elif t in (8, 9) and isinstance(v, Role):
                resolved.setdefault("roles", {})[str(v.id)] = v.to_dict()
                v = str(v.id)
            elif t == 7 and isinstance(v, Channel):
                resolved.setdefault("channels", {})[str(v.id)] = {
                    "id": str(v.id), "name": v.name, "type": v.type, "permissions": str(P.ALL), "guild_id": str(v.guild_id)}
                v = str(v.id)
            elif t == 11:
                att = self._store_attachment(v)
                resolved.setdefault("attachments", {})[att["id"]] = att
                v = att["id"]
            if t in (4, 10) and (("min_value" in o and v < o["min_value"]) or ("max_value" in o and v > o["max_value"])):
                raise ValueError(f"option {name!r}: {v} outside {o.get('min_value')}-{o.get('max_value')}")
            out.append({"type": t, "name": name, "value": v})
        return out

    def _store_attachment(self, value: Any) -> dict[str, Any]:
        """An uploaded file for an attachment option: ``(filename, bytes)``; served by the fake's CDN route."""
        filename, data = value
        if isinstance(data, str):
            data = data.encode()
        aid = snowflake()
        url = f"{self.base_url}/attachments/0/{aid}/{filename}"
        att = {"id": str(aid), "filename": filename, "size": len(data), "url": url, "proxy_url": url,
               "content_type": "application/json" if filename.endswith(".json") else "application/octet-stream",
               "ephemeral": True}
        self._attachments[str(aid)] = data
        return att

    async def _attachment(self, request: web.Request) -> web.Response:
        data = self._attachments.get(request.match_info["attachment_id"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data)

    async def message_command(self, name: str, message: dict[str, Any], *, user: User, guild: Guild,
                              bypass_permissions: bool = False) -> FakeInteraction:
        """A member uses a message context menu ("Apps" -> ``name``) on ``message``."""
        cmd = self.find_command(name, 3, guild)
        channel = self.channels[int(message["channel_id"])]
        dmp = cmd.get("default_member_permissions")
        perms = guild.permissions_in(user.id, channel)
        if dmp is not None and not bypass_permissions and (int(dmp) & perms) != int(dmp):
            raise PermissionError(f"{name!r} is hidden from {user.username}")
        resolved_msg = {k: v for k, v in message.items() if k not in ("member", "guild_id", "nonce")}
        data: dict[str, Any] = {"id": cmd["id"], "name": cmd["name"], "type": 3, "target_id": message["id"],
                                "resolved": {"messages": {message["id"]: resolved_msg}}}
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return await self._dispatch_interaction(self._interaction_base(2, data, user, guild, channel))

    async def autocomplete(self, command: str, options: dict[str, Any], focused: str, *, user: User, guild: Guild,
                           channel: Channel) -> FakeInteraction:
        path = command.split()
        cmd = self.find_command(path[0], 1, guild)
        node, chain = cmd, []
        for part in path[1:]:
            node = next(o for o in node.get("options") or [] if o["name"] == part)
            chain.append(node)
        opts = self._build_options(node, options, guild, {}, focused=focused)
        for sub in reversed(chain):
            opts = [{"type": sub["type"], "name": sub["name"], "options": opts}]
        data = {"id": cmd["id"], "name": cmd["name"], "type": 1, "options": opts}
        return await self._dispatch_interaction(self._interaction_base(4, data, user, guild, channel))

    async def click(self, message: SentMessage | dict[str, Any], custom_id: str | None = None, *, label: str | None = None,
                    user: User, guild: Guild) -> FakeInteraction:
        """A member presses a button (by ``custom_id`` or ``label``) on a message the bot sent."""
        msg = message.data if isinstance(message, SentMessage) else message
        button = None
        for b in SentMessage(msg, "channel").buttons():
            if (custom_id is not None and b.get("custom_id") == custom_id) or (label is not None and b.get("label") == label):
                button = b
        if button is None:
            raise LookupError(f"no button {custom_id or label!r} on message {msg['id']}")
        if button.get("disabled"):
            raise PermissionError(f"button {custom_id or label!r} is disabled")
        if msg.get("flags", 0) & Flags.EPHEMERAL and (msg.get("interaction_metadata") or {}).get("user", {}).get("id") != str(user.id):
            raise PermissionError(f"{user.username} cannot see an ephemeral message meant for someone else")
        channel = self.channels[int(msg["channel_id"])]
        data = {"custom_id": button["custom_id"], "component_type": 2}
        return await self._dispatch_interaction(self._interaction_base(3, data, user, guild, channel, message=msg))

    async def submit_modal(self, ix: FakeInteraction, values: dict[str, str], *, user: User, guild: Guild) -> FakeInteraction:
        """A member fills in and submits the modal that ``ix`` was answered with."""
        modal = ix.modal
        if modal is None:
            raise LookupError(f"{ix} was not answered with a modal")
        rows = []
        known = set()
        for c in modal.get("components") or []:
            inner = c.get("components") or ([c["component"]] if c.get("component") else [])
            for ti in inner:
                if ti.get("type") == 4:
                    known.add(ti["custom_id"])
                    v = values.get(ti["custom_id"], ti.get("value") or "")
                    if ti.get("required", True) and not v:
                        raise ValueError(f"modal field {ti['custom_id']!r} is required")
                    if c.get("type") == 18:
                        rows.append({"type": 18, "id": c.get("id", 0), "component": {"type": 4, "custom_id": ti["custom_id"], "value": v}})
                    else:
                        rows.append({"type": 1, "components": [{"type": 4, "custom_id": ti["custom_id"], "value": v}]})
        unknown = set(values) - known
        if unknown:
            raise LookupError(f"the modal has no fields {sorted(unknown)}; it has {sorted(known)}")
        channel = self.channels[ix.channel_id or 0]
        data = {"custom_id": modal["custom_id"], "components": rows}
        return await self._dispatch_interaction(self._interaction_base(5, data, user, guild, channel))

    async def answer(self, ix: FakeInteraction, timeout: float = 5.0, *, count: int = 1) -> list[SentMessage]:
        """Wait until the interaction produced ``count`` visible messages (response and follow-ups); return them."""
        return await self.wait_for(lambda: len(ix.messages()) >= count and ix.messages(), timeout,
                                   f"{count} visible answer(s) to {ix}")

    async def response(self, ix: FakeInteraction, timeout: float = 5.0) -> FakeInteraction:
        """Wait until the interaction was acknowledged (any callback type)."""
        await self.wait_for(lambda: ix.acknowledged, timeout, f"a response to {ix}")
        return ix

    # -- REST -----------------------------------------------------------------------------------------------------

    def _register_routes(self) -> None:
        r = self._route
        r("GET", "/users/@me", self._get_me)
        r("GET", "/users/{user_id}", self._get_user)
        r("GET", "/oauth2/applications/@me", self._get_application)
        r("GET", "/applications/@me", self._get_application)
        r("GET", "/gateway", self._get_gateway)
        r("GET", "/gateway/bot", self._get_gateway_bot)
        r("GET", "/applications/{application_id}/commands", self._get_commands)
        r("PUT", "/applications/{application_id}/commands", self._put_commands)
        r("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self._get_commands)
        r("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self._put_commands)
        r("GET", "/channels/{channel_id}", self._get_channel)
        r("POST", "/channels/{channel_id}/messages", self._create_message)
        r("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message)
        r("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message)
        r("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message)
        r("POST", "/channels/{channel_id}/typing", self._typing)
        r("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self._react)
        r("GET", "/guilds/{guild_id}", self._get_guild)
        r("GET", "/guilds/{guild_id}/roles", self._get_roles)
        r("GET", "/guilds/{guild_id}/channels", self._get_guild_channels)
        r("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member)
        r("POST", "/interactions/{interaction_id}/{token}/callback", self._callback)
        r("POST", "/webhooks/{application_id}/{token}", self._followup)
        r("GET", "/webhooks/{application_id}/{token}/messages/{message_id}", self._webhook_get)
        r("PATCH", "/webhooks/{application_id}/{token}/messages/{message_id}", self._webhook_edit)
        r("DELETE", "/webhooks/{application_id}/{token}/messages/{message_id}", self._webhook_delete)

    def _route(self, method: str, template: str, handler: Callable[..., Any]) -> None:
        pattern = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m[1]}>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
        self._routes.append((method, re.compile(f"^{pattern}$"), template, handler))

    async def _api(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        loop = asyncio.get_running_loop()
        rec = Request(request.method, path, "", dict(request.query), None, [], loop.time())
        self.requests.append(rec)
        try:
            if request.match_info["version"] != str(API_VERSION):
                raise DiscordError(404, 0, "404: Not Found", kind="wrong_api_version")
            rec.json, rec.files = await self._read_body(request)
            for method, pattern, template, handler in self._routes:
                m = pattern.match(path)
                if m and method == request.method:
                    rec.route = template
                    params = {k: unquote(v) for k, v in m.groupdict().items()}
                    if not template.startswith(("/interactions/", "/webhooks/")):
                        auth = request.headers.get("Authorization")
                        if auth != f"Bot {self.token}":
                            raise DiscordError(401, 0, "401: Unauthorized")
                    status, body = await handler(rec, **params)
                    break
            else:
                rec.route = path
                allowed = [mth for mth, pattern, _, _ in self._routes if pattern.match(path)]
                if allowed:
                    raise DiscordError(405, 0, "405: Method Not Allowed", kind="method_not_allowed")
                raise DiscordError(404, 0, "404: Not Found", kind="unknown_route")
        except DiscordError as exc:
            status, body = exc.status, exc.body
            self.violations.append(Violation(exc.kind, json.dumps(exc.body)[:2000], rec))
        except Exception as exc:  # a bug in the fake: make it loud
            status, body = 500, {"message": "500: Internal Server Error", "code": 0}
            self.violations.append(Violation("fake_error", f"{type(exc).__name__}: {exc}", rec))
        rec.status, rec.response = status, body
        self._notify()
        if status == 204 or body is None:
            return web.Response(status=204)
        return web.Response(status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile]]:
        if not request.can_read_body:
            return None, []
        ctype = request.content_type
        if ctype == "multipart/form-data":
            payload, files = None, []
            reader = await request.multipart()
            async for part in reader:  # type: ignore[union-attr]
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                else:
                    files.append(UploadedFile(part.name or "", part.filename, part.headers.get("Content-Type"),
                                              bytes(await part.read())))
            return payload, files
        raw = await request.read()
        if not raw:
            return None, []
        if ctype != "application/json":
            raise invalid_form({"_errors": [{"code": "CONTENT_TYPE_INVALID", "message": f"Expected JSON, got {ctype}"}]})
        try:
            return json.loads(raw), []
        except ValueError:
            raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None

    # -- REST handlers --------------------------------------------------------------------------------------------

    async def _get_me(self, rec: Request) -> tuple[int, Any]:
        return 200, self.bot_user.to_dict() | {"verified": True, "mfa_enabled": False, "locale": "en-US", "email": None,
                                               "bio": ""}

    async def _get_user(self, rec: Request, user_id: str) -> tuple[int, Any]:
        u = self.users.get(int(user_id)) if user_id.isdigit() else None
        if u is None:
            raise DiscordError(404, 10013, "Unknown User")
        return 200, u.to_dict()

    async def _get_application(self, rec: Request) -> tuple[int, Any]:
        return 200, {
            "id": str(self.application_id), "name": self.app_name, "icon": None, "description": "", "summary": "",
            "type": None, "hook": True, "bot_public": True, "bot_require_code_grant": False,
            "verify_key": secrets.token_hex(32), "owner": self.owner.to_dict(), "flags": self._app_flags(),
            "team": None, "bot": self.bot_user.to_dict(), "redirect_uris": [], "interactions_endpoint_url": None,
            "approximate_guild_count": len(self.guilds), "tags": [], "integration_types_config": {"0": {}},
            "install_params": {"scopes": ["bot", "applications.commands"], "permissions": str(P.BOT_DEFAULT)},
        }

    async def _get_gateway(self, rec: Request) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    async def _get_gateway_bot(self, rec: Request) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url, "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}}

    def _check_app(self, application_id: str) -> None:
        if application_id != str(self.application_id):
            raise DiscordError(403, 50001, "Missing Access")

    async def _get_commands(self, rec: Request, application_id: str, guild_id: str | None = None) -> tuple[int, Any]:
        self._check_app(application_id)
        return 200, self.commands.get(int(guild_id) if guild_id else None, [])

    async def _put_commands(self, rec: Request, application_id: str, guild_id: str | None = None) -> tuple[int, Any]:
        self._check_app(application_id)
        gid = int(guild_id) if guild_id else None
        if gid is not None and gid not in self.guilds:
            raise DiscordError(403, 50001, "Missing Access")
        errs = validate_commands(rec.json, guild=gid is not None)
        if errs:
            raise invalid_form(errs.tree)
        old = {(c["name"], c.get("type", 1)): c for c in self.commands.get(gid, [])}
        out = []
        for c in rec.json:
            prev = old.get((c["name"], c.get("type", 1)))
            cmd = {
                "id": prev["id"] if prev else str(snowflake()), "application_id": str(self.application_id),
                "version": str(snowflake()), "type": c.get("type", 1), "name": c["name"],
                "name_localizations": c.get("name_localizations"), "description": c.get("description", ""),
                "description_localizations": c.get("description_localizations"),
                # Discord answers permissions as strings whatever the bot sent (discord.py sends an int).
                "default_member_permissions": None if c.get("default_member_permissions") is None
                else str(c["default_member_permissions"]),
                "dm_permission": c.get("dm_permission", True), "nsfw": c.get("nsfw", False),
                "contexts": c.get("contexts"), "integration_types": c.get("integration_types", [0]),
            }
            if c.get("options"):
                cmd["options"] = c["options"]
            if gid is not None:
                cmd["guild_id"] = str(gid)
            out.append(cmd)
        self.commands[gid] = out
        return 200, out

    def _get_channel_obj(self, channel_id: str) -> Channel:
        ch = self.channels.get(int(channel_id)) if channel_id.isdigit() else None
        if ch is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return ch

    def _bot_can(self, ch: Channel, perm: int) -> bool:
        return bool(self.guilds[ch.guild_id].permissions_in(self.bot_user.id, ch) & perm)

    async def _get_channel(self, rec: Request, channel_id: str) -> tuple[int, Any]:
        ch = self._get_channel_obj(channel_id)
        if not self._bot_can(ch, P.VIEW_CHANNEL):
            raise DiscordError(403, 50001, "Missing Access")
        return 200, ch.to_dict()

    def _pings_check(self, rec: Request, body: dict[str, Any], *, base: list[str | int] | None = None) -> None:
        pings = would_ping(body.get("content"), body.get("allowed_mentions"))
        if pings:
            errs = Errors()
            errs.add([*(base or []), "allowed_mentions"], "UNSUPPRESSED_MENTION",
                     f"This message would ping {', '.join(pings)}: send allowed_mentions with parse=[]")
            exc = invalid_form(errs.tree)
            exc.kind = "unsuppressed_mention"
            raise exc

    def _new_bot_message(self, channel_id: int, body: dict[str, Any], files: list[UploadedFile], *, mtype: int = 0,
                         interaction: FakeInteraction | None = None, flags: int | None = None) -> dict[str, Any]:
        ch = self.channels.get(channel_id)
        attachments = self._attachments_for(channel_id, body, files, [])
        msg: dict[str, Any] = {
            "id": str(snowflake()), "channel_id": str(channel_id), "author": self.bot_user.to_dict(),
            "content": body.get("content") or "", "timestamp": iso_now(), "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": attachments,
            "embeds": [self._stored_embed(e) for e in body.get("embeds") or []], "pinned": False, "type": mtype,
            "flags": (body.get("flags") or 0) if flags is None else flags, "components": self._stored_components(body.get("components") or []),
            "application_id": str(self.application_id) if interaction else None,
        }
        if ch is not None:
            msg["guild_id"] = str(ch.guild_id)
        if interaction is not None:
            p = interaction.payload
            user = p["member"]["user"]
            msg["interaction_metadata"] = {"id": str(interaction.id), "type": interaction.type, "user": user,
                                           "authorizing_integration_owners": p["authorizing_integration_owners"]}
            if interaction.type == 2:
                msg["interaction"] = {"id": str(interaction.id), "type": 2, "name": p["data"]["name"], "user": user}
        ref = body.get("message_reference")
        if ref:
            target = self.messages.get(int(ref.get("message_id") or 0))
            msg["message_reference"] = {"type": ref.get("type", 0), "message_id": str(ref["message_id"]),
                                        "channel_id": str(ref.get("channel_id") or channel_id)}
            if ch is not None:
                msg["message_reference"]["guild_id"] = str(ch.guild_id)
            msg["referenced_message"] = target
            msg["type"] = 19
        return msg

    def _attachments_for(self, channel_id: int, body: dict[str, Any], files: list[UploadedFile],
                         existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The message's attachments: uploads (``files[n]``, described by ``{"id": n}`` entries of ``attachments``)
        stored and served by the fake, plus existing attachments an edit keeps by id."""
        meta = {str(a.get("id")): a for a in body.get("attachments") or []}
        keep = [a for a in existing if str(a["id"]) in meta] if "attachments" in body else list(existing)
        out = list(keep)
        for f in files:
            n = f.field.removeprefix("files[").removesuffix("]")
            aid = snowflake()
            url = f"{self.base_url}/attachments/{channel_id}/{aid}/{f.filename}"
            self._attachments[str(aid)] = f.data
            att = {"id": str(aid), "filename": f.filename, "size": len(f.data), "url": url, "proxy_url": url,
                   "content_type": f.content_type}
            if meta.get(n, {}).get("description"):
                att["description"] = meta[n]["description"]
            out.append(att)
        return out

    @staticmethod
    def _stored_embed(e: dict[str, Any]) -> dict[str, Any]:
        e = dict(e)
        e.setdefault("type", "rich")
        e.setdefault("content_scan_version", 0)
        return e

    @staticmethod
    def _stored_components(cs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        counter = itertools.count(1)

        def walk(c: dict[str, Any]) -> dict[str, Any]:
            c = dict(c)
            c.setdefault("id", next(counter))
            if "components" in c:
                c["components"] = [walk(x) for x in c["components"]]
            return c

        return [walk(c) for c in cs]

    def _record_sent(self, msg: dict[str, Any], via: str, interaction: FakeInteraction | None = None) -> SentMessage:
        self.messages[int(msg["id"])] = msg
        sm = SentMessage(msg, via, interaction)
        self.sent.append(sm)
        if not sm.ephemeral and not sm.loading and msg.get("guild_id"):
            self._spawn(self._echo("MESSAGE_CREATE", msg))
        return sm

    async def _echo(self, t: str, msg: dict[str, Any]) -> None:
        """Discord tells the bot about its own messages too (it must ignore them)."""
        if self.session is not None:
            m = dict(msg)
            ch = self.channels.get(int(m["channel_id"]))
            if ch is not None:
                m["member"] = self.guilds[ch.guild_id].members[self.bot_user.id].to_dict(with_user=False)
            await self.dispatch(t, m)

    async def _create_message(self, rec: Request, channel_id: str) -> tuple[int, Any]:
        ch = self._get_channel_obj(channel_id)
        if not self._bot_can(ch, P.VIEW_CHANNEL):
            raise DiscordError(403, 50001, "Missing Access")
        if not self._bot_can(ch, P.SEND_MESSAGES):
            raise DiscordError(403, 50013, "Missing Permissions")
        body = rec.json or {}
        errs, empty = validate_message_body(body, has_files=bool(rec.files))
        if errs:
            raise invalid_form(errs.tree)
        if empty:
            raise DiscordError(400, 50006, "Cannot send an empty message")
        if body.get("embeds") and not self._bot_can(ch, P.EMBED_LINKS):
            self.violations.append(Violation("embeds_hidden", "the bot lacks Embed Links: Discord drops the embeds", rec))
        if rec.files and not self._bot_can(ch, P.ATTACH_FILES):
            raise DiscordError(403, 50013, "Missing Permissions")
        ref = body.get("message_reference")
        if ref:
            target = self.messages.get(int(ref.get("message_id") or 0))
            if target is None or target["channel_id"] != str(ref.get("channel_id") or ch.id):
                if ref.get("fail_if_not_exists", True):
                    raise invalid_form({"message_reference": {"_errors": [
                        {"code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "message": "Unknown message"}]}})
                body = {k: v for k, v in body.items() if k != "message_reference"}
            elif not self._bot_can(ch, P.READ_MESSAGE_HISTORY):
                raise DiscordError(403, 50013, "Missing Permissions")
        self._pings_check(rec, body)
        msg = self._new_bot_message(ch.id, body, rec.files)
        sm = self._record_sent(msg, "channel")
        am = body.get("allowed_mentions")
        if body.get("message_reference") and (am is None or am.get("replied_user")):
            self.reply_pings.append(sm)  # Discord notifies the author of the message replied to
        return 200, msg

    def _find_sent(self, message_id: int) -> SentMessage | None:
        return next((m for m in self.sent if m.id == message_id and not m.deleted), None)

    async def _get_message(self, rec: Request, channel_id: str, message_id: str) -> tuple[int, Any]:
        ch = self._get_channel_obj(channel_id)
        if not self._bot_can(ch, P.READ_MESSAGE_HISTORY):
            raise DiscordError(403, 50013, "Missing Permissions")
        msg = self.messages.get(int(message_id))
        if msg is None or msg["channel_id"] != channel_id or msg.get("_deleted") or msg["flags"] & Flags.EPHEMERAL:
            raise DiscordError(404, 10008, "Unknown Message")
        return 200, {k: v for k, v in msg.items() if k != "_deleted"}

    async def _edit_message(self, rec: Request, channel_id: str, message_id: str) -> tuple[int, Any]:
        self._get_channel_obj(channel_id)
        sm = self._find_sent(int(message_id))
        if sm is None or sm.channel_id != int(channel_id) or sm.ephemeral:
            raise DiscordError(404, 10008, "Unknown Message")
        return 200, self._apply_edit(rec, sm, rec.json or {})

    def _apply_edit(self, rec: Request, sm: SentMessage, body: dict[str, Any], *, base: list[str | int] | None = None,
                    keep_flags: bool = True) -> dict[str, Any]:
        errs, _ = validate_message_body(body, base=base, create=False, ephemeral_ok=sm.ephemeral)
        if errs:
            raise invalid_form(errs.tree)
        self._pings_check(rec, body, base=base)
        new = dict(sm.data)
        for key in ("content", "embeds", "components"):
            if key in body and body[key] is not None:
                new[key] = body[key]
        new["attachments"] = self._attachments_for(sm.channel_id, body, rec.files, sm.data.get("attachments") or [])
        if "embeds" in body and body["embeds"] is not None:
            new["embeds"] = [self._stored_embed(e) for e in body["embeds"]]
        if "components" in body and body["components"] is not None:
            new["components"] = self._stored_components(body["components"])
        if "flags" in body and body["flags"] is not None:
            new["flags"] = (sm.flags & (Flags.EPHEMERAL | Flags.IS_COMPONENTS_V2)) | (body["flags"] & Flags.SUPPRESS_EMBEDS)
        if not (new.get("content") or new.get("embeds") or new.get("components") or new.get("attachments")):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        was_loading = sm.loading
        new["flags"] = new.get("flags", 0) & ~Flags.LOADING
        if not was_loading:
            new["edited_timestamp"] = iso_now()
        sm.history.append(sm.data)
        sm.data = new
        self.messages[sm.id] = new
        if not sm.ephemeral and new.get("guild_id"):
            self._spawn(self._echo("MESSAGE_CREATE" if was_loading else "MESSAGE_UPDATE", new))
        return new

    async def _delete_message(self, rec: Request, channel_id: str, message_id: str) -> tuple[int, Any]:
        ch = self._get_channel_obj(channel_id)
        msg = self.messages.get(int(message_id))
        if msg is None or msg["channel_id"] != channel_id or msg.get("_deleted"):
            raise DiscordError(404, 10008, "Unknown Message")
        sm = self._find_sent(int(message_id))
        if sm is None and not self._bot_can(ch, P.MANAGE_MESSAGES):
            raise DiscordError(403, 50013, "Missing Permissions")
        msg["_deleted"] = True
        if sm is not None:
            sm.deleted = True
        return 204, None

    async def _typing(self, rec: Request, channel_id: str) -> tuple[int, Any]:
        ch = self._get_channel_obj(channel_id)
        if not self._bot_can(ch, P.SEND_MESSAGES):
            raise DiscordError(403, 50013, "Missing Permissions")
        self.typing.append(ch.id)
        return 204, None

    async def _react(self, rec: Request, channel_id: str, message_id: str, emoji: str) -> tuple[int, Any]:
        ch = self._get_channel_obj(channel_id)
        if not self._bot_can(ch, P.ADD_REACTIONS | P.READ_MESSAGE_HISTORY):
            raise DiscordError(403, 50013, "Missing Permissions")
        if int(message_id) not in self.messages:
            raise DiscordError(404, 10008, "Unknown Message")
        self.reactions.append((ch.id, int(message_id), emoji))
        return 204, None

    def _get_guild_obj(self, guild_id: str) -> Guild:
        g = self.guilds.get(int(guild_id)) if guild_id.isdigit() else None
        if g is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        return g

    async def _get_guild(self, rec: Request, guild_id: str) -> tuple[int, Any]:
        g = self._get_guild_obj(guild_id)
        data = g.to_dict(members=False)
        for k in ("joined_at", "large", "unavailable", "member_count", "voice_states", "members", "channels",
                  "threads", "presences", "stage_instances", "guild_scheduled_events", "soundboard_sounds", "lazy"):
            data.pop(k, None)
        return 200, data

    async def _get_roles(self, rec: Request, guild_id: str) -> tuple[int, Any]:
        return 200, [r.to_dict() for r in self._get_guild_obj(guild_id).roles.values()]

    async def _get_guild_channels(self, rec: Request, guild_id: str) -> tuple[int, Any]:
        return 200, [c.to_dict() for c in self._get_guild_obj(guild_id).channels.values()]

    async def _get_member(self, rec: Request, guild_id: str, user_id: str) -> tuple[int, Any]:
        g = self._get_guild_obj(guild_id)
        m = g.members.get(int(user_id)) if user_id.isdigit() else None
        if m is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return 200, m.to_dict()

    # -- interactions ---------------------------------------------------------------------------------------------

    def _interaction_for(self, interaction_id: str, token: str) -> FakeInteraction:
        ix = self.interactions.get(int(interaction_id)) if interaction_id.isdigit() else None
        if ix is None or ix.token != token:
            raise DiscordError(404, 10062, "Unknown interaction")
        return ix

    async def _callback(self, rec: Request, interaction_id: str, token: str) -> tuple[int, Any]:
        ix = self._interaction_for(interaction_id, token)
        try:
            return await self._callback_checked(rec, ix)
        except DiscordError:
            ix.rejected.append(rec)
            raise

    async def _callback_checked(self, rec: Request, ix: FakeInteraction) -> tuple[int, Any]:
        loop = asyncio.get_running_loop()
        late = loop.time() - ix.created
        if ix.acknowledged:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if late > self.interaction_window:
            exc = DiscordError(404, 10062, "Unknown interaction")
            exc.kind = "interaction_timeout"
            exc.body["_fake_detail"] = f"callback {late:.2f}s after the interaction (limit {self.interaction_window}s)"
            raise exc
        body = rec.json or {}
        t = body.get("type")
        data = body.get("data") or {}
        valid_types = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}[ix.type]
        if t not in valid_types:
            raise invalid_form({"type": {"_errors": [{"code": "INTERACTION_RESPONSE_TYPE_INVALID",
                                                      "message": f"Interaction response type {t} is not valid for an "
                                                                 f"interaction of type {ix.type}"}]}})
        if t == 6 and ix.type == 5 and not ix.payload.get("message"):
            raise invalid_form({"type": {"_errors": [{"code": "INTERACTION_RESPONSE_TYPE_INVALID",
                                                      "message": "No message to update"}]}})
        resource: dict[str, Any] | None = None
        if t in (4, 7):
            errs, empty = validate_message_body(data, base=["data"], create=(t == 4), ephemeral_ok=(t == 4),
                                                has_files=bool(rec.files))
            if errs:
                raise invalid_form(errs.tree)
            if empty:
                raise DiscordError(400, 50006, "Cannot send an empty message")
            self._pings_check(rec, data, base=["data"])
        elif t == 5:
            flags = data.get("flags") or 0
            if flags & ~Flags.EPHEMERAL:
                raise invalid_form({"data": {"flags": {"_errors": [{"code": "MESSAGE_INVALID_FLAGS",
                                                                    "message": "Only EPHEMERAL may be set"}]}}})
        elif t == 8:
            errs = Errors()
            choices = data.get("choices")
            if not isinstance(choices, list):
                errs.add(["data", "choices"], "BASE_TYPE_REQUIRED", "This field is required")
            else:
                errs.max_len(["data", "choices"], choices, 25)
                for k, ch in enumerate(choices):
                    errs.between(["data", "choices", k, "name"], ch.get("name"), 1, 100)
                    if isinstance(ch.get("value"), str):
                        errs.max_len(["data", "choices", k, "value"], ch["value"], 100)
            if errs:
                raise invalid_form(errs.tree)
        elif t == 9:
            errs = Errors()
            errs.between(["data", "title"], data.get("title"), 1, 45)
            errs.between(["data", "custom_id"], data.get("custom_id"), 1, 100)
            comps = data.get("components") or []
            errs.between(["data", "components"], comps, 1, 5)
            validate_components(errs, ["data", "components"], comps, v2=False, modal=True)
            if errs:
                raise invalid_form(errs.tree)

        ix.response_type, ix.response_at, ix.response_data = t, loop.time(), data
        if t == 4:
            msg = self._new_bot_message(ix.channel_id or 0, data, rec.files, mtype=20 if ix.type == 2 else 0,
                                        interaction=ix)
            ix.original = self._record_sent(msg, "interaction", ix)
            resource = {"type": 4, "message": msg}
        elif t == 5:
            flags = (data.get("flags") or 0) | Flags.LOADING
            msg = self._new_bot_message(ix.channel_id or 0, {"content": ""}, [], mtype=20 if ix.type == 2 else 0,
                                        interaction=ix, flags=flags)
            ix.original = self._record_sent(msg, "interaction", ix)
            resource = {"type": 5, "message": msg}
        elif t == 7:
            target = self._find_sent(int(ix.payload["message"]["id"]))
            if target is None:
                raise DiscordError(404, 10008, "Unknown Message")
            ix.updated_message = target
            self._apply_edit(rec, target, data, base=["data"])
            resource = {"type": 7, "message": target.data}
        elif t == 6:
            ix.updated_message = self._find_sent(int(ix.payload["message"]["id"]))
        out: dict[str, Any] = {"interaction": {
            "id": str(ix.id), "type": ix.type,
            "response_message_loading": t == 5,
            "response_message_ephemeral": bool((data.get("flags") or 0) & Flags.EPHEMERAL),
        }}
        if ix.original is not None:
            out["interaction"]["response_message_id"] = str(ix.original.id)
        if resource is not None:
            out["resource"] = resource
        if rec.query.get("with_response") in ("1", "true", "True"):
            return 200, out
        return 204, None

    def _webhook_interaction(self, application_id: str, token: str) -> FakeInteraction:
        if application_id != str(self.application_id):
            raise DiscordError(404, 10015, "Unknown Webhook")
        ix = self._by_token.get(token)
        loop = asyncio.get_running_loop()
        if ix is None or loop.time() - ix.created > self.token_lifetime:
            raise DiscordError(401, 50027, "Invalid Webhook Token", kind="invalid_webhook_token")
        if not ix.acknowledged:
            raise DiscordError(404, 10015, "Unknown Webhook")
        return ix

    def _webhook_message(self, ix: FakeInteraction, message_id: str) -> SentMessage:
        if message_id == "@original":
            sm = ix.original or ix.updated_message
        else:
            sm = next((m for m in [ix.original, *ix.followups] if m is not None and str(m.id) == message_id), None)
        if sm is None or sm.deleted:
            raise DiscordError(404, 10008, "Unknown Message")
        return sm

    async def _followup(self, rec: Request, application_id: str, token: str) -> tuple[int, Any]:
        ix = self._webhook_interaction(application_id, token)
        body = rec.json or {}
        errs, empty = validate_message_body(body, ephemeral_ok=True, has_files=bool(rec.files))
        if errs:
            raise invalid_form(errs.tree)
        if empty:
            raise DiscordError(400, 50006, "Cannot send an empty message")
        self._pings_check(rec, body)
        if ix.original is not None and ix.original.loading and not ix.original.deleted:
            # The first follow-up after a deferral replaces the "thinking…" message; its visibility was set by the
            # deferral (an ephemeral flag on the follow-up does not change it).
            keep = ix.original.flags & Flags.EPHEMERAL
            self._apply_edit(rec, ix.original, {k: v for k, v in body.items() if k != "flags"})
            ix.original.data["flags"] = (ix.original.data.get("flags", 0) & ~Flags.EPHEMERAL) | keep
            msg = ix.original.data
        else:
            msg = self._new_bot_message(ix.channel_id or 0, body, rec.files, interaction=ix)
            ix.followups.append(self._record_sent(msg, "followup", ix))
        if rec.query.get("wait") in ("1", "true", "True"):
            return 200, msg
        return 204, None

    async def _webhook_get(self, rec: Request, application_id: str, token: str, message_id: str) -> tuple[int, Any]:
        ix = self._webhook_interaction(application_id, token)
        return 200, self._webhook_message(ix, message_id).data

    async def _webhook_edit(self, rec: Request, application_id: str, token: str, message_id: str) -> tuple[int, Any]:
        ix = self._webhook_interaction(application_id, token)
        sm = self._webhook_message(ix, message_id)
        return 200, self._apply_edit(rec, sm, rec.json or {})

    async def _webhook_delete(self, rec: Request, application_id: str, token: str, message_id: str) -> tuple[int, Any]:
        ix = self._webhook_interaction(application_id, token)
        sm = self._webhook_message(ix, message_id)
        sm.deleted = True
        sm.data["_deleted"] = True
        return 204, None
