"""Fact extractors for the versions layer: dates, places, people and roles, numbers and characterizations.

Pure functions over ``str``.  Every regex here has bounded quantifiers (no unbounded repetition, and repetition
is only ever nested inside a bounded group), and every look-around is done on a bounded window, so a call is
linear in its input: a 1 MB paste finishes quickly.  No function raises on any ``str``; offsets (``start``,
``end``) always index the string that was passed in, and ``text`` is ``s[start:end]``.

What is recognised (and what is not) is documented in docs/versions.md.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

__all__ = [
    "Characterization",
    "DateMention",
    "NumberMention",
    "PersonMention",
    "PlaceMention",
    "Polarity",
    "Precision",
    "RoleMention",
    "Sentence",
    "SentenceIndex",
    "extract_characterizations",
    "extract_dates",
    "extract_deployments",
    "extract_events",
    "extract_numbers",
    "extract_people",
    "extract_places",
    "extract_roles",
    "polarity_of",
    "quote_around",
    "split_sentences",
]

#: Longest evidence quote the extractors return (a Discord embed field is short).
MAX_QUOTE = 300


# --------------------------------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    text: str


# A sentence ends at . ! ? … (plus closing quotes/brackets and trailing citation markers like "[1][2]") followed
# by whitespace, or at a line break.
_SENT_END_RE = re.compile(r"(?<![.!?…])[.!?…]{1,10}+[\"'”’»)\]]{0,3}+(?:\[[0-9]{1,4}\]){0,12}+(?=\s)|\n")
_WORD_BEFORE_RE = re.compile(r"([A-Za-z][A-Za-z.]{0,10})$")
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr st gen col lt sgt capt prof sen rep gov jr sr vs etc inc ltd co corp no jan feb mar apr jun jul
    aug sep sept oct nov dec u.s u.k u.n e.g i.e a.m p.m approx est fig""".split()
)


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of ``text`` with their offsets; line breaks always end a sentence.  Linear."""
    if not isinstance(text, str) or not text:
        return []
    out: list[Sentence] = []
    start = 0
    for m in _SENT_END_RE.finditer(text):
        if m.group() == "\n":
            cut, nxt = m.start(), m.end()
        else:
            w = _WORD_BEFORE_RE.search(text, max(0, m.start() - 12), m.start())
            if w is not None and text[m.start()] == ".":
                word = w.group(1).lower().rstrip(".")
                if word in _ABBREVIATIONS or (len(word) == 1 and w.group(1)[0].isupper()):
                    continue
            cut = nxt = m.end()
        _add_sentence(text, start, cut, out)
        start = nxt
    _add_sentence(text, start, len(text), out)
    return out


def _add_sentence(text: str, start: int, end: int, out: list[Sentence]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        out.append(Sentence(start, end, text[start:end]))


class SentenceIndex:
    """Sentence lookup by offset (binary search over the sentence starts); sentences are split on first use."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._items: list[Sentence] | None = None
        self.starts: list[int] = []

    @property
    def items(self) -> list[Sentence]:
        if self._items is None:
            self._items = split_sentences(self.text)
            self.starts = [s.start for s in self._items]
        return self._items

    def at(self, pos: int) -> Sentence:
        self.items  # noqa: B018 - split on first use
        i = bisect.bisect_right(self.starts, pos) - 1
        if i >= 0 and self.items[i].start <= pos < max(self.items[i].end, self.items[i].start + 1):
            return self.items[i]
        # Between sentences (whitespace) or no sentences: a bounded window around pos.
        lo, hi = max(0, pos - 150), min(len(self.text), pos + 150)
        return Sentence(lo, hi, self.text[lo:hi])


def quote_around(text: str, start: int, end: int, sentence: Sentence | None = None, limit: int = MAX_QUOTE) -> str:
    """A verbatim quote of at most ``limit`` characters: the sentence around [start, end), cut at word breaks."""
    if not isinstance(text, str) or not text:
        return ""
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    if sentence is None:
        sentence = SentenceIndex(text[max(0, start - 2000) : end + 2000]).at(start - max(0, start - 2000))
        offset = max(0, start - 2000)
        sentence = Sentence(sentence.start + offset, sentence.end + offset, sentence.text)
    lo, hi = min(sentence.start, start), max(sentence.end, end)
    if hi - lo > limit:
        span = end - start
        if span >= limit:
            return text[start : start + limit].strip()
        new_lo = max(lo, start - (limit - span) // 2)
        new_hi = min(hi, new_lo + limit)
        new_lo = max(lo, new_hi - limit)
        # Cut at word breaks, never inside the mention.
        if new_lo > lo and not text[new_lo - 1].isspace():
            sp = text.find(" ", new_lo, start)
            if sp != -1:
                new_lo = sp + 1
        if new_hi < hi and not text[new_hi].isspace():
            sp = text.rfind(" ", end, new_hi)
            if sp != -1:
                new_hi = sp
        lo, hi = new_lo, new_hi
    return text[lo:hi].strip()


# --------------------------------------------------------------------------------------------------------------
# Events ("signed", "visited" ...): the verbs that govern dates and places
# --------------------------------------------------------------------------------------------------------------

_EVENT_RE = re.compile(
    r"""\b(?:
      (?P<signed>sign(?:s|ed|ing)?|inked|signature|signatories)
    | (?P<visited>visit(?:s|ed|ing)?|trip|made\s{1,3}(?:his|her|their|its)\s{1,3}way\s{1,3}to
        |travell?ed\s{1,3}to|arrived\s{1,3}in)
    | (?P<delisted>delist(?:s|ed|ing)?|blacklist(?:ed)?|terrorist\s{1,3}(?:list|blacklist)
        |list\s{1,3}of\s{1,3}(?:banned|terrorist|prohibited)|removed\s{1,3}the\s{1,3}[A-Za-z]{1,30}\s{1,3}from)
    | (?P<accepted>accept(?:s|ed|ing)?|credentials)
    | (?P<recognized>recogni[sz](?:e|es|ed|ing)|recognition)
    | (?P<met>met|meeting|talks)
    | (?P<announced>announc(?:e|es|ed|ing)|announcement)
    )\b""",
    re.I | re.X,
)
EVENTS = ("signed", "visited", "delisted", "accepted", "recognized", "met", "announced")


@dataclass(frozen=True)
class EventMention:
    start: int
    end: int
    text: str
    #: Canonical event word: one of EVENTS.
    event: str


def extract_events(text: str) -> list[EventMention]:
    """Event words ("signed", "made his way to", "delist" ...) with their canonical event."""
    if not isinstance(text, str):
        return []
    return [EventMention(m.start(), m.end(), m.group(), m.lastgroup or "") for m in _EVENT_RE.finditer(text)]


class _EventIndex:
    """All event words of a text, found in one pass, for nearest-event lookups by offset."""

    def __init__(self, text: str) -> None:
        self.items = [(m.start(), m.end(), m.lastgroup or "") for m in _EVENT_RE.finditer(text)]
        self.starts = [i[0] for i in self.items]

    def nearest(self, start: int, end: int, sent: Sentence) -> tuple[str, int] | None:
        """The event word nearest to [start, end) in its sentence: up to 100 characters before, 150 after."""
        best: tuple[int, str, int] | None = None
        lo = max(sent.start, start - 100)
        i = bisect.bisect_left(self.starts, start) - 1
        while i >= 0 and self.items[i][0] >= lo:
            s, e, kind = self.items[i]
            if e <= start:
                best = (start - e, kind, s)
                break
            i -= 1
        hi = min(max(sent.end, end), end + 150)
        j = bisect.bisect_left(self.starts, end)
        if j < len(self.items) and self.items[j][1] <= hi:
            s, e, kind = self.items[j]
            if best is None or s - end < best[0]:
                best = (s - end, kind, s)
        return (best[1], best[2]) if best else None


# --------------------------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------------------------


class Precision(StrEnum):
    day = "day"
    week = "week"
    month = "month"


_MONTH_NUM = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11,
    "dec": 12,
}  # fmt: skip
_MONTH_NAMES = (
    "January February March April May June July August September October November December".split()
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "hundred": 100,
}  # fmt: skip

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
_WD = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_ORD = r"(?:st|nd|rd|th)?"
_NUMW = r"(?:[0-9]{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"

_DATE_RE = re.compile(
    rf"""(?=[0-9A-Za-z])\b(?:
      (?:(?:on\s{{1,3}})?{_WD},?\s{{1,3}})?
      (?:
          (?P<m1>{_MONTH})\s{{1,3}}(?P<d1>[0-9]{{1,2}}){_ORD}\b(?:,?\s{{1,3}}(?P<y1>[0-9]{{4}})\b)?
        | (?:the\s{{1,3}})?(?P<d2>[0-9]{{1,2}}){_ORD}(?:\s{{1,3}}of)?\s{{1,3}}(?P<m2>{_MONTH})
          (?:,?\s{{1,3}}(?P<y2>[0-9]{{4}})\b)?
        | (?P<m5>{_MONTH})(?:\s{{1,3}}of)?,?\s{{1,3}}(?P<y5>[0-9]{{4}})\b
      )
    | (?P<y3>[0-9]{{4}})(?P<s3>[-/.])(?P<m3>[0-9]{{1,2}})(?P=s3)(?P<d3>[0-9]{{1,2}})\b
    | (?P<a4>[0-9]{{1,2}})(?P<s4>[-/.])(?P<b4>[0-9]{{1,2}})(?P=s4)(?P<y4>[0-9]{{4}}|[0-9]{{2}})\b
    | (?P<rel>
          the\s{{1,3}}day\s{{1,3}}before\s{{1,3}}yesterday|yesterday|today|tonight|this\s{{1,3}}morning
        | (?:earlier|later)\s{{1,3}}this\s{{1,3}}(?:week|month)|this\s{{1,3}}(?:week|month)|last\s{{1,3}}(?:week|month)
        | (?:(?P<wq>last|next|this\s{{1,3}}past|this|on)\s{{1,3}})?(?P<wd>{_WD})
        | (?P<n>{_NUMW})\s{{1,3}}(?P<u>days?|weeks?|months?)\s{{1,3}}ago
      )
    )\b""",
    re.I | re.X,
)

_TWEET_SIG_RE = re.compile(r"@[A-Za-z0-9_]{1,15}\)?\s{0,3}$")
_DATELINE_RE = re.compile(r"^\s{0,4}[A-Z][A-Z'. -]{1,40},\s{0,3}$")
_FUTURE_RE = re.compile(
    r"\b(?:will|shall|to\s{1,3}be|is\s{1,3}due|are\s{1,3}due|expected|scheduled|plans?|planned|next)\b", re.I
)


@dataclass(frozen=True)
class DateMention:
    start: int
    end: int
    text: str
    #: A date (day or week precision: the day, or the Monday of the week), (year, month) for month precision, or
    #: None when the mention is relative (or has no year) and there was no anchor to resolve it against.
    value: date | tuple[int, int] | None
    precision: Precision
    relative: bool = False
    #: The governing event word nearby (one of EVENTS: "signed", "visited", "delisted", "accepted" ...) or None.
    event: str | None = None
    #: Offset of that event word in the text (for quoting), or None.
    event_at: int | None = None
    #: The date of a social-media post ("— @handle May 29, 2026"): the event it reports happened on or before it.
    posted: bool = False
    #: A wire dateline ("MOSCOW, June 1 -"): the date of the report, not of an event.
    dateline: bool = False
    #: The year was not written; it was taken from the anchor.
    year_inferred: bool = False

    @property
    def interval(self) -> tuple[date, date] | None:
        """The first and last day the mention can mean."""
        return date_interval(self.value, self.precision)

    @property
    def key(self) -> str | None:
        """A normalised value: "2026-05-31", "2026-W22" or "2026-05"."""
        return date_key(self.value, self.precision)


def date_interval(value: date | tuple[int, int] | None, precision: Precision | str) -> tuple[date, date] | None:
    try:
        if isinstance(value, date):
            if precision == Precision.week:
                return value, value + timedelta(days=6)
            return value, value
        if isinstance(value, tuple) and len(value) == 2:
            y, m = value
            first = date(y, m, 1)
            nxt = date(y + (m == 12), m % 12 + 1, 1) if not (y == 9999 and m == 12) else date(9999, 12, 31)
            return first, (nxt - timedelta(days=1) if nxt != date(9999, 12, 31) else nxt)
    except (ValueError, OverflowError, TypeError):
        return None
    return None


def date_key(value: date | tuple[int, int] | None, precision: Precision | str) -> str | None:
    if isinstance(value, date):
        if precision == Precision.week:
            y, w, _ = value.isocalendar()
            return f"{y:04d}-W{w:02d}"
        return value.isoformat()
    if isinstance(value, tuple) and len(value) == 2:
        return f"{value[0]:04d}-{value[1]:02d}"
    return None


def format_date(value: date | tuple[int, int] | None, precision: Precision | str = Precision.day) -> str:
    """'31 May 2026', 'May 2026', 'the week of 25 May 2026'."""
    if isinstance(value, date):
        s = f"{value.day} {_MONTH_NAMES[value.month - 1]} {value.year}"
        return f"the week of {s}" if precision == Precision.week else s
    if isinstance(value, tuple) and len(value) == 2 and 1 <= value[1] <= 12:
        return f"{_MONTH_NAMES[value[1] - 1]} {value[0]}"
    return ""


def _month(token: str | None) -> int | None:
    if not token:
        return None
    return _MONTH_NUM.get(token.strip(".").lower()[:3])


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _shift_month(y: int, m: int, delta: int) -> tuple[int, int]:
    k = y * 12 + (m - 1) + delta
    return k // 12, k % 12 + 1


def _valid_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d) if 1 <= y <= 9999 else None
    except (ValueError, OverflowError):
        return None


def extract_dates(text: str, anchor: date | None = None, day_first: bool = True) -> list[DateMention]:
    """Absolute and relative dates in ``text``.

    ``anchor`` (usually the article's published date) resolves relative dates ("yesterday", "on Sunday",
    "earlier this week", "two days ago") and day-month dates without a year; without it those get value None.
    ``day_first`` decides ambiguous numeric dates ("05/06/2026" is 5 June by default, 6 May when False).
    """
    if not isinstance(text, str) or not text:
        return []
    if anchor is not None and not isinstance(anchor, date):
        anchor = None
    sents = SentenceIndex(text)
    events = _EventIndex(text)
    out: list[DateMention] = []
    for m in _DATE_RE.finditer(text):
        try:
            mention = _date_mention(text, m, anchor, day_first, sents, events)
        except (ValueError, OverflowError, TypeError, IndexError):  # pragma: no cover - defensive
            mention = None
        if mention is not None:
            out.append(mention)
    return out


def _date_mention(
    text: str, m: re.Match[str], anchor: date | None, day_first: bool, sents: SentenceIndex, events: _EventIndex
) -> DateMention | None:
    g = m.groupdict()
    value: date | tuple[int, int] | None = None
    precision = Precision.day
    relative = False
    year_inferred = False
    month_token = g["m1"] or g["m2"] or g["m5"]
    if month_token is not None and month_token.startswith("may"):
        # "may" in lower case is the verb unless a full day-month-year date follows.
        if not ((g["d1"] and g["y1"]) or (g["d2"] and g["y2"])):
            return None
    if g["m5"]:
        mo = _month(g["m5"])
        y = int(g["y5"])
        if mo is None or not 1 <= y <= 9999:
            return None
        value, precision = (y, mo), Precision.month
    elif g["m1"] or g["m2"]:
        mo = _month(g["m1"] or g["m2"])
        d = int(g["d1"] or g["d2"])
        ytok = g["y1"] or g["y2"]
        if mo is None:
            return None
        if ytok:
            value = _valid_date(int(ytok), mo, d)
            if value is None:
                return None
        else:
            if not (1 <= d <= 31) or not month_token[:1].isupper():
                return None
            year_inferred = True
            if anchor is not None:
                value = _valid_date(anchor.year, mo, d)
                if value is not None and (value - anchor).days > 183:
                    value = _valid_date(anchor.year - 1, mo, d)
    elif g["y3"]:
        value = _valid_date(int(g["y3"]), int(g["m3"]), int(g["d3"]))
        if value is None:
            return None
    elif g["a4"]:
        a, b = int(g["a4"]), int(g["b4"])
        y = int(g["y4"])
        if len(g["y4"]) == 2:
            y += 2000
        d, mo = (a, b) if day_first else (b, a)
        if mo > 12 and d <= 12:
            d, mo = mo, d
        value = _valid_date(y, mo, d)
        if value is None:
            return None
    elif g["rel"]:
        relative = True
        value, precision = _resolve_relative(text, m, anchor)
        if precision is None:
            return None
    else:  # pragma: no cover - every alternative has a group
        return None

    start, end = m.start(), m.end()
    sent = sents.at(start)
    event: tuple[str, int] | None = None
    posted = dateline = False
    line_start = text.rfind("\n", max(0, start - 400), start) + 1
    if line_start == 0 and start > 400:
        line_start = start - 400
    before = text[max(line_start, start - 30) : start]
    if _TWEET_SIG_RE.search(before):
        posted = True
        event = _post_event(text, line_start)
    elif _DATELINE_RE.match(text[line_start:start]) and start - line_start <= 46:
        dateline = True
    else:
        event = events.nearest(start, end, sent)
    return DateMention(
        start=start,
        end=end,
        text=m.group(),
        value=value,
        precision=precision,
        relative=relative,
        event=event[0] if event else None,
        event_at=event[1] if event else None,
        posted=posted,
        dateline=dateline,
        year_inferred=year_inferred,
    )


def _post_event(text: str, line_start: int) -> tuple[str, int] | None:
    """The event a post reports: an event word in the up-to-two lines (400 characters) above its signature."""
    lo = max(0, line_start - 400)
    prev = text.rfind("\n", lo, max(lo, line_start - 1))
    prev2 = text.rfind("\n", lo, prev) if prev > lo else -1
    body_start = (prev2 + 1) if prev2 >= lo else (prev + 1 if prev >= lo else lo)
    best: tuple[str, int] | None = None
    for m in _EVENT_RE.finditer(text, body_start, line_start):
        if m.lastgroup == "signed":
            return "signed", m.start()
        if best is None:
            best = (m.lastgroup or "", m.start())
    return best


def _resolve_relative(text: str, m: re.Match[str], anchor: date | None) -> tuple[date | tuple[int, int] | None, Precision | None]:
    rel = " ".join(m.group("rel").lower().split())
    wd = m.group("wd")
    if wd:
        target = _WEEKDAYS.index(wd.lower())
        if anchor is None:
            return None, Precision.day
        q = " ".join((m.group("wq") or "").lower().split())
        if q in ("last", "this past"):
            back = (anchor.weekday() - target) % 7 or 7
            return anchor - timedelta(days=back), Precision.day
        future = q in ("next", "this")
        if not future:
            window = text[max(0, m.start() - 50) : m.start()]
            future = _FUTURE_RE.search(window) is not None
        if future:
            ahead = (target - anchor.weekday()) % 7 or 7
            return anchor + timedelta(days=ahead), Precision.day
        back = (anchor.weekday() - target) % 7
        return anchor - timedelta(days=back), Precision.day
    if m.group("n"):
        n_tok = m.group("n").lower()
        n = int(n_tok) if n_tok.isdigit() else _NUMBER_WORDS.get(n_tok)
        unit = m.group("u").lower().rstrip("s")
        if n is None:
            return None, None
        prec = {"day": Precision.day, "week": Precision.week, "month": Precision.month}[unit]
        if anchor is None:
            return None, prec
        if unit == "day":
            return anchor - timedelta(days=n), prec
        if unit == "week":
            return _monday(anchor - timedelta(days=7 * n)), prec
        return _shift_month(anchor.year, anchor.month, -n), prec
    table: dict[str, tuple[int, Precision]] = {
        "yesterday": (-1, Precision.day),
        "the day before yesterday": (-2, Precision.day),
        "today": (0, Precision.day),
        "tonight": (0, Precision.day),
        "this morning": (0, Precision.day),
    }
    if rel in table:
        delta, prec = table[rel]
        return (anchor + timedelta(days=delta) if anchor else None), prec
    if rel.endswith("week"):
        if anchor is None:
            return None, Precision.week
        monday = _monday(anchor)
        return (monday - timedelta(days=7) if rel.startswith("last") else monday), Precision.week
    if rel.endswith("month"):
        if anchor is None:
            return None, Precision.month
        return _shift_month(anchor.year, anchor.month, -1 if rel.startswith("last") else 0), Precision.month
    return None, None


# --------------------------------------------------------------------------------------------------------------
# Places
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    name: str
    kind: str  # "country" | "city" | "region"
    country: str | None


def _gazetteer() -> dict[str, _Place]:
    g: dict[str, _Place] = {}

    def add(name: str, kind: str, country: str | None, *aliases: str) -> None:
        p = _Place(name, kind, country if kind != "country" else name)
        for a in (name, *aliases):
            g[a.lower()] = p

    for c, *al in [
        ("Russia", "Russian Federation"),
        ("Afghanistan",),
        ("United States", "United States of America"),
        ("China",),
        ("India",),
        ("Iran",),
        ("Pakistan",),
        ("Ukraine",),
        ("Uzbekistan",),
        ("Tajikistan",),
        ("Turkmenistan",),
        ("Kazakhstan",),
        ("Kyrgyzstan",),
        ("Qatar",),
        ("Turkey", "Türkiye"),
        ("Belarus",),
        ("Syria",),
        ("Iraq",),
        ("Israel",),
        ("Saudi Arabia",),
        ("United Kingdom", "Britain", "Great Britain"),
        ("France",),
        ("Germany",),
        ("Japan",),
        ("North Korea",),
        ("Azerbaijan",),
        ("Armenia",),
    ]:
        add(c, "country", c, *al)
    for city, country, *al in [
        ("Moscow", "Russia"),
        ("Saint Petersburg", "Russia", "St Petersburg", "St. Petersburg"),
        ("Kazan", "Russia"),
        ("Sochi", "Russia"),
        ("Kabul", "Afghanistan"),
        ("Kandahar", "Afghanistan"),
        ("Herat", "Afghanistan"),
        ("Mazar-i-Sharif", "Afghanistan", "Mazar-e-Sharif"),
        ("Washington", "United States"),
        ("New York", "United States"),
        ("Beijing", "China"),
        ("New Delhi", "India", "Delhi"),
        ("Tehran", "Iran"),
        ("Islamabad", "Pakistan"),
        ("Kyiv", "Ukraine", "Kiev"),
        ("Tashkent", "Uzbekistan"),
        ("Dushanbe", "Tajikistan"),
        ("Ashgabat", "Turkmenistan"),
        ("Astana", "Kazakhstan"),
        ("Almaty", "Kazakhstan"),
        ("Bishkek", "Kyrgyzstan"),
        ("Doha", "Qatar"),
        ("Ankara", "Turkey"),
        ("Istanbul", "Turkey"),
        ("Minsk", "Belarus"),
        ("London", "United Kingdom"),
        ("Paris", "France"),
        ("Berlin", "Germany"),
        ("Brussels", None),
        ("Geneva", None),
    ]:
        add(city, "city", country, *al)
    for region, country, *al in [
        ("Moscow region", "Russia", "Moscow Oblast", "Moscow province", "Podmoskovye"),
        ("Central Asia", None),
        ("South Asia", None),
        ("Middle East", None),
        ("Asia", None),
        ("Europe", None),
    ]:
        add(region, "region", country, *al)
    return g


GAZETTEER = _gazetteer()
_ACRONYMS = {"US": "United States", "U.S.": "United States", "USA": "United States", "UK": "United Kingdom",
             "U.K.": "United Kingdom"}  # fmt: skip


def _alias_alt(aliases: list[str]) -> str:
    parts = []
    for a in sorted(aliases, key=len, reverse=True):
        parts.append(r"\s{1,3}".join(re.escape(w) for w in a.split()))
    return "|".join(parts)


# The leading look-ahead lets the engine skip non-letters fast (the look-behind alone does not).
_GAZ_RE = re.compile(rf"(?=[A-Za-z])(?<![\w-])(?:{_alias_alt(list(GAZETTEER))})(?![\w-])", re.I)
_ACRONYM_RE = re.compile(rf"(?<![\w.])(?:{_alias_alt(list(_ACRONYMS))})(?![\w])")
_REGION_RE = re.compile(
    r"(?<![\w-])(?P<name>[A-Z][\w'’-]{1,30}(?:\s[A-Z][\w'’-]{1,30})?)\s{1,3}(?P<rk>(?i:region|oblast|krai))\b"
)
_IN_PLACE_RE = re.compile(r"\b(?:in|at)\s{1,3}(?:the\s{1,3})?(?P<name>[A-Z][a-z]{2,30}(?:[\s-][A-Z][a-z]{2,30}){0,2})\b")
_PLACE_CUE_RE = re.compile(
    r"(?:\b(?P<ev>ceremony|forum|summit|meeting|conference|talks|event|signing)\s{1,3}(?:held\s{1,3})?"
    r"|\b(?P<held>held|took\s{1,3}place|signed|hosted|gathered|met)\s{1,3})?"
    r"\b(?P<prep>in|at|to|near|outside)\s{1,3}(?:the\s{1,3})?$",
    re.I,
)

#: Capitalised words that are not place names when they follow "in" ("in January", "in Russian").
_NOT_PLACE = frozenset(
    """january february march april may june july august september october november december monday tuesday
    wednesday thursday friday saturday sunday the this that these those a an his her their its our my addition
    contrast fact particular short general turn return response order part practice theory effect russian
    afghan american chinese indian iranian pakistani ukrainian western eastern soviet english islamic taliban
    kremlin march total spite light view""".split()
)


@dataclass(frozen=True)
class PlaceMention:
    start: int
    end: int
    text: str
    #: Canonical name ("Moscow", "Moscow region", "Central Asia").
    name: str
    #: "country", "city", "region", or "unknown" for a capitalised name after "in" that is not in the gazetteer.
    kind: str
    #: The country it is in (a country's own name for a country), when known.
    country: str | None
    #: The words that place an event there: "ceremony in", "forum in", "held in", "took place in", "in", "to" ...
    cue: str | None
    known: bool = True
    #: The governing event word nearby (one of EVENTS), or None.
    event: str | None = None

    @property
    def key(self) -> str:
        return " ".join(self.name.lower().split())


def extract_places(text: str) -> list[PlaceMention]:
    """Places: a gazetteer of countries, capitals and regions, "the X region", and capitalised names after "in"."""
    if not isinstance(text, str) or not text:
        return []
    sents = SentenceIndex(text)
    events = _EventIndex(text)
    found: list[tuple[int, int, str, str, str | None, bool]] = []
    for m in _GAZ_RE.finditer(text):
        p = GAZETTEER.get(" ".join(m.group().lower().split()))
        if p is None:
            continue
        found.append((m.start(), m.end(), p.name, p.kind, p.country, True))
    for m in _ACRONYM_RE.finditer(text):
        name = _ACRONYMS.get(" ".join(m.group().split()))
        if name:
            found.append((m.start(), m.end(), name, "country", name, True))
    for m in _REGION_RE.finditer(text):
        base = m.group("name")
        words = base.split()
        # "Security Council region" is unlikely; keep the last capitalised word(s) that are not sentence filler.
        words = [w for w in words if w.lower() not in _NOT_PLACE] or words
        base = " ".join(words)
        known = GAZETTEER.get(base.lower())
        name = f"{base} region"
        found.append((m.start("name") + m.group("name").find(words[0]), m.end(), name, "region",
                      known.country if known else None, known is not None))  # fmt: skip
    for m in _IN_PLACE_RE.finditer(text):
        name = m.group("name")
        first = name.split()[0].split("-")[0].lower()
        if first in _NOT_PLACE or name.lower() in GAZETTEER:
            continue
        if text[m.end() : m.end() + 2] in ("'s", "’s"):
            continue
        found.append((m.start("name"), m.end("name"), name, "unknown", None, False))
    # Keep the longest of overlapping mentions; at equal length, a known place over an unknown one.
    found.sort(key=lambda f: (f[0], -(f[1] - f[0]), not f[5]))
    out: list[PlaceMention] = []
    last_end = -1
    for start, end, name, kind, country, known in found:
        if start < last_end:
            continue
        last_end = end
        sent = sents.at(start)
        cue_m = _PLACE_CUE_RE.search(text, max(sent.start, start - 45), start)
        cue = " ".join(cue_m.group().split()).lower() if cue_m else None
        if cue and cue.endswith(" the"):
            cue = cue[:-4]
        ev = events.nearest(start, end, sent)
        out.append(PlaceMention(start, end, text[start:end], name, kind, country, cue, known, ev[0] if ev else None))
    return out


# --------------------------------------------------------------------------------------------------------------
# People and roles
# --------------------------------------------------------------------------------------------------------------

_HONORIFICS = (
    r"Mullah|Mawlawi|Maulvi|Mawlavi|Maulana|Sheikh|Shaikh|Hajji|Haji|Qari|Amir|President|Prime\s{1,2}Minister"
    r"|Minister|Secretary|Ambassador|General|Gen\.|Marshal|Colonel|Col\.|Commander|Mr\.?|Mrs\.?|Ms\.?|Dr\.?"
    r"|Prof\.?|Sir|Imam|King|Queen|Crown\s{1,2}Prince|Prince|Chancellor|Senator|Sen\."
)
_NAME_HONORIFICS = frozenset("mullah mawlawi maulvi mawlavi maulana sheikh shaikh hajji haji qari amir imam".split())
_NAME_WORD = r"[A-Z][A-Za-z'’-]{1,30}"
_PERSON_HON_RE = re.compile(
    rf"(?=[A-Z])(?<![\w])(?P<hon>{_HONORIFICS})\s{{1,3}}(?P<name>{_NAME_WORD}(?:\s{{1,2}}{_NAME_WORD}){{0,2}})"
)
_PERSON_RE = re.compile(r"(?=[A-Z])(?<![\w'’])(?P<name>[A-Z][a-z]{1,20}(?:\s[A-Z][a-z]{1,20}){1,2})(?![\w])")
_PERSON_CUE_AFTER_RE = re.compile(
    r"^(?:['’]s\s{1,3}office|\s{0,3},\s{0,3}(?:the|a|an|who|Afghanistan|Russia|[a-z]{1,20}['’]s)\b"
    r"|\s{1,3}(?:also\s{1,3})?(?:said|says|noted|added|remarked|explained|told|warned|stressed|argued|echoed"
    r"|emphasi[sz]ed|stated|met|signed|visited|wrote|posted)\b)"
)
_PERSON_CUE_BEFORE_RE = re.compile(
    r"\b(?:noted|said|says|according\s{1,3}to|scholar|researcher|analyst|minister|secretary|spokes\w{0,6}|president"
    r"|ambassador|official|envoy|leader|commander|chief|head|expert|professor|by)\s{0,3},?\s{0,3}$",
    re.I,
)
#: Capitalised words that do not start or make up a person's name.
_NOT_NAME = frozenset(
    """the a an this that these those his her their its our my it he she they we i in on at by for from of to and or
    but with as after before during while when where what who why how earlier later since until if
    january february march april may june july august september october november december monday tuesday wednesday
    thursday friday saturday sunday russia russian russians afghanistan afghan afghans taliban kremlin moscow kabul
    islamic emirate state states united nations security council supreme court federal service ministry minister
    defence defense foreign interior prime president secretary deputy general army military soviet western european
    american chinese indian iranian pakistani ukrainian collective treaty organization province university news
    world web breaking story snapshot sources source line prime agreement deal alliance cooperation partnership
    strategic summary outlook pillars comprehensive beyond historical diplomatic official confrontation giving
    expanding different afgahn central south north east west asia europe middle washington china india iran
    pakistan ukraine doha tehran islamabad beijing nato cis fsb khorasan isis shop amazon best sellers
    click buy reporters reports coverage analysts observers experts neutral research regional power vacuum from
    enemy partner how rehabilitated actually happened""".split()
)


@dataclass(frozen=True)
class PersonMention:
    start: int
    end: int
    text: str
    name: str
    honorific: str | None = None


def extract_people(text: str) -> list[PersonMention]:
    """People: an honorific plus capitalised names ("Mullah Yaqoob", "President Vladimir Putin"), and 2-3 word
    capitalised names with a person cue nearby ("Sergei Shoigu, the ...", "... noted Oz Hassan")."""
    if not isinstance(text, str) or not text:
        return []
    out: list[PersonMention] = []
    taken: list[tuple[int, int]] = []
    for m in _PERSON_HON_RE.finditer(text):
        words = _trim_name(m.group("name").split())
        if not words:
            continue
        name = " ".join(words)
        start, end = m.start(), m.start("name") + len(m.group("name").split(words[-1], 1)[0]) + len(words[-1])
        end = _strip_possessive(text, end)
        hon = " ".join(m.group("hon").split())
        if hon.lower() in _NAME_HONORIFICS:  # part of how the person is called: "Mullah Yaqoob"
            name = f"{hon} {name}"
        out.append(PersonMention(start, end, text[start:end], _strip_possessive_str(name), hon))
        taken.append((start, end))
    k = 0  # both loops run left to right over non-overlapping spans: one pointer keeps this linear
    for m in _PERSON_RE.finditer(text):
        while k < len(taken) and taken[k][1] <= m.start():
            k += 1
        if k < len(taken) and taken[k][0] <= m.start():
            continue
        words = m.group("name").split()
        if any(w.lower() in _NOT_NAME for w in words):
            continue
        after = text[m.end() : m.end() + 40]
        before = text[max(0, m.start() - 40) : m.start()]
        if not (_PERSON_CUE_AFTER_RE.search(after) or _PERSON_CUE_BEFORE_RE.search(before)):
            continue
        out.append(PersonMention(m.start(), m.end(), m.group(), m.group("name"), None))
    out.sort(key=lambda p: p.start)
    return out


def _trim_name(words: list[str]) -> list[str]:
    while words and _strip_possessive_str(words[-1]).lower() in _NOT_NAME:
        words = words[:-1]
    return words


def _strip_possessive_str(s: str) -> str:
    return s[:-2] if s.endswith(("'s", "’s")) else s


def _strip_possessive(text: str, end: int) -> int:
    return end - 2 if text[max(0, end - 2) : end] in ("'s", "’s") else end


_AFFILIATIONS = {
    "russia": "Russia", "russian": "Russia", "russians": "Russia", "kremlin": "Russia", "moscow": "Russia",
    "afghanistan": "Afghanistan", "afghan": "Afghanistan", "kabul": "Afghanistan", "taliban": "Taliban",
    "islamic emirate": "Islamic Emirate", "emirate": "Islamic Emirate", "united states": "United States",
    "us": "United States", "u.s.": "United States", "american": "United States", "washington": "United States",
    "china": "China", "chinese": "China", "iran": "Iran", "iranian": "Iran", "pakistan": "Pakistan",
    "pakistani": "Pakistan", "india": "India", "indian": "India", "ukraine": "Ukraine", "ukrainian": "Ukraine",
    "nato": "NATO", "fsb": "FSB",
}  # fmt: skip

_AFF = r"(?-i:[A-Z][A-Za-z.]{1,30}(?:\s[A-Z][A-Za-z]{1,30})?)"
_ROLE_RE = re.compile(
    rf"""(?=[A-Za-z])\b(?P<role>
        (?:deputy\s{{1,3}})?prime\s{{1,3}}minister(?:\s{{1,3}}for\s{{1,3}}[a-z]{{1,20}}\s{{1,3}}affairs)?
      | (?:defen[cs]e|foreign|interior|finance|economy)\s{{1,3}}minis(?:ter|tre|iter)
      | minister\s{{1,3}}of\s{{1,3}}(?:the\s{{1,3}})?(?P<ministry>defen[cs]e|foreign\s{{1,3}}affairs|interior|finance)
      | security\s{{1,3}}council\s{{1,3}}secretary
      | secretary\s{{1,3}}of\s{{1,3}}(?:the\s{{1,3}})?(?:(?P<aff_in>{_AFF})['’]s\s{{1,3}})?security\s{{1,3}}council
      | president|ambassador|spokes(?:man|woman|person)
      | chief\s{{1,3}}of\s{{1,3}}(?:the\s{{1,3}})?general\s{{1,3}}staff
    )\b
    (?:\s{{1,3}}of\s{{1,3}}(?:the\s{{1,3}})?(?P<aff_post>{_AFF}))?""",
    re.I | re.X,
)
#: What may stand before a role: "Afghanistan's ", "the Afghan ", "the powerful ", "former " (searched backwards
#: from the role in a bounded window).
_ROLE_PREFIX_RE = re.compile(
    rf"""(?:(?P<aff>{_AFF})(?:['’]s)?\s{{1,3}})?(?:the\s{{1,3}})?(?:(?P<former>former|ex-|outgoing)\s{{0,3}})?
    (?:(?:powerful|top|acting)\s{{1,3}})?$""",
    re.I | re.X,
)


@dataclass(frozen=True)
class RoleMention:
    start: int
    end: int
    text: str
    #: Normalised role: "defence minister", "security council secretary", "deputy prime minister", "president" ...
    role: str
    #: Whose role ("Russia", "Afghanistan", "Taliban", "Islamic Emirate" ...), when the text says.
    affiliation: str | None = None
    #: The person holding it, when named next to it ("Sergei Shoigu, the secretary of ...").
    person: str | None = None
    former: bool = False


def _norm_role(raw: str, ministry: str | None) -> str:
    r = " ".join(raw.lower().split())
    r = r.replace("defense", "defence").replace("minsiter", "minister").replace("ministre", "minister")
    if ministry:
        mn = " ".join(ministry.lower().split()).replace("defense", "defence")
        return {"foreign affairs": "foreign minister"}.get(mn, f"{mn} minister")
    if r.startswith("secretary of"):
        return "security council secretary"
    if r.startswith("deputy prime minister"):
        return "deputy prime minister"
    if r.startswith("spokes"):
        return "spokesperson"
    return r


def _affiliation(raw: str | None) -> str | None:
    if not raw:
        return None
    return _AFFILIATIONS.get(" ".join(raw.lower().split()))


def extract_roles(text: str) -> list[RoleMention]:
    """Roles ("Afghanistan's Defence Minister", "Russia's Security Council secretary", "the secretary of Russia's
    Security Council", "Minister of Defense of the Islamic Emirate") with affiliation and the named holder."""
    if not isinstance(text, str) or not text:
        return []
    people = extract_people(text)
    ends = [p.end for p in people]
    starts = [p.start for p in people]
    out: list[RoleMention] = []
    for m in _ROLE_RE.finditer(text):
        rs = m.start()
        pre = _ROLE_PREFIX_RE.search(text, max(0, rs - 60), rs)
        aff_raw = pre.group("aff") if pre else None
        aff = _affiliation(aff_raw) or _affiliation(m.group("aff_in")) or _affiliation(m.group("aff_post"))
        start = rs
        if pre is not None and aff_raw and _affiliation(aff_raw):
            start = pre.start("aff")
        elif pre is not None and pre.group("former"):
            start = pre.start("former")
        end = m.end() if m.group("aff_post") and _affiliation(m.group("aff_post")) else m.end("role")
        role = _norm_role(m.group("role"), m.group("ministry"))
        person = None
        # "Sergei Shoigu, the powerful secretary of ..." (name before) or "Defence Minister Mullah Yaqoob" (after).
        lead = pre.start() if pre is not None and pre.end() > pre.start() else rs
        i = bisect.bisect_right(ends, lead) - 1
        if i >= 0 and re.fullmatch(r"\s{0,3},\s{0,3}(?:an?\s{1,3})?", text[people[i].end : lead]):
            person = people[i].name
        if person is None:
            # "President Vladimir Putin": the role is the person's honorific.
            k = bisect.bisect_right(starts, m.start("role")) - 1
            if k >= 0 and people[k].start == m.start("role") and people[k].honorific:
                person = people[k].name
        if person is None:
            j = bisect.bisect_left(starts, m.end("role"))
            if j < len(people) and re.fullmatch(r"[\s,]{0,4}", text[m.end("role") : people[j].start]):
                person = people[j].name
        former = bool(pre is not None and pre.group("former"))
        out.append(RoleMention(start, end, text[start:end], role, aff, person, former))
    return out


# --------------------------------------------------------------------------------------------------------------
# Numbers with units
# --------------------------------------------------------------------------------------------------------------

_NUMBER_RE = re.compile(
    r"""(?=[$€£₽0-9A-Za-z])(?<![\w.,])
    (?P<cur>[$€£₽])?\s{0,2}
    (?P<num>[0-9]{1,3}(?:,[0-9]{3}){1,5}(?:\.[0-9]{1,6})?|[0-9]{1,15}(?:\.[0-9]{1,6})?
        |one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred
        |a\s{1,3}dozen|a\s{1,3}hundred)
    (?:\s{0,2}(?P<scale>thousand|million|billion|trillion|bn)\b)?
    (?:[\s-]{0,2}(?P<unit>%|percent|per\s{1,2}cent|km|kilomet(?:er|re)s?|miles?|troops|soldiers|fighters|militants
        |tanks|helicopters|aircraft|jets|drones|missiles|people|personnel|years?|months?|weeks?|days?|hours?
        |dollars|rubles|roubles|euros|tons|tonnes))?
    (?![\w])""",
    re.I | re.X,
)
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "bn": 1e9, "trillion": 1e12}
_UNITS = {
    "%": "%", "percent": "%", "per cent": "%", "km": "km", "kilometer": "km", "kilometers": "km", "kilometre": "km",
    "kilometres": "km", "mile": "miles", "miles": "miles", "dollars": "USD", "rubles": "RUB", "roubles": "RUB",
    "euros": "EUR", "tons": "t", "tonnes": "t",
}  # fmt: skip
_CURRENCIES = {"$": "USD", "€": "EUR", "£": "GBP", "₽": "RUB"}


@dataclass(frozen=True)
class NumberMention:
    start: int
    end: int
    text: str
    value: float
    #: Normalised unit: "%", "km", "USD", "troops", "fighters", "years" ...
    unit: str


def extract_numbers(text: str) -> list[NumberMention]:
    """Numbers with a unit or currency ("1,500 troops", "$2 billion", "five years", "40%"); bare numbers are not."""
    if not isinstance(text, str) or not text:
        return []
    out: list[NumberMention] = []
    for m in _NUMBER_RE.finditer(text):
        cur, unit = m.group("cur"), m.group("unit")
        if not cur and not unit:
            continue
        tok = " ".join(m.group("num").lower().split())
        try:
            value = float(tok.replace(",", "")) if tok[0].isdigit() else float(
                {"a dozen": 12, "a hundred": 100}.get(tok, _NUMBER_WORDS.get(tok, 0)))  # fmt: skip
        except ValueError:
            continue
        if m.group("scale"):
            value *= _SCALES[m.group("scale").lower()]
        if unit:
            u = " ".join(unit.lower().split())
            u = _UNITS.get(u, u if u.endswith("s") or u in ("%", "aircraft", "personnel") else u + "s")
        else:
            u = _CURRENCIES[cur]
        if cur and (not unit or _UNITS.get(unit.lower()) in ("USD", "RUB", "EUR")):
            u = _CURRENCIES[cur]
        text_span = m.group().strip()
        start = m.start() + (len(m.group()) - len(m.group().lstrip()))
        out.append(NumberMention(start, start + len(text_span), text_span, value, u))
    return out


# --------------------------------------------------------------------------------------------------------------
# Characterizations, with negation and hedging
# --------------------------------------------------------------------------------------------------------------


class Polarity(StrEnum):
    affirmed = "affirmed"
    negated = "negated"
    hedged = "hedged"


_CHAR_RE = re.compile(
    r"""(?=[A-Za-z])(?<![\w-])(?:
      (?P<mdt>mutual[\s-]{1,2}defen[cs]e\s{1,3}(?:treaty|alliance|pact|agreement))
    | (?P<mtreaty>(?:military|defen[cs]e)\s{1,3}(?:treaty|pact))
    | (?P<salliance>(?:strategic|military|comprehensive|defen[cs]e|formal)\s{1,3}alliances?)
    | (?P<alliance>alliances?)
    | (?P<spart>strategic\s{1,3}partnerships?)
    | (?P<part>(?:security|military|defen[cs]e)\s{1,3}partnerships?|partnerships?)
    | (?P<mtc>(?:military[\s-]{1,2}technical|technical[\s-]{1,2}military)\s{1,3}co-?operation)
    | (?P<tc>technical\s{1,3}(?:co-?operation|assistance|support))
    | (?P<coop>(?:military|defen[cs]e|security)\s{1,3}co-?operation|co-?operation)
    | (?P<mdeal>military\s{1,3}deal)
    )(?![\w-])""",
    re.I | re.X,
)

#: Which reading of the agreement each term supports.
SIDE_ALLIANCE = "alliance"
SIDE_COOPERATION = "cooperation"
SIDE_NEUTRAL = "neutral"
SIDE_DEPLOYMENT = "deployment"

_BOUNDARY_RE = re.compile(
    r"[,;:()\[\]\u2013\u2014]|\s-\s|\b(?:but|however|though|although|whereas|while|yet|rather,)\b", re.I
)
_NEG_RE = re.compile(
    r"\b(?:not|no|never|neither|nor|without|rather\s{1,3}than|instead\s{1,3}of|far\s{1,3}from|den(?:y|ies|ied|ying)"
    r"|ruled?\s{1,3}out|rul(?:es|ing)\s{1,3}out|reject(?:s|ed|ing)?|dismiss(?:es|ed|ing)?)\b|n['’]t\b",
    re.I,
)
_NEG_NOT_RE = re.compile(r"\s{1,3}(?:just|only|merely|simply|least|doubt|surprisingly)\b", re.I)
_HEDGE_RE = re.compile(
    r"\b(?:could|might|would|possibl[ey]|potential(?:ly)?|perhaps|speculat[a-z]{0,6}|reportedly|alleged(?:ly)?"
    r"|rumou?r[a-z]{0,3}|unconfirmed|whether|if|likely|unlikely|suggest[a-z]{0,4}|appears?\s{1,3}to"
    r"|seems?\s{1,3}to|some\s{1,3}reports|characteri[sz](?:e|es|ed|ing)|so[\s-]called|questions?|(?-i:may))\b",
    re.I,
)
_POST_MODAL_RE = re.compile(r"\s{0,3}(?:would|could|might|(?-i:may))\b", re.I)
_QUOTES = "'\"‘’“”«»"
_CITATION_LINE_RE = re.compile(r"\s{0,3}\[[0-9]{1,3}\]")


@dataclass(frozen=True)
class Characterization:
    start: int
    end: int
    #: The words matched ("formal strategic alliance" is matched as "strategic alliance").
    text: str
    #: Canonical term: "alliance", "strategic alliance", "mutual-defense treaty", "partnership", "cooperation",
    #: "technical assistance", "military deal", "deployment of fighters" ...
    term: str
    #: Which reading it supports when affirmed: "alliance", "cooperation", "neutral" (or "deployment").
    side: str
    polarity: Polarity
    #: The sentence it is in, at most 300 characters, verbatim.
    quote: str
    #: The negation or hedge words that decided the polarity ("rather than", "not", "could" ...), if any.
    cue: str | None = None
    #: In a numbered reference list ("[1] Web – Moscow, Taliban forge military alliance ..."): someone else's words.
    citation: bool = False
    #: In scare quotes ("a 'strategic alliance'"): the word is mentioned, not used.
    mention: bool = False


def _char_term(m: re.Match[str]) -> tuple[str, str]:
    kind = m.lastgroup or ""
    low = " ".join(m.group().lower().replace("defence", "defense").split())
    low = low.replace("co-operation", "cooperation")
    if kind == "mdt":
        return "mutual-defense " + low.split()[-1], SIDE_ALLIANCE
    if kind == "mtreaty":
        return "military " + low.split()[-1], SIDE_ALLIANCE
    if kind in ("salliance", "alliance"):
        return low.rstrip("s") if low.endswith("alliances") else low, SIDE_ALLIANCE
    if kind == "spart":
        return "strategic partnership", SIDE_ALLIANCE
    if kind == "part":
        return low.rstrip("s") if low.endswith("partnerships") else low, SIDE_NEUTRAL
    if kind == "mtc":
        return "military-technical cooperation", SIDE_COOPERATION
    if kind == "tc":
        return low, SIDE_COOPERATION
    if kind == "coop":
        return low, SIDE_COOPERATION
    return "military deal", SIDE_COOPERATION


def polarity_of(text: str, start: int, end: int, sentence_start: int | None = None) -> tuple[Polarity, str | None]:
    """Whether the words at [start, end) are affirmed, negated or hedged in their clause, and the deciding cue.

    Negation: "not", "no", "never", "without", "rather than", "instead of", "denied", "ruled out" ... in the same
    clause before the words (an even number cancels: "not possible without cooperation" is affirmed; "not just"
    and "not only" intensify).  Hedges: "could", "may", "might", "would", "possibly", "speculate", "whether",
    "some reports", "characterized as", "so-called" ... before the words, a modal right after them ("a full
    strategic alliance would imply"), or scare quotes around them.  A hedge in the same clause as a negation
    ("could not be", "neither side said whether") makes the whole hedged.
    """
    if not isinstance(text, str) or not text:
        return Polarity.affirmed, None
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    lo = max(0 if sentence_start is None else sentence_start, start - 140)
    lo = min(lo, start)
    scope_start = lo
    for b in _BOUNDARY_RE.finditer(text, lo, start):
        scope_start = b.end()
    negs = [
        n
        for n in _NEG_RE.finditer(text, scope_start, start)
        if not (n.group().lower() in ("not", "no") and _NEG_NOT_RE.match(text, n.end(), min(len(text), n.end() + 20)))
    ]
    hedges = list(_HEDGE_RE.finditer(text, scope_start, start))
    if len(negs) % 2 == 1:
        last = negs[-1]
        if hedges:  # "could not be", "neither side said whether": uncertain, not denied
            return Polarity.hedged, " ".join(f"{hedges[-1].group()} / {last.group()}".split())
        return Polarity.negated, " ".join(last.group().split())
    if hedges:
        return Polarity.hedged, " ".join(hedges[-1].group().split())
    post = _POST_MODAL_RE.match(text, end, min(len(text), end + 20))
    if post:
        return Polarity.hedged, post.group().strip()
    if start > 0 and end < len(text) and text[start - 1] in _QUOTES and text[end] in _QUOTES:
        return Polarity.hedged, "quotation marks"
    return Polarity.affirmed, None


def _is_citation(text: str, pos: int) -> bool:
    line_start = text.rfind("\n", max(0, pos - 300), pos) + 1
    if line_start == 0 and pos > 300:
        return False
    return _CITATION_LINE_RE.match(text, line_start, min(len(text), line_start + 10)) is not None


def extract_characterizations(text: str) -> list[Characterization]:
    """What the text calls the arrangement ("alliance", "strategic alliance", "mutual-defense treaty",
    "partnership", "cooperation", "technical assistance", "military deal"), each with its polarity."""
    if not isinstance(text, str) or not text:
        return []
    sents = SentenceIndex(text)
    out: list[Characterization] = []
    for m in _CHAR_RE.finditer(text):
        term, side = _char_term(m)
        out.append(_characterization(text, m.start(), m.end(), term, side, sents))
    return out


def _characterization(text: str, start: int, end: int, term: str, side: str, sents: SentenceIndex) -> Characterization:
    sent = sents.at(start)
    pol, cue = polarity_of(text, start, end, sent.start)
    mention = start > 0 and end < len(text) and text[start - 1] in _QUOTES and text[end] in _QUOTES
    return Characterization(
        start=start,
        end=end,
        text=text[start:end],
        term=term,
        side=side,
        polarity=pol,
        quote=quote_around(text, start, end, sent),
        cue=cue,
        citation=_is_citation(text, start),
        mention=mention,
    )


_DEPLOY_RE = re.compile(
    r"""(?=[A-Za-z])(?<![\w-])(?:
      deploy(?:ment|ing|ed|s)?\s{1,3}(?:of\s{1,3})?(?:[A-Za-z'’-]{1,20}\s{1,3}){0,2}
        (?:fighters|troops|soldiers|militants|mercenaries|forces)
    | (?:fighters|troops|soldiers|militants)\s{1,3}(?:as|to\s{1,3}serve\s{1,3}as)\s{1,3}mercenar(?:y|ies)
    | (?:send(?:ing|s)?|sent)\s{1,3}(?:[A-Za-z'’-]{1,20}\s{1,3}){0,2}(?:fighters|troops|soldiers)\s{1,3}(?:to|abroad)
    | mercenar(?:y|ies)
    )(?![\w-])""",
    re.I | re.X,
)


def extract_deployments(text: str) -> list[Characterization]:
    """Talk of deploying fighters or troops ("the deployment of fighters to other conflicts", "deploying Taliban
    fighters as mercenaries"), one per sentence, with its polarity (usually hedged: "could lead to")."""
    if not isinstance(text, str) or not text:
        return []
    sents = SentenceIndex(text)
    out: list[Characterization] = []
    last_sent = -1
    for m in _DEPLOY_RE.finditer(text):
        sent = sents.at(m.start())
        if sent.start == last_sent:
            continue
        last_sent = sent.start
        out.append(_characterization(text, m.start(), m.end(), "deployment of fighters", SIDE_DEPLOYMENT, sents))
    return out
