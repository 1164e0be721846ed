-- Crosscheck schema v2: a story-level full-text index for the matcher, and a map from stories to their index rows.
--
-- search_story: one row per (story, server that contributed text to it).  `title` is the story's title (on its
-- owner's row), `body` its summary, claims and article titles, one per line.  BM25 then ranks stories, not single
-- lines, with story-level document frequencies, over far fewer rows than `search`; a check reads its candidates'
-- text in the same query.  `terms` holds the stems of each `body` line (bot.text.content_terms, space-separated,
-- one line each, same order) so that a check does not tokenise its candidates again; '' where not computed (rows
-- made by this migration), and the matcher then computes them.  Passages stay in `search`.
-- search_rows: which rows of `search` and `search_story` belong to which story, so that re-indexing a story deletes
-- its rows by rowid instead of scanning a full-text table (story_id is UNINDEXED there).
-- Both are written only by storage/corpus.py (Corpus._reindex), in the transaction of the change they index.

CREATE VIRTUAL TABLE search_story USING fts5(
    title,
    body,
    terms UNINDEXED,
    story_id UNINDEXED,
    guild_id UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TABLE search_rows (
    fts       TEXT NOT NULL,      -- 'search' or 'search_story'
    row       INTEGER NOT NULL,   -- rowid in that table
    story_id  TEXT NOT NULL,
    PRIMARY KEY (fts, row)
) WITHOUT ROWID;
CREATE INDEX search_rows_story ON search_rows(story_id);

INSERT INTO search_rows (fts, row, story_id)
SELECT 'search', rowid, story_id FROM search WHERE story_id IS NOT NULL;

INSERT INTO search_story (title, body, terms, story_id, guild_id)
SELECT coalesce(max(CASE WHEN kind = 'story' THEN text END), ''),
       coalesce(group_concat(CASE WHEN kind != 'story' THEN replace(text, char(10), ' ') END, char(10)), ''),
       '',
       story_id,
       guild_id
FROM search
WHERE kind != 'passage' AND story_id IS NOT NULL
GROUP BY story_id, guild_id;

INSERT INTO search_rows (fts, row, story_id)
SELECT 'search_story', rowid, story_id FROM search_story;

-- A story removed by any path takes its index rows with it.
CREATE TRIGGER stories_search_cleanup AFTER DELETE ON stories BEGIN
    DELETE FROM search WHERE rowid IN (SELECT row FROM search_rows WHERE fts = 'search' AND story_id = OLD.id);
    DELETE FROM search_story WHERE rowid IN (SELECT row FROM search_rows WHERE fts = 'search_story' AND story_id = OLD.id);
    DELETE FROM search_rows WHERE story_id = OLD.id;
END;
