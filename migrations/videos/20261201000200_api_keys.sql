-- Clients' API keys. A key is who owns videos and what limits apply to them; its secrets are what
-- clients send. Only a secret's SHA-256 is kept. Rotating a key adds a secret and gives the old
-- ones an end; revoking or expiring the key ends them all.
CREATE TABLE api_keys (
    id                  uuid PRIMARY KEY,
    name                text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- Limits; the server's defaults apply where NULL (no monthly cap by default).
    monthly_budget_usd  double precision CHECK (monthly_budget_usd >= 0),
    max_active_videos   integer     CHECK (max_active_videos > 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz,
    revoked_at          timestamptz
);

-- The built-in key that owns the videos made while keys are off.
INSERT INTO api_keys (id, name) VALUES ('00000000-0000-0000-0000-000000000000', 'local');

CREATE TABLE api_key_secrets (
    -- The public part of the secret, after its `slate_` prefix: how it is found and named.
    lookup     text PRIMARY KEY,
    key_id     uuid        NOT NULL REFERENCES api_keys (id),
    sha256     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Set when the key is rotated: the end of the overlap.
    expires_at timestamptz
);
CREATE INDEX api_key_secrets_key_id ON api_key_secrets (key_id);

-- Every video belongs to a key. The default keeps processes of the previous release (which know
-- no keys) admitting videos during a rolling upgrade. What a video may still spend is reserved at
-- admission (from the estimate) and raised before a phase spends more; what it spent only grows,
-- replays included.
ALTER TABLE videos
    ADD COLUMN owner        uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000'
                            REFERENCES api_keys (id),
    ADD COLUMN reserved_usd double precision NOT NULL DEFAULT 0,
    ADD COLUMN spent_usd    double precision NOT NULL DEFAULT 0;
UPDATE videos SET spent_usd = (SELECT coalesce(sum(value::float8), 0)
                               FROM jsonb_each_text(cost_breakdown));
CREATE INDEX videos_owner_created_at ON videos (owner, created_at DESC, id DESC);

-- The secret media URLs are signed with (HMAC-SHA-256), one for every process on the database:
-- the first process to need it writes it.
CREATE TABLE media_url_secret (
    id     boolean PRIMARY KEY DEFAULT true CHECK (id),
    secret bytea   NOT NULL CHECK (length(secret) >= 32)
);
