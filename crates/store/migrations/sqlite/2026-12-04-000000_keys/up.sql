-- Revoked client keys (issue 15): a key revoked at some time (Unix
-- milliseconds) authenticates nothing any more but is kept for the record.
-- NULL: active.
ALTER TABLE project_keys ADD COLUMN revoked_at BIGINT;
