-- How many attempts of the task's current step ended without a result of their own: their worker
-- died, stalled past its lease or shut down. These do not count toward the step's attempts, so
-- crashes alone never exhaust a retry policy; the engine caps them separately.
ALTER TABLE tasks ADD COLUMN interrupted integer NOT NULL DEFAULT 0;
