"""The report: what a check answers.  The CLI prints it, `--json` dumps it, Discord embeds are rendered from it.

The JSON shape is documented in docs/report-format.md and is stable: fields may be added, never renamed or removed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REPORT_VERSION = 1


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Confidence(StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


class Polarity(StrEnum):
    positive = "positive"
    negative = "negative"
    neutral = "neutral"


class Signal(Out):
    """One quality signal of an article, always with the evidence that triggered it."""

    id: str
    label: str
    polarity: Polarity
    #: 0..1: how much this signal should move a reader's trust.
    strength: float = Field(ge=0.0, le=1.0)
    #: The quoted span(s), or the count and what was counted ("9 numbered references: [1], [2] ...").
    evidence: str


class SourceOut(Out):
    article: str
    outlet: str
    outlet_id: str | None = None
    url: str | None = None
    published: str | None = None
    role: str = "report"
    rating: dict[str, Any] | None = None
    signals: list[Signal] = Field(default_factory=list)
    #: -1 (least trustworthy) .. +1 (most); the order of `sources` follows it.
    trust: float = 0.0
    summary: str = ""


class EvidenceOut(Out):
    article: str
    quote: str


class PositionOut(Out):
    statement: str
    articles: list[str]
    evidence: list[EvidenceOut] = Field(default_factory=list)
    #: Sum of the trust of the outlets that hold this position (for "the strongest sources agree on ...").
    weight: float = 0.0


class VersionOut(Out):
    question: str
    status: str  # "conflicting" | "agreed" | "unclear"
    positions: list[PositionOut] = Field(default_factory=list)


class StoryRef(Out):
    id: str
    title: str
    summary: str = ""


class Match(Out):
    story: StoryRef
    score: float
    confidence: Confidence
    matched_text: str
    #: Why it matched: the entities, terms, claim or link that carried the score.
    why: list[str] = Field(default_factory=list)
    versions: list[VersionOut] = Field(default_factory=list)
    sources: list[SourceOut] = Field(default_factory=list)
    background: list[str] = Field(default_factory=list)


class LinkOutlet(Out):
    """A link in the query whose domain belongs to a known outlet (even when no story matches)."""

    url: str
    domain: str
    outlet: str
    outlet_id: str
    rating: dict[str, Any] | None = None


class Report(Out):
    query: str
    matches: list[Match] = Field(default_factory=list)
    links: list[LinkOutlet] = Field(default_factory=list)

    def to_json(self) -> str:
        return self.model_dump_json()
