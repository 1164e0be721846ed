"""Hostile strings and the functions that must survive them; shared by the tests and ``python -m tests.reliability.hostile``.

Run as a script it times every function on every 1 MB adversarial input and prints a table (the numbers in
docs/reliability.md):

    .venv/bin/python -m tests.reliability.hostile            # the full table (a few minutes)
    .venv/bin/python -m tests.reliability.hostile GROUP ...  # what the test suite runs: one group's curated inputs
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

MB = 1_000_000

#: Fragments hostile input is built from: invisible and bidi characters, combining marks, homoglyphs, NULs, lone
#: surrogates, Discord syntax, URL and regex bait, and words the matcher and extractors react to.
FRAGMENTS = [
    "\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u202d", "\u2066", "\u2069", "\u061c", "\u3164",
    "\u0301", "\u0336" * 8, "\u0489", "a" + "\u0300\u0301\u0302\u0303\u0304" * 6, "\x00", "\x1b[2J", "\x7f", "\r\n",
    "\ud800", "\udfff", "\ud83d", "а", "ο", "Ρ", "ᴀ", "ﬃ", "İ", "ß", "Ⅻ", "①", "𝐌𝐨𝐬𝐜𝐨𝐰", "🇷🇺", "👨‍👩‍👧",
    "@everyone", "@here", "<@123>", "<@!1>", "<@&456>", "<#789>", "</check:1>", "[x](https://evil.example)",
    "discord.gg/abc", "https://discord.com/invite/x", "**", "__", "~~", "||", "`", "```", "> ", "# ", "-# ",
    "https://", "http://", "www.", "http://[::1", "https://xn--", "://", "..", "%00", "%E2%80%AE", "?utm_source=x&",
    "#", "#MoscowKabulPact", "'", "’s", "-", "[1]", '"', "“", "”", "(", ")", ".", " ", "\n", "\t", "1,000", "31/05/2026",
    "Mr ", "President ", "Vladimir Putin", "said", "according to", "Russia", "Afghanistan", "Kabul", "Moscow",
    "Taliban", "military", "pact", "signed", "May 31, 2026", "not ", "percent", "troops",
]  # fmt: skip

#: Named fixed cases (each also run through every function).
FIXED: dict[str, str] = {
    "empty": "",
    "zero-width": "Mos\u200bcow\u200d ink\u2060s pact with Ka\ufeffbul",
    "rtl-override": "\u202eluba K htiw tcap sknI wocsoM\u202c https://\u202eelgoog.com",
    "combining-zalgo": "".join(c + "\u0300\u0301\u0302\u0336\u0489" * 8 for c in "Moscow Kabul pact"),
    "homoglyphs": "Mоsсоw inks dеfеnsе pасt with Каbul",  # Cyrillic о, с, е, а, К
    "nul-bytes": "Moscow\x00Kabul\x00pact\x00" * 10,
    "lone-surrogates": "Moscow \ud800 Kabul \udfff pact \ud83d",
    "mentions": "@everyone @here <@123> <@!123> <@&456> <#789> Moscow Kabul pact",
    "masked-link": "[BBC](https://evil.example/phish) Moscow Kabul pact discord.gg/abc",
    "controls": "".join(chr(i) for i in range(32)) + "\x7f\x85\u2028\u2029",
    "only-punctuation": "!?.,;:'\"()[]{}<>@#$%^&*-_=+|\\/~`" * 20,
    "long-word": "a" * 10_000,
    "long-url": "https://example.com/" + "a-" * 5_000,
    "paste-100k": "Moscow inks defense pact with Kabul. " * 2_700,
}

#: 1 MB inputs, each aimed at a kind of regex or loop: long runs of one class, alternations that almost match,
#: quotes that never close, name-like capitals, URL and domain prefixes.
ADVERSARIAL: dict[str, str] = {
    k: (u * (MB // len(u) + 1))[:MB]
    for k, u in {
        "a": "a", "spaces": " ", "at": "@", "www": "www.", "hash-a": "#a", "a-hyphen": "a-", "a-apostrophe": "a'",
        "refs": "[1]", "quotes": '"', "curly-open": "“ ", "digits": "1", "digit-comma": "1,", "digit-dot": "1.",
        "dates": "May 31, 2026 ", "caps": "A", "cap-words": "Mr Smith ", "titled-names": "President John Smith, ",
        "zalgo": "a" + "\u0301" * 50, "rtl": "\u202e", "zero-width": "a\u200b", "nul": "\x00a", "surrogates": "a\ud800",
        "dot-space": ". ", "newlines": "\n", "lt-at": "<@", "masked": "[x](", "stars": "*", "dashes": "-",
        "said": "said ", "according": "according to ", "km": "5 km ", "urls": "https://a.b/", "invites": "discord.gg/",
        "mentions": "<@1>", "ellipsis": "…", "open-paren": "(a ",
        "mixed": 'On 31 May 2026, President Vladimir Putin said in Moscow that "5,000 troops" were deployed. ',
    }.items()
}  # fmt: skip


def _article(text: str):
    from bot.models import Article

    # model_construct: bypasses the 200,000-character model limit so 1 MB reaches the analysers.
    return Article.model_construct(id="x", story="s", outlet="o", title="t", text=text, url=None, published=None,
                                   author=None, language="en", role="report", guild_id=None)


def _story():
    from bot.models import Entity, Story

    return Story(id="s", title="Russia and Afghanistan sign a military pact",
                 entities=[Entity(id="ru", name="Russia", aliases=["Moscow"]), Entity(id="af", name="Afghanistan")])


def _load(text: str) -> Any:
    """The importers on a hostile string, as a file's bytes and inside a corpus record; only ImportFileError."""
    from bot.importers import ImportFileError, load_bytes

    for data in (
        text.encode("utf-8", "surrogatepass"),
        json.dumps({"format": "crosscheck-corpus", "stories": [{"id": "s", "title": text}],
                    "claims": [{"id": "c", "story": "s", "text": text}]}).encode(),
        json.dumps([{"@type": "ClaimReview", "claimReviewed": text, "url": "https://" + text[:3000],
                     "author": {"name": text[:500], "url": text[:500]}, "datePublished": text[:40]}]).encode(),
    ):
        try:
            load_bytes(data)
        except ImportFileError:
            pass


def functions() -> dict[str, tuple[str, Callable[[str], Any]]]:
    """name -> (group, function of one str).  Groups: text, urls, render, signals, extract, versions, importers."""
    from bot import extract, importers, render, text, urls  # noqa: F401

    out: dict[str, tuple[str, Callable[[str], Any]]] = {
        "text.clean_text": ("text", text.clean_text),
        "text.normalize": ("text", text.normalize),
        "text.words": ("text", text.words),
        "text.content_terms": ("text", text.content_terms),
        "urls.find_urls": ("urls", urls.find_urls),
        "urls.strip_urls": ("urls", urls.strip_urls),
        "urls.canonicalize_url": ("urls", urls.canonicalize_url),
        "urls.canonicalize_url(http://+s)": ("urls", lambda s: urls.canonicalize_url("http://" + s)),
        "urls.normalize_domain": ("urls", urls.normalize_domain),
        "urls.slug_words": ("urls", lambda s: urls.slug_words("https://example.com/" + s)),
        "render.inert": ("render", render.inert),
        "render.inert(markdown=False)": ("render", lambda s: render.inert(s, markdown=False)),
        "importers.load_bytes": ("importers", _load),
    }
    try:
        from bot.signals import article_signals

        out["signals.article_signals"] = ("signals", lambda s: article_signals(_article(s)))
    except ImportError:  # pragma: no cover - module not landed
        pass
    for name in getattr(extract, "__all__", []):
        if name.startswith("extract_") or name == "split_sentences":
            out[f"extract.{name}"] = ("extract", getattr(extract, name))
    try:
        from bot import versions

        story = _story()
        out["versions.extract_facts"] = ("versions", lambda s: versions.extract_facts(story, _article(s)))
        out["versions.classify_role"] = ("versions", lambda s: versions.classify_role(story, _article(s)))
    except ImportError:  # pragma: no cover
        pass
    return out


#: What the suite runs at 1 MB in subprocesses (each group's worst input in the full table, including the inputs
#: that once were quadratic; the full table is `python -m tests.reliability.hostile`).  The extractors of people and roles are left out: they are
#: quadratic on name-like input (see tests/reliability/test_hostile_input.py, xfail).
SUITE: dict[str, tuple[list[str], list[str]]] = {
    "text": (["text.words"], ["hash-a"]),
    "urls": (["urls.canonicalize_url", "urls.normalize_domain", "urls.slug_words"], ["www"]),
    "importers": (["importers.load_bytes"], ["surrogates"]),
    "render": (["render.inert"], ["stars"]),
    "analysis": (["signals.article_signals"], ["dot-space"]),
}
#: The subprocesses the suite starts (in parallel), each running these groups.
SUITE_PROCESSES = [["text", "urls", "importers"], ["render", "analysis"]]


def run(names: list[str], inputs: list[str]) -> dict[str, float]:
    fns = functions()
    out = {}
    for n in names:
        if n not in fns:
            continue
        fn = fns[n][1]
        for k in inputs:
            t = time.perf_counter()
            fn(ADVERSARIAL[k])
            out[f"{n} / {k}"] = round(time.perf_counter() - t, 3)
    return out


def main(argv: list[str]) -> int:
    if argv:
        timings: dict[str, float] = {}
        for group in argv:
            names, inputs = SUITE[group]
            timings.update(run(names, inputs))
        print(json.dumps(timings))
        return 0
    fns = functions()
    print(f"{'function':40} {'worst 1 MB input':18} {'seconds':>8}")
    for name, (_group, fn) in fns.items():
        if name in ("extract.extract_people", "extract.extract_roles", "versions.extract_facts"):
            worst = ("(quadratic: see docs)", float("nan"))
        else:
            worst = ("", 0.0)
            for k, s in ADVERSARIAL.items():
                t = time.perf_counter()
                fn(s)
                dt = time.perf_counter() - t
                if dt > worst[1]:
                    worst = (k, dt)
        print(f"{name:40} {worst[0]:18} {worst[1]:8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
