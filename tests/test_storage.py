"""Storage on real SQLite files: migrations, seeding, atomic imports, ownership between servers, audit and undo."""

from __future__ import annotations

import json
import sqlite3

import pytest

from bot.models import Article, Claim, CorpusFile, Entity, Outlet, Position, Question, RatingEntry, Story
from bot.seeds import load_seed, seed_fingerprint
from storage.corpus import Actor, Corpus, CorpusError, PermissionDenied, passages
from storage.db import StorageError, connect, schema_version
from tests.conftest import SEED_STORY

A = Actor(guild_id=111, user_id=1, name="mod-a")
B = Actor(guild_id=222, user_id=2, name="mod-b")
OWNER = Actor(name="cli")


def small_file(prefix: str = "s") -> CorpusFile:
    return CorpusFile(
        outlets=[Outlet(id=f"{prefix}-outlet", name="Local Paper", domains=[f"{prefix}paper.example"], type="newspaper")],
        stories=[
            Story(
                id=f"{prefix}-story",
                title="Town council approves new bus lanes",
                entities=[Entity(id="council", name="Town council", aliases=["council"])],
                topic_terms=["bus", "lanes"],
            )
        ],
        articles=[
            Article(id=f"{prefix}-a1", story=f"{prefix}-story", outlet=f"{prefix}-outlet", title="Bus lanes approved",
                    url=f"https://{prefix}paper.example/bus-lanes", text="The town council approved new bus lanes on Monday.")
        ],
        claims=[Claim(id=f"{prefix}-c1", story=f"{prefix}-story", text="The council approved bus lanes.", articles=[f"{prefix}-a1"])],
    )


def index_dump(conn: sqlite3.Connection) -> list[str]:
    """The full-text index as sorted reprs: passages, and story rows with their lines in any order."""
    rows = [repr(r) for r in conn.execute("SELECT text, ref_id, story_id, guild_id FROM search_passage")]
    rows += [repr((t, sorted(b.split("\n")) if b else [], s, g))
             for t, b, s, g in conn.execute("SELECT title, body, story_id, guild_id FROM search_story")]
    return sorted(rows)


def table_dump(path) -> dict[str, list]:
    conn = sqlite3.connect(path)
    out = {}
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'search%' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT IN ('audit_log', 'corpus_version', 'index_changes')"  # logs, not corpus content
    ):
        out[name] = sorted(map(repr, conn.execute(f"SELECT * FROM {name}").fetchall()))
    out["search"] = index_dump(conn)
    conn.close()
    return out


async def test_new_database_is_migrated_wal_and_seeded(corpus: Corpus, db_path) -> None:
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    counts = corpus.reader.counts()
    assert counts == {"stories": 1, "articles": 5, "claims": 7, "questions": 5, "outlets": 5}
    story = corpus.reader.story(SEED_STORY, None)
    assert story and {e.id for e in story.entities} >= {"russia", "afghanistan"}
    # Each seed article's id is its source document's file stem, and its text is the document's text.
    for art in corpus.reader.articles(SEED_STORY, None):
        from tests.conftest import ROOT

        assert art.text == (ROOT / "seeds" / "articles" / f"{art.id}.txt").read_text(encoding="utf-8").strip()


async def test_seeding_twice_changes_nothing(corpus: Corpus, db_path) -> None:
    before = table_dump(db_path)
    assert await corpus.seed(load_seed(), seed_fingerprint()) is None
    assert await corpus.seed(load_seed(), seed_fingerprint(), force=True) is not None
    assert table_dump(db_path) == before


async def test_apply_then_export_round_trips(corpus: Corpus) -> None:
    await corpus.apply(small_file(), A)
    exported = await corpus.export(A.guild_id)
    assert [s.id for s in exported.stories] == ["s-story"]
    assert exported.articles[0].canonical_url == "https://spaper.example/bus-lanes"
    again = CorpusFile.model_validate_json(exported.model_dump_json())
    assert again == exported


async def test_failed_import_changes_nothing(corpus: Corpus, db_path) -> None:
    before = table_dump(db_path)
    bad = small_file()
    bad.articles.append(Article(id="orphan", story="no-such-story", outlet="s-outlet", text="x"))
    with pytest.raises(CorpusError, match=r"articles\[1\]\.story: unknown story 'no-such-story'"):
        await corpus.apply(bad, A)
    assert table_dump(db_path) == before


async def test_server_cannot_touch_global_or_other_servers_records(corpus: Corpus, db_path) -> None:
    await corpus.apply(small_file("a"), A)
    before = table_dump(db_path)
    # Overwrite another server's story by reusing its id.
    with pytest.raises(PermissionDenied, match="already taken"):
        await corpus.apply(small_file("a"), B)
    # Overwrite the global seed story.
    seed_story = load_seed().stories[0]
    with pytest.raises(PermissionDenied, match="global corpus"):
        await corpus.apply(CorpusFile(stories=[seed_story]), A)
    # Attach to a story it cannot see.
    with pytest.raises(CorpusError, match="unknown story"):
        await corpus.apply(CorpusFile(claims=[Claim(id="b-c", story="a-story", text="guess")]), B)
    for kind, rid in [("story", "a-story"), ("article", "a-a1"), ("claim", "a-c1"), ("outlet", "a-outlet")]:
        with pytest.raises(CorpusError, match="unknown"):
            await corpus.remove(kind, rid, B)
    with pytest.raises(PermissionDenied, match="global corpus"):
        await corpus.remove("story", SEED_STORY, A)
    with pytest.raises(CorpusError, match="unknown outlet"):
        await corpus.rate_outlet("a-outlet", "factual_record", RatingEntry(value="low"), B)
    assert await corpus.undo(B) is None
    assert table_dump(db_path) == before


async def test_server_additions_to_global_story_are_private(corpus: Corpus) -> None:
    art = Article(id="a-extra", story=SEED_STORY, outlet="kabul-dispatch", title="Extra", text="Another report.")
    await corpus.apply(CorpusFile(articles=[art]), A)
    assert "a-extra" in {a.id for a in corpus.reader.articles(SEED_STORY, A.guild_id)}
    assert "a-extra" not in {a.id for a in corpus.reader.articles(SEED_STORY, B.guild_id)}
    assert "a-extra" not in {a.id for a in corpus.reader.articles(SEED_STORY, None)}


async def test_undo_restores_exactly(corpus: Corpus, db_path) -> None:
    start = table_dump(db_path)
    await corpus.apply(small_file(), A)
    after_add = table_dump(db_path)
    edited = small_file()
    edited.stories[0] = edited.stories[0].model_copy(update={"title": "Council rejects bus lanes"})
    edited.articles[0] = edited.articles[0].model_copy(update={"text": "Rejected after all."})
    await corpus.apply(edited, A)
    await corpus.rate_outlet("kabul-dispatch", "factual_record", RatingEntry(value="high", basis="test"), A)
    q = Question(id="a-q", text="When?", kind="date",
                 positions=[Position(id="a-p", statement="Monday", articles=["s-a1"], evidence=[{"article": "s-a1", "quote": "on Monday"}])])
    await corpus.upsert_question("s-story", q, A)
    await corpus.hide_story(SEED_STORY, True, A)
    await corpus.remove("claim", "s-c1", A)
    for _ in range(5):
        assert await corpus.undo(A) is not None
    assert table_dump(db_path) == after_add
    assert (await corpus.undo(A)).action == "import"
    assert table_dump(db_path) == start
    assert await corpus.undo(A) is None
    history = await corpus.history(A.guild_id)
    assert history[0].action == "undo" and all(h.actor_name == "mod-a" for h in history)


async def test_rating_is_per_server_over_global_default(corpus: Corpus) -> None:
    base = corpus.reader.rating("kabul-dispatch", None)
    assert base and base.factual_record.value == "mostly_high"
    await corpus.rate_outlet("kabul-dispatch", "factual_record", RatingEntry(value="low", basis="local view"), A)
    await corpus.rate_outlet("kabul-dispatch", "flag:satire", RatingEntry(value="yes"), A)
    a = corpus.reader.rating("kabul-dispatch", A.guild_id)
    assert a.factual_record.value == "low" and a.factual_record.set_at is not None
    assert a.news_opinion_separation.value == "yes"  # inherited field by field
    assert "satire" in a.flags
    assert corpus.reader.rating("kabul-dispatch", B.guild_id).factual_record.value == "mostly_high"
    with pytest.raises(CorpusError, match="unknown rating field"):
        await corpus.rate_outlet("kabul-dispatch", "vibes", RatingEntry(value="x"), A)


async def test_hidden_story_is_hidden_for_that_server_only(corpus: Corpus) -> None:
    await corpus.hide_story(SEED_STORY, True, A)
    assert SEED_STORY in corpus.reader.hidden_stories(A.guild_id)
    assert not corpus.reader.hidden_stories(B.guild_id)
    with pytest.raises(CorpusError, match="hidden"):
        await corpus.apply(CorpusFile(articles=[Article(id="x", story=SEED_STORY, outlet="kabul-dispatch", text="t")]), A)


async def test_unranked_passage_matches_are_the_ranked_ones_when_few_match(corpus: Corpus) -> None:
    """passage_matches (a thresholded check's cheap read) finds the same passages as passage_candidates when at most
    ``at_most`` rows match, only those the server sees, and says None (rank them) when more do."""
    arts = [Article(id=f"q{i}", story=SEED_STORY, outlet="kabul-dispatch", text=f"Quokka sighting {i} near the wombat bridge.")
            for i in range(3)]
    await corpus.apply(CorpusFile(articles=arts), A)
    expr = '("quokka" AND "wombat")'
    ranked = corpus.reader.passage_candidates(expr, A.guild_id)
    unranked = corpus.reader.passage_matches(expr, A.guild_id, 20)
    assert len(ranked) == 3 and unranked is not None
    assert sorted((c.ref_id, c.story_id, c.text) for c in unranked) == sorted((c.ref_id, c.story_id, c.text) for c in ranked)
    assert corpus.reader.passage_matches(expr, A.guild_id, 2) is None
    assert corpus.reader.passage_matches(expr, B.guild_id, 20) == []  # server A's articles
    assert corpus.reader.passage_matches("", A.guild_id, 20) == []


async def test_removing_an_article_updates_index_and_positions(corpus: Corpus) -> None:
    art = Article(id="a-extra", story=SEED_STORY, outlet="kabul-dispatch", text="Zanzibar quokka testimony.")
    await corpus.apply(CorpusFile(articles=[art]), A)
    q = Question(id="a-q", text="Q?", positions=[Position(id="a-p", statement="S", articles=["a-extra"],
                                                          evidence=[{"article": "a-extra", "quote": "Zanzibar"}])])
    await corpus.upsert_question(SEED_STORY, q, A)
    assert corpus.reader.passage_candidates('"quokka"', A.guild_id)
    await corpus.remove("article", "a-extra", A)
    assert not corpus.reader.passage_candidates('"quokka"', A.guild_id)
    pos = next(q for q in corpus.reader.story(SEED_STORY, A.guild_id).questions if q.id == "a-q").positions[0]
    assert pos.articles == [] and pos.evidence == []


async def test_outlet_with_articles_cannot_be_removed(corpus: Corpus) -> None:
    await corpus.apply(small_file(), A)
    with pytest.raises(CorpusError, match="still has 1 article"):
        await corpus.remove("outlet", "s-outlet", A)


async def test_settings_autoreply_feedback(corpus: Corpus) -> None:
    assert (await corpus.settings(111))["moderator_role_id"] is None
    await corpus.set_settings(111, moderator_role_id=42, threshold=70.0)
    assert (await corpus.settings(111)) == {"moderator_role_id": 42, "threshold": 70.0, "ephemeral": False}
    with pytest.raises(CorpusError):
        await corpus.set_settings(111, token="x")
    cfg = await corpus.set_autoreply(111, 5000, enabled=True, threshold=80.0, cooldown_s=60)
    assert cfg["enabled"] and cfg["cooldown_s"] == 60
    with pytest.raises(PermissionDenied):
        await corpus.set_autoreply(222, 5000, enabled=False)
    fid = await corpus.add_feedback(111, 5000, 9, SEED_STORY, "some message")
    assert (await corpus.feedback(111))[0]["id"] == fid and await corpus.feedback(222) == []


def test_corrupt_file_is_refused_with_a_clear_message(tmp_path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="not a usable Crosscheck database"):
        connect(bad)


def test_newer_schema_is_refused(tmp_path) -> None:
    p = tmp_path / "new.db"
    connect(p).close()
    conn = sqlite3.connect(p)
    conn.execute(f"PRAGMA user_version = {schema_version() + 5}")
    conn.close()
    with pytest.raises(StorageError, match="newer than this Crosscheck"):
        connect(p)


def test_passages_pack_paragraphs_and_split_long_ones() -> None:
    text = "Short one.\nShort two.\n" + ("word " * 400)
    out = passages(text, 100)
    assert out[0] == "Short one. Short two."
    assert all(len(p) <= 100 for p in out)
    assert " ".join(out).split() == text.split()


async def test_audit_snapshot_is_json(corpus: Corpus, db_path) -> None:
    await corpus.apply(small_file(), A)
    conn = sqlite3.connect(db_path)
    before, after = conn.execute("SELECT before, after FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    assert json.loads(before)[0]["kind"] in ("story", "outlet") and "summary" in json.loads(after)
    conn.close()


async def test_server_additions_to_global_records_export_and_import_back(corpus: Corpus, tmp_path) -> None:
    from bot.models import Evidence

    q = Question(id="a-q", text="How many aircraft?", kind="number",
                 positions=[Position(id="a-p1", statement="Not stated", articles=["001_3ef12a10435f65e9"],
                                     evidence=[Evidence(article="001_3ef12a10435f65e9", quote="limited in scope")])])
    await corpus.upsert_question(SEED_STORY, q, A)
    await corpus.upsert_position("where-signed", Position(id="a-p2", statement="Unclear", articles=["003_364ba9286f04d5aa"]), A)
    await corpus.rate_outlet("freedom-brief", "corrections_policy", RatingEntry(value="no", basis="none found"), A)
    exported = await corpus.export(A.guild_id)
    assert [x.id for x in exported.questions] == ["a-q"] and exported.questions[0].story == SEED_STORY
    assert [(x.id, x.question) for x in exported.positions] == [("a-p2", "where-signed")]
    assert [r.outlet for r in exported.ratings] == ["freedom-brief"]
    assert exported.stories == [] and exported.outlets == []
    # Into a fresh, seeded database as the same server: the server sees the same thing.
    from bot.seeds import load_seed, seed_fingerprint

    other = await Corpus.open(tmp_path / "other.db")
    try:
        await other.seed(load_seed(), seed_fingerprint())
        file = CorpusFile.model_validate_json(exported.model_dump_json())
        await other.apply(file, A)
        assert other.reader.story(SEED_STORY, A.guild_id) == corpus.reader.story(SEED_STORY, A.guild_id)
        assert other.reader.rating("freedom-brief", A.guild_id) == corpus.reader.rating("freedom-brief", A.guild_id)
        # Another server imports the same file: its own copy, the first server's untouched and still private.
        with pytest.raises(PermissionDenied):
            await other.apply(file, B)
        assert other.reader.story(SEED_STORY, B.guild_id) == other.reader.story(SEED_STORY, None)
        assert await other.undo(A) is not None
        assert other.reader.story(SEED_STORY, A.guild_id) == other.reader.story(SEED_STORY, None)
    finally:
        await other.close()


async def test_attached_records_must_be_visible(corpus: Corpus, db_path) -> None:
    before = table_dump(db_path)
    bad = CorpusFile.model_validate({"questions": [{"id": "q", "story": "nope", "text": "?"}]})
    with pytest.raises(CorpusError, match=r"questions\[0\]\.story: unknown story 'nope'"):
        await corpus.apply(bad, A)
    bad = CorpusFile.model_validate({"positions": [{"id": "p", "question": "nope", "statement": "s"}]})
    with pytest.raises(CorpusError, match=r"positions\[0\]\.question: unknown question"):
        await corpus.apply(bad, A)
    bad = CorpusFile.model_validate({"ratings": [{"outlet": "nope", "rating": {}}]})
    with pytest.raises(CorpusError, match=r"ratings\[0\]\.outlet: unknown outlet"):
        await corpus.apply(bad, A)
    assert table_dump(db_path) == before


async def test_merge_positions_is_one_undoable_change(corpus: Corpus, db_path) -> None:
    from bot.models import Evidence

    await corpus.apply(small_file(), A)
    q = Question(id="a-q", text="When?", kind="date", positions=[
        Position(id="p1", statement="Monday", articles=["s-a1"], evidence=[Evidence(article="s-a1", quote="on Monday")]),
        Position(id="p2", statement="On Monday", articles=["001_3ef12a10435f65e9"],
                 evidence=[Evidence(article="001_3ef12a10435f65e9", quote="signed on May 31")])])
    await corpus.upsert_question("s-story", q, A)
    before = table_dump(db_path)
    with pytest.raises(CorpusError, match="unknown position"):
        await corpus.merge_positions("p1", "p2", B)
    with pytest.raises(PermissionDenied):
        await corpus.merge_positions("when-2026-05-31", "p1", A)
    merged = await corpus.merge_positions("p1", "p2", A)
    assert merged.articles == ["s-a1", "001_3ef12a10435f65e9"] and len(merged.evidence) == 2
    story_q = next(x for x in corpus.reader.story("s-story", A.guild_id).questions if x.id == "a-q")
    assert [p.id for p in story_q.positions] == ["p1"]
    assert (await corpus.undo(A)).action == "merge"
    assert table_dump(db_path) == before


def index_problems(path) -> list[str]:
    """What is wrong with the full-text index of the file at ``path``: every story's rows in ``search_passage`` and
    ``search_story`` must be exactly what its rows say (and nothing else), and ``search_rows`` must map exactly them."""
    conn = sqlite3.connect(path)
    try:
        expected: set[tuple] = set()
        bodies: dict[tuple[str, int], list[str]] = {}
        titles: dict[tuple[str, int], str] = {}
        for sid, g, title, summary in conn.execute("SELECT id, guild_id, title, summary FROM stories"):
            titles[(sid, g)] = title
            bodies.setdefault((sid, g), [])
            if summary:
                bodies[(sid, g)].append(summary)
        for cid, sid, g, text in conn.execute("SELECT id, story_id, guild_id, text FROM claims"):
            bodies.setdefault((sid, g), []).append(text)
        for aid, sid, g, title, text in conn.execute("SELECT id, story_id, guild_id, title, text FROM articles"):
            if title:
                bodies.setdefault((sid, g), []).append(title)
            expected |= {(p, aid, sid, g) for p in passages(text)}
        rows = conn.execute("SELECT text, ref_id, story_id, guild_id FROM search_passage").fetchall()
        problems = []
        if len(rows) != len(set(rows)) or set(rows) != expected:
            problems.append(f"search_passage: {len(set(rows) - expected)} unexpected, {len(expected - set(rows))} missing rows")
        story_rows = {(r[3], r[4]): r for r in conn.execute("SELECT title, body, terms, story_id, guild_id FROM search_story")}
        if set(story_rows) != set(bodies):
            problems.append(f"search_story: rows for {sorted(set(story_rows) ^ set(bodies))}")
        for key, (title, body, terms, _s, _g) in story_rows.items():
            lines = body.split("\n") if body else []
            if sorted(lines) != sorted(" ".join(x.split()) for x in bodies.get(key, [])) or \
                    title != titles.get(key, "") or (lines and len(terms.split("\n")) != len(lines)):
                problems.append(f"search_story: {key} differs")
        for fts in ("search_passage", "search_story"):
            mapped = conn.execute(f"SELECT row, story_id FROM search_rows WHERE fts = '{fts}' ORDER BY row").fetchall()
            actual = conn.execute(f"SELECT rowid, story_id FROM {fts} ORDER BY rowid").fetchall()
            if mapped != actual:
                problems.append(f"search_rows does not map {fts} exactly")
        return problems
    finally:
        conn.close()


async def test_batched_snapshots_equal_one_by_one(corpus: Corpus) -> None:
    """Audit snapshots of many targets are taken with one query per table: they must equal the per-target ones."""
    await corpus.apply(small_file("a"), A)
    await corpus.apply(small_file("b"), B)
    extra = CorpusFile(
        articles=[Article(id="a-extra", story=SEED_STORY, outlet="a-outlet", title="Extra", text="More on it.")],
        claims=[Claim(id="a-c2", story=SEED_STORY, text="A server's claim.", articles=["a-extra", "a-a1"])],
    )
    await corpus.apply(extra, A)
    q = Question(id="a-q", text="When?", kind="date", positions=[Position(id="a-p", statement="Monday", articles=["a-a1"])])
    await corpus.upsert_question(SEED_STORY, q, A)
    await corpus.upsert_position("where-signed", Position(id="a-p2", statement="Unclear"), A)
    await corpus.hide_story("b-story", False, B)
    targets = [("story", SEED_STORY), ("story", "a-story"), ("story", "b-story"), ("story", "no-such-story"),
               ("outlet", "a-outlet"), ("outlet", "kabul-dispatch"), ("story", "a-story")]
    await corpus.rate_outlet("kabul-dispatch", "factual_record", RatingEntry(value="high"), A)
    for guild in (0, A.guild_id, B.guild_id):
        batched = await corpus._snapshots(targets, guild)
        one_by_one = [{"kind": k, "id": t, "guild": guild, "rows": await corpus._snapshot(k, t, guild)}
                      for k, t in dict.fromkeys(targets)]
        assert len(batched) == 6
        for b, o in zip(batched, one_by_one, strict=True):
            assert {t: sorted(map(repr, rows)) for t, rows in b["rows"].items()} == \
                {t: sorted(map(repr, rows)) for t, rows in o["rows"].items()}
            assert (b["kind"], b["id"], b["guild"]) == (o["kind"], o["id"], o["guild"])
    snap = (await corpus._snapshots([("story", SEED_STORY)], A.guild_id))[0]["rows"]
    assert {r["id"] for r in snap["claims"]} == {"a-c2"} and len(snap["claim_articles"]) == 2
    assert {r["id"] for r in snap["positions"]} == {"a-p", "a-p2"} and snap["stories"] == []


async def test_full_text_index_matches_the_rows_after_imports_edits_and_undo(corpus: Corpus, db_path) -> None:
    assert index_problems(db_path) == []
    big = CorpusFile(
        outlets=[Outlet(id="o", name="O", domains=["o.example"])],
        stories=[Story(id=f"st{i}", title=f"Story {i} about tariffs", summary="A summary." if i % 2 else "")
                 for i in range(30)],
        articles=[Article(id=f"st{i}-a{j}", story=f"st{i}", outlet="o", title=f"Title {i} {j}" if j else "",
                          text="\n\n".join(f"Paragraph {k} of article {i}/{j} " + "word " * 90 for k in range(4)))
                  for i in range(30) for j in range(3)],
        claims=[Claim(id=f"st{i}-c{k}", story=f"st{i}", text=f"Claim {k} of story {i} ’quoted’ é", articles=[f"st{i}-a0"])
                for i in range(30) for k in range(5)],
    )
    await corpus.apply(big, OWNER)
    assert index_problems(db_path) == []
    # A server attaches to global stories; the owner re-imports an edited file over them.
    await corpus.apply(CorpusFile(claims=[Claim(id="a-c", story="st1", text="A server's own claim")]), A)
    edited = big.model_copy(update={"claims": big.claims[::2], "articles": big.articles[:40]})
    await corpus.apply(edited, OWNER)
    assert index_problems(db_path) == []
    await corpus.remove("article", "st2-a1", OWNER)
    await corpus.remove("story", "st3", OWNER)
    assert index_problems(db_path) == []
    for _ in range(3):
        await corpus.undo(OWNER)
        assert index_problems(db_path) == []


async def test_settings_and_autoreply_changes_are_audited_and_undoable(corpus: Corpus, db_path) -> None:
    start = table_dump(db_path)
    version = corpus.reader.version()
    await corpus.set_settings(A.guild_id, moderator_role_id=42, threshold=70.0, actor=A)
    await corpus.set_settings(A.guild_id, threshold=55.0, ephemeral=True, actor=A)
    await corpus.set_autoreply(A.guild_id, 5000, enabled=True, threshold=80.0, cooldown_s=60, actor=A)
    await corpus.set_autoreply(A.guild_id, 5000, enabled=False, actor=A)
    with pytest.raises(PermissionDenied):  # another server's moderator, or another server's channel
        await corpus.set_settings(A.guild_id, threshold=1.0, actor=B)
    with pytest.raises(PermissionDenied):
        await corpus.set_autoreply(B.guild_id, 5000, enabled=True, actor=B)
    assert corpus.reader.version() == version  # not corpus content: the matcher's index stays valid
    history = await corpus.history(A.guild_id)
    assert [h.action for h in history] == ["autoreply", "autoreply", "settings", "settings"]
    assert all((h.actor_id, h.actor_name) == (A.user_id, A.name) for h in history)
    assert history[0].summary.startswith("auto-reply off in channel 5000")
    assert history[2].summary == "settings: threshold 70.0 -> 55.0, ephemeral False -> True"
    conn = sqlite3.connect(db_path)
    after = json.loads(conn.execute("SELECT after FROM audit_log WHERE action = 'settings' ORDER BY id").fetchone()[0])
    conn.close()
    assert after["before"]["threshold"] is None and after["after"]["threshold"] == 70.0
    assert await corpus.undo(B) is None  # B cannot undo A's changes
    assert (await corpus.undo(A)).action == "autoreply"
    assert (await corpus.autoreply_channels(A.guild_id))[5000]["enabled"] is True
    assert (await corpus.undo(A)).action == "autoreply"
    assert await corpus.autoreply_channels(A.guild_id) == {}
    assert (await corpus.undo(A)).action == "settings"
    assert await corpus.settings(A.guild_id) == {"moderator_role_id": 42, "threshold": 70.0, "ephemeral": False}
    assert (await corpus.undo(A)).action == "settings"
    assert table_dump(db_path) == start and await corpus.undo(A) is None
    assert corpus.reader.version() == version


async def test_owner_removal_of_global_records_is_undone_with_what_servers_attached(corpus: Corpus, db_path) -> None:
    """Removing a global story, article or outlet deletes what servers attached to it (foreign keys cascade); the
    owner's undo restores all of it, exactly."""
    await corpus.apply(CorpusFile(outlets=[Outlet(id="g-out", name="Global Wire", domains=["gwire.example"])]), OWNER)
    await corpus.apply(small_file("a"), A)
    await corpus.apply(CorpusFile(
        articles=[Article(id="a-on-g", story=SEED_STORY, outlet="a-outlet", title="A's report", text="A's own report.")],
        claims=[Claim(id="a-gc", story=SEED_STORY, text="A's claim on the global story", articles=["a-on-g"]),
                Claim(id="a-cite", story="a-story", text="A's claim citing a global article",
                      articles=["a-a1", "001_3ef12a10435f65e9"])],
    ), A)
    await corpus.upsert_question(SEED_STORY, Question(id="a-q", text="Who?", positions=[
        Position(id="a-qp", statement="Them", articles=["a-on-g"])]), A)
    await corpus.upsert_position("where-signed", Position(id="a-p", statement="Moscow", articles=["001_3ef12a10435f65e9"]), A)
    await corpus.rate_outlet("g-out", "bias", RatingEntry(value="left"), B)
    await corpus.hide_story(SEED_STORY, True, B)
    await corpus.apply(CorpusFile(claims=[Claim(id="b-gc", story=SEED_STORY, text="B's claim")]), B)
    await corpus.hide_story(SEED_STORY, False, B)
    start = table_dump(db_path)

    await corpus.remove("article", "001_3ef12a10435f65e9", OWNER)
    assert corpus.reader.story("a-story", A.guild_id) is not None
    await corpus.undo(OWNER)
    assert table_dump(db_path) == start and index_problems(db_path) == []

    await corpus.remove("story", SEED_STORY, OWNER)
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM claims WHERE id IN ('a-gc', 'b-gc')").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM claim_articles WHERE claim_id = 'a-cite'").fetchone()[0] == 1
    conn.close()
    assert index_problems(db_path) == []
    assert (await corpus.undo(OWNER)).target_id == SEED_STORY
    assert table_dump(db_path) == start and index_problems(db_path) == []

    await corpus.remove("outlet", "g-out", OWNER)
    assert corpus.reader.rating("g-out", B.guild_id) is None
    await corpus.undo(OWNER)
    assert table_dump(db_path) == start
    # A server's undo still never restores another server's rows: B's and A's changes stay their own.
    assert [(await corpus.undo(B)).action for _ in range(2)] == ["unhide", "import"]
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT id FROM claims WHERE id IN ('a-gc', 'b-gc')").fetchall() == [("a-gc",)]
    conn.close()


async def test_moving_articles_and_claims_to_another_story_reindexes_both_and_undoes_exactly(corpus: Corpus, db_path) -> None:
    await corpus.apply(small_file("a"), A)
    start = table_dump(db_path)
    moved = CorpusFile(
        stories=[Story(id="a-other", title="Ferry fares rise")],
        articles=[small_file("a").articles[0].model_copy(update={"story": "a-other"})],
        claims=[small_file("a").claims[0].model_copy(update={"story": "a-other"})],
    )
    await corpus.apply(moved, A)
    assert index_problems(db_path) == []
    assert {a.id for a in corpus.reader.articles("a-other", A.guild_id)} == {"a-a1"}
    assert (await corpus.undo(A)).action == "import"
    assert table_dump(db_path) == start and index_problems(db_path) == []


async def test_optimize_story_index_merges_segments_and_changes_nothing_else(corpus, db_path) -> None:
    """After many small imports the story index is in many segments; optimize leaves one and the same answers,
    without a new corpus version or audit entry."""
    import sqlite3 as sq

    from bot.matching import Matcher
    from bot.models import Claim, CorpusFile, Story
    from storage.corpus import Actor

    for i in range(12):
        await corpus.apply(CorpusFile(stories=[Story(id=f"s{i}", title=f"Harbour ferry strike number {i} over pay")],
                                      claims=[Claim(id=f"c{i}", story=f"s{i}", text=f"Ferry crews strike {i} times")]),
                           Actor(name="t"))

    def segments() -> int:
        conn = sq.connect(db_path)
        try:
            return conn.execute("SELECT count(*) FROM search_story_data WHERE id > 10").fetchone()[0]
        finally:
            conn.close()

    async def state() -> tuple:
        r = corpus.reader
        hits = Matcher(r).match("harbour ferry strike number 7 over pay", None, top=5, threshold=0).hits
        return r.version(), len(await corpus.history(0, 100)), [h.story_id for h in hits]

    before_segments, before = segments(), await state()
    await corpus.optimize_story_index()
    assert segments() < before_segments
    assert await state() == before and before[2][:1] == ["s7"]
    conn = sq.connect(db_path)
    try:
        conn.execute("INSERT INTO search_story(search_story, rank) VALUES('integrity-check', 1)")
    finally:
        conn.close()


def test_stored_articles_read_back_as_validated_ones(tmp_path) -> None:
    """row_article skips validation for stored rows (a report's reads cleaned every text again): it must build the
    same Article that validating the row gives, for every article of the seed corpus and odd stored values."""
    import sqlite3

    from bot.cli import prepare
    from storage.reader import _validated_article, row_article

    path = tmp_path / "s.db"
    prepare(path)
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    rows = conn.execute("SELECT * FROM articles").fetchall()
    assert len(rows) == 5
    for r in rows:
        assert row_article(r) == _validated_article(r)
        assert row_article(r).model_dump() == _validated_article(r).model_dump()
    # A published value not in the stored date form is validated as before (and refused the same way).
    conn.execute("UPDATE articles SET published = '2026-06-01T00:00:00', role = 'background' WHERE rowid = 1")
    r = conn.execute("SELECT * FROM articles WHERE rowid = 1").fetchone()
    assert row_article(r) == _validated_article(r) and str(row_article(r).published) == "2026-06-01"
    conn.execute("UPDATE articles SET role = 'nonsense' WHERE rowid = 1")
    r = conn.execute("SELECT * FROM articles WHERE rowid = 1").fetchone()
    with pytest.raises(ValueError, match="role"):
        row_article(r)
    conn.close()
