"""Pieces the cogs share: the paginated answer view, the persistent "Not relevant" button, answering a check.

Not an extension (it has no ``setup``): the cogs import it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.app import VIEW_TIMEOUT, LiveViews, report_error, send_ephemeral, send_private
from bot.render import check_embed_limits, clip, inert, no_match_embed, report_pages
from bot.text import clean_text

if TYPE_CHECKING:
    from bot.app import CrosscheckBot
    from bot.report import Report

log = logging.getLogger("crosscheck.cogs")

_FEEDBACK_PREFIX = "cc:nr:"


def story_key(story_id: str) -> str:
    """The custom_id of a "Not relevant" button for a story (custom ids hold at most 100 characters)."""
    cid = _FEEDBACK_PREFIX + story_id
    if len(cid) <= 100:
        return cid
    return _FEEDBACK_PREFIX + "#" + hashlib.sha1(story_id.encode()).hexdigest()[:16]


def resolve_story_key(bot: CrosscheckBot, key: str) -> str | None:
    """The story id behind a button's key (runs in a worker thread for hashed keys)."""
    if not key.startswith("#"):
        return key
    for meta in bot.corpus.reader.story_meta():
        if hashlib.sha1(meta.id.encode()).hexdigest()[:16] == key[1:]:
            return meta.id
    return None


async def record_feedback(interaction: discord.Interaction, story_id: str | None, query: str) -> None:
    """Store a "not relevant" report once per user and message, and thank the user privately."""
    bot: CrosscheckBot = interaction.client  # type: ignore[assignment]
    message_id = interaction.message.id if interaction.message else interaction.id
    if not bot.note_feedback(message_id, interaction.user.id):
        await send_ephemeral(interaction, "You already marked this answer as not relevant — thank you.")
        return
    await bot.corpus.add_feedback(
        interaction.guild_id or 0, interaction.channel_id, interaction.user.id, story_id, query or ""
    )
    await send_ephemeral(
        interaction, "Thanks — noted as not relevant. The server's moderators review these with `/corpus feedback`."
    )


class NotRelevantButton(discord.ui.DynamicItem[discord.ui.Button], template=r"cc:nr:(?P<key>[#a-z0-9_.:-]{1,94})"):
    """The "Not relevant" button on auto-replies and shared answers; works after a restart (persistent)."""

    def __init__(self, story_id: str) -> None:
        super().__init__(
            discord.ui.Button(label="Not relevant", style=discord.ButtonStyle.secondary, custom_id=story_key(story_id))
        )
        self.story_id = story_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /):
        key = match["key"]
        if key.startswith("#"):
            story = await interaction.client.corpus.read(resolve_story_key, interaction.client, key)  # type: ignore[attr-defined]
        else:
            story = key
        self = cls(story or "unknown")
        self.item.custom_id = match.string  # keep the id exactly as sent
        return self

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            query = ""
            msg = interaction.message
            if msg is not None and msg.reference is not None and isinstance(msg.reference.resolved, discord.Message):
                query = msg.reference.resolved.content
            await record_feedback(interaction, self.story_id, query)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a clear message
            await report_error(interaction, exc)


def feedback_view(story_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(NotRelevantButton(story_id))
    return view


class OwnedView(discord.ui.View):
    """Buttons only one member may press (``owner_id``), disabled when the view times out or is ended early.

    ``origin`` is the interaction that sent the message, or ``message`` the follow-up it was sent as: ``refresh``
    shows the view's current state on it.  Failures in a button become the error ladder's ephemeral message."""

    #: What another member who presses a button is told.
    refusal = "Only the person who asked can use these buttons."

    def __init__(self, *, owner_id: int, timeout: float | None = VIEW_TIMEOUT):
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.origin: discord.Interaction | None = None
        self.message: discord.WebhookMessage | None = None
        self._live: LiveViews | None = None

    def track(self, live: LiveViews | None) -> None:
        """Count this view among the bot's live views (bounded: the oldest end early)."""
        if live is not None:
            self._live = live
            live.add(self)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await send_ephemeral(interaction, self.refusal)
            return False
        return True

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]) -> None:
        await report_error(interaction, error)

    async def refresh(self) -> None:
        """Show the buttons' current state on the message (nothing if it was deleted or the token expired)."""
        try:
            if self.message is not None:
                await self.message.edit(view=self)
            elif self.origin is not None:
                await self.origin.edit_original_response(view=self)
        except discord.HTTPException:
            pass

    async def on_timeout(self) -> None:
        if self._live is not None:
            self._live.discard(self)
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        await self.refresh()


class AnswerView(OwnedView):
    """A paginated answer: Previous / Next, "Not relevant", optionally "Share in channel".

    Only the member who asked may press the buttons; they are disabled when the view times out.
    """

    refusal = "Only the person who asked can use these buttons — run /check yourself."

    def __init__(
        self,
        pages: Sequence[dict[str, Any]],
        *,
        owner_id: int,
        query: str,
        stories: Sequence[str | None] | None = None,
        shareable: bool = False,
        timeout: float | None = VIEW_TIMEOUT,
    ):
        super().__init__(owner_id=owner_id, timeout=timeout)
        if not pages:
            raise ValueError("an answer has at least one page")
        self.pages = list(pages)
        self.stories = list(stories) if stories is not None else [None] * len(self.pages)
        self.query = query
        self.index = 0
        if len(self.pages) < 2:
            self.remove_item(self.previous)
            self.remove_item(self.next)
        if not any(self.stories):
            self.remove_item(self.not_relevant)
        if not shareable:
            self.remove_item(self.share)
        self._sync_buttons()

    # -- state ----------------------------------------------------------------------------------------------------

    def current_embed(self) -> discord.Embed:
        return discord.Embed.from_dict(self.pages[self.index])

    def current_story(self) -> str | None:
        return self.stories[self.index]

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1

    # -- buttons --------------------------------------------------------------------------------------------------

    async def turn(self, interaction: discord.Interaction, step: int) -> None:
        """Show the page ``step`` pages on (within the first and the last)."""
        self.index = min(len(self.pages) - 1, max(0, self.index + step))
        self._sync_buttons()
        await interaction.response.edit_message(embed=self.current_embed(), view=self)

    @discord.ui.button(label="Previous", emoji="◀️", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.turn(interaction, -1)

    @discord.ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.turn(interaction, +1)

    @discord.ui.button(label="Not relevant", style=discord.ButtonStyle.secondary)
    async def not_relevant(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await record_feedback(interaction, self.current_story(), self.query)

    @discord.ui.button(label="Share in channel", style=discord.ButtonStyle.primary)
    async def share(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        story = self.current_story()
        kwargs: dict[str, Any] = {}
        if story:
            kwargs["view"] = feedback_view(story)
        await interaction.response.send_message(
            content=f"Shared by {interaction.user.mention} from a private check:",
            embed=self.current_embed(),
            ephemeral=False,
            allowed_mentions=discord.AllowedMentions.none(),
            **kwargs,
        )
        button.disabled = True
        button.label = "Shared"
        await self.refresh()


def report_stories(report: Report) -> list[str | None]:
    """The story of each page of ``report_pages`` (two pages per match)."""
    out: list[str | None] = []
    for m in report.matches:
        out.extend([m.story.id, m.story.id])
    return out


async def send_answer(
    interaction: discord.Interaction,
    pages: Sequence[dict[str, Any]],
    *,
    ephemeral: bool,
    query: str,
    stories: Sequence[str | None] | None = None,
    shareable: bool = False,
) -> AnswerView:
    """Send the first page with the answer's buttons (as the response, or as a follow-up if deferred)."""
    problems = check_embed_limits([pages[0]])
    if problems:  # the renderer guarantees this; never send what Discord would reject
        raise RuntimeError("embed over Discord's limits: " + "; ".join(problems))
    view = AnswerView(pages, owner_id=interaction.user.id, query=query, stories=stories, shareable=shareable)
    view.origin = interaction
    embed = view.current_embed()
    if interaction.response.is_done():
        view.message = await interaction.followup.send(embed=embed, view=view, ephemeral=ephemeral, wait=True)
    else:
        await interaction.response.send_message(embed=embed, view=view, ephemeral=ephemeral)
    view.track(getattr(interaction.client, "live_views", None))
    return view


async def send_report(
    interaction: discord.Interaction, report: Report, *, ephemeral: bool, query: str, shareable: bool = False
) -> AnswerView | None:
    """A check's answer: the report's pages, or a private "no known story matches" when nothing matched."""
    if not report.matches:
        await send_private(interaction, embed=discord.Embed.from_dict(no_match_embed(report)))
        return None
    return await send_answer(
        interaction, report_pages(report), ephemeral=ephemeral, query=query, stories=report_stories(report),
        shareable=shareable,
    )


def code(text: str | None, limit: int = 120) -> str:
    """An id or other literal shown as inline code (nothing inside renders, and it cannot break out)."""
    text = " ".join(clean_text(text or "", nfkc=False).split()).replace("`", "ˋ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"`{text or ' '}`"


def plain(text: str | None, limit: int = 200) -> str:
    """User or corpus text for a message line: inert and short."""
    text = " ".join((text or "").split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return inert(text)


def choices(
    rows: Iterable[tuple[str, str]], current: str | None = None, *, show_id: bool = False
) -> list[discord.app_commands.Choice[str]]:
    """Autocomplete choices from (value, label) rows: those whose value or label holds ``current`` (all rows when it
    is None: the rows were searched already), at most 25, labels cut to Discord's 100 characters, values that do
    not fit left out.  ``show_id`` adds the value to the label."""
    cur = current.lower() if current is not None else None
    out = []
    for value, label in rows:
        if len(value) > 100 or (cur is not None and cur not in value and cur not in label.lower()):
            continue
        out.append(discord.app_commands.Choice(name=clip(f"{label} ({value})" if show_id else label, 100), value=value))
        if len(out) == 25:
            break
    return out
