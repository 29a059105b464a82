-- Fan-out: a step may start children (a function of its workflow and an input each, under a
-- key), which run in parallel on any workers, each with its own attempts, lease and fencing, and
-- whose results are checkpointed here. Children belong to their step's generation, not to one
-- attempt: a key names one child per (run, generation, step). While they run, the step's task is
-- parked (`awaiting`: the policy it waits under) and holds no lease; it falls due again when
-- they have finished (or, failing fast, when one failed for good), and the step runs again, to
-- find their results. `suspended` counts those parked attempts, which no retry policy counts.
ALTER TYPE event_kind ADD VALUE 'awaiting_children';

ALTER TABLE tasks
    ADD COLUMN awaiting text CHECK (awaiting IN ('all', 'first_failure')),
    ADD COLUMN suspended integer NOT NULL DEFAULT 0;

CREATE INDEX tasks_awaiting ON tasks (run_id) WHERE awaiting IS NOT NULL;

CREATE TABLE children (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           uuid             NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    generation       integer          NOT NULL,
    step_index       integer          NOT NULL,
    key              text             NOT NULL,
    workflow         text             NOT NULL,
    workflow_version integer          NOT NULL,
    function         text             NOT NULL,
    input            jsonb            NOT NULL,
    limit_key        text,
    attempt          integer          NOT NULL DEFAULT 0,
    interrupted      integer          NOT NULL DEFAULT 0,
    run_at           timestamptz      NOT NULL DEFAULT now(),
    lease_owner      uuid,
    leased_at        timestamptz,
    -- Once finished: its output, or its error (a failure for good, or its cancel).
    output           jsonb,
    error            jsonb,
    cost_usd         double precision NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    created_at       timestamptz      NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (run_id, generation, step_index, key),
    CHECK ((finished_at IS NULL) = (output IS NULL AND error IS NULL))
) WITH (fillfactor = 70);

CREATE INDEX children_due ON children (run_at) WHERE lease_owner IS NULL AND finished_at IS NULL;
CREATE INDEX children_leased ON children (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX children_limited ON children (limit_key, run_at)
    WHERE finished_at IS NULL AND limit_key IS NOT NULL;
CREATE INDEX children_unfinished ON children (run_id, generation, step_index)
    WHERE finished_at IS NULL;
