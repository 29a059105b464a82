-- Steering. A video may pause for its client's review, and has versions: each version is a run
-- and a row of this table (the first version's id is the video's; later versions are forks).

ALTER TYPE video_status ADD VALUE IF NOT EXISTS 'awaiting_review' BEFORE 'complete';
ALTER TYPE video_status ADD VALUE IF NOT EXISTS 'expired';

ALTER TABLE videos
    -- The video this row is a version of: its first version's id.
    ADD COLUMN video_id       uuid REFERENCES videos (id),
    ADD COLUMN version        integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    -- The version it was made from (none for the first).
    ADD COLUMN parent_version integer,
    -- What this version changed, as the API shows it (none for the first).
    ADD COLUMN change         jsonb,
    -- Whether this is the video's newest version: the one its listing, status and cancel follow.
    ADD COLUMN newest         boolean NOT NULL DEFAULT true,
    -- The review gates the client approved.
    ADD COLUMN approved       text[]  NOT NULL DEFAULT '{}',
    -- When the client deleted the video: from then on no listing shows it.
    ADD COLUMN deleted_at     timestamptz;
UPDATE videos SET video_id = id;
ALTER TABLE videos ALTER COLUMN video_id SET NOT NULL;
CREATE UNIQUE INDEX videos_video_id_version ON videos (video_id, version);
CREATE INDEX videos_owner_newest ON videos (owner, created_at DESC, id DESC)
    WHERE newest AND deleted_at IS NULL;

-- A row written without a video (a first version, or by a process of the previous release) is
-- its own video.
CREATE FUNCTION videos_own_video() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.video_id := coalesce(NEW.video_id, NEW.id);
    RETURN NEW;
END $$;
CREATE TRIGGER videos_own_video BEFORE INSERT ON videos
    FOR EACH ROW EXECUTE FUNCTION videos_own_video();
