-- Webhooks. A video may name a URL that hears of its review gates and its end; its later versions
-- keep it. Each event is delivered by a run of the `webhook` workflow, started in the transaction
-- that moves the video's status, and signed with its key's webhook secrets.
ALTER TABLE videos ADD COLUMN webhook_url text;

-- A key's webhook secrets: the current one (no end), and after a rotation the previous ones until
-- their overlap ends. Kept as they are: a signature needs the secret itself.
CREATE TABLE webhook_secrets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_id     uuid        NOT NULL REFERENCES api_keys (id),
    secret     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz
);
CREATE UNIQUE INDEX webhook_secrets_current ON webhook_secrets (key_id) WHERE expires_at IS NULL;
