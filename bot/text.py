"""Text normalisation and tokenisation shared by the matcher, the signals and the versions extractors.

All functions here are linear in their input (no backtracking regexes) and never raise on any ``str``: lone
surrogates, NUL bytes, right-to-left overrides and zero-width characters are dropped, not passed on.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

from bot._unicode_tables import COMBINING, INVISIBLE

#: Removed outright: controls, format characters (zero-width, bidi overrides, BOM, soft hyphen), surrogates, private
#: use, variation selectors and the Hangul fillers some spammers use as blanks.
_INVISIBLE_RE = re.compile(f"[{INVISIBLE}\\ufe00-\\ufe0f\\U000e0100-\\U000e01ef\\u115f\\u1160\\u3164\\uffa0\\u034f\\u17b4\\u17b5]+")
_COMBINING_RE = re.compile(f"[{COMBINING}]+")
_NEWLINES_RE = re.compile(r"\r\n?|\n")


def clean_text(text: str, keep_newlines: bool = False, *, nfkc: bool = True) -> str:
    """NFKC (unless ``nfkc=False``), then drop invisible/format/control characters and lone surrogates; tabs become
    spaces.  Stored article text uses ``nfkc=False`` so that quotes stay byte-for-byte the source's."""
    if not text:
        return ""
    if text.isascii():
        # Nothing for NFKC or the surrogate check to do; printable ASCII has no controls, tabs or newlines either.
        if text.isprintable():
            return text
        text = text.replace("\t", " ")
        text = _NEWLINES_RE.sub("\n" if keep_newlines else " ", text)
        return _INVISIBLE_RE.sub("", text)
    if _has_surrogate(text):
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\ufffd", "")
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    text = text.replace("\t", " ")
    text = _NEWLINES_RE.sub("\n" if keep_newlines else " ", text)
    return _INVISIBLE_RE.sub("", text)


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def normalize(text: str) -> str:
    """The matcher's canonical form: cleaned, casefolded, accents removed, whitespace folded."""
    text = clean_text(text).casefold()
    if not text.isascii():
        # Strip combining marks (é -> e, ё -> е) so accents and stacked diacritics do not split words.
        text = unicodedata.normalize("NFC", _COMBINING_RE.sub("", unicodedata.normalize("NFD", text)))
    return " ".join(text.split())


# A word: letters/digits with inner apostrophes or hyphens.  Linear: no nested quantifiers.
_WORD_RE = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_ASCII_WORD_RE = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")
_CAMEL_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_HASHTAG_RE = re.compile(r"#(\w{1,100})")

#: English stop words plus chat filler; small on purpose (content words carry the match).
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves s t don't isn't aren't wasn't weren't
    it's that's what's there's i'm i've you're they're we're he's she's let's lol lmao omg pls plz u ur im ok okay
    yes yeah true really actually just like also got get gets via new news breaking say says said tell told
    know think heard hear see look rt amp http https www com""".split()
)


def split_hashtag(tag: str) -> list[str]:
    """'#RussiaAfghanistanDeal' -> ['russia', 'afghanistan', 'deal']."""
    parts = _CAMEL_RE.findall(tag)
    return [p.lower() for p in parts] if len(parts) > 1 else [tag.lower()]


def expand_hashtags(text: str) -> str:
    """Replace each hashtag by its words so '#MoscowKabulPact' reads as 'Moscow Kabul Pact'."""
    return _HASHTAG_RE.sub(lambda m: " " + " ".join(split_hashtag(m.group(1))) + " ", text)


def words(text: str) -> list[str]:
    """Normalised words of ``text`` (hashtags split, punctuation and emoji dropped), stop words kept."""
    text = clean_text(text)
    if "#" in text:
        text = expand_hashtags(text)
    # ASCII: cleaning again (as normalize does) changes nothing, and casefold is all that is left of it.
    if text.isascii():
        # Casefolded ASCII: [^\W_] is [a-z0-9], and the ASCII class is twice as fast to match.
        found = _ASCII_WORD_RE.findall(text.casefold())
    else:
        text = normalize(text)
        found = _WORD_RE.findall(text)
    if "'" not in text and "-" not in text and "’" not in text:
        return found
    out: list[str] = []
    for w in found:
        w = w.replace("’", "'")
        if w.endswith("'s"):
            w = w[:-2]
        # Hyphenated compounds count as their parts too ("military-technical").
        if "-" in w:
            out.extend(p for p in w.split("-") if p)
        else:
            out.append(w)
    return out


# Porter, the same algorithm as FTS5's `porter` tokenizer, so our stems agree with the index's terms.
_STEMMER = Stemmer.Stemmer("porter")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    return _STEMMER.stemWord(word)


def content_terms(text: str) -> list[str]:
    """Stemmed content words: what the matcher compares."""
    return [stem(w) for w in words(text) if w not in STOP_WORDS and (len(w) > 1 or w.isdigit())]
