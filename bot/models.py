"""Corpus models: the one pydantic definition of outlets, stories, articles, claims and questions.

Every boundary (seed files, imports, Discord forms, the CLI) validates through these models, so a record that is
accepted anywhere is accepted everywhere.  Nothing here touches SQL or Discord.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator, model_validator

from bot.text import clean_text

#: Format marker and version of the corpus JSON file (docs/corpus-format.md).
CORPUS_FORMAT = "crosscheck-corpus"
CORPUS_VERSION = 1

#: Hard limits that keep one record from swamping the database or a Discord reply.
MAX_TITLE = 300
MAX_SHORT = 2_000
MAX_ARTICLE_TEXT = 200_000
MAX_ALIASES = 50

_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,119}$")

Slug = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=120)]


def _check_slug(value: str) -> str:
    if not _SLUG_RE.match(value):
        raise ValueError("must be a slug: lowercase letters, digits, '_', '-', '.', ':' (at most 120 characters)")
    return value


#: A record's own id: a Slug that must also look like one (checked after stripping and lower-casing).
SlugId = Annotated[Slug, AfterValidator(_check_slug)]


def slugify(text: str, max_len: int = 60) -> str:
    """A readable id from free text ("Russia–Afghanistan deal" -> "russia-afghanistan-deal")."""
    out = re.sub(r"[^a-z0-9]+", "-", clean_text(text).lower()).strip("-")
    return (out[:max_len].rstrip("-")) or "item"


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = clean_text(value).strip()
    return value or None


def _visible_text(value: str) -> str:
    """Refuse text made only of invisible characters (zero-width spaces, controls); the value is kept as given."""
    if not clean_text(value).strip():
        raise ValueError("is empty after removing invisible characters")
    return value


#: A required text that must show something: a title, a name, a question, a statement, a quote.
Visible = AfterValidator(_visible_text)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, str_strip_whitespace=True)


class OutletType(StrEnum):
    wire = "wire"
    newspaper = "newspaper"
    broadcaster = "broadcaster"
    magazine = "magazine"
    state_media = "state_media"
    partisan_site = "partisan_site"
    advocacy = "advocacy"
    blog = "blog"
    social_account = "social_account"
    aggregator = "aggregator"
    content_farm = "content_farm"
    ai_content_farm = "ai_content_farm"
    fact_checker = "fact_checker"
    unknown = "unknown"


class OutletFlag(StrEnum):
    satire = "satire"
    state_media = "state_media"
    user_generated = "user_generated"
    ai_content_farm = "ai_content_farm"


class RatingEntry(Model):
    """One rating field: its value plus who set it, when, on what basis and with what evidence."""

    value: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    basis: Annotated[str, StringConstraints(max_length=MAX_SHORT)] | None = None
    evidence_url: Annotated[str, StringConstraints(max_length=2_000)] | None = None
    set_by: Annotated[str, StringConstraints(max_length=200)] | None = None
    set_at: datetime | None = None


#: The rating fields moderators may set, with a one-line meaning each (shown in /corpus rate and docs).
RATING_FIELDS: dict[str, str] = {
    "outlet_type": "what kind of outlet it is (wire, newspaper, state media, content farm ...)",
    "ownership": "who owns it",
    "funding": "how it is funded (subscriptions, ads, state, donors, unknown)",
    "corrections_policy": "whether it publishes corrections (yes / no / unclear)",
    "news_opinion_separation": "whether opinion is labelled apart from news (yes / no / unclear)",
    "factual_record": "its record on facts (high / mixed / low)",
    "bias": "its bias label, with the basis for it",
}

#: Values of factual_record, best first; used to weight outlets.
FACTUAL_RECORD_VALUES = ("high", "mostly_high", "mixed", "low", "very_low")


class OutletRating(Model):
    outlet_type: RatingEntry | None = None
    ownership: RatingEntry | None = None
    funding: RatingEntry | None = None
    corrections_policy: RatingEntry | None = None
    news_opinion_separation: RatingEntry | None = None
    factual_record: RatingEntry | None = None
    bias: RatingEntry | None = None
    flags: dict[OutletFlag, RatingEntry] = Field(default_factory=dict)

    def is_empty(self) -> bool:
        return not self.flags and all(getattr(self, f) is None for f in RATING_FIELDS)

    def merged_over(self, base: OutletRating | None) -> OutletRating:
        """This rating's fields, falling back to ``base`` field by field (a server's rating over the global one)."""
        if base is None:
            return self
        data = base.model_dump()
        for name in RATING_FIELDS:
            if getattr(self, name) is not None:
                data[name] = getattr(self, name).model_dump()
        flags = dict(base.flags)
        flags.update(self.flags)
        data["flags"] = {k: v.model_dump() for k, v in flags.items()}
        return OutletRating.model_validate(data)


def rating_json(rating: OutletRating | None) -> dict[str, Any] | None:
    """A rating as reports carry it (JSON, unset fields left out); None when there is none or it is empty."""
    return None if rating is None or rating.is_empty() else rating.model_dump(mode="json", exclude_none=True)


class Outlet(Model):
    id: SlugId
    name: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE), Visible]
    domains: list[Annotated[str, StringConstraints(min_length=1, max_length=253)]] = Field(default_factory=list)
    type: OutletType = OutletType.unknown
    rating: OutletRating | None = None

    @field_validator("domains")
    @classmethod
    def _norm_domains(cls, v: list[str]) -> list[str]:
        from bot.urls import normalize_domain

        out: list[str] = []
        for d in v:
            nd = normalize_domain(d)
            if not nd:
                raise ValueError(f"not a domain: {d!r}")
            if nd not in out:
                out.append(nd)
        return out


class EntityKind(StrEnum):
    country = "country"
    organization = "organization"
    person = "person"
    place = "place"
    other = "other"


class Entity(Model):
    """A named thing the story is about, with its aliases in any language (Russia ≈ Moscow ≈ Kremlin ≈ Россия)."""

    id: SlugId
    name: Annotated[str, StringConstraints(min_length=1, max_length=200), Visible]
    kind: EntityKind = EntityKind.other
    aliases: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(default_factory=list)
    #: Core entities are the ones a message must name for the story to match (see bot/matching.py).
    core: bool = True

    @field_validator("aliases")
    @classmethod
    def _limit_aliases(cls, v: list[str]) -> list[str]:
        if len(v) > MAX_ALIASES:
            raise ValueError(f"at most {MAX_ALIASES} aliases")
        return v


class Evidence(Model):
    article: Slug
    quote: Annotated[str, StringConstraints(min_length=1, max_length=1_000), Visible]


class PositionStatus(StrEnum):
    accepted = "accepted"
    suggested = "suggested"
    rejected = "rejected"


class Position(Model):
    """One answer to a question, the articles that take it and the quotes that show it."""

    id: SlugId
    statement: Annotated[str, StringConstraints(min_length=1, max_length=500), Visible]
    articles: list[Slug] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    status: PositionStatus = PositionStatus.accepted


class QuestionKind(StrEnum):
    date = "date"
    place = "place"
    actor = "actor"
    characterization = "characterization"
    number = "number"
    other = "other"


class Question(Model):
    """A facet of a story on which sources may disagree ("When was the agreement signed?")."""

    id: SlugId
    text: Annotated[str, StringConstraints(min_length=1, max_length=300), Visible]
    kind: QuestionKind = QuestionKind.other
    positions: list[Position] = Field(default_factory=list)


class Story(Model):
    id: SlugId
    title: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE), Visible]
    summary: Annotated[str, StringConstraints(max_length=MAX_SHORT)] = ""
    first_seen: date | None = None
    last_seen: date | None = None
    entities: list[Entity] = Field(default_factory=list)
    #: Distinctive words of the story's topic ("military", "pact"); generic words ("signed", "deal") do not belong.
    topic_terms: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(default_factory=list)
    questions: list[Question] = Field(default_factory=list)
    #: None: the global corpus; otherwise the Discord server (guild) id that owns the story.
    guild_id: int | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Story:
        if self.first_seen and self.last_seen and self.last_seen < self.first_seen:
            raise ValueError("last_seen is before first_seen")
        return self


class ArticleRole(StrEnum):
    report = "report"
    #: Events that predate the story (context), not a version of it.
    background = "background"


class Article(Model):
    id: SlugId
    story: Slug
    outlet: Slug
    title: Annotated[str, StringConstraints(max_length=MAX_TITLE)] = ""
    url: Annotated[str, StringConstraints(max_length=2_000)] | None = None
    published: date | None = None
    author: Annotated[str, StringConstraints(max_length=200)] | None = None
    language: Annotated[str, StringConstraints(max_length=16)] = "en"
    role: ArticleRole = ArticleRole.report
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ARTICLE_TEXT)]
    guild_id: int | None = None

    @field_validator("text", "title")
    @classmethod
    def _clean_text(cls, v: str, info: ValidationInfo) -> str:
        v = clean_text(v, keep_newlines=True, nfkc=False).strip()
        if not v and info.field_name == "text":  # e.g. only zero-width characters: the reader would refuse it later
            raise ValueError("is empty after removing control characters")
        return v

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        v = _clean(v)
        if v is None:
            return None
        from bot.urls import canonicalize_url

        if canonicalize_url(v) is None:
            raise ValueError("not an http(s) URL")
        return v

    @property
    def canonical_url(self) -> str | None:
        from bot.urls import canonicalize_url

        return canonicalize_url(self.url) if self.url else None


class Claim(Model):
    """A short statement a story makes or people repeat about it; optionally a fact-checker's verdict on it."""

    id: SlugId
    story: Slug
    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SHORT)]
    articles: list[Slug] = Field(default_factory=list)
    verdict: Annotated[str, StringConstraints(max_length=200)] | None = None
    claimant: Annotated[str, StringConstraints(max_length=200)] | None = None
    reviewed_by: Annotated[str, StringConstraints(max_length=200)] | None = None
    review_url: Annotated[str, StringConstraints(max_length=2_000)] | None = None
    review_date: date | None = None
    guild_id: int | None = None

    @field_validator("text")
    @classmethod
    def _clean_claim(cls, v: str) -> str:
        v = clean_text(v).strip()
        if not v:
            raise ValueError("is empty after removing control characters")
        return v


class AttachedQuestion(Question):
    """A question a server adds to a story that is not in the same file (e.g. a global story)."""

    story: Slug


class AttachedPosition(Position):
    """A position a server adds to a question that is not in the same file (e.g. a global question)."""

    question: Slug


class RatingRecord(Model):
    """A server's rating of an outlet that is not in the same file (e.g. a global outlet)."""

    outlet: Slug
    rating: OutletRating


class CorpusFile(Model):
    """The corpus's own JSON file format (docs/corpus-format.md)."""

    format: Literal["crosscheck-corpus"] = CORPUS_FORMAT
    version: Literal[1] = CORPUS_VERSION
    outlets: list[Outlet] = Field(default_factory=list)
    stories: list[Story] = Field(default_factory=list)
    articles: list[Article] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)
    #: A server's additions to records that are not in this file (global ones): optional, empty for most files.
    questions: list[AttachedQuestion] = Field(default_factory=list)
    positions: list[AttachedPosition] = Field(default_factory=list)
    ratings: list[RatingRecord] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> CorpusFile:
        """Ids are unique per kind; references point at records in this file (the store checks the rest)."""
        for kind in ("outlets", "stories", "articles", "claims"):
            seen: set[str] = set()
            for i, rec in enumerate(getattr(self, kind)):
                if rec.id in seen:
                    raise ValueError(f"{kind}[{i}].id: duplicate id {rec.id!r}")
                seen.add(rec.id)
        return self
