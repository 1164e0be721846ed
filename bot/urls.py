"""Links: find them in text, canonicalise them, and read words out of their slugs.  Never fetches anything."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import tldextract

from bot.text import clean_text

# tldextract with its bundled public-suffix snapshot only: no network, no cache directory.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)

#: Query parameters that identify a click, not a page.
TRACKING_PARAMS = frozenset(
    """fbclid gclid dclid gbraid wbraid msclkid yclid mc_cid mc_eid igshid igsh si ref ref_src ref_url s
    cmpid ocid smid smtyp _ga _gl spm share_id sh __twitter_impression mkt_tok vero_id oly_anon_id oly_enc_id
    rb_clickid wt_mc xtor ito cid at_medium at_campaign feature""".split()
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "at_", "trk_")
_HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.", "www1.", "www2.")

# http(s) URLs and bare domains with a path ("bbc.com/news/x").  Linear: one character class, bounded.
_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"'`|\\\]\[(){}]{1,2000}", re.IGNORECASE)
_TRAILING = ".,;:!?)]}»”’'\""
#: Longest host part ``normalize_domain`` looks at (generous: IDNA may shorten a Unicode name a little).
_MAX_HOST_INPUT = 1_000


def find_urls(text: str) -> list[str]:
    """The links in ``text`` as written (trailing punctuation trimmed), at most 20."""
    out = []
    for m in _URL_RE.finditer(text):
        url = m.group(0).rstrip(_TRAILING)
        if url.lower().startswith("www."):
            url = "http://" + url
        out.append(url)
        if len(out) >= 20:
            break
    return out


def strip_urls(text: str) -> str:
    return _URL_RE.sub(" ", text)


def normalize_domain(domain: str) -> str | None:
    """'WWW.BBC.co.uk.' -> 'bbc.co.uk'; None if it is not a host name."""
    d = clean_text(domain).strip().lower().rstrip(".")
    if "://" in d:
        try:
            d = urlsplit(d).hostname or ""
        except ValueError:  # "https://[" (a bracketed host that is not an IP address)
            return None
    d = d.split("/")[0].split(":")[0]
    if len(d) > _MAX_HOST_INPUT:
        return None  # a host name is at most 253 characters; longer input is not one (and would cost quadratic time)
    try:
        d = d.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    stripped = True
    while stripped:
        stripped = False
        for p in _HOST_PREFIXES:
            if d.startswith(p) and d.count(".") >= 2:
                d = d[len(p) :]
                stripped = True
    if not d or "." not in d or not re.fullmatch(r"[a-z0-9.-]{1,253}", d):
        return None
    return d


@lru_cache(maxsize=4096)
def registered_domain(host: str) -> str:
    """'news.bbc.co.uk' -> 'bbc.co.uk' (public-suffix aware, offline)."""
    ext = _EXTRACT(host)
    return ext.top_domain_under_public_suffix or host


#: Links up to this long are remembered (``_canonical_cached``): an import canonicalises each article's link when it
#: validates the file and again when it writes it, and a link pasted in many messages is canonicalised once.
_CACHED_URL_CHARS = 300


def canonicalize_url(url: str) -> str | None:
    """A stable form of a link so that variants of one page compare equal; None if it is not http(s).

    https, lowercase host without www./m./amp., no fragment, no tracking parameters, sorted remaining parameters,
    no trailing slash, no /amp path segment or ?amp flag.
    """
    if len(url) <= _CACHED_URL_CHARS:
        return _canonical_cached(url)
    return _canonical(url)


@lru_cache(maxsize=16384)  # at most ~10 MB: keys and values are at most a few hundred characters
def _canonical_cached(url: str) -> str | None:
    return _canonical(url)


def _canonical(url: str) -> str | None:
    url = clean_text(url).strip()
    if not url:
        return None
    if url.lower().startswith("www."):
        url = "http://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    try:
        host = parts.hostname
    except ValueError:
        return None
    host = normalize_domain(host or "")
    if not host:
        return None
    path = clean_text(unquote(parts.path or ""))  # what was escaped is cleaned like what was not (NFKC, controls out)
    segments = [s for s in path.split("/") if s and s.lower() != "amp"]
    last = segments[-1] if segments else ""
    if last.lower() in ("index.html", "index.htm", "index.php"):
        segments.pop()
    if segments and segments[-1].lower().endswith(".amp"):
        segments[-1] = segments[-1][: -len(".amp")]
    path = "/" + "/".join(segments) if segments else ""
    # Re-escape what unquoting exposed and a URL cannot hold raw ("%", "?", "#", white space), so that the
    # canonical form is a URL and canonicalising it again gives it back.
    path = _PATH_UNSAFE_RE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "surrogatepass")), path)
    try:
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        query = []
    kept = sorted(
        (k, v)
        for k, v in query
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(_TRACKING_PREFIXES) and k.lower() != "amp"
    )
    return urlunsplit(("https", host, path, urlencode(kept), ""))


_PATH_UNSAFE_RE = re.compile(r"[%?#\s]")
_SLUG_SPLIT = re.compile(r"[-_+.,/]+|%20")
_ID_LIKE = re.compile(r"^(?:[0-9]+|[0-9a-f]{8,}|[a-z]?[0-9]{5,}[a-z0-9]*)$")


def slug_words(url: str) -> str:
    """Words of a link's path ('.../2026/05/russia-afghanistan-sign-military-deal-123.html' -> 'russia afghanistan
    sign military deal'), for matching when the page itself is unknown."""
    canon = canonicalize_url(url)
    if not canon:
        return ""
    path = urlsplit(canon).path
    out = []
    for seg in path.split("/"):
        seg = re.sub(r"\.(html?|php|aspx?)$", "", seg)
        for w in _SLUG_SPLIT.split(seg):
            if w and not _ID_LIKE.match(w.lower()) and len(w) > 1:
                out.append(w.lower())
    return " ".join(out)
