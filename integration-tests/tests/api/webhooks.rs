//! Webhooks over real HTTP, with a local receiver: the signed events of a video's gates and end,
//! checked as docs/api.md tells a client to check them; retries with one event id until the
//! receiver answers 2xx, across a restart of the worker; a later version's events; receivers that never answer or that the
//! outbound rules refuse, which never touch the video; and the webhook URLs a generate refuses.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use slate_activities::webhooks::WebhookConfig;
use slate_integration_tests::{
    app::{spawn_app, spawn_app_with, Options, TestApp},
    wait,
};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, Request, ResponseTemplate,
};

/// A receiver that answers `status` to every event.
async fn receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}

fn hook_url(server: &MockServer) -> String {
    format!("{}/hooks", server.uri())
}

/// Waits until the receiver has been sent `count` events, and returns them.
async fn received(server: &MockServer, count: usize) -> Vec<Request> {
    wait::until(
        &format!("{count} webhook requests"),
        Duration::from_secs(300),
        || async {
            let requests = server.received_requests().await.unwrap_or_default();
            (requests.len() >= count).then_some(requests)
        },
    )
    .await
}

async fn generate(app: &TestApp, body: Value) -> String {
    let (status, body) = app.post("/api/generate", &body).await;
    assert_eq!(status, 200, "{body}");
    body["video_id"].as_str().unwrap().to_owned()
}

async fn current_secret(app: &TestApp) -> String {
    let (status, body) = app.get("/api/webhooks/secret").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["signature_header"], "Slate-Signature");
    assert_eq!(body["tolerance_secs"], 300);
    body["secret"].as_str().unwrap().to_owned()
}

/// Checks a request as docs/api.md tells a receiver to: the `v1` signatures of
/// `Slate-Signature`, one of which must be the HMAC-SHA256 under `secret` of the timestamp, a
/// period and the raw body, with a timestamp within 5 minutes. Returns the event, and how many
/// signatures the header carried.
fn verified(request: &Request, secret: &str) -> (Value, usize) {
    let header = request.headers["slate-signature"].to_str().unwrap();
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().unwrap()),
            Some(("v1", hex)) => signatures.push(hex::decode(hex).unwrap()),
            _ => panic!("an unknown part in {header}"),
        }
    }
    let timestamp = timestamp.expect("a timestamp");
    let age = (chrono::Utc::now().timestamp() - timestamp).abs();
    assert!(age <= 300, "signed {age} s away from now");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&request.body);
    let expected = mac.finalize().into_bytes();
    assert!(
        signatures
            .iter()
            .any(|s| s.as_slice() == expected.as_slice()),
        "no signature of {header} is the body's under the secret"
    );
    let event: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        request.headers["slate-event-id"].to_str().unwrap(),
        event["id"].as_str().unwrap()
    );
    assert_eq!(request.headers["content-type"], "application/json");
    (event, signatures.len())
}

/// The state and error code of the run that delivers the event `event_id`, once it has ended.
async fn delivery_end(app: &TestApp, event_id: &str) -> (String, Option<String>, i64) {
    let run = uuid::Uuid::parse_str(event_id.strip_prefix("evt_").unwrap()).unwrap();
    wait::until("the delivery to end", Duration::from_secs(120), || async {
        sqlx::query_as::<_, (String, Option<String>, i64)>(
            "SELECT state::text, error->>'code',
                    (SELECT count(*) FROM events WHERE run_id = r.id AND kind = 'step_started')
             FROM runs r WHERE id = $1 AND state <> 'running'",
        )
        .bind(run)
        .fetch_optional(&app.db.pool)
        .await
        .unwrap()
    })
    .await
}

/// The one delivery run of the video `id`'s events, once it has ended.
async fn only_delivery(app: &TestApp) -> (String, Option<String>, i64) {
    let event: String = wait::until("a delivery", Duration::from_secs(300), || async {
        sqlx::query_scalar::<_, String>("SELECT 'evt_' || id FROM runs WHERE workflow = 'webhook'")
            .fetch_optional(&app.db.pool)
            .await
            .unwrap()
    })
    .await;
    delivery_end(app, &event).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_posts_an_event_signed_with_its_keys_secret_at_its_review_gate_and_at_its_end() {
    let app = spawn_app(true).await;
    let server = receiver(204).await;
    let body = json!({"prompt": "Ember, a smart mug", "duration": 15, "review": ["planning"],
                      "webhook_url": hook_url(&server)});
    let id = generate(&app, body).await;
    let secret = current_secret(&app).await;

    let gate = &received(&server, 1).await[0];
    let (event, _) = verified(gate, &secret);
    assert_eq!(event["type"], "video.awaiting_review");
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    assert!(event["created_at"].is_string());
    let data = &event["data"];
    assert_eq!(data["video_id"], id.as_str());
    assert_eq!(data["version"], 1);
    assert_eq!(data["status"], "awaiting_review");
    assert_eq!(data["gate"], "planning");
    assert_eq!(data["current_phase"], "storyboarding");
    assert!(data["cost_usd"].is_number());

    let (status, _) = app
        .post(
            &format!("/api/video/{id}/approve"),
            &json!({"gate": "planning"}),
        )
        .await;
    assert_eq!(status, 200);
    let requests = received(&server, 2).await;
    let (end, _) = verified(&requests[1], &secret);
    assert_eq!(end["type"], "video.complete");
    assert_eq!(end["data"]["status"], "complete");
    assert_eq!(end["data"]["error"], Value::Null);
    assert!(end["data"].get("gate").is_none(), "{end}");
    assert_ne!(end["id"], event["id"], "each event has its own id");

    // A later version keeps the video's webhook.
    let path = format!("/api/video/{id}/beats/1/regenerate");
    let (status, queued) = app.post(&path, &json!({})).await;
    assert_eq!(status, 200, "{queued}");
    let requests = received(&server, 3).await;
    let (regenerated, _) = verified(&requests[2], &secret);
    assert_eq!(regenerated["type"], "video.complete");
    assert_eq!(regenerated["data"]["video_id"], id.as_str());
    assert_eq!(regenerated["data"]["version"], 2);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_gets_the_same_event_again_across_a_worker_restart_until_it_answers_2xx(
) {
    let mut app = spawn_app_with(Options {
        workers: true,
        webhooks: WebhookConfig {
            attempts: 4,
            first_retry: Duration::from_secs(2),
        },
        ..Options::default()
    })
    .await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let body = json!({"prompt": "15s running shoes", "webhook_url": hook_url(&server)});
    let id = generate(&app, body).await;
    app.wait_for_status(&id, "complete").await;

    // The first attempt was refused; its retry is due in 2 s, by then on a new worker.
    received(&server, 1).await;
    app.restart_worker().await;
    let requests = received(&server, 2).await;
    let secret = current_secret(&app).await;
    let (first, second) = (
        verified(&requests[0], &secret).0,
        verified(&requests[1], &secret).0,
    );
    assert_eq!(first, second, "the same event, id and all");
    assert_eq!(second["type"], "video.complete");
    let event_id = first["id"].as_str().unwrap();
    let (state, code, attempts) = delivery_end(&app, event_id).await;
    assert_eq!((state.as_str(), code, attempts), ("completed", None, 2));
    let workers: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT worker_id) FROM events WHERE run_id = $1 AND kind = 'step_started'",
    )
    .bind(uuid::Uuid::parse_str(&event_id[4..]).unwrap())
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        workers, 2,
        "the retry was made by the worker that came after"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_neither_delays_nor_fails_the_video_and_its_delivery_gives_up(
) {
    let app = spawn_app(true).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/hooks",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let id = generate(&app, json!({"prompt": "15s watch", "webhook_url": url})).await;

    app.wait_for_status(&id, "complete").await;
    let (state, code, attempts) = only_delivery(&app).await;
    assert_eq!(state, "failed");
    assert_eq!(code.as_deref(), Some("webhook_unreachable"));
    assert_eq!(attempts, 3, "every attempt of the schedule");
    let (_, status) = app.get(&format!("/api/status/{id}")).await;
    assert_eq!(status["status"], "complete", "the video is untouched");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_host_that_resolves_to_a_private_address_is_refused_at_delivery_without_a_retry()
{
    let app = spawn_app(true).await;
    let body = json!({"prompt": "15s watch", "webhook_url": "https://localhost:9/hooks"});
    let id = generate(&app, body).await;

    app.wait_for_status(&id, "complete").await;
    let (state, code, attempts) = only_delivery(&app).await;
    assert_eq!(state, "failed");
    assert_eq!(code.as_deref(), Some("webhook_url_refused"));
    assert_eq!(attempts, 1);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_urls_that_are_not_https_to_a_public_host_are_refused_with_422_naming_the_field() {
    let app = spawn_app(false).await;
    let too_long = format!("https://hooks.example.com/{}", "a".repeat(2048));
    for url in [
        json!("http://hooks.example.com/slate"),
        json!("https://10.0.0.1/hooks"),
        json!("https://169.254.169.254/latest/meta-data"),
        json!("https://[::1]/hooks"),
        json!("https://[::ffff:192.168.0.1]/hooks"),
        json!("ftp://hooks.example.com/"),
        json!("hooks.example.com/slate"),
        json!(too_long),
        json!(42),
    ] {
        let body = json!({"prompt": "15s watch", "webhook_url": url});
        let (status, answer) = app.post("/api/generate", &body).await;
        assert_eq!(status, 422, "{url}: {answer}");
        assert_eq!(answer["error"]["field"], "webhook_url", "{url}");
    }
    let (_, listing) = app.get("/api/videos").await;
    assert_eq!(listing["videos"], json!([]), "nothing was admitted");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_still_signs_beside_the_new_one_and_each_key_has_its_own() {
    let app = spawn_app(true).await;
    let old = current_secret(&app).await;
    assert_eq!(current_secret(&app).await, old, "made once");
    let (status, rotated) = app.post("/api/webhooks/secret/rotate", &json!({})).await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(new.starts_with("whsec_") && new.len() == 38, "{new}");
    assert_eq!(current_secret(&app).await, new);

    let server = receiver(200).await;
    let body = json!({"prompt": "15s watch", "webhook_url": hook_url(&server)});
    generate(&app, body).await;
    let request = &received(&server, 1).await[0];
    assert_eq!(verified(request, &new).1, 2, "signed with both secrets");
    verified(request, &old);
    app.finish().await;

    let keyed = spawn_app_with(Options {
        auth: slate_api::auth::Auth::Keys,
        ..Options::default()
    })
    .await;
    let (one, other) = (keyed.key(json!({})).await, keyed.key(json!({})).await);
    let (one, other) = (
        one.get("/api/webhooks/secret").await.1,
        other.get("/api/webhooks/secret").await.1,
    );
    assert!(one["secret"].is_string(), "{one}");
    assert_ne!(one["secret"], other["secret"]);
    let (status, _) = keyed.get("/api/webhooks/secret").await;
    assert_eq!(status, 401, "a key is needed");
    keyed.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_video_and_one_left_unapproved_past_its_review_time_post_their_end() {
    let app = spawn_app_with(Options {
        workers: true,
        review_time: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    let server = receiver(200).await;
    let body = json!({"prompt": "15s watch", "review": ["planning"],
                      "webhook_url": hook_url(&server)});
    let (cancelled, expired) = (
        generate(&app, body.clone()).await,
        generate(&app, body).await,
    );
    app.wait_for_status(&cancelled, "awaiting_review").await;
    let (status, _) = app
        .post(&format!("/api/video/{cancelled}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 200);
    app.wait_for_status(&expired, "expired").await;

    let secret = current_secret(&app).await;
    let events: Vec<Value> = received(&server, 4)
        .await
        .iter()
        .map(|request| verified(request, &secret).0)
        .collect();
    // Deliveries are runs of their own: events may arrive in any order, but say when they were.
    let of = |id: &str| -> Vec<(String, Value)> {
        let mut of_video: Vec<&Value> = events
            .iter()
            .filter(|e| e["data"]["video_id"] == id)
            .collect();
        of_video.sort_by_key(|e| {
            chrono::DateTime::parse_from_rfc3339(e["created_at"].as_str().unwrap()).unwrap()
        });
        of_video
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap().to_owned(),
                    e["data"]["error"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        of(&cancelled),
        vec![
            ("video.awaiting_review".to_owned(), Value::Null),
            ("video.cancelled".to_owned(), Value::Null)
        ]
    );
    let ends = of(&expired);
    assert_eq!(ends.len(), 2, "{ends:?}");
    assert_eq!(ends[1].0, "video.expired");
    assert!(ends[1].1.is_string(), "the expiry says why: {ends:?}");
    app.finish().await;
}
