"""Channel auto-replies, and the ``/autoreply`` group that configures them.

In an enabled channel, every human message (and the edit in which Discord adds its link previews) is checked in a
worker thread; on a strong match (the channel's threshold, default 75) the bot replies to it with a compact embed,
pinging nobody.  Rules, cheapest first:

- no DMs, bots, webhooks, system messages or the bot itself; nothing under ``MIN_LETTERS`` letters;
- the enabled channels live in memory (reloaded when ``/autoreply`` changes them): other channels cost no query;
- at most ``CHANNEL_RATE`` replies per enabled channel (its threads included) and ``GLOBAL_RATE`` in all per
  ``RATE_PER`` seconds, whatever happens (when a cap is reached, messages are not even checked);
- never twice about the same story in the same channel within the channel's cooldown, never twice to one message;
- at most ``MAX_CONCURRENT`` checks at once and ``MAX_PENDING`` waiting: a flood is shed, not queued forever;
- a message is checked as /check checks it (the thorough pass when the quick one finds nothing) while at most
  ``AUTOREPLY_THOROUGH_RATE`` messages a second take that pass; past that, with the quick pass alone
  (``Matcher.match``).  Only a message that would take it counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import moderator_group, moderator_only, send_private
from bot.matching import AUTOREPLY_THRESHOLD
from bot.render import compact_embed
from bot.service import AUTOREPLY_THOROUGH_RATE, Budget, CheckInputError, validate_claim
from cogs.checking import message_texts
from cogs.corpus_admin import actor, in_range
from cogs.common import feedback_view

if TYPE_CHECKING:
    from bot.app import CrosscheckBot

log = logging.getLogger("crosscheck.cogs.autoreply")

#: Messages with fewer letters than this are never checked ("lol", "ok thanks", emoji).
MIN_LETTERS = 12
#: Replies per channel, and in all channels together, per RATE_PER seconds.
CHANNEL_RATE = 5
GLOBAL_RATE = 30
RATE_PER = 60.0
#: Checks running at once, and waiting for a slot, before messages are dropped.
MAX_CONCURRENT = 4
MAX_PENDING = 32
#: Default cooldown (seconds) before the same story is answered again in the same channel.
DEFAULT_COOLDOWN = 600
_CHECKED_TYPES = (discord.MessageType.default, discord.MessageType.reply)


class Window:
    """At most ``limit`` events per ``per`` seconds (sliding window)."""

    def __init__(self, limit: int, per: float):
        self.limit = limit
        self.per = per
        self.times: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self.times and now - self.times[0] >= self.per:
            self.times.popleft()

    def full(self, now: float) -> bool:
        self._trim(now)
        return len(self.times) >= self.limit

    def add(self, now: float) -> None:
        self.times.append(now)


def letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalpha())


class AutoReply(commands.Cog):
    """Answers strong matches in the channels moderators enable."""

    autoreply = moderator_group("autoreply", "Moderators: automatic answers in channels")

    def __init__(self, bot: CrosscheckBot, *, clock: Callable[[], float] = time.monotonic):
        self.bot = bot
        self.clock = clock
        #: Enabled channels only: channel id -> config (from storage; reloaded by /autoreply).
        self.channels: dict[int, dict[str, Any]] = {}
        self.channel_windows: dict[int, Window] = {}
        self.global_window = Window(GLOBAL_RATE, RATE_PER)
        self.last_story: dict[tuple[int, str], float] = {}
        self.answered: OrderedDict[int, None] = OrderedDict()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._pending = 0
        #: How many messages a second may take the thorough pass (a flood gets the quick pass alone); asked only by a
        #: message that would take it, in the check's worker thread.
        self.thorough = Budget(AUTOREPLY_THOROUGH_RATE)

    async def cog_load(self) -> None:
        await self.reload()

    async def reload(self) -> None:
        """Read the enabled channels from storage (at start, and after every /autoreply change)."""
        rows = await self.bot.corpus.autoreply_channels()
        self.channels = {cid: cfg for cid, cfg in rows.items() if cfg["enabled"]}

    # -- the rules ------------------------------------------------------------------------------------------------

    def config_for(self, message: discord.Message) -> dict[str, Any] | None:
        """The auto-reply config of a message's channel (a thread follows its parent), or None if it is off."""
        if message.guild is None:
            return None
        channel = message.channel
        cfg = self.channels.get(channel.id)
        if cfg is None and isinstance(channel, discord.Thread) and channel.parent_id:
            cfg = self.channels.get(channel.parent_id)
        if cfg is None or cfg["guild_id"] != message.guild.id:
            return None
        return cfg

    def is_candidate(self, message: discord.Message) -> bool:
        """Whether a message may be checked at all (cheap: no I/O)."""
        if message.guild is None or message.webhook_id is not None:
            return False
        author = message.author
        if author.bot or author.system or (self.bot.user is not None and author.id == self.bot.user.id):
            return False
        if message.type not in _CHECKED_TYPES:
            return False
        if message.id in self.answered:
            return False
        return True

    def _window(self, channel_id: int) -> Window:
        w = self.channel_windows.get(channel_id)
        if w is None:
            w = self.channel_windows[channel_id] = Window(CHANNEL_RATE, RATE_PER)
        return w

    def capped(self, channel_id: int, now: float) -> bool:
        return self.global_window.full(now) or self._window(channel_id).full(now)

    def _cooling(self, channel_id: int, story_id: str, cooldown: float, now: float) -> bool:
        last = self.last_story.get((channel_id, story_id))
        return last is not None and now - last < cooldown

    def _remember(self, message_id: int) -> None:
        self.answered[message_id] = None
        while len(self.answered) > 5_000:
            self.answered.popitem(last=False)

    # -- listeners ------------------------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        await self.handle(message)

    @commands.Cog.listener()
    async def on_message_edit(self, before: discord.Message, after: discord.Message) -> None:
        # Only the edit in which Discord adds link previews: the text itself was checked when it was sent.
        if len(after.embeds) > len(before.embeds) and after.content == before.content:
            await self.handle(after)

    async def handle(self, message: discord.Message) -> discord.Message | None:
        """Check one message and reply on a strong match; returns the reply, if one was sent.

        Dispatches ``autoreply_decision(message, reply_or_None)`` once the decision is made, so tests and operators'
        extensions can observe "no reply" without waiting on timing."""
        sent = await self._handle(message)
        self.bot.dispatch("autoreply_decision", message, sent)
        return sent

    async def _handle(self, message: discord.Message) -> discord.Message | None:
        if not self.is_candidate(message):
            return None
        cfg = self.config_for(message)
        if cfg is None:
            return None
        text, extra = message_texts(message)
        if letters(text) + letters(extra) < MIN_LETTERS:
            return None
        try:
            claim = validate_claim(text)
        except CheckInputError:
            return None
        channel_id = message.channel.id  # a thread is its own channel for the story cooldown ...
        rate_key = int(cfg["channel_id"])  # ... but shares the rate cap of the channel that enabled it
        if self.capped(rate_key, self.clock()):
            return None
        if self._pending >= MAX_PENDING:
            log.warning("auto-reply: %d checks waiting; dropping a message in channel %s", self._pending, channel_id)
            return None
        threshold = float(cfg["threshold"]) if cfg.get("threshold") is not None else AUTOREPLY_THRESHOLD
        self._pending += 1
        try:
            async with self._slots:
                report = await self.bot.check(claim, message.guild.id, threshold=threshold, top=1, extra_text=extra,
                                              thorough=self.thorough.asker(self.clock))
        except Exception:  # noqa: BLE001 - a failed check must not break the listener
            log.exception("auto-reply check failed in channel %s", channel_id)
            return None
        finally:
            self._pending -= 1
        if not report.matches or report.matches[0].score < threshold:
            return None
        story_id = report.matches[0].story.id
        # Decide and record in one step (no await in between), so concurrent checks cannot both reply.
        now = self.clock()
        cooldown = float(cfg.get("cooldown_s") or DEFAULT_COOLDOWN)
        if message.id in self.answered or self.capped(rate_key, now) or self._cooling(channel_id, story_id, cooldown, now):
            return None
        self._window(rate_key).add(now)
        self.global_window.add(now)
        self.last_story[(channel_id, story_id)] = now
        self._remember(message.id)
        try:
            return await message.reply(
                embed=discord.Embed.from_dict(compact_embed(report)),
                view=feedback_view(story_id),
                mention_author=False,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            log.warning("auto-reply in channel %s failed: %s %s", channel_id, exc.status, exc.text)
            return None

    # -- /autoreply -----------------------------------------------------------------------------------------------

    async def _set(
        self, interaction: discord.Interaction, channel: discord.abc.GuildChannel | None, said: str, note: str = "",
        **kw: Any,
    ) -> None:
        """Change a channel's auto-reply config (this channel by default), reload, and answer ``said`` followed by
        the channel's config and ``note``."""
        guild = int(interaction.guild_id or 0)
        channel_id = channel.id if channel is not None else interaction.channel_id
        if channel_id is None:
            raise app_commands.NoPrivateMessage()
        current = (await self.bot.corpus.autoreply_channels(guild)).get(channel_id)
        enabled = kw.pop("enabled", current["enabled"] if current else False)
        cfg = await self.bot.corpus.set_autoreply(guild, channel_id, enabled=enabled, actor=actor(interaction), **kw)
        await self.reload()
        await send_private(interaction, said + self.describe(channel_id, cfg) + note)

    @staticmethod
    def describe(channel_id: int, cfg: dict[str, Any]) -> str:
        t = cfg.get("threshold")
        threshold = f"{t:g}" if t is not None else f"{AUTOREPLY_THRESHOLD:g} (default)"
        minutes = round((cfg.get("cooldown_s") or DEFAULT_COOLDOWN) / 60)
        state = "on" if cfg.get("enabled") else "off"
        return f"<#{channel_id}>: {state} · threshold {threshold} · same story again after {minutes} min"

    @autoreply.command(name="enable", description="Answer strong matches automatically in a channel")
    @app_commands.describe(
        channel="The channel (default: this one)", threshold="Minimum match score 0-100 (default 75)",
        cooldown="Minutes before the same story is answered again in the channel (default 10)",
    )
    @moderator_only()
    async def enable(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | None = None,
        threshold: app_commands.Range[float, 0, 100] | None = None,
        cooldown: app_commands.Range[int, 1, 1440] | None = None,
    ) -> None:
        in_range(threshold, 0, 100, "threshold")
        in_range(cooldown, 1, 1440, "cooldown")
        note = ""
        me = interaction.guild.me if interaction.guild else None
        if channel is not None and me is not None:
            perms = channel.permissions_for(me)
            if not (perms.send_messages and perms.embed_links and perms.read_message_history):
                note = "\n⚠️ I cannot reply there yet: I need Send Messages, Embed Links and Read Message History."
        await self._set(
            interaction, channel, "Auto-replies enabled. ", note, enabled=True, threshold=threshold,
            cooldown_s=cooldown * 60 if cooldown else None,
        )

    @autoreply.command(name="disable", description="Stop automatic answers in a channel")
    @app_commands.describe(channel="The channel (default: this one)")
    @moderator_only()
    async def disable(self, interaction: discord.Interaction, channel: discord.TextChannel | None = None) -> None:
        await self._set(interaction, channel, "Auto-replies disabled. ", enabled=False)

    @autoreply.command(name="threshold", description="The match score a channel's auto-replies need")
    @app_commands.describe(value="Minimum score 0-100 (75 is a strong match)", channel="The channel (default: this one)")
    @moderator_only()
    async def threshold(
        self, interaction: discord.Interaction, value: app_commands.Range[float, 0, 100], channel: discord.TextChannel | None = None
    ) -> None:
        in_range(value, 0, 100, "value")
        await self._set(interaction, channel, "Saved. ", threshold=float(value))

    @autoreply.command(name="cooldown", description="Minutes before the same story is answered again in a channel")
    @app_commands.describe(minutes="1 to 1440", channel="The channel (default: this one)")
    @moderator_only()
    async def cooldown(
        self, interaction: discord.Interaction, minutes: app_commands.Range[int, 1, 1440], channel: discord.TextChannel | None = None
    ) -> None:
        in_range(minutes, 1, 1440, "minutes")
        await self._set(interaction, channel, "Saved. ", cooldown_s=int(minutes) * 60)

    @autoreply.command(name="status", description="Where auto-replies are on, and their settings")
    @moderator_only()
    async def status(self, interaction: discord.Interaction) -> None:
        rows = await self.bot.corpus.autoreply_channels(int(interaction.guild_id or 0))
        if not rows:
            await send_private(interaction, "Auto-replies are off in every channel. Turn them on with `/autoreply enable`.")
            return
        lines = [self.describe(cid, cfg) for cid, cfg in sorted(rows.items())]
        lines.append(f"Limits: {CHANNEL_RATE} replies per channel per minute, {GLOBAL_RATE} in all.")
        await send_private(interaction, "\n".join(lines))


async def setup(bot: CrosscheckBot) -> None:
    await bot.add_cog(AutoReply(bot))
