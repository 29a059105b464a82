//! The claim's statements. A claim serves limits (see [`crate::limits`]): each statement that
//! leases counts a key's room afresh, tasks and children alike, so that a claim's second
//! statement sees what its first leased.

use std::sync::LazyLock;

/// The room of each served limit ($5 to $8: key, concurrency, bucket capacity and rate; $10 the
/// buckets' prefix): its concurrency less the tasks and children leased under its key, and the
/// whole tokens in its bucket; the batch size ($2) when unbounded.
const ROOMS: &str = "
served AS (
    SELECT * FROM unnest($5::text[], $6::int[], $7::float8[], $8::float8[])
        AS l(key, concurrency, capacity, per_second)
), rooms AS (
    SELECT l.key, GREATEST(COALESCE(LEAST(
               l.concurrency
                 - (SELECT count(*) FROM tasks t
                    WHERE t.limit_key = l.key AND t.lease_owner IS NOT NULL)
                 - (SELECT count(*) FROM children c
                    WHERE c.limit_key = l.key AND c.lease_owner IS NOT NULL),
               floor(LEAST(l.capacity, COALESCE(
                   b.tokens + EXTRACT(EPOCH FROM now() - b.refilled_at)::float8 * l.per_second,
                   l.capacity)))
           ), $2), 0)::int AS room
    FROM served l LEFT JOIN token_buckets b ON b.key = $10 || l.key
)";

/// The claim of tasks: leases up to $2 due tasks of the registered workflows ($3, $4) to worker
/// $1, in order of due time, of the steps it takes ($11; any when null); those under a limit ($9: every key the registry knows) only if the
/// claim serves their key, and as many as the key has room for. Each key's due tasks are looked
/// at apart, so that one key's backlog never hides another's, and come before the free tasks
/// (those under no limit), which fill the rest of the batch. A waiting run whose deadline passed
/// is running again; its `resumed` event comes before its `step_started`.
pub(super) static CLAIM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
WITH registered AS (
    SELECT * FROM unnest($3::text[], $4::int[]) AS w(workflow, version)
), {ROOMS}, limited AS (
    SELECT c.run_id FROM rooms r CROSS JOIN LATERAL (
        SELECT run_id FROM tasks
        WHERE limit_key = r.key AND lease_owner IS NULL AND run_at <= statement_timestamp()
          AND (workflow, workflow_version) IN (SELECT * FROM registered)
          AND ($11::text[] IS NULL OR step = ANY($11))
        ORDER BY run_at
        LIMIT r.room
        FOR UPDATE SKIP LOCKED
    ) c
    LIMIT $2
), free AS (
    SELECT run_id FROM tasks
    WHERE lease_owner IS NULL AND run_at <= statement_timestamp()
      AND (limit_key IS NULL OR limit_key <> ALL($9::text[]))
      AND (workflow, workflow_version) IN (SELECT * FROM registered)
      AND ($11::text[] IS NULL OR step = ANY($11))
    ORDER BY run_at
    LIMIT $2 - (SELECT count(*) FROM limited)
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT run_id FROM limited UNION ALL SELECT run_id FROM free
), claimed AS (
    UPDATE tasks t SET lease_owner = $1, attempt = t.attempt + 1, leased_at = now(),
                       step_started_at = coalesce(t.step_started_at, now())
    FROM due WHERE t.run_id = due.run_id
    RETURNING t.run_id, t.workflow, t.workflow_version, t.generation, t.step_index,
              t.step, t.attempt, t.leased_at, t.interrupted, t.suspended, t.wait, t.limit_key
), expired AS (
    UPDATE runs r SET state = 'running'
    FROM claimed c WHERE r.id = c.run_id AND c.wait IS NOT NULL AND r.state = 'waiting'
    RETURNING c.run_id, c.step, c.wait->>'signal' AS signal
), started AS (
    INSERT INTO events (run_id, kind, step, attempt, worker_id, detail)
    SELECT run_id, kind::event_kind, step, attempt, $1, detail FROM (
        SELECT run_id, 0 AS ord, 'resumed' AS kind, step, NULL::int AS attempt,
               jsonb_build_object('signal', signal, 'by', 'deadline') AS detail
        FROM expired
        UNION ALL
        SELECT run_id, 1, 'step_started', step, attempt, NULL FROM claimed
    ) e ORDER BY run_id, ord
)
SELECT c.run_id, c.workflow, c.workflow_version, c.generation, c.step_index, c.step,
       c.attempt, c.leased_at, c.interrupted, c.suspended, c.wait, c.limit_key,
       NULL::bigint AS child,
       CASE WHEN c.step_index = 0 THEN r.input ELSE COALESCE(p.output, s.output) END AS input
FROM claimed c
JOIN runs r ON r.id = c.run_id
LEFT JOIN checkpoints p ON p.run_id = c.run_id AND p.step_index = c.step_index - 1
                       AND p.superseded_at IS NULL
LEFT JOIN checkpoints s ON s.run_id = p.source_run_id AND s.step_index = p.step_index
                       AND s.generation = p.source_generation"
    )
});

/// The claim of children, with the same parameters, after the claim of tasks in the same
/// transaction: it leases up to $2 due children alike, limited ones first. A child's attempts
/// write no events: its row is its history.
pub(super) static CLAIM_CHILDREN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
WITH registered AS (
    SELECT * FROM unnest($3::text[], $4::int[]) AS w(workflow, version)
), {ROOMS}, limited AS (
    SELECT c.id FROM rooms r CROSS JOIN LATERAL (
        SELECT id FROM children
        WHERE limit_key = r.key AND lease_owner IS NULL AND finished_at IS NULL
          AND run_at <= statement_timestamp()
          AND (workflow, workflow_version) IN (SELECT * FROM registered)
          AND ($11::text[] IS NULL OR function = ANY($11))
        ORDER BY run_at
        LIMIT r.room
        FOR UPDATE SKIP LOCKED
    ) c
    LIMIT $2
), free AS (
    SELECT id FROM children
    WHERE lease_owner IS NULL AND finished_at IS NULL AND run_at <= statement_timestamp()
      AND (limit_key IS NULL OR limit_key <> ALL($9::text[]))
      AND (workflow, workflow_version) IN (SELECT * FROM registered)
      AND ($11::text[] IS NULL OR function = ANY($11))
    ORDER BY run_at
    LIMIT $2 - (SELECT count(*) FROM limited)
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id FROM limited UNION ALL SELECT id FROM free
)
UPDATE children c SET lease_owner = $1, attempt = c.attempt + 1, leased_at = now()
FROM due WHERE c.id = due.id
RETURNING c.run_id, c.workflow, c.workflow_version, c.generation, c.step_index,
          c.function AS step, c.attempt, c.leased_at, c.interrupted, 0 AS suspended,
          NULL::jsonb AS wait, c.limit_key, c.id AS child, c.input"
    )
});

/// How long, by the database's clock, until a task or child this worker could claim falls due
/// (zero or less: due already): a free one's due time, or the next token of a served rate limit
/// whose key has due work. Work due under a limit waits for the notification that frees room.
pub(super) const NEXT_DUE: &str = "
WITH registered AS (
    SELECT * FROM unnest($1::text[], $2::int[]) AS w(workflow, version)
)
SELECT LEAST(
    (SELECT extract(epoch FROM min(run_at) - clock_timestamp())::float8 FROM tasks
     WHERE lease_owner IS NULL AND run_at < 'infinity'
       AND NOT (limit_key = ANY($3::text[]) AND run_at <= clock_timestamp())
       AND (workflow, workflow_version) IN (SELECT * FROM registered)
       AND ($8::text[] IS NULL OR step = ANY($8))),
    (SELECT extract(epoch FROM min(run_at) - clock_timestamp())::float8 FROM children
     WHERE lease_owner IS NULL AND finished_at IS NULL
       AND NOT (limit_key = ANY($3::text[]) AND run_at <= clock_timestamp())
       AND (workflow, workflow_version) IN (SELECT * FROM registered)
       AND ($8::text[] IS NULL OR function = ANY($8))),
    (SELECT min((1 - LEAST(l.capacity, b.tokens + EXTRACT(EPOCH FROM clock_timestamp()
                                                   - b.refilled_at)::float8 * l.per_second))
                / l.per_second)
     FROM unnest($4::text[], $5::float8[], $6::float8[]) AS l(key, capacity, per_second)
     JOIN token_buckets b ON b.key = $7 || l.key
     WHERE l.per_second IS NOT NULL
       AND (EXISTS (SELECT 1 FROM tasks t WHERE t.limit_key = l.key AND t.lease_owner IS NULL
                                            AND t.run_at <= clock_timestamp())
            OR EXISTS (SELECT 1 FROM children c
                       WHERE c.limit_key = l.key AND c.lease_owner IS NULL
                         AND c.finished_at IS NULL AND c.run_at <= clock_timestamp()))))";
