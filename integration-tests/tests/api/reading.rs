use serde_json::json;
use uuid::Uuid;

use slate_integration_tests::app::spawn_app;

/// A video row as the projection would hold it at `status`.
async fn fixture(
    app: &slate_integration_tests::app::TestApp,
    status: &str,
    final_key: Option<&str>,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO runs (id, workflow, workflow_version, input) VALUES ($1, 'video', 1, '{}')",
    )
    .bind(id)
    .execute(&app.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO videos (id, owner, prompt, request, status, progress, cost_breakdown,
                             final_key, completed_at)
         VALUES ($1, '00000000-0000-0000-0000-000000000000', 'a watch',
                 '{\"prompt\": \"a watch\"}', $2::video_status, $3, $4, $5,
                 CASE WHEN $2 = 'complete' THEN now() END)",
    )
    .bind(id)
    .bind(status)
    .bind(if status == "complete" { 100i16 } else { 40 })
    .bind(json!({"planning": 0.02, "storyboarding": 0.022, "generating_chunks": 0.24}))
    .bind(final_key)
    .execute(&app.db.pool)
    .await
    .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_a_video_and_404s_unknown_or_malformed_ids() {
    let app = spawn_app(false).await;
    let id = fixture(&app, "generating_chunks", None).await;
    let (status, body) = app.get(&format!("/api/status/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["video_id"], id.to_string());
    assert_eq!(body["progress"], 40);
    assert!(body["estimated_time_remaining"].as_i64().is_some());
    for unknown in [Uuid::new_v4().to_string(), "not-an-id".to_owned()] {
        let (status, body) = app.get(&format!("/api/status/{unknown}")).await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["code"], "not_found");
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_video_has_its_url_and_cost_and_one_in_progress_has_no_url() {
    let app = spawn_app(false).await;
    let done = fixture(&app, "complete", Some("videos/x/final.mp4")).await;
    let (_, body) = app.get(&format!("/api/video/{done}")).await;
    let url = body["final_video_url"].as_str().unwrap();
    let signed = format!("{}/media/videos/x/final.mp4?expires=", app.base);
    assert!(
        url.starts_with(&signed) && url.contains("&signature="),
        "{url}"
    );
    let cost = body["cost_usd"].as_f64().unwrap();
    assert!(cost > 0.0 && (cost - 0.282).abs() < 1e-9);
    let running = fixture(&app, "stitching", Some("videos/y/final.mp4")).await;
    let (_, body) = app.get(&format!("/api/video/{running}")).await;
    assert_eq!(body["final_video_url"], serde_json::Value::Null);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videos_are_listed_newest_first_page_by_page() {
    let app = spawn_app(false).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(fixture(&app, "complete", None).await.to_string());
    }
    ids.reverse();
    let (_, first) = app.get("/api/videos?limit=3").await;
    let (_, second) = app
        .get(&format!(
            "/api/videos?limit=3&cursor={}",
            first["next_cursor"].as_str().unwrap()
        ))
        .await;
    let listed: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|page| page["videos"].as_array().unwrap().clone())
        .map(|v| v["video_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids);
    assert_eq!(second["next_cursor"], serde_json::Value::Null);
    for bad in ["limit=0", "limit=abc", "status=done", "cursor=zzz"] {
        let (status, body) = app.get(&format!("/api/videos?{bad}")).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_lets_the_configured_origin_call_the_api_and_no_other() {
    let app = spawn_app(false).await;
    let preflight = app
        .http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/generate", app.base),
        )
        .header("origin", "https://studio.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://studio.example.com"
    );
    for (origin, allowed) in [
        ("https://studio.example.com", true),
        ("https://elsewhere.example.com", false),
    ] {
        let response = app
            .http
            .get(format!("{}/api/videos", app.base))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{origin}");
        assert_eq!(
            response
                .headers()
                .contains_key("access-control-allow-origin"),
            allowed,
            "{origin}"
        );
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route_and_docs_api_md_lists_each() {
    let app = spawn_app(false).await;
    let (status, document) = app.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    for (path, verb) in [
        ("/api/generate", "post"),
        ("/api/status/{video_id}", "get"),
        ("/api/status/{video_id}/events", "get"),
        ("/api/video/{video_id}", "get"),
        ("/api/video/{video_id}/cancel", "post"),
        ("/api/videos", "get"),
        ("/api/usage", "get"),
        ("/api/admin/runs", "get"),
        ("/api/admin/runs/{run_id}", "get"),
        ("/api/admin/runs/{run_id}/replay", "post"),
        ("/api/admin/runs/{run_id}/cancel", "post"),
        ("/api/admin/videos", "get"),
        ("/api/admin/keys", "post"),
        ("/api/admin/keys", "get"),
        ("/api/admin/keys/{key_id}", "patch"),
        ("/api/admin/keys/{key_id}/revoke", "post"),
        ("/api/admin/keys/{key_id}/rotate", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
    ] {
        assert!(paths[path][verb].is_object(), "{verb} {path}");
    }
    let error = &document["components"]["schemas"]["ErrorDetail"]["properties"];
    assert!(error["code"].is_object() && error["message"].is_object());
    let schemes = &document["components"]["securitySchemes"];
    assert!(schemes["client"].is_object() && schemes["operator"].is_object());
    assert_eq!(
        paths["/api/generate"]["post"]["security"][0]["client"],
        json!([])
    );
    assert_eq!(
        paths["/api/admin/keys"]["get"]["security"][0]["operator"],
        json!([])
    );

    let reference = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md"),
    )
    .unwrap();
    for (path, operations) in paths {
        for verb in operations.as_object().unwrap().keys() {
            let heading = format!("### `{} {path}`", verb.to_uppercase());
            assert!(reference.contains(&heading), "docs/api.md lacks {heading}");
        }
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_request_id_and_keeps_the_callers() {
    let app = spawn_app(false).await;
    let url = format!("{}/healthz", app.base);
    let fresh = app.http.get(&url).send().await.unwrap();
    let id = fresh.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let kept = app
        .http
        .get(&url)
        .header("x-request-id", "edge-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "edge-7f3a");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_stream_of_a_finished_video_without_history_sends_its_status_and_closes() {
    let app = spawn_app(false).await;
    let id = fixture(&app, "complete", Some("v/final.mp4")).await;
    let events = app.events(&id.to_string(), None).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].1["status"], "complete");
    app.finish().await;
}
