use std::{sync::Arc, time::Duration};

use serde_json::Value;
use slate_integration_tests::wait;

use slate_activities::providers::Providers;

use slate_integration_tests::app::{spawn_app, spawn_app_with, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_made_through_the_api_downloads_and_seeks() {
    let app = spawn_app(true).await;
    let id = app.generate("15s Nike sneakers energetic urban").await;
    let done = wait::until(
        "the video to complete",
        Duration::from_secs(300),
        || async {
            let (_, status) = app.get(&format!("/api/status/{id}")).await;
            assert_ne!(status["status"], "failed", "{status}");
            (status["status"] == "complete").then_some(status)
        },
    )
    .await;
    assert_eq!(done["progress"], 100);

    let (_, video) = app.get(&format!("/api/video/{id}")).await;
    let breakdown: f64 = video["cost_breakdown"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_f64)
        .sum();
    let cost = video["cost_usd"].as_f64().unwrap();
    assert!(cost < 0.50 && (cost - breakdown).abs() < 1e-9);
    assert_eq!(video["spec"]["duration"], 15);
    let url = video["final_video_url"].as_str().unwrap();
    let file = app.http.get(url).send().await.unwrap();
    assert_eq!(file.status().as_u16(), 200);
    let bytes = file.bytes().await.unwrap();
    let path = app.media.path().join("downloaded.mp4");
    std::fs::write(&path, &bytes).unwrap();
    let probe = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .await
        .unwrap();
    let seconds: f64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!((seconds - 15.0).abs() <= 0.1, "lasts {seconds}");

    let part = app
        .http
        .get(url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.bytes().await.unwrap().len(), 100);
    let (status, _) = app
        .post(&format!("/api/video/{id}/cancel"), &Value::Null)
        .await;
    assert_eq!(status, 409, "a finished video cannot be cancelled");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_video_can_be_cancelled() {
    let app = spawn_app(false).await;
    let id = app.generate("15s watch").await;
    let (status, body) = app
        .post(&format!("/api/video/{id}/cancel"), &Value::Null)
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("cancelled")));
    let (_, video) = app.get(&format!("/api/status/{id}")).await;
    assert_eq!(video["status"], "cancelled");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_streams_its_phases_in_order_replays_after_last_event_id_and_counts_in_metrics() {
    let app = spawn_app(true).await;
    let id = app.generate("15s espresso machine warm morning").await;
    let live = app.events(&id, None).await;
    let statuses: Vec<&str> = live
        .iter()
        .map(|(_, status)| status["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "queued",
            "planning",
            "storyboarding",
            "generating_chunks",
            "stitching",
            "adding_music",
            "complete"
        ]
    );
    let progress: Vec<i64> = live
        .iter()
        .map(|(_, status)| status["progress"].as_i64().unwrap())
        .collect();
    assert_eq!(progress, [0, 10, 25, 40, 70, 85, 100]);
    assert!(live.windows(2).all(|pair| pair[0].0 < pair[1].0));
    assert!(live
        .iter()
        .all(|(_, status)| status["video_id"] == id.as_str()));

    let storyboarding = live[2].0;
    let moves = |events: &[(i64, Value)]| -> Vec<(i64, Value, Value)> {
        events
            .iter()
            .map(|(id, s)| (*id, s["status"].clone(), s["progress"].clone()))
            .collect()
    };
    let replayed = app.events(&id, Some(storyboarding)).await;
    assert_eq!(
        moves(&replayed),
        moves(&live[3..]),
        "the changes after Last-Event-ID"
    );
    assert_eq!(app.events(&id, Some(live[6].0)).await, []);

    let unauthorised = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        unauthorised.status().as_u16(),
        401,
        "metrics are for operators"
    );
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(slate_integration_tests::app::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"slate_runs{state="completed"} 1"#,
        r#"slate_videos{status="complete"} 1"#,
        "slate_tasks_due 0",
        r#"slate_step_attempt_duration_seconds_count{workflow="video",step="adding_music",outcome="succeeded"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_planning_at_10_while_the_planner_is_held() {
    let planner = wiremock::MockServer::start().await;
    slate_integration_tests::planner::answer(&planner, Duration::from_secs(2)).await;
    let app = spawn_app_with(Options {
        workers: true,
        providers: Providers {
            planner: Arc::new(slate_integration_tests::planner::client(&planner)),
            ..Providers::embedded().unwrap()
        },
        ..Options::default()
    })
    .await;
    let id = app.generate("15s Nike sneakers energetic urban").await;
    let held = wait::until("planning to show", Duration::from_secs(60), || async {
        let (_, status) = app.get(&format!("/api/status/{id}")).await;
        (status["status"] != "queued").then_some(status)
    })
    .await;
    assert_eq!(
        (held["status"].as_str(), held["progress"].as_i64()),
        (Some("planning"), Some(10)),
        "{held}"
    );
    assert_eq!(held["current_phase"], "planning");
    assert!(held["estimated_time_remaining"].as_i64().unwrap() > 0);
    wait::until("planning to end", Duration::from_secs(60), || async {
        let (_, status) = app.get(&format!("/api/status/{id}")).await;
        (status["status"] != "planning").then_some(())
    })
    .await;
    app.finish().await;
}
