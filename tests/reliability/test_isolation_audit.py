"""Abuse at the storage level: one server cannot read or change another's corpus through any write (apply, remove,
rate, undo, upsert_question, upsert_position, hide, set_autoreply), guessed id or import; every change is audited
with its actor; undo restores exactly the state before (table dumps), even for random sequences of changes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.matching import Matcher
from bot.models import Article, Claim, CorpusFile, Entity, Evidence, Position, Question, RatingEntry, Story
from storage.corpus import Actor, Corpus, CorpusError
from tests.reliability.helpers import A, B, OWNER, audit_rows, small_file, table_dump

A_CHANNEL = 7001


async def _setup(path: Path) -> Corpus:
    """Global corpus "g", server A's corpus "a" (story, article, claim, outlet, question, position, rating, hidden
    global story, auto-reply channel)."""
    c = await Corpus.open(path)
    await c.apply(small_file("g"), OWNER)
    await c.apply(small_file("h"), OWNER)
    await c.apply(small_file("a"), A)
    await c.upsert_question("a-story", Question(id="a-q", text="When?", positions=[
        Position(id="a-p", statement="Monday", articles=["a-a1"], evidence=[Evidence(article="a-a1", quote="Monday")])]), A)
    await c.upsert_question("g-story", Question(id="a-gq", text="Where?", positions=[
        Position(id="a-gp", statement="Here", articles=["g-a1"])]), A)
    await c.rate_outlet("g-outlet", "factual_record", RatingEntry(value="low", basis="A's view"), A)
    await c.hide_story("h-story", True, A)
    await c.set_autoreply(A.guild_id, A_CHANNEL, enabled=True, actor=A)
    return c


def _b_attempts():
    """Everything server B might try against server A's rows; each must be refused."""
    a = small_file("a")
    return [
        ("apply: reuse A's story/article/claim/outlet ids", lambda c: c.apply(a, B)),
        ("apply: only A's outlet id", lambda c: c.apply(CorpusFile(outlets=a.outlets), B)),
        ("apply: article on A's story", lambda c: c.apply(CorpusFile(articles=[
            Article(id="b-x", story="a-story", outlet="g-outlet", text="guess")]), B)),
        ("apply: claim citing A's article", lambda c: c.apply(CorpusFile(claims=[
            Claim(id="b-c", story="g-story", text="guess", articles=["a-a1"])]), B)),
        ("apply: own story with A's question id", lambda c: c.apply(CorpusFile(stories=[
            Story(id="b-s", title="B", questions=[Question(id="a-q", text="mine?")])]), B)),
        ("apply: own story with A's position id", lambda c: c.apply(CorpusFile(stories=[
            Story(id="b-s", title="B", questions=[Question(id="b-q", text="?", positions=[
                Position(id="a-p", statement="mine")])])]), B)),
        ("apply: position citing A's article", lambda c: c.apply(CorpusFile(stories=[
            Story(id="b-s", title="B", questions=[Question(id="b-q", text="?", positions=[
                Position(id="b-p", statement="x", articles=["a-a1"])])])]), B)),
        *[(f"remove A's {k}", (lambda k, i: lambda c: c.remove(k, i, B))(k, i)) for k, i in [
            ("story", "a-story"), ("article", "a-a1"), ("claim", "a-c1"), ("question", "a-q"), ("position", "a-p"),
            ("outlet", "a-outlet"), ("question", "a-gq"), ("position", "a-gp")]],
        ("remove the global story", lambda c: c.remove("story", "g-story", B)),
        ("rate A's outlet", lambda c: c.rate_outlet("a-outlet", "bias", RatingEntry(value="x"), B)),
        ("question on A's story", lambda c: c.upsert_question("a-story", Question(id="b-q", text="?"), B)),
        ("A's question id on a global story", lambda c: c.upsert_question("g-story", Question(id="a-gq", text="?"), B)),
        ("position on A's question", lambda c: c.upsert_position("a-q", Position(id="b-p", statement="x"), B)),
        ("position on A's question on a global story", lambda c: c.upsert_position(
            "a-gq", Position(id="b-p", statement="x"), B)),
        ("A's position id on a global question", lambda c: c.upsert_position(
            "a-gq", Position(id="a-gp", statement="x"), B)),
        ("hide A's story", lambda c: c.hide_story("a-story", True, B)),
        ("take A's auto-reply channel", lambda c: c.set_autoreply(B.guild_id, A_CHANNEL, enabled=False)),
    ]


async def test_another_server_cannot_change_anything(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    c = await _setup(path)
    try:
        before = table_dump(path, with_audit=True)
        refused = []
        for name, attempt in _b_attempts():
            try:
                await attempt(c)
            except CorpusError:
                refused.append(name)
            assert table_dump(path, with_audit=True) == before, name
        assert refused == [n for n, _ in _b_attempts()]
        assert await c.undo(B) is None  # B has nothing to undo, and cannot undo A's changes
        assert table_dump(path, with_audit=True) == before
        assert await c.history(B.guild_id) == []
    finally:
        await c.close()


async def test_guessed_ids_reveal_nothing_to_another_server(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    c = await _setup(path)
    try:
        r = c.reader
        for guild in (B.guild_id, None):
            assert r.story("a-story", guild) is None and r.bundle("a-story", guild) is None
            assert r.article("a-a1", guild) is None and r.articles("a-story", guild) == []
            assert r.claims("a-story", guild) == [] and r.outlet("a-outlet", guild) is None
            assert r.outlet_by_domain("apaper.example", guild) is None
            assert r.article_by_canonical_url("https://apaper.example/bus-lanes", guild) is None
            assert r.search_stories("a-", guild) == []
            assert r.rating("g-outlet", guild) is None  # A's rating of a global outlet is A's alone
            assert all(x.story_id != "a-story" for x in r.story_candidates('"bus"', guild))
            assert all(x.story_id != "a-story" for x in r.passage_candidates('"bus"', guild))
            assert "h-story" not in r.hidden_stories(guild)
            g_story = r.story("g-story", guild)
            assert g_story is not None and [q.id for q in g_story.questions] == []
        assert r.rating("g-outlet", A.guild_id).factual_record.value == "low"
        m = Matcher(r)
        hits = m.match("The council approved bus lanes. https://apaper.example/bus-lanes", B.guild_id, threshold=0).hits
        assert "a-story" not in {h.story_id for h in hits}
        assert "a-story" in {h.story_id for h in m.match("https://apaper.example/bus-lanes", A.guild_id).hits}
        exported = await c.export(B.guild_id)
        assert exported.stories == [] and exported.articles == [] and exported.claims == [] and exported.outlets == []
        assert not set((await c.autoreply_channels(B.guild_id)))
    finally:
        await c.close()


async def test_typo_corrections_do_not_reveal_another_servers_words(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    c = await Corpus.open(path)
    try:
        await c.apply(small_file("g"), OWNER)
        secret = CorpusFile(stories=[Story(id="a-secret", title="Confidential Quarantellium merger talks",
                                           entities=[Entity(id="q", name="Quarantellium Holdings"),
                                                     Entity(id="z", name="Zorblatt")], topic_terms=["merger"])],
                            claims=[Claim(id="a-secret-c", story="a-secret", text="Quarantellium will merge with Zorblatt")])
        await c.apply(secret, A)
        hits = Matcher(c.reader).match("The council approved bus lanes quarantelium", B.guild_id, threshold=0).hits
        assert hits and not any("quarantellium" in w for h in hits for w in h.why)
    finally:
        await c.close()


async def test_every_change_is_audited_with_its_actor(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    c = await _setup(path)
    try:
        start = len(audit_rows(path))
        mod = Actor(guild_id=A.guild_id, user_id=424242, name="Mallory#0001 @everyone")
        ops = [
            ("import", lambda: c.apply(small_file("z"), mod)),
            ("question", lambda: c.upsert_question("z-story", Question(id="z-q", text="?"), mod)),
            ("position", lambda: c.upsert_position("z-q", Position(id="z-p", statement="s"), mod)),
            ("rate", lambda: c.rate_outlet("z-outlet", "flag:satire", RatingEntry(value="yes"), mod)),
            ("hide", lambda: c.hide_story("g-story", True, mod)),
            ("unhide", lambda: c.hide_story("g-story", False, mod)),
            ("remove", lambda: c.remove("claim", "z-c1", mod)),
            ("settings", lambda: c.set_settings(A.guild_id, threshold=70.0, actor=mod)),
            ("autoreply", lambda: c.set_autoreply(A.guild_id, A_CHANNEL, enabled=False, actor=mod)),
            ("undo", lambda: c.undo(mod)),
        ]
        for action, op in ops:
            await op()
            row = audit_rows(path)[-1]
            assert row[1:5] == (A.guild_id, 424242, "Mallory#0001 @everyone", action), row
        assert len(audit_rows(path)) == start + len(ops)
        history = await c.history(A.guild_id, limit=100)
        assert {h.actor_id for h in history} == {A.user_id, 424242}
    finally:
        await c.close()


# -- undo restores exactly, for random sequences of changes ------------------------------------------------------


def _ops():
    """Changes server A may make (some of which fail, which must change nothing)."""
    return {
        "edit-story": lambda c, k: c.apply(CorpusFile(stories=[
            small_file("a").stories[0].model_copy(update={"title": f"Edited title {k}", "summary": f"S {k}"})]), A),
        "new-corpus": lambda c, k: c.apply(small_file(f"n{k}"), A),
        "article-on-global": lambda c, k: c.apply(CorpusFile(articles=[
            Article(id=f"a-g{k}", story="g-story", outlet="a-outlet", text=f"Extra report {k} on the bus lanes.")]), A),
        "cross-claim": lambda c, k: c.apply(CorpusFile(claims=[
            Claim(id=f"a-x{k}", story="a-story", text=f"Cross claim {k}", articles=["a-a1", "g-a1"])]), A),
        "global-claim": lambda c, k: c.apply(CorpusFile(claims=[
            Claim(id=f"a-gc{k}", story="g-story", text=f"Global claim {k}", articles=["a-a1"])]), A),
        "question-on-global": lambda c, k: c.upsert_question("g-story", Question(id="a-gq", text=f"Where {k}?", positions=[
            Position(id="a-gp", statement=f"There {k}", articles=["a-a1", "g-a1"],
                     evidence=[Evidence(article="a-a1", quote="bus")])]), A),
        "position": lambda c, k: c.upsert_position("a-q", Position(id=f"a-p{k % 2}", statement=f"P {k}",
                                                                      articles=["a-a1"]), A),
        "rate-global": lambda c, k: c.rate_outlet("g-outlet", "bias", RatingEntry(value=f"b{k}"), A),
        "clear-rating": lambda c, k: c.rate_outlet("g-outlet", "factual_record", None, A),
        "flag-own": lambda c, k: c.rate_outlet("a-outlet", "flag:satire", RatingEntry(value="yes"), A),
        "hide-global": lambda c, k: c.hide_story("g-story", bool(k % 2), A),
        "remove-article": lambda c, k: c.remove("article", "a-a1", A),
        "remove-claim": lambda c, k: c.remove("claim", "a-c1", A),
        "remove-story": lambda c, k: c.remove("story", "a-story", A),
        "remove-question": lambda c, k: c.remove("question", "a-q", A),
        "remove-position": lambda c, k: c.remove("position", "a-gp", A),
        "remove-outlet": lambda c, k: c.remove("outlet", "a-outlet", A),
        "settings": lambda c, k: c.set_settings(A.guild_id, threshold=50.0 + k, ephemeral=bool(k % 2), actor=A),
        "autoreply-own": lambda c, k: c.set_autoreply(A.guild_id, A_CHANNEL, enabled=bool(k % 2), cooldown_s=k, actor=A),
        "autoreply-new": lambda c, k: c.set_autoreply(A.guild_id, 8000 + k % 2, enabled=True, threshold=60.0 + k, actor=A),
    }


OPS = _ops()


def _guild_rows(path: Path, guild: int) -> dict[str, list[str]]:
    """The rows one server owns (tables with a guild_id column)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = {}
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'search%' "
                                    "AND name NOT LIKE 'sqlite_%' AND name NOT IN ('audit_log', 'feedback')"):
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({name})")]
            if "guild_id" in cols:
                out[name] = sorted(map(repr, conn.execute(f"SELECT * FROM {name} WHERE guild_id = ?", (guild,))))  # noqa: S608
        return out
    finally:
        conn.close()


def _run_sequence(tmp: Path, names: list[str]) -> None:
    async def go() -> None:
        path = tmp / "seq.db"
        path.unlink(missing_ok=True)
        c = await _setup(path)
        try:
            await c.apply(small_file("b"), B)  # B's rows must survive everything A does and undoes
            b_rows = _guild_rows(path, B.guild_id)
            stack = [table_dump(path)]
            for k, name in enumerate(names):
                n_audit = len(audit_rows(path))
                try:
                    await OPS[name](c, k)
                except CorpusError:
                    assert table_dump(path) == stack[-1], f"failed {name} changed the corpus"
                    assert len(audit_rows(path)) == n_audit, f"failed {name} was audited"
                    continue
                assert len(audit_rows(path)) == n_audit + 1, name
                stack.append(table_dump(path))
            while len(stack) > 1:
                stack.pop()
                entry = await c.undo(A)
                assert entry is not None
                dump = table_dump(path)
                for table in stack[-1]:
                    assert dump[table] == stack[-1][table], (names, entry.action, entry.target_id, table)
            assert _guild_rows(path, B.guild_id) == b_rows
        finally:
            await c.close()

    asyncio.run(go())


@settings(max_examples=8, deadline=None)
@given(st.lists(st.sampled_from(sorted(OPS)), min_size=1, max_size=7))
def test_undo_restores_exactly_after_any_sequence(tmp_path_factory, names: list[str]) -> None:
    _run_sequence(tmp_path_factory.mktemp("seq"), names)


@pytest.mark.parametrize("names", [
    ["cross-claim", "question-on-global", "remove-article"],  # claims/positions citing the removed article
    ["global-claim", "question-on-global", "remove-story"],
    ["article-on-global", "remove-outlet", "edit-story", "remove-story"],
    ["rate-global", "clear-rating", "flag-own", "hide-global", "hide-global"],
    sorted(OPS),
])
def test_undo_restores_exactly_fixed_sequences(tmp_path: Path, names: list[str]) -> None:
    """Regression (first two): removing an article or story that this server's claims or positions in other stories
    cite lost those links on undo (the snapshot covered the removed article's story only)."""
    _run_sequence(tmp_path, names)
