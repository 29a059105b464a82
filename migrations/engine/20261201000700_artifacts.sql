-- Artifacts: the object-store keys of the files a step made. Each checkpoint, memo and child
-- result lists the artifacts its value names (a JSON array of keys), so that a cleaner can tell
-- which stored files nothing names any more. Only rows that name artifacts are indexed: the
-- engine's own bookkeeping (and most workflows) pays nothing for the indexes.
ALTER TABLE checkpoints ADD COLUMN artifacts jsonb NOT NULL DEFAULT '[]';
ALTER TABLE memos ADD COLUMN artifacts jsonb NOT NULL DEFAULT '[]';
ALTER TABLE children ADD COLUMN artifacts jsonb NOT NULL DEFAULT '[]';

CREATE INDEX checkpoints_artifacts ON checkpoints USING gin (artifacts jsonb_path_ops)
    WHERE artifacts <> '[]';
CREATE INDEX memos_artifacts ON memos USING gin (artifacts jsonb_path_ops)
    WHERE artifacts <> '[]';
CREATE INDEX children_artifacts ON children USING gin (artifacts jsonb_path_ops)
    WHERE artifacts <> '[]';
