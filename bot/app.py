"""The Discord application: the bot, its command tree, the moderator check, and the entry points the CLI calls.

- ``CrosscheckBot.setup_hook`` opens the corpus (seeding a new database), builds the ``Checker`` and loads the cogs.
  Commands are never synced on start: ``crosscheck sync`` (``sync_commands``) does it on purpose.
- ``CrosscheckTree.interaction_check`` ignores bots; ``CrosscheckTree.on_error`` turns every failure into a clear
  ephemeral message (``error_message``); an unexpected one gets a short error id, logged with its traceback.
- ``moderator_only()`` is the one decorator every moderator command carries: it sets
  ``default_permissions(manage_guild=True)`` (a hint Discord shows, and server admins may widen) *and* checks in code
  that the member has Manage Server or the server's moderator role, in a server.
- Matching is CPU-bound: ``CrosscheckBot.check`` runs it in a worker thread, and ``check_for`` defers the interaction
  when the answer is not ready within ``defer_after`` seconds (Discord's deadline is 3).
"""

from __future__ import annotations

import asyncio
import gc
import contextlib
import logging
import secrets
import signal
import sqlite3
import subprocess
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Redactor
from bot.importers import ImportFileError
from bot.precompute import run_in_background
from bot.render import inert
from bot.service import MAX_CLAIM_CHARS, CheckInputError, Checker, load_reranker, validate_claim
from storage.corpus import Actor, Corpus, CorpusError
from storage.db import StorageError

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.report import Report

log = logging.getLogger("crosscheck.bot")

#: The cogs, loaded in this order by ``setup_hook``.
EXTENSIONS = ("cogs.checking", "cogs.corpus_admin", "cogs.autoreply")

#: Defer an interaction when its answer is not ready after this many seconds (Discord allows 3 for the first reply).
DEFER_AFTER = 2.0
#: Seconds between looks at the corpus version after the first precompute pass (bot/precompute.py): when it moved (a
#: moderator's change, or a command-line import beside the bot), another pass keeps the new articles' signals.  A look
#: is one indexed read; a pass with nothing to do costs a child process's start and 0.2 s at 100k stories.
PRECOMPUTE_EVERY = 30.0
#: Seconds between looks at a running pass when another one is wanted after it (a moderator's new article).
PRECOMPUTE_POLL = 1.0

#: What moderator commands need by default (a hint to Discord; the code checks it too).
MODERATOR_PERMISSIONS = discord.Permissions(manage_guild=True)

#: How long the buttons of an answer work (an interaction's token lasts 15 minutes; edits need it).
VIEW_TIMEOUT = 600.0
#: Answers whose buttons work at once (each holds its pages and its interaction in memory until it stops); past it
#: the oldest stops early, as if it had timed out.
MAX_LIVE_VIEWS = 1_000


class UserError(Exception):
    """A failure the user can fix; the message is shown to them as is (ephemeral)."""


class NotModerator(app_commands.CheckFailure):
    """The member is not a moderator of this server (Manage Server, or the server's moderator role)."""

    def __init__(self, role_id: int | None = None):
        self.role_id = role_id
        who = "the Manage Server permission"
        if role_id:
            who += f" or the server's moderator role (<@&{role_id}>)"
        super().__init__(f"Only moderators can do this: it needs {who}.")


# -- the moderator check ------------------------------------------------------------------------------------------


def member_has_role(member: discord.abc.User, role_id: int) -> bool:
    """Whether a member holds a role (by id), with or without the guild's roles cached."""
    if not isinstance(member, discord.Member):
        return False
    if member.get_role(role_id) is not None:
        return True
    return role_id in getattr(member, "_roles", ())


async def is_moderator(interaction: discord.Interaction) -> bool:
    """The check behind ``moderator_only``: in a server, Manage Server or the configured moderator role.

    ``interaction.permissions`` are the member's resolved permissions in the channel (an administrator has all), as
    Discord sent them with the interaction; whatever an admin did to the command's visibility, this still holds.
    """
    if interaction.guild_id is None or not isinstance(interaction.user, discord.Member):
        raise app_commands.NoPrivateMessage("This command works only in a server.")
    perms = interaction.permissions
    if perms.manage_guild or perms.administrator:
        return True
    client = interaction.client
    role_id = None
    if isinstance(client, CrosscheckBot):
        role_id = (await client.guild_settings(interaction.guild_id)).get("moderator_role_id")
    if role_id and member_has_role(interaction.user, int(role_id)):
        return True
    raise NotModerator(role_id)


def moderator_only():
    """Decorator for moderator commands: default permission Manage Server, server only, and the check in code.

    On a subcommand Discord ignores ``default_permissions`` and ``guild_only`` (its group carries them: see
    ``moderator_group``), but the check always runs.
    """

    def decorator(func: Any) -> Any:
        func = app_commands.default_permissions(MODERATOR_PERMISSIONS)(func)
        func = app_commands.guild_only()(func)
        return app_commands.check(is_moderator)(func)

    return decorator


def moderator_group(name: str, description: str) -> app_commands.Group:
    """A command group for moderators: hidden by default from members without Manage Server, server only.

    Its commands carry ``moderator_only()`` each (the check in code)."""
    return app_commands.Group(
        name=name, description=description, default_permissions=MODERATOR_PERMISSIONS, guild_only=True
    )


# -- errors -------------------------------------------------------------------------------------------------------


def _seconds(n: float) -> str:
    n = max(1, round(n))
    if n < 90:
        return f"{n} second{'s' if n != 1 else ''}"
    m = round(n / 60)
    return f"{m} minute{'s' if m != 1 else ''}"


def error_message(error: BaseException, *, context: str = "") -> str:
    """The message a user sees for a failure.  Unexpected errors are logged with their traceback and an id."""
    original = getattr(error, "original", None) or error
    if isinstance(error, app_commands.CommandOnCooldown):
        until = discord.utils.utcnow() + timedelta(seconds=error.retry_after)
        return (
            f"Slow down a little: you can do this again in {_seconds(error.retry_after)} "
            f"({discord.utils.format_dt(until, 'R')})."
        )
    if isinstance(error, NotModerator):
        return str(error)
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works only in a server."
    if isinstance(error, app_commands.MissingPermissions):
        return "You need the " + ", ".join(p.replace("_", " ").title() for p in error.missing_permissions) + " permission."
    if isinstance(error, app_commands.BotMissingPermissions):
        perms = ", ".join(p.replace("_", " ").replace("guild", "server").title() for p in error.missing_permissions)
        return f"I am missing the {perms} permission here; ask a server admin to grant it."
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        log.warning("out-of-date command %r; the operator should run `crosscheck sync`", getattr(error, "name", error))
        return "This command is out of date. Try again in a minute; if it persists, tell the bot's operator."
    if isinstance(error, app_commands.TransformerError):
        return f"That value is not valid here: {inert(str(error.value)[:100], markdown=False)!s}."
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use this command here."
    if isinstance(original, UserError | CheckInputError | CorpusError | ImportFileError):
        return inert(str(original), markdown=False)[:1900]
    if isinstance(original, discord.Forbidden):
        ref = _log_unexpected(original, context)
        return f"Discord refused that: I lack a permission in this channel or server (error id `{ref}`)."
    ref = _log_unexpected(original, context)
    return f"Something went wrong on my side and nothing was changed by it. Error id `{ref}` — give it to the bot's operator."


def _log_unexpected(error: BaseException, context: str) -> str:
    ref = secrets.token_hex(4)
    log.error("error %s in %s: %s", ref, context or "interaction", type(error).__name__,
              exc_info=(type(error), error, error.__traceback__))
    return ref


def _context(interaction: discord.Interaction) -> str:
    cmd = interaction.command
    name = cmd.qualified_name if cmd is not None else (interaction.data or {}).get("custom_id", "component")
    return f"{name!s} (guild {interaction.guild_id}, user {interaction.user.id if interaction.user else '?'})"


async def send_private(interaction: discord.Interaction, content: str | None = None, **kwargs: Any) -> None:
    """Answer privately: as the response, or as a follow-up once the interaction was answered or deferred.

    A public "thinking…" placeholder (``check_for`` deferred a public answer) is deleted first, so that a private
    answer or an error is not announced to everyone.  ``kwargs`` go to ``send_message`` / ``followup.send``
    (embed, view, file)."""
    if not interaction.response.is_done():
        await interaction.response.send_message(content, ephemeral=True, **kwargs)
        return
    if interaction.extras.get("deferred_public"):
        interaction.extras["deferred_public"] = False
        try:
            await interaction.delete_original_response()
        except discord.HTTPException:
            pass
    await interaction.followup.send(content, ephemeral=True, **kwargs)


async def send_ephemeral(interaction: discord.Interaction, content: str) -> None:
    """``send_private`` for messages that must not fail in turn (errors, refusals): a failure to deliver is logged."""
    try:
        await send_private(interaction, content)
    except discord.HTTPException:
        log.warning("could not deliver an error message for %s", _context(interaction), exc_info=True)


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    await send_ephemeral(interaction, error_message(error, context=_context(interaction)))


class CrosscheckTree(app_commands.CommandTree):
    """Ignores bots; turns every command failure into a clear ephemeral message."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        return not (interaction.user is not None and interaction.user.bot)

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        await report_error(interaction, error)


# -- live views ---------------------------------------------------------------------------------------------------


class LiveViews:
    """The views whose buttons still work (answers of /check, /story, /outlet), oldest first: at most ``limit`` of
    them, none older than ``ttl`` seconds.

    A view keeps its pages and its interaction in memory until it stops.  discord.py stops it after its timeout; a
    burst of checks could still hold thousands at once, so ``add`` ends the oldest ones early (buttons disabled, as
    on a timeout) past ``limit``, and any older than ``ttl`` (a view whose timeout never fired).  ``clock`` is
    injectable so tests can move time without sleeping."""

    def __init__(self, limit: int = MAX_LIVE_VIEWS, ttl: float = VIEW_TIMEOUT, clock: Any = time.monotonic):
        self.limit = limit
        self.ttl = ttl
        self.clock = clock
        self._views: OrderedDict[int, tuple[float, discord.ui.View]] = OrderedDict()
        self._ending: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._views)

    def __contains__(self, view: object) -> bool:
        return id(view) in self._views

    def add(self, view: discord.ui.View) -> None:
        """Track a view that was just sent; end the oldest ones past the limit or the age."""
        now = self.clock()
        self._views[id(view)] = (now, view)
        while self._views:
            started, oldest = next(iter(self._views.values()))
            if len(self._views) <= self.limit and now - started < self.ttl and not oldest.is_finished():
                break
            self._views.popitem(last=False)
            if not oldest.is_finished():
                self._end(oldest)

    def discard(self, view: discord.ui.View) -> None:
        """Forget a view that stopped (its ``on_timeout`` calls this)."""
        self._views.pop(id(view), None)

    def _end(self, view: discord.ui.View) -> None:
        view.stop()  # out of discord.py's view store: its pages can be freed
        task = asyncio.ensure_future(view.on_timeout())  # disable its buttons on the message
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)


# -- the bot ------------------------------------------------------------------------------------------------------


def make_intents() -> discord.Intents:
    """Default intents plus Message Content (privileged: switch it on in the developer portal), for auto-replies."""
    intents = discord.Intents.default()
    intents.message_content = True
    return intents


class CrosscheckBot(commands.Bot):
    """The bot.  ``corpus`` and ``checker`` exist after ``setup_hook``."""

    corpus: Corpus
    checker: Checker

    def __init__(
        self, settings: Settings, db_path: str | Path, *, extensions: tuple[str, ...] = EXTENSIONS, **options: Any
    ):
        # Crosscheck has no voice features: no warnings about voice libraries at every start.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=make_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=CrosscheckTree,
            help_command=None,
            **options,  # e.g. guild_ready_timeout for tests; anything discord.Client accepts
        )
        self.settings = settings
        self.db_path = Path(db_path)
        self.extension_names = extensions
        self.defer_after = DEFER_AFTER
        self._guild_settings: dict[int, dict[str, Any]] = {}
        self._feedback_given: OrderedDict[tuple[int, int], None] = OrderedDict()
        self.live_views = LiveViews()
        self._corpus_opened_here = False
        self._integrity_watch: asyncio.Task[None] | None = None
        self._precompute: subprocess.Popen[bytes] | None = None
        self._precompute_again: asyncio.Task[None] | None = None  # a pass asked for while one runs: after it
        self.exit_code = 0  # what run_bot returns once the bot has stopped (1: it stopped on a damaged database)
        self.precompute_every = PRECOMPUTE_EVERY
        self._checked = False  # the corpus passed its integrity check (or had none to pass)

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        from bot.cli import open_corpus

        if getattr(self, "corpus", None) is None:
            # The integrity check reads the whole file (3-5 s at 1M claims, ~40 s from a cold disk): it runs beside
            # the bot, which answers checks meanwhile and refuses changes until it has passed (Corpus.open).
            self.corpus = await open_corpus(self.db_path, check=self.settings.integrity_check, defer_check=True)
            self._corpus_opened_here = True
        reranker = await asyncio.to_thread(load_reranker, self.settings.rerank)
        self.checker = Checker(self.corpus.reader, reranker=reranker)
        # Build the matcher's in-memory index now, in a worker thread, not on the first message.
        index = await asyncio.to_thread(lambda: self.checker.matcher.index)
        # ...and its typo-correction structures while the bot connects (a check needing one would wait for them).
        index.warm_in_background()
        for name in self.extension_names:
            await self.load_extension(name)
        log.info("loaded %s; commands are synced with `crosscheck sync`, not on start", ", ".join(self.extension_names))
        # Everything loaded so far lives as long as the bot: move it out of the collector's way, so that full
        # collections under a burst of checks stay short (docs/reliability.md measured 58-136 ms pauses without).
        gc.collect()
        gc.freeze()
        if self._corpus_opened_here:  # (after the extensions: a failed check closes the bot, and with it the corpus)
            self._integrity_watch = asyncio.create_task(self._after_integrity_check(),
                                                        name="crosscheck-after-integrity-check")

    async def _after_integrity_check(self) -> None:
        """A damaged database stops the bot (exit code 1), as it does when the check runs before the start.  Once
        the check has passed, the articles' signals are kept in the background (bot/precompute.py)."""
        try:
            await self.corpus.verified()
        except StorageError as exc:
            log.critical("%s The bot stops.", exc)
            self.exit_code = 1
            await self.close()
            return
        self._checked = True
        if not self.settings.precompute:
            return
        # ...and again whenever the corpus changed since (a moderator's change starts one at once, keep_signals; a
        # command-line import beside the bot is seen here).  The version is read before the pass starts, so a change
        # the pass may have missed moves it.
        seen = await asyncio.to_thread(self.corpus.reader.version)
        self._start_precompute()
        while not self.is_closed():
            await asyncio.sleep(self.precompute_every)
            try:
                now = await asyncio.to_thread(self.corpus.reader.version)
            except sqlite3.Error as exc:  # (a passing error must not end the watch for the bot's lifetime)
                log.warning("could not read the corpus version (%s); the next look tries again", exc)
                continue
            if now != seen:
                seen = now
                self._start_precompute()

    def keep_signals(self) -> None:
        """After a moderator's import, article or undo: keep the new articles' signals in the background
        (bot/precompute.py), as at start, so that their story's first check reads them instead of computing them."""
        if self._checked:  # (before that, the check's end starts the first pass)
            self._start_precompute()

    def _start_precompute(self) -> None:
        if not self.settings.precompute or self.is_closed() or not self._corpus_opened_here:
            return
        running = self._precompute
        if running is not None and running.poll() is None:
            # The running pass may have read its list of articles before the newest were written: one more pass
            # once it ends (however many are asked for meanwhile).
            if self._precompute_again is None or self._precompute_again.done():
                self._precompute_again = asyncio.create_task(self._precompute_after(running),
                                                             name="crosscheck-precompute-again")
            return
        self._precompute = run_in_background(self.db_path)

    async def _precompute_after(self, child: subprocess.Popen[bytes]) -> None:
        while child.poll() is None:
            await asyncio.sleep(PRECOMPUTE_POLL)
        self._start_precompute()

    async def close(self) -> None:
        for task in (self._integrity_watch, self._precompute_again):
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()  # (waiting for the check, between precompute passes, or for a pass to end)
        child, self._precompute = self._precompute, None
        if child is not None and child.poll() is None:
            child.terminate()  # it keeps signals in short transactions: stopping it loses at most one batch
            await asyncio.to_thread(child.wait)
        try:
            await super().close()
        finally:
            if self._corpus_opened_here and getattr(self, "corpus", None) is not None:
                await self.corpus.close()
                self._corpus_opened_here = False

    async def on_ready(self) -> None:
        log.info("connected as %s (%s) to %d server(s)", self.user, self.user.id if self.user else "?", len(self.guilds))

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: messages are for the auto-reply cog's listener only."""

    # -- server settings (cached; every moderator check and every /check reads them) ------------------------------

    async def guild_settings(self, guild_id: int | None) -> dict[str, Any]:
        if not guild_id:
            return {"moderator_role_id": None, "threshold": None, "ephemeral": False}
        cached = self._guild_settings.get(guild_id)
        if cached is None:
            cached = await self.corpus.settings(guild_id)
            self._guild_settings[guild_id] = cached
        return dict(cached)

    async def set_guild_settings(self, guild_id: int, *, actor: Actor | None = None, **values: Any) -> dict[str, Any]:
        """Change a server's settings (audited as ``actor``'s change) and refresh the cache."""
        new = await self.corpus.set_settings(guild_id, actor=actor, **values)
        self._guild_settings[guild_id] = dict(new)
        return dict(new)

    def forget_guild_settings(self, guild_id: int) -> None:
        """Drop the cached settings (after an undo changed them in storage); the next read loads them."""
        self._guild_settings.pop(guild_id, None)

    async def check_threshold(self, guild_id: int | None) -> float:
        """The minimum score of a /check answer on this server (its setting, else the operator's default)."""
        t = (await self.guild_settings(guild_id)).get("threshold")
        return float(t) if t is not None else float(self.settings.threshold)

    def note_feedback(self, message_id: int, user_id: int) -> bool:
        """True the first time a user flags a message as not relevant (remembered for the last 10,000 flags)."""
        key = (message_id, user_id)
        if key in self._feedback_given:
            return False
        self._feedback_given[key] = None
        while len(self._feedback_given) > 10_000:
            self._feedback_given.popitem(last=False)
        return True

    # -- checks (never on the event loop) -------------------------------------------------------------------------

    async def check(
        self, text: str, guild_id: int | None, *, threshold: float | None = None, top: int = 3, extra_text: str = "",
        thorough: bool | Callable[[], bool] = False,
    ) -> Report:
        """Run a check in a worker thread (``thorough``: a member asked for it, or an auto-reply's budget, asked in
        the thread; see ``Matcher.match``)."""
        if threshold is None:
            threshold = await self.check_threshold(guild_id)
        return await asyncio.to_thread(
            self.checker.check, text, guild_id, top=top, threshold=threshold, extra_text=extra_text[:MAX_CLAIM_CHARS],
            thorough=thorough,
        )

    async def check_for(
        self,
        interaction: discord.Interaction,
        text: str | None,
        *,
        ephemeral: bool,
        extra_text: str = "",
        threshold: float | None = None,
    ) -> Report:
        """Validate and check a claim for an interaction, deferring it if the answer takes longer than
        ``defer_after`` seconds.  Raises CheckInputError (shown to the user) for bad input."""
        claim = validate_claim(text)
        task = asyncio.ensure_future(
            self.check(claim, interaction.guild_id, threshold=threshold, extra_text=extra_text, thorough=True)
        )
        done, _ = await asyncio.wait({task}, timeout=self.defer_after)
        if not done and not interaction.response.is_done():
            try:
                await interaction.response.defer(ephemeral=ephemeral, thinking=True)
            except BaseException:
                task.cancel()
                raise
            interaction.extras["deferred_public"] = not ephemeral
        return await task


# -- entry points (bot/cli.py) ------------------------------------------------------------------------------------


async def _run(bot: CrosscheckBot, token: str) -> None:
    """Like ``Client.run`` without its logging setup (the CLI's handler redacts the token), and closing cleanly on
    SIGTERM as on Ctrl-C (a service manager stops the bot with SIGTERM)."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
        loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(bot.close()))
    async with bot:
        await bot.start(token)


def run_bot(settings: Settings, db_path: str | Path) -> int:
    """Connect to Discord and run until stopped.  Returns the process exit code."""
    token = settings.token
    if not token:
        log.error("no DISCORD_TOKEN set")
        return 2
    shards: dict[str, int] = {}
    if settings.shard_id is not None and settings.shard_count is not None:
        shards = {"shard_id": settings.shard_id, "shard_count": settings.shard_count}
        log.info("connecting as shard %d of %d (shards are numbered from 0)", settings.shard_id, settings.shard_count)
    bot = CrosscheckBot(settings, db_path, **shards)
    try:
        asyncio.run(_run(bot, token))
    except KeyboardInterrupt:
        pass  # Ctrl-C: the bot was closed on the way out
    except discord.LoginFailure:
        log.error("Discord rejected the token: check DISCORD_TOKEN in .env (Developer Portal → Bot → Reset Token)")
        return 1
    except discord.PrivilegedIntentsRequired:
        log.error(
            "the Message Content intent is not enabled for this application: Developer Portal → your application → "
            "Bot → Privileged Gateway Intents → Message Content Intent, then start again"
        )
        return 1
    except (OSError, aiohttp.ClientError, discord.GatewayNotFound) as exc:
        log.error("cannot reach Discord: %s", exc)
        return 1
    except discord.HTTPException as exc:
        log.error("Discord refused the connection: %s %s", exc.status, exc.text)
        return 1
    except discord.ConnectionClosed as exc:
        if exc.code == 4011:
            log.error("Discord requires this bot to be sharded (it is in too many servers for one connection): run "
                      "one process per shard with CROSSCHECK_SHARD_ID and CROSSCHECK_SHARD_COUNT "
                      "(docs/operators-guide.md, 'Several shards')")
        elif exc.code == 4010:
            log.error("Discord refused the shard (CROSSCHECK_SHARD_ID %s of CROSSCHECK_SHARD_COUNT %s): give every "
                      "process the same count and its own id from 0", settings.shard_id, settings.shard_count)
        else:
            log.error("Discord closed the connection (code %s): %s", exc.code, exc.reason or "no reason given")
        return 1
    return bot.exit_code


async def _sync(bot: CrosscheckBot, token: str, guild_id: int | None, clear: bool) -> list[app_commands.AppCommand]:
    async with bot:
        await bot.login(token)  # runs setup_hook: the cogs register their commands on the tree
        guild = discord.Object(id=guild_id) if guild_id else None
        if clear:
            bot.tree.clear_commands(guild=guild)
        elif guild is not None:
            bot.tree.copy_global_to(guild=guild)
        return await bot.tree.sync(guild=guild)


def sync_commands(settings: Settings, db_path: str | Path, *, guild_id: int | None = None, clear: bool = False) -> int:
    """Register (or with ``clear`` remove) the slash commands, globally or in one server.  Returns the exit code."""
    token = settings.token
    if not token:
        log.error("no DISCORD_TOKEN set")
        return 2
    redact = Redactor([token]).redact

    def say(message: str) -> None:
        # Discord's error bodies may echo what was sent: everything printed passes the same redaction as the logs.
        print(redact(message), flush=True)

    # Registering commands reads nothing of the corpus' articles: no signals precompute for this short login.
    bot = CrosscheckBot(settings.model_copy(update={"precompute": False}), db_path)
    started = time.monotonic()
    try:
        synced = asyncio.run(_sync(bot, token, guild_id, clear))
    except discord.LoginFailure:
        say("crosscheck: Discord rejected the token (DISCORD_TOKEN)")
        return 1
    except discord.Forbidden:
        say(
            f"crosscheck: Discord refused to sync to server {guild_id}: is the bot in that server, invited with the "
            "applications.commands scope?",
        )
        return 1
    except app_commands.CommandSyncFailure as exc:
        say(f"crosscheck: Discord rejected the commands: {exc}")
        return 1
    except discord.HTTPException as exc:
        say(f"crosscheck: sync failed: {exc.status} {exc.text or ''}".rstrip())
        return 1
    except (OSError, aiohttp.ClientError) as exc:
        say(f"crosscheck: cannot reach Discord: {exc}")
        return 1
    where = f"server {guild_id} (visible now)" if guild_id else "all servers (may take up to an hour to appear)"
    verb = "removed the commands from" if clear else f"synced {len(synced)} command(s) to"
    say(f"{verb} {where} in {time.monotonic() - started:.1f}s")
    return 0
