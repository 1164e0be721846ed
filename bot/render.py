"""Rendering a ``Report`` for people: plain text (CLI, console) and Discord embeds as plain dicts.

No discord import: embeds are built as the dicts ``discord.Embed.from_dict`` takes, and every limit Discord enforces
is enforced here (title 256, description 4096, 25 fields, field name 256, field value 1024, footer 2048, 6000 in
total per message).  All corpus and user text passes through ``inert`` first: no mention, invite or masked link in
the corpus can ping anyone or disguise a link.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from typing import Any

from bot.report import Match, Report, SourceOut, VersionOut
from bot.text import clean_text

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
EMBED_TOTAL_MAX = 6000
EMBEDS_PER_MESSAGE = 10
CONTENT_MAX = 2000

COLOR_CONFLICT = 0xE67E22
COLOR_OK = 0x2ECC71
COLOR_NONE = 0x95A5A6

_ZW = "\u200b"
_MENTION_RE = re.compile(r"<(@[!&]?|#|/)(\w{1,100})(:\d{1,30})?>|@(everyone|here)", re.IGNORECASE)
_INVITE_RE = re.compile(r"(discord(?:app)?\.(?:gg|com/invite|io|me|li))/", re.IGNORECASE)
_MARKDOWN_RE = re.compile(r"([\\*_~`|>\[\]()#-])")
_URL_RE = re.compile(r"https?://\S{1,2000}", re.IGNORECASE)


def inert(text: str | None, *, markdown: bool = True) -> str:
    """Corpus or user text made safe to show: mentions, invites, masked links and markdown neutralised."""
    if not text:
        return ""
    # Controls, bidi overrides and zero-width characters out first: they can disguise text or split a mention.
    # (Printable ASCII has none of them: the common case skips the work; this runs on the event loop.)
    if not (text.isascii() and text.isprintable()):
        text = clean_text(text, keep_newlines=True, nfkc=False)
    if "@" in text or "<" in text:
        text = _MENTION_RE.sub(lambda m: m.group(0).replace("@", "@" + _ZW).replace("<", "<" + _ZW).replace("#", "#" + _ZW), text)
    if "/" in text:
        text = _INVITE_RE.sub(lambda m: m.group(1).replace(".", _ZW + ".") + "/", text)
    if markdown:
        # Escape markdown outside URLs, and show URLs as code so they cannot be masked or auto-embedded.
        if "://" not in text:
            return _MARKDOWN_RE.sub(r"\\\1", text)
        parts, last = [], 0
        for m in _URL_RE.finditer(text):
            parts.append(_MARKDOWN_RE.sub(r"\\\1", text[last : m.start()]))
            parts.append("`" + m.group(0).replace("`", "ˋ") + "`")
            last = m.end()
        parts.append(_MARKDOWN_RE.sub(r"\\\1", text[last:]))
        text = "".join(parts)
    else:
        # Masked links ("[text](https://...)") work in plain message content too: break the "](" they need.
        text = text.replace("](", "]" + _ZW + "(")
    return text


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 1)
    if cut < limit // 2:
        cut = limit - 1
    return text[:cut].rstrip("\\") + "…"


def quote(text: str, limit: int = 160) -> str:
    return "“" + clip(" ".join(text.split()), limit) + "”"


_POLARITY_MARK = {"positive": "＋", "negative": "−", "neutral": "·"}
_STATUS_MARK = {"conflicting": "⚠️", "agreed": "✅", "unclear": "❔"}


STRONGEST = "held by the most trustworthy sources"


def _strongest(v: VersionOut):
    """The position of a conflicting question that the best sources hold, if one clearly leads."""
    if v.status != "conflicting" or len(v.positions) < 2:
        return None
    first, second = v.positions[0], v.positions[1]
    return first if first.weight > second.weight + 0.05 else None


def _outlet_names(report_match: Match) -> dict[str, str]:
    return {s.article: s.outlet for s in report_match.sources}


def _trust_word(trust: float) -> str:
    if trust >= 0.35:
        return "more trustworthy"
    if trust <= -0.35:
        return "less trustworthy"
    return "mixed"


# -- text -----------------------------------------------------------------------------------------------------------


def render_text(report: Report, *, signals_per_source: int = 3, width: int = 100) -> str:
    """The report as a person reads it in a terminal."""
    lines: list[str] = []
    w = textwrap.TextWrapper(width=width, subsequent_indent="      ")
    if not report.matches:
        lines.append("No known story matches this.")
        lines.append("Try the claim in other words, or paste the link to the article; `stats` shows what is known.")
    for i, m in enumerate(report.matches, 1):
        names = _outlet_names(m)
        lines.append(f"{i}. {m.story.title}")
        lines.append(f"   match {m.score:.0f}/100 ({m.confidence.value} confidence) — {'; '.join(m.why[:3])}")
        if m.story.summary:
            lines.extend(w.fill("   " + m.story.summary).split("\n"))
        conflicting = [v for v in m.versions if v.status == "conflicting"]
        if m.versions:
            lines.append("")
            lines.append(f"   What the sources say ({len(conflicting)} disagreement{'s' if len(conflicting) != 1 else ''}):")
            for v in m.versions:
                lines.append(f"   {_STATUS_MARK.get(v.status, '')} {v.question} [{v.status}]")
                lead = _strongest(v)
                for p in v.positions:
                    who = ", ".join(names.get(a, a) for a in p.articles) or "no source"
                    mark = f" ★ {STRONGEST}" if p is lead else ""
                    lines.extend(w.fill(f"     – {p.statement} — {who}{mark}").split("\n"))
                    for e in p.evidence[:1]:
                        lines.extend(w.fill(f"       {quote(e.quote)} ({names.get(e.article, e.article)})").split("\n"))
        if m.sources:
            lines.append("")
            lines.append("   Sources, most to least trustworthy:")
            for s in m.sources:
                role = " (background: earlier events)" if s.role == "background" else ""
                lines.append(f"   • {s.outlet}{role} — {_trust_word(s.trust)} ({s.trust:+.2f}): {s.summary}")
                for sig in s.signals[:signals_per_source]:
                    lines.extend(w.fill(f"       {_POLARITY_MARK[sig.polarity.value]} {sig.label}: {sig.evidence}").split("\n"))
                rating = _rating_line(s)
                if rating:
                    lines.append(f"       rating: {rating}")
        lines.append("")
    for link in report.links:
        r = _rating_dict_line(link.rating)
        lines.append(f"Link {link.domain}: {link.outlet}" + (f" — rating: {r}" if r else ""))
    # Corpus text may hold terminal escape sequences or bidi overrides: none reaches the terminal.
    return clean_text("\n".join(lines), keep_newlines=True, nfkc=False).rstrip() + "\n"


def _rating_dict_line(rating: dict[str, Any] | None) -> str:
    if not rating:
        return ""
    bits = []
    for key in ("outlet_type", "factual_record", "bias", "news_opinion_separation"):
        entry = rating.get(key)
        if isinstance(entry, dict) and entry.get("value"):
            bits.append(f"{key.replace('_', ' ')}: {entry['value']}")
    flags = rating.get("flags") or {}
    if flags:
        bits.append("flags: " + ", ".join(sorted(flags)))
    return "; ".join(bits)


def _rating_line(s: SourceOut) -> str:
    return _rating_dict_line(s.rating)


# -- embeds ---------------------------------------------------------------------------------------------------------


class EmbedBuilder:
    """Builds one embed dict and refuses to exceed any of Discord's limits."""

    def __init__(self, title: str, description: str = "", color: int = COLOR_OK):
        self.title = clip(title, TITLE_MAX)
        self.description = clip(description, DESCRIPTION_MAX)
        self.color = color
        self.fields: list[dict[str, Any]] = []
        self.footer = ""

    def size(self) -> int:
        return len(self.title) + len(self.description) + len(self.footer) + sum(
            len(f["name"]) + len(f["value"]) for f in self.fields
        )

    def room(self) -> int:
        return EMBED_TOTAL_MAX - self.size()

    def add_field(self, name: str, value: str, inline: bool = False) -> bool:
        """Add a field if it fits (clipping its value to what is left); False when the embed is full."""
        if len(self.fields) >= FIELDS_MAX:
            return False
        name = clip(name, FIELD_NAME_MAX) or _ZW
        budget = min(FIELD_VALUE_MAX, self.room() - len(name) - 40)
        if budget < 60:
            return False
        self.fields.append({"name": name, "value": clip(value, budget) or _ZW, "inline": inline})
        return True

    def set_footer(self, text: str) -> None:
        self.footer = clip(text, min(FOOTER_MAX, max(0, EMBED_TOTAL_MAX - self.size() + len(self.footer))))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "rich", "title": self.title, "color": self.color}
        if self.description:
            d["description"] = self.description
        if self.fields:
            d["fields"] = self.fields
        if self.footer:
            d["footer"] = {"text": self.footer}
        return d


def embed_size(embed: dict[str, Any]) -> int:
    """Characters Discord counts toward the 6000 total of an embed dict."""
    n = len(embed.get("title", "")) + len(embed.get("description", ""))
    n += len((embed.get("footer") or {}).get("text", "")) + len((embed.get("author") or {}).get("name", ""))
    n += sum(len(f.get("name", "")) + len(f.get("value", "")) for f in embed.get("fields", []))
    return n


def _version_value(v: VersionOut, names: dict[str, str], limit: int = FIELD_VALUE_MAX) -> str:
    lines = []
    lead = _strongest(v)
    for p in v.positions:
        who = ", ".join(inert(names.get(a, a)) for a in p.articles) or "no source"
        mark = f" ★ _{STRONGEST}_" if p is lead else ""
        lines.append(f"• **{inert(clip(p.statement, 200))}** — {who}{mark}")
        for e in p.evidence[:1]:
            lines.append(f"  > {inert(quote(e.quote, 150))}")
    return clip("\n".join(lines), limit)


def _source_value(s: SourceOut, n_signals: int) -> str:
    lines = [inert(clip(s.summary, 300))] if s.summary else []
    for sig in s.signals[:n_signals]:
        lines.append(f"{_POLARITY_MARK[sig.polarity.value]} {inert(sig.label)}: {inert(clip(sig.evidence, 160))}")
    r = _rating_line(s)
    if r:
        lines.append(f"_Server rating:_ {inert(r)}")
    return "\n".join(lines)


def match_pages(report: Report, match_index: int = 0, *, signals_per_source: int = 3) -> list[dict[str, Any]]:
    """Pages (embed dicts) for one match: 1) story, confidence and disagreements; 2) sources and their signals."""
    m = report.matches[match_index]
    names = _outlet_names(m)
    conflicting = [v for v in m.versions if v.status == "conflicting"]
    desc = [f"**Match:** {m.score:.0f}/100 · {m.confidence.value} confidence"]
    if m.why:
        desc.append("_Why:_ " + inert("; ".join(m.why[:3])))
    if m.story.summary:
        desc.append(inert(clip(m.story.summary, 800)))
    if conflicting:
        desc.append(f"⚠️ The sources disagree on **{len(conflicting)}** question{'s' if len(conflicting) != 1 else ''}.")
    first = EmbedBuilder(inert(m.story.title), "\n".join(desc), COLOR_CONFLICT if conflicting else COLOR_OK)
    for v in m.versions:
        if not first.add_field(f"{_STATUS_MARK.get(v.status, '')} {inert(v.question)}", _version_value(v, names)):
            break
    if m.background:
        first.add_field("Background", "Earlier events, not a version of this story: " + ", ".join(inert(names.get(a, a)) for a in m.background))
    first.set_footer(f"Story {m.story.id} · page 1/2 · sources on the next page")
    second = EmbedBuilder(f"Sources — {inert(m.story.title)}", "Most to least trustworthy; each signal with its evidence.", COLOR_OK)
    for s in m.sources:
        role = " · background" if s.role == "background" else ""
        if not second.add_field(f"{inert(s.outlet)} — {_trust_word(s.trust)}{role}", _source_value(s, signals_per_source)):
            break
    second.set_footer(f"Story {m.story.id} · page 2/2")
    return [first.to_dict(), second.to_dict()]


def report_pages(report: Report) -> list[dict[str, Any]]:
    """All pages of a report (two per match); a single 'no match' page when nothing matched."""
    if not report.matches:
        return [no_match_embed(report)]
    pages = []
    for i in range(len(report.matches)):
        pages.extend(match_pages(report, i))
    return pages


def no_match_embed(report: Report) -> dict[str, Any]:
    e = EmbedBuilder(
        "No known story matches this",
        "Crosscheck compares claims with the stories its moderators keep. Try the claim in other words, "
        "name who and what it is about, or paste the link to the article.",
        COLOR_NONE,
    )
    for link in report.links[:5]:
        r = _rating_dict_line(link.rating)
        e.add_field(f"Link: {inert(link.domain)}", inert(f"{link.outlet}" + (f" — {r}" if r else "")))
    return e.to_dict()


def compact_embed(report: Report) -> dict[str, Any]:
    """The short auto-reply: story, confidence, the disagreements in one line each, the weakest sources."""
    m = report.matches[0]
    names = _outlet_names(m)
    conflicting = [v for v in m.versions if v.status == "conflicting"]
    desc = [f"This looks like a known story ({m.confidence.value} confidence)."]
    for v in conflicting[:3]:
        held = []
        for p in v.positions[:3]:
            who = ", ".join(inert(names.get(a, a)) for a in p.articles[:2])
            held.append(f"{inert(clip(p.statement, 60))} ({who})")
        desc.append(f"⚠️ **{inert(v.question)}** " + " vs ".join(held))
    weak = [s for s in m.sources if s.trust <= -0.35]
    if weak:
        desc.append("Less trustworthy: " + "; ".join(f"{inert(s.outlet)} — {inert(clip(s.summary, 90))}" for s in weak[:3]))
    e = EmbedBuilder(inert(m.story.title), "\n".join(desc), COLOR_CONFLICT if conflicting else COLOR_OK)
    e.set_footer("Use /check for the full answer · Crosscheck")
    return e.to_dict()


def check_embed_limits(embeds: Iterable[dict[str, Any]]) -> list[str]:
    """Every limit an embed list breaks (empty when Discord would accept it)."""
    problems = []
    embeds = list(embeds)
    if len(embeds) > EMBEDS_PER_MESSAGE:
        problems.append(f"{len(embeds)} embeds > {EMBEDS_PER_MESSAGE}")
    total = 0
    for i, e in enumerate(embeds):
        size = embed_size(e)
        total += size
        if len(e.get("title", "")) > TITLE_MAX:
            problems.append(f"embed {i}: title over {TITLE_MAX}")
        if len(e.get("description", "")) > DESCRIPTION_MAX:
            problems.append(f"embed {i}: description over {DESCRIPTION_MAX}")
        fields = e.get("fields", [])
        if len(fields) > FIELDS_MAX:
            problems.append(f"embed {i}: {len(fields)} fields > {FIELDS_MAX}")
        for j, f in enumerate(fields):
            if not f.get("name") or len(f["name"]) > FIELD_NAME_MAX:
                problems.append(f"embed {i} field {j}: name empty or over {FIELD_NAME_MAX}")
            if not f.get("value") or len(f["value"]) > FIELD_VALUE_MAX:
                problems.append(f"embed {i} field {j}: value empty or over {FIELD_VALUE_MAX}")
        if len((e.get("footer") or {}).get("text", "")) > FOOTER_MAX:
            problems.append(f"embed {i}: footer over {FOOTER_MAX}")
        if size > EMBED_TOTAL_MAX:
            problems.append(f"embed {i}: {size} characters > {EMBED_TOTAL_MAX}")
    if total > EMBED_TOTAL_MAX:
        problems.append(f"message: {total} characters in embeds > {EMBED_TOTAL_MAX}")
    return problems
