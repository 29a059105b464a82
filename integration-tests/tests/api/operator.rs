use std::time::Duration;

use serde_json::{json, Value};
use slate_activities::{
    pipeline::{CloudModel, Providers},
    providers::{replicate::Replicate, Secret},
};
use slate_integration_tests::wait;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::harness::{spawn_app, spawn_app_with, Options, TestApp, ADMIN_TOKEN};

/// A music model that refuses its first request and then writes a track.
async fn flaky_music(server: &MockServer) -> Providers {
    let track = tempfile::NamedTempFile::new().unwrap();
    let made = tokio::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=f=220:d=20",
            "-f",
            "wav",
        ])
        .arg(track.path())
        .status()
        .await
        .unwrap();
    assert!(made.success());
    let prediction = json!({"id": "mus", "status": "succeeded",
                            "output": format!("{}/files/track.wav", server.uri())});
    let create = || path("/v1/models/meta/musicgen/predictions");
    Mock::given(method("POST"))
        .and(create())
        .respond_with(ResponseTemplate::new(422).set_body_string("duration too long"))
        .up_to_n_times(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(create())
        .respond_with(ResponseTemplate::new(201).set_body_json(&prediction))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/predictions/mus"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&prediction))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/files/track.wav"))
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(std::fs::read(track.path()).unwrap()),
        )
        .mount(server)
        .await;
    let api = Replicate {
        client: reqwest::Client::new(),
        base_url: server.uri(),
        token: Secret::new("r8"),
        deadline: Duration::from_secs(30),
        poll_from: Duration::from_millis(20),
        poll_to: Duration::from_millis(100),
    };
    Providers {
        music: Some(CloudModel {
            api,
            model: "meta/musicgen".into(),
        }),
        ..Providers::default()
    }
}

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

async fn wait_status(app: &TestApp, id: &str, wanted: &str) -> Value {
    wait::until(
        &format!("{id} to be {wanted}"),
        Duration::from_secs(300),
        || async {
            let (_, status) = app.get(&format!("/api/status/{id}")).await;
            (status["status"] == wanted).then_some(status)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_replays_a_run_that_failed_adding_music_without_redoing_the_phases_before() {
    let server = MockServer::start().await;
    let app = spawn_app_with(Options {
        workers: true,
        providers: flaky_music(&server).await,
        ..Options::default()
    })
    .await;
    let id = app.generate("15s ad for a watch").await;
    let failed = wait_status(&app, &id, "failed").await;
    assert!(
        failed["error"].as_str().unwrap().contains("adding_music"),
        "{failed}"
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
    wait_status(&app, &id, "complete").await;

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
