use std::time::Duration;

use serde_json::Value;
use slate_integration_tests::wait;

use crate::harness::spawn_app;

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
