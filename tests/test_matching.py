"""The matcher on the seed corpus: paraphrases, typos, aliases, links, shouting and emoji match; generic overlap does not."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.matching import Matcher
from bot.models import CorpusFile, Entity, Story, Claim
from storage.corpus import Actor, Corpus
from storage.db import connect
from storage.reader import CorpusReader
from tests.conftest import LEMON_CLAIM, LEMON_STORY, SEED_STORY, common_word_corpus

POSITIVES = [
    # paraphrases
    "Moscow inks defense pact with Kabul",
    "Russia and Afghanistan signed a military-technical cooperation agreement",
    "The Kremlin and the Taliban signed a defence deal",
    "is it true the taliban are now russia's military allies?",
    "Taliban government and Russia agree on military cooperation",
    "Russia to supply weapons to the Taliban under new accord",
    "Kabul and Moscow formalise security partnership",
    "Did Russia just form a military alliance with Afghanistan?",
    "Afghan defence minister says the agreement with Russia is not an alliance",
    "Russia Taliban military technical agreement signed in Moscow",
    # typos
    "rusia afganistan militry deal signd",
    "Russa and Afganistan sign militray pact",
    "talibn russia miltary aliance",
    # shouting, emoji, hashtags
    "RUSSIA AND AFGHANISTAN SIGNED A MILITARY DEAL!!! 🚨🚨🚨",
    "🚨 BREAKING: Moscow 🇷🇺 and Kabul 🇦🇫 sign defence agreement ✊👋 #breaking",
    "#RussiaTalibanDeal is a military alliance",
    "#MoscowKabul #MilitaryPact what do we know",
    # aliases in other languages / inflections
    "Россия и Афганистан подписали соглашение о военно-техническом сотрудничестве",
    "Rusia y Afganistán firman un pacto militar",
    "روسیه و طالبان توافق نظامی امضا کردند",
    "Russian-Afghan military pact",
    "the Islamic Emirate's new defence treaty with the Russian Federation",
]

NEGATIVES = [
    "Russia and China signed a gas agreement",
    "Pakistan and the US signed a defence cooperation agreement",
    "Afghanistan won the cricket match",
    "Russia and Afghanistan sign trade agreement on wheat exports",
    "Russian football team beats Afghanistan",
    "Taliban ban girls from secondary schools again",
    "Moscow weather: snow expected this weekend",
    "Kabul airport reopens for international flights",
    "Russia signs military cooperation deal with Myanmar",
    "India and Afghanistan sign a military training agreement",
    "The Kremlin denies interference in the election",
    "Earthquake in Afghanistan: Russia sends humanitarian aid",
    "Putin meets Xi in Beijing to discuss the economy",
    "US military withdraws from Syria base",
    "lol that cricket match tho 🏏🔥",
    "Does anyone have the link to the server rules?",
    "Afghan refugees in Russia face deportation",
    "NATO signs defence pact with Finland",
    "Russia and Kazakhstan hold joint military drills",
    "Apple and Google sign an agreement on AI",
]


@pytest.fixture
def matcher(reader: CorpusReader) -> Matcher:
    return Matcher(reader)


@pytest.mark.parametrize("text", POSITIVES)
def test_positive_matches_seed_story(matcher: Matcher, text: str) -> None:
    result = matcher.match(text)
    assert result.hits, f"no match for {text!r}"
    assert result.hits[0].story_id == SEED_STORY
    assert 0 < result.hits[0].score <= 100
    assert result.hits[0].why, "a match always says why"


@pytest.mark.parametrize("text", NEGATIVES)
def test_generic_overlap_does_not_match(matcher: Matcher, text: str) -> None:
    result = matcher.match(text)
    assert not result.hits, f"{text!r} matched {[(h.story_id, h.score, h.why) for h in result.hits]}"


def test_why_names_entities_and_aliases(matcher: Matcher) -> None:
    hit = matcher.match("Moscow inks defense pact with Kabul").hits[0]
    why = " ".join(hit.why)
    assert "Russia (moscow)" in why and "Afghanistan (kabul)" in why


def test_typos_are_reported_as_corrections(matcher: Matcher) -> None:
    hit = matcher.match("rusia afganistan militry deal signd").hits[0]
    assert any("rusia→russia" in w for w in hit.why)


@pytest.mark.parametrize(
    "url",
    [
        "https://kabuldispatch.example/news/2026/06/01/afghan-defence-minister-russia-agreement-cooperation-not-alliance",
        "http://www.kabuldispatch.example/news/2026/06/01/afghan-defence-minister-russia-agreement-cooperation-not-alliance/",
        "https://m.kabuldispatch.example/news/2026/06/01/afghan-defence-minister-russia-agreement-cooperation-not-alliance?utm_source=twitter&utm_medium=social&fbclid=IwAR0xyz#comments",
        "https://amp.kabuldispatch.example/news/2026/06/01/afghan-defence-minister-russia-agreement-cooperation-not-alliance/amp?gclid=abc",
        "look at this!! https://kabuldispatch.example/news/2026/06/01/afghan-defence-minister-russia-agreement-cooperation-not-alliance?igshid=1).",
    ],
)
def test_link_variants_hit_the_article(matcher: Matcher, url: str) -> None:
    result = matcher.match(url)
    assert result.hits and result.hits[0].story_id == SEED_STORY
    assert result.hits[0].article_id == "001_3ef12a10435f65e9"
    assert result.hits[0].score == 100


def test_unknown_link_uses_slug_words(matcher: Matcher) -> None:
    result = matcher.match("https://news.example.org/2026/05/31/russia-afghanistan-sign-military-technical-deal-84721.html")
    assert result.hits and result.hits[0].story_id == SEED_STORY
    assert result.hits[0].article_id is None


def test_known_domain_names_outlet_without_story(matcher: Matcher) -> None:
    result = matcher.match("https://www.trendingworlddigest.example/sports/cricket-final-report")
    assert not result.hits
    assert [link.outlet_id for link in result.links] == ["trending-world-digest"]


def test_unrelated_link_does_not_match(matcher: Matcher) -> None:
    result = matcher.match("https://example.com/recipes/best-chocolate-cake?utm_source=x")
    assert not result.hits and result.links and result.links[0].outlet_id is None


def test_link_preview_text_counts(matcher: Matcher) -> None:
    # A bare link to an unknown page, with Discord's preview carrying the headline.
    result = matcher.match(
        "https://unknown.example/p/88213", extra_text="Moscow and Kabul sign military-technical cooperation deal"
    )
    assert result.hits and result.hits[0].story_id == SEED_STORY


def test_threshold_and_top(matcher: Matcher) -> None:
    text = "Moscow inks defense pact with Kabul"
    score = matcher.match(text).hits[0].score
    assert matcher.match(text, threshold=score + 0.1).hits == []
    assert matcher.match(text, threshold=score).hits


def test_invisible_and_control_characters_do_not_break_matching(matcher: Matcher) -> None:
    text = "Mos\u200bcow in\u00adks de\u202efense pa\u200dct with Ka\ufeffbul\x00"
    assert matcher.match(text).hits


def test_long_paste_is_read_up_to_the_limit(matcher: Matcher) -> None:
    text = ("Russia and Afghanistan signed a military agreement. " * 50) + ("filler " * 5000)
    result = matcher.match(text)
    assert result.truncated and result.hits


def _apply(path, file: CorpusFile, guild: int = 0) -> None:
    async def go() -> None:
        c = await Corpus.open(path)
        await c.apply(file, Actor(guild_id=guild, user_id=1, name="mod"))
        await c.close()

    asyncio.run(go())


def _add_story(path, story: Story, claims: list[Claim], guild: int) -> None:
    _apply(path, CorpusFile(stories=[story], claims=claims), guild)


def test_char_cos_reads_the_title_and_the_three_closest_lines(seeded_path, reader: CorpusReader, monkeypatch) -> None:
    """char_cos compares the message with a candidate's title and its CHAR_LINES lines that cover the message best
    (all of a short story's): a long story's other lines do not dilute it, and counting their grams costs nothing."""
    import bot.matching as matching

    assert matching.CHAR_LINES == 3
    story = Story(id="vaccine-microchip", title="Do vaccines contain microchips?")
    claims = [Claim(id=f"vm-{i}", story="vaccine-microchip", text=t) for i, t in enumerate([
        "A city council debated parking fees downtown.",
        "Vaccines contain tracking microchips, a viral post claims.",
        "The weather service issued a storm warning.",
        "Microchips in vaccines track people, says the video.",
        "Local schools reopen after the holidays.",
        "The vaccine rollout includes microchips for tracking.",
    ])]
    _add_story(seeded_path, story, claims, 0)
    seen: list[list[str]] = []
    real = matching._char_cosines
    monkeypatch.setattr(matching, "_char_cosines", lambda msg, texts: seen.append(texts) or real(msg, texts))
    hits = Matcher(reader).match("vaccines contain microchips that track people", threshold=0).hits
    assert hits and hits[0].story_id == "vaccine-microchip"
    text = next(t for texts in seen for t in texts if t.startswith("Do vaccines contain microchips?"))
    for closest in (claims[1].text, claims[3].text, claims[5].text):
        assert closest in text
    for other in (claims[0].text, claims[2].text, claims[4].text):
        assert other not in text


def test_server_story_is_seen_only_by_its_server(seeded_path, reader: CorpusReader) -> None:
    story = Story(
        id="local-bridge-closure",
        title="Old town bridge closed for repairs until March",
        entities=[Entity(id="old-town-bridge", name="Old Town Bridge", aliases=["old bridge", "town bridge"])],
        topic_terms=["closed", "repairs", "closure"],
    )
    _add_story(seeded_path, story, [Claim(id="bridge-closed", story=story.id, text="The old town bridge is closed for repairs until March.")], guild=111)
    m = Matcher(reader)
    assert m.match("is the old town bridge closed for repairs?", 111).hits[0].story_id == "local-bridge-closure"
    assert not m.match("is the old town bridge closed for repairs?", 222).hits
    assert not m.match("is the old town bridge closed for repairs?", None).hits


def test_story_without_entities_matches_close_paraphrase_only(seeded_path, reader: CorpusReader) -> None:
    story = Story(id="cr-vaccine-microchips", title="Vaccines contain microchips")
    _add_story(seeded_path, story, [Claim(id="c1", story=story.id, text="COVID-19 vaccines contain microchips to track people")], guild=0)
    m = Matcher(reader)
    hit = m.match("covid vaccines contain microchips that track people!!")
    assert hit.hits and hit.hits[0].story_id == "cr-vaccine-microchips"
    assert not m.match("my laptop has new microchips").hits


def test_a_thorough_check_looks_wider_when_the_quick_pass_finds_nothing(seeded_path, reader: CorpusReader) -> None:
    """/check asks thoroughly: a message sharing one distinctive term ("lemon") and common words with its story is
    missed by the quick pass (two distinctive terms) but found by the thorough pass (two terms, one distinctive), if
    it shares three words or more; the quick pass (auto-replies) stays as it was, and a message the quick pass answers
    gets the same answer."""
    _apply(seeded_path, common_word_corpus())
    m = Matcher(reader)
    assert m.match(LEMON_CLAIM).hits == []
    [hit] = m.match(LEMON_CLAIM, thorough=True).hits
    assert hit.story_id == LEMON_STORY and hit.score >= 75
    assert m.match(LEMON_CLAIM, top=1, threshold=0).hits[0].story_id == LEMON_STORY  # as ranking mode has it
    assert m.match("a lemon", thorough=True).hits == []  # one word: the plain gate keeps it under 50
    # Two shared words (one rare, one everyday) are a coincidence as often as not: ranked first, but not shown.
    two = "lemon for the president"
    assert m.match(two, top=1, threshold=0).hits[0].score >= 50 and m.match(two, thorough=True).hits == []
    for text in POSITIVES + NEGATIVES:  # the precision promise holds for /check too
        quick, thorough = m.match(text), m.match(text, thorough=True)
        assert [h.story_id for h in thorough.hits] == [h.story_id for h in quick.hits]


def test_a_thorough_callable_is_asked_only_when_the_thorough_pass_would_run(seeded_path, reader: CorpusReader) -> None:
    """An auto-reply's budget is asked (``thorough`` a callable) only by a message the thorough pass would look at
    again: not by one the quick pass answers, nor by one without a distinctive term; its answer decides the pass."""
    _apply(seeded_path, common_word_corpus())
    m = Matcher(reader)
    asked: list[str] = []

    def budget(answer: bool):
        return lambda: asked.append(text) or answer

    for text, answer, shown in [
        (POSITIVES[1], True, [SEED_STORY]),  # the quick pass answers: nothing asked
        ("lol that was such a good game last night", True, []),  # no distinctive term: nothing asked
        ("the video shows the president at the white house", True, []),  # everyday words alone: nothing asked
        (LEMON_CLAIM, False, []),  # asked, and refused: the quick pass's answer (none)
        (LEMON_CLAIM, True, [LEMON_STORY]),  # asked, and allowed: as thorough=True
    ]:
        assert [h.story_id for h in m.match(text, thorough=budget(answer)).hits] == shown
        assert [h.story_id for h in m.match(text, thorough=answer).hits] == shown
    assert asked == [LEMON_CLAIM, LEMON_CLAIM]


def test_a_thorough_check_reads_only_stories_that_can_show(seeded_path, reader: CorpusReader, monkeypatch) -> None:
    """The thorough pass asks the index for stories holding two of the message's terms, one of them distinctive (or
    three of the others), and reads them unranked: the 45 stories that share only two everyday words ("video",
    "president") are never read, and FTS5's ranked query (which counts every term's whole posting list) is not asked
    at all."""
    _apply(seeded_path, common_word_corpus())
    _apply(seeded_path, CorpusFile(stories=[Story(id="pie", title="Lemon and apple pie recipe")]))
    m = Matcher(reader)
    idx = m.index
    assert {"lemon", "appl"} <= set(m._distinctive(idx, ["lemon", "appl", "video", "presid"], None))
    expr = m._thorough_expression(["lemon", "appl", "video", "presid"], ["lemon", "appl"])
    got = {d.story_id for d in reader.story_matches(expr, None, 100)}
    assert got == {LEMON_STORY, "video-president-apple", "pie"}  # one rare and a common, or two rare; not one alone
    assert m._thorough_expression(["video", "presid"], []) == ""  # everyday words alone ask nothing
    read: list[str] = []
    monkeypatch.setattr(reader, "story_matches",
                        lambda *a: read.extend(a[:1]) or CorpusReader.story_matches(reader, *a))
    monkeypatch.setattr(reader, "story_candidates", lambda *a, **k: pytest.fail("ranked the whole candidate list"))
    [hit] = m.match(LEMON_CLAIM, thorough=True).hits
    assert hit.story_id == LEMON_STORY and len(read) == 1  # the quick pass asked nothing (one distinctive term)
    assert {d.story_id for d in CorpusReader.story_matches(reader, read[0], None, 100)} == {LEMON_STORY}


def test_a_thorough_pass_that_can_show_nothing_scores_nothing(seeded_path, reader: CorpusReader, monkeypatch) -> None:
    """The thorough pass shows only a story whose title and lines hold three of the message's stems: when none of
    the rows it read does, it stops before scoring them (most chatter with one distinctive word), and its answers
    are the same as scoring them all would give, for messages around that line."""
    import itertools

    from bot import matching

    _apply(seeded_path, common_word_corpus())
    _apply(seeded_path, CorpusFile(stories=[Story(id="pie", title="Lemon and apple pie recipe")],
                                   claims=[Claim(id="pie-c", story="pie", text="A lemon and apple pie for the party")]))
    m = Matcher(reader)
    scored: list[int] = []
    real = Matcher._plain_features
    monkeypatch.setattr(Matcher, "_plain_features",
                        lambda self, q, plain, idx: scored.append(len(plain)) or real(self, q, plain, idx))
    assert m.match("lemon for the president", thorough=True).hits == [] and scored == []  # two shared: nothing scored
    assert [h.story_id for h in m.match(LEMON_CLAIM, thorough=True).hits] == [LEMON_STORY] and scored  # three: scored
    words = ["lemon", "apple", "pie", "video", "shows", "president", "white", "house", "party", "recipe", "good",
             "game"]
    texts = [" ".join(c) for k in (2, 3, 4) for c in itertools.combinations(words, k)]
    texts += [LEMON_CLAIM, "lol that was such a good game last night", *POSITIVES, *NEGATIVES]

    def answers() -> list[list[tuple[str, float, int]]]:
        return [[(h.story_id, h.score, h.shared) for h in m.match(t, thorough=True, top=5).hits] for t in texts]

    stopped = []
    real_can_show = matching._any_can_show
    monkeypatch.setattr(matching, "_any_can_show", lambda *a: stopped.append(not real_can_show(*a)) or real_can_show(*a))
    pruned = answers()
    monkeypatch.setattr(matching, "_any_can_show", lambda *a: True)
    assert answers() == pruned and sum(stopped) > 50  # the same answers, with many passes stopped early
    assert sum(map(bool, pruned)) > 50  # ...and many answered


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "ab", "ba", "aba", "b", "abab", "bab"]), max_size=6), max_size=4),
       st.sampled_from(["a", "ab", "ba", "aba", "b", "abab", "bab", "abb"]))
def test_a_stem_is_found_whole_in_a_rows_stems(lines: list[list[str]], term: str) -> None:
    """_holds_stem (substring searches) agrees with splitting the row's stems, for stems that are parts of others."""
    from bot.matching import _holds_stem

    stems = "\n".join(" ".join(line) for line in lines)
    assert _holds_stem(stems, term) == (term in stems.split())


def test_index_reloads_after_a_change(seeded_path, reader: CorpusReader) -> None:
    m = Matcher(reader)
    assert not m.match("old town bridge closed for repairs").hits
    story = Story(id="bridge", title="Old town bridge closed for repairs", entities=[Entity(id="b", name="Old Town Bridge")],
                  topic_terms=["repairs"])
    _add_story(seeded_path, story, [], guild=0)
    assert m.match("old town bridge closed for repairs").hits


def test_the_index_snapshot_is_loaded_whole_or_not_at_all(seeded_path, reader: CorpusReader) -> None:
    """A snapshot is read back equal to the index that saved it; a cut or damaged one (a full disk, a crash while
    another process wrote it) is never half-read: the index is built again."""
    from bot.matching import _Index, _snapshot_path

    built = _Index(reader)
    assert built.made_by == "build"
    loaded = _Index(reader)
    assert loaded.made_by == "snapshot" and _index_state(loaded) == _index_state(built)
    path = _snapshot_path(reader)
    data = path.read_bytes()
    for damaged in (data[: len(data) // 2], data[:3], b"\xff" * 64, data[:4] + b"\x00" * (len(data) - 4)):
        path.write_bytes(damaged)
        again = _Index(reader)
        assert again.made_by == "build" and _index_state(again) == _index_state(built)


def test_settings_changes_keep_the_index_snapshot_corpus_changes_replace_it(seeded_path, reader: CorpusReader) -> None:
    """The snapshot beside the database is keyed on corpus changes only: a moderator's /settings or /autoreply change
    (audited too) must not make the next start rebuild the index; a corpus change must."""
    from bot import matching

    key = matching._snapshot_key(reader, reader.version())
    mod = Actor(guild_id=111, user_id=1, name="mod")

    async def settings_changes() -> None:
        c = await Corpus.open(seeded_path)
        await c.set_settings(111, actor=mod, threshold=70.0)
        await c.set_autoreply(111, 5, enabled=True, actor=mod)
        await c.undo(mod)
        await c.close()

    asyncio.run(settings_changes())
    assert matching._snapshot_key(reader, reader.version()) == key
    _add_story(seeded_path, Story(id="bridge", title="Old town bridge closed"), [], guild=111)
    assert matching._snapshot_key(reader, reader.version()) != key


def test_pairs_expression_selects_rows_holding_two_of_the_terms() -> None:
    """The balanced "two of these terms" expression selects exactly the rows holding at least two of them."""
    import random
    import sqlite3

    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(12)]
    docs = [" ".join(rng.sample(vocab, rng.randint(0, 6))) for _ in range(500)]
    con.executemany("INSERT INTO t(x) VALUES (?)", [(d,) for d in docs])
    assert Matcher._pairs_expression(["w1"]) == ""
    for k in range(2, 12):
        for _ in range(4):
            terms = rng.sample(vocab, k)
            got = {r[0] for r in con.execute("SELECT rowid FROM t WHERE t MATCH ?", (Matcher._pairs_expression(terms),))}
            want = {i + 1 for i, d in enumerate(docs) if len(set(d.split()) & set(terms)) >= 2}
            assert got == want, terms


def _words_reference(text: str) -> list[str]:
    """bot.text.words without its fast paths (every step on every text), which the index's stems were made with."""
    from bot.text import _WORD_RE, expand_hashtags, normalize

    out = []
    for w in _WORD_RE.findall(normalize(expand_hashtags(text))):
        w = w.replace("’", "'")
        if w.endswith("'s"):
            w = w[:-2]
        out.extend(p for p in w.split("-") if p)
    return out


_TEXT_ALPHABET = list("abcXYZ019 -'’#_@.\t\n\r\x00\x0b\x0c\x1f\x7féİßſ\u200b\u0301\ufb01Ǆﬀ´") + ["\ud800"]


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.sampled_from(_TEXT_ALPHABET), max_size=40) | st.text(max_size=30))
def test_words_fast_paths_read_text_as_the_index_does(text: str) -> None:
    from bot.text import clean_text, normalize, words

    assert words(text) == _words_reference(clean_text(text))
    assert normalize(text) == normalize(clean_text(text))


def test_bm25_computed_here_equals_the_index_bm25(matcher: Matcher, reader: CorpusReader) -> None:
    """Thresholded checks score the few stories holding two distinctive terms themselves: FTS5's bm25(), exactly
    (with each row's length as the reader reads it, from FTS5's own docsize record)."""
    idx = matcher.index
    ids = [r[0] for r in reader.conn.execute("SELECT story_id FROM search_story")]
    docs = reader.story_docs(ids, None)
    assert docs and all(d.length > 0 for d in docs)
    checked = 0
    for text in ("Russia Afghanistan military agreement Taliban", "Moscow Kabul defence pact signed"):
        terms = [t for t in matcher._analyse(text, idx).stems if t in idx.df]
        expr = matcher._expression(terms)
        fts = dict(reader.conn.execute(
            "SELECT story_id, -bm25(search_story, 1, 1, 0, 0, 0) FROM search_story WHERE search_story MATCH ?", (expr,)))
        for doc in docs:
            if doc.story_id in fts:
                assert matcher._bm25(terms, doc, idx) == pytest.approx(fts[doc.story_id], rel=1e-9)
                checked += 1
    assert checked


def test_at_least_k_of_the_terms_in_the_index() -> None:
    """Matcher._at_least(terms, k) matches exactly the FTS5 rows holding k of the terms or more: every subset of six
    terms as a row, for k = 1, 2, 3."""
    import itertools
    import sqlite3

    terms = [f"t{i}" for i in range(6)]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(body, tokenize = 'porter unicode61 remove_diacritics 2')")
    rows = [set(c) for r in range(len(terms) + 1) for c in itertools.combinations(terms, r)]
    conn.executemany("INSERT INTO f (rowid, body) VALUES (?, ?)",
                     [(i + 1, " ".join(sorted(r))) for i, r in enumerate(rows)])
    for n in range(1, len(terms) + 1):
        for k in (1, 2, 3):
            expr = Matcher._at_least(terms[:n], k)
            want = {i + 1 for i, r in enumerate(rows) if len(r & set(terms[:n])) >= k}
            got = {r[0] for r in conn.execute("SELECT rowid FROM f WHERE f MATCH ?", (expr,))} if expr else set()
            assert got == want, (n, k, expr)


def test_every_index_term_is_found_as_the_index_counts_it(matcher: Matcher, reader: CorpusReader) -> None:
    """FTS5 stems a query's words again, and some stems are not their own stem ("abus" -> "abu"): the matcher's
    expressions say a word that stems to the term, so each term finds exactly the rows that hold it, and a typo
    correction towards such a term is judged visible."""
    from bot.text import stem
    from storage.reader import fts_word

    idx = matcher.index
    terms = [t for t in idx.df if t.isalnum()]
    unstable = [t for t in terms if stem(t) != t]
    assert unstable  # the seed articles have such words ("disagre" from "disagree": "disagre" -> "disagr")
    for t in terms:
        n = reader.conn.execute("SELECT count(*) FROM search_story WHERE search_story MATCH ?",
                                (matcher._expression([t]),)).fetchone()[0]
        assert n == idx.df[t], t
    said = [t for t in unstable if fts_word(t) != t]
    assert said and all(stem(fts_word(t)) == t and reader.term_visible(t, None) for t in said)
    assert fts_word("abus") == "abuse" and fts_word("russia") == "russia"


def test_char_cos_sees_word_forms_that_stems_miss() -> None:
    """char_cos: the TF-IDF cosine of character 3-grams inside words, IDF over the candidate list."""
    from bot.matching import _char_cosines
    from bot.text import stem, words

    msg = words("Photo shows immigrants at the border")
    texts = ["A photograph shows migrants at a border crossing", "Council approves new bus lanes downtown",
             "Photo shows immigrants at the border"]
    near, unrelated, same = _char_cosines(msg, texts)
    assert same == pytest.approx(1.0)
    assert unrelated < 0.1 < near < same
    # Stems share nothing between "immigrants"/"migrants" or "photo"/"photograph"; their 3-grams do.
    assert stem("immigrants") != stem("migrants") and stem("photo") != stem("photograph")
    other_words = _char_cosines(msg, ["A picture shows people at a border crossing", *texts[1:]])[0]
    assert other_words < near  # the related word forms are what lift it
    assert _char_cosines(msg, []) == []
    assert _char_cosines([], texts) == [0.0, 0.0, 0.0]
    # A gram every candidate holds weighs least: the same word in all three counts for less than a rarer one.
    a, b = _char_cosines(words("border lanes"), ["border lanes", "border crossing"])
    assert a > b > 0


def _sqlite_varint(v: int) -> bytes:
    """SQLite's varint: big-endian 7-bit groups, high bit on all but the last; nine bytes (the last one 8 bits)
    from 2**56."""
    if v >= 1 << 56:
        head = v >> 8
        return bytes(((head >> (7 * i)) & 0x7F) | 0x80 for i in range(7, -1, -1)) + bytes([v & 0xFF])
    groups = []
    while True:
        groups.append(v & 0x7F)
        v >>= 7
        if not v:
            break
    groups.reverse()
    return bytes([g | 0x80 for g in groups[:-1]] + [groups[-1]])


@pytest.mark.parametrize("values", [[0], [3, 127], [128, 5], [300, 16_384, 2], [2**21 + 7, 1], [2**56 + 3, 9],
                                    [2**63 + 12_345], [7, 2**40, 2**56 - 1]])
def test_docsize_varints_are_summed_exactly(values: list[int]) -> None:
    from storage.reader import _varint_sum, _varints

    data = b"".join(map(_sqlite_varint, values))
    assert _varints(data) == values
    assert _varint_sum(data) == sum(values)


def test_candidates_skip_the_text_of_stories_the_entity_gate_drops(matcher: Matcher, reader: CorpusReader) -> None:
    """Ranked candidates come with their text only where the story may be scored: a story with core entities that
    the message does not name enough of comes back with its rank and no text (its text is never read)."""
    idx = matcher.index
    q = matcher._analyse("military agreement signed between the two countries", idx)
    expr = matcher._expression(matcher._fts_terms(q, idx))
    full = reader.story_candidates(expr, None, 40, (1.0, 1.0))
    asked: list[str] = []

    def needs_text(story_id: str) -> bool:
        asked.append(story_id)
        return not idx.stories[story_id].core

    lazy = reader.story_candidates(expr, None, 40, (1.0, 1.0), needs_text)
    assert [(d.story_id, d.bm25) for d in lazy] == [(d.story_id, d.bm25) for d in full]
    assert sorted(asked) == sorted(d.story_id for d in full)
    gated = [d for d in lazy if idx.stories[d.story_id].core]
    assert gated, "the seed corpus's story has core entities"
    assert all(d.title == d.body == d.terms == "" and d.length == 0 for d in gated)
    kept = {d.story_id: d for d in full}
    for d in lazy:
        if not idx.stories[d.story_id].core:
            assert d == kept[d.story_id]
    # And a check of that message reads no story text at all (the seed story is its only candidate, gated out).
    statements: list[str] = []
    reader.conn.set_trace_callback(statements.append)
    try:
        matcher.match("military agreement signed between the two countries", threshold=0)
    finally:
        reader.conn.set_trace_callback(None)
    assert any("search_story MATCH" in s for s in statements)
    assert not [s for s in statements if "title, body, terms" in s]


def _remove_story(path, story_id: str) -> None:
    async def go() -> None:
        c = await Corpus.open(path)
        await c.remove("story", story_id, Actor(guild_id=0, user_id=0, name="owner"))
        await c.close()

    asyncio.run(go())


BRIDGE = Story(id="bridge", title="Old town bridge closed for repairs", entities=[Entity(id="b", name="Old Town Bridge")],
               topic_terms=["repairs"])


def test_slow_index_is_rebuilt_in_the_background_while_checks_go_on(seeded_path, reader: CorpusReader,
                                                                    monkeypatch) -> None:
    """A slow index (a large corpus) is rebuilt in the background: a changed corpus does not pause checks: they use the previous index until the new
    one is built, and what they report is still checked against the live database."""
    import threading

    from bot.service import Checker

    m = Matcher(reader, background_rebuild=True)  # as for a large corpus
    checker = Checker(reader, m)
    first = m.index
    assert checker.check("Russia and Afghanistan military deal").matches
    release = threading.Event()
    real = Matcher._rebuild_now

    def held(self) -> None:  # the rebuild waits until the test lets it finish
        assert release.wait(30)
        real(self)

    monkeypatch.setattr(Matcher, "_rebuild_now", held)
    _add_story(seeded_path, BRIDGE, [], guild=0)
    assert m.index is first  # stale while the rebuild runs: the new story is not found yet
    assert not m.match("old town bridge closed for repairs").hits
    release.set()
    current = m.wait_for_index()
    assert current is not first and current.version == reader.version()
    assert m.match("old town bridge closed for repairs").hits[0].story_id == "bridge"

    # A story removed while the old index is in use is never reported (its rows are gone from the database).
    release.clear()
    _remove_story(seeded_path, "bridge")
    assert m.index is current
    assert not checker.check("old town bridge closed for repairs").matches
    release.set()
    assert not m.wait_for_index().stories.get("bridge")


def _rebuilt_in_the_background_after_a_new_story(seeded_path, reader: CorpusReader):
    """(a matcher that rebuilds in the background, its index after BRIDGE was added and the rebuild finished)."""
    m = Matcher(reader, background_rebuild=True)
    first = m.index
    _add_story(seeded_path, BRIDGE, [], guild=0)
    assert m.index is first  # checks go on with the previous index meanwhile
    m._rebuild.result()
    new = m._index
    assert new is not first and new.version == reader.version()
    return m, new


def test_a_background_rebuild_serves_a_warm_index_and_is_not_repeated(seeded_path, reader: CorpusReader) -> None:
    """The new index is ready before it replaces the old one: its typo-correction structures are built (a check that
    meets an unknown word would otherwise wait for them), and out of the cyclic collector's way (frozen, or tuples it
    stopped tracking: scanning them made every full collection after a rebuild slow).  A rebuild asked for when the
    index is already current does nothing."""
    import gc

    m, new = _rebuilt_in_the_background_after_a_new_story(seeded_path, reader)
    assert new.warming and set(new._alias_deletes) == set(new.alias_words_by_letter) and new._vocab_by_len is not None
    gc.collect()
    scanned = {id(o) for o in gc.get_objects()}  # every object a collection looks at (frozen ones are not)
    tables = [*new._alias_deletes.values(), new._alias_deletes, new._vocab_by_len]
    values = [*(v for part in new._alias_deletes.values() for v in part.values()), *new._vocab_by_len.values()]
    assert values and not any(id(v) in scanned for v in [*tables, *values])
    # A check that read the old index just before the swap asks again: nothing is rebuilt.
    m._rebuild_in_background()
    m._rebuild.result()
    assert m._index is new
    # The structures answer as before: "bridg" is one deletion away from the alias word "bridge".
    assert "bridge" in new.alias_word_candidates("brdge")


def test_a_replaced_index_is_freed_without_the_cyclic_collector(seeded_path, reader: CorpusReader) -> None:
    """A warm index is frozen (``gc.freeze``: full collections no longer scan it), so it must hold no reference cycle:
    once an update replaces it, reference counting alone has to free it, or every moderator's edit would leak one."""
    import gc
    import weakref

    m = Matcher(reader, background_rebuild=False)
    old = m.index
    old.warming = True  # warmed here, not by a thread that would still hold it
    old.warm()
    for text in ("Russia afghanistan agrement signed", "#russiaafghanistan deal", "old town bridge"):
        m.match(text)  # fill its per-query caches too
    gone = weakref.ref(old)
    del old
    was = gc.isenabled()
    gc.disable()
    try:
        _add_story(seeded_path, BRIDGE, [], guild=0)
        assert m.match("old town bridge closed for repairs").hits[0].story_id == "bridge"
        assert m._index.made_by == "update" and gone() is None
    finally:
        if was:
            gc.enable()


def test_a_background_update_saves_its_snapshot_after_it_serves(seeded_path, reader: CorpusReader, monkeypatch) -> None:
    """An update from the change log serves first, then saves the snapshot the next start loads (equal to it); a
    snapshot of a state the corpus has since left is not saved."""
    from bot.matching import _Index, _snapshot_path

    m = Matcher(reader, background_rebuild=True)
    first = m.index
    saves: list[tuple[_Index, bool]] = []  # (the index saved, whether it was serving then)
    real_save = _Index._save

    def save(self, path, key):
        saves.append((self, m._index is self))
        real_save(self, path, key)

    monkeypatch.setattr(_Index, "_save", save)
    _add_story(seeded_path, BRIDGE, [], guild=0)
    assert m.index is first
    m._rebuild.result()
    new = m._index
    assert new.made_by == "update" and saves == [(new, True)]
    loaded = _Index(reader)
    assert loaded.made_by == "snapshot" and _index_state(loaded) == _index_state(new)
    before = _snapshot_path(reader).read_bytes()
    _remove_story(seeded_path, "bridge")
    new.save_snapshot(reader)  # of an older state than the corpus's now
    assert _snapshot_path(reader).read_bytes() == before and len(saves) == 1


def test_a_background_rebuild_builds_in_a_child_process_or_else_in_a_thread(seeded_path, reader: CorpusReader,
                                                                              monkeypatch, caplog, tmp_path) -> None:
    """A large corpus's new index is built by a child process (``python -m bot.matching DB``), which checks do not
    share the GIL with, and loaded from the snapshot it wrote; if the child cannot run, by a thread, as before."""
    import sys

    import bot.matching as matching

    monkeypatch.setattr(matching, "INCREMENTAL_MAX_STORIES", 0)  # never an update from the change log here
    m, new = _rebuilt_in_the_background_after_a_new_story(seeded_path, reader)
    # Only the child can have written a snapshot of this new state: this process never built it.
    assert new.made_by == "snapshot"
    assert m.match("old town bridge closed for repairs").hits[0].story_id == "bridge"

    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    _remove_story(seeded_path, "bridge")
    assert m.index is new
    m._rebuild.result()
    assert "in a child process failed" in caplog.text
    built = m._index
    assert built is not new and built.version == reader.version() and built.made_by == "build"
    assert not built.stories.get("bridge")


def _corpus_do(path, fn) -> None:
    async def go() -> None:
        c = await Corpus.open(path)
        try:
            await fn(c)
        finally:
            await c.close()

    asyncio.run(go())


def _index_state(idx) -> dict:
    idx.warm()
    return {"version": idx.version, "change_id": idx.change_id, "packed": idx._packed_stories, "aliases": idx.aliases,
            "alias_first": idx.alias_first, "alias_words": idx.alias_words, "df": idx.df, "n_docs": idx.n_docs,
            # per first letter, built on use: an empty one is the same as none
            "alias_deletes": {k: v for k, v in idx._alias_deletes.items() if v}, "vocab_by_len": idx.vocab_by_len}


def test_the_index_updated_from_the_change_log_equals_a_full_build(seeded_path, reader: CorpusReader) -> None:
    """After each kind of change (a story added, edited, sharing an alias with another, removed, restored by undo, a
    claim added and removed, a server's own story), the index updated from the previous one through the change log
    is the index a full build makes of the same state: facets, aliases in the same order, vocabulary, counts."""
    from bot.matching import _Index

    owner, mod = Actor(guild_id=0, user_id=0, name="owner"), Actor(guild_id=111, user_id=1, name="mod")
    bridge2 = BRIDGE.model_copy(update={"title": "Old town bridge reopens", "topic_terms": ["reopens"],
                                        "entities": [Entity(id="b", name="Old Town Bridge", aliases=["the bridge"]),
                                                     Entity(id="c", name="Town Council", core=False)]})
    # Sorts before "bridge" and shares its alias key "old town bridge": the owners' order is by story id.
    aardvark = Story(id="aardvark", title="A bridge named after an aardvark", topic_terms=["named"],
                     entities=[Entity(id="x", name="Old Town Bridge"), Entity(id="y", name="Aardvark")])
    steps = [
        ("add a story", lambda c: c.apply(CorpusFile(stories=[BRIDGE], claims=[Claim(
            id="bridge-c", story="bridge", text="The old town bridge is closed for repairs.")]), owner)),
        ("edit its title, topic and entities", lambda c: c.apply(CorpusFile(stories=[bridge2]), owner)),
        ("a story sharing an alias", lambda c: c.apply(CorpusFile(stories=[aardvark]), owner)),
        ("a claim on the seed story", lambda c: c.apply(CorpusFile(claims=[Claim(
            id="seed-extra", story=SEED_STORY, text="Kabul and Moscow signed a quokka accord.")]), owner)),
        ("remove that claim", lambda c: c.remove("claim", "seed-extra", owner)),
        ("remove a story", lambda c: c.remove("story", "bridge", owner)),
        ("undo the removal", lambda c: c.undo(owner)),
        ("a server's own story", lambda c: c.apply(CorpusFile(stories=[Story(
            id="local", title="Harbour ferry fares double", topic_terms=["fares"],
            entities=[Entity(id="f", name="Harbour Ferry")])]), mod)),
        # Words the tokenizer must read as the index does: diacritics, other scripts, digits, apostrophes, hyphens.
        ("a claim in other scripts", lambda c: c.apply(CorpusFile(claims=[Claim(
            id="local-2", story="local", text="Ça coûte 3,5 € : naïve Zürich, 東京 und Straße; don't e-mail O'Brien")]), mod)),
        ("its claim edited", lambda c: c.apply(CorpusFile(claims=[Claim(
            id="local-2", story="local", text="Zürich fares: 4,5 € now")]), mod)),
    ]
    first = prev = _Index(reader, snapshot=False)
    for label, change in steps:
        _corpus_do(seeded_path, change)
        # The document frequencies come from the changed stories' rows, never from the whole vocabulary.
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(CorpusReader, "story_vocabulary", lambda self: pytest.fail("read the whole vocabulary"))
            updated = _Index.updated(prev, reader, snapshot=False)
        assert updated is not None and updated.made_by == "update", label
        full = _Index(reader, snapshot=False)
        assert _index_state(updated) == _index_state(full), label
        assert updated.version == reader.version() and updated.change_id > prev.change_id, label
        prev = updated  # the next update starts from this one: a mistake would carry on and show
    assert prev.aliases["old town bridge"].startswith("aardvark")
    assert "quokka" not in prev.df and prev.stories.get("bridge").title == "Old town bridge reopens"
    assert {"zurich", "4"} <= prev.df.keys() and "東京" not in prev.df  # the edit took its words away
    # Every change at once (stories changed several times, one removed and restored): the same again.
    assert _index_state(_Index.updated(first, reader, snapshot=False)) == _index_state(prev)


def test_an_update_over_log_entries_older_than_schema_5_reads_the_vocabulary(seeded_path, reader: CorpusReader) -> None:
    """Entries made before schema v5 do not hold a story's rows as they were: the update reads the whole vocabulary
    for its document frequencies, and is still equal to a full build."""
    from bot.matching import _Index

    owner = Actor(guild_id=0, user_id=0, name="owner")
    prev = _Index(reader, snapshot=False)
    _corpus_do(seeded_path, lambda c: c.apply(CorpusFile(stories=[BRIDGE], claims=[Claim(
        id="bridge-c", story="bridge", text="The old town bridge is closed for repairs.")]), owner))
    writer = connect(seeded_path)
    writer.execute("UPDATE index_changes SET old_rows = NULL")
    writer.close()
    assert reader.index_term_changes(prev.change_id, reader.index_change_id()) is None
    updated = _Index.updated(prev, reader, snapshot=False)
    assert updated is not None and updated.made_by == "update"
    assert _index_state(updated) == _index_state(_Index(reader, snapshot=False))
    assert updated.df["bridg"] == prev.df.get("bridg", 0) + 1


def test_a_change_committed_while_the_index_is_built_is_applied_once(seeded_path, reader: CorpusReader,
                                                                    monkeypatch) -> None:
    """The build reads one state of the file (a read transaction): a moderator's change committed meanwhile is not
    half in it, and the next update applies it exactly once (its document frequencies are deltas)."""
    from bot.matching import _Index

    real = CorpusReader.index_change_id
    writes: list[str] = []

    def change_id_then_a_write(self):
        got = real(self)
        if not writes:
            writes.append("bridge")
            _add_story(seeded_path, BRIDGE, [Claim(id="bridge-q", story="bridge", text="Quokkas closed the bridge.")], guild=0)
        return got

    monkeypatch.setattr(CorpusReader, "index_change_id", change_id_then_a_write)
    built = _Index(reader, snapshot=False)
    monkeypatch.undo()
    assert writes and "quokka" not in built.df and not built.stories.get("bridge")  # the state before the write
    updated = _Index.updated(built, reader, snapshot=False)
    assert updated.df["quokka"] == 1 and _index_state(updated) == _index_state(_Index(reader, snapshot=False))


def test_only_the_latest_log_entries_keep_the_rows(seeded_path, reader: CorpusReader, monkeypatch) -> None:
    """Entries older than the latest INDEX_CHANGE_ROWS_KEPT drop the story's rows (a large re-import must not leave
    them all in the log); an update reaching back to them reads the vocabulary, and is still exact."""
    from bot.matching import _Index
    from storage import corpus as corpus_mod

    monkeypatch.setattr(corpus_mod, "INDEX_CHANGE_ROWS_KEPT", 1)
    owner = Actor(guild_id=0, user_id=0, name="owner")
    prev = _Index(reader, snapshot=False)
    _corpus_do(seeded_path, lambda c: c.apply(CorpusFile(stories=[BRIDGE]), owner))
    _corpus_do(seeded_path, lambda c: c.apply(CorpusFile(stories=[BRIDGE.model_copy(update={"title": "Bridge reopens"})]), owner))
    kept = reader.conn.execute("SELECT old_rows IS NOT NULL FROM index_changes WHERE id > ? ORDER BY id",
                               (prev.change_id,)).fetchall()
    assert [x[0] for x in kept] == [0, 1]  # the newest keeps the rows the edit replaced
    assert json.loads(reader.conn.execute("SELECT old_rows FROM index_changes ORDER BY id DESC").fetchone()[0]) == [
        "Old town bridge closed for repairs\n"]
    updated = _Index.updated(prev, reader, snapshot=False)
    assert _index_state(updated) == _index_state(_Index(reader, snapshot=False))


def test_the_scratch_tokenizer_is_the_story_index_tokenizer(reader: CorpusReader) -> None:
    from storage.reader import STORY_TOKENIZER

    sql = reader.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'search_story'").fetchone()[0]
    assert f"tokenize = '{STORY_TOKENIZER}'" in sql


def test_the_index_is_built_in_full_when_the_change_log_cannot_say(seeded_path, reader: CorpusReader,
                                                                  monkeypatch) -> None:
    import bot.matching as matching
    from bot.matching import _Index
    from storage import corpus as corpus_mod

    owner = Actor(guild_id=0, user_id=0, name="owner")
    old = _Index(reader, snapshot=False)
    stories = [Story(id=f"s{i}", title=f"Story number {i} about ferries") for i in range(3)]
    _corpus_do(seeded_path, lambda c: c.apply(CorpusFile(stories=stories), owner))
    monkeypatch.setattr(matching, "INCREMENTAL_MAX_STORIES", 2)  # three stories changed: too many
    assert _Index.updated(old, reader, snapshot=False) is None
    monkeypatch.setattr(matching, "INCREMENTAL_MAX_STORIES", 2_000)
    assert _Index.updated(old, reader, snapshot=False) is not None
    # Entries the index has not seen were dropped (only the latest INDEX_CHANGES_KEPT are kept).
    monkeypatch.setattr(corpus_mod, "INDEX_CHANGES_KEPT", 1)
    _corpus_do(seeded_path, lambda c: c.apply(CorpusFile(stories=[BRIDGE]), owner))
    assert reader.conn.execute("SELECT count(*) FROM index_changes").fetchone()[0] == 1
    assert _Index.updated(old, reader, snapshot=False) is None


def test_fast_index_is_rebuilt_by_the_check_that_notices_the_change(seeded_path, reader: CorpusReader) -> None:
    from bot.matching import BACKGROUND_REBUILD_ROWS, BACKGROUND_REBUILD_S

    m = Matcher(reader)  # the seed corpus builds in milliseconds
    first = m.index
    assert first.build_s < BACKGROUND_REBUILD_S and first.n_docs < BACKGROUND_REBUILD_ROWS and not m._slow(first)
    _add_story(seeded_path, BRIDGE, [], guild=0)
    assert m.index is not first and m.index.version == reader.version() and m._rebuild is None
    assert m.index.made_by == "update" and m.match("old town bridge closed for repairs").hits[0].story_id == "bridge"


def test_a_failed_background_rebuild_keeps_the_previous_index(seeded_path, reader: CorpusReader, monkeypatch,
                                                               caplog) -> None:
    import bot.matching as matching

    m = Matcher(reader, background_rebuild=True)
    first = m.index
    real = matching._Index.updated.__func__
    calls = []

    def failing_once(cls, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk went away")
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(matching._Index, "updated", classmethod(failing_once))
    _add_story(seeded_path, BRIDGE, [], guild=0)
    assert m.index is first
    m._rebuild.result()
    assert m._index is first and "rebuilding the matcher index failed" in caplog.text
    assert m.index is first  # the next check tries again, in the background
    m._rebuild.result()
    assert m.index.version == reader.version() and len(calls) == 2


def test_misspelt_names_one_edit_from_several_take_the_story_the_message_names(seeded_path, reader) -> None:
    """'coren' is one edit from Coran and from Corwen: the message also names Fenpaan, Corwen's partner, so it means
    Corwen (the first in order, Coran, would leave the temple story one name short of its gate)."""
    temple = Story(id="temple", title="Corwen and Fenpaan block the temple restoration",
                   entities=[Entity(id="corwen", name="Corwen"), Entity(id="fenpaan", name="Fenpaan")],
                   topic_terms=["temple", "restoration"])
    other = Story(id="harbour", title="Coran and Zeldor open the harbour",
                  entities=[Entity(id="coran", name="Coran"), Entity(id="zeldor", name="Zeldor")], topic_terms=["harbour"])
    _add_story(seeded_path, temple, [], guild=0)
    _add_story(seeded_path, other, [], guild=0)
    m = Matcher(reader)
    hits = m.match("did fenpaan and coren block the temple restoration?").hits
    assert hits and hits[0].story_id == "temple"
    assert not m.match("coren opened something").hits  # one misspelt name alone still matches nothing


def test_a_typo_in_the_second_word_of_a_two_word_name_is_corrected(seeded_path, reader) -> None:
    story = Story(id="waste", title="Quodanis and Riyor Rigaryor approve toxic waste dump",
                  entities=[Entity(id="quodanis", name="Quodanis"), Entity(id="riyor", name="Riyor Rigaryor")],
                  topic_terms=["waste", "dump"])
    _add_story(seeded_path, story, [], guild=0)
    hits = Matcher(reader).match("is it true that riyor rigaryr and quodanis approved the waste dump").hits
    assert hits and hits[0].story_id == "waste"
    assert "read rigaryr→rigaryor" in hits[0].why and any(w.startswith("names ") and "Riyor Rigaryor" in w
                                                          for w in hits[0].why)


def test_a_long_paste_goes_to_the_near_duplicate_whose_article_it_quotes(seeded_path, reader) -> None:
    """Two stories with the same names and topic score within a few points for a pasted article; the one whose
    article the paste copies comes first, and says so."""
    from bot.models import Article

    ents = [Entity(id="saur", name="Saur"), Entity(id="toyor", name="Toyor")]
    texts = {
        "deal-built": "Saur and Toyor built a regional grain deal at the river port on Monday, officials said. "
                      "The grain deal covers storage, barges and prices for the next harvest season in the valley.",
        "deal-planned": "Saur and Toyor planned a huge grain deal for the river port, officials said on Friday. "
                        "The planned grain deal would cover storage and barges once the harvest season ends.",
    }
    for sid, text in texts.items():
        story = Story(id=sid, title=f"Saur and Toyor {sid.split('-')[1]} grain deal", entities=ents,
                      topic_terms=["grain", "deal"])

        async def go(story=story, sid=sid, text=text) -> None:
            c = await Corpus.open(seeded_path)
            await c.apply(CorpusFile(stories=[story], articles=[Article(id=f"{sid}-a", story=sid,
                                                                        outlet="kabul-dispatch", text=text)]),
                          Actor(guild_id=0, user_id=1, name="owner"))
            await c.close()

        asyncio.run(go())
    m = Matcher(reader)
    for sid, text in texts.items():
        paste = f"anyone seen this? look: {text} crazy times honestly"
        hits = m.match(paste, top=5, threshold=0).hits
        assert [h.story_id for h in hits[:2]] == [sid, next(s for s in texts if s != sid)], [h.why for h in hits]
        assert f"quotes its article {sid}-a" in hits[0].why and hits[0].score >= hits[1].score
    # A short message is never judged by quotes.
    assert all("quotes" not in w for h in m.match("saur and toyor grain deal").hits for w in h.why)


def test_glued_hashtags_and_handles_are_split_into_words_the_corpus_knows(seeded_path, reader) -> None:
    story = Story(id="fyre", title="Luxury Fyre festival in the Bahamas descends into chaos")
    _add_story(seeded_path, story, [Claim(id="fyre-c", story="fyre", text="The Fyre music festival left its guests stranded on an island.")], guild=0)
    private = Story(id="zorb", title="Zorblax parade cancelled")
    _add_story(seeded_path, private, [Claim(id="zorb-c", story="zorb", text="The Zorblax parade was cancelled by the council.")], guild=111)
    m = Matcher(reader)
    idx = m.index
    assert idx.glued_words("fyrefestival") == ("fyre", "festival")
    assert idx.glued_words("festival") == ()  # a word the corpus knows stays whole
    assert idx.glued_words("qqqwwweee") == ()  # nothing known to split into
    # No split into known words: one known word of 5 letters or more and an unknown rest (a name spelt otherwise).
    assert idx.glued_words("bahamasfyer") == ("bahamas", "fyer")
    assert idx.glued_words("qqqqfestival") == ("qqqq", "festival")
    assert idx.glued_words("fyreqqqq") == ()  # "fyre" is known but too short to stand alone
    assert idx.glued_words("bahamasqq") == ()  # the rest is too short to be a word
    for message in ("stranded on an island #fyrefestival", "stranded on an island @fyrefestival",
                    "stranded on an island #FyreFestival"):
        hits = m.match(message, top=3, threshold=0).hits
        assert hits and hits[0].story_id == "fyre", message
        assert any("fyre" in w for w in hits[0].why if w.startswith("shares")), hits[0].why
    assert m._analyse("#fyrefestivals", idx).words == ["fyre", "festivals"]
    # Only tags and handles are split: a glued word in running text is left as written.
    assert m._analyse("what a fyrefestival", idx).words == ["what", "a", "fyrefestival"]
    # A split into another server's private word is not made (it would tell that the word exists).
    def seen_by(guild: int):
        return lambda term: reader.term_visible(term, guild)

    assert "zorblax" in m._analyse("#zorblaxparade", idx, None, seen_by(111)).words
    assert "zorblax" not in m._analyse("#zorblaxparade", idx, None, seen_by(222)).words
    # The same with an unknown rest: only the known part needs to be one the server may see.
    assert m._analyse("#zorblaxparaid", idx, None, seen_by(111)).words == ["zorblax", "paraid"]
    assert m._analyse("#zorblaxparaid", idx, None, seen_by(222)).words == ["zorblaxparaid"]
    assert m._analyse("#bahamasfyer", idx, None, seen_by(222)).words == ["bahamas", "fyer"]


def test_a_pasted_posts_signature_is_read_apart_from_what_it_says(seeded_path, reader) -> None:
    from bot.matching import PLAIN_FEATURES, _query_texts

    rally = Story(id="rally", title="Was the organiser of the Charlottesville rally an Obama supporter?")
    _add_story(seeded_path, rally, [Claim(id="rally-c", story="rally", text="The organiser of the white nationalist rally in Charlottesville supported Obama.")], guild=0)
    book = Story(id="book", title="Costco removes Dinesh D'Souza's book from its shelves")
    _add_story(seeded_path, book, [Claim(id="book-c", story="book", text="Costco removed Dinesh D'Souza's book from its stores.")], guild=0)
    post = ("The white supremacist organizer of #Charlottesville was an Obama supporter "
            "— Dinesh D’Souza (@DineshDSouza) August 15, 2017")
    _body, full, said = _query_texts(post)
    assert "Dinesh" in full and said is not None and "Dinesh" not in said and "2017" not in said
    assert "Obama supporter" in said
    assert _query_texts("no signature here (@someone)")[2] is None
    m = Matcher(reader)
    feats = dict(m.plain_features(post))
    q, body = PLAIN_FEATURES.index("cov_q"), PLAIN_FEATURES.index("cov_body")
    # The book story shares only the signature's words: covered as a message, not as what the message says.
    assert feats["book"][q] > 0 and feats["book"][body] == 0
    assert feats["rally"][body] > feats["rally"][q]
    # Without a signature the two are the same.
    plain = dict(m.plain_features("The white supremacist organizer of Charlottesville was an Obama supporter"))
    assert plain["rally"][q] == plain["rally"][body]
    assert m.match(post, top=2, threshold=0).hits[0].story_id == "rally"


def test_a_candidates_story_wide_features_follow_its_text(seeded_path, reader) -> None:
    """The story-wide features (its number of stems, and the message's share of their IDF mass) are remembered per
    story and text: they equal a count made afresh, and a story given a new claim is counted again, not remembered."""
    import math

    from bot.matching import PLAIN_FEATURES, _query_texts, _terms

    rally = Story(id="rally", title="Was the organiser of the Charlottesville rally an Obama supporter?")
    _add_story(seeded_path, rally, [Claim(id="rally-c", story="rally", text="The organiser of the white nationalist rally in Charlottesville supported Obama.")], guild=0)
    text = "The organizer of the Charlottesville rally was an Obama supporter"
    m = Matcher(reader)

    def expected() -> tuple[float, float]:
        idx = m.index
        q = m._analyse(_query_texts(text)[1], idx)
        cand = m._candidates(q, idx, None, m._visible(idx, None))["rally"]
        terms = (_terms(cand.title) if cand.title else frozenset()).union(*cand.terms)
        shared = terms & set(q.stems)
        return (sum(map(idx.idf_table.__getitem__, shared)) / sum(map(idx.idf_table.__getitem__, terms)),
                math.log1p(len(terms)))

    cov_d, log_len = PLAIN_FEATURES.index("cov_d"), PLAIN_FEATURES.index("log_len")
    for _ in range(2):  # counted, then remembered
        feats = dict(m.plain_features(text))["rally"]
        assert (feats[cov_d], feats[log_len]) == pytest.approx(expected())
    before = feats[log_len]
    _add_story(seeded_path, rally, [Claim(id="rally-c2", story="rally", text="Torchlit marchers chanted slogans near the statue of Robert Lee.")], guild=0)
    feats = dict(m.plain_features(text))["rally"]
    assert feats[log_len] > before and (feats[cov_d], feats[log_len]) == pytest.approx(expected())


def test_words_every_candidate_shares_and_words_said_twice_are_weighed_as_such(seeded_path, reader) -> None:
    """title_local weighs each of the message's stems by IDF x log(1 + n / m), m of the n candidates holding it, so a
    word both candidates hold ("soros") counts for less; bm25_qtf weighs a word the message says again more;
    claim_rel reads 1 for the best claim coverage among the candidates."""
    import math

    from bot.matching import PLAIN_FEATURES, _terms

    for sid, title, claim in (("caravan", "Soros funds the migrant caravan", "George Soros paid for the migrant caravan."),
                              ("machines", "Soros owns the voting machines", "Soros owns the company that makes voting machines.")):
        _add_story(seeded_path, Story(id=sid, title=title), [Claim(id=f"{sid}-c", story=sid, text=claim)], guild=0)
    m = Matcher(reader)
    local, qtf, rel = (PLAIN_FEATURES.index(f) for f in ("title_local", "bm25_qtf", "claim_rel"))
    text = "Soros funds the migrant caravan and owns voting machines"
    feats = dict(m.plain_features(text))
    assert set(feats) == {"caravan", "machines"}
    idx = m.index
    q = set(m._analyse(text, idx).stems)
    held = {sid: _terms(t) | _terms(c) for sid, t, c in (
        ("caravan", "Soros funds the migrant caravan", "George Soros paid for the migrant caravan."),
        ("machines", "Soros owns the voting machines", "Soros owns the company that makes voting machines."))}
    weight = {t: idx.idf_table[t] * math.log(1 + 2 / sum(t in h for h in held.values())) for t in q if any(t in h for h in held.values())}
    assert weight["soro"] < min(w for t, w in weight.items() if t != "soro")
    for sid, title in (("caravan", "Soros funds the migrant caravan"), ("machines", "Soros owns the voting machines")):
        assert feats[sid][local] == pytest.approx(sum(weight[t] for t in _terms(title) & q) / sum(weight.values()))
    assert max(f[rel] for f in feats.values()) == 1.0 and all(0 <= f[rel] <= 1 for f in feats.values())
    again = dict(m.plain_features(text.replace("caravan", "caravan, the caravan, the caravan")))
    assert again["caravan"][qtf] > feats["caravan"][qtf] and again["machines"][qtf] < feats["machines"][qtf]


def test_a_feature_the_model_gives_no_weight_is_not_computed_on_the_check_path(seeded_path, reader, monkeypatch) -> None:
    """``fuzz`` (a partial ratio: 5-24 ms for a long paste against an article's paragraph) has weight 0: a check
    leaves it at 0 and scores the same as with it computed; fitting (``plain_features``) computes it; and were it
    given a weight, a check would compute it too."""
    from bot import matching
    from bot.matching import PLAIN_FEATURES, _query_texts

    fz = PLAIN_FEATURES.index("fuzz")
    assert matching.PLAIN_WEIGHTS[fz] == 0
    rally = Story(id="rally", title="Was the organiser of the Charlottesville rally an Obama supporter?")
    _add_story(seeded_path, rally, [Claim(id="rally-c", story="rally", text="The organiser of the white nationalist rally in Charlottesville supported Obama.")], guild=0)
    text = "The organizer of the Charlottesville rally was an Obama supporter, people say"
    m = Matcher(reader)
    idx = m.index
    q = m._analyse(_query_texts(text)[1], idx)
    cands = m._candidates(q, idx, None, m._visible(idx, None))
    plain = {s: c for s, c in cands.items() if not idx.stories[s].core}
    check = {sid: f for sid, f, _t, _s in m._plain_features(q, plain, idx)}
    fit = {sid: f for sid, f, _t, _s in m._plain_features(q, plain, idx, all_features=True)}
    assert check["rally"][fz] == 0 and fit["rally"][fz] > 0.5
    assert all(check[s][:fz] + check[s][fz + 1:] == fit[s][:fz] + fit[s][fz + 1:] for s in fit)
    assert dict(m.plain_features(text))["rally"][fz] == fit["rally"][fz]
    hits = m.match(text, top=5, threshold=0).hits
    real = Matcher._plain_features
    monkeypatch.setattr(Matcher, "_plain_features", lambda self, q, plain, idx: real(self, q, plain, idx, True))
    assert [(h.story_id, h.score) for h in m.match(text, top=5, threshold=0).hits] == [(h.story_id, h.score) for h in hits]
    monkeypatch.undo()
    monkeypatch.setattr(matching, "PLAIN_WEIGHTS", tuple(0.1 if i == fz else w for i, w in enumerate(matching.PLAIN_WEIGHTS)))
    again = {sid: f for sid, f, _t, _s in m._plain_features(q, plain, idx)}
    assert again["rally"][fz] == fit["rally"][fz]
