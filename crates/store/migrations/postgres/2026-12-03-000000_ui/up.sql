-- What the web UI needs (issue 14). Every timestamp is a BIGINT of Unix
-- milliseconds (UTC).

-- Users (email stored lower-cased, so unique case-insensitively) and their
-- sessions (the hash of the cookie's token, never the token).
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- An issue's activity log: manual status changes and regressions.
CREATE TABLE activity (
    id BIGSERIAL PRIMARY KEY,
    issue_id BIGINT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    actor TEXT,
    detail TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX activity_issue ON activity(issue_id, id);

-- Events received per hour (by receive time), kept by the ingest batch; hours
-- older than the retention's count_max_age (90 days) are pruned.
CREATE TABLE issue_counts (
    issue_id BIGINT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    bucket_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (issue_id, bucket_start)
);
CREATE INDEX issue_counts_bucket ON issue_counts(bucket_start);

CREATE TABLE project_counts (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    bucket_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (project_id, bucket_start)
);
CREATE INDEX project_counts_bucket ON project_counts(bucket_start);

-- Tag value counts: events of the issue with this value among their own tags
-- (0 for a value indexed only from the level, release or environment). Rows
-- indexed before this was counted start at 1.
ALTER TABLE issue_tags ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
-- Events of the issue that carried the key (also with values over the tag
-- index cap: the "other" of a distribution). Only keys with an indexed value.
CREATE TABLE issue_tag_keys (
    issue_id BIGINT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    tag_key TEXT NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (issue_id, tag_key)
);
INSERT INTO issue_tag_keys (issue_id, tag_key, total)
    SELECT issue_id, tag_key, SUM(count) FROM issue_tags GROUP BY issue_id, tag_key;

-- Distinct users: exact (one row per SHA-256 of a user identifier) up to 1000
-- per issue, then a HyperLogLog sketch (1024 one-byte registers) in
-- issues.user_sketch; issues.user_count is the count or the estimate.
CREATE TABLE issue_users (
    issue_id BIGINT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    user_hash TEXT NOT NULL,
    PRIMARY KEY (issue_id, user_hash)
);
ALTER TABLE issues ADD COLUMN user_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE issues ADD COLUMN user_sketch BYTEA;

-- Releases of the first event and of the latest one. Existing issues: from the
-- stored event at first_seen / last_seen if there is one (an index lookup per
-- issue), else NULL.
ALTER TABLE issues ADD COLUMN first_release TEXT;
ALTER TABLE issues ADD COLUMN last_release TEXT;
UPDATE issues SET
    first_release = (SELECT e.release_name FROM events e WHERE e.issue_id = issues.id AND e.occurred_at = issues.first_seen ORDER BY e.id LIMIT 1),
    last_release = (SELECT e.release_name FROM events e WHERE e.issue_id = issues.id AND e.occurred_at = issues.last_seen ORDER BY e.id DESC LIMIT 1);
