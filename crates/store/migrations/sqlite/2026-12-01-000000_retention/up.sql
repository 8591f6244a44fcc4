-- Bounded retention (issue 12).
-- When the issue last received an event (commit time of its latest batch, not
-- the client's timestamp): issues idle for long are aged out by this.
-- Existing issues: the later of their creation and their last event time.
ALTER TABLE issues ADD COLUMN last_received_at BIGINT NOT NULL DEFAULT 0;
UPDATE issues SET last_received_at = MAX(created_at, last_seen);
CREATE INDEX issues_idle ON issues(last_received_at);
-- Rows of the issue's tag index (issue_tags), capped at ingest.
ALTER TABLE issues ADD COLUMN tag_count BIGINT NOT NULL DEFAULT 0;
UPDATE issues SET tag_count = (SELECT COUNT(*) FROM issue_tags t WHERE t.issue_id = issues.id);
-- The kept events (first of an issue, regressions), oldest first, evicted only
-- after every other event of the project when the count cap requires it.
CREATE INDEX events_kept ON events(project_id, id) WHERE keep = TRUE;
-- Alerts by age, for pruning old delivered alerts.
CREATE INDEX alerts_age ON alerts(created_at, id);
