"""Versions: what the sources of a story disagree on.

* ``build_versions`` turns a story's curated questions (accepted positions only) into the report's VersionOut list.
* ``suggest_positions`` extracts facts from articles (when and where the agreement was signed, who signed it, what
  kind of agreement it is, talk of deploying fighters) and proposes positions for moderators to accept or reject.
* ``classify_role`` / ``background_reason`` tell a version of the story from background that predates it.
* ``detect_conflicts`` lists the questions whose live positions contradict each other.

Pure: no Discord, no SQL.  The model and the rules are described in docs/versions.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from bot.extract import (
    SIDE_ALLIANCE,
    SIDE_COOPERATION,
    Characterization,
    DateMention,
    Polarity,
    Precision,
    RoleMention,
    SentenceIndex,
    date_interval,
    extract_characterizations,
    extract_dates,
    extract_deployments,
    extract_events,
    extract_places,
    extract_roles,
    format_date,
    polarity_of,
    quote_around,
)
from bot.models import (
    Article,
    ArticleRole,
    Evidence,
    Position,
    PositionStatus,
    Question,
    QuestionKind,
    Story,
    slugify,
)
from bot.report import EvidenceOut, PositionOut, VersionOut
from bot.text import normalize, words

__all__ = [
    "Fact",
    "background_reason",
    "build_versions",
    "classify_role",
    "detect_conflicts",
    "extract_facts",
    "position_key",
    "suggest_positions",
]

#: Evidence quotes per article in one suggested position.
MAX_QUOTES_PER_ARTICLE = 2
#: Longest evidence quote in a suggestion.
MAX_QUOTE = 300

_STATUS_ORDER = {"conflicting": 0, "agreed": 1, "unclear": 2}


# --------------------------------------------------------------------------------------------------------------
# build_versions
# --------------------------------------------------------------------------------------------------------------


def _trust(trust: Mapping[str, float], article: str) -> float:
    try:
        t = float(trust.get(article, 0.0))
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(t):
        return 0.0
    return max(-1.0, min(1.0, t))


def build_versions(
    story: Story, articles: Sequence[Article], trust: Mapping[str, float] | None = None
) -> list[VersionOut]:
    """The story's curated questions as report versions, from ACCEPTED positions only.

    status: "conflicting" when two or more positions are each held by at least one non-background article,
    "agreed" when exactly one is, "unclear" otherwise.  A position's weight is the sum of its articles' quality,
    (trust + 1) / 2 with trust in -1..+1 (missing = 0): a weak source adds almost nothing and never subtracts.  Positions are ordered by weight (highest first), questions conflicting first,
    then agreed, then unclear; ties keep the curated order.
    """
    trust = trust or {}
    roles = {a.id: a.role for a in articles}
    out: list[tuple[int, int, VersionOut]] = []
    for qi, q in enumerate(story.questions):
        accepted = [p for p in q.positions if p.status == PositionStatus.accepted]
        held = [p for p in accepted if any(roles.get(a, ArticleRole.report) != ArticleRole.background for a in p.articles)]
        status = "conflicting" if len(held) >= 2 else "agreed" if len(held) == 1 else "unclear"
        positions = []
        for p in accepted:
            arts = list(dict.fromkeys(p.articles))
            positions.append(
                PositionOut(
                    statement=p.statement,
                    articles=arts,
                    evidence=[EvidenceOut(article=e.article, quote=e.quote) for e in p.evidence],
                    weight=round(sum((_trust(trust, a) + 1.0) / 2.0 for a in arts), 6),
                )
            )
        positions.sort(key=lambda po: -po.weight)  # stable: equal weights keep the curated order
        out.append((_STATUS_ORDER[status], qi, VersionOut(question=q.text, status=status, positions=positions)))
    out.sort(key=lambda t: (t[0], t[1]))
    return [v for _, _, v in out]


# --------------------------------------------------------------------------------------------------------------
# Facets: the kinds of question the extractors can answer
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Facet:
    id: str
    text: str
    kind: QuestionKind
    #: Prefix of the ids of the positions it suggests ("when-2026-05-31").
    prefix: str
    #: Word prefixes that identify a curated question about the same thing ("sign" matches "When was it signed?").
    keywords: tuple[str, ...]


_FACETS: dict[str, _Facet] = {
    f.id: f
    for f in (
        _Facet("when-signed", "When was the agreement signed?", QuestionKind.date, "when", ("sign", "conclu", "ink")),
        _Facet("where-signed", "Where was the agreement signed?", QuestionKind.place, "where",
               ("sign", "where", "held", "ceremon", "venue")),
        _Facet("who-signed", "Who signed the agreement?", QuestionKind.actor, "who", ("sign", "who")),
        _Facet("what-kind", "What kind of agreement is it: technical cooperation or a military alliance?",
               QuestionKind.characterization, "kind", ("allian", "cooperat", "kind", "partnership", "treat", "what")),
        _Facet("fighters-deployed", "Will fighters be deployed under the agreement?", QuestionKind.other, "fighters",
               ("fighter", "deploy", "mercenar", "troop")),
        _Facet("when-visited", "When did the visit take place?", QuestionKind.date, "when", ("visit", "trip")),
        _Facet("when-delisted", "When were the Taliban removed from the terrorist list?", QuestionKind.date, "when",
               ("delist", "blacklist", "list", "remov")),
        _Facet("when-accepted", "When was it accepted?", QuestionKind.date, "when", ("accept", "credential")),
        _Facet("when-recognized", "When did the recognition happen?", QuestionKind.date, "when", ("recogni",)),
        _Facet("when-met", "When did the meeting take place?", QuestionKind.date, "when", ("meet", "met", "talks")),
        _Facet("when-announced", "When was it announced?", QuestionKind.date, "when", ("announc",)),
    )
}  # fmt: skip
#: Order in which new questions are returned.
_FACET_ORDER = list(_FACETS)
#: Dates of events other than the signing make a question only when this many report articles date them.
MIN_ARTICLES_FOR_OTHER_EVENTS = 2

_EVENT_NOUN = {
    "signed": "the signing",
    "visited": "the visit",
    "delisted": "the delisting",
    "accepted": "it",
    "recognized": "the recognition",
    "met": "the meeting",
    "announced": "the announcement",
}


def _question_words(q: Question) -> list[str]:
    return words(q.text)


def _matches_keywords(q: Question, facet: _Facet) -> bool:
    return any(w.startswith(k) for w in _question_words(q) for k in facet.keywords)


def _curated_question(story: Story, facet: _Facet, used: set[str]) -> Question | None:
    """The curated question a facet's facts belong to, if any (by kind and keywords)."""
    free = [q for q in story.questions if q.id not in used]
    if facet.id == "fighters-deployed":
        cands = [q for q in free if _matches_keywords(q, facet)]
        return cands[0] if cands else None
    cands = [q for q in free if q.kind == facet.kind and _matches_keywords(q, facet)]
    if facet.kind == QuestionKind.date and facet.id != "when-signed":
        # "When was it signed?" also contains no visit words; make sure the signing question is not taken.
        cands = [q for q in cands if not _matches_keywords(q, _FACETS["when-signed"])]
    if cands:
        return cands[0]
    if facet.kind == QuestionKind.characterization:
        same = [q for q in free if q.kind == facet.kind]
        return same[0] if same else None
    return None


def _facet_for_question(q: Question) -> _Facet | None:
    """Which facet's keying applies to a question (for detect_conflicts and position_key)."""
    if q.kind in (QuestionKind.other, QuestionKind.characterization) and _matches_keywords(
        q, _FACETS["fighters-deployed"]
    ):
        return _FACETS["fighters-deployed"]
    for f in _FACETS.values():
        if f.kind == q.kind and f.id != "fighters-deployed":
            return f
    return None


# --------------------------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """One extracted answer of one article to one facet ("when-signed" = "2026-05-31"), with verbatim quotes."""

    facet: str
    #: Normalised value: "2026-05-31", "2026-05", "moscow region", "alliance", "hedged", "russia:security ...".
    key: str
    statement: str
    article: str
    quotes: tuple[str, ...]
    #: For dates: the interval the value covers (for compatibility checks).
    interval: tuple[date, date] | None = None
    #: For places: the country the place is in.
    country: str | None = None


_SIGN_FORM_RE = re.compile(r"\b(?:signed|signing|inked|signature)\b", re.I)
_AGREEMENT_RE = re.compile(r"\b(?:agreements?|deals?|pacts?|accords?|treat(?:y|ies)|documents?|memorand(?:um|a))\b", re.I)
_TOPIC_AGREEMENT_RE = re.compile(
    r"\b(?:military|technical|defen[cs]e|security|cooperation)(?:[\s-]{1,2}[A-Za-z]{1,20}){0,2}[\s-]{1,2}"
    r"(?:agreement|deal|pact|accord)s?\b",
    re.I,
)
_NAMED_AGREEMENT_RE = re.compile(r"\b(?P<w>[A-Z][\w-]{1,30})\s{1,3}(?:Agreement|Accords?|Treaty|Pact|Memorandum)\b")
_TOPIC_WORDS = frozenset(
    "cooperation co-operation military defense defence security technical military-technical technical-military "
    "partnership strategic framework bilateral new the this major formal".split()
)
_SIGN_VERB_RE = re.compile(r"\b(?:sign(?:s|ed|ing)?|inked|signature)\b", re.I)
_SIGNED_BY_RE = re.compile(r"\bsigned\s{1,3}by\b", re.I)
_SPEECH_RE = re.compile(r"\b(?:said|says|say|told|stated|states|added|according|announced|insisted|stressed)\b", re.I)
_ATTACHED_IN_RE = re.compile(
    r"\b(?:authorities|government|ambassador|embassy|consulate|officials|regime|leaders|leadership|rulers|ties"
    r"|interests|influence|presence|forces|troops|people|residents|office|mission|delegation)\s{1,3}(?:-led\s{1,3})?"
    r"(?:in|at)\s{1,3}(?:the\s{1,3})?$",
    re.I,
)
_STRONG_PLACE_CUES = ("ceremony", "forum", "summit", "meeting", "conference", "talks", "event", "signing", "held",
                      "took place", "signed", "hosted")  # fmt: skip


def _other_named_agreement_spans(sentence: str) -> list[tuple[int, int]]:
    return [
        (m.start(), m.end())
        for m in _NAMED_AGREEMENT_RE.finditer(sentence)
        if m.group("w").lower() not in _TOPIC_WORDS
    ]


_NOT_YET_RE = re.compile(
    r"\b(?:will|shall|would|to|is\s{1,3}due\s{1,3}to|expected\s{1,3}to|set\s{1,3}to|plans?\s{1,3}to|ready\s{1,3}to)"
    r"\s{1,3}(?:be\s{1,3})?$",
    re.I,
)
_OTHER_DOCUMENT_RE = re.compile(r"\b(?:decree|law|bill|order|contract|petition|letter|statement|visa)s?\b", re.I)


def _asserted(text: str, start: int, end: int, sentence_start: int = 0) -> bool:
    """The event word at [start, end) is stated as done: not negated, hedged or still to come ("plans to sign")."""
    if _NOT_YET_RE.search(text, max(sentence_start, start - 30), start):
        return False
    return polarity_of(text, start, end, sentence_start)[0] == Polarity.affirmed


def _signs(sentence: str) -> list[re.Match[str]]:
    """The sign verbs of a sentence that report a signing as done."""
    return [m for m in _SIGN_VERB_RE.finditer(sentence) if _asserted(sentence, m.start(), m.end())]


def _is_signing_sentence(sentence: str) -> bool:
    """The sentence reports a signing (as done) of an agreement that is not a different, named one ("the Doha
    Agreement") nor another kind of document ("signed a decree")."""
    if not _signs(sentence):
        return False
    named = _other_named_agreement_spans(sentence)
    for m in _AGREEMENT_RE.finditer(sentence):
        if not any(s <= m.start() < e for s, e in named):
            return True
    # "Russia and the Taliban signed on Sunday" (no noun) counts when no other agreement or document is named.
    return not named and not _OTHER_DOCUMENT_RE.search(sentence)


def _mentions_story_event(text: str) -> bool:
    """The article reports the signing as done, or names the military/technical agreement itself (outside a
    sentence that only announces or speculates about a signing)."""
    for s in SentenceIndex(text).items:
        named = _other_named_agreement_spans(s.text)
        if _SIGN_VERB_RE.search(s.text):
            if _is_signing_sentence(s.text) and any(
                not any(a <= m.start() < b for a, b in named) for m in _AGREEMENT_RE.finditer(s.text)
            ):
                return True
            if not _signs(s.text):
                continue  # "they plan to sign a military agreement": not yet the story
        for m in _TOPIC_AGREEMENT_RE.finditer(s.text):
            if not any(a <= m.start() < b or a < m.end() <= b for a, b in named):
                return True
    return False


def _entity_map(story: Story | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if story is None:
        return out
    for e in story.entities:
        for a in [e.name, *e.aliases]:
            out.setdefault(normalize(a), e.name)
    return out


def _role_key(r: RoleMention, entities: Mapping[str, str]) -> str:
    aff = entities.get(normalize(r.affiliation), r.affiliation) if r.affiliation else None
    return f"{aff}:{r.role}" if aff else r.role


def _role_display(key: str) -> str:
    aff, _, role = key.rpartition(":")
    role = role.replace("security council secretary", "Security Council secretary")
    return f"{aff}'s {role}" if aff else f"the {role}"


def _date_statement(d: DateMention) -> str:
    when = format_date(d.value, d.precision)
    if d.posted:
        return f"By {when} (a post dated {when} reports {_EVENT_NOUN.get(d.event or '', 'it')})"
    if d.precision == Precision.day:
        return f"On {when}"
    return f"In {when}"


def _place_statement(name: str) -> str:
    return f"In the {name}" if name.endswith(" region") else f"In {name}"


_KIND_STATEMENTS = {
    SIDE_COOPERATION: "Technical or military-technical cooperation, not an alliance",
    SIDE_ALLIANCE: "An alliance or strategic partnership, more than a military deal",
}
_DEPLOY_STATEMENTS = {
    Polarity.hedged.value: "Raised only as a possibility or an open question",
    Polarity.affirmed.value: "Fighters are to be deployed",
    Polarity.negated.value: "Deploying fighters is ruled out",
}


def agreement_stance(chars: Sequence[Characterization]) -> str | None:
    """"alliance" or "cooperation": which reading of the agreement a text takes, negation-aware.

    Affirmed alliance-side terms (alliance, mutual-defense treaty, strategic partnership) and negated
    cooperation-side terms ("not a simple military deal") count for "alliance"; negated alliance-side terms
    ("rather than a formal strategic alliance") count against it.  A text that does not come out for "alliance"
    but negates an alliance or affirms cooperation is "cooperation".  Reference-list lines and hedged mentions
    do not count.
    """
    usable = [c for c in chars if not c.citation]
    a = sum(1 for c in usable if c.side == SIDE_ALLIANCE and c.polarity == Polarity.affirmed)
    a += sum(1 for c in usable if c.side == SIDE_COOPERATION and c.polarity == Polarity.negated)
    n = sum(1 for c in usable if c.side == SIDE_ALLIANCE and c.polarity == Polarity.negated)
    c_ = sum(1 for c in usable if c.side == SIDE_COOPERATION and c.polarity == Polarity.affirmed)
    if a > n and a > 0:
        return SIDE_ALLIANCE
    if n > 0 or c_ > 0:
        return SIDE_COOPERATION
    return None


def _stance_quotes(chars: Sequence[Characterization], stance: str) -> list[str]:
    usable = [c for c in chars if not c.citation and not c.mention]
    if stance == SIDE_COOPERATION:
        first = [c for c in usable if c.side == SIDE_ALLIANCE and c.polarity == Polarity.negated]
        second = [c for c in usable if c.side == SIDE_COOPERATION and c.polarity == Polarity.affirmed]
    else:
        first = [c for c in usable if c.side == SIDE_ALLIANCE and c.polarity == Polarity.affirmed]
        second = [c for c in usable if c.side == SIDE_COOPERATION and c.polarity == Polarity.negated]
    # The most telling quote of each kind first ("rather than a formal strategic alliance", then "cooperation").
    ranked = first[:1] + second[:1] + first[1:] + second[1:]
    out: list[str] = []
    for c in ranked:
        if c.quote and c.quote not in out:
            out.append(c.quote)
        if len(out) >= MAX_QUOTES_PER_ARTICLE:
            break
    return out


def extract_facts(story: Story | None, article: Article) -> list[Fact]:
    """Everything the extractors can say about one article, as facts keyed by facet and normalised value."""
    text = article.text or ""
    sents = SentenceIndex(text)
    entities = _entity_map(story)
    facts: list[Fact] = []
    signing = {s.start: _is_signing_sentence(s.text) for s in sents.items}

    def q(start: int, end: int) -> str:
        return quote_around(text, start, end, sents.at(start), MAX_QUOTE)

    # Dates ---------------------------------------------------------------------------------------------------
    for d in extract_dates(text, anchor=article.published):
        if d.value is None or d.dateline or not d.event or d.key is None:
            continue
        if d.event_at is not None and not _asserted(text, d.event_at, d.event_at + 1, sents.at(d.event_at).start):
            continue
        quotes: list[str] = []
        if d.posted and d.event_at is not None:
            if d.event == "signed" and not signing.get(sents.at(d.event_at).start, False):
                continue
            quotes.append(q(d.event_at, d.event_at + 1))
        elif d.event == "signed" and not signing.get(sents.at(d.start).start, False):
            continue
        quotes.append(q(d.start, d.end))
        facts.append(
            Fact(
                facet=f"when-{d.event}",
                key=d.key,
                statement=_date_statement(d),
                article=article.id,
                quotes=tuple(dict.fromkeys(x for x in quotes if x)),
                interval=d.interval,
            )
        )

    # Places and signatories, sentence by sentence ------------------------------------------------------------
    places = extract_places(text)
    roles = extract_roles(text)
    sign_events = [e for e in extract_events(text) if e.event == "signed"]
    for s in sents.items:
        if not signing.get(s.start):
            continue
        verbs = [e for e in sign_events if s.start <= e.start < s.end and _asserted(text, e.start, e.end, s.start)]
        if not verbs:
            continue
        in_s = [p for p in places if s.start <= p.start < s.end and p.cue]
        cands = []
        for p in in_s:
            if not (p.cue.endswith(" in") or p.cue.endswith(" at") or p.cue in ("in", "at")):
                continue
            if _ATTACHED_IN_RE.search(text, max(s.start, p.start - 60), p.start):
                continue
            cands.append(p)
        strong = [p for p in cands if p.cue.startswith(_STRONG_PLACE_CUES)]
        after = [p for p in cands if p.start > verbs[0].start and p.start - verbs[-1].end <= 160]
        pick = (strong or after or [None])[0]
        if pick is not None:
            facts.append(
                Fact(
                    facet="where-signed",
                    key=pick.key,
                    statement=_place_statement(pick.name),
                    article=article.id,
                    quotes=(q(pick.start, pick.end),),
                    country=pick.country,
                )
            )
        # Who signed: roles after "signed by", or before "signed" with no speech verb in between.
        signers: list[RoleMention] = []
        by = _SIGNED_BY_RE.search(text, s.start, s.end)
        for r in roles:
            if not (s.start <= r.start < s.end) or r.former:
                continue
            if by is not None and r.start > by.start():
                signers.append(r)
                continue
            nxt = next((v for v in verbs if v.start > r.end and v.start - r.end <= 150), None)
            if nxt is not None and text[nxt.start : nxt.end].lower() != "signature":
                if not _SPEECH_RE.search(text, r.end, nxt.start):
                    signers.append(r)
        if signers:
            keys = sorted(dict.fromkeys(_role_key(r, entities) for r in signers))
            facts.append(
                Fact(
                    facet="who-signed",
                    key="+".join(keys),
                    statement=" and ".join(_role_display(k) for k in keys),
                    article=article.id,
                    quotes=(q(signers[0].start, signers[-1].end),),
                )
            )

    # Characterization ----------------------------------------------------------------------------------------
    chars = extract_characterizations(text)
    stance = agreement_stance(chars)
    if stance is not None:
        quotes = _stance_quotes(chars, stance)
        if quotes:
            facts.append(Fact("what-kind", stance, _KIND_STATEMENTS[stance], article.id, tuple(quotes)))

    # Deployment of fighters ----------------------------------------------------------------------------------
    deps = [c for c in extract_deployments(text) if not c.citation]
    if deps:
        pol = deps[0].polarity.value
        quotes = [c.quote for c in deps if c.polarity.value == pol and c.quote][:MAX_QUOTES_PER_ARTICLE]
        facts.append(Fact("fighters-deployed", pol, _DEPLOY_STATEMENTS[pol], article.id, tuple(dict.fromkeys(quotes))))
    return facts


# --------------------------------------------------------------------------------------------------------------
# Keys of existing positions
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    key: str
    interval: tuple[date, date] | None = None
    country: str | None = None


def _texts_of(p: Position) -> list[str]:
    return [p.statement, p.id, *(e.quote for e in p.evidence)]


def _position_key(facet: _Facet | None, p: Position, entities: Mapping[str, str]) -> _Key | None:
    if facet is None:
        return None
    if facet.kind == QuestionKind.date:
        for t in _texts_of(p):
            for d in extract_dates(t):
                if d.value is not None and d.key:
                    return _Key(d.key, d.interval)
        return None
    if facet.kind == QuestionKind.place:
        for t in _texts_of(p)[:1] + [e.quote for e in p.evidence]:
            places = extract_places(t)
            if not places:
                continue
            rank = {"region": 0, "city": 0, "unknown": 1, "country": 2}
            best = sorted(places, key=lambda pl: (rank.get(pl.kind, 3), pl.start))[0]
            return _Key(best.key, None, best.country)
        return None
    if facet.kind == QuestionKind.actor:
        for t in _texts_of(p)[:1] + [e.quote for e in p.evidence]:
            roles = [r for r in extract_roles(t) if not r.former]
            if roles:
                return _Key("+".join(sorted(dict.fromkeys(_role_key(r, entities) for r in roles))))
        return None
    if facet.id == "what-kind":
        for t in [p.statement, " ".join(e.quote for e in p.evidence)]:
            stance = agreement_stance(extract_characterizations(t))
            if stance:
                return _Key(stance)
        return None
    if facet.id == "fighters-deployed":
        for t in [p.statement, *(e.quote for e in p.evidence)]:
            deps = extract_deployments(t)
            if deps:
                return _Key(deps[0].polarity.value)
        return None
    return None


def position_key(question: Question, position: Position, story: Story | None = None) -> str | None:
    """The normalised value a position stands for ("2026-05-31", "moscow region", "alliance"), if recognisable."""
    k = _position_key(_facet_for_question(question), position, _entity_map(story))
    return k.key if k else None


# --------------------------------------------------------------------------------------------------------------
# suggest_positions
# --------------------------------------------------------------------------------------------------------------


def _is_background(story: Story, a: Article) -> bool:
    return a.role == ArticleRole.background or background_reason(story, a) is not None


def _unique_id(base: str, taken: set[str]) -> str:
    base = base[:110].rstrip("-")
    cand, n = base, 2
    while cand in taken:
        cand = f"{base}-{n}"
        n += 1
    taken.add(cand)
    return cand


def _evidence(facts: Sequence[Fact], articles: Sequence[str]) -> list[Evidence]:
    out: list[Evidence] = []
    seen: set[tuple[str, str]] = set()
    for aid in articles:
        n = 0
        for f in facts:
            if f.article != aid:
                continue
            for quote in f.quotes:
                quote = quote.strip()[:MAX_QUOTE].strip()
                if not quote or (aid, quote) in seen or n >= MAX_QUOTES_PER_ARTICLE:
                    continue
                seen.add((aid, quote))
                out.append(Evidence(article=aid, quote=quote))
                n += 1
    return out


def suggest_positions(
    story: Story,
    articles: Sequence[Article],
    new: Sequence[Article] | None = None,
    *,
    include_background: bool = False,
) -> list[Question]:
    """Suggested positions for moderators, grouped by question.

    Facts are extracted from every report article (``articles`` plus ``new``); background articles (role
    background, or classified so by ``background_reason``) are skipped unless ``include_background``.  Facts are
    grouped by facet and normalised value and matched to the story's curated questions (by kind and keywords) and
    positions (by normalised value).  When ``new`` is given, only suggestions involving a new article are returned.

    * A value that matches an existing position yields a Position with that position's id and statement, listing
      only the articles (and their quotes) to add.  Values matching a rejected position are not suggested again.
    * A new value yields a new Position with all the articles that hold it.
    * Facts no curated question fits go into new questions ("when-signed", "where-signed", ...).  Dates of events
      other than the signing make a new question only when at least two articles date them.

    Every returned position has status=suggested; evidence quotes are verbatim and at most 300 characters.
    """
    all_articles: dict[str, Article] = {}
    for a in [*articles, *(new or [])]:
        all_articles.setdefault(a.id, a)
    considered = {a.id for a in new} if new is not None else set(all_articles)
    usable = [a for a in all_articles.values() if include_background or not _is_background(story, a)]
    entities = _entity_map(story)

    facts_by_facet: dict[str, dict[str, list[Fact]]] = {}
    for a in usable:
        seen: set[tuple[str, str]] = set()
        for f in extract_facts(story, a):
            if f.facet not in _FACETS:
                continue
            group = facts_by_facet.setdefault(f.facet, {}).setdefault(f.key, [])
            if (f.facet, f.key) in seen:
                # One article, one value: merge the quotes into its first fact.
                i = next(i for i, g in enumerate(group) if g.article == a.id)
                g = group[i]
                merged = tuple(dict.fromkeys(g.quotes + f.quotes))[:MAX_QUOTES_PER_ARTICLE]
                group[i] = Fact(g.facet, g.key, g.statement, g.article, merged, g.interval, g.country)
                continue
            seen.add((f.facet, f.key))
            group.append(f)

    used: set[str] = set()
    curated_for: dict[str, Question | None] = {}
    for fid in _FACET_ORDER:
        cq = _curated_question(story, _FACETS[fid], used) if fid in facts_by_facet else None
        if cq is not None:
            used.add(cq.id)
        curated_for[fid] = cq

    taken_qids = {q.id for q in story.questions}
    results: list[tuple[int, Question]] = []
    for fid in _FACET_ORDER:
        groups = facts_by_facet.get(fid)
        if not groups:
            continue
        facet = _FACETS[fid]
        cq = curated_for[fid]
        existing = [(p, _position_key(facet, p, entities)) for p in (cq.positions if cq else [])]
        taken_pids = {p.id for p, _ in existing}
        if fid != "when-signed" and fid.startswith("when-") and cq is None:
            holders_total = {f.article for fs in groups.values() for f in fs}
            if len(holders_total) < MIN_ARTICLES_FOR_OTHER_EVENTS:
                continue
        ordered = sorted(
            groups.items(), key=lambda kv: (-len({f.article for f in kv[1]}), _first_index(kv[1], all_articles))
        )
        suggestions: list[Position] = []
        for key, fs in ordered:
            holders = list(dict.fromkeys(f.article for f in fs))
            matches = [p for p, k in existing if k is not None and k.key == key]
            if matches:
                live = [p for p in matches if p.status != PositionStatus.rejected]
                if not live:
                    continue  # a moderator rejected this value already
                held = {a for p in matches for a in p.articles}
                add = [a for a in holders if a in considered and a not in held]
                if not add:
                    continue
                target = live[0]
                suggestions.append(
                    Position(
                        id=target.id,
                        statement=target.statement,
                        articles=add,
                        evidence=_evidence(fs, add),
                        status=PositionStatus.suggested,
                    )
                )
            else:
                if not any(a in considered for a in holders):
                    continue
                pid = _unique_id(f"{facet.prefix}-{slugify(key.replace(':', '-').replace('+', '-'), 90)}", taken_pids)
                suggestions.append(
                    Position(
                        id=pid,
                        statement=fs[0].statement,
                        articles=holders,
                        evidence=_evidence(fs, holders),
                        status=PositionStatus.suggested,
                    )
                )
        if not suggestions:
            continue
        if cq is not None:
            question = Question(id=cq.id, text=cq.text, kind=cq.kind, positions=suggestions)
            order = next(i for i, q in enumerate(story.questions) if q.id == cq.id)
        else:
            qid = _unique_id(facet.id, taken_qids)
            question = Question(id=qid, text=facet.text, kind=facet.kind, positions=suggestions)
            order = len(story.questions) + _FACET_ORDER.index(fid)
        results.append((order, question))
    results.sort(key=lambda t: t[0])
    return [q for _, q in results]


def _first_index(fs: Sequence[Fact], all_articles: Mapping[str, Article]) -> int:
    ids = list(all_articles)
    return min((ids.index(f.article) for f in fs if f.article in all_articles), default=len(ids))


# --------------------------------------------------------------------------------------------------------------
# detect_conflicts
# --------------------------------------------------------------------------------------------------------------


def _compatible(kind: QuestionKind, a: _Key, b: _Key) -> bool:
    if a.key == b.key:
        return True
    if kind == QuestionKind.date and a.interval and b.interval:
        return not (a.interval[1] < b.interval[0] or b.interval[1] < a.interval[0])
    if kind == QuestionKind.place:
        # "In Russia" and "In Moscow" are compatible; "Moscow" and "the Moscow region" are not.
        return (a.country is not None and normalize(a.country) == b.key) or (
            b.country is not None and normalize(b.country) == a.key
        )
    return False


def detect_conflicts(questions: Sequence[Question], story: Story | None = None) -> list[str]:
    """Ids of the questions with contradictory live (accepted or suggested) positions held by at least one article.

    Positions are compared by their normalised value: different days, places that do not contain one another,
    "alliance" vs "cooperation", different signatories conflict; a month and a day in it, or a city and its
    country, do not.  Positions whose value cannot be read are compared by id.  Suggestions that share an id with
    an accepted position are the same position.
    """
    entities = _entity_map(story)
    out: list[str] = []
    for q in questions:
        facet = _facet_for_question(q)
        keys: dict[str, _Key] = {}
        for p in q.positions:
            if p.status == PositionStatus.rejected or not p.articles:
                continue
            if p.id in keys:
                continue
            k = _position_key(facet, p, entities) if facet is not None else None
            if facet is not None and facet.kind == QuestionKind.place and k is not None and k.country:
                k = _Key(k.key, None, k.country)
            keys[p.id] = k or _Key(f"id:{p.id}")
        vals = list(keys.values())
        if any(not _compatible(q.kind, a, b) for i, a in enumerate(vals) for b in vals[i + 1 :]):
            out.append(q.id)
    return out


# --------------------------------------------------------------------------------------------------------------
# classify_role / background_reason
# --------------------------------------------------------------------------------------------------------------


def background_reason(story: Story, article: Article) -> str | None:
    """Why an article is background (its events predate the story), or None when it reports the story.

    An article that reports the signing (or names the military/technical agreement) is a report, even when its
    dates disagree with the other sources: that is a version, not background.  Otherwise it is background when it
    was published before the story was first seen, when all its dated events predate the story, or when it speaks
    of an earlier visit or of talk of delisting rather than of the signing.
    """
    text = article.text or ""
    if _mentions_story_event(text):
        return None
    first_seen = story.first_seen
    reasons: list[str] = []
    if first_seen and article.published and article.published < first_seen:
        reasons.append(f"it was published on {article.published.isoformat()}, before the story was first seen "
                       f"({first_seen.isoformat()})")  # fmt: skip
    dated = [d for d in extract_dates(text, anchor=article.published) if d.value is not None and d.event and not d.dateline]
    later = [d for d in dated if first_seen and d.interval and d.interval[1] >= first_seen]
    if first_seen and dated and not later:
        ex = ", ".join(f"{d.event} {d.text!r}" for d in dated[:2])
        reasons.append(f"its dated events predate the story ({ex})")
    if not later:
        sents = SentenceIndex(text)
        earlier: dict[str, str] = {}
        for e in extract_events(text):
            if e.event in ("visited", "delisted") and e.event not in earlier:
                earlier[e.event] = quote_around(text, e.start, e.end, sents.at(e.start), 160)
        if earlier:
            parts = []
            if "visited" in earlier:
                parts.append(f"an earlier visit (\"{earlier['visited']}\")")
            if "delisted" in earlier:
                parts.append(f"talk of delisting (\"{earlier['delisted']}\")")
            reasons.append("it speaks of " + " and ".join(parts) + " rather than the signing")
    if not reasons:
        return None
    return "Background: " + "; ".join(reasons) + "."


def classify_role(story: Story, article: Article) -> ArticleRole:
    """background if the article's events predate the story (see background_reason), report otherwise."""
    return ArticleRole.background if background_reason(story, article) is not None else ArticleRole.report
