DROP INDEX alerts_age;
DROP INDEX events_kept;
DROP INDEX issues_idle;
ALTER TABLE issues DROP COLUMN tag_count;
ALTER TABLE issues DROP COLUMN last_received_at;
