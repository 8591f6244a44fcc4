-- One-time links of the web UI (issue 14): invitations (the invitee picks a
-- password and becomes a user with the given role) and password resets (the
-- user picks a new password; their sessions end). Only the SHA-256 of the
-- link's token is kept. A token is usable while used_at is NULL and
-- expires_at (Unix milliseconds, like every timestamp) is in the future; at most
-- one pending token per kind and email. Expired rows are pruned.
CREATE TABLE user_tokens (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX user_tokens_email ON user_tokens(kind, email);
CREATE INDEX user_tokens_user ON user_tokens(user_id);
CREATE INDEX user_tokens_creator ON user_tokens(created_by);
CREATE INDEX user_tokens_expiry ON user_tokens(expires_at);
