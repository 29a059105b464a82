//! What HTTP load may take from the engine running in the same process, and what it may not.

use std::time::Duration;

use slate_engine::{Engine, SchedulerConfig, WorkerConfig};
use slate_integration_tests::{
    app::{spawn_app_with, Options},
    wait,
};
use sqlx::{postgres::PgPoolOptions, PgPool};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The application's pool: small, so that the flood fills it.
const POOL: u32 = 4;
const LEASE_TTL: Duration = Duration::from_secs(1);

/// Whether the worker heartbeated through the flood, or lost a lease to the scheduler.
#[derive(Debug, PartialEq)]
enum Lease {
    KeptThroughTheFlood,
    Expired,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_status_and_event_requests_never_costs_a_live_worker_its_lease() {
    let app = spawn_app_with(Options {
        workers: true,
        worker: WorkerConfig {
            lease_ttl: LEASE_TTL,
            heartbeat_interval: Duration::from_millis(200),
            ..WorkerConfig::default()
        },
        pool_size: POOL,
        ..Options::default()
    })
    .await;
    // A scheduler as another process runs it, on a pool of its own, watching the worker's lease.
    let watcher = PgPoolOptions::new()
        .max_connections(2)
        .connect(&app.db.url)
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let scheduler = Engine::builder(watcher.clone())
        .build()
        .scheduler(SchedulerConfig {
            tick: Duration::from_millis(100),
            ..SchedulerConfig::default()
        });
    tokio::spawn(scheduler.run(stop.clone()));
    let id = app.generate("15s sneakers, energetic and urban").await;

    // Clients that read the status and follow the events stream, over and over, from many
    // connections, until the video is finished.
    let mut flood = JoinSet::new();
    for client in 0..64 {
        let (http, base, id, stop) = (app.http.clone(), app.base.clone(), id.clone(), stop.clone());
        flood.spawn(async move {
            let path = match client % 2 {
                0 => format!("{base}/api/status/{id}"),
                _ => format!("{base}/api/status/{id}/events"),
            };
            while !stop.is_cancelled() {
                let Ok(mut answer) = http.get(&path).send().await else {
                    continue;
                };
                while let Ok(Some(_)) = answer.chunk().await {}
            }
        });
    }
    // At the flood's height every connection of the application's pool is taken, for three
    // lease TTLs of the database's clock.
    let mut held = Vec::new();
    for _ in 0..POOL {
        held.push(app.db.pool.acquire().await.unwrap());
    }
    let since: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&watcher)
        .await
        .unwrap();
    let lease = wait::until(
        "three lease TTLs of heartbeats, or a lost lease",
        Duration::from_secs(60),
        || async {
            if lease_expirations(&watcher).await > 0 {
                return Some(Lease::Expired);
            }
            let beat: chrono::DateTime<chrono::Utc> =
                sqlx::query_scalar("SELECT max(heartbeat_at) FROM workers WHERE state = 'active'")
                    .fetch_one(&watcher)
                    .await
                    .ok()?;
            (beat > since + LEASE_TTL * 3).then_some(Lease::KeptThroughTheFlood)
        },
    )
    .await;
    drop(held);
    assert_eq!(lease, Lease::KeptThroughTheFlood);

    app.wait_for_status(&id, "complete").await;
    stop.cancel();
    flood.shutdown().await;
    assert_eq!(
        lease_expirations(&watcher).await,
        0,
        "no lease of the live worker lapsed"
    );
    watcher.close().await;
    app.finish().await;
}

async fn lease_expirations(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE kind = 'lease_expired'")
        .fetch_one(pool)
        .await
        .unwrap()
}
