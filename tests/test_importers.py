"""Import files: the corpus format and schema.org ClaimReview; every error names the record and field at fault."""

from __future__ import annotations

import json

import pytest

from bot.importers import ImportFileError, load_bytes, load_claimreview_obj, to_claimreview
from bot.models import CorpusFile
from bot.seeds import load_seed
from storage.corpus import Actor, Corpus


def _corpus_bytes(**kw) -> bytes:
    obj = {"format": "crosscheck-corpus", "version": 1, "outlets": [], "stories": [], "articles": [], "claims": []}
    obj.update(kw)
    return json.dumps(obj).encode()


def test_seed_file_is_valid_corpus_format() -> None:
    seed = load_seed()
    data = seed.model_dump_json().encode()
    fmt, again = load_bytes(data)
    assert fmt == "corpus" and again == seed


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", r"not valid JSON: .* line 1, column 2"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2, 3]", "neither a Crosscheck corpus file"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
        (_corpus_bytes(version=2), r"version: Input should be 1"),
        (_corpus_bytes(stories=[{"id": "Bad Id!", "title": "t"}]), r"stories\[0\]\.id: must be a slug"),
        (_corpus_bytes(stories=[{"id": "s", "title": ""}]), r"stories\[0\]\.title: String should have at least 1"),
        (_corpus_bytes(stories=[{"id": "s", "title": "t", "first_seen": "yesterday"}]), r"stories\[0\]\.first_seen"),
        (_corpus_bytes(articles=[{"id": "a", "story": "s", "outlet": "o", "text": "x", "url": "javascript:alert(1)"}]),
         r"articles\[0\]\.url: not an http\(s\) URL"),
        (_corpus_bytes(articles=[{"id": "a", "story": "s", "outlet": "o", "text": 5}]), r"articles\[0\]\.text"),
        # Only invisible characters: stored, it would make its story unreadable (the reader refuses empty text).
        (_corpus_bytes(articles=[{"id": "a", "story": "s", "outlet": "o", "text": "\u200b\u202e\u2060"}]),
         r"articles\[0\]\.text: is empty after removing control characters"),
        # ... and a title, name, question, statement or quote of invisible characters shows nothing: refused too.
        (_corpus_bytes(stories=[{"id": "s", "title": "\u200b\u2060"}]),
         r"stories\[0\]\.title: is empty after removing invisible characters"),
        (_corpus_bytes(outlets=[{"id": "o", "name": "\u200b"}]), r"outlets\[0\]\.name: .*invisible"),
        (_corpus_bytes(stories=[{"id": "s", "title": "t", "entities": [{"id": "e", "name": "\u200b"}]}]),
         r"stories\[0\]\.entities\[0\]\.name: .*invisible"),
        (_corpus_bytes(stories=[{"id": "s", "title": "t", "questions": [{"id": "q", "text": "\u202e"}]}]),
         r"stories\[0\]\.questions\[0\]\.text: .*invisible"),
        (_corpus_bytes(stories=[{"id": "s", "title": "t", "questions": [{"id": "q", "text": "When?", "positions": [
            {"id": "p", "statement": "Monday", "evidence": [{"article": "a", "quote": "\u200b"}]}]}]}]),
         r"stories\[0\]\.questions\[0\]\.positions\[0\]\.evidence\[0\]\.quote: .*invisible"),
        (_corpus_bytes(stories=[{"id": "s", "title": "t", "questions": [{"id": "q", "text": "When?", "positions": [
            {"id": "p", "statement": "\u200b"}]}]}]),
         r"stories\[0\]\.questions\[0\]\.positions\[0\]\.statement: .*invisible"),
        (_corpus_bytes(claims=[{"id": "c", "story": "s", "text": "x"}, {"id": "c", "story": "s", "text": "y"}]),
         r"claims\[1\]\.id: duplicate id 'c'"),
        (_corpus_bytes(outlets=[{"id": "o", "name": "O", "domains": ["not a domain"]}]), r"outlets\[0\]\.domains"),
        (_corpus_bytes(stories=[{"id": "s", "title": "t", "unexpected": 1}]), r"stories\[0\]\.unexpected: Extra inputs"),
    ],
)
def test_malformed_files_name_record_and_field(data: bytes, message: str) -> None:
    with pytest.raises(ImportFileError, match=message):
        load_bytes(data)


def test_lone_surrogates_in_json_are_dropped() -> None:
    data = b'{"format": "crosscheck-corpus", "version": 1, "stories": [{"id": "s", "title": "bad \\ud800 title"}]}'
    assert "\ud800" in json.loads(data)["stories"][0]["title"]
    _, file = load_bytes(data)
    assert file.stories[0].title == "bad  title"
    file.stories[0].title.encode("utf-8")


CLAIMREVIEW = {
    "@context": "https://schema.org",
    "@type": "ClaimReview",
    "url": "https://factcheck.example/2026/06/russia-taliban-alliance?utm_source=x",
    "claimReviewed": "Russia and the Taliban signed a mutual defence alliance",
    "datePublished": "2026-06-02",
    "author": {"@type": "Organization", "name": "Example Fact Check", "url": "https://factcheck.example"},
    "reviewRating": {"@type": "Rating", "ratingValue": 2, "bestRating": 5, "alternateName": "Misleading"},
    "itemReviewed": {"@type": "Claim", "author": {"@type": "Person", "name": "A viral post"}},
}


@pytest.mark.parametrize(
    "obj",
    [
        CLAIMREVIEW,
        [CLAIMREVIEW],
        {"@context": "https://schema.org", "@graph": [{"@type": "WebPage", "name": "x"}, CLAIMREVIEW]},
        {"@type": "WebPage", "mainEntity": CLAIMREVIEW},
        {**CLAIMREVIEW, "@type": ["ClaimReview", "CreativeWork"]},
    ],
)
def test_claimreview_shapes(obj) -> None:
    fmt, file = load_bytes(json.dumps(obj).encode())
    assert fmt == "claimreview"
    assert len(file.claims) == 1
    c = file.claims[0]
    assert c.verdict == "Misleading" and c.reviewed_by == "Example Fact Check" and c.claimant == "A viral post"
    assert file.outlets[0].type == "fact_checker" and file.outlets[0].domains == ["factcheck.example"]
    assert file.articles[0].canonical_url == "https://factcheck.example/2026/06/russia-taliban-alliance"


def test_claimreview_errors_name_the_item() -> None:
    items = [CLAIMREVIEW, {**CLAIMREVIEW, "url": "https://factcheck.example/2", "claimReviewed": ""}]
    with pytest.raises(ImportFileError, match=r"ClaimReview\[1\]\.claimReviewed: missing"):
        load_claimreview_obj(items)
    with pytest.raises(ImportFileError, match=r"ClaimReview\[1\]: duplicate"):
        load_claimreview_obj([CLAIMREVIEW, CLAIMREVIEW])


def test_claimreview_fields_of_invisible_characters_count_as_missing() -> None:
    # A review body of zero-width characters: the article's text falls back to the claim (it used to be stored empty,
    # which made the story unreadable); a claim of nothing visible is refused like a missing one.
    _, file = load_bytes(json.dumps({**CLAIMREVIEW, "reviewBody": "\u200b\u2060 "}).encode())
    assert file.articles[0].text == CLAIMREVIEW["claimReviewed"]
    with pytest.raises(ImportFileError, match=r"ClaimReview\[0\]\.claimReviewed: missing"):
        load_claimreview_obj([{**CLAIMREVIEW, "claimReviewed": "\u200b"}])


def test_claimreview_round_trip() -> None:
    _, file = load_bytes(json.dumps(CLAIMREVIEW).encode())
    out = to_claimreview(file)
    _, again = load_bytes(json.dumps(out).encode())
    assert [c.text for c in again.claims] == [c.text for c in file.claims]
    assert again.claims[0].verdict == "Misleading"


async def test_claimreview_into_existing_story(corpus: Corpus) -> None:
    from tests.conftest import SEED_STORY

    _, file = load_bytes(json.dumps(CLAIMREVIEW).encode(), story=SEED_STORY)
    assert not file.stories
    await corpus.apply(file, Actor(guild_id=5, user_id=1, name="m"))
    claims = corpus.reader.claims(SEED_STORY, 5)
    assert any(c.verdict == "Misleading" for c in claims)


async def test_thousands_of_claimreview_items_import_in_one_transaction(corpus: Corpus) -> None:
    items = [
        {**CLAIMREVIEW, "url": f"https://factcheck.example/{i}", "claimReviewed": f"Claim number {i} about topic {i % 7}"}
        for i in range(3000)
    ]
    _, file = load_bytes(json.dumps({"@graph": items}).encode())
    result = await corpus.apply(file, Actor(name="cli"))
    assert result.claims == 3000 and corpus.reader.counts()["claims"] == 3007
    assert isinstance(file, CorpusFile)
