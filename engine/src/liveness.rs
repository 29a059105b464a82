//! A worker's liveness: its row in the registry, the session advisory lock it holds on its own id
//! on a dedicated connection (which also LISTENs for new tasks), and the heartbeat that renews
//! the lease of every task it holds. When that connection dies, Postgres frees the lock at once
//! and the scheduler rescues the worker's tasks; the worker, for its part, stops its attempts,
//! since it no longer owns them, and takes its lock again before claiming more.

use std::{collections::HashSet, time::Duration};

use chrono::{DateTime, Utc};
use sqlx::{
    postgres::{PgListener, PgPoolOptions},
    PgConnection, PgPool,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    channels::{CANCELS_CHANNEL, TASKS_CHANNEL},
    error::{Error, Result},
    ids::RunId,
    lease::Lease,
    pause::{PausePoint, PausePoints},
};

/// The `application_name` of every worker's liveness connection, as `pg_stat_activity` shows it.
const LIVENESS_APPLICATION: &str = "slate-worker-liveness";

/// How long to wait before trying the database again after it failed.
pub(crate) const RECONNECT_DELAY: Duration = Duration::from_millis(250);

/// Opens the worker's liveness connection: lock, register, listen. The connection is the
/// worker's own (a pool of one), so it never takes a place in the application's pool, and the
/// application closing its pool does not end it: the worker's shutdown does.
pub(crate) async fn connect(
    pool: &PgPool,
    id: Uuid,
    name: &str,
    ttl: Duration,
) -> Result<PgListener> {
    let options = (*pool.connect_options()).clone();
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(options.application_name(LIVENESS_APPLICATION));
    let mut listener = PgListener::connect_with(&own).await?;
    listener.ignore_pool_close_event(true);
    lock_and_register(&mut listener, id, name, ttl).await?;
    listener
        .listen_all([TASKS_CHANNEL, CANCELS_CHANNEL])
        .await?;
    Ok(listener)
}

async fn lock_and_register(
    listener: &mut PgListener,
    id: Uuid,
    name: &str,
    ttl: Duration,
) -> Result<()> {
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(worker_lock_key($1))")
        .bind(id)
        .fetch_one(&mut *listener)
        .await?;
    if !locked {
        return Err(Error::WorkerLockTaken(id));
    }
    sqlx::query(
        "INSERT INTO workers (id, name, lease_expires_at)
         VALUES ($1, $2, now() + $3 * interval '1 ms')
         ON CONFLICT (id) DO UPDATE
         SET state = 'active', heartbeat_at = now(), stopped_at = NULL,
             lease_expires_at = EXCLUDED.lease_expires_at",
    )
    .bind(id)
    .bind(name)
    .bind(ttl.as_secs_f64() * 1000.0)
    .execute(&mut *listener)
    .await?;
    Ok(())
}

/// What the liveness connection tells its worker.
pub(crate) enum Signal {
    /// A task was inserted or given back: claim.
    Wake,
    /// The run was cancelled: stop its attempt if one runs here.
    Cancelled(RunId),
    /// The connection (and with it the lock) is gone: the worker owns none of its attempts.
    Lost,
    /// The lock is held again: claim again.
    Restored,
}

/// Forwards notifications to `signal` until `stop`; when the connection is lost, says so and takes
/// the lock again as soon as the database answers.
pub(crate) async fn listen(
    mut listener: PgListener,
    id: Uuid,
    name: String,
    ttl: Duration,
    stop: CancellationToken,
    pauses: PausePoints,
    signal: impl Fn(Signal),
) {
    let mut locked = true;
    loop {
        if !locked {
            pauses.reach(PausePoint::Relock).await;
            match lock_and_register(&mut listener, id, &name, ttl).await {
                Ok(()) => {
                    tracing::info!(worker.id = %id, "liveness connection restored");
                    locked = true;
                    signal(Signal::Restored);
                }
                Err(error) => {
                    tracing::debug!(%error, "liveness connection still down");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(RECONNECT_DELAY) => continue,
                    }
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            received = listener.try_recv() => match received {
                Ok(Some(notification)) => match notification.channel() {
                    CANCELS_CHANNEL => match notification.payload().parse() {
                        Ok(run) => signal(Signal::Cancelled(RunId(run))),
                        Err(_) => tracing::warn!(payload = notification.payload(), "unreadable cancel"),
                    },
                    _ => signal(Signal::Wake),
                },
                Ok(None) | Err(_) => {
                    tracing::warn!(worker.id = %id, "liveness connection lost; stopping attempts");
                    locked = false;
                    signal(Signal::Lost);
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(RECONNECT_DELAY) => {}
                    }
                }
            }
        }
    }
}

/// What a heartbeat learned: the leases the worker holds, and the database's clock.
pub(crate) struct Beat {
    pub held: HashSet<Lease>,
    pub now: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct BeatRow {
    run_id: Option<RunId>,
    generation: Option<i32>,
    step_index: Option<i32>,
    attempt: Option<i32>,
    child: Option<i64>,
    now: DateTime<Utc>,
}

/// Renews the lease of every task and child the worker holds.
pub(crate) async fn heartbeat(conn: &mut PgConnection, id: Uuid, ttl: Duration) -> Result<Beat> {
    let rows: Vec<BeatRow> = sqlx::query_as(
        "WITH beat AS (
             UPDATE workers
             SET heartbeat_at = now(), lease_expires_at = now() + $2 * interval '1 ms',
                 state = 'active', stopped_at = NULL
             WHERE id = $1
         )
         SELECT t.run_id, t.generation, t.step_index, t.attempt, NULL::bigint AS child,
                now() AS now
         FROM (SELECT 1) AS one LEFT JOIN tasks t ON t.lease_owner = $1
         UNION ALL
         SELECT run_id, generation, step_index, attempt, id, now()
         FROM children WHERE lease_owner = $1",
    )
    .bind(id)
    .bind(ttl.as_secs_f64() * 1000.0)
    .fetch_all(conn)
    .await?;
    let now = rows.first().map_or_else(Utc::now, |r| r.now);
    let held = rows
        .into_iter()
        .filter_map(|row| {
            Some(Lease {
                run_id: row.run_id?,
                generation: row.generation?,
                step_index: row.step_index?,
                attempt: row.attempt?,
                worker_id: id,
                child: row.child,
            })
        })
        .collect();
    Ok(Beat { held, now })
}

/// Gives back the tasks and children leased to the worker (only those of `leases` taken before
/// `before`, when given), so that another worker takes them at once. Their attempts count as
/// interrupted.
pub(crate) async fn release(
    conn: &mut PgConnection,
    id: Uuid,
    only: Option<(&[Lease], DateTime<Utc>)>,
    reason: &str,
) -> Result<u64> {
    let (leases, before) = only.unzip();
    let tasks: Option<Vec<&Lease>> =
        leases.map(|l| l.iter().filter(|l| l.child.is_none()).collect());
    let children: Option<Vec<&Lease>> =
        leases.map(|l| l.iter().filter(|l| l.child.is_some()).collect());
    let column = |leases: &Option<Vec<&Lease>>, f: fn(&Lease) -> i32| {
        leases
            .as_ref()
            .map(|l| l.iter().map(|l| f(l)).collect::<Vec<_>>())
    };
    let released: i64 = sqlx::query_scalar(
        "WITH locked AS (
             SELECT run_id FROM tasks
             WHERE lease_owner = $1
               AND ($2::uuid[] IS NULL
                    OR (run_id, generation, step_index, attempt)
                       IN (SELECT * FROM unnest($2::uuid[], $3::int[], $4::int[], $5::int[])))
               AND ($6::timestamptz IS NULL OR leased_at < $6)
             ORDER BY run_id
             FOR UPDATE
         ), released AS (
             UPDATE tasks t SET lease_owner = NULL, leased_at = NULL, run_at = now(),
                                interrupted = t.interrupted + 1
             FROM locked l WHERE t.run_id = l.run_id
             RETURNING t.run_id, t.step, t.attempt
         ), locked_children AS (
             SELECT id FROM children
             WHERE lease_owner = $1
               AND ($9::bigint[] IS NULL
                    OR (id, attempt) IN (SELECT * FROM unnest($9::bigint[], $10::int[])))
               AND ($6::timestamptz IS NULL OR leased_at < $6)
             ORDER BY id
             FOR UPDATE SKIP LOCKED
         ), released_children AS (
             UPDATE children c SET lease_owner = NULL, leased_at = NULL, run_at = now(),
                                   interrupted = c.interrupted + 1
             FROM locked_children l WHERE c.id = l.id
             RETURNING c.id
         ), logged AS (
             INSERT INTO events (run_id, kind, step, attempt, worker_id, detail)
             SELECT run_id, 'lease_released', step, attempt, $1, jsonb_build_object('reason', $7::text)
             FROM released
         )
         SELECT n FROM (SELECT (SELECT count(*) FROM released)
                               + (SELECT count(*) FROM released_children) AS n) AS given_back
         WHERE n = 0 OR pg_notify($8, '') IS NOT NULL",
    )
    .bind(id)
    .bind(tasks.as_ref().map(|l| l.iter().map(|l| l.run_id).collect::<Vec<_>>()))
    .bind(column(&tasks, |l| l.generation))
    .bind(column(&tasks, |l| l.step_index))
    .bind(column(&tasks, |l| l.attempt))
    .bind(before)
    .bind(reason)
    .bind(TASKS_CHANNEL)
    .bind(children.as_ref().map(|l| l.iter().filter_map(|l| l.child).collect::<Vec<_>>()))
    .bind(column(&children, |l| l.attempt))
    .fetch_one(conn)
    .await?;
    Ok(released as u64)
}

/// Marks the worker stopped after a graceful shutdown.
pub(crate) async fn deregister(conn: &mut PgConnection, id: Uuid) -> Result<()> {
    sqlx::query("UPDATE workers SET state = 'stopped', stopped_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
