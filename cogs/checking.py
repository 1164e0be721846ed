"""For members: ``/check``, the "Check claim" message menu, ``/story`` and ``/outlet``.

Every answer is rendered from the same ``Report`` as the CLI (bot/render.py), paged with buttons, and carries a
"Not relevant" button.  Checks run in a worker thread (``CrosscheckBot.check_for``); /check and "Check claim" share
a per-user cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import UserError
from bot.matching import Hit, MatchResult
from bot.models import RATING_FIELDS
from bot.render import COLOR_NONE, COLOR_OK, EmbedBuilder, clip, inert, match_pages
from bot.report import Confidence, Report
from bot.text import clean_text
from cogs.common import NotRelevantButton, choices, send_answer, send_report

if TYPE_CHECKING:
    from bot.app import CrosscheckBot

#: Checks per user (``/check`` and "Check claim" together) per ``CHECK_PER`` seconds.
CHECK_RATE = 5
CHECK_PER = 60.0
#: Text a check reads from a message's link previews (titles and descriptions).
MAX_PREVIEW_CHARS = 2_000
#: Stories scanned for an outlet's articles in /outlet.
OUTLET_STORIES = 50
#: The longest name /story and /outlet look up (titles hold at most 300 characters).
MAX_NAME_CHARS = 300


class UserCooldown:
    """A per-user token bucket shared by several commands (an ``app_commands.check`` predicate).

    ``clock`` is injectable so tests can move time without sleeping."""

    def __init__(self, rate: int, per: float, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.per = per
        self.clock = clock
        self._buckets: dict[int, app_commands.Cooldown] = {}

    def _prune(self, now: float) -> None:
        if len(self._buckets) > 5_000:
            for uid in [u for u, b in self._buckets.items() if now - b._last > self.per]:
                del self._buckets[uid]

    def __call__(self, interaction: discord.Interaction) -> bool:
        now = self.clock()
        self._prune(now)
        bucket = self._buckets.get(interaction.user.id)
        if bucket is None:
            bucket = self._buckets[interaction.user.id] = app_commands.Cooldown(self.rate, self.per)
        retry = bucket.update_rate_limit(now)
        if retry:
            raise app_commands.CommandOnCooldown(bucket, retry)
        return True

    def reset(self) -> None:
        self._buckets.clear()


def message_texts(message: discord.Message) -> tuple[str, str]:
    """(the text to check, its link previews' titles and descriptions) of a message."""
    previews = []
    for e in message.embeds:
        for part in (e.title, e.description):
            if part:
                previews.append(part)
    extra = "\n".join(previews)[:MAX_PREVIEW_CHARS]
    text = message.content or ""
    if not text.strip():
        text, extra = extra, ""
    return text, extra


def _chosen_story(bot: CrosscheckBot, story_id: str, guild_id: int | None) -> Report:
    """The report of a check that matched this one story for sure (the member chose it)."""
    hit = Hit(story_id, 100.0, Confidence.high, "", [])
    return bot.checker.report(MatchResult(query=story_id, hits=[hit], links=[]), guild_id)


def _story_report(bot: CrosscheckBot, story_id: str, guild_id: int | None) -> Report | None:
    """One story's report, as a check that matched it would show (runs in a worker thread)."""
    reader = bot.checker.reader
    if story_id in reader.hidden_stories(guild_id) or reader.story(story_id, guild_id) is None:
        return None
    report = _chosen_story(bot, story_id, guild_id)
    return report if report.matches else None


def story_pages(report: Report) -> list[dict[str, Any]]:
    """A story's pages without the "match" line a check shows (the member chose the story)."""
    pages = match_pages(report, 0)
    desc = pages[0].get("description", "")
    lines = [ln for ln in desc.split("\n") if not ln.startswith("**Match:**") and not ln.startswith("_Why:_")]
    if lines:
        pages[0]["description"] = "\n".join(lines)
    else:
        pages[0].pop("description", None)
    return pages


def _entry_text(entry: Any, *, sourced: bool = True) -> str:
    """A rating entry's value and basis; with ``sourced``, also its evidence link and who set it when."""
    bits = [f"**{inert(entry.value)}**"]
    if entry.basis:
        bits.append(inert(clip(entry.basis, 400)))
    if sourced:
        if entry.evidence_url:
            bits.append(inert(entry.evidence_url))
        who = " · ".join(x for x in (inert(entry.set_by or ""), entry.set_at.date().isoformat() if entry.set_at else "") if x)
        if who:
            bits.append(f"_{who}_")
    return "\n".join(bits)


def _rating_lines(rating: Any) -> list[tuple[str, str]]:
    if rating is None:
        return []
    out = [
        (name.replace("_", " ").capitalize(), _entry_text(getattr(rating, name)))
        for name in RATING_FIELDS
        if getattr(rating, name) is not None
    ]
    out.extend(
        (f"Flag: {flag.value.replace('_', ' ')}", _entry_text(entry, sourced=False)) for flag, entry in rating.flags.items()
    )
    return out


def _outlet_pages(bot: CrosscheckBot, outlet_id: str, guild_id: int | None) -> list[dict[str, Any]] | None:
    """An outlet's rating and its articles' signals (runs in a worker thread)."""
    reader = bot.checker.reader
    outlet = reader.outlet(outlet_id, guild_id)
    if outlet is None:
        return None
    desc = [f"**Type:** {outlet.type.value.replace('_', ' ')}"]
    if outlet.domains:
        desc.append("**Domains:** " + ", ".join(inert(d) for d in outlet.domains[:10]))
    first = EmbedBuilder(inert(outlet.name), "\n".join(desc), COLOR_OK)
    lines = _rating_lines(outlet.rating)
    for name, value in lines:
        if not first.add_field(name, value):
            break
    if not lines:
        first.add_field("Rating", "Not rated yet. Moderators rate outlets with `/corpus rate`.")
    first.set_footer(f"Outlet {outlet.id} · page 1/2 · its articles on the next page")

    second = EmbedBuilder(f"Articles — {inert(outlet.name)}", "Each with its strongest signals and evidence.", COLOR_OK)
    hidden = reader.hidden_stories(guild_id)
    shown = 0
    for story_id, title in reader.search_stories("", guild_id, OUTLET_STORIES):
        if story_id in hidden:
            continue
        articles = [a for a in reader.articles(story_id, guild_id) if a.outlet == outlet_id]
        if not articles:
            continue
        report = _chosen_story(bot, story_id, guild_id)
        titles = {a.id: a.title for a in articles}
        for m in report.matches:
            for s in m.sources:
                if s.article not in titles:
                    continue
                head = clip(titles[s.article] or s.article, 200)
                value = [f"_{inert(clip(title, 120))}_"]
                if s.url:
                    value.append(inert(s.url))
                for sig in s.signals[:3]:
                    mark = {"positive": "＋", "negative": "−"}.get(sig.polarity.value, "·")
                    value.append(f"{mark} {inert(sig.label)}: {inert(clip(sig.evidence, 150))}")
                if not second.add_field(inert(head), "\n".join(value)):
                    break
                shown += 1
    if not shown:
        second.description = "No article of this outlet in the stories this server sees."
        second.color = COLOR_NONE
    second.set_footer(f"Outlet {outlet.id} · page 2/2")
    return [first.to_dict(), second.to_dict()]


class Checking(commands.Cog):
    """Checks for everyone."""

    def __init__(self, bot: CrosscheckBot):
        self.bot = bot
        self.cooldown = UserCooldown(CHECK_RATE, CHECK_PER)
        self.check.add_check(self.cooldown)
        self.check_menu = app_commands.ContextMenu(name="Check claim", callback=self.check_message)
        self.check_menu.checks.append(self.cooldown)
        self._outlet_cache: dict[int, tuple[int, list[tuple[str, str]]]] = {}

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.check_menu)
        self.bot.add_dynamic_items(NotRelevantButton)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.check_menu.name, type=self.check_menu.type)
        self.bot.remove_dynamic_items(NotRelevantButton)

    async def _ephemeral_default(self, interaction: discord.Interaction) -> bool:
        return bool((await self.bot.guild_settings(interaction.guild_id)).get("ephemeral"))

    # -- /check ---------------------------------------------------------------------------------------------------

    @app_commands.command(name="check", description="Check a claim or a link against the stories Crosscheck knows")
    @app_commands.describe(
        claim="The claim, or the link to the article",
        private="Only you see the answer (default: the server's setting)",
    )
    async def check(self, interaction: discord.Interaction, claim: str, private: bool | None = None) -> None:
        ephemeral = await self._ephemeral_default(interaction) if private is None else private
        report = await self.bot.check_for(interaction, claim, ephemeral=ephemeral)
        await send_report(interaction, report, ephemeral=ephemeral, query=claim)

    # -- "Check claim" (message context menu) --------------------------------------------------------------------

    async def check_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        text, extra = message_texts(message)
        if not text.strip():
            raise UserError("That message has no text or link preview to check.")
        report = await self.bot.check_for(interaction, text, ephemeral=True, extra_text=extra)
        await send_report(interaction, report, ephemeral=True, query=text, shareable=True)

    # -- /story ---------------------------------------------------------------------------------------------------

    @app_commands.command(name="story", description="Show one story: what the sources say and why to trust them")
    @app_commands.describe(story="Start typing the story's title")
    async def story(self, interaction: discord.Interaction, story: str) -> None:
        guild = interaction.guild_id

        async def closest(name: str) -> list[str]:
            return [sid for sid, _ in await self.bot.corpus.read(self.bot.checker.reader.search_stories, name, guild, 1)]

        report = await self._lookup(_story_report, story, guild, closest, "story")
        pages = story_pages(report)
        m = report.matches[0]
        await send_answer(
            interaction, pages, ephemeral=await self._ephemeral_default(interaction), query=f"/story {m.story.id}",
            stories=[m.story.id] * len(pages),
        )

    @story.autocomplete("story")
    async def story_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return choices(
            await self.bot.corpus.read(self.bot.checker.reader.search_stories, current[:100], interaction.guild_id, 25)
        )

    async def _lookup(
        self,
        build: Callable[[CrosscheckBot, str, int | None], Any],
        typed: str,
        guild: int | None,
        closest: Callable[[str], Awaitable[list[str]]],
        what: str,
    ) -> Any:
        """``build(bot, id, guild)`` (in a worker thread) for the id the member typed or picked, else for the
        ``closest`` match by name; a UserError when neither is there, or nothing (or a paste) was typed."""
        typed = clean_text(typed).strip()
        if not typed:
            raise UserError(f"Name the {what}: pick one from the list as you type.")
        if len(typed) > MAX_NAME_CHARS:
            raise UserError(f"That is {len(typed):,} characters: too long for a name. Pick the {what} from the list as you type.")
        found = await self.bot.corpus.read(build, self.bot, typed, guild)
        if found is None:
            ids = await closest(typed)
            if ids:
                found = await self.bot.corpus.read(build, self.bot, ids[0], guild)
        if found is None:
            raise UserError(f"No {what} by that name here. Pick one from the list as you type.")
        return found

    # -- /outlet --------------------------------------------------------------------------------------------------

    @app_commands.command(name="outlet", description="Show an outlet's rating and the signals of its articles")
    @app_commands.describe(outlet="Start typing the outlet's name")
    async def outlet(self, interaction: discord.Interaction, outlet: str) -> None:
        guild = interaction.guild_id

        async def closest(typed: str) -> list[str]:
            return [oid for oid, name in await self._outlets(guild) if typed.lower() in name.lower()]

        pages = await self._lookup(_outlet_pages, outlet, guild, closest, "outlet")
        await send_answer(interaction, pages, ephemeral=await self._ephemeral_default(interaction), query=f"/outlet {outlet}")

    async def _outlets(self, guild_id: int | None) -> list[tuple[str, str]]:
        """(id, name) of the outlets a server sees, cached per server until the corpus changes."""
        reader = self.bot.checker.reader
        version = await self.bot.corpus.read(reader.version)
        cached = self._outlet_cache.get(int(guild_id or 0))
        if cached is None or cached[0] != version:
            outlets = await self.bot.corpus.read(reader.outlets, guild_id)
            cached = self._outlet_cache[int(guild_id or 0)] = (version, [(o.id, o.name) for o in outlets])
        return cached[1]

    @outlet.autocomplete("outlet")
    async def outlet_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return choices(await self._outlets(interaction.guild_id), current)


async def setup(bot: CrosscheckBot) -> None:
    await bot.add_cog(Checking(bot))


__all__ = ["Checking", "UserCooldown", "message_texts", "setup", "story_pages"]
