ALTER TABLE project_keys DROP COLUMN revoked_at;
