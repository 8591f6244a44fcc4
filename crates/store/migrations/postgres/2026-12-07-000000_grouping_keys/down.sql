ALTER TABLE projects DROP COLUMN stacktrace_rules;
ALTER TABLE projects DROP COLUMN fingerprint_rules;
ALTER TABLE projects DROP COLUMN grouping_transition_until;
ALTER TABLE projects DROP COLUMN grouping_transition_from;
-- Tombstones have no events left (they moved to their target).
DELETE FROM issues WHERE merged_into IS NOT NULL;
ALTER TABLE issues DROP COLUMN merged_into;
ALTER TABLE events DROP COLUMN user_hash;
ALTER TABLE events DROP COLUMN grouping_key;
DROP TABLE grouping_keys;
