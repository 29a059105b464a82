-- When a task's current step began: its first attempt's lease in this generation, kept across the
-- step's retries, interruptions and waits for its children. A checkpoint's started_at is that, so
-- that a step's recorded length is all the time it took, not only its last attempt's.
ALTER TABLE tasks ADD COLUMN step_started_at timestamptz;
UPDATE tasks SET step_started_at = leased_at;
