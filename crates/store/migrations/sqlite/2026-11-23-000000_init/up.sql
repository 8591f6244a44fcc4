-- Periscope store schema. Every timestamp is a BIGINT of Unix milliseconds (UTC).
CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    stored_events BIGINT NOT NULL DEFAULT 0,
    quota_per_minute BIGINT,
    quota_per_hour BIGINT,
    quota_per_day BIGINT,
    max_events BIGINT,
    max_age_days BIGINT,
    grouping_strategy TEXT NOT NULL DEFAULT 'default'
);

CREATE TABLE project_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    public_key TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX project_keys_project ON project_keys(project_id);

CREATE TABLE issues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    grouping_key TEXT NOT NULL,
    title TEXT NOT NULL,
    culprit TEXT,
    level TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'unresolved',
    event_count BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    status_changed_at BIGINT,
    resolved_in_release TEXT,
    muted_until BIGINT,
    unmute_at_count BIGINT,
    grouping_explanation TEXT,
    UNIQUE (project_id, grouping_key)
);
CREATE INDEX issues_list ON issues(project_id, last_seen, id);
CREATE INDEX issues_status_list ON issues(project_id, status, last_seen, id);

CREATE TABLE issue_tags (
    issue_id BIGINT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    tag_key TEXT NOT NULL,
    tag_value TEXT NOT NULL,
    PRIMARY KEY (issue_id, tag_key, tag_value)
);

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    issue_id BIGINT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    event_id TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    level TEXT NOT NULL,
    title TEXT NOT NULL,
    culprit TEXT,
    release_name TEXT,
    environment TEXT,
    tags TEXT NOT NULL,
    keep BOOLEAN NOT NULL DEFAULT FALSE,
    payload_size BIGINT NOT NULL,
    payload BLOB NOT NULL,
    UNIQUE (project_id, event_id)
);
CREATE INDEX events_issue ON events(issue_id, occurred_at, id);
-- Partial: only the evictable events (not first or re-opening ones).
CREATE INDEX events_evict ON events(project_id, id) WHERE keep = FALSE;
CREATE INDEX events_age ON events(project_id, received_at);

CREATE TABLE destinations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX destinations_project ON destinations(project_id);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    issue_id BIGINT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    fanned_out BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX alerts_fanout ON alerts(fanned_out, id);
CREATE INDEX alerts_project ON alerts(project_id, id);
CREATE INDEX alerts_issue ON alerts(issue_id);

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id BIGINT NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    destination_id BIGINT NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT,
    last_attempt_at BIGINT,
    delivered_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (alert_id, destination_id)
);
CREATE INDEX deliveries_due ON deliveries(state, next_attempt_at);
CREATE INDEX deliveries_destination ON deliveries(destination_id);

CREATE TABLE usage_counters (
    usage_key TEXT NOT NULL,
    bucket_start BIGINT NOT NULL,
    usage_count BIGINT NOT NULL,
    PRIMARY KEY (usage_key, bucket_start)
);
CREATE INDEX usage_counters_bucket ON usage_counters(bucket_start);
