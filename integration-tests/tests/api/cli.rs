use std::{path::Path, process::Output, time::Duration};

use slate_integration_tests::{process::slate_binary, wait};

use slate_api::auth::Auth;
use slate_integration_tests::app::{spawn_app, spawn_app_with, Options, TestApp, ADMIN_TOKEN};

async fn slate(app: &TestApp, args: &[&str]) -> Output {
    let run = tokio::process::Command::new(slate_binary())
        .args(args)
        .env("SLATE_URL", &app.base)
        .env("SLATE_ADMIN_TOKEN", ADMIN_TOKEN)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("slate returns within 5 minutes")
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slate_generate_waits_and_saves_the_video_then_status_and_replay_work_on_it() {
    let app = spawn_app(true).await;
    let saved = app.media.path().join("cli.mp4");
    let saved_arg = saved.to_str().unwrap();
    let generate = slate(
        &app,
        &[
            "generate",
            "a leather wallet, calm and premium",
            "--duration",
            "15",
            "--creativity",
            "0.3",
            "--wait",
            "--output",
            saved_arg,
        ],
    )
    .await;
    assert!(generate.status.success(), "{generate:?}");
    let printed = stdout(&generate);
    assert!(printed.starts_with(saved_arg), "{printed}");
    assert!(printed.contains("15 s video, $0.00"), "{printed}");
    assert!(Path::new(&saved).metadata().unwrap().len() > 10_000);

    let (_, listed) = app.get("/api/videos").await;
    let id = listed["videos"][0]["video_id"].as_str().unwrap().to_owned();
    let status = slate(&app, &["status", &id]).await;
    assert!(stdout(&status).contains("status: complete"), "{status:?}");

    let replay = slate(&app, &["replay", &id, "--from", "adding_music"]).await;
    assert!(replay.status.success(), "{replay:?}");
    assert!(stdout(&replay).contains("replays from adding_music"));
    wait::until(
        "the replay to complete",
        Duration::from_secs(120),
        || async {
            let history: serde_json::Value = app
                .http
                .get(format!("{}/api/admin/runs/{id}", app.base))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (history["state"] == "completed" && history["generation"] == 1).then_some(())
        },
    )
    .await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slate_generate_reports_a_bad_request_and_exits_with_failure() {
    let app = spawn_app(false).await;
    let refused = slate(&app, &["generate", "  ", "--duration", "7"]).await;
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("422") && said.contains("prompt"), "{said}");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slate_worker_serves_the_step_durations_its_own_workers_measured() {
    let app = spawn_app(false).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let media = app.media.path().to_str().unwrap();
    let _worker = tokio::process::Command::new(slate_binary())
        .args([
            "worker",
            "--metrics-addr",
            &metrics_addr,
            "--media-dir",
            media,
        ])
        .env("DATABASE_URL", &app.db.url)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let id = app.generate("a ceramic mug, warm and cozy").await;
    app.wait_for_status(&id, "complete").await;

    let scraped = app
        .http
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    for phase in [
        "planning",
        "storyboarding",
        "generating_chunks",
        "stitching",
    ] {
        let count = format!(
            "slate_step_attempt_duration_seconds_count{{workflow=\"video\",step=\"{phase}\",outcome=\"succeeded\"}} 1"
        );
        assert!(text.contains(&count), "{count} missing from:\n{text}");
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slate_keys_create_makes_a_key_that_slate_generate_sends_from_slate_api_key() {
    let app = spawn_app_with(Options {
        auth: Auth::Keys,
        workers: true,
        ..Options::default()
    })
    .await;
    let keys = |args: &[&str]| {
        tokio::process::Command::new(slate_binary())
            .arg("keys")
            .args(args)
            .env("DATABASE_URL", &app.db.url)
            .env_remove("SLATE_ADMIN_TOKEN")
            .kill_on_drop(true)
            .output()
    };
    let created = keys(&["create", "--name", "bakery", "--monthly-budget-usd", "25"])
        .await
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let secret = stdout(&created).trim().to_owned();
    assert!(secret.starts_with("slate_"), "{secret}");
    let listed = keys(&["list"]).await.unwrap();
    let table = stdout(&listed);
    assert!(
        table.contains("bakery") && table.contains("$25.00"),
        "{table}"
    );
    assert!(
        table.contains(&secret[6..18]),
        "the lookup names the secret"
    );
    assert!(!table.contains(&secret[19..]), "the secret is never listed");

    let without = slate(&app, &["generate", "15s sourdough loaf, warm"]).await;
    assert!(!without.status.success());
    assert!(String::from_utf8_lossy(&without.stderr).contains("401"));
    let saved = app.media.path().join("bakery.mp4");
    let generate = tokio::process::Command::new(slate_binary())
        .args(["generate", "15s sourdough loaf, warm", "--wait", "--output"])
        .arg(&saved)
        .env("SLATE_URL", &app.base)
        .env("SLATE_API_KEY", &secret)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(generate.status.success(), "{generate:?}");
    assert!(saved.metadata().unwrap().len() > 10_000);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slate_serve_refuses_to_start_on_a_public_address_without_slate_auth() {
    let app = spawn_app(false).await;
    let serve = tokio::process::Command::new(slate_binary())
        .arg("serve")
        .env("DATABASE_URL", &app.db.url)
        .env("SLATE_HOST", "0.0.0.0")
        .env("SLATE_PORT", "0")
        .env_remove("SLATE_AUTH")
        .kill_on_drop(true)
        .output();
    let refused = tokio::time::timeout(Duration::from_secs(60), serve)
        .await
        .expect("slate serve exits at once")
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("SLATE_AUTH=keys") && said.contains("0.0.0.0"),
        "{said}"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slate_steers_a_video_through_its_review_then_regenerates_a_beat_and_lists_versions() {
    let app = spawn_app(true).await;
    let args = [
        "generate",
        "Ember, a smart mug",
        "--duration",
        "10",
        "--review",
        "--wait",
    ];
    let generate = slate(&app, &args).await;
    assert!(generate.status.success(), "{generate:?}");
    let printed = stdout(&generate);
    assert!(
        printed.contains("waits for your review of planning"),
        "{printed}"
    );
    let id = printed.split_whitespace().next().unwrap().to_owned();

    let approve = slate(&app, &["approve", &id]).await;
    assert!(
        stdout(&approve).contains("goes on past planning"),
        "{approve:?}"
    );
    wait::until("the stills' review", Duration::from_secs(300), || async {
        let (_, status) = app.get(&format!("/api/status/{id}")).await;
        let waiting = status["status"] == "awaiting_review";
        (waiting && status["current_phase"] == "generating_chunks").then_some(())
    })
    .await;
    let approve = slate(&app, &["approve", &id, "--gate", "storyboarding"]).await;
    assert!(approve.status.success(), "{approve:?}");
    app.wait_for_status(&id, "complete").await;

    let refused = slate(&app, &["regenerate", &id, "--beat", "9"]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("beat 9 not found"));
    let regenerate = slate(&app, &["regenerate", &id, "--beat", "1"]).await;
    assert!(stdout(&regenerate).contains("version 2"), "{regenerate:?}");
    let (_, status) = app.get(&format!("/api/status/{id}")).await;
    assert_eq!(status["version"], 2);
    app.wait_for_status(&id, "awaiting_review").await;
    let approve = slate(&app, &["approve", &id]).await;
    assert!(
        stdout(&approve).contains("version 2 of"),
        "a version inherits the review of the phases after its fork point: {approve:?}"
    );
    app.wait_for_status(&id, "complete").await;
    let versions = stdout(&slate(&app, &["versions", &id]).await);
    assert!(versions.contains("regenerated beat 1"), "{versions}");
    assert_eq!(
        versions.lines().count(),
        3,
        "a header and two versions: {versions}"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slate_webhook_secret_prints_the_secret_that_signs_events_and_rotates_it() {
    let app = spawn_app(false).await;
    let shown = slate(&app, &["webhook-secret"]).await;
    assert!(shown.status.success(), "{shown:?}");
    let (_, secret) = app.get("/api/webhooks/secret").await;
    assert_eq!(stdout(&shown).trim(), secret["secret"]);
    assert!(String::from_utf8_lossy(&shown.stderr).contains("Slate-Signature"));

    let rotated = slate(&app, &["webhook-secret", "--rotate"]).await;
    let (_, current) = app.get("/api/webhooks/secret").await;
    assert_eq!(stdout(&rotated).trim(), current["secret"]);
    assert_ne!(current["secret"], secret["secret"]);

    let generate = slate(
        &app,
        &[
            "generate",
            "15s watch",
            "--webhook-url",
            "https://10.0.0.1/hooks",
        ],
    )
    .await;
    assert!(!generate.status.success());
    assert!(String::from_utf8_lossy(&generate.stderr).contains("webhook_url"));
    app.finish().await;
}
