-- Crosscheck schema v3: article passages get their own full-text index, and the per-line `search` table goes.
--
-- Since v2 the matcher ranks stories in `search_story` (titles, summaries, claims and article titles, per story and
-- server); the per-line rows of `search` for those same texts were written on every import and read by nothing but
-- a typo-correction visibility check (now on `search_story`).  Article passages were the one thing only `search`
-- held: they move to `search_passage`, with the same rowids (so `search_rows` stays valid, renamed 'search_passage').
--
-- detail=none: the index records which rows hold a term, not where in them (nor in which column: `text` is the
-- only indexed one).  Passages are only searched with single terms (Matcher: OR / "two of these terms" expressions
-- of stems), never phrases, so nothing is lost but bm25's term counts inside one passage (a passage holding a term
-- once or three times scores the same); the index is smaller and an import fills it faster (about a third less
-- time than detail=full for this table).  A passage is `ref_id`'s article text, packed as storage.corpus.passages.

CREATE VIRTUAL TABLE search_passage USING fts5(
    text,
    ref_id UNINDEXED,
    story_id UNINDEXED,
    guild_id UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2',
    detail = none
);

-- Merge segments 16 at a time instead of 4: an import into a large corpus spends less time re-merging the
-- index it adds to (about 5% of an import into 100,000 stories).  Passages are searched rarely (long pastes, when
-- the story index finds too few), so the extra segments a search may read cost little.
INSERT INTO search_passage (search_passage, rank) VALUES ('automerge', 16);

INSERT INTO search_passage (rowid, text, ref_id, story_id, guild_id)
SELECT rowid, text, ref_id, story_id, guild_id FROM search WHERE kind = 'passage';

DELETE FROM search_rows WHERE fts = 'search' AND row NOT IN (SELECT rowid FROM search_passage);
UPDATE search_rows SET fts = 'search_passage' WHERE fts = 'search';

DROP TRIGGER stories_search_cleanup;
CREATE TRIGGER stories_search_cleanup AFTER DELETE ON stories BEGIN
    DELETE FROM search_passage WHERE rowid IN (SELECT row FROM search_rows WHERE fts = 'search_passage' AND story_id = OLD.id);
    DELETE FROM search_story WHERE rowid IN (SELECT row FROM search_rows WHERE fts = 'search_story' AND story_id = OLD.id);
    DELETE FROM search_rows WHERE story_id = OLD.id;
END;

DROP TABLE search;
