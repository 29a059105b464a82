//! Faults against a whole deployment: `slate serve` and two worker processes on a PostgreSQL
//! cluster of the test's own. While probe runs (through the engine library) and videos (through
//! the API) are made, workers are SIGKILLed and restarted, one is paused past its lease, the
//! engine's backends are terminated and PostgreSQL restarts. At the end every run must be complete
//! with one live checkpoint per step, nothing checkpointed or memoized may have run again, no task
//! or ffmpeg may be left, and the API must have answered 2xx, or 503 only around the outages.
//!
//! `make test` runs a bounded round; `make chaos` the full one (`SLATE_CHAOS=full`).

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
    /// How long workers keep being killed.
    chaos: Duration,
}

impl Scale {
    fn from_env() -> Self {
        if std::env::var("SLATE_CHAOS").as_deref() == Ok("full") {
            Self {
                probes: 180,
                videos: 20,
                chaos: Duration::from_secs(60),
            }
        } else {
            Self {
                probes: 40,
                videos: 3,
                chaos: Duration::from_secs(25),
            }
        }
    }
}

/// When the one-off faults strike, as shares of the chaos window. They come in this order, each
/// at a point drawn from the round's seed, as do the kills' victims and intervals.
struct Schedule {
    seed: u64,
    pause: f64,
    terminate: f64,
    restart: f64,
}

impl Schedule {
    /// From `SLATE_CHAOS_SEED` when set (to replay a round's schedule), else from a new seed.
    fn from_env() -> (Self, fastrand::Rng) {
        let seed = std::env::var("SLATE_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| fastrand::u64(..));
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut between = |from: f64, to: f64| from + rng.f64() * (to - from);
        let schedule = Self {
            seed,
            pause: between(0.1, 0.3),
            terminate: between(0.35, 0.5),
            restart: between(0.55, 0.75),
        };
        (schedule, rng)
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
    let (schedule, mut rng) = Schedule::from_env();
    eprintln!(
        "chaos seed {0}: SLATE_CHAOS_SEED={0} replays this round's faults",
        schedule.seed
    );
    let cluster = PrivateCluster::start();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&cluster.url)
        .await
        .unwrap();
    slate_engine::MIGRATOR.run(&pool).await.unwrap();
    probe::create_tables(&pool).await.unwrap();
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
    let began = Instant::now();
    let mut kills: Vec<(u32, DateTime<Utc>)> = Vec::new();
    let (mut paused, mut terminated, mut restarted) = (false, false, false);
    let mut next_kill = began + Duration::from_secs(2);
    while began.elapsed() < scale.chaos {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = began.elapsed();
        let at = |share: f64| t > scale.chaos.mul_f64(share);
        if !paused && at(schedule.pause) {
            paused = true;
            pause_until_taken_over(&pool, &workers[1]).await;
        } else if !terminated && at(schedule.terminate) {
            terminated = true;
            let from = Utc::now();
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .execute(&pool)
            .await
            .unwrap();
            outages.record(from, Utc::now());
        } else if !restarted && at(schedule.restart) {
            restarted = true;
            let from = Utc::now();
            let cluster = &cluster;
            tokio::task::block_in_place(|| cluster.restart(Duration::from_secs(3)));
            outages.record(from, Utc::now());
        } else if Instant::now() >= next_kill {
            let victim = rng.usize(..workers.len());
            let pid = workers[victim].pid;
            workers[victim].kill().await;
            kills.push((pid, Utc::now()));
            workers[victim] = spawn_worker();
            next_kill = Instant::now() + Duration::from_millis(rng.u64(1500..3500));
        }
    }
    load.await.unwrap();

    let total = (scale.probes + scale.videos) as i64;
    assert_eq!(videos.lock().unwrap().len(), scale.videos);
    let deadline = Instant::now() + Duration::from_secs(300);
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
            panic!("runs not completed: {:#?}", unfinished(&pool).await);
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
    // Nothing checkpointed or memoized ran again after its result was committed.
    let duplicates: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM probe_executions e
                 JOIN checkpoints c ON c.run_id = e.run_id AND c.step = e.step
                      AND c.superseded_at IS NULL
                 WHERE e.part IS NULL AND e.at > c.completed_at)
              + (SELECT count(*) FROM probe_executions e
                 JOIN memos m ON m.run_id = e.run_id AND m.key = 'part-' || e.part
                      AND m.superseded_at IS NULL
                 WHERE e.part IS NOT NULL AND e.at > m.created_at)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(duplicates, 0, "executions after their result was committed");
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

    println!(
        "chaos: {} runs ({} probe runs, {} videos) all complete; {} kills, 1 pause past the \
         lease, 1 backend termination, 1 PostgreSQL restart; duplicates 0; {} late results fenced; \
         {} API answers, {} of them 503 during outages; longest resume after a kill {:.0} ms \
         (seed {})",
        total,
        scale.probes,
        scale.videos,
        kills.len(),
        dropped,
        answers.len(),
        unavailable,
        resumes.iter().copied().fold(0.0, f64::max) * 1000.0,
        schedule.seed
    );
    pool.close().await;
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

/// Pauses `worker` (SIGSTOP) until its lease has lapsed and every task it held was taken back,
/// then resumes it (SIGCONT): whatever it finishes afterwards must be fenced.
async fn pause_until_taken_over(pool: &PgPool, worker: &WorkerProcess) {
    worker.pause();
    wait::until(
        "the paused worker to lose its tasks",
        Duration::from_secs(60),
        || async {
            let taken: Option<bool> = sqlx::query_scalar(
                "SELECT bool_and(w.lease_expires_at < now()
                             AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.lease_owner = w.id))
             FROM workers w WHERE w.name LIKE '%:' || $1::text",
            )
            .bind(worker.pid as i64)
            .fetch_one(pool)
            .await
            .ok()?;
            (taken == Some(true)).then_some(())
        },
    )
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
