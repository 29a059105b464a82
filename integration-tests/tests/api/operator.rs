use serde_json::{json, Value};

use slate_integration_tests::app::{spawn_app, spawn_app_with, Options, TestApp, ADMIN_TOKEN};

async fn admin(
    app: &TestApp,
    verb: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.http.request(verb, format!("{}{path}", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_replays_a_run_that_failed_adding_music_without_redoing_the_phases_before() {
    let (_music, providers) = slate_integration_tests::music::flaky().await;
    let app = spawn_app_with(Options {
        workers: true,
        providers,
        ..Options::default()
    })
    .await;
    let id = app.generate("15s ad for a watch").await;
    let failed = app.wait_for_status(&id, "failed").await;
    assert_eq!(
        failed["error"], "adding_music failed: the model refused the request (provider_rejected)",
        "the client sees a message written for clients, not the provider's: {failed}"
    );

    let (_, listed) = admin(
        &app,
        reqwest::Method::GET,
        "/api/admin/runs?status=failed",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(listed["runs"][0]["run_id"], id.as_str());
    let replay = format!("/api/admin/runs/{id}/replay");
    let (status, _) = admin(
        &app,
        reqwest::Method::POST,
        &replay,
        Some(ADMIN_TOKEN),
        Some(json!({"from_phase": "music"})),
    )
    .await;
    assert_eq!(status, 422, "an unknown phase");
    let (status, _) = admin(
        &app,
        reqwest::Method::POST,
        &replay,
        Some(ADMIN_TOKEN),
        Some(json!({"from_phase": "adding_music"})),
    )
    .await;
    assert_eq!(status, 200);
    app.wait_for_status(&id, "complete").await;

    let (_, history) = admin(
        &app,
        reqwest::Method::GET,
        &format!("/api/admin/runs/{id}"),
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    let checkpoints: Vec<(String, i64)> = history["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["step"].as_str().unwrap().to_owned(),
                c["generation"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, i64)> = [
        ("planning", 0),
        ("storyboarding", 0),
        ("generating_chunks", 0),
        ("stitching", 0),
        ("adding_music", 1),
    ]
    .iter()
    .map(|(s, g)| (s.to_string(), *g))
    .collect();
    assert_eq!(
        checkpoints, expected,
        "phases 1-4 ran once, before the replay"
    );
    let events = history["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["kind"] == "run_failed"
            && e["detail"]["message"]
                .as_str()
                .unwrap()
                .contains("must be less than or equal to 30")),
        "the provider's own text stays in the operators' history"
    );
    let replayed_at = events.iter().position(|e| e["kind"] == "replayed").unwrap();
    let started_after: Vec<&str> = events[replayed_at..]
        .iter()
        .filter(|e| e["kind"] == "step_started")
        .map(|e| e["step"].as_str().unwrap())
        .collect();
    assert_eq!(started_after, ["adding_music"]);
    let (_, video) = app.get(&format!("/api/video/{id}")).await;
    assert!(
        (video["cost_usd"].as_f64().unwrap() - 0.15).abs() < 1e-9,
        "one track paid for"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_the_bearer_token() {
    let app = spawn_app(false).await;
    for token in [None, Some("wrong"), Some("")] {
        let (status, body) =
            admin(&app, reqwest::Method::GET, "/api/admin/runs", token, None).await;
        assert_eq!(status, 401, "{token:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let (status, _) = admin(
        &app,
        reqwest::Method::GET,
        "/api/admin/runs",
        Some(ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 200);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_token_the_admin_api_is_not_there() {
    let app = spawn_app_with(Options {
        admin_token: None,
        ..Options::default()
    })
    .await;
    for token in [None, Some(ADMIN_TOKEN)] {
        let (status, body) =
            admin(&app, reqwest::Method::GET, "/api/admin/runs", token, None).await;
        assert_eq!(status, 404, "{token:?}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    app.finish().await;
}
