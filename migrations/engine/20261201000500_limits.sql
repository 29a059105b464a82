-- Limits by key: a step may name a key whose concurrency (attempts leased at once) and rate
-- (attempts started per second, a token bucket of token_buckets) every process respects. A
-- task carries the key of the step it is due at, so that claims count and pick by key.
ALTER TABLE tasks ADD COLUMN limit_key text;

CREATE INDEX tasks_limited_due ON tasks (limit_key, run_at)
    WHERE lease_owner IS NULL AND limit_key IS NOT NULL;
CREATE INDEX tasks_limited_leased ON tasks (limit_key)
    WHERE lease_owner IS NOT NULL AND limit_key IS NOT NULL;
