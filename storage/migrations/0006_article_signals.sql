-- Crosscheck schema v6: each article's own quality signals, kept so that a report need not compute them.
--
-- A report computes every source's signals from its article's text (bot/signals.py): ~0.5 us per character, most
-- of the time of a story's first /check (a 6 KB article takes 3 ms).  `own` holds what bot.signals.own_signals
-- gives for the article (every signal but the date comparison with the other sources, which a report adds, and the
-- article's event dates), as JSON (bot.signals.dump_own).  Derived data: written only by bot/precompute.py (in the
-- background, after the writes that made the articles), and used only while `key` (bot.signals.signals_key: the
-- fields the signals read, and the signal code itself) still matches the article; otherwise a report computes
-- them as before.  Not exported, not audited; a deleted article takes its row along.

CREATE TABLE article_signals (
    article_id TEXT PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    own        TEXT NOT NULL
);

-- A written article's kept signals go with the old text: the precompute then finds the article among those without
-- any (by the id index, without reading article text), so a start with everything kept costs a scan of ids.
CREATE TRIGGER articles_signals_stale AFTER UPDATE OF title, text, language, published, author ON articles BEGIN
    DELETE FROM article_signals WHERE article_id = OLD.id;
END;
