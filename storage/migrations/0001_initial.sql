-- Crosscheck schema v1.  guild_id 0 is the global corpus; any other value is the Discord server that owns the row.

CREATE TABLE outlets (
    id          TEXT PRIMARY KEY,
    guild_id    INTEGER NOT NULL DEFAULT 0,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL DEFAULT 'unknown',
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);

CREATE TABLE outlet_domains (
    domain      TEXT NOT NULL,
    guild_id    INTEGER NOT NULL DEFAULT 0,
    outlet_id   TEXT NOT NULL REFERENCES outlets(id) ON DELETE CASCADE,
    PRIMARY KEY (domain, guild_id)
);
CREATE INDEX outlet_domains_outlet ON outlet_domains(outlet_id);

-- One row per (outlet, server): the server's rating as JSON (bot.models.OutletRating); guild 0 is the default.
CREATE TABLE outlet_ratings (
    outlet_id   TEXT NOT NULL REFERENCES outlets(id) ON DELETE CASCADE,
    guild_id    INTEGER NOT NULL DEFAULT 0,
    rating      TEXT NOT NULL,
    PRIMARY KEY (outlet_id, guild_id)
);

CREATE TABLE stories (
    id          TEXT PRIMARY KEY,
    guild_id    INTEGER NOT NULL DEFAULT 0,
    title       TEXT NOT NULL,
    summary     TEXT NOT NULL DEFAULT '',
    first_seen  TEXT,
    last_seen   TEXT,
    topic_terms TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX stories_guild ON stories(guild_id);

CREATE TABLE entities (
    story_id    TEXT NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT 'other',
    aliases     TEXT NOT NULL DEFAULT '[]',
    core        INTEGER NOT NULL DEFAULT 1,
    ord         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (story_id, id)
);

CREATE TABLE articles (
    id            TEXT PRIMARY KEY,
    story_id      TEXT NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
    outlet_id     TEXT NOT NULL REFERENCES outlets(id),
    guild_id      INTEGER NOT NULL DEFAULT 0,
    title         TEXT NOT NULL DEFAULT '',
    url           TEXT,
    canonical_url TEXT,
    published     TEXT,
    author        TEXT,
    language      TEXT NOT NULL DEFAULT 'en',
    role          TEXT NOT NULL DEFAULT 'report',
    text          TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX articles_story ON articles(story_id);
CREATE INDEX articles_outlet ON articles(outlet_id);
CREATE INDEX articles_canonical_url ON articles(canonical_url);

CREATE TABLE claims (
    id          TEXT PRIMARY KEY,
    story_id    TEXT NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
    guild_id    INTEGER NOT NULL DEFAULT 0,
    text        TEXT NOT NULL,
    verdict     TEXT,
    claimant    TEXT,
    reviewed_by TEXT,
    review_url  TEXT,
    review_date TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX claims_story ON claims(story_id);

CREATE TABLE claim_articles (
    claim_id    TEXT NOT NULL REFERENCES claims(id) ON DELETE CASCADE,
    article_id  TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    PRIMARY KEY (claim_id, article_id)
);

CREATE TABLE questions (
    id          TEXT PRIMARY KEY,
    story_id    TEXT NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
    guild_id    INTEGER NOT NULL DEFAULT 0,
    text        TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT 'other',
    ord         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX questions_story ON questions(story_id);

-- Positions carry their articles and evidence as JSON (bot.models.Position): they are always read and written whole.
CREATE TABLE positions (
    id          TEXT PRIMARY KEY,
    question_id TEXT NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
    guild_id    INTEGER NOT NULL DEFAULT 0,
    statement   TEXT NOT NULL,
    articles    TEXT NOT NULL DEFAULT '[]',
    evidence    TEXT NOT NULL DEFAULT '[]',
    status      TEXT NOT NULL DEFAULT 'accepted',
    ord         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX positions_question ON positions(question_id);

-- Full-text index over what a message can match: story titles and summaries, claims, article titles and passages.
-- Kept in sync by storage/corpus.py (same transaction as the row it indexes).
CREATE VIRTUAL TABLE search USING fts5(
    text,
    kind UNINDEXED,
    ref_id UNINDEXED,
    story_id UNINDEXED,
    guild_id UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TABLE hidden_stories (
    guild_id    INTEGER NOT NULL,
    story_id    TEXT NOT NULL,
    PRIMARY KEY (guild_id, story_id)
);

CREATE TABLE guild_settings (
    guild_id          INTEGER PRIMARY KEY,
    moderator_role_id INTEGER,
    threshold         REAL,
    ephemeral         INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE autoreply_channels (
    channel_id  INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1,
    threshold   REAL,
    cooldown_s  INTEGER NOT NULL DEFAULT 600
);
CREATE INDEX autoreply_guild ON autoreply_channels(guild_id);

CREATE TABLE feedback (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id    INTEGER NOT NULL,
    channel_id  INTEGER,
    user_id     INTEGER NOT NULL,
    story_id    TEXT,
    query       TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT 'not_relevant',
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX feedback_guild ON feedback(guild_id, created_at);

-- Every corpus change: who, what, when, and the state before and after (JSON snapshots) so undo is exact.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id    INTEGER NOT NULL,
    actor_id    INTEGER NOT NULL DEFAULT 0,
    actor_name  TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    before      TEXT,
    after       TEXT,
    undone      INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX audit_guild ON audit_log(guild_id, id);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Bumped on every corpus change so that in-memory indexes know when to reload.
CREATE TABLE corpus_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO corpus_version (id, version) VALUES (1, 0);
