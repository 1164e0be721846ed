"""For moderators: the ``/corpus`` group (add, edit, rate, remove, hide, undo, import, export, history, feedback)
and ``/settings``.

Every command carries ``moderator_only()`` (Manage Server or the server's moderator role, checked in code); every
write goes through ``storage.corpus`` as ``Actor(guild_id=<this server>, ...)``, which enforces the per-server scope:
a server changes only what it owns, may attach to global stories and may hide them.  Answers are ephemeral.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands
from pydantic import BaseModel, ValidationError

from bot.app import (
    NotModerator,
    UserError,
    is_moderator,
    moderator_group,
    moderator_only,
    send_private,
)
from bot.importers import ImportFileError, format_validation_error, load_bytes, parse_json_bytes, to_claimreview
from bot.models import (
    FACTUAL_RECORD_VALUES,
    RATING_FIELDS,
    Article,
    Claim,
    CorpusFile,
    Entity,
    Evidence,
    Outlet,
    OutletFlag,
    OutletType,
    Position,
    PositionStatus,
    Question,
    QuestionKind,
    RatingEntry,
    Story,
    slugify,
)
from bot.render import COLOR_OK, EmbedBuilder
from bot.text import clean_text
from bot.urls import canonicalize_url, registered_domain
from bot.versions import suggest_positions
from cogs.common import OwnedView, choices, code, plain
from storage.corpus import Actor, CorpusError, PermissionDenied

if TYPE_CHECKING:
    from bot.app import CrosscheckBot

log = logging.getLogger("crosscheck.cogs.corpus")

#: Largest article file (.txt or .json) accepted by /corpus article-add.
MAX_ARTICLE_FILE_BYTES = 1024 * 1024
#: Largest file accepted by /corpus import (Discord attachments; the CLI takes up to 64 MiB).
MAX_IMPORT_FILE_BYTES = 25 * 1024 * 1024
#: A /corpus import of at least this many stories ends, as `crosscheck import` does, by merging the story-level
#: full-text index into one b-tree (Corpus.optimize_story_index: ~2 s at 1M claims, behind the deferred reply).  Small
#: imports leave it to FTS5's automerge: a merge per one-story import would cost every import those seconds.
IMPORT_MERGE_MIN_STORIES = 100
#: Suggested positions shown after an article is added (each gets Accept / Reject).
MAX_SUGGESTIONS = 4

RATING_CHOICES = [app_commands.Choice(name=f"{k.replace('_', ' ')}", value=k) for k in RATING_FIELDS] + [
    app_commands.Choice(name=f"flag: {f.value.replace('_', ' ')}", value=f"flag:{f.value}") for f in OutletFlag
]

Kind = Literal["story", "article", "claim", "question", "position", "outlet"]


def actor(interaction: discord.Interaction) -> Actor:
    """The server's moderator as the author of a change.  Never the global owner: outside a server there is none."""
    if not interaction.guild_id:
        raise app_commands.NoPrivateMessage()
    return Actor(guild_id=int(interaction.guild_id), user_id=interaction.user.id, name=str(interaction.user))


def build(model: type[BaseModel], **fields: Any) -> Any:
    """A model from a form's fields, or a UserError naming the field at fault."""
    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise UserError(format_validation_error(exc)) from exc


def by_id(rows: Any, rid: str | None) -> Any:
    """The row (question, position, claim ...) with that id, or None."""
    return next((r for r in rows if r.id == rid), None)


def split_list(text: str | None) -> list[str]:
    """Comma-separated items; blank ones, and ones made only of invisible characters, are left out."""
    return [x.strip() for x in (text or "").split(",") if clean_text(x).strip()]


def parse_entities(text: str | None) -> list[Entity]:
    """"Russia|Moscow|Kremlin, Afghanistan|Kabul" -> entities with their aliases."""
    out: list[Entity] = []
    seen: set[str] = set()
    for part in split_list(text):
        names = [n.strip() for n in part.split("|") if clean_text(n).strip()]
        if not names:
            continue
        eid = slugify(names[0], 60)
        if eid in seen:
            continue
        seen.add(eid)
        out.append(build(Entity, id=eid, name=names[0], aliases=names[1:]))
    return out


def short_hash(*parts: str) -> str:
    return hashlib.sha1("\x00".join(parts).encode("utf-8", "ignore")).hexdigest()[:6]


def check_url(url: str | None, field: str) -> None:
    if url and not canonicalize_url(url):
        raise UserError(f"{field}: not an http(s) link.")


def in_range(value: float | int | None, low: float, high: float, field: str) -> None:
    """Discord enforces an option's min/max in its client only: check again here."""
    if value is not None and not low <= value <= high:
        raise UserError(f"{field}: not valid here; give a value from {low:g} to {high:g}.")


def parse_date(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"{field}: not a date; write it as YYYY-MM-DD") from None


def when(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return discord.utils.format_dt(dt, "R")


async def quiet_is_moderator(interaction: discord.Interaction) -> bool:
    """The moderator check for autocomplete (which must not raise): members who are not moderators see nothing."""
    try:
        return await is_moderator(interaction)
    except (NotModerator, app_commands.NoPrivateMessage):
        return False


def moderator_autocomplete(func: Any) -> Any:
    """An autocomplete callback that shows nothing to members who are not moderators (``quiet_is_moderator``)."""

    @functools.wraps(func)
    async def wrapper(self: Any, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if not await quiet_is_moderator(interaction):
            return []
        return await func(self, interaction, current)

    return wrapper


async def send_list(interaction: discord.Interaction, title: str, empty: str, fields: list[tuple[str, str]]) -> None:
    """A private embed listing (name, value) fields, most recent first, or saying ``empty`` when there are none."""
    e = EmbedBuilder(title, "" if fields else empty, COLOR_OK)
    for name, value in fields:
        e.add_field(name, value)
    await send_private(interaction, embed=discord.Embed.from_dict(e.to_dict()))


def check_attachment(attachment: discord.Attachment, *, limit: int, suffixes: tuple[str, ...]) -> None:
    """Refuse an attachment of the wrong type (by name) or size before reading a byte of it."""
    name = attachment.filename.lower()
    if not name.endswith(suffixes):
        raise UserError(f"{plain(attachment.filename, 80)}: attach a {' or '.join(suffixes)} file.")
    if attachment.size > limit:
        raise UserError(
            f"{plain(attachment.filename, 80)}: {attachment.size:,} bytes is over the {limit // 1024:,} KiB limit."
        )


async def read_attachment(attachment: discord.Attachment, *, limit: int) -> bytes:
    data = await attachment.read()
    if len(data) > limit:  # the size Discord announced was wrong
        raise UserError(f"{plain(attachment.filename, 80)}: over the {limit // 1024:,} KiB limit.")
    return data


class SuggestionView(OwnedView):
    """Accept / Reject buttons for positions suggested after an article was added (only its moderator may press).

    Accepting stores the position through ``corpus.upsert_position`` (or ``upsert_question`` for a new question);
    a suggestion that adds articles to an existing position merges them into it.  Rejecting a new position on an
    existing question stores it as rejected, so it is not suggested again (answers show accepted positions only)."""

    refusal = "Only the moderator who added the article can accept or reject these."

    def __init__(self, bot: CrosscheckBot, owner: Actor, story_id: str, suggestions: list[tuple[Question, Position]]):
        super().__init__(owner_id=owner.user_id, timeout=600)
        self.bot = bot
        self.owner = owner
        self.story_id = story_id
        self.suggestions = suggestions
        for i, _ in enumerate(suggestions):
            accept = discord.ui.Button(label=f"Accept {i + 1}", style=discord.ButtonStyle.success, row=i)
            reject = discord.ui.Button(label=f"Reject {i + 1}", style=discord.ButtonStyle.secondary, row=i)
            accept.callback = self._make_callback(i, accept, reject, True)
            reject.callback = self._make_callback(i, accept, reject, False)
            self.add_item(accept)
            self.add_item(reject)

    async def accept(self, interaction: discord.Interaction, question: Question, position: Position) -> None:
        who = actor(interaction)
        story = await self.bot.corpus.read(self.bot.corpus.reader.story, self.story_id, who.guild_id)
        if story is None:
            raise UserError("The story is gone (removed or hidden) since the suggestion was made.")
        pos = position.model_copy(update={"status": PositionStatus.accepted})
        current_q = by_id(story.questions, question.id)
        if current_q is None:
            await self.bot.corpus.upsert_question(self.story_id, question.model_copy(update={"positions": [pos]}), who)
            return
        current_p = by_id(current_q.positions, position.id)
        if current_p is not None:
            pos = current_p.model_copy(update={
                "articles": list(dict.fromkeys([*current_p.articles, *position.articles])),
                "evidence": [*current_p.evidence, *(e for e in position.evidence if e not in current_p.evidence)],
            })
        try:
            await self.bot.corpus.upsert_position(question.id, pos, who)
        except PermissionDenied as exc:
            raise UserError(
                f"“{plain(pos.statement, 100)}” is a position of the global corpus: only the bot owner can add "
                "articles to it."
            ) from exc

    async def reject(self, interaction: discord.Interaction, question: Question, position: Position) -> bool:
        """Remember a rejected new position on an existing question (status rejected: never shown in answers, never
        suggested again).  Nothing is stored for a new question or for articles an existing position would gain."""
        who = actor(interaction)
        story = await self.bot.corpus.read(self.bot.corpus.reader.story, self.story_id, who.guild_id)
        current_q = by_id(story.questions, question.id) if story else None
        if current_q is None or any(p.id == position.id for p in current_q.positions):
            return False
        await self.bot.corpus.upsert_position(
            question.id, position.model_copy(update={"status": PositionStatus.rejected}), who
        )
        return True

    def _make_callback(self, i: int, accept: discord.ui.Button, reject: discord.ui.Button, accepted: bool):
        async def callback(interaction: discord.Interaction) -> None:
            question, position = self.suggestions[i]
            await is_moderator(interaction)  # still a moderator?
            if accepted:
                await self.accept(interaction, question, position)
                text = f"Accepted: “{plain(position.statement, 150)}” under “{plain(question.text, 100)}”."
            elif await self.reject(interaction, question, position):
                text = f"Rejected: “{plain(position.statement, 150)}” — it will not be suggested again."
            else:
                text = f"Rejected: “{plain(position.statement, 150)}” (nothing stored)."
            accept.disabled = reject.disabled = True
            (accept if accepted else reject).label = "Accepted" if accepted else "Rejected"
            await interaction.response.edit_message(view=self)
            await interaction.followup.send(text, ephemeral=True)

        return callback


def suggest(bot: CrosscheckBot, story_id: str, article: Article, guild_id: int) -> list[tuple[Question, Position]]:
    """Positions ``bot.versions.suggest_positions`` proposes for a new article (worker thread), at most
    ``MAX_SUGGESTIONS``; [] when there is nothing to suggest."""
    reader = bot.corpus.reader
    story = reader.story(story_id, guild_id)
    if story is None:
        return []
    articles = [a for a in reader.articles(story_id, guild_id) if a.id != article.id]
    try:
        questions = suggest_positions(story, articles, new=[article])
    except Exception:  # noqa: BLE001 - a failed suggestion must not fail the article that was stored
        log.exception("suggest_positions failed for %s", article.id)
        return []
    out = []
    for q in questions:
        for p in q.positions:
            if p.status == PositionStatus.suggested:
                out.append((q, p))
    return out[:MAX_SUGGESTIONS]


class CorpusAdmin(commands.Cog):
    """The server's corpus, for its moderators."""

    corpus = moderator_group("corpus", "Moderators: the stories, articles, claims and ratings this server uses")

    def __init__(self, bot: CrosscheckBot):
        self.bot = bot
        self._own_cache: dict[int, tuple[int, CorpusFile]] = {}

    @property
    def reader(self):
        return self.bot.corpus.reader

    async def _read(self, fn: Any, *args: Any) -> Any:
        return await self.bot.corpus.read(fn, *args)

    async def _own(self, guild_id: int) -> CorpusFile:
        """What this server added (cached per corpus version), for autocomplete."""
        version = await self._read(self.reader.version)
        cached = self._own_cache.get(guild_id)
        if cached is None or cached[0] != version:
            cached = (version, await self.bot.corpus.export(guild_id))
            self._own_cache[guild_id] = cached
        return cached[1]

    async def _visible_story(self, story_id: str, guild_id: int) -> Story:
        story = await self._read(self.reader.story, story_id, guild_id)
        if story is None or story_id in await self._read(self.reader.hidden_stories, guild_id):
            raise UserError(f"Unknown story {code(story_id)}: pick one from the list as you type.")
        return story

    async def _story_in(self, interaction: discord.Interaction, story_id: str) -> tuple[int, Story]:
        """(this server's id, the story it names): a story the server sees, or a UserError."""
        guild = int(interaction.guild_id or 0)
        return guild, await self._visible_story(story_id, guild)

    # -- stories --------------------------------------------------------------------------------------------------

    @corpus.command(name="story-add", description="Add a story this server keeps (a topic sources disagree on)")
    @app_commands.describe(
        title="The story's title",
        summary="One or two sentences: what happened and what sources disagree on",
        entities="Who/what it is about, comma-separated; aliases after |  e.g. Russia|Moscow, Afghanistan|Kabul",
        topic_terms="Distinctive topic words, comma-separated (e.g. military, treaty); not generic ones",
        id="An id (letters, digits, -); made from the title if left out",
    )
    @moderator_only()
    async def story_add(
        self,
        interaction: discord.Interaction,
        title: app_commands.Range[str, 1, 300],
        summary: app_commands.Range[str, 0, 2000] | None = None,
        entities: str | None = None,
        topic_terms: str | None = None,
        id: str | None = None,  # noqa: A002 - the option's name in Discord
    ) -> None:
        story_id = (id or slugify(title, 60)).strip().lower()
        story = build(
            Story, id=story_id, title=title, summary=summary or "", entities=parse_entities(entities),
            topic_terms=split_list(topic_terms),
        )
        if await self._read(self.reader.story_owner, story.id) is not None:
            raise UserError(f"A story with the id {code(story.id)} exists already; choose another id.")
        await self.bot.corpus.apply(CorpusFile(stories=[story]), actor(interaction), action="story-add")
        await send_private(
            interaction,
            f"Added the story **{plain(story.title)}** ({code(story.id)}). Next: `/corpus article-add`, "
            "`/corpus claim-add`, `/corpus question-add`. Undo with `/corpus undo`.",
        )

    # -- articles -------------------------------------------------------------------------------------------------

    @corpus.command(name="article-add", description="Add an article to a story (fields, or an attached .txt/.json)")
    @app_commands.describe(
        story="The story it reports on",
        url="The article's link",
        title="Its headline",
        text="Its text (or attach a file)",
        file="A .txt file with the text, or a .json object with the article's fields",
        outlet="Who published it (found from the link's domain if left out)",
        published="Publication date, YYYY-MM-DD",
        role="report (a version of the story) or background (earlier events)",
        id="An id; made from the title if left out",
    )
    @moderator_only()
    async def article_add(
        self,
        interaction: discord.Interaction,
        story: str,
        url: str | None = None,
        title: app_commands.Range[str, 0, 300] | None = None,
        text: str | None = None,
        file: discord.Attachment | None = None,
        outlet: str | None = None,
        published: str | None = None,
        role: Literal["report", "background"] | None = None,
        id: str | None = None,  # noqa: A002
    ) -> None:
        guild, _ = await self._story_in(interaction, story)
        # Reading an attachment, writing and computing suggestions can outlast Discord's 3-second window.
        await interaction.response.defer(ephemeral=True, thinking=True)
        fields: dict[str, Any] = {}
        if file is not None:
            check_attachment(file, limit=MAX_ARTICLE_FILE_BYTES, suffixes=(".txt", ".json"))
            data = await read_attachment(file, limit=MAX_ARTICLE_FILE_BYTES)
            if file.filename.lower().endswith(".json"):
                try:
                    obj = parse_json_bytes(data, file.filename)
                except ImportFileError as exc:
                    raise UserError(str(exc)) from exc
                allowed = {"id", "title", "url", "published", "author", "language", "role", "text", "outlet"}
                if not isinstance(obj, dict) or not obj.keys() <= allowed:
                    raise UserError(
                        f"{plain(file.filename, 80)}: a JSON object with some of the fields {', '.join(sorted(allowed))}"
                    )
                fields.update(obj)
            else:
                try:
                    fields["text"] = data.decode("utf-8-sig")
                except UnicodeDecodeError:
                    raise UserError(f"{plain(file.filename, 80)}: not UTF-8 text") from None
        given = {"url": url, "title": title, "text": text, "outlet": outlet, "role": role, "id": id}
        fields.update({k: v for k, v in given.items() if v})
        if published:
            fields["published"] = parse_date(published, "published")
        if not str(fields.get("text") or "").strip():
            raise UserError("Give the article's text (the text option) or attach a .txt or .json file.")
        new_outlets, outlet_id = await self._resolve_outlet(fields.get("outlet"), fields.get("url"), guild)
        fields["outlet"] = outlet_id
        fields["story"] = story
        base = fields.get("title") or fields.get("url") or str(fields["text"])[:80]
        fields["id"] = str(fields.get("id") or f"{slugify(base, 50)}-{short_hash(story, base, str(fields['text'])[:500])}")
        article = build(Article, **fields)
        if await self._read(self.reader.article, article.id, guild) is not None:
            raise UserError(f"An article with the id {code(article.id)} exists already; choose another id.")
        try:
            await self.bot.corpus.apply(
                CorpusFile(outlets=new_outlets, articles=[article]), actor(interaction), action="article-add"
            )
        except PermissionDenied as exc:
            if not new_outlets or not str(exc).startswith("outlets[0]"):
                raise
            # Another server owns an outlet with that id: this server gets its own.
            oid = f"{new_outlets[0].id[:100]}-{guild}"
            new_outlets = [new_outlets[0].model_copy(update={"id": oid})]
            article = article.model_copy(update={"outlet": oid})
            await self.bot.corpus.apply(
                CorpusFile(outlets=new_outlets, articles=[article]), actor(interaction), action="article-add"
            )
        self.bot.keep_signals()  # its signals, in the background, so that its story's next check reads them
        msg = f"Added the article **{plain(article.title or article.id)}** ({code(article.id)}) to {code(story)}"
        if new_outlets:
            msg += f", with the new outlet {code(new_outlets[0].id)} (rate it with `/corpus rate`)"
        msg += ". Undo with `/corpus undo`."
        suggestions = await self._read(suggest, self.bot, story, article, guild)
        if not suggestions:
            await send_private(interaction, msg)
            return
        embed = EmbedBuilder("Suggested positions", "From the new article; accept the ones that are right.", COLOR_OK)
        for i, (q, p) in enumerate(suggestions, 1):
            quote = f"\n> {plain(p.evidence[0].quote, 200)}" if p.evidence else ""
            embed.add_field(f"{i}. {plain(q.text, 200)}", f"{plain(p.statement, 300)}{quote}")
        view = SuggestionView(self.bot, actor(interaction), story, suggestions)
        view.origin = interaction
        view.track(self.bot.live_views)  # bounded with the answer views (the oldest end early)
        await send_private(interaction, msg, embed=discord.Embed.from_dict(embed.to_dict()), view=view)

    async def _resolve_outlet(self, outlet: str | None, url: str | None, guild: int) -> tuple[list[Outlet], str]:
        """(outlets to create, the outlet id): the named outlet, the one owning the link's domain, or a new one."""
        if outlet:
            found = await self._read(self.reader.outlet, outlet, guild)
            if found is None:
                raise UserError(f"Unknown outlet {code(outlet)}: pick one from the list, or leave it out.")
            return [], found.id
        if not url:
            raise UserError("Name the outlet (the outlet option) or give the article's link.")
        canon = canonicalize_url(url)
        if not canon:
            raise UserError("url: not an http(s) link.")
        host = canon.split("/")[2]
        for domain in dict.fromkeys((host, registered_domain(host))):
            found = await self._read(self.reader.outlet_by_domain, domain, guild)
            if found is not None:
                return [], found.id
        domain = registered_domain(host) or host
        return [build(Outlet, id=slugify(domain, 60), name=domain, domains=[domain])], slugify(domain, 60)

    # -- claims ---------------------------------------------------------------------------------------------------

    @corpus.command(name="claim-add", description="Add a claim people repeat about a story (optionally a verdict)")
    @app_commands.describe(
        story="The story the claim is about",
        text="The claim, as people state it",
        verdict="A fact-checker's verdict (e.g. False, Misleading)",
        claimant="Who made the claim",
        reviewed_by="Who fact-checked it",
        review_url="Link to the fact-check",
        articles="Article ids that make the claim, comma-separated",
        id="An id; made from the text if left out",
    )
    @moderator_only()
    async def claim_add(
        self,
        interaction: discord.Interaction,
        story: str,
        text: app_commands.Range[str, 1, 2000],
        verdict: app_commands.Range[str, 1, 200] | None = None,
        claimant: app_commands.Range[str, 1, 200] | None = None,
        reviewed_by: app_commands.Range[str, 1, 200] | None = None,
        review_url: str | None = None,
        articles: str | None = None,
        id: str | None = None,  # noqa: A002
    ) -> None:
        guild, _ = await self._story_in(interaction, story)
        check_url(review_url, "review_url")
        claim_id = id or f"claim-{slugify(text, 50)}-{short_hash(story, text)}"
        claim = build(
            Claim, id=claim_id, story=story, text=text, verdict=verdict, claimant=claimant, reviewed_by=reviewed_by,
            review_url=review_url, articles=split_list(articles),
        )
        if any(c.id == claim.id for c in await self._read(self.reader.claims, story, guild)):
            raise UserError(f"The claim {code(claim.id)} exists already; change it with `/corpus claim-edit`.")
        await self.bot.corpus.apply(CorpusFile(claims=[claim]), actor(interaction), action="claim-add")
        await send_private(interaction, f"Added the claim “{plain(claim.text)}” ({code(claim.id)}) to {code(story)}.")

    @corpus.command(name="claim-edit", description="Change a claim this server added")
    @app_commands.describe(
        story="The claim's story", claim="The claim to change", text="New text", verdict="New verdict ('-' clears it)",
        claimant="New claimant ('-' clears it)", reviewed_by="New fact-checker ('-' clears it)",
        review_url="New fact-check link ('-' clears it)",
    )
    @moderator_only()
    async def claim_edit(
        self,
        interaction: discord.Interaction,
        story: str,
        claim: str,
        text: app_commands.Range[str, 1, 2000] | None = None,
        verdict: app_commands.Range[str, 1, 200] | None = None,
        claimant: app_commands.Range[str, 1, 200] | None = None,
        reviewed_by: app_commands.Range[str, 1, 200] | None = None,
        review_url: str | None = None,
    ) -> None:
        guild, _ = await self._story_in(interaction, story)
        current = by_id(await self._read(self.reader.claims, story, guild), claim)
        if current is None:
            raise UserError(f"Unknown claim {code(claim)} in {code(story)}.")
        if current.guild_id != guild:
            raise UserError(f"The claim {code(current.id)} is part of the global corpus; only the bot owner can change it.")
        if review_url and review_url.strip() != "-":
            check_url(review_url, "review_url")
        changes: dict[str, Any] = {"text": text}
        for name, value in (("verdict", verdict), ("claimant", claimant), ("reviewed_by", reviewed_by),
                            ("review_url", review_url)):
            if value is not None:
                changes[name] = None if value.strip() == "-" else value
        data = current.model_dump()
        data.update({k: v for k, v in changes.items() if k != "text" or v is not None})
        data["guild_id"] = None
        updated = build(Claim, **{k: v for k, v in data.items() if v is not None})
        await self.bot.corpus.apply(CorpusFile(claims=[updated]), actor(interaction), action="claim-edit")
        await send_private(interaction, f"Changed the claim {code(updated.id)}: “{plain(updated.text)}”.")

    # -- questions and positions ----------------------------------------------------------------------------------

    @corpus.command(name="question-add", description="Add a question sources disagree on (e.g. When was it signed?)")
    @app_commands.describe(story="The story", text="The question", kind="What kind of answer it has", id="An id")
    @moderator_only()
    async def question_add(
        self,
        interaction: discord.Interaction,
        story: str,
        text: app_commands.Range[str, 1, 300],
        kind: Literal["date", "place", "actor", "characterization", "number", "other"] = "other",
        id: str | None = None,  # noqa: A002
    ) -> None:
        guild, st = await self._story_in(interaction, story)
        qid = id or f"{slugify(text, 50)}-{short_hash(story, text)}"
        question = build(Question, id=qid, text=text, kind=QuestionKind(kind))
        if any(q.id == question.id for q in st.questions):
            raise UserError(f"The question {code(question.id)} exists already; change it with `/corpus question-edit`.")
        await self.bot.corpus.upsert_question(story, question, actor(interaction))
        await send_private(interaction, f"Added the question “{plain(question.text)}” ({code(question.id)}). "
                                 "Add answers with `/corpus position-add`.")

    @corpus.command(name="question-edit", description="Change a question this server added")
    @app_commands.describe(story="The story", question="The question", text="New text", kind="New kind")
    @moderator_only()
    async def question_edit(
        self,
        interaction: discord.Interaction,
        story: str,
        question: str,
        text: app_commands.Range[str, 1, 300] | None = None,
        kind: Literal["date", "place", "actor", "characterization", "number", "other"] | None = None,
    ) -> None:
        guild, st = await self._story_in(interaction, story)
        current = by_id(st.questions, question)
        if current is None:
            raise UserError(f"Unknown question {code(question)} in {code(story)}.")
        updated = build(
            Question, id=current.id, text=text or current.text, kind=QuestionKind(kind) if kind else current.kind,
            positions=current.positions,
        )
        await self.bot.corpus.upsert_question(story, updated, actor(interaction))
        await send_private(interaction, f"Changed the question {code(updated.id)}: “{plain(updated.text)}”.")

    @corpus.command(name="position-add", description="Add an answer to a question, with the articles that take it")
    @app_commands.describe(
        story="The story", question="The question it answers", statement="The answer (e.g. On 31 May in Moscow)",
        articles="Article ids that take this position, comma-separated", quote="A quote that shows it",
        quote_article="The article the quote is from (default: the first article)", id="An id",
    )
    @moderator_only()
    async def position_add(
        self,
        interaction: discord.Interaction,
        story: str,
        question: str,
        statement: app_commands.Range[str, 1, 500],
        articles: str | None = None,
        quote: app_commands.Range[str, 1, 1000] | None = None,
        quote_article: str | None = None,
        id: str | None = None,  # noqa: A002
    ) -> None:
        guild, st = await self._story_in(interaction, story)
        q = by_id(st.questions, question)
        if q is None:
            raise UserError(f"Unknown question {code(question)} in {code(story)}.")
        arts = split_list(articles)
        evidence = []
        if quote:
            source = quote_article or (arts[0] if arts else None)
            if not source:
                raise UserError("quote: say which article it is from (quote_article or articles).")
            evidence.append(build(Evidence, article=source, quote=quote))
        pid = id or f"{slugify(statement, 50)}-{short_hash(question, statement)}"
        position = build(Position, id=pid, statement=statement, articles=arts, evidence=evidence)
        if any(p.id == position.id for p in q.positions):
            raise UserError(f"The position {code(position.id)} exists already; change it with `/corpus position-edit`.")
        await self.bot.corpus.upsert_position(q.id, position, actor(interaction))
        await send_private(interaction, f"Added the position “{plain(position.statement)}” ({code(position.id)}) to “{plain(q.text)}”.")

    @corpus.command(name="position-edit", description="Change a position this server added")
    @app_commands.describe(
        story="The story", question="The question", position="The position", statement="New statement",
        articles="New article ids, comma-separated (replaces the list)",
    )
    @moderator_only()
    async def position_edit(
        self,
        interaction: discord.Interaction,
        story: str,
        question: str,
        position: str,
        statement: app_commands.Range[str, 1, 500] | None = None,
        articles: str | None = None,
    ) -> None:
        guild, st = await self._story_in(interaction, story)
        q = by_id(st.questions, question)
        current = by_id(q.positions, position) if q else None
        if q is None or current is None:
            raise UserError(f"Unknown position {code(position)} under {code(question)}.")
        arts = split_list(articles) if articles is not None else current.articles
        evidence = [e for e in current.evidence if e.article in arts] if articles is not None else current.evidence
        updated = build(
            Position, id=current.id, statement=statement or current.statement, articles=arts, evidence=evidence,
            status=current.status,
        )
        await self.bot.corpus.upsert_position(q.id, updated, actor(interaction))
        await send_private(interaction, f"Changed the position {code(updated.id)}: “{plain(updated.statement)}”.")

    @corpus.command(name="position-merge", description="Fold one position into another of the same question")
    @app_commands.describe(
        story="The story", question="The question", position="The position to keep",
        merge="The position to fold into it (its articles and evidence move over; it is removed)",
    )
    @moderator_only()
    async def position_merge(
        self, interaction: discord.Interaction, story: str, question: str, position: str, merge: str
    ) -> None:
        guild, st = await self._story_in(interaction, story)
        q = by_id(st.questions, question)
        ids = {p.id for p in q.positions} if q else set()
        for pid in (position, merge):
            if pid not in ids:
                raise UserError(f"Unknown position {code(pid)} under {code(question)}.")
        merged = await self.bot.corpus.merge_positions(position, merge, actor(interaction))
        await send_private(
            interaction,
            f"Merged {code(merge)} into {code(merged.id)}: “{plain(merged.statement)}” now cites "
            f"{len(merged.articles)} article(s). Undo with `/corpus undo`.",
        )

    # -- ratings --------------------------------------------------------------------------------------------------

    @corpus.command(name="rate", description="Rate an outlet on one field, with the basis and evidence for it")
    @app_commands.describe(
        outlet="The outlet", field="What to rate", value="The rating (e.g. mixed, state_media, yes)",
        basis="Why: what the rating rests on", evidence_url="A link that shows it", clear="Remove this rating instead",
    )
    @app_commands.choices(field=RATING_CHOICES)
    @moderator_only()
    async def rate(
        self,
        interaction: discord.Interaction,
        outlet: str,
        field: app_commands.Choice[str],
        value: app_commands.Range[str, 1, 200] | None = None,
        basis: app_commands.Range[str, 1, 2000] | None = None,
        evidence_url: str | None = None,
        clear: bool = False,
    ) -> None:
        guild = int(interaction.guild_id or 0)
        name = field.value
        entry = None
        if not clear:
            value = clean_text(value or "").strip()  # nothing but invisible characters is no rating
            if not value:
                raise UserError("value: give the rating, or set clear to remove it.")
            if name == "factual_record" and value not in FACTUAL_RECORD_VALUES:
                raise UserError(f"factual record: one of {', '.join(FACTUAL_RECORD_VALUES)}")
            if name == "outlet_type" and value not in {t.value for t in OutletType}:
                raise UserError(f"outlet type: one of {', '.join(t.value for t in OutletType)}")
            check_url(evidence_url, "evidence_url")
            entry = build(RatingEntry, value=value, basis=basis, evidence_url=evidence_url, set_by=str(interaction.user)[:200])
        await self.bot.corpus.rate_outlet(outlet, name, entry, actor(interaction))
        if entry is None:
            await send_private(interaction, f"Cleared {field.name} of {code(outlet)} on this server.")
        else:
            await send_private(interaction, f"Rated {code(outlet)}: {field.name} = **{plain(entry.value)}** on this server.")

    # -- remove, hide, undo ---------------------------------------------------------------------------------------

    @corpus.command(name="remove", description="Remove a story, article, claim, question, position or outlet this server added")
    @app_commands.describe(kind="What to remove", id="Which one (start typing)")
    @moderator_only()
    async def remove(self, interaction: discord.Interaction, kind: Kind, id: str) -> None:  # noqa: A002
        await self.bot.corpus.remove(kind, id, actor(interaction))
        await send_private(interaction, f"Removed the {kind} {code(id)}. Undo with `/corpus undo`.")

    @corpus.command(name="hide", description="Hide a global story on this server")
    @app_commands.describe(story="The story to hide")
    @moderator_only()
    async def hide(self, interaction: discord.Interaction, story: str) -> None:
        guild, st = await self._story_in(interaction, story)
        await self.bot.corpus.hide_story(st.id, True, actor(interaction))
        await send_private(interaction, f"Hid **{plain(st.title)}** on this server. Show it again with `/corpus unhide`.")

    @corpus.command(name="unhide", description="Show a hidden story again on this server")
    @app_commands.describe(story="The hidden story")
    @moderator_only()
    async def unhide(self, interaction: discord.Interaction, story: str) -> None:
        guild = int(interaction.guild_id or 0)
        if story not in await self._read(self.reader.hidden_stories, guild):
            raise UserError(f"{code(story)} is not hidden on this server.")
        await self.bot.corpus.hide_story(story, False, actor(interaction))
        await send_private(interaction, f"{code(story)} is shown again on this server.")

    @corpus.command(name="undo", description="Undo this server's last corpus change")
    @moderator_only()
    async def undo(self, interaction: discord.Interaction) -> None:
        entry = await self.bot.corpus.undo(actor(interaction))
        if entry is None:
            await send_private(interaction, "Nothing to undo: this server has no change left that is not undone.")
            return
        if entry.target_kind == "settings":
            self.bot.forget_guild_settings(entry.guild_id)
        elif entry.target_kind == "autoreply":
            if (cog := self.bot.get_cog("AutoReply")) is not None:
                await cog.reload()  # type: ignore[attr-defined]
        else:
            self.bot.keep_signals()  # an undone removal or edit may bring articles back (a pass with none: 0.2 s)
        await send_private(
            interaction,
            f"Undid #{entry.id}: {plain(entry.action)} {plain(entry.target_kind)} {code(entry.target_id)} "
            f"by {plain(entry.actor_name, 100)} — {plain(entry.summary)}.",
        )

    # -- import and export ----------------------------------------------------------------------------------------

    @corpus.command(name="import", description="Import a corpus JSON or ClaimReview JSON-LD file (all or nothing)")
    @app_commands.describe(file="The .json file", story="For ClaimReview: attach the claims to this story")
    @moderator_only()
    async def import_(self, interaction: discord.Interaction, file: discord.Attachment, story: str | None = None) -> None:
        check_attachment(file, limit=MAX_IMPORT_FILE_BYTES, suffixes=(".json", ".jsonld"))
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await read_attachment(file, limit=MAX_IMPORT_FILE_BYTES)
        try:
            fmt, corpus_file = await self._read(lambda: load_bytes(data, file.filename, story=story))
            result = await self.bot.corpus.apply(corpus_file, actor(interaction), action=f"import {fmt}")
        except (ImportFileError, CorpusError) as exc:
            raise UserError(f"Import failed, nothing changed: {exc}") from exc
        if result.stories >= IMPORT_MERGE_MIN_STORIES:
            await self.bot.corpus.merge_after_import()  # faster checks after a bulk import
        self.bot.keep_signals()  # the new articles' signals, in the background, so their first checks read them
        await send_private(interaction, f"Imported {plain(file.filename, 80)} ({fmt}): {result.describe()}. "
                                 "Undo with `/corpus undo`.")

    @corpus.command(name="export", description="Export what this server added, as a file")
    @app_commands.describe(format="corpus (imports back unchanged) or claimreview (claims with verdicts)")
    @moderator_only()
    async def export(
        self, interaction: discord.Interaction, format: Literal["corpus", "claimreview"] = "corpus"  # noqa: A002
    ) -> None:
        guild = int(interaction.guild_id or 0)
        await interaction.response.defer(ephemeral=True, thinking=True)
        file = await self.bot.corpus.export(guild)
        if format == "claimreview":
            text = json.dumps(to_claimreview(file), ensure_ascii=False, indent=2)
        else:
            text = file.model_dump_json(indent=2, exclude_none=True)
        data = (text + "\n").encode("utf-8")
        limit = interaction.filesize_limit or 8 * 1024 * 1024
        if len(data) > limit:
            raise UserError(
                f"The export is {len(data):,} bytes, over Discord's {limit:,}-byte limit here. "
                "The bot's operator can export it with `crosscheck export --guild`."
            )
        name = f"crosscheck-{guild}-{format}-{date.today().isoformat()}.json"
        await send_private(
            interaction,
            f"{len(file.stories)} stories, {len(file.articles)} articles, {len(file.claims)} claims, "
            f"{len(file.outlets)} outlets added by this server ({format} format).",
            file=discord.File(io.BytesIO(data), filename=name),
        )

    # -- history and feedback -------------------------------------------------------------------------------------

    @corpus.command(name="history", description="Who changed what in this server's corpus, and when")
    @app_commands.describe(limit="How many changes (most recent first)")
    @moderator_only()
    async def history(self, interaction: discord.Interaction, limit: app_commands.Range[int, 1, 25] = 10) -> None:
        in_range(limit, 1, 25, "limit")
        entries = await self.bot.corpus.history(int(interaction.guild_id or 0), limit)
        await send_list(interaction, "Corpus history", "No changes yet.", [
            (
                f"#{a.id} {plain(a.action, 60)} {plain(a.target_kind, 30)} {plain(a.target_id, 80)}"
                + (" (undone)" if a.undone else ""),
                f"{plain(a.summary, 300) or '—'}\nby {plain(a.actor_name, 100)} ({a.actor_id}) {when(a.created_at)}",
            )
            for a in entries
        ])

    @corpus.command(name="feedback", description="Answers members marked as not relevant")
    @app_commands.describe(limit="How many (most recent first)")
    @moderator_only()
    async def feedback(self, interaction: discord.Interaction, limit: app_commands.Range[int, 1, 25] = 10) -> None:
        in_range(limit, 1, 25, "limit")
        rows = await self.bot.corpus.feedback(int(interaction.guild_id or 0), limit)
        await send_list(interaction, "Not relevant — feedback", "No feedback yet.", [
            (
                f"#{r['id']} story {plain(r.get('story_id') or '?', 100)}",
                f"“{plain(r.get('query') or '', 300)}”\nby <@{r['user_id']}>"
                + (f" in <#{r['channel_id']}>" if r.get("channel_id") else "") + f" {when(r.get('created_at'))}",
            )
            for r in rows
        ])

    # -- autocomplete ---------------------------------------------------------------------------------------------

    @article_add.autocomplete("story")
    @claim_add.autocomplete("story")
    @claim_edit.autocomplete("story")
    @question_add.autocomplete("story")
    @question_edit.autocomplete("story")
    @position_add.autocomplete("story")
    @position_edit.autocomplete("story")
    @position_merge.autocomplete("story")
    @hide.autocomplete("story")
    @moderator_autocomplete
    async def ac_story(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return choices(await self._read(self.reader.search_stories, current[:100], interaction.guild_id, 25))

    @article_add.autocomplete("outlet")
    @rate.autocomplete("outlet")
    @moderator_autocomplete
    async def ac_outlet(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        outlets = await self._read(self.reader.outlets, interaction.guild_id)
        return choices(((o.id, o.name) for o in outlets), current)

    @question_edit.autocomplete("question")
    @position_add.autocomplete("question")
    @position_edit.autocomplete("question")
    @position_merge.autocomplete("question")
    @moderator_autocomplete
    async def ac_question(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        story_id = getattr(interaction.namespace, "story", None)
        story = await self._read(self.reader.story, story_id, interaction.guild_id) if story_id else None
        return choices(((q.id, q.text) for q in story.questions), current) if story else []

    @position_edit.autocomplete("position")
    @position_merge.autocomplete("position")
    @position_merge.autocomplete("merge")
    @moderator_autocomplete
    async def ac_position(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        ns = interaction.namespace
        story = await self._read(self.reader.story, getattr(ns, "story", "") or "", interaction.guild_id)
        if story is None:
            return []
        question = getattr(ns, "question", None)
        return choices(((p.id, p.statement) for q in story.questions if q.id == question for p in q.positions), current)

    @claim_edit.autocomplete("claim")
    @moderator_autocomplete
    async def ac_own_claim(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        story_id = getattr(interaction.namespace, "story", None) or ""
        claims = await self._read(self.reader.claims, story_id, interaction.guild_id)
        return choices(((c.id, c.text) for c in claims if c.guild_id == interaction.guild_id), current)

    @remove.autocomplete("id")
    @moderator_autocomplete
    async def ac_own_record(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """This server's own records of the kind chosen in the ``kind`` option (for /corpus remove)."""
        own = await self._own(int(interaction.guild_id or 0))
        kind = getattr(interaction.namespace, "kind", None) or "story"
        rows: list[tuple[str, str]] = []
        if kind == "story":
            rows = [(s.id, s.title) for s in own.stories]
        elif kind == "article":
            rows = [(a.id, a.title or a.url or a.id) for a in own.articles]
        elif kind == "claim":
            rows = [(c.id, c.text) for c in own.claims]
        elif kind == "outlet":
            rows = [(o.id, o.name) for o in own.outlets]
        elif kind in ("question", "position"):
            # Questions and positions a server adds may hang off global stories: look at every story it sees.
            story_ids = [s for s, _ in await self._read(self.reader.search_stories, "", interaction.guild_id, 200)]
            for sid in story_ids:
                story = await self._read(self.reader.story, sid, interaction.guild_id)
                for q in story.questions if story else []:
                    if kind == "question":
                        rows.append((q.id, q.text))
                    else:
                        rows.extend((p.id, p.statement) for p in q.positions)
        return choices(rows, current, show_id=True)

    @unhide.autocomplete("story")
    @moderator_autocomplete
    async def ac_hidden_story(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        rows = []
        for sid in sorted(await self._read(self.reader.hidden_stories, interaction.guild_id)):
            story = await self._read(self.reader.story, sid, interaction.guild_id)
            rows.append((sid, story.title if story else sid))
        return choices(rows, current)

    # -- /settings ------------------------------------------------------------------------------------------------

    @app_commands.command(name="settings", description="Moderators: this server's Crosscheck settings")
    @app_commands.describe(
        moderator_role="A role whose members may use the moderator commands (besides Manage Server)",
        clear_moderator_role="Remove the moderator role",
        threshold="Minimum match score (0-100) for /check answers on this server",
        private_replies="Answer /check, /story and /outlet only to the caller by default",
    )
    @moderator_only()
    async def settings(
        self,
        interaction: discord.Interaction,
        moderator_role: discord.Role | None = None,
        clear_moderator_role: bool = False,
        threshold: app_commands.Range[float, 0, 100] | None = None,
        private_replies: bool | None = None,
    ) -> None:
        guild = int(interaction.guild_id or 0)
        in_range(threshold, 0, 100, "threshold")
        changes: dict[str, Any] = {}
        if moderator_role is not None:
            if moderator_role.is_default():
                raise UserError("@everyone cannot be the moderator role.")
            changes["moderator_role_id"] = moderator_role.id
        if clear_moderator_role:
            changes["moderator_role_id"] = None
        if threshold is not None:
            changes["threshold"] = float(threshold)
        if private_replies is not None:
            changes["ephemeral"] = private_replies
        current = (await self.bot.set_guild_settings(guild, actor=actor(interaction), **changes) if changes
                   else await self.bot.guild_settings(guild))
        role = f"<@&{current['moderator_role_id']}>" if current.get("moderator_role_id") else "none (Manage Server only)"
        t = current.get("threshold")
        lines = [
            "Settings saved." if changes else "This server's settings:",
            f"• Moderator role: {role}",
            f"• /check threshold: {t:g}" if t is not None else f"• /check threshold: default ({self.bot.settings.threshold:g})",
            f"• Answers: {'private to the caller' if current.get('ephemeral') else 'in the channel'} by default",
        ]
        if changes.get("moderator_role_id"):
            lines.append(
                "Members of that role see the moderator commands once a server admin allows the role under "
                "Server Settings → Integrations → Crosscheck."
            )
        await send_private(interaction, "\n".join(lines))


async def setup(bot: CrosscheckBot) -> None:
    await bot.add_cog(CorpusAdmin(bot))
