-- The video pipeline's projection: what the API shows of each video, written by the workflow's
-- hook in the engine's own transactions, so it never disagrees with the journal.

CREATE TYPE video_status AS ENUM (
    'queued',
    'planning',
    'storyboarding',
    'generating_chunks',
    'stitching',
    'adding_music',
    'complete',
    'failed',
    'cancelled'
);

CREATE TABLE videos (
    -- The video's id is its run's id. The key is checked at commit, so the video row and its
    -- run can be written in either order within the admitting transaction.
    id             uuid PRIMARY KEY REFERENCES runs (id) DEFERRABLE INITIALLY DEFERRED,
    prompt         text         NOT NULL,
    request        jsonb        NOT NULL,
    status         video_status NOT NULL DEFAULT 'queued',
    -- 0 to 100; NULL once failed.
    progress       smallint              DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    current_phase  text,
    spec           jsonb,
    -- USD per phase done.
    cost_breakdown jsonb        NOT NULL DEFAULT '{}',
    -- Media keys (URLs are made from them when a response is written).
    storyboard_keys text[]      NOT NULL DEFAULT '{}',
    chunk_keys     text[]       NOT NULL DEFAULT '{}',
    stitched_key   text,
    final_key      text,
    error          text,
    created_at     timestamptz  NOT NULL DEFAULT now(),
    updated_at     timestamptz  NOT NULL DEFAULT now(),
    completed_at   timestamptz
);

CREATE INDEX videos_created_at ON videos (created_at DESC, id DESC);
CREATE INDEX videos_status_created_at ON videos (status, created_at DESC, id DESC);
