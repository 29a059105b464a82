//! Before and after a video: an estimate starts nothing, and a delete removes a video and its
//! versions from every read.

use reqwest::Method;
use serde_json::json;
use slate_integration_tests::app::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_estimate_prices_each_phase_and_starts_nothing() {
    let app = spawn_app(false).await;
    let body = json!({"prompt": "30s luxury watch elegant", "duration": 30});
    let (status, estimate) = app.post("/api/estimate", &body).await;
    assert_eq!(status, 200, "{estimate}");
    assert_eq!(estimate["duration"], 30);
    assert_eq!(estimate["num_chunks"], 6);
    let phases = estimate["cost_breakdown"].as_object().unwrap();
    assert_eq!(phases.len(), 5);
    assert_eq!(estimate["cost_usd"], 0.0, "the embedded providers are free");
    assert_eq!(estimate["budget_usd"], 0.5);
    assert!(estimate["estimated_time_seconds"].as_i64().unwrap() > 0);
    let (status, refused) = app.post("/api/estimate", &json!({"prompt": " "})).await;
    assert_eq!(
        (status, &refused["error"]["field"]),
        (422, &json!("prompt"))
    );
    let (_, listed) = app.get("/api/videos").await;
    assert_eq!(listed["videos"], json!([]), "nothing was started");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_video_is_cancelled_and_gone_from_every_read() {
    let app = spawn_app(false).await;
    let id = app.generate("a leather wallet").await;
    let kept = app.generate("a silk scarf").await;
    let path = format!("/api/video/{id}");
    let (status, deleted) = app.send(Method::DELETE, &path, None).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted, json!({"video_id": id, "status": "deleted"}));
    assert_eq!(app.get(&path).await.0, 404);
    assert_eq!(app.get(&format!("/api/status/{id}")).await.0, 404);
    assert_eq!(app.get(&format!("/api/video/{id}/versions")).await.0, 404);
    assert_eq!(app.send(Method::DELETE, &path, None).await.0, 404, "once");
    let (_, listed) = app.get("/api/videos").await;
    let ids: Vec<&str> = listed["videos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["video_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [kept.as_str()]);
    let (_, history) = app
        .admin(Method::GET, &format!("/api/admin/runs/{id}"), None)
        .await;
    assert_eq!(
        history["state"], "cancelled",
        "operators keep the history: {history}"
    );
    app.finish().await;
}
