-- Clients' images: the product photos and logos their videos show. The image itself is a PNG in
-- the media store, under `media_key`, outside the engine's artifacts (no cleaner removes it).
CREATE TABLE assets (
    id         uuid PRIMARY KEY,
    owner      uuid        NOT NULL REFERENCES api_keys (id),
    kind       text        NOT NULL CHECK (kind IN ('product', 'logo')),
    media_key  text        NOT NULL,
    width      integer     NOT NULL CHECK (width > 0),
    height     integer     NOT NULL CHECK (height > 0),
    bytes      bigint      NOT NULL CHECK (bytes > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- When the client deleted it: from then on nothing reads or uses it.
    deleted_at timestamptz
);
CREATE INDEX assets_owner_created_at ON assets (owner, created_at DESC);
