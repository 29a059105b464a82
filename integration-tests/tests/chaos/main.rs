//! Faults against a whole deployment: `slate serve` and two worker processes on a PostgreSQL
//! cluster of the test's own. While probe runs (through the engine library) and videos (through
//! the API) are made, faults drawn from the round's seed keep striking: workers are SIGKILLed and
//! restarted, paused past their lease, the engine's backends are terminated and PostgreSQL
//! restarts. At the end every run must be complete with one live checkpoint per step, nothing
//! checkpointed or memoized may have run again, no task or ffmpeg may be left, PostgreSQL must
//! have detected no deadlock, and the API must have answered 2xx, or 503 only around the outages.
//!
//! `make test` runs a bounded round; `make chaos` a full minute (`SLATE_CHAOS=full`), or a soak of
//! `SLATE_CHAOS_MINUTES`.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use serde_json::json;
use slate_engine::{Engine, StartOptions};
use slate_integration_tests::{
    cluster::PrivateCluster,
    probe::{self, Behaviour, Probe},
    process::{SlateServer, WorkerProcess},
    wait,
};
use sqlx::{postgres::PgPoolOptions, PgPool};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const WORKER: &str = env!("CARGO_BIN_EXE_test-worker");
/// The workers' lease: a paused worker loses its tasks this long after its last heartbeat.
const LEASE_TTL: Duration = Duration::from_secs(3);

struct Scale {
    probes: usize,
    videos: usize,
    /// How long faults keep being drawn.
    chaos: Duration,
}

impl Scale {
    /// The bounded round of `make test`; with `SLATE_CHAOS=full` (`make chaos`), a minute, or
    /// `SLATE_CHAOS_MINUTES` of them (a soak), at 180 probe runs a minute and 10 videos, or 2 a
    /// minute in a soak: what two cores render in a debug build while faults keep striking.
    fn from_env() -> Self {
        if std::env::var("SLATE_CHAOS").as_deref() != Ok("full") {
            return Self {
                probes: 40,
                videos: 3,
                chaos: Duration::from_secs(25),
            };
        }
        let minutes: u64 = std::env::var("SLATE_CHAOS_MINUTES")
            .ok()
            .and_then(|m| m.parse().ok())
            .unwrap_or(1)
            .max(1);
        Self {
            probes: 180 * minutes as usize,
            videos: (2 * minutes as usize).max(10),
            chaos: Duration::from_secs(60 * minutes),
        }
    }
}

/// A fault that strikes the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// SIGKILL of a worker process, which is started again.
    Kill,
    /// SIGSTOP of a worker until its lease lapsed and its tasks were taken, then SIGCONT.
    Pause,
    /// `pg_terminate_backend` of every other session.
    TerminateBackends,
    /// A PostgreSQL restart, down for 3 s.
    Restart,
}

/// The faults of a round, drawn from its seed: kills every 1.5-3.5 s, and between them the
/// heavier faults (a pause, a backend termination, a restart), each kind once in every three,
/// in an order and at times drawn anew: about four in a round of up to a minute, one every 20 s
/// or so in a soak.
struct Faults {
    seed: u64,
    rng: fastrand::Rng,
    began: Instant,
    next_kill: Instant,
    next_heavy: Instant,
    heavy_every: Duration,
    heavy: Vec<Fault>,
}

impl Faults {
    /// From `SLATE_CHAOS_SEED` when set (to replay a round's faults), else from a new seed.
    fn from_env(chaos: Duration) -> Self {
        let seed = std::env::var("SLATE_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| fastrand::u64(..));
        let began = Instant::now();
        let mut faults = Self {
            seed,
            rng: fastrand::Rng::with_seed(seed),
            began,
            next_kill: began + Duration::from_secs(2),
            next_heavy: began,
            heavy_every: (chaos / 4).min(Duration::from_secs(20)),
            heavy: Vec::new(),
        };
        faults.next_heavy = began + faults.heavy_gap();
        faults
    }

    /// The fault due now, if any.
    fn due(&mut self) -> Option<Fault> {
        let now = Instant::now();
        if now >= self.next_heavy {
            self.next_heavy = now + self.heavy_gap();
            if self.heavy.is_empty() {
                self.heavy = vec![Fault::Pause, Fault::TerminateBackends, Fault::Restart];
                self.rng.shuffle(&mut self.heavy);
            }
            return self.heavy.pop();
        }
        if now >= self.next_kill {
            self.next_kill = now + Duration::from_millis(self.rng.u64(1500..3500));
            return Some(Fault::Kill);
        }
        None
    }

    fn heavy_gap(&mut self) -> Duration {
        self.heavy_every.mul_f64(0.5 + self.rng.f64())
    }
}

/// When the database was out (restarted, or its backends terminated), for judging 503s.
#[derive(Default)]
struct Outages(Mutex<Vec<(DateTime<Utc>, DateTime<Utc>)>>);

impl Outages {
    fn record(&self, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.0.lock().unwrap().push((from, to));
    }

    /// Whether `at` falls in an outage or the 5 s after it.
    fn covers(&self, at: DateTime<Utc>) -> bool {
        let grace = chrono::Duration::seconds(5);
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|(from, to)| at >= *from && at <= *to + grace)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_completes_exactly_once_through_kills_pauses_and_database_restarts() {
    let scale = Scale::from_env();
    let cluster = PrivateCluster::start();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&cluster.url)
        .await
        .unwrap();
    slate_engine::migrate(&pool).await.unwrap();
    slate_activities::video::migrate(&pool).await.unwrap();
    probe::create_tables(&pool).await.unwrap();
    let deadlocks_before = deadlocks(&pool).await;
    let media = tempfile::tempdir().unwrap();
    let media_dir = media.path().to_str().unwrap().to_owned();

    let ttl = LEASE_TTL.as_secs().to_string();
    let serve = SlateServer::start(
        &cluster.url,
        media.path(),
        &[("SLATE_LEASE_TTL_SECS", &ttl), ("SLATE_WORKERS", "4")],
    )
    .await;
    let base = serve.base.clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let worker_args = [
        "--media-dir",
        media_dir.as_str(),
        "--lease-ttl-ms",
        "3000",
        "--heartbeat-ms",
        "300",
        "--concurrency",
        "16",
        "--probe-attempts",
        "20",
    ];
    let spawn_worker = || WorkerProcess::spawn(WORKER, &cluster.url, &worker_args);
    let mut workers = [spawn_worker(), spawn_worker()];

    // The runs: one video first, then probe runs (through the engine library) and the other
    // videos (through the API) spread over most of the chaos, so that every fault meets work.
    let videos = Arc::new(Mutex::new(vec![admit(&http, &base, 0).await]));
    let probe_workflow = probe::workflow(pool.clone(), Duration::from_secs(30));
    let engine = Engine::builder(pool.clone())
        .register(&probe_workflow)
        .build();
    let load = {
        let (http, base, videos) = (http.clone(), base.clone(), videos.clone());
        let (probes, more_videos) = (scale.probes, scale.videos - 1);
        let pace = scale.chaos.mul_f64(0.8) / probes as u32;
        let workflow = probe_workflow.clone();
        tokio::spawn(async move {
            let video_every = probes / more_videos.max(1);
            let mut admitted = 0;
            for n in 0..probes {
                if admitted < more_videos && n % video_every == video_every / 2 {
                    admitted += 1;
                    let id = admit(&http, &base, admitted).await;
                    videos.lock().unwrap().push(id);
                }
                let mut input = match n % 3 {
                    0 => Probe::at(
                        "three",
                        Behaviour::Parts {
                            parts: 3,
                            hang_after: None,
                        },
                    ),
                    _ => Probe::default(),
                };
                input.step_ms = 150;
                let options = || StartOptions {
                    idempotency_key: Some(format!("chaos-probe-{n}")),
                    ..StartOptions::default()
                };
                wait::until("a probe run to start", Duration::from_secs(60), || async {
                    engine.start(&workflow, &input, options()).await.ok()
                })
                .await;
                tokio::time::sleep(pace).await;
            }
        })
    };

    // The API's answers while everything happens.
    let outages = Arc::new(Outages::default());
    let answers = Arc::new(Mutex::new(
        Vec::<(DateTime<Utc>, String, Option<u16>)>::new(),
    ));
    let stop_polling = CancellationToken::new();
    let poller = {
        let (http, base, videos) = (http.clone(), base.clone(), videos.clone());
        let (answers, stop) = (answers.clone(), stop_polling.clone());
        tokio::spawn(async move {
            let mut n = 0usize;
            while !stop.is_cancelled() {
                n += 1;
                let video = {
                    let videos = videos.lock().unwrap();
                    videos[n % videos.len()].clone()
                };
                let path = match n % 3 {
                    0 => "/healthz".to_owned(),
                    1 => format!("/api/status/{video}"),
                    _ => format!("/api/video/{video}"),
                };
                let at = Utc::now();
                let status = http
                    .get(format!("{base}{path}"))
                    .send()
                    .await
                    .ok()
                    .map(|a| a.status().as_u16());
                answers.lock().unwrap().push((at, path, status));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // The faults.
    let mut faults = Faults::from_env(scale.chaos);
    eprintln!(
        "chaos seed {0}: SLATE_CHAOS_SEED={0} replays this round's faults",
        faults.seed
    );
    let mut kills: Vec<(u32, DateTime<Utc>)> = Vec::new();
    let mut struck: Vec<Fault> = Vec::new();
    while faults.began.elapsed() < scale.chaos {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Some(fault) = faults.due() else {
            continue;
        };
        struck.push(fault);
        let from = Utc::now();
        match fault {
            Fault::Kill => {
                let victim = faults.rng.usize(..workers.len());
                let pid = workers[victim].pid;
                workers[victim].kill().await;
                kills.push((pid, Utc::now()));
                workers[victim] = spawn_worker();
            }
            Fault::Pause => {
                let victim = faults.rng.usize(..workers.len());
                pause_until_taken_over(&pool, &workers[victim]).await;
            }
            Fault::TerminateBackends => {
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                .execute(&pool)
                .await
                .unwrap();
                outages.record(from, Utc::now());
            }
            Fault::Restart => {
                let cluster = &cluster;
                tokio::task::block_in_place(|| cluster.restart(Duration::from_secs(3)));
                outages.record(from, Utc::now());
            }
        }
    }
    load.await.unwrap();

    let total = (scale.probes + scale.videos) as i64;
    assert_eq!(videos.lock().unwrap().len(), scale.videos);
    let deadline = Instant::now() + Duration::from_secs(300).max(scale.chaos / 2);
    loop {
        let (completed, failed): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE state = 'completed'),
                    count(*) FILTER (WHERE state = 'failed')
             FROM runs",
        )
        .fetch_one(&pool)
        .await
        .unwrap_or((0, 0));
        if completed == total {
            break;
        }
        if failed > 0 || Instant::now() > deadline {
            panic!(
                "{completed} of {total} runs completed, {failed} failed; some of the others: {:#?}",
                unfinished(&pool).await
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop_polling.cancel();
    poller.await.unwrap();

    // Exactly one live checkpoint for each of the five steps of every run.
    let wrong: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM runs r
         WHERE (SELECT count(DISTINCT c.step_index) FROM checkpoints c
                WHERE c.run_id = r.id AND c.superseded_at IS NULL) <> 5
            OR (SELECT count(*) FROM checkpoints c
                WHERE c.run_id = r.id AND c.superseded_at IS NULL) <> 5",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        wrong, 0,
        "runs without exactly one live checkpoint per step"
    );
    // Nothing checkpointed or memoized ran again after its result was committed. Each one that
    // did is told with its run's history, which says which attempt ran it and where.
    let duplicates: Vec<Duplicate> = sqlx::query_as(
        "SELECT e.run_id, e.step, e.part, e.attempt, e.pid, e.at, c.completed_at
             FROM probe_executions e
             JOIN checkpoints c ON c.run_id = e.run_id AND c.step = e.step
                  AND c.superseded_at IS NULL
             WHERE e.part IS NULL AND e.at > c.completed_at
             UNION ALL
             SELECT e.run_id, e.step, e.part, e.attempt, e.pid, e.at, m.created_at
             FROM probe_executions e
             JOIN memos m ON m.run_id = e.run_id AND m.key = 'part-' || e.part
                  AND m.superseded_at IS NULL
             WHERE e.part IS NOT NULL AND e.at > m.created_at",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for (run, ..) in &duplicates {
        let history: Vec<HistoryLine> = sqlx::query_as(
            "SELECT kind::text, step, attempt, worker_id, at FROM events
                 WHERE run_id = $1 ORDER BY id",
        )
        .bind(run)
        .fetch_all(&pool)
        .await
        .unwrap();
        eprintln!("run {run}'s history: {history:#?}");
    }
    assert!(
        duplicates.is_empty(),
        "executions after their result was committed (run, step, part, attempt, pid, ran at, \
         committed at): {duplicates:#?}"
    );
    let tasks: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tasks, 0, "tasks left");

    // The API: 2xx, or 503 while the database was out and 5 s after.
    let answers = answers.lock().unwrap().clone();
    let bad: Vec<_> = answers
        .iter()
        .filter(|(at, _, status)| match status {
            Some(200..=299) => false,
            Some(503) => !outages.covers(*at),
            _ => true,
        })
        .collect();
    assert!(bad.is_empty(), "answers outside the rules: {bad:?}");
    let unavailable = answers.iter().filter(|a| a.2 == Some(503)).count();

    // How long the killed workers' steps took to run again elsewhere.
    let mut resumes = Vec::new();
    for (pid, killed_at) in &kills {
        let resumed: Option<f64> = sqlx::query_scalar(
            "SELECT max(extract(epoch FROM (
                        SELECT min(s.at) FROM events s
                        WHERE s.run_id = x.run_id AND s.kind = 'step_started' AND s.at > $2)
                    - $2))::float8
             FROM events x JOIN workers w ON w.id = x.worker_id
             WHERE x.kind = 'lease_expired' AND w.name LIKE '%:' || $1::text AND x.at > $2",
        )
        .bind(*pid as i64)
        .bind(killed_at)
        .fetch_one(&pool)
        .await
        .unwrap();
        resumes.extend(resumed);
    }
    let dropped: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE kind = 'result_dropped'")
            .fetch_one(&pool)
            .await
            .unwrap();

    // No ffmpeg outlives its worker.
    serve.stop().await;
    for worker in &mut workers {
        worker.terminate().await;
    }
    wait::until("no ffmpeg to be left", Duration::from_secs(10), || async {
        ffmpeg_processes().is_empty().then_some(())
    })
    .await;

    // No deadlock, counted once every session of the deployment has ended (a session reports its
    // statistics by the time it exits).
    pool.close().await;
    let watcher = PgPoolOptions::new()
        .max_connections(1)
        .connect(&cluster.url)
        .await
        .unwrap();
    wait::until(
        "the deployment's sessions to end",
        Duration::from_secs(30),
        || async {
            let others: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
            )
            .fetch_one(&watcher)
            .await
            .ok()?;
            (others == 0).then_some(())
        },
    )
    .await;
    let deadlocked = deadlocks(&watcher).await - deadlocks_before;
    watcher.close().await;
    assert_eq!(deadlocked, 0, "deadlocks during the round");

    let count = |kind| struck.iter().filter(|f| **f == kind).count();
    println!(
        "chaos: {} runs ({} probe runs, {} videos) all complete, lost 0; {:.0} s of faults: {} \
         kills, {} pauses past the lease, {} backend terminations, {} PostgreSQL restarts; \
         duplicates 0; deadlocks 0; {} late results fenced; {} API answers, {} of them 503 during \
         outages; longest resume after a kill {:.0} ms (seed {})",
        total,
        scale.probes,
        scale.videos,
        scale.chaos.as_secs_f64(),
        count(Fault::Kill),
        count(Fault::Pause),
        count(Fault::TerminateBackends),
        count(Fault::Restart),
        dropped,
        answers.len(),
        unavailable,
        resumes.iter().copied().fold(0.0, f64::max) * 1000.0,
        faults.seed
    );
}

/// The deadlocks PostgreSQL has detected in every database of the cluster.
async fn deadlocks(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT sum(deadlocks)::int8 FROM pg_stat_database")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The runs that are not completed, with their task, for the failure message.
async fn unfinished(pool: &PgPool) -> Vec<serde_json::Value> {
    sqlx::query_scalar(
        "SELECT jsonb_build_object('run', r.id, 'workflow', r.workflow, 'state', r.state,
                    'error', r.error, 'step', t.step, 'attempt', t.attempt,
                    'interrupted', t.interrupted, 'owner', w.name, 'owner_state', w.state,
                    'leased_at', t.leased_at, 'run_at', t.run_at,
                    'events', (SELECT jsonb_agg(jsonb_build_array(e.kind, e.step, e.attempt, e.at)
                                                ORDER BY e.id)
                               FROM events e WHERE e.run_id = r.id))
         FROM runs r LEFT JOIN tasks t ON t.run_id = r.id
         LEFT JOIN workers w ON w.id = t.lease_owner
         WHERE r.state <> 'completed' LIMIT 3",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_default()
}

/// Admits video `n` through the API, retrying through outages under one idempotency key.
async fn admit(http: &reqwest::Client, base: &str, n: usize) -> String {
    let body = json!({"prompt": format!("15s sneakers, energetic and urban, take {n}"),
                      "duration": 15});
    wait::until("an admission", Duration::from_secs(60), || async {
        let answer = http
            .post(format!("{base}/api/generate"))
            .header("idempotency-key", format!("chaos-video-{n}"))
            .json(&body)
            .send()
            .await
            .ok()?;
        let body: serde_json::Value = answer.json().await.ok()?;
        body["video_id"].as_str().map(str::to_owned)
    })
    .await
}

/// An execution after its result was committed: run, step, part, attempt, pid, when it ran, and
/// when its result was committed.
type Duplicate = (
    uuid::Uuid,
    String,
    Option<i32>,
    i32,
    i32,
    DateTime<Utc>,
    DateTime<Utc>,
);

/// A line of a run's history: kind, step, attempt, worker, when.
type HistoryLine = (
    String,
    Option<String>,
    Option<i32>,
    Option<uuid::Uuid>,
    DateTime<Utc>,
);

/// Pauses `worker` (SIGSTOP) until its lease has lapsed and every task it held was taken back,
/// then resumes it (SIGCONT): whatever it finishes afterwards must be fenced.
async fn pause_until_taken_over(pool: &PgPool, worker: &WorkerProcess) {
    // A worker started again after a kill may not have registered yet: a pause before that
    // would leave no lease to lapse.
    let rows = "FROM workers w WHERE w.name LIKE '%:' || $1::text";
    let registered = format!("SELECT count(*) > 0 {rows} AND w.state = 'active'");
    let taken = format!(
        "SELECT bool_and(w.lease_expires_at < now()
                         AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.lease_owner = w.id)) {rows}"
    );
    let check = |sql: String| async move {
        let yes: Option<bool> = sqlx::query_scalar(&sql)
            .bind(worker.pid as i64)
            .fetch_one(pool)
            .await
            .ok()?;
        (yes == Some(true)).then_some(())
    };
    let limit = Duration::from_secs(60);
    wait::until("the worker to register", limit, || {
        check(registered.clone())
    })
    .await;
    worker.pause();
    wait::until("the paused worker to lose its tasks", limit, || {
        check(taken.clone())
    })
    .await;
    worker.resume();
}

/// The pids of running ffmpeg processes.
fn ffmpeg_processes() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim() == "ffmpeg").then_some(pid)
        })
        .collect()
}
