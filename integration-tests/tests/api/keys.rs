//! Clients' keys over real HTTP, hostile: who may see, stream, cancel and download which video,
//! keys that end, and each key's limits, across processes on one database.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use slate_activities::cost::Prices;
use slate_api::auth::Auth;
use slate_integration_tests::{
    app::{spawn_app_with, Options, TestApp},
    priced::priced_embedded,
    process::SlateServer,
    wait,
};

/// An app with keys on (and, with `workers`, a worker).
async fn keyed_app(workers: bool) -> TestApp {
    spawn_app_with(Options {
        auth: Auth::Keys,
        workers,
        ..Options::default()
    })
    .await
}

/// Every route a client calls with a video's id, as (method, path).
fn video_routes(id: &str) -> [(Method, String); 4] {
    [
        (Method::GET, format!("/api/status/{id}")),
        (Method::GET, format!("/api/status/{id}/events")),
        (Method::GET, format!("/api/video/{id}")),
        (Method::POST, format!("/api/video/{id}/cancel")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_keys_on_every_client_route_answers_401_without_a_valid_key() {
    let app = keyed_app(false).await;
    let owner = app.key(json!({})).await;
    let id = owner.generate("15s watch").await;
    let mut routes = video_routes(&id).to_vec();
    routes.extend([
        (Method::POST, "/api/generate".to_owned()),
        (Method::GET, "/api/videos".to_owned()),
        (Method::GET, "/api/usage".to_owned()),
    ]);
    let forged = format!("{}x", &owner.secret[..owner.secret.len() - 1]);
    for (method, path) in &routes {
        for authorization in [
            None,
            Some("Bearer".to_owned()),
            Some("Basic dXNlcjpwYXNz".to_owned()),
            Some("Bearer slate_not_a_key".to_owned()),
            Some(format!("Bearer {forged}")),
            Some("Bearer test-operator-token".to_owned()),
        ] {
            let mut request = app
                .http
                .request(method.clone(), format!("{}{path}", app.base))
                .json(&json!({"prompt": "15s shoes"}));
            if let Some(value) = &authorization {
                request = request.header("authorization", value);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status().as_u16(),
                401,
                "{method} {path} {authorization:?}"
            );
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_cannot_see_stream_cancel_list_or_download_another_keys_video() {
    let app = keyed_app(true).await;
    let (alice, mallory) = (app.key(json!({})).await, app.key(json!({})).await);
    let id = alice.generate("15s ceramic mug, warm").await;
    wait::until(
        "the video to complete",
        Duration::from_secs(300),
        || async {
            let (_, status) = alice.get(&format!("/api/status/{id}")).await;
            (status["status"] == "complete").then_some(())
        },
    )
    .await;

    for (method, path) in video_routes(&id) {
        let (status, body) = mallory
            .send_to(&app.base, method.clone(), &path, None)
            .await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (_, theirs) = mallory.get("/api/videos").await;
    assert_eq!(theirs["videos"], json!([]));
    let (_, mine) = alice.get("/api/videos").await;
    assert_eq!(mine["videos"][0]["video_id"], id.as_str());
    assert_eq!(mine["videos"][0]["key_id"], alice.key_id.as_str());

    // The owner's media URLs play without a bearer header; nobody else can reach them unsigned.
    let (_, video) = alice.get(&format!("/api/video/{id}")).await;
    let url = video["final_video_url"].as_str().unwrap();
    let played = app.http.get(url).send().await.unwrap();
    assert_eq!(played.status().as_u16(), 200);
    assert_eq!(played.headers()["content-type"], "video/mp4");
    let unsigned = url.split('?').next().unwrap();
    let guessed = app.http.get(unsigned).send().await.unwrap();
    assert_eq!(guessed.status().as_u16(), 403);

    // The operators see every key's videos.
    let (status, all) = app.admin(Method::GET, "/api/admin/videos", None).await;
    assert_eq!(status, 200);
    assert_eq!(all["videos"][0]["video_id"], id.as_str());
    let (_, cancelled) = alice
        .post(&format!("/api/video/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(
        cancelled["error"]["code"], "conflict",
        "the owner reaches it"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_is_scoped_to_the_client_key() {
    let app = keyed_app(false).await;
    let (alice, bob) = (app.key(json!({})).await, app.key(json!({})).await);
    let keyed = |client: &str| {
        app.http
            .post(format!("{}/api/generate", app.base))
            .bearer_auth(client)
            .header("idempotency-key", "order-1")
            .json(&json!({"prompt": "15s watch"}))
            .send()
    };
    let first: Value = keyed(&alice.secret).await.unwrap().json().await.unwrap();
    let again: Value = keyed(&alice.secret).await.unwrap().json().await.unwrap();
    let other: Value = keyed(&bob.secret).await.unwrap().json().await.unwrap();
    assert_eq!(first["video_id"], again["video_id"]);
    assert_ne!(
        first["video_id"], other["video_id"],
        "bob gets his own video"
    );
    let (status, _) = bob
        .get(&format!(
            "/api/status/{}",
            other["video_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_or_expired_key_gets_401_at_once_on_every_process() {
    let app = keyed_app(false).await;
    let process = SlateServer::start(
        &app.db.url,
        app.media.path(),
        &[("SLATE_AUTH", "keys"), ("SLATE_WORKERS", "0")],
    )
    .await;
    let other = process.base.clone();
    let (revoked, expired) = (app.key(json!({})).await, app.key(json!({})).await);
    for client in [&revoked, &expired] {
        for base in [&app.base, &other] {
            let (status, _) = client.send_to(base, Method::GET, "/api/usage", None).await;
            assert_eq!(status, 200);
        }
    }
    let (status, _) = app
        .admin(
            Method::POST,
            &format!("/api/admin/keys/{}/revoke", revoked.key_id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let past = json!({"expires_at": "2020-01-01T00:00:00Z"});
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/api/admin/keys/{}", expired.key_id),
            Some(past),
        )
        .await;
    assert_eq!(status, 200);
    for client in [&revoked, &expired] {
        for base in [&app.base, &other] {
            let (status, body) = client.send_to(base, Method::GET, "/api/usage", None).await;
            assert_eq!(status, 401, "{base}: {body}");
        }
    }
    process.stop().await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_keeps_its_old_secret_for_the_overlap_only() {
    let app = keyed_app(false).await;
    let client = app.key(json!({"name": "studio"})).await;
    let path = format!("/api/admin/keys/{}/rotate", client.key_id);
    let rotate = |overlap: u64| {
        app.admin(
            Method::POST,
            &path,
            Some(json!({"overlap_seconds": overlap})),
        )
    };
    let (status, first) = rotate(3600).await;
    assert_eq!(status, 200, "{first}");
    let new_secret = first["secret"].as_str().unwrap().to_owned();
    let usage = |secret: String| {
        let request = app.http.get(format!("{}/api/usage", app.base));
        async move {
            request
                .bearer_auth(secret)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        usage(client.secret.clone()).await,
        200,
        "within the overlap"
    );
    assert_eq!(usage(new_secret.clone()).await, 200);

    let (_, second) = rotate(0).await;
    let newest = second["secret"].as_str().unwrap().to_owned();
    assert_eq!(usage(client.secret.clone()).await, 401, "no overlap left");
    assert_eq!(usage(new_secret).await, 401);
    assert_eq!(usage(newest.clone()).await, 200);

    let (_, listed) = app.admin(Method::GET, "/api/admin/keys", None).await;
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys[0]["name"], "local");
    let studio = keys
        .iter()
        .find(|k| k["key_id"] == client.key_id.as_str())
        .unwrap();
    assert_eq!(studio["secrets"].as_array().unwrap().len(), 3);
    assert!(
        !listed.to_string().contains(&newest[19..]),
        "no secret is ever listed"
    );
    app.finish().await;
}

/// Sends `count` generates of `client` at once; returns each answer's status, whether it had
/// Retry-After, and its body.
async fn concurrent_generates(
    app: &TestApp,
    secret: &str,
    count: usize,
) -> Vec<(u16, bool, Value)> {
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..count {
        let request = app
            .http
            .post(format!("{}/api/generate", app.base))
            .bearer_auth(secret)
            .json(&json!({"prompt": format!("15s shoes {i}"), "duration": 15}));
        sends.spawn(async move {
            let answer = request.send().await.unwrap();
            let retry_after = answer.headers().contains_key("retry-after");
            let status = answer.status().as_u16();
            (
                status,
                retry_after,
                answer.json().await.unwrap_or(Value::Null),
            )
        });
    }
    sends.join_all().await
}

/// How many answers had `status`; every other one must be `refused` with `code`.
fn admitted(answers: &[(u16, bool, Value)], refused: u16, code: &str) -> usize {
    for (status, retry_after, body) in answers {
        assert!(*status == 200 || *status == refused, "{status}: {body}");
        if *status == refused {
            assert_eq!(body["error"]["code"], code);
            assert_eq!(*retry_after, refused == 429, "{body}");
        }
    }
    answers.iter().filter(|(status, ..)| *status == 200).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_bucket_of_capacity_n_200_concurrent_generates_get_exactly_n_per_key() {
    let app = spawn_app_with(Options {
        auth: Auth::Keys,
        generate_limit: Some(slate_engine::Bucket {
            capacity: 6.0,
            per_second: 0.0001,
        }),
        ..Options::default()
    })
    .await;
    let (alice, bob) = (app.key(json!({})).await, app.key(json!({})).await);
    let answers = concurrent_generates(&app, &alice.secret, 200).await;
    assert_eq!(admitted(&answers, 429, "rate_limited"), 6);
    let answers = concurrent_generates(&app, &bob.secret, 20).await;
    assert_eq!(
        admitted(&answers, 429, "rate_limited"),
        6,
        "bob has his own bucket"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_admissions_never_overshoot_the_queue_or_a_keys_active_videos() {
    let app = spawn_app_with(Options {
        auth: Auth::Keys,
        max_queued: 7,
        max_active_videos: Some(3),
        ..Options::default()
    })
    .await;
    let (alice, bob) = (app.key(json!({})).await, app.key(json!({})).await);
    let answers = concurrent_generates(&app, &alice.secret, 60).await;
    assert_eq!(admitted(&answers, 429, "too_many_active_videos"), 3);
    let roomy = app.key(json!({"max_active_videos": 50})).await;
    let answers = concurrent_generates(&app, &roomy.secret, 100).await;
    assert_eq!(
        admitted(&answers, 429, "too_many_queued"),
        4,
        "7 queued in all"
    );
    let (status, body) = bob
        .post("/api/generate", &json!({"prompt": "15s tea"}))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (429, &json!("too_many_queued"))
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_admissions_never_exceed_a_monthly_cap() {
    let app = spawn_app_with(Options {
        auth: Auth::Keys,
        providers: priced_embedded(Prices::REFERENCE_CLOUD),
        ..Options::default()
    })
    .await;
    // A 15 s video reserves at most $0.3065: three fit in $1, a fourth does not.
    let client = app.key(json!({"monthly_budget_usd": 1.0})).await;
    let answers = concurrent_generates(&app, &client.secret, 50).await;
    assert_eq!(admitted(&answers, 402, "monthly_budget_exceeded"), 3);
    let (_, usage) = client.get("/api/usage").await;
    assert!(
        (usage["reserved_usd"].as_f64().unwrap() - 3.0 * 0.3065).abs() < 1e-9,
        "{usage}"
    );
    assert_eq!(usage["spent_usd"], 0.0);
    assert_eq!(usage["active_videos"], 3);
    assert_eq!(usage["monthly_budget_usd"], 1.0);
    assert!((usage["remaining_usd"].as_f64().unwrap() - 0.0805).abs() < 1e-9);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_whose_next_phase_would_cross_the_monthly_cap_fails_before_spending() {
    let app = spawn_app_with(Options {
        auth: Auth::Keys,
        workers: true,
        providers: priced_embedded(Prices::REFERENCE_CLOUD),
        ..Options::default()
    })
    .await;
    let client = app.key(json!({"monthly_budget_usd": 0.40})).await;
    let id = client.generate("15s running shoes, energetic").await;
    let finished = |wanted: &'static str| {
        let path = format!("/api/status/{id}");
        let client = &client;
        async move {
            wait::until(
                &format!("the video to be {wanted}"),
                Duration::from_secs(300),
                || async {
                    let (_, status) = client.get(&path).await;
                    (status["status"] == wanted).then_some(status)
                },
            )
            .await
        }
    };
    finished("complete").await;
    let (_, usage) = client.get("/api/usage").await;
    let spent = usage["spent_usd"].as_f64().unwrap();
    assert!(spent > 0.25 && spent <= 0.3065 + 1e-9, "{usage}");

    // Music again would take the month past $0.40: the phase fails before it spends.
    let replay_path = format!("/api/admin/runs/{id}/replay");
    let replay = |phase: &str| {
        app.admin(
            Method::POST,
            &replay_path,
            Some(json!({"from_phase": phase})),
        )
    };
    assert_eq!(replay("adding_music").await.0, 200);
    let failed = finished("failed").await;
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("monthly_budget_exceeded"),
        "{failed}"
    );
    let (_, usage) = client.get("/api/usage").await;
    assert_eq!(
        usage["spent_usd"].as_f64().unwrap(),
        spent,
        "nothing more was spent"
    );

    // With a larger budget the same replay completes, and its spending counts.
    let more = json!({"monthly_budget_usd": 1.0});
    let path = format!("/api/admin/keys/{}", client.key_id);
    assert_eq!(app.admin(Method::PATCH, &path, Some(more)).await.0, 200);
    assert_eq!(replay("adding_music").await.0, 200);
    finished("complete").await;
    let (_, usage) = client.get("/api/usage").await;
    assert!(
        (usage["spent_usd"].as_f64().unwrap() - (spent + 0.15)).abs() < 1e-9,
        "{usage}"
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_media_url_expires_and_a_tampered_one_fails() {
    use hmac::{Hmac, Mac};

    let app = keyed_app(true).await;
    let client = app.key(json!({})).await;
    let id = client.generate("15s linen shirt, calm").await;
    let video = wait::until(
        "the video to complete",
        Duration::from_secs(300),
        || async {
            let (_, video) = client.get(&format!("/api/video/{id}")).await;
            (video["status"] == "complete").then_some(video)
        },
    )
    .await;
    let url = url::Url::parse(video["storyboard_images"][0].as_str().unwrap()).unwrap();
    let fetch = |url: String| {
        let request = app.http.get(url);
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(fetch(url.to_string()).await.0, 200);

    let query = |url: &url::Url, name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .unwrap()
            .1
            .into_owned()
    };
    let (expires, signature) = (query(&url, "expires"), query(&url, "signature"));
    let path = url.path().to_owned();
    let base = format!("{}{path}", app.base);
    let mut flipped = signature.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    let later = expires.parse::<u64>().unwrap() + 86_400;
    let other_key = path.replace("still-01", "still-02");
    for tampered in [
        format!("{base}?expires={expires}&signature={flipped}"),
        format!("{base}?expires={later}&signature={signature}"),
        format!(
            "{}{other_key}?expires={expires}&signature={signature}",
            app.base
        ),
        format!("{base}?expires={expires}"),
        base.clone(),
    ] {
        let (status, body) = fetch(tampered.clone()).await;
        assert_eq!(status, 403, "{tampered}");
        assert_eq!(body["error"]["code"], "media_link_invalid");
    }

    // A URL signed with the shared secret but expired a second ago.
    let secret: Vec<u8> = sqlx::query_scalar("SELECT secret FROM media_url_secret")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let past = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
    let key = path.strip_prefix("/media/").unwrap();
    mac.update(format!("{key}\n{past}").as_bytes());
    let signed = hex::encode(mac.finalize().into_bytes());
    let (status, body) = fetch(format!("{base}?expires={past}&signature={signed}")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("media_link_expired"))
    );
    app.finish().await;
}
