//! Steering over real HTTP: review gates and their approval, edits of the plan, regenerated
//! beats, and the versions they make, which reuse what did not change.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use slate_integration_tests::{
    app::{spawn_app, spawn_app_with, Options, TestApp},
    wait,
};

/// The media key a signed URL names.
fn key(url: &Value) -> String {
    let url = url::Url::parse(url.as_str().unwrap()).unwrap();
    url.path().strip_prefix("/media/").unwrap().to_owned()
}

fn keys(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(key).collect()
}

async fn generate(app: &TestApp, body: Value) -> String {
    let (status, body) = app.post("/api/generate", &body).await;
    assert_eq!(status, 200, "{body}");
    body["video_id"].as_str().unwrap().to_owned()
}

/// Waits until the video's status satisfies `wanted`, and returns that status.
async fn wait_for(app: &TestApp, id: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/api/status/{id}");
    wait::until(
        &format!("{id}'s status"),
        Duration::from_secs(300),
        || async {
            let (_, status) = app.get(&path).await;
            wanted(&status).then_some(status)
        },
    )
    .await
}

async fn approve(app: &TestApp, id: &str, gate: &str) -> (u16, Value) {
    app.post(
        &format!("/api/video/{id}/approve"),
        &json!({ "gate": gate }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_waits_at_each_review_gate_until_approved_and_a_repeated_approval_answers_the_same()
{
    let app = spawn_app(true).await;
    let body = json!({"prompt": "Ember, a smart mug", "duration": 15,
                      "review": ["storyboarding", "planning"]});
    let id = generate(&app, body).await;

    let at_plan = app.wait_for_status(&id, "awaiting_review").await;
    assert_eq!(at_plan["current_phase"], "storyboarding");
    assert_eq!(at_plan["progress"], 25, "as at the end of planning");
    assert_eq!(at_plan["version"], 1);
    assert_eq!(at_plan["estimated_time_remaining"], Value::Null);
    let (_, video) = app.get(&format!("/api/video/{id}")).await;
    assert_eq!(video["review"]["gate"], "planning");
    assert!(video["review"]["expires_at"].is_string(), "{video}");
    assert!(video["spec"]["beats"].is_array());
    assert_eq!(video["storyboard_images"], json!([]));

    let (status, refused) = approve(&app, &id, "storyboarding").await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "not_awaiting_review");
    let (status, refused) = approve(&app, &id, "stitching").await;
    assert_eq!((status, &refused["error"]["field"]), (422, &json!("gate")));
    assert_eq!(approve(&app, &id, "planning").await.0, 200);
    assert_eq!(approve(&app, &id, "planning").await.0, 200, "a repeat");

    let at_stills = wait_for(&app, &id, |s| {
        s["status"] == "awaiting_review" && s["current_phase"] == "generating_chunks"
    })
    .await;
    assert_eq!(at_stills["progress"], 40);
    let (_, video) = app.get(&format!("/api/video/{id}")).await;
    assert_eq!(video["review"]["gate"], "storyboarding");
    let beats = video["spec"]["beats"].as_array().unwrap().len();
    assert_eq!(video["storyboard_images"].as_array().unwrap().len(), beats);
    assert_eq!(
        video["chunk_urls"],
        json!([]),
        "nothing paid for past the gate"
    );

    assert_eq!(approve(&app, &id, "storyboarding").await.0, 200);
    app.wait_for_status(&id, "complete").await;
    assert_eq!(approve(&app, &id, "storyboarding").await.0, 200, "a repeat");

    let plain = generate(&app, json!({"prompt": "a mug", "duration": 5})).await;
    app.wait_for_status(&plain, "complete").await;
    let (status, refused) = approve(&app, &plain, "planning").await;
    assert_eq!(status, 409, "a finished video waits at no gate: {refused}");
    assert_eq!(refused["error"]["code"], "not_awaiting_review");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_left_unapproved_past_its_time_expires_and_spends_nothing_more() {
    let app = spawn_app_with(Options {
        workers: true,
        review_time: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let body = json!({"prompt": "a candle", "duration": 10, "review": ["planning"]});
    let id = generate(&app, body).await;
    let expired = app.wait_for_status(&id, "expired").await;
    let error = expired["error"].as_str().unwrap();
    assert!(error.contains("review_expired"), "{error}");
    let (_, video) = app.get(&format!("/api/video/{id}")).await;
    assert_eq!(
        video["cost_breakdown"].as_object().unwrap().len(),
        1,
        "{video}"
    );
    assert_eq!(video["storyboard_images"], json!([]));
    assert_eq!(approve(&app, &id, "planning").await.0, 409);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_at_the_planning_gate_changes_the_waiting_plan_and_an_invalid_one_changes_nothing()
{
    let app = spawn_app(true).await;
    let body = json!({"prompt": "Ember, a smart mug", "duration": 15, "review": ["planning"]});
    let id = generate(&app, body).await;
    app.wait_for_status(&id, "awaiting_review").await;
    let (_, planned) = app.get(&format!("/api/video/{id}")).await;
    let spec_path = format!("/api/video/{id}/spec");
    let patch = |body: Value| {
        let app = &app;
        let path = spec_path.clone();
        async move { app.send(Method::PATCH, &path, Some(&body)).await }
    };

    let (status, refused) = patch(json!({"beats": [{"id": "hero_shot", "duration": 5}]})).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["field"], "beats", "the length stays");
    let (status, refused) = patch(json!({"duration": 30})).await;
    assert_eq!(
        (status, &refused["error"]["field"]),
        (422, &json!("duration"))
    );
    let (status, refused) = patch(json!({"copy": {"tagline": "x".repeat(200)}})).await;
    assert_eq!(
        (status, &refused["error"]["field"]),
        (422, &json!("copy.tagline"))
    );
    let (_, unchanged) = app.get(&format!("/api/video/{id}")).await;
    assert_eq!(unchanged["spec"], planned["spec"], "nothing changed");

    let (status, edited) = patch(json!({"product": {"name": "Ember Pro"},
                                        "copy": {"tagline": "Hot to the last sip"}}))
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        edited,
        json!({"video_id": id, "version": 1, "status": "awaiting_review"})
    );
    assert_eq!(approve(&app, &id, "planning").await.0, 200);
    let (status, late) = patch(json!({"product": {"name": "Too late"}})).await;
    assert_eq!(status, 409, "{late}");
    assert_eq!(late["error"]["code"], "invalid_state");

    app.wait_for_status(&id, "complete").await;
    let (_, video) = app.get(&format!("/api/video/{id}")).await;
    assert_eq!(video["spec"]["product"]["name"], "Ember Pro");
    assert_eq!(video["spec"]["copy"]["tagline"], "Hot to the last sip");
    assert_eq!(video["versions"], 1, "an edit at the gate makes no version");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regenerated_beat_makes_a_version_that_reuses_every_other_beat_and_the_music() {
    let app = spawn_app(true).await;
    let id = generate(
        &app,
        json!({"prompt": "Ember, a smart mug", "duration": 15}),
    )
    .await;
    let regenerate = |beat: &str| format!("/api/video/{id}/beats/{beat}/regenerate");
    let (status, early) = app.post(&regenerate("1"), &Value::Null).await;
    assert_eq!(status, 409, "{early}");
    app.wait_for_status(&id, "complete").await;
    let (_, first) = app.get(&format!("/api/video/{id}")).await;
    let beats = first["spec"]["beats"].as_array().unwrap().len();
    assert!(beats >= 2);

    let (status, missing) = app.post(&regenerate("99"), &Value::Null).await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["code"], "beat_not_found");
    let (status, queued) = app
        .post(
            &regenerate("2"),
            &json!({"prompt": "the mug steaming on a frosty sill"}),
        )
        .await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(
        queued,
        json!({"video_id": id, "version": 2, "status": "queued"})
    );
    let (status, busy) = app.post(&regenerate("1"), &Value::Null).await;
    assert_eq!(status, 409);
    assert_eq!(busy["error"]["code"], "version_in_progress");
    let (status, busy) = app
        .send(
            Method::PATCH,
            &format!("/api/video/{id}/spec"),
            Some(&json!({"captions": false})),
        )
        .await;
    assert_eq!(
        (status, &busy["error"]["code"]),
        (409, &json!("invalid_state"))
    );

    let done = app.wait_for_status(&id, "complete").await;
    assert_eq!(done["version"], 2, "the status follows the newest version");
    let (_, second) = app.get(&format!("/api/video/{id}")).await;
    assert_eq!(second["version"], 2);
    assert_eq!(
        second["spec"]["beats"][1]["prompt"],
        "the mug steaming on a frosty sill"
    );
    let (old, new) = (
        keys(&first["storyboard_images"]),
        keys(&second["storyboard_images"]),
    );
    for beat in 0..beats {
        assert_eq!(old[beat] == new[beat], beat != 1, "still {beat}");
    }
    let (old, new) = (keys(&first["chunk_urls"]), keys(&second["chunk_urls"]));
    let changed: Vec<usize> = (0..old.len()).filter(|i| old[*i] != new[*i]).collect();
    assert!(
        !changed.is_empty() && changed.len() < old.len(),
        "{changed:?}"
    );
    assert_ne!(
        key(&first["final_video_url"]),
        key(&second["final_video_url"])
    );
    let paid = second["cost_breakdown"].as_object().unwrap();
    assert!(
        !paid.contains_key("planning"),
        "the plan is not made again: {paid:?}"
    );

    let (_, versions) = app.get(&format!("/api/video/{id}/versions")).await;
    let listed = versions["versions"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1]["parent_version"], 1);
    assert_eq!(listed[1]["change"]["kind"], "regenerate");
    assert_eq!(listed[1]["change"]["beat"], 2);
    let (_, v1) = app.get(&format!("/api/video/{id}?version=1")).await;
    assert_eq!(
        v1["final_video_url"]
            .as_str()
            .map(|_| key(&v1["final_video_url"])),
        Some(key(&first["final_video_url"]))
    );
    for url in [&v1["final_video_url"], &second["final_video_url"]] {
        let answer = app.http.get(url.as_str().unwrap()).send().await.unwrap();
        assert_eq!(
            answer.status().as_u16(),
            200,
            "every version's media stay downloadable"
        );
    }
    assert_eq!(app.get(&format!("/api/video/{id}?version=3")).await.0, 404);
    let (status, bad) = app.get(&format!("/api/video/{id}?version=two")).await;
    assert_eq!((status, &bad["error"]["field"]), (422, &json!("version")));

    let (status, edited) = app
        .send(
            Method::PATCH,
            &format!("/api/video/{id}/spec"),
            Some(&json!({"captions": false})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["version"], 3);
    app.wait_for_status(&id, "complete").await;
    let (_, third) = app.get(&format!("/api/video/{id}")).await;
    assert_eq!(third["spec"]["captions"], false);
    assert_eq!(
        keys(&third["storyboard_images"]),
        keys(&second["storyboard_images"]),
        "captions are words over the clips: the stills stay"
    );
    let (_, list) = app.get("/api/videos").await;
    let listed: Vec<&Value> = list["videos"].as_array().unwrap().iter().collect();
    assert_eq!(
        listed.len(),
        1,
        "a video is listed once, as its newest version"
    );
    assert_eq!(listed[0]["version"], 3);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_keys_video_is_unknown_to_every_steering_request() {
    let app = spawn_app_with(Options {
        auth: slate_api::auth::Auth::Keys,
        ..Options::default()
    })
    .await;
    let (owner, other) = (app.key(json!({})).await, app.key(json!({})).await);
    let id = owner.generate("a leather wallet").await;
    let requests = [
        (Method::GET, format!("/api/video/{id}/versions"), None),
        (Method::GET, format!("/api/video/{id}?version=1"), None),
        (
            Method::POST,
            format!("/api/video/{id}/approve"),
            Some(json!({"gate": "planning"})),
        ),
        (
            Method::PATCH,
            format!("/api/video/{id}/spec"),
            Some(json!({"captions": false})),
        ),
        (
            Method::POST,
            format!("/api/video/{id}/beats/1/regenerate"),
            Some(json!({})),
        ),
        (
            Method::PUT,
            format!("/api/video/{id}/stills/1"),
            Some(json!({"asset_id": id})),
        ),
        (Method::DELETE, format!("/api/video/{id}"), None),
    ];
    for (method, path, body) in requests {
        let (status, answer) = other
            .send_to(&app.base, method.clone(), &path, body.as_ref())
            .await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }
    let (status, _) = owner.get(&format!("/api/video/{id}/versions")).await;
    assert_eq!(status, 200, "the owner's video is untouched");
    app.finish().await;
}

/// The interleaving the approval's order guards against, driven by hand: the approval has read
/// the plan and waits for the run's task (held here); an edit commits meanwhile. The approval
/// must not go on with the plan it read before the edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_committed_while_an_approval_waits_for_the_task_is_the_plan_that_goes_on() {
    let app = spawn_app(true).await;
    let body = json!({"prompt": "a smart mug", "duration": 10, "review": ["planning"]});
    let id = generate(&app, body).await;
    app.wait_for_status(&id, "awaiting_review").await;

    let mut held = app.db.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM tasks WHERE run_id = $1::uuid FOR UPDATE")
        .bind(&id)
        .execute(&mut *held)
        .await
        .unwrap();
    let approving = {
        let (http, url) = (
            app.http.clone(),
            format!("{}/api/video/{id}/approve", app.base),
        );
        tokio::spawn(async move {
            let sent = http
                .post(url)
                .json(&json!({"gate": "planning"}))
                .send()
                .await;
            sent.unwrap().status().as_u16()
        })
    };
    wait::until(
        "the approval to wait for the task",
        Duration::from_secs(30),
        || async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query LIKE '%tasks%'",
            )
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
            (waiting > 0).then_some(())
        },
    )
    .await;
    let patch = json!({"product": {"name": "Edited Mug"}});
    let (status, edited) = app
        .send(
            Method::PATCH,
            &format!("/api/video/{id}/spec"),
            Some(&patch),
        )
        .await;
    assert_eq!(
        status, 200,
        "the plan is not locked by the waiting approval: {edited}"
    );
    held.rollback().await.unwrap();

    assert_eq!(approving.await.unwrap(), 200);
    app.wait_for_status(&id, "complete").await;
    let (_, video) = app.get(&format!("/api/video/{id}")).await;
    assert_eq!(video["spec"]["product"]["name"], "Edited Mug");
    app.finish().await;
}
