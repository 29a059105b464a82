use serde_json::{json, Value};

use slate_integration_tests::app::{spawn_app, spawn_app_with, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_queues_a_video_and_accepts_creativity_zero() {
    let app = spawn_app(false).await;
    let (status, body) = app
        .post(
            "/api/generate",
            &json!({"prompt": "15s Nike sneakers", "creativity_level": 0.0}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "queued");
    assert_eq!(body["message"], "Video generation started");
    let id = body["video_id"].as_str().unwrap();
    let (status, video) = app.get(&format!("/api/status/{id}")).await;
    assert_eq!(
        (status, video["status"].as_str(), video["progress"].as_i64()),
        (200, Some("queued"), Some(0))
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_field_gets_a_422_naming_it() {
    let app = spawn_app(false).await;
    let long = "a".repeat(1001);
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "prompt"),
        (json!({"prompt": ""}), "prompt"),
        (json!({"prompt": "   \n\t"}), "prompt"),
        (json!({"prompt": long}), "prompt"),
        (json!({"prompt": 42}), "prompt"),
        (json!({"prompt": "\u{7}\u{0}"}), "prompt"),
        (json!({"prompt": "a watch\u{0}"}), "prompt"),
        (
            json!({"prompt": "ad", "creativity_level": 1.5}),
            "creativity_level",
        ),
        (
            json!({"prompt": "ad", "creativity_level": -0.1}),
            "creativity_level",
        ),
        (
            json!({"prompt": "ad", "creativity_level": "high"}),
            "creativity_level",
        ),
        (json!({"prompt": "ad", "duration": 12}), "duration"),
        (json!({"prompt": "ad", "duration": 0}), "duration"),
        (json!({"prompt": "ad", "duration": 65}), "duration"),
        (json!({"prompt": "ad", "duration": "15"}), "duration"),
        (
            json!({"prompt": "ad", "archetype": "film_noir"}),
            "archetype",
        ),
        (json!({"prompt": "ad", "seed": -1}), "seed"),
        (json!({"prompt": "ad", "max_cost_usd": 0}), "max_cost_usd"),
        (
            json!({"prompt": "ad", "duration": 60, "max_cost_usd": 1e9}),
            "max_cost_usd",
        ),
        (
            json!({"prompt": "ad", "max_cost_usd": 10.01}),
            "max_cost_usd",
        ),
        (
            json!({"prompt": "ad", "aspect_ratio": "4:3"}),
            "aspect_ratio",
        ),
        (
            json!({"prompt": "ad", "aspect_ratio": 1.77}),
            "aspect_ratio",
        ),
        (json!({"prompt": "ad", "voiceover": "no"}), "voiceover"),
        (json!({"prompt": "ad", "captions": 0}), "captions"),
    ];
    for (body, field) in cases {
        let (status, answer) = app.post("/api/generate", &body).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
        assert!(answer["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_bodies_get_400_and_413_as_json() {
    let app = spawn_app(false).await;
    let url = format!("{}/api/generate", app.base);
    let send = |body: Vec<u8>| {
        app.http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let malformed = send(b"{\"prompt\": ".to_vec()).await.unwrap();
    assert_eq!(malformed.status().as_u16(), 400);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_json"
    );
    let not_utf8 = send(vec![b'{', 0xff, 0xfe, b'}']).await.unwrap();
    assert_eq!(not_utf8.status().as_u16(), 400);
    let huge = format!("{{\"prompt\": \"{}\"}}", "a".repeat(70 * 1024));
    let oversized = send(huge.into_bytes()).await.unwrap();
    assert_eq!(oversized.status().as_u16(), 413);
    assert_eq!(
        oversized.json::<Value>().await.unwrap()["error"]["code"],
        "payload_too_large"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_returns_the_first_video_and_refuses_another_body() {
    let app = spawn_app(false).await;
    let url = format!("{}/api/generate", app.base);
    let send = |prompt: &str| {
        app.http
            .post(&url)
            .header("idempotency-key", "order-7")
            .json(&json!({"prompt": prompt}))
            .send()
    };
    let first: Value = send("15s sneakers").await.unwrap().json().await.unwrap();
    let again: Value = send("15s sneakers").await.unwrap().json().await.unwrap();
    assert_eq!(first["video_id"], again["video_id"]);
    let other = send("30s watch").await.unwrap();
    assert_eq!(other.status().as_u16(), 422);
    let videos: i64 = sqlx::query_scalar("SELECT count(*) FROM videos")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(videos, 1);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_a_new_video_with_429_and_retry_after_but_not_a_repeat() {
    let app = spawn_app_with(Options {
        max_queued: 2,
        ..Options::default()
    })
    .await;
    let keyed = || {
        app.http
            .post(format!("{}/api/generate", app.base))
            .header("idempotency-key", "order-8")
            .json(&json!({"prompt": "15s watch"}))
            .send()
    };
    let first: Value = keyed().await.unwrap().json().await.unwrap();
    app.generate("15s shoes").await;
    let repeat = keyed().await.unwrap();
    assert_eq!(
        repeat.status().as_u16(),
        200,
        "a repeat is answered though the queue is full"
    );
    let repeat: Value = repeat.json().await.unwrap();
    assert_eq!(repeat["video_id"], first["video_id"]);
    let response = app
        .http
        .post(format!("{}/api/generate", app.base))
        .json(&json!({"prompt": "15s coffee"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_queued");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generate_rate_admits_exactly_its_burst_and_a_repeat_takes_no_token() {
    let app = spawn_app_with(Options {
        generate_limit: Some(slate_engine::Bucket {
            capacity: 5.0,
            per_second: 0.0001,
        }),
        ..Options::default()
    })
    .await;
    let url = format!("{}/api/generate", app.base);
    let keyed = || {
        app.http
            .post(&url)
            .header("idempotency-key", "order-9")
            .json(&json!({"prompt": "15s watch"}))
            .send()
    };
    assert_eq!(keyed().await.unwrap().status().as_u16(), 200);
    for _ in 0..3 {
        assert_eq!(
            keyed().await.unwrap().status().as_u16(),
            200,
            "a repeat takes no token"
        );
    }
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..40 {
        let request = app
            .http
            .post(&url)
            .json(&json!({"prompt": format!("15s shoes {i}")}));
        sends.spawn(async move {
            let answer = request.send().await.unwrap();
            let retry_after = answer.headers().contains_key("retry-after");
            let status = answer.status().as_u16();
            let body: Value = answer.json().await.unwrap();
            (status, retry_after, body)
        });
    }
    let mut admitted = 0;
    for (status, retry_after, body) in sends.join_all().await {
        match status {
            200 => admitted += 1,
            429 => {
                assert!(retry_after);
                assert_eq!(body["error"]["code"], "rate_limited");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(admitted, 4, "a bucket of 5, one taken by the keyed request");
    app.finish().await;
}
