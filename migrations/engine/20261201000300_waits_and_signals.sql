-- Sleeps, waits and signals. A step may end by putting its run's next step off until a time
-- (a sleep: the task is due then) or until a signal (a wait: `tasks.wait` names the signal and
-- what to do at the deadline; the task is due at the deadline, or never). A waiting run is in
-- the `waiting` state and holds no lease. Signals are kept per run, consumed by the one step
-- that resumes with each, and trimmed with the run's history.
ALTER TYPE run_state ADD VALUE 'waiting' AFTER 'running';

ALTER TYPE event_kind ADD VALUE 'sleeping';
ALTER TYPE event_kind ADD VALUE 'waiting';
ALTER TYPE event_kind ADD VALUE 'signal_received';
ALTER TYPE event_kind ADD VALUE 'resumed';

ALTER TABLE tasks ADD COLUMN wait jsonb;

CREATE TABLE signals (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          uuid        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name            text        NOT NULL,
    payload         jsonb       NOT NULL,
    idempotency_key text,
    sent_at         timestamptz NOT NULL DEFAULT now(),
    -- The step that resumed with it (its generation and index), once consumed.
    generation      integer,
    step_index      integer,
    consumed_at     timestamptz,
    CHECK ((consumed_at IS NULL) = (step_index IS NULL) AND (step_index IS NULL) = (generation IS NULL))
);

CREATE UNIQUE INDEX signals_idempotency_key ON signals (run_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX signals_pending ON signals (run_id, name, id) WHERE consumed_at IS NULL;
CREATE INDEX signals_consumed ON signals (run_id, step_index, name) WHERE consumed_at IS NOT NULL;
