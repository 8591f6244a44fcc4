-- One counter that every change to a project or its keys raises (issue 12): each
-- replica polls it and drops its key cache when it moves, so a revoked key or a
-- deleted project stops working everywhere within about a second.
CREATE TABLE key_version (
    id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO key_version (id, version) VALUES (1, 0);
