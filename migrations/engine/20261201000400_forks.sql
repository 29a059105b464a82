-- Forks: a run started from a step of another run (its parent), whose checkpoints before that
-- step are the parent's, shared by reference. A shared checkpoint is a row of the fork that
-- names the checkpoint it shares (its run and generation; always an original, never another
-- reference) instead of holding an output; the foreign key keeps every shared checkpoint from
-- being deleted. Runs form trees through `parent_run_id`.
ALTER TYPE event_kind ADD VALUE 'forked';

ALTER TABLE runs
    ADD COLUMN parent_run_id uuid REFERENCES runs (id),
    ADD COLUMN fork_step_index integer,
    ADD CONSTRAINT runs_fork CHECK ((parent_run_id IS NULL) = (fork_step_index IS NULL));

CREATE INDEX runs_parent_run_id ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;

ALTER TABLE checkpoints
    ALTER COLUMN output DROP NOT NULL,
    ADD COLUMN source_run_id uuid,
    ADD COLUMN source_generation integer,
    ADD CONSTRAINT checkpoints_shared FOREIGN KEY (source_run_id, step_index, source_generation)
        REFERENCES checkpoints (run_id, step_index, generation),
    ADD CONSTRAINT checkpoints_output_or_shared
        CHECK ((output IS NULL) = (source_run_id IS NOT NULL)
               AND (source_run_id IS NULL) = (source_generation IS NULL));

CREATE INDEX checkpoints_shared ON checkpoints (source_run_id, step_index, source_generation)
    WHERE source_run_id IS NOT NULL;
