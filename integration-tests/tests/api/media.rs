//! Media never change once delivered: a replay writes new artifacts beside the old ones, and a URL
//! already handed out keeps serving the same bytes; media made before artifacts keep serving.

use std::time::Duration;

use serde_json::{json, Value};
use slate_integration_tests::{app::spawn_app, wait};

async fn download(app: &slate_integration_tests::app::TestApp, url: &str) -> Vec<u8> {
    let answer = app.http.get(url).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 200, "{url}");
    answer.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_replay_from_adding_music_the_first_final_video_still_downloads_byte_for_byte() {
    let app = spawn_app(true).await;
    let id = app.generate("15s handmade candles cozy evening").await;
    app.wait_for_status(&id, "complete").await;
    let (_, first) = app.get(&format!("/api/video/{id}")).await;
    let first_url = first["final_video_url"].as_str().unwrap().to_owned();
    let first_bytes = download(&app, &first_url).await;

    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            &format!("/api/admin/runs/{id}/replay"),
            Some(json!({"from_phase": "adding_music"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let second = wait::until(
        "the replay to complete",
        Duration::from_secs(300),
        || async {
            let (_, video) = app.get(&format!("/api/video/{id}")).await;
            let replayed = video["final_video_url"].as_str() != Some(first_url.as_str());
            (video["status"] == "complete" && replayed).then_some(video)
        },
    )
    .await;
    let second_url = second["final_video_url"].as_str().unwrap();
    let (first_key, second_key) = (media_key(&first_url), media_key(second_url));
    assert_ne!(first_key, second_key, "the replay wrote a new key");
    assert!(
        first_key.contains("/0/4/") && second_key.contains("/1/4/"),
        "{first_key} {second_key}"
    );
    assert_eq!(
        second["storyboard_images"], first["storyboard_images"],
        "the stills before the replayed phase are the same artifacts"
    );

    assert_eq!(
        download(&app, &first_url).await,
        first_bytes,
        "the first URL's bytes"
    );
    let second_bytes = download(&app, second_url).await;
    assert!(second_bytes.len() > 10_000);

    let part = app
        .http
        .get(&first_url)
        .header("range", "bytes=-1000")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    let total = first_bytes.len();
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes {}-{}/{total}", total - 1000, total - 1)
    );
    assert_eq!(part.bytes().await.unwrap(), first_bytes[total - 1000..]);
    let beyond = app
        .http
        .get(&first_url)
        .header("range", format!("bytes={total}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status().as_u16(), 416);
    assert_eq!(
        beyond.headers()["content-range"].to_str().unwrap(),
        format!("bytes */{total}")
    );
    let body: Value = beyond.json().await.unwrap();
    assert_eq!(body["error"]["code"], "range_not_satisfiable");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_made_before_artifacts_serves_its_media_from_the_old_keys() {
    let app = spawn_app(false).await;
    let id = app.generate("15s old video").await;
    let legacy = format!("videos/{id}/final.mp4");
    let bytes = b"an mp4 made by an earlier version".to_vec();
    let path = app.media.path().join(&legacy);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    sqlx::query("UPDATE videos SET status = 'complete', final_key = $2 WHERE id = $1::uuid")
        .bind(&id)
        .bind(&legacy)
        .execute(&app.db.pool)
        .await
        .unwrap();
    let (_, video) = app.get(&format!("/api/video/{id}")).await;
    let url = video["final_video_url"].as_str().unwrap();
    assert_eq!(media_key(url), legacy);
    let answer = app.http.get(url).send().await.unwrap();
    assert_eq!(answer.headers()["content-type"], "video/mp4");
    assert_eq!(answer.bytes().await.unwrap().to_vec(), bytes);
    app.finish().await;
}

/// The media key a signed URL names.
fn media_key(url: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    url.path().strip_prefix("/media/").unwrap().to_owned()
}
