-- Crosscheck schema v4: a log of the stories whose indexed text or facets changed, for the matcher's in-memory index.
--
-- A running matcher keeps an in-memory index of every story's facets (title, entities and their aliases, topic) and
-- of the story index's vocabulary.  Before v4 any change made it rebuild the whole index (seconds at 100k stories);
-- with this log it rebuilds only the stories changed since the last id it has seen (bot.matching._Index.updated).
-- Written by storage/corpus.py (Corpus._reindex: every story whose full-text rows it rewrites, in the transaction
-- of the change) and by the trigger below (a story deleted, with its rows); only the latest entries are kept (a
-- matcher that has fallen further behind than the oldest one rebuilds in full).

CREATE TABLE index_changes (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, even after the oldest entries are dropped
    story_id  TEXT NOT NULL
);

DROP TRIGGER stories_search_cleanup;
CREATE TRIGGER stories_search_cleanup AFTER DELETE ON stories BEGIN
    DELETE FROM search_passage WHERE rowid IN (SELECT row FROM search_rows WHERE fts = 'search_passage' AND story_id = OLD.id);
    DELETE FROM search_story WHERE rowid IN (SELECT row FROM search_rows WHERE fts = 'search_story' AND story_id = OLD.id);
    DELETE FROM search_rows WHERE story_id = OLD.id;
    INSERT INTO index_changes (story_id) VALUES (OLD.id);
END;
