-- Installation-wide counters (the installation status): events accepted and
-- ingest requests refused by reason, added by every replica every few seconds
-- (what its in-process counters gained since its last save). One row per
-- bucket and counter: `resolution` is the bucket width in seconds, 3600 (the
-- hourly history, kept 30 days) or 60 (minutes, for the rate now, kept about
-- an hour); bucket_start is the bucket's start in Unix milliseconds, like
-- every timestamp. Not in usage_counters: that table is pruned after a day and
-- reloaded by the quotas at every start.
CREATE TABLE installation_counters (
    resolution BIGINT NOT NULL,
    bucket_start BIGINT NOT NULL,
    counter_name TEXT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (resolution, bucket_start, counter_name)
);
