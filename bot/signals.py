"""Quality signals: what in an article should raise or lower a reader's trust, each with the evidence that shows it.

Pure functions, no Discord, no network.  The criteria draw on NewsGuard's nine credibility criteria (sourcing,
attribution, corrections, news/opinion separation, headlines, ownership, authorship ...), the Credibility Coalition /
W3C Credible Web content signals (clickbait, emotional tone, citation of sources, quotes, spelling) and the SemEval-2020
task 11 propaganda techniques (loaded language, name calling, doubt, flag-waving ...).  The catalogue with its
triggers and the trust formula are documented in docs/signals.md; the word lists live in bot/lexicons/.

Guarantees: every signal carries evidence (quoted spans or a count and what was counted); nothing here raises on any
``str`` (lone surrogates, NULs, bidi overrides, combining marks); every regex is linear in its input (no nested
unbounded quantifiers, no ambiguous alternation under repetition; spans are bounded with {m,n}), and per-hit Python work
is capped, so a 1 MB paste is analysed in a fraction of a second.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from bot.models import Article, Outlet, OutletFlag, OutletRating, OutletType
from bot.report import Polarity, Signal, SourceOut
from bot.text import clean_text

__all__ = [
    "SIGNAL_IDS",
    "article_signals",
    "build_sources",
    "reload_lexicons",
    "source_trust",
    "strength_band",
    "summarize",
]

LEXICON_DIR = Path(__file__).with_name("lexicons")

#: Strength bands: below WEAK a signal is "weak", below STRONG "moderate", else "strong".
WEAK = 0.34
STRONG = 0.67

#: Most hits of one pattern that get per-hit Python work (hostile pastes repeat a trigger 100,000 times).
MAX_HITS = 5_000
#: At most this many characters of evidence per signal (quotes are trimmed with "…").
EVIDENCE_BUDGET = 200

POS, NEG = Polarity.positive, Polarity.negative


class _Def(NamedTuple):
    label: str
    polarity: Polarity
    #: How much a full-strength signal of this kind moves the trust score (docs/signals.md, "Trust").
    weight: float
    #: One-line summary phrase: {n} = leading count of the evidence, {items} = its first quoted spans.
    phrase: str


_CATALOGUE: dict[str, _Def] = {
    # --- positive -------------------------------------------------------------------------------------------
    "citations": _Def("Cites references", POS, 1.0, "cites {n} reference{s}"),
    "named_attribution": _Def("Named sources", POS, 0.8, "names its sources: {items}"),
    "direct_quote": _Def("Quotes a named speaker", POS, 0.5, "{n} quote{s} with a named speaker"),
    "byline": _Def("Author named", POS, 0.2, "author named"),
    "dated": _Def("Publication date given", POS, 0.15, "dated"),
    # --- negative -------------------------------------------------------------------------------------------
    "vague_sourcing": _Def("Anonymous or vague sourcing", NEG, 0.8, "vague sourcing: {items}"),
    "social_evidence": _Def("Social posts as evidence", NEG, 0.7, "leans on social posts: {items}"),
    "sensational": _Def("Sensational presentation", NEG, 0.7, "sensational presentation: {items}"),
    "commercial": _Def("Commercial injection", NEG, 1.0, "shopping/ad lines: {items}"),
    "chatbot_boilerplate": _Def("Machine-generation artefact: chatbot text", NEG, 1.5, "leftover chatbot text: {items}"),
    "markup_residue": _Def("Machine-generation artefact: leftover JSON/markup", NEG, 1.0, "leftover JSON/markup: {items}"),
    "repeated_text": _Def("Machine-generation artefact: repeated sentences", NEG, 0.8, "repeats sentences: {items}"),
    "loaded_language": _Def("Loaded or partisan wording", NEG, 0.8, "partisan wording: {items}"),
    "opinion_as_analysis": _Def("Opinion presented as analysis", NEG, 0.7, "opinion framed as analysis: {items}"),
    "hedging": _Def("Heavy hedging and speculation", NEG, 0.4, "heavy speculation: {items}"),
    "certainty_boosters": _Def("Certainty boosters", NEG, 0.4, "certainty claims: {items}"),
    "date_conflict": _Def("Conflicting dates", NEG, 0.8, "conflicting dates: {items}"),
    "misspellings": _Def("Spelling errors", NEG, 0.5, "misspellings: {items}"),
    "no_byline": _Def("No author named", NEG, 0.2, "no author named"),
    "undated": _Def("No publication date", NEG, 0.15, "no publication date"),
}

#: The catalogue: signal id -> human label (docs/signals.md describes each).
SIGNAL_IDS: dict[str, str] = {k: d.label for k, d in _CATALOGUE.items()}


def strength_band(strength: float) -> str:
    """'weak' (< 0.34), 'moderate' (< 0.67) or 'strong'."""
    return "weak" if strength < WEAK else "moderate" if strength < STRONG else "strong"


# =====================================================================================================================
# Lexicons
# =====================================================================================================================

_SEP, _APOS, _STAR, _END = "\x00s", "\x00a", "\x00*", "\x00e"
_UNIT_RE = {_SEP: r"[\s\-–]{1,3}", _APOS: r"['’]", _STAR: r"\w{0,25}"}
_CANON_SEP_RE = re.compile(r"[\s\-–]{1,50}")
_MAX_PHRASE = 80


def _canon(s: str, lower: bool = True) -> str:
    s = _CANON_SEP_RE.sub(" ", s.replace("’", "'")).strip()
    return s.lower() if lower else s


@dataclass(frozen=True)
class _Entry:
    lexicon: str
    text: str  # canonical phrase (lower-case unless exact), without the trailing '*'
    weight: float = 1.0
    exact: bool = False
    star: bool = False
    order: int = 0
    fix: str = ""  # misspellings: the right spelling


@dataclass
class _Lexicons:
    ci_re: re.Pattern[str] | None
    cs_re: re.Pattern[str] | None
    ci_exact: dict[str, list[_Entry]]
    ci_star: list[_Entry]
    cs_exact: dict[str, list[_Entry]]


def _trie_regex(phrases: Iterable[str], star: set[str]) -> str | None:
    root: dict = {}
    for phrase in phrases:
        node = root
        for ch in phrase:
            unit = _SEP if ch == " " else _APOS if ch == "'" else ch
            node = node.setdefault(unit, {})
        if phrase in star:
            node = node.setdefault(_STAR, {})
        node[_END] = {}
    if not root:
        return None

    def emit(node: dict) -> str:
        alts = [
            (_UNIT_RE[u] if u in _UNIT_RE else re.escape(u)) + emit(child)
            for u, child in sorted(node.items())
            if u != _END
        ]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return "(?:" + body + ")?" if _END in node else body

    return r"(?<![\w'’])" + emit(root) + r"(?!\w)"


def _read_lexicon(name: str) -> list[str]:
    try:
        return (LEXICON_DIR / name).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []


@lru_cache(maxsize=1)
def _lexicons() -> _Lexicons:
    ci_exact: dict[str, list[_Entry]] = {}
    ci_star: list[_Entry] = []
    ci_phrases: set[str] = set()
    star_phrases: set[str] = set()
    order = 0
    for lexicon in ("loaded", "opinion", "hedges", "boosters", "chatbot", "misspellings"):
        for raw in _read_lexicon(lexicon + ".txt"):
            line = clean_text(raw.split("#", 1)[0]).strip()
            if not line:
                continue
            order += 1
            weight, fix = 1.0, ""
            if lexicon == "misspellings":
                if "->" not in line:
                    continue
                line, fix = (p.strip() for p in line.split("->", 1))
            elif "|" in line:
                line, w = line.rsplit("|", 1)
                try:
                    weight = max(0.0, min(5.0, float(w)))
                except ValueError:
                    weight = 1.0
                line = line.strip()
            exact = len(line) > 2 and line[0] == "[" and line[-1] == "]"
            if exact:
                line = line[1:-1].strip()
            is_star = line.endswith("*")
            text = _canon(line.rstrip("*"), lower=not exact)
            if not text or len(text) > _MAX_PHRASE:
                continue
            entry = _Entry(lexicon, text, weight, exact, is_star, order, fix)
            key = text.lower()
            ci_phrases.add(key)
            if is_star:
                star_phrases.add(key)
                ci_star.append(entry)
            else:
                ci_exact.setdefault(key, []).append(entry)
    ci_star.sort(key=lambda e: -len(e.text))
    cs_exact: dict[str, list[_Entry]] = {}
    for raw in _read_lexicon("outlets.txt"):
        line = clean_text(raw.split("#", 1)[0]).strip()
        text = _canon(line, lower=False)
        if text and len(text) <= _MAX_PHRASE:
            cs_exact.setdefault(text, []).append(_Entry("outlets", text))
    ci_src = _trie_regex(sorted(ci_phrases), star_phrases)
    cs_src = _trie_regex(sorted(cs_exact), set())
    return _Lexicons(
        re.compile(ci_src, re.IGNORECASE) if ci_src else None,
        re.compile(cs_src) if cs_src else None,
        ci_exact,
        ci_star,
        cs_exact,
    )


def reload_lexicons() -> None:
    """Forget the cached word lists so edits to bot/lexicons/ take effect."""
    _lexicons.cache_clear()


# =====================================================================================================================
# Evidence formatting
# =====================================================================================================================


def _trim(s: str, limit: int = 70) -> str:
    s = " ".join(s.split()).replace("“", '"').replace("”", '"')
    if len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return s


def _q(s: str, limit: int = 70) -> str:
    return "“" + _trim(s, limit) + "”"


def _evidence(head: str, items: Sequence[str], budget: int = EVIDENCE_BUDGET) -> str:
    """``head: item, item, …`` within ``budget`` characters (items are already quoted)."""
    out = head
    sep = ": " if head else ""
    for i, item in enumerate(items):
        piece = sep + item
        if len(out) + len(piece) > budget:
            if i == 0:  # always show at least one span, shortened
                room = max(12, budget - len(out) - len(sep) - 2)
                out += sep + _q(item.strip("“”"), room)
            else:
                out += ", …"
            break
        out += piece
        sep = ", "
    return out


def _counted(counter: Counter[str], display: Mapping[str, str] | None = None, limit: int = 40) -> list[str]:
    """Quoted items ordered by frequency then first appearance, with ×n for repeats."""
    out = []
    for key, n in counter.most_common():
        shown = display[key] if display else key
        out.append(_q(shown, limit) + (f" ×{n}" if n > 1 else ""))
    return out


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _clamp(x: float, lo: float = 0.0, hi: float = 1.0) -> float:
    if x != x:  # NaN
        return lo
    return max(lo, min(hi, x))


def _signal(sid: str, strength: float, evidence: str) -> Signal:
    d = _CATALOGUE[sid]
    return Signal(id=sid, label=d.label, polarity=d.polarity, strength=round(_clamp(strength), 3), evidence=evidence)


# =====================================================================================================================
# The document: cleaned text plus what several detectors share
# =====================================================================================================================

_CTRL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
# A quotation: bounded, no quote characters inside, so pairs are found left to right without backtracking blow-ups.
_QUOTE_RE = re.compile(r"[“\"«„]([^“”\"«»„\n]{8,600})[”\"»“]")
_REF_RE = re.compile(r"\[(\d{1,3})\]")
_REF_AFTER_RE = re.compile(r"[ \t]{0,2}\[\d{1,3}\]")
_URL_RE = re.compile(r"https?://[^\s<>\"'“”‘’()\[\]{}|\\^`]{1,500}", re.IGNORECASE)

_SOCIAL_DOMAINS = (
    "twitter.com", "x.com", "t.co", "facebook.com", "fb.com", "instagram.com", "tiktok.com", "t.me", "telegram.me",
    "youtube.com", "youtu.be", "threads.net", "bsky.app", "truthsocial.com", "vk.com", "reddit.com",
)  # fmt: skip


def _prepare(text: str) -> str:
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if text.isascii():
        return _CTRL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " "))
    return clean_text(text, keep_newlines=True)


class _Hit(NamedTuple):
    entry: _Entry
    start: int
    end: int
    surface: str


@dataclass
class _Doc:
    text: str
    english: bool
    n_words: int = 0
    quote_spans: list[tuple[int, int]] = field(default_factory=list)
    hits: dict[str, list[_Hit]] = field(default_factory=dict)
    outlet_hits: list[_Hit] = field(default_factory=list)
    # filled by detectors for later ones
    citation_count: int = 0
    attributions: list[tuple[int, int, str]] = field(default_factory=list)
    commercial_lines: set[str] = field(default_factory=set)
    social_spans: list[tuple[int, int]] = field(default_factory=list)
    list_span: tuple[int, int] = (0, 0)
    _quote_starts: list[int] = field(default_factory=list)

    def per_1000(self, n: float) -> float:
        return 1000.0 * n / max(self.n_words, 1)

    def in_quote(self, pos: int) -> bool:
        i = bisect_right(self._quote_starts, pos) - 1
        return i >= 0 and pos < self.quote_spans[i][1]

    def sentence(self, pos: int, end: int | None = None) -> tuple[int, int]:
        """Bounds of the sentence around ``pos`` (at most 400 characters each way)."""
        text = self.text
        end = pos if end is None else end
        lo, hi = max(0, pos - 400), min(len(text), end + 400)
        s = max(lo, max(text.rfind(c, lo, pos) for c in ".!?\n") + 1)
        ends = [x for x in (text.find(c, end, hi) for c in ".!?\n") if x != -1]
        return s, (min(ends) + 1 if ends else hi)

    def cited(self, pos: int) -> bool:
        """Whether the sentence at ``pos`` carries a numbered reference or a link."""
        s, e = self.sentence(pos)
        return bool(_REF_RE.search(self.text, s, e) or _REF_AFTER_RE.match(self.text, e) or "http" in self.text[s:e])


def _build_doc(text: str, english: bool) -> _Doc:
    doc = _Doc(text=text, english=english)
    doc.n_words = len(_WORD_RE.findall(text))
    for m in islice(_QUOTE_RE.finditer(text), MAX_HITS):
        if m.group(1).count(" ") >= 3:
            doc.quote_spans.append(m.span())
    doc._quote_starts = [s for s, _ in doc.quote_spans]
    lex = _lexicons()
    if lex.ci_re is not None:
        for m in islice(lex.ci_re.finditer(text), MAX_HITS * 4):
            surface = m.group()
            key = _canon(surface)
            entries = lex.ci_exact.get(key)
            if not entries:
                entries = [e for e in lex.ci_star if key.startswith(e.text)][:1]
            for e in entries:
                if e.exact and _canon(surface, lower=False) != e.text:
                    continue
                doc.hits.setdefault(e.lexicon, []).append(_Hit(e, m.start(), m.end(), surface))
    if lex.cs_re is not None:
        for m in islice(lex.cs_re.finditer(text), MAX_HITS):
            for e in lex.cs_exact.get(_canon(m.group(), lower=False), ()):
                doc.outlet_hits.append(_Hit(e, m.start(), m.end(), m.group()))
    return doc


def _lex_hits(doc: _Doc, lexicon: str, *, skip_quotes: bool = True) -> list[_Hit]:
    """Hits of one lexicon in the article's own words: not inside quotations nor in its list of sources."""
    ls, le = doc.list_span
    return [h for h in doc.hits.get(lexicon, []) if not (skip_quotes and doc.in_quote(h.start)) and not ls <= h.start < le]


# =====================================================================================================================
# Positive signals: attribution, quotes, citations
# =====================================================================================================================

_VERBS = (
    r"(?:said|says|stated|states|told|tells|added|adds|noted|notes|explained|explains|remarked|remarks|warned|warns|"
    r"announced|announces|confirmed|confirms|declared|declares|emphasi[sz]ed|emphasi[sz]es|insisted|insists|argued|"
    r"argues|wrote|writes|tweeted|stressed|stresses|pointed[ \t]out|replied|responded|acknowledged|admitted|denied|"
    r"claimed|claims)"
)
_ADV = r"(?:(?:also|later|previously|then|further|recently|again|[a-z]{2,20}ly)[ \t]{1,2}){0,2}"
_NAME = r"[A-Z][\w'’.\-]{0,30}"
_CHAIN = rf"{_NAME}(?:[ \t]{{1,2}}(?:(?:of|the|for|al|bin|de|von|van|da)[ \t]{{1,2}}){{0,2}}{_NAME}){{0,5}}"
_CAP_ATTR_RE = re.compile(rf"(?<![\w'’])(?P<who>{_CHAIN})[ \t]{{1,2}}{_ADV}(?P<verb>{_VERBS})\b")
_ROLE_ATTR_RE = re.compile(
    rf"\b(?P<who>(?:the|[a-z]{{2,20}}['’]s|{_NAME})[ \t]{{1,2}}(?:[\w'’\-]{{1,20}}[ \t]{{1,2}}){{0,2}}"
    r"(?:minister|spokes(?:man|woman|person)|president|secretary|ambassador|governor|mayor|chancellor|commander|"
    rf"envoy|chairman|chairwoman|prosecutor|premier))[ \t]{{1,2}}{_ADV}(?P<verb>{_VERBS})\b"
)
_INV_ATTR_RE = re.compile(
    rf"[,”\"][ \t]{{0,2}}(?P<verb>said|says|noted|added|told|remarked|explained|wrote|warned|argued|stressed)"
    rf"[ \t]{{1,2}}(?P<who>{_NAME}(?:[ \t]{{1,2}}{_NAME}){{0,3}})"
)
_ACCORDING_RE = re.compile(r"\baccording[ \t]{1,3}to[ \t]{1,3}", re.IGNORECASE)
_ACC_VAGUE_RE = re.compile(
    r"(?:(?:the|a|an|this|that|some|many|several|unnamed|anonymous|local|media|western|initial|unconfirmed|"
    r"multiple|other)[ \t]{1,2}){0,3}(?P<noun>news[ \t]story|story|article|provided[ \t]text|text|narrative|"
    r"media[ \t]reports?|reports?|sources?|experts?|analysts?|observers?|officials?|insiders?|rumou?rs|the[ \t]news|"
    r"news|people[ \t]familiar|residents|witnesses)\b",
    re.IGNORECASE,
)
_ACC_NAMED_AFTER_RE = re.compile(r"[ \t]{1,2}(?:by|from|of|in)[ \t]{1,2}(?:the[ \t]{1,2})?[A-Z]")
_ACC_ROLE_RE = re.compile(
    r"(?:the[ \t]{1,2})?(?:[A-Z][\w'’.\-]{0,30}|head|minister|ministry|spokes(?:man|woman|person)|president|"
    r"secretary|director|chief|office|agency|embassy|statement|government|court|foreign[ \t]ministry)\b"
)
_SUBJ_SKIP = frozenset(
    """The This That These Those A An It It's He She They We I You Some Many Most Several Other Others Multiple Both
    Such Its His Her Their Our But And However Meanwhile Also Earlier Later Then When While As In On At After Before
    Yesterday Today Now Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June
    July August September October November December Last Next According If Overall Because So Yet Still""".split()
)
_VAGUE_HEADS = frozenset(
    """Experts Expert Analysts Analyst Observers Observer Reports Report Reporters Sources Source Officials Critics
    Media Coverage Outlets Diplomats Insiders Commentators People Residents Witnesses Researchers Scholars Studies
    Research Analysis Story News Article Narrative Text Assessments Many Some Others""".split()
)


def _named_subject(who: str) -> str | None:
    """The named part of an attribution subject, or None if it is a pronoun or a vague group."""
    parts = who.split()
    # "… in Ukraine. Hassan explained": a full stop after a word (not an initial or "U.S.") ends a sentence
    for i in range(len(parts) - 2, -1, -1):
        w = parts[i]
        if w.endswith(".") and len(w) > 3 and "." not in w[:-1]:
            parts = parts[i + 1 :]
            break
    while parts and parts[0].strip(".,") in _SUBJ_SKIP:
        parts.pop(0)
    if not parts:
        return None
    if parts[-1].strip(".,’'") in _VAGUE_HEADS:
        return None
    return " ".join(parts)


_NOUN_VERBS = frozenset("states notes claims remarks stresses tells adds".split())
_NOUN_VERB_OK_RE = re.compile(r"[ \t]{0,2}(?:[,:“\"]|that\b)")


def _find_attributions(doc: _Doc) -> list[tuple[int, int, str]]:
    text = doc.text
    found: dict[int, tuple[int, int, str]] = {}  # keyed by the verb's position (patterns overlap)
    for m in islice(_CAP_ATTR_RE.finditer(text), MAX_HITS):
        if m.group("verb") in _NOUN_VERBS and not _NOUN_VERB_OK_RE.match(text, m.end()):
            continue  # "most Western states." / "Closed remarks": a noun, not a verb
        named = _named_subject(m.group("who"))
        if named:
            start = m.start("who") + m.group("who").find(named.split()[0])
            found.setdefault(m.start("verb"), (start, m.end(), named))
    for m in islice(_ROLE_ATTR_RE.finditer(text), MAX_HITS):
        who = m.group("who")
        if who.split()[0] in _SUBJ_SKIP and who.split()[0] not in ("The",):
            continue
        found.setdefault(m.start("verb"), (m.start(), m.end(), who))
    for m in islice(_INV_ATTR_RE.finditer(text), MAX_HITS):
        named = _named_subject(m.group("who"))
        if named:
            found.setdefault(m.start("verb"), (m.start("verb"), m.end(), named))
    for m in islice(_ACCORDING_RE.finditer(text), MAX_HITS):
        rest = text[m.end() : m.end() + 120]
        if _ACC_VAGUE_RE.match(rest):
            continue
        r = _ACC_ROLE_RE.match(rest)
        if r and _named_subject(rest[: r.end()]) is not None:
            end = m.end() + min(len(rest), max(r.end(), rest.find(",") if "," in rest[:70] else 60))
            found.setdefault(m.start(), (m.start(), end, rest[: r.end()]))
    out = sorted(found.values())
    doc.attributions = out
    return out


def _sig_named_attribution(doc: _Doc) -> Signal | None:
    atts = _find_attributions(doc)
    if not atts:
        return None
    speakers = Counter(_canon(who) for _, _, who in atts)
    spans: list[str] = []
    seen: set[str] = set()
    for s, e, who in atts:
        if _canon(who) not in seen:
            seen.add(_canon(who))
            spans.append(_q(doc.text[s:e], 60))
    n = len(atts)
    head = f"{_plural(n, 'attributed statement')} from {_plural(len(speakers), 'named source')}"
    strength = 0.15 + 0.08 * n + 0.07 * len(speakers)
    return _signal("named_attribution", min(0.85, strength), _evidence(head, spans))


def _sig_direct_quote(doc: _Doc) -> Signal | None:
    if not doc.quote_spans or not doc.attributions:
        return None
    att_starts = [a[0] for a in doc.attributions]
    attributed: list[tuple[int, int]] = []
    for qs, qe in doc.quote_spans:
        # an attribution within 150 characters before the quote or 80 after it, in the same paragraph
        lo = max(0, qs - 150)
        para_lo = doc.text.rfind("\n", lo, qs) + 1 or lo
        para_hi = doc.text.find("\n", qe, qe + 80)
        hi = para_hi if para_hi != -1 else qe + 80
        i = bisect_right(att_starts, max(lo, para_lo)) - 1
        i = max(i, 0)
        while i < len(doc.attributions) and doc.attributions[i][0] <= hi:
            a_s, a_e, _ = doc.attributions[i]
            if a_e >= max(lo, para_lo) and a_s <= hi:
                attributed.append((qs, qe))
                break
            i += 1
    if not attributed:
        return None
    n = len(attributed)
    spans = [_q(doc.text[s + 1 : e - 1], 60) for s, e in attributed[:3]]
    return _signal("direct_quote", min(0.6, 0.15 + 0.1 * n), _evidence(f"{_plural(n, 'direct quote')} with a named speaker", spans))


_SOURCES_HEAD_RE = re.compile(
    r"(?im)^[ \t]{0,8}(?:sources?|references|bibliography|works[ \t]cited|notes|further[ \t]reading|citations)"
    r"[ \t]{0,3}:?[ \t]{0,8}$"
)
_LIST_ITEM_RE = re.compile(r"[ \t]{0,8}(?:\[\d{1,3}\]|\d{1,3}[.)]|[-*•–])[ \t]{0,3}\S")


def _sig_citations(doc: _Doc) -> Signal | None:
    text = doc.text
    numbers = sorted({int(m.group(1)) for m in islice(_REF_RE.finditer(text), MAX_HITS * 20)} - {0})
    list_entries, list_span, list_head = 0, (0, 0), ""
    head = _SOURCES_HEAD_RE.search(text)
    if head:
        pos, entries = head.end(), 0
        for line in islice(text[pos : pos + 40_000].split("\n"), 1, 300):
            if not line.strip():
                if entries:
                    break
                continue
            if not _LIST_ITEM_RE.match(line):
                break
            entries += 1
        if entries:
            list_entries, list_span, list_head = entries, (head.start(), pos + 40_000), head.group().strip()
    domains: list[str] = []
    for m in islice(_URL_RE.finditer(text), MAX_HITS):
        try:
            host = (urlsplit(m.group()).hostname or "").lower()
        except ValueError:
            continue
        host = host[4:] if host.startswith("www.") else host
        if host and not any(host == d or host.endswith("." + d) for d in _SOCIAL_DOMAINS) and host not in domains:
            domains.append(host)
    outlets: list[str] = []
    for h in doc.outlet_hits:
        if list_entries and list_span[0] <= h.start < list_span[1]:
            continue
        if h.entry.text not in outlets:
            outlets.append(h.entry.text)
    total = max(len(numbers), list_entries) + len(domains) + len(outlets)
    doc.citation_count = total
    doc.list_span = list_span
    if not total:
        return None
    parts = []
    if numbers:
        if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 1:
            parts.append(f"numbered [{numbers[0]}]–[{numbers[-1]}]")
        else:
            parts.append("numbered " + ", ".join(f"[{n}]" for n in numbers[:6]) + (" …" if len(numbers) > 6 else ""))
    if list_entries:
        parts.append(f"a {_q(list_head, 20)} list of {_plural(list_entries, 'entry', 'entries')}")
    if domains:
        parts.append(f"{_plural(len(domains), 'linked site')} (" + ", ".join(domains[:3]) + (" …" if len(domains) > 3 else "") + ")")
    if outlets:
        parts.append("named outlets " + ", ".join(_q(o, 30) for o in outlets[:4]) + (" …" if len(outlets) > 4 else ""))
    evidence = f"{_plural(total, 'distinct reference')}: " + "; ".join(parts)
    if len(evidence) > EVIDENCE_BUDGET:
        evidence = evidence[: EVIDENCE_BUDGET - 1] + "…"
    return _signal("citations", min(0.95, 0.25 + 0.075 * total), evidence)


# =====================================================================================================================
# Negative signals
# =====================================================================================================================

_VAGUE_RE = re.compile(
    r"\b(?:(?:an?|one|some|many|several|other|multiple|unnamed|anonymous|western|local|senior|security|military|"
    r"political|independent|foreign|russian|european|regional|neutral|recent|informed|credible)[ \t]{1,2}){0,3}"
    r"(?P<noun>experts?|analysts?|observers?|sources?|reports|critics|insiders?|commentators|officials|diplomats|"
    r"reporters|outlets|coverage|studies|assessments|people[ \t]familiar[ \t]with[ \t]the[ \t]matter)"
    r"[ \t]{1,2}(?:(?:also|have|has|had|widely|[a-z]{2,20}ly)[ \t]{1,2}){0,2}"
    r"(?P<verb>say|said|says|suggest|suggests|suggested|note|notes|noted|believe|believes|believed|claim|claims|"
    r"claimed|indicate|indicates|indicated|view|views|viewed|speculate|speculates|speculated|describe|describes|"
    r"described|warn|warns|warned|argue|argues|argued|think|fear|fears|feared|remain|remains|point|points|pointed|"
    r"stress|stresses|emphasi[sz]es|characteri[sz]ed|told)\b",
    re.IGNORECASE,
)
_SELF_REF_RE = re.compile(
    r"\b(?:the|this)[ \t]{1,2}(?:news[ \t]{1,2})?(?P<noun>story|narrative|article|text)[ \t]{1,2}(?:also[ \t]{1,2})?"
    r"(?:highlights|presents|portrays|describes|says|notes|underscores|suggests|focuses|states|mentions|claims)\b",
    re.IGNORECASE,
)
_SOURCE_SOURCE_RE = re.compile(r"\bSources?:[ \t]{0,5}(?:Source|Sources|N/?A|Unknown|Internet|Web|Google)\b[ \t.]{0,3}$", re.IGNORECASE | re.MULTILINE)
_CAP_BEFORE_RE = re.compile(r"([A-Z][\w'’.\-]{0,30})[ \t]{1,2}$")


def _sig_vague_sourcing(doc: _Doc) -> Signal | None:
    text = doc.text
    hits: list[tuple[int, int, float]] = []
    for m in islice(_SOURCE_SOURCE_RE.finditer(text), MAX_HITS):
        hits.append((m.start(), m.end(), 2.0))
    for m in islice(_ACCORDING_RE.finditer(text), MAX_HITS):
        v = _ACC_VAGUE_RE.match(text, m.end(), m.end() + 120)
        if not v:
            continue
        if _ACC_NAMED_AFTER_RE.match(text, v.end(), v.end() + 60):
            continue  # "according to a report by Reuters"
        if doc.cited(m.start()):
            continue
        noun = v.group("noun").lower()
        weight = 2.0 if any(w in noun for w in ("story", "article", "text", "narrative", "news")) else 1.0
        hits.append((m.start(), v.end(), weight))
    for m in islice(_SELF_REF_RE.finditer(text), MAX_HITS):
        hits.append((m.start(), m.end(), 1.0))
    for m in islice(_VAGUE_RE.finditer(text), MAX_HITS):
        if doc.in_quote(m.start()) or doc.cited(m.start()):
            continue
        # "A UN report said" / "Reuters sources said": a name right before the noun makes it attributed
        before = _CAP_BEFORE_RE.search(text, max(0, m.start() - 32), m.start())
        if before and before.group(1) not in _SUBJ_SKIP and not _is_sentence_start(text, before.start()):
            continue
        hits.append((m.start(), m.end(), 1.0))
    if not hits:
        return None
    hits.sort()
    weight = sum(w for _, _, w in hits)
    shown = Counter(_trim(text[s:e], 60) for s, e, _ in sorted(hits, key=lambda h: (-h[2], h[0])))
    head = f"{_plural(len(hits), 'vague or placeholder attribution')}"
    strength = min(0.9, 0.12 * weight + 0.02 * doc.per_1000(len(hits)))
    return _signal("vague_sourcing", strength, _evidence(head, _counted(shown, limit=60)))


def _is_sentence_start(text: str, pos: int) -> bool:
    before = text[max(0, pos - 3) : pos].rstrip(" \t")
    return not before or before[-1] in ".!?\n:;\"“”-—•"


_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_SOCIAL_SIG_RE = re.compile(rf"@(?P<handle>[A-Za-z0-9_]{{1,30}})\)?[ \t]{{1,3}}{_MONTHS}\.?[ \t]{{1,3}}\d{{1,2}},?[ \t]{{1,3}}\d{{4}}")
_SOCIAL_LINK_RE = re.compile(
    r"(?<![\w.])(?:pic\.twitter\.com/\w{1,30}|t\.co/\w{1,30}|(?:(?:www|mobile)\.)?(?:twitter|x)\.com/\w{1,30}/"
    r"status(?:es)?/\d{1,25}|(?:www\.)?(?:facebook|instagram|tiktok)\.com/[\w./\-]{1,100}|t\.me/\w{1,60})",
    re.IGNORECASE,
)


def _sig_social(doc: _Doc) -> Signal | None:
    text = doc.text
    sigs: list[str] = []
    for m in islice(_SOCIAL_SIG_RE.finditer(text), MAX_HITS):
        line_start = text.rfind("\n", max(0, m.start() - 120), m.start()) + 1
        prefix = text[max(line_start, m.start() - 120) : m.start()]
        dash = max(prefix.rfind("—"), prefix.rfind("–"), prefix.rfind("- "))
        if dash == -1:
            continue
        start = max(line_start, m.start() - 120) + dash
        doc.social_spans.append((start, m.end()))
        sigs.append(text[start : m.end()])
    links = [m.group() for m in islice(_SOCIAL_LINK_RE.finditer(text), MAX_HITS)]
    n = max(len(sigs), len(links))
    if not n:
        return None
    spans = [_q(s, 70) for s in sigs[:2]] + [_q(x, 50) for x in links[:2]]
    cites = doc.citation_count
    if cites < n * 2:
        head = f"{_plural(n, 'embedded social post')}" + (" and no other references" if not cites else f" vs {_plural(cites, 'reference')}")
        strength = min(0.9, 0.45 + 0.15 * (n - 1))
    else:
        head = f"{_plural(n, 'embedded social post')} alongside {_plural(cites, 'reference')}"
        strength = min(0.4, 0.15 + 0.05 * n)
    return _signal("social_evidence", strength, _evidence(head, spans))


_ALARM = "🚨⚠‼❗❕🔥💥🛑📢🔴⛔"
_EMOJI_RE = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u203C\u2049]")
_BREAKING_RE = re.compile(
    r"\b(?:BREAKING(?:[ \t]NEWS)?|JUST[ \t]IN|URGENT|SHOCKING|BOMBSHELL|MUST[ \t]SEE|MUST[ \t]READ|ALERT|EXPOSED)\b"
    r"|\bBreaking(?:[ \t]{1,2}News\b|[ \t]{0,2}:)|(?<![\w#])#(?:[Bb]reaking|[Bb]reaking[Nn]ews|[Jj]ust[Ii]n|[Uu]rgent)\b"
)
_HASHTAG_RE = re.compile(r"(?<![\w#&/])#[^\W\d_][\w]{1,60}")
_CAPS_RUN_RE = re.compile(r"(?<![\w'’])[A-Z]{2,25}(?:[ \t,:;&'’\-]{1,3}[A-Z]{2,25}){2,30}(?![\w])")


def _sig_sensational(doc: _Doc) -> Signal | None:
    text = doc.text
    items: list[str] = []
    score = 0.0
    alarms = Counter(ch for ch in islice((c for c in text if c in _ALARM), MAX_HITS))
    if alarms:
        score += 2 * min(3, sum(alarms.values()))
        items += [_q(a) + (f" ×{n}" if n > 1 else "") for a, n in alarms.most_common(2)]
    breaking = [m.group() for m in islice(_BREAKING_RE.finditer(text), MAX_HITS)]
    if breaking:
        score += 2 * min(3, len(breaking))
        items += _counted(Counter(breaking), limit=30)[:3]
    emoji = sum(1 for _ in islice(_EMOJI_RE.finditer(text), MAX_HITS)) - sum(alarms.values())
    if emoji > 0:
        score += min(3.0, 0.5 * emoji)
    tags = Counter(m.group() for m in islice(_HASHTAG_RE.finditer(text), MAX_HITS))
    if tags:
        score += min(3.0, 0.5 * sum(tags.values()))
        items += [_q(t, 30) for t in tags if t.lower()[1:] not in {b.lower().lstrip("#") for b in breaking}][:2]
    caps = []
    for m in islice(_CAPS_RUN_RE.finditer(text), MAX_HITS):
        run = m.group()
        letters = sum(ch.isalpha() for ch in run)
        ls = text.rfind("\n", 0, m.start()) + 1
        le = text.find("\n", m.end())
        if letters >= 12 and max(len(w) for w in re.findall(r"[A-Z]{2,25}", run)) >= 4:
            if text[ls : le if le != -1 else len(text)].strip() in doc.commercial_lines:
                continue
            caps.append(run)
    if caps:
        score += min(4.0, 1.0 * len(caps))
        items.append(_q(caps[0], 40) + (f" and {len(caps) - 1} more all-caps runs" if len(caps) > 1 else ""))
    bangs = text.count("!")
    density = doc.per_1000(bangs)
    if bangs >= 3 and density >= 5:
        score += min(3.0, 1.0 + (density - 5) / 10)
        items.append(f"{bangs} exclamation marks ({density:.0f} per 1,000 words)")
    if emoji > 0:
        items.append(_plural(emoji, "other emoji", "other emoji"))
    if score < 2:
        return None
    head = ""
    return _signal("sensational", min(0.9, 0.12 * score), _evidence(head, items))


_COMMERCIAL_RE = re.compile(
    r"\b(?:shop[ \t](?:now|amazon|our|the)|click[ \t](?:here[ \t])?to[ \t](?:buy|shop|order|purchase)|buy[ \t](?:now|it[ \t]now|from[ \t]amazon|on[ \t]amazon)|"
    r"best[ \t]sellers|affiliate[ \t]link|sponsored[ \t](?:content|post|by)|use[ \t](?:promo[ \t]|coupon[ \t]|discount[ \t])?code|"
    r"limited[ \t\-]time[ \t]offer|order[ \t]now|add[ \t]to[ \t]cart|free[ \t]shipping|deal[ \t]of[ \t]the[ \t]day|"
    r"amzn\.to|paid[ \t]partnership|we[ \t]may[ \t]earn[ \t]a[ \t]commission|as[ \t]an[ \t]amazon[ \t]associate)\b",
    re.IGNORECASE,
)


def _sig_commercial(doc: _Doc) -> Signal | None:
    lines: Counter[str] = Counter()
    seen: set[int] = set()
    text = doc.text
    for m in islice(_COMMERCIAL_RE.finditer(text), MAX_HITS):
        ls = text.rfind("\n", 0, m.start()) + 1
        if ls in seen:  # one count per line, however many triggers it holds
            continue
        seen.add(ls)
        le = text.find("\n", m.end())
        lines[text[ls : le if le != -1 else len(text)].strip()] += 1
    if not lines:
        return None
    doc.commercial_lines = set(lines)
    total = sum(lines.values())
    repeated = sum(1 for n in lines.values() if n > 1)
    head = f"{_plural(total, 'shopping/ad line')}" + (f", {repeated} repeated" if repeated else "")
    strength = min(0.9, 0.45 + 0.15 * (total - 1))
    return _signal("commercial", strength, _evidence(head, _counted(lines, limit=70)))


def _sig_chatbot(doc: _Doc) -> Signal | None:
    hits = _lex_hits(doc, "chatbot")
    if not hits:
        return None
    weight = 0.0
    sentences: set[int] = set()
    by_entry: dict[str, _Hit] = {}
    for h in hits:
        weight += h.entry.weight
        sentences.add(doc.sentence(h.start)[0])
        by_entry.setdefault(h.entry.text, h)
    if weight < 2 or max(h.entry.weight for h in hits) < 2:
        return None
    best = sorted(by_entry.values(), key=lambda h: (-h.entry.weight, h.entry.order, h.start))
    spans = []
    for h in best[:4]:
        s, e = doc.sentence(h.start)
        start = h.start
        if h.start - s > 30:  # mid-sentence: keep a few words of context before the phrase
            start = doc.text.find(" ", h.start - 30, h.start) + 1 or h.start
        else:
            start = s
        spans.append(_q(doc.text[start : min(e, h.end + 30)].strip(), 50))
    head = f"{_plural(len(sentences), 'assistant-style sentence')}"
    strength = min(1.0, 0.2 * weight)
    return _signal("chatbot_boilerplate", strength, _evidence(head, spans))


_MARKUP_RE = re.compile(
    r"\"(?:headline|subheadline|sub_headline|keywords|category|title|description|body|content|summary|tags|slug|"
    r"meta_description|article_body|articleBody|lede|byline|excerpt)\"[ \t]{0,3}:"
    r"|\",[ \t]{0,2}\"[A-Za-z_]{1,30}\"[ \t]{0,2}:[ \t]{0,2}[\"\[{]"
    r"|`{3,12}"
    r"|<\|[\w\-]{1,30}\|>"
    r"|\[(?:insert|your|add|name[ \t]of|placeholder)\b[^\]\n]{0,60}\]"
    r"|\{\{[ \t]{0,3}[\w.]{1,40}[ \t]{0,3}\}\}",
    re.IGNORECASE,
)


def _sig_markup(doc: _Doc) -> Signal | None:
    found = Counter(_trim(m.group(), 30) for m in islice(_MARKUP_RE.finditer(doc.text), MAX_HITS))
    if not found:
        return None
    n = sum(found.values())
    head = f"{_plural(n, 'leftover code/JSON fragment')}"
    items = [_q(k, 30) + (f" ×{c}" if c > 1 else "") for k, c in found.most_common() if "`" not in k][:4]
    fences = sum(c for k, c in found.items() if "`" in k)
    if fences:
        items.append(f"{_plural(fences, 'code fence')} (```)")
    return _signal("markup_residue", min(0.9, 0.5 + 0.1 * (n - 1)), _evidence(head, items))


_LONG_SENT_RE = re.compile(r"[^\s.!?][^.!?\n]{20,1000}[.!?]{0,10}")


def _sig_repeated(doc: _Doc) -> Signal | None:
    counts: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for m in islice(_LONG_SENT_RE.finditer(doc.text), MAX_HITS * 10):
        s = m.group()
        if s.count(" ") < 4:
            continue
        key = " ".join(s.lower().split())
        if s.strip() in doc.commercial_lines:
            continue
        counts[key] += 1
        shown.setdefault(key, s)
    dups = Counter({k: n for k, n in counts.items() if n > 1})
    if not dups:
        return None
    extra = sum(n - 1 for n in dups.values())
    head = f"{_plural(len(dups), 'sentence')} repeated verbatim ({_plural(extra, 'extra copy', 'extra copies')})"
    return _signal("repeated_text", min(0.8, 0.3 + 0.15 * extra), _evidence(head, _counted(dups, shown, limit=60)))


def _lexicon_summary(hits: list[_Hit], limit: int = 30) -> tuple[Counter[str], float]:
    counter: Counter[str] = Counter()
    weight = 0.0
    seen: set[str] = set()
    for h in hits:
        key = " ".join(h.surface.lower().split())
        counter[key] += 1
        weight += h.entry.weight if key not in seen else 0.25 * h.entry.weight
        seen.add(key)
    return counter, weight


def _sig_loaded(doc: _Doc) -> Signal | None:
    hits = _lex_hits(doc, "loaded")
    if not hits:
        return None
    counter, weight = _lexicon_summary(hits)
    if weight < 3:
        return None
    head = f"{_plural(len(counter), 'loaded term')} ({_plural(sum(counter.values()), 'use')})"
    strength = min(0.9, 0.08 * weight + 0.02 * doc.per_1000(len(hits)))
    return _signal("loaded_language", strength, _evidence(head, _counted(counter)))


_NEXT_WORDS_RE = re.compile(r"[ \t]{1,2}[\w'’\-]{1,20}(?:[ \t]{1,2}[\w'’\-]{1,20})?")


def _sig_opinion(doc: _Doc) -> Signal | None:
    hits = _lex_hits(doc, "opinion")
    taken = {h.start for h in hits}
    hits += [h for h in _lex_hits(doc, "boosters") if h.entry.weight >= 2 and h.start not in taken]
    if not hits:
        return None
    counter: Counter[str] = Counter()
    weight = 0.0
    seen: set[str] = set()
    for h in sorted(hits, key=lambda h: h.start):
        shown = h.surface
        if h.entry.weight < 2 and len(h.surface) <= 6:  # "should", "we": show the words that follow
            nxt = _NEXT_WORDS_RE.match(doc.text, h.end)
            shown = h.surface + (nxt.group() if nxt else "")
        key = _canon(h.surface)
        weight += h.entry.weight if key not in seen else 0.5 * h.entry.weight
        seen.add(key)
        counter[_trim(shown, 30)] += 1
    if weight < 4 or len(seen) < 2:
        return None
    cites = doc.citation_count
    head = f"{_plural(sum(counter.values()), 'opinion marker')}" + (", no citations" if not cites else "")
    strength = (0.06 * weight + 0.02 * doc.per_1000(len(hits))) * (1.25 if not cites else 0.8)
    ranked = sorted(counter.items(), key=lambda kv: -kv[1])
    evaluative = [k for k, _ in ranked if len(k) > 0]
    items = [_q(k, 30) + (f" ×{counter[k]}" if counter[k] > 1 else "") for k in evaluative]
    # put the strongest (evaluative) markers first
    strong = {_canon(h.surface) for h in hits if h.entry.weight >= 2}
    items.sort(key=lambda it: 0 if _canon(it.split("”")[0].strip("“")) in strong else 1)
    return _signal("opinion_as_analysis", min(0.9, strength), _evidence(head, items))


def _sig_hedging(doc: _Doc) -> Signal | None:
    hits = _lex_hits(doc, "hedges")
    n = len(hits)
    density = doc.per_1000(n)
    if n < 4 or density < 10:
        return None
    counter = Counter(_canon(h.surface) for h in hits)
    head = f"{_plural(n, 'hedge')} in {_plural(doc.n_words, 'word')} ({density:.0f} per 1,000)"
    return _signal("hedging", min(0.6, 0.15 + 0.02 * (density - 10)), _evidence(head, _counted(counter)))


def _sig_boosters(doc: _Doc) -> Signal | None:
    hits = _lex_hits(doc, "boosters")
    if not hits:
        return None
    counter, weight = _lexicon_summary(hits)
    if weight < 2:
        return None
    head = f"{_plural(sum(counter.values()), 'certainty booster')}"
    return _signal("certainty_boosters", min(0.7, 0.15 * weight), _evidence(head, _counted(counter)))


def _sig_misspellings(doc: _Doc) -> Signal | None:
    hits = doc.hits.get("misspellings", [])
    if not hits:
        return None
    counter: Counter[str] = Counter()
    fixes: dict[str, str] = {}
    for h in hits:
        counter[h.surface] += 1
        fixes[h.surface] = h.entry.fix
    n = sum(counter.values())
    items = [_q(w, 30) + f" (→ {_trim(fixes[w], 30)})" + (f" ×{c}" if c > 1 else "") for w, c in counter.most_common()]
    strength = min(0.7, 0.1 + 0.08 * n + 0.02 * doc.per_1000(n))
    return _signal("misspellings", strength, _evidence(f"{_plural(n, 'likely misspelling')}", items))


_MONTH_NUM = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_DATE_RE = re.compile(
    rf"\b(?:(?P<m1>{_MONTHS})\.?[ \t]{{1,3}}(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?,?[ \t]{{1,3}}(?P<y1>\d{{4}})"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?[ \t]{{1,3}}(?:of[ \t]{{1,3}})?(?P<m2>{_MONTHS})\.?,?[ \t]{{1,3}}(?P<y2>\d{{4}})"
    r"|(?P<y3>\d{4})-(?P<m3>\d{2})-(?P<d3>\d{2}))\b"
)
_EVENT_RE = re.compile(r"\b(?:sign(?:ed|ing|s)?|inked|ceremony|concluded|took[ \t]place)\b", re.IGNORECASE)


def _parse_date(m: re.Match[str]) -> date | None:
    try:
        if m.group("y1"):
            return date(int(m.group("y1")), _MONTH_NUM[m.group("m1")[:3].lower()], int(m.group("d1")))
        if m.group("y2"):
            return date(int(m.group("y2")), _MONTH_NUM[m.group("m2")[:3].lower()], int(m.group("d2")))
        return date(int(m.group("y3")), int(m.group("m3")), int(m.group("d3")))
    except (ValueError, KeyError):
        return None


def _as_date(d: object) -> date | None:
    if isinstance(d, datetime):
        return d.date()
    if isinstance(d, date):
        return d
    return None


def _sig_dates(doc: _Doc, other_dates: Sequence[date]) -> Signal | None:
    text = doc.text
    event_dates: dict[date, str] = {}
    for m in islice(_DATE_RE.finditer(text), MAX_HITS):
        if any(s <= m.start() < e for s, e in doc.social_spans):
            continue  # the date of an embedded post, not of the event
        d = _parse_date(m)
        if d is None:
            continue
        s, e = doc.sentence(m.start(), m.end())
        ev = _EVENT_RE.search(text, s, e)
        if not ev:
            continue
        lo = min(ev.start(), m.start())
        snippet = text[max(s, lo) : max(ev.end(), m.end())]
        event_dates.setdefault(d, snippet)
    if not event_dates:
        return None
    dates = sorted(event_dates)
    close = lambda a, b: abs((a - b).days) <= 60  # noqa: E731 - a later date far apart is another event
    internal = [d for d in dates if any(d != o and close(d, o) for o in dates)]
    others = {x for x in (_as_date(o) for o in other_dates) if x is not None}
    external = [d for d in dates if others and d not in others and any(close(d, o) for o in others)]
    if not internal and not external:
        return None
    items = [_q(event_dates[d], 60) for d in (internal or external)]
    if internal:
        head = f"the text gives {_plural(len(internal), 'different date')} for the same event"
        strength = 0.5
    else:
        head = ""
    if external:
        others_txt = ", ".join(o.isoformat() for o in sorted(others)[:3])
        tail = f"other sources give {others_txt}"
        if internal:
            items.append(tail)
            strength = 0.6
        else:
            head = f"{_plural(len(external), 'event date')} that other sources contradict"
            items.append(tail)
            strength = 0.45
    return _signal("date_conflict", strength, _evidence(head, items))


# =====================================================================================================================
# Public API
# =====================================================================================================================


def _signal_order(s: Signal) -> tuple[float, int, str]:
    return (-s.strength, 0 if s.polarity == NEG else 1, s.id)


def article_signals(article: Article, *, other_dates: Sequence[date] = ()) -> list[Signal]:
    """Every quality signal of ``article``, strongest first; each with a stable id and its evidence.

    ``other_dates``: event dates that other sources of the story give (for the "contradicts other sources" check).
    Lexicon-based signals (wording, attribution, spelling) are English-only; other languages get the rest.
    """
    title = _prepare(getattr(article, "title", "") or "")
    body = _prepare(getattr(article, "text", "") or "")
    text = (title + "\n\n" + body) if title else body
    language = str(getattr(article, "language", "en") or "en").lower()
    english = language.startswith("en")
    doc = _build_doc(text, english)
    if not english:
        doc.hits = {}

    out: list[Signal | None] = []
    out.append(_sig_citations(doc))  # sets doc.citation_count for later detectors
    out.append(_sig_commercial(doc))  # sets doc.commercial_lines
    out.append(_sig_social(doc))  # sets doc.social_spans
    if english:
        out.append(_sig_named_attribution(doc))
        out.append(_sig_direct_quote(doc))
        out.append(_sig_vague_sourcing(doc))
        out.append(_sig_chatbot(doc))
        out.append(_sig_loaded(doc))
        out.append(_sig_opinion(doc))
        out.append(_sig_hedging(doc))
        out.append(_sig_boosters(doc))
        out.append(_sig_misspellings(doc))
    out.append(_sig_sensational(doc))
    out.append(_sig_markup(doc))
    out.append(_sig_repeated(doc))
    try:
        dates = list(other_dates or ())
    except TypeError:
        dates = []
    out.append(_sig_dates(doc, dates))

    published = _as_date(getattr(article, "published", None))
    if published is not None:
        out.append(_signal("dated", 0.1, f"published {published.isoformat()}"))
    else:
        out.append(_signal("undated", 0.1, "no publication date given"))
    author = getattr(article, "author", None)
    author = _trim(clean_text(author), 60) if isinstance(author, str) else ""
    if author:
        out.append(_signal("byline", 0.15, f"by {_q(author, 60)}"))
    else:
        out.append(_signal("no_byline", 0.1, "no author given"))

    signals = [s for s in out if s is not None and s.evidence]
    signals.sort(key=_signal_order)
    return signals


#: factual_record value -> contribution to the rating score (FACTUAL_RECORD_VALUES, best first).
FACTUAL_RECORD_SCORE = {"high": 0.6, "mostly_high": 0.35, "mixed": 0.0, "low": -0.6, "very_low": -0.9}
#: Flags -> contribution to the rating score.
FLAG_SCORE = {
    OutletFlag.ai_content_farm: -0.8,
    OutletFlag.satire: -0.6,
    OutletFlag.state_media: -0.3,
    OutletFlag.user_generated: -0.2,
}
#: Outlet type -> contribution to the rating score.
OUTLET_TYPE_SCORE = {
    OutletType.wire: 0.3,
    OutletType.fact_checker: 0.3,
    OutletType.newspaper: 0.2,
    OutletType.broadcaster: 0.15,
    OutletType.magazine: 0.1,
    OutletType.unknown: 0.0,
    OutletType.aggregator: -0.1,
    OutletType.blog: -0.1,
    OutletType.advocacy: -0.2,
    OutletType.state_media: -0.3,
    OutletType.partisan_site: -0.3,
    OutletType.social_account: -0.3,
    OutletType.content_farm: -0.6,
    OutletType.ai_content_farm: -0.8,
}
#: Share of the trust score that comes from the article's own signals; the rest comes from the outlet's rating.
SIGNAL_SHARE = 0.7
#: Signal scores are squashed with tanh(score / SIGNAL_SCALE).
SIGNAL_SCALE = 1.5


def _rating_score(outlet_type: OutletType | str | None, rating: OutletRating | None) -> float:
    score = 0.0
    try:
        score += OUTLET_TYPE_SCORE.get(OutletType(outlet_type), 0.0) if outlet_type else 0.0
    except ValueError:
        pass
    if rating is not None:
        if rating.factual_record is not None:
            value = _canon(rating.factual_record.value).replace(" ", "_")
            score += FACTUAL_RECORD_SCORE.get(value, 0.0)
        for flag in rating.flags:
            score += FLAG_SCORE.get(flag, 0.0)
    return _clamp(score, -1.0, 1.0)


def source_trust(signals: list[Signal], outlet_type: OutletType, rating: OutletRating | None) -> float:
    """-1 (least trustworthy) .. +1: 0.7 × tanh(Σ ±weight×strength / 1.5) + 0.3 × rating score (docs/signals.md)."""
    score = 0.0
    for s in signals:
        d = _CATALOGUE.get(s.id)
        weight = d.weight if d else 0.5
        sign = 1.0 if s.polarity == POS else -1.0 if s.polarity == NEG else 0.0
        score += sign * weight * _clamp(s.strength)
    trust = SIGNAL_SHARE * math.tanh(score / SIGNAL_SCALE) + (1 - SIGNAL_SHARE) * _rating_score(outlet_type, rating)
    return round(_clamp(trust, -1.0, 1.0), 3)


_ITEM_RE = re.compile(r"“([^“”]{1,200})”")
_LEAD_INT_RE = re.compile(r"^(\d{1,9})\b")


def _phrase(s: Signal) -> str:
    d = _CATALOGUE.get(s.id)
    if d is None:
        return _trim(s.label, 60)
    m = _LEAD_INT_RE.match(s.evidence)
    n = m.group(1) if m else ""
    items = ", ".join("'" + _trim(x, 32) + "'" for x in _ITEM_RE.findall(s.evidence)[:2])
    phrase = d.phrase
    if "{items}" in phrase and not items:
        phrase = phrase.split(":")[0]
    if "{n}" in phrase and not n:
        return d.label.lower()
    return phrase.format(n=n, items=items, s="" if n == "1" else "s")


def summarize(signals: list[Signal], rating: OutletRating | None) -> str:
    """One line a reader can act on: the outlet's rating in brief, then the strongest signals with their evidence."""
    parts: list[str] = []
    if rating is not None:
        if rating.factual_record is not None:
            parts.append(f"factual record: {_trim(rating.factual_record.value, 20)}")
        if rating.flags:
            parts.append("flagged: " + ", ".join(str(f.value).replace("_", " ") for f in sorted(rating.flags)))
    ranked = sorted(signals, key=_signal_order)
    chosen = [s for s in ranked if s.strength >= 0.15][:3] or ranked[:1]
    parts += [_phrase(s) for s in chosen]
    line = "; ".join(p for p in parts if p) or "no notable signals"
    return line if len(line) <= 240 else line[:239] + "…"


def build_sources(
    items: Sequence[tuple[Article, Outlet, OutletRating | None]],
    *,
    other_dates_by_article: Mapping[str, Sequence[date]] | None = None,
) -> list[SourceOut]:
    """One SourceOut per article, most to least trustworthy (ties by article id).

    ``rating`` is the effective rating for the outlet (e.g. a server's over the global one); when it is None the
    outlet's own ``rating`` is used.
    """
    scored: list[SourceOut] = []
    for article, outlet, rating in items:
        effective = rating if rating is not None else outlet.rating
        others = (other_dates_by_article or {}).get(article.id, ())
        signals = article_signals(article, other_dates=others)
        published = _as_date(article.published)
        scored.append(
            SourceOut(
                article=article.id,
                outlet=outlet.name,
                outlet_id=outlet.id,
                url=article.url,
                published=published.isoformat() if published else None,
                role=str(getattr(article.role, "value", article.role)),
                rating=None if effective is None or effective.is_empty() else effective.model_dump(mode="json", exclude_none=True),
                signals=signals,
                trust=source_trust(signals, outlet.type, effective),
                summary=summarize(signals, effective),
            )
        )
    scored.sort(key=lambda s: (-s.trust, s.article))
    return scored
