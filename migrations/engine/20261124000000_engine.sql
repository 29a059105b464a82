-- The durable engine's schema: runs, the journal (checkpoints and memos), the outbox (tasks),
-- the history (events) and the worker registry. Shipped migrations are never edited.

CREATE TYPE run_state AS ENUM ('running', 'completed', 'failed', 'cancelled');

CREATE TYPE worker_state AS ENUM ('active', 'stopped', 'dead');

CREATE TYPE event_kind AS ENUM (
    'run_started',
    'step_started',
    'step_completed',
    'step_failed',
    'retry_scheduled',
    'result_dropped',
    'lease_expired',
    'lease_released',
    'replayed',
    'cancelled',
    'run_completed',
    'run_failed'
);

-- One execution of a workflow. `generation` grows by one at each replay.
CREATE TABLE runs (
    id               uuid PRIMARY KEY,
    workflow         text        NOT NULL,
    workflow_version integer     NOT NULL,
    input            jsonb       NOT NULL,
    state            run_state   NOT NULL DEFAULT 'running',
    generation       integer     NOT NULL DEFAULT 0,
    idempotency_key  text,
    error            jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);

CREATE UNIQUE INDEX runs_idempotency_key ON runs (workflow, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_state_created_at ON runs (state, created_at DESC);
CREATE INDEX runs_finished_at ON runs (finished_at) WHERE finished_at IS NOT NULL;

-- Workers register, hold a session advisory lock on their id while alive, and renew the lease of
-- every task they hold by moving `lease_expires_at` forward with each heartbeat.
CREATE TABLE workers (
    id               uuid PRIMARY KEY,
    name             text         NOT NULL,
    state            worker_state NOT NULL DEFAULT 'active',
    started_at       timestamptz  NOT NULL DEFAULT now(),
    heartbeat_at     timestamptz  NOT NULL DEFAULT now(),
    lease_expires_at timestamptz  NOT NULL,
    stopped_at       timestamptz
);

-- The journal: the committed output of each step. A replay supersedes checkpoints (they stay as
-- history); at most one checkpoint per (run, step) is live.
CREATE TABLE checkpoints (
    run_id       uuid             NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_index   integer          NOT NULL,
    generation   integer          NOT NULL,
    step         text             NOT NULL,
    attempt      integer          NOT NULL,
    output       jsonb            NOT NULL,
    cost_usd     double precision NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    worker_id    uuid             NOT NULL,
    started_at   timestamptz      NOT NULL,
    completed_at timestamptz      NOT NULL DEFAULT now(),
    superseded_at timestamptz,
    PRIMARY KEY (run_id, step_index, generation)
);

CREATE UNIQUE INDEX checkpoints_live ON checkpoints (run_id, step_index) WHERE superseded_at IS NULL;

-- Checkpoints of parts of a step (one rendered chunk, one provider job id).
CREATE TABLE memos (
    run_id        uuid        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_index    integer     NOT NULL,
    key           text        NOT NULL,
    generation    integer     NOT NULL,
    value         jsonb       NOT NULL,
    attempt       integer     NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    superseded_at timestamptz,
    PRIMARY KEY (run_id, step_index, key, generation)
);

CREATE UNIQUE INDEX memos_live ON memos (run_id, step_index, key) WHERE superseded_at IS NULL;

-- The outbox: "step S of run R is due at T". Steps run one after another, so a run has at most
-- one task, keyed by the run. An attempt owns the task while `lease_owner` is its worker and
-- `attempt` its number; every hand-off is fenced on both.
CREATE TABLE tasks (
    run_id           uuid        PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    workflow         text        NOT NULL,
    workflow_version integer     NOT NULL,
    generation       integer     NOT NULL,
    step_index       integer     NOT NULL,
    step             text        NOT NULL,
    attempt          integer     NOT NULL DEFAULT 0,
    run_at           timestamptz NOT NULL DEFAULT now(),
    lease_owner      uuid,
    leased_at        timestamptz
) WITH (fillfactor = 70);

CREATE INDEX tasks_due ON tasks (run_at) WHERE lease_owner IS NULL;
CREATE INDEX tasks_leased ON tasks (lease_owner) WHERE lease_owner IS NOT NULL;

-- The append-only history of each run.
CREATE TABLE events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id    uuid        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind      event_kind  NOT NULL,
    step      text,
    attempt   integer,
    worker_id uuid,
    detail    jsonb,
    at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX events_run_id ON events (run_id, id);

-- The key of the session advisory lock a live worker holds on its own id. The scheduler takes it
-- (transaction-scoped) to learn, without waiting for a lease to lapse, that a worker's process or
-- connection is gone.
CREATE FUNCTION worker_lock_key(worker uuid) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN hashtextextended('slate-worker:' || worker::text, 0);
