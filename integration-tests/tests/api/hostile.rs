//! Input nobody should send: generated bodies, ids, query strings and headers, and raw HTTP that
//! is truncated, not UTF-8, oversized, slow, or many at once. The server must answer each with 2xx
//! or a JSON 4xx, never a 5xx, and keep answering.

use std::time::Duration;

use proptest::{
    collection::{hash_map, vec},
    prelude::*,
    strategy::ValueTree,
    test_runner::TestRunner,
};
use serde_json::{json, Value};
use slate_integration_tests::{
    app::{spawn_app, spawn_app_with, Options},
    wait,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Any JSON, with the fields of a generate request more likely than other keys.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        (0u32..=60).prop_map(Value::from),
        (0.0f64..=1.0).prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "[\\x00-\\x1f\\x7f-\\x9f].{0,20}".prop_map(Value::from),
        "[ \\t\\n]{0,3}".prop_map(Value::from),
        Just(Value::from("a".repeat(1001))),
        Just(Value::from("luxury_showcase")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let key = prop_oneof![
            Just("prompt".to_owned()),
            Just("creativity_level".to_owned()),
            Just("duration".to_owned()),
            Just("archetype".to_owned()),
            Just("seed".to_owned()),
            Just("max_cost_usd".to_owned()),
            ".{0,12}",
        ];
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::from),
            hash_map(key, inner, 0..6).prop_map(Value::from_iter),
        ]
    })
}

/// `count` values of `strategy`, the same ones at every run.
fn samples<S: Strategy>(strategy: S, count: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Checks an answer: 2xx, or a 4xx whose body is the API's JSON error.
async fn judge(response: reqwest::Response, what: &str) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert!(status < 500, "{what}: {status} {text}");
    if status >= 400 {
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{what}: a {status} whose body is not JSON: {text}"));
        assert!(body["error"]["code"].is_string(), "{what}: {text}");
        assert!(body["error"]["message"].is_string(), "{what}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_generate_bodies_get_2xx_or_a_json_4xx() {
    let app = spawn_app(false).await;
    for body in samples(any_json(), 300) {
        let response = app
            .http
            .post(format!("{}/api/generate", app.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        judge(response, &format!("POST /api/generate {body}")).await;
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_ids_query_strings_and_headers_get_2xx_or_a_json_4xx() {
    let app = spawn_app(false).await;
    let texts = samples("\\PC{0,24}", 120);
    let encode =
        |raw: &str| url::form_urlencoded::byte_serialize(raw.as_bytes()).collect::<String>();
    for raw in &texts {
        let id = encode(raw);
        let base = &app.base;
        let requests = [
            app.http.get(format!("{base}/api/status/{id}")),
            app.http.get(format!("{base}/api/video/{id}")),
            app.http.post(format!("{base}/api/video/{id}/cancel")),
            app.http.get(format!("{base}/api/status/{id}/events")),
            app.http.get(format!(
                "{base}/api/videos?status={id}&limit={id}&cursor={id}"
            )),
            app.http.get(format!("{base}/api/videos?{id}")),
            app.http
                .get(format!("{base}/api/admin/runs?status={id}"))
                .bearer_auth(slate_integration_tests::app::ADMIN_TOKEN),
        ];
        for request in requests {
            let response = request.send().await.unwrap();
            judge(response, &format!("id or query {raw:?}")).await;
        }
        let visible: String = raw.chars().filter(|c| c.is_ascii_graphic()).collect();
        for header in ["idempotency-key", "last-event-id", "authorization"] {
            let response = app
                .http
                .post(format!("{base}/api/generate"))
                .header(header, visible.as_str())
                .json(&json!({"prompt": "15s watch"}))
                .send()
                .await
                .unwrap();
            judge(response, &format!("{header}: {visible:?}")).await;
        }
    }
    app.finish().await;
}

/// Sends `request` on a new connection and returns what the server answered before closing.
async fn raw(base: &str, request: &[u8]) -> String {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_non_utf8_oversized_slow_and_crowded_requests_leave_the_server_answering() {
    let app = spawn_app(false).await;
    let not_utf8 = [
        &b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
           Content-Length: 16\r\nConnection: close\r\n\r\n{\"prompt\": \"\xff\xfe\"}"[..],
    ]
    .concat();
    let answer = raw(&app.base, &not_utf8).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"malformed_json\""), "{answer}");

    let truncated = b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                      Content-Length: 500\r\n\r\n{\"prompt\": \"15s wat";
    let answer = raw(&app.base, truncated).await;
    assert!(!answer.starts_with("HTTP/1.1 5"), "{answer}");

    let mut oversized =
        b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                          Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    let chunk = format!("{{\"prompt\": \"{}\"}}", "a".repeat(70 * 1024));
    oversized.extend(format!("{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len()).as_bytes());
    let answer = raw(&app.base, &oversized).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // 500 connections that send half a request and wait, and 500 requests at once.
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..500 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    let crowd: Vec<_> = (0..500)
        .map(|_| {
            let (http, url) = (app.http.clone(), format!("{}/healthz", app.base));
            tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    for request in crowd {
        assert_eq!(request.await.unwrap().unwrap(), 200);
    }
    wait::until("healthz to answer", Duration::from_secs(30), || async {
        let (status, _) = app.get("/healthz").await;
        (status == 200).then_some(())
    })
    .await;
    drop(slow);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_the_database_refuses_is_the_requests_fault_not_an_outage() {
    use actix_web::ResponseError;
    use slate_api::error::ApiError;

    let db = slate_integration_tests::database::TestDatabase::new().await;
    let refused = sqlx::query("SELECT 'not a number'::int")
        .execute(&db.pool)
        .await
        .unwrap_err();
    let answer = ApiError::from(refused).error_response();
    assert_eq!(answer.status(), 422);
    let body = actix_web::body::to_bytes(answer.into_body()).await.unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "unstorable_value");

    db.pool.close().await;
    let closed = sqlx::query("SELECT 1").execute(&db.pool).await.unwrap_err();
    assert_eq!(ApiError::from(closed).error_response().status(), 503);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_past_the_cap_get_429_and_a_closed_one_frees_its_place() {
    let app = spawn_app_with(Options {
        max_event_streams: 1,
        ..Options::default()
    })
    .await;
    let id = app.generate("15s watch").await;
    let url = format!("{}/api/status/{id}/events", app.base);
    let first = app.http.get(&url).send().await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let refused = app.http.get(&url).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams");
    drop(first);
    wait::until(
        "the closed stream's place to be free",
        Duration::from_secs(30),
        || async {
            let again = app.http.get(&url).send().await.unwrap();
            (again.status().as_u16() == 200).then_some(())
        },
    )
    .await;
    app.finish().await;
}
