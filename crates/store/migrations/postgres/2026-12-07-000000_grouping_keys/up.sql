-- Issues with several grouping keys; merge and unmerge (issue 16). Every
-- timestamp is a BIGINT of Unix milliseconds (UTC).

-- Which issue each grouping key belongs to. An issue owns one or more keys
-- (its own `issues.grouping_key` among them); ingest looks an event's keys up
-- here in the event's order, the first one found decides the issue. `config`
-- is the grouping configuration that computed the key (opaque). The counters
-- are those of the events that joined the issue by this key (the first of
-- their keys found), so an issue's counters are the sums over its keys and an
-- unmerge can give each part exactly its own; first_seen/last_seen stay NULL
-- while no event joined by the key (it was only attached).
CREATE TABLE grouping_keys (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    grouping_key TEXT NOT NULL,
    issue_id BIGINT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    config TEXT NOT NULL,
    event_count BIGINT NOT NULL DEFAULT 0,
    first_seen BIGINT,
    last_seen BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, grouping_key)
);
CREATE INDEX grouping_keys_issue ON grouping_keys(issue_id);
-- One key per existing issue: its own, with its counters, tagged with the
-- project's grouping configuration as stored.
INSERT INTO grouping_keys (project_id, grouping_key, issue_id, config, event_count, first_seen, last_seen, created_at)
    SELECT i.project_id, i.grouping_key, i.id, p.grouping_strategy, i.event_count, i.first_seen, i.last_seen, i.created_at
    FROM issues i JOIN projects p ON p.id = i.project_id;

-- The key by which each event joined its issue (an unmerge moves the events
-- of the keys it moves), and the SHA-256 of its user (so an unmerge can
-- recount users; NULL for events stored before this migration).
ALTER TABLE events ADD COLUMN grouping_key TEXT;
ALTER TABLE events ADD COLUMN user_hash TEXT;
-- Runs ONCE, over every stored event (each row is rewritten: on a large
-- database this migration takes a while and the database file grows until
-- the space is reused). Events stored before had one key: their issue's.
UPDATE events SET grouping_key = (SELECT i.grouping_key FROM issues i WHERE i.id = events.issue_id);

-- A merged issue stays as a tombstone that redirects to the issue it was
-- merged into (its grouping_key is then `merged:<id>`, freeing the key); it is
-- left out of every list, count and search.
ALTER TABLE issues ADD COLUMN merged_into BIGINT;

-- Grouping settings of a project (opaque text to the store): the
-- configuration moved from during a transition and when the transition ends,
-- the fingerprint rules and the stack-trace rules.
ALTER TABLE projects ADD COLUMN grouping_transition_from TEXT;
ALTER TABLE projects ADD COLUMN grouping_transition_until BIGINT;
ALTER TABLE projects ADD COLUMN fingerprint_rules TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN stacktrace_rules TEXT NOT NULL DEFAULT '';
