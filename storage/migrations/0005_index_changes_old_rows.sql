-- Crosscheck schema v5: each entry of the change log keeps the story's full-text rows as they were before the change.
--
-- With v4 a running matcher updated its in-memory index from the log but read the story index's whole vocabulary
-- again for the document frequencies (0.4-0.5 s at 100k stories, most of an update).  With the rows a story had
-- before its first change since the index was made, and the rows it has now, the matcher takes the first's terms
-- away and adds the second's (bot.matching._Index.updated): the cost follows the change, not the corpus.
-- `old_rows`: a JSON array, one string per row of `search_story` the story had (title, a newline, body); '[]' when
-- it had none (a new story).  NULL in entries made before v5: an update that meets one reads the whole vocabulary.
-- Written by storage/corpus.py (Corpus._reindex, before it deletes the rows) and by the trigger below.

ALTER TABLE index_changes ADD COLUMN old_rows TEXT;

DROP TRIGGER stories_search_cleanup;
CREATE TRIGGER stories_search_cleanup AFTER DELETE ON stories BEGIN
    INSERT INTO index_changes (story_id, old_rows) VALUES (OLD.id, (
        SELECT json_group_array(coalesce(title, '') || char(10) || coalesce(body, '')) FROM search_story
        WHERE rowid IN (SELECT row FROM search_rows WHERE fts = 'search_story' AND story_id = OLD.id)));
    DELETE FROM search_passage WHERE rowid IN (SELECT row FROM search_rows WHERE fts = 'search_passage' AND story_id = OLD.id);
    DELETE FROM search_story WHERE rowid IN (SELECT row FROM search_rows WHERE fts = 'search_story' AND story_id = OLD.id);
    DELETE FROM search_rows WHERE story_id = OLD.id;
END;
