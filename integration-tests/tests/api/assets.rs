//! A client's images over real HTTP: assets uploaded, read, used and deleted by their own key
//! only; a still replaced by an image; and the uploads a hostile client sends, refused.

use std::io::Cursor;

use reqwest::{
    multipart::{Form, Part},
    Method,
};
use serde_json::{json, Value};
use slate_api::auth::Auth;
use slate_integration_tests::app::{spawn_app, spawn_app_with, Options, TestApp};

/// A PNG of `width` x `height` in one colour.
fn png(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb(colour));
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

/// A PNG bomb: a few bytes whose header declares 20000 x 20000 pixels.
fn png_bomb() -> Vec<u8> {
    let mut bomb = png(4, 4, [0, 0, 0]);
    bomb[16..20].copy_from_slice(&20_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&20_000u32.to_be_bytes());
    let mut crc = !0u32;
    for byte in &bomb[12..29] {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    bomb[29..33].copy_from_slice(&(!crc).to_be_bytes());
    bomb
}

/// Uploads `bytes` sent as `mime`, as an asset of `kind`, with `key` when given.
async fn upload(
    app: &TestApp,
    key: Option<&str>,
    kind: &str,
    bytes: Vec<u8>,
    mime: &str,
) -> (u16, Value) {
    let file = Part::bytes(bytes)
        .file_name("image")
        .mime_str(mime)
        .unwrap();
    let form = Form::new().text("kind", kind.to_owned()).part("file", file);
    let mut request = app
        .http
        .post(format!("{}/api/assets", app.base))
        .multipart(form);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// Sends `bytes` as `mime` to replace a still.
async fn put_still(app: &TestApp, path: &str, bytes: Vec<u8>, mime: &str) -> (u16, Value) {
    let answer = app
        .http
        .put(format!("{}{path}", app.base))
        .header("content-type", mime)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

async fn image_at(app: &TestApp, url: &Value) -> image::RgbImage {
    let bytes = app
        .http
        .get(url.as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    image::load_from_memory(&bytes).unwrap().to_rgb8()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asset_fills_its_slot_in_its_keys_video_and_no_other_key_can_read_or_use_it() {
    let app = spawn_app_with(Options {
        auth: Auth::Keys,
        workers: true,
        ..Options::default()
    })
    .await;
    let (owner, other) = (app.key(json!({})).await, app.key(json!({})).await);
    let photo = png(600, 400, [220, 60, 30]);
    let (status, asset) = upload(&app, Some(&owner.secret), "product", photo, "image/png").await;
    assert_eq!(status, 201, "{asset}");
    assert_eq!(
        (asset["width"].clone(), asset["height"].clone()),
        (json!(600), json!(400))
    );
    assert_eq!(asset["content_type"], "image/png");
    let id = asset["asset_id"].as_str().unwrap();
    let path = format!("/api/assets/{id}");
    assert_eq!(owner.get(&path).await.0, 200);
    assert_eq!(other.get(&path).await.0, 404, "another key's asset");
    let logo = png(200, 200, [250, 250, 250]);
    let (_, logo) = upload(&app, Some(&owner.secret), "logo", logo, "image/png").await;

    let body = json!({"prompt": "Ember, a smart mug", "duration": 5,
                      "product_image": id, "logo": logo["asset_id"]});
    let (status, refused) = other.post("/api/generate", &body).await;
    assert_eq!(
        (status, &refused["error"]["field"]),
        (422, &json!("product_image"))
    );
    let (status, admitted) = owner.post("/api/generate", &body).await;
    assert_eq!(status, 200, "{admitted}");
    let video = admitted["video_id"].as_str().unwrap();
    slate_integration_tests::wait::until(
        "the video with the asset",
        std::time::Duration::from_secs(300),
        || async {
            let (_, status) = owner.get(&format!("/api/status/{video}")).await;
            (status["status"] == "complete").then_some(())
        },
    )
    .await;

    let deleted = owner.send_to(&app.base, Method::DELETE, &path, None).await;
    assert_eq!(deleted.0, 200, "{deleted:?}");
    assert_eq!(owner.get(&path).await.0, 404, "a deleted asset is gone");
    let (status, _) = owner.post("/api/generate", &body).await;
    assert_eq!(status, 422, "and cannot be used");
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_are_refused_with_a_clear_status_naming_the_problem() {
    let app = spawn_app(false).await;
    let fifty_megabytes = vec![0x89u8; 50 * 1024 * 1024];
    let (status, body) = upload(&app, None, "product", fifty_megabytes, "image/png").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (413, &json!("payload_too_large"))
    );

    let (status, body) = upload(&app, None, "product", png_bomb(), "image/png").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "file");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("20000x20000"));

    let (status, body) = upload(&app, None, "logo", png(8, 8, [0; 3]), "image/jpeg").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("invalid_image")),
        "a mismatch"
    );
    let (status, _) = upload(&app, None, "logo", b"GIF89a".to_vec(), "image/gif").await;
    assert_eq!(status, 415);
    let (status, body) = upload(&app, None, "poster", png(8, 8, [0; 3]), "image/png").await;
    assert_eq!((status, &body["error"]["field"]), (422, &json!("kind")));
    let (status, _) = app.post("/api/assets", &json!({"kind": "logo"})).await;
    assert_eq!(status, 415, "not multipart");
    assert_eq!(app.get("/api/assets/not-an-id").await.0, 404);
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_still_makes_a_version_drawn_from_it_that_keeps_the_other_beats() {
    let app = spawn_app(true).await;
    let id = app.generate("Ember, a smart mug").await;
    app.wait_for_status(&id, "complete").await;
    let (_, first) = app.get(&format!("/api/video/{id}")).await;
    let still = |beat: &str| format!("/api/video/{id}/stills/{beat}");

    let (status, body) = put_still(&app, &still("99"), png(8, 8, [0; 3]), "image/png").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("beat_not_found"))
    );
    let (status, _) = put_still(&app, &still("1"), b"hello".to_vec(), "text/plain").await;
    assert_eq!(status, 415);
    let (status, body) = put_still(&app, &still("1"), png_bomb(), "image/png").await;
    assert_eq!((status, &body["error"]["field"]), (422, &json!("body")));
    let missing = json!({"asset_id": uuid::Uuid::new_v4()});
    let (status, body) = app.send(Method::PUT, &still("1"), Some(&missing)).await;
    assert_eq!((status, &body["error"]["field"]), (422, &json!("asset_id")));

    let red = png(300, 500, [230, 20, 20]);
    let (status, queued) = put_still(&app, &still("1"), red, "image/png").await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(queued["version"], 2);
    app.wait_for_status(&id, "complete").await;
    let (_, second) = app.get(&format!("/api/video/{id}")).await;
    assert_eq!(second["version"], 2);
    let replaced = image_at(&app, &second["storyboard_images"][0]).await;
    assert_eq!(replaced.dimensions(), (1280, 720), "fitted to the frame");
    let centre = replaced.get_pixel(640, 360).0;
    assert!(
        centre[0] > 200 && centre[1] < 60,
        "the client's image: {centre:?}"
    );
    let keys = |video: &Value, field: &str| -> Vec<String> {
        let urls = video[field].as_array().unwrap().iter();
        urls.map(|u| u.as_str().unwrap().split('?').next().unwrap().to_owned())
            .collect()
    };
    let (old, new) = (
        keys(&first, "storyboard_images"),
        keys(&second, "storyboard_images"),
    );
    assert_ne!(old[0], new[0]);
    assert_eq!(old[1..], new[1..], "the other stills are kept");
    let (old, new) = (keys(&first, "chunk_urls"), keys(&second, "chunk_urls"));
    assert_ne!(old[0], new[0], "the beat's clip is made from the new still");
    assert_eq!(old.last(), new.last(), "the last beat's clip is kept");
    let (_, versions) = app.get(&format!("/api/video/{id}/versions")).await;
    assert_eq!(
        versions["versions"][1]["change"],
        json!({"kind": "still", "beat": 1})
    );
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_pipelines_fields_name_the_product_add_to_the_prompt_and_pick_the_photo() {
    let app = spawn_app(true).await;
    let photo = png(500, 500, [30, 120, 200]);
    let (_, asset) = upload(&app, None, "product", photo, "image/png").await;
    let body = json!({"prompt": "a smart mug", "duration": 5, "title": "Ember",
                      "description": "It keeps coffee hot for hours",
                      "reference_assets": [asset["asset_id"]], "model": "embedded"});
    let (status, admitted) = app.post("/api/generate", &body).await;
    assert_eq!(status, 200, "{admitted}");
    let id = admitted["video_id"].as_str().unwrap();
    app.wait_for_status(id, "complete").await;
    let (_, video) = app.get(&format!("/api/video/{id}")).await;
    assert_eq!(video["spec"]["product"]["name"], "Ember");
    assert_eq!(
        video["prompt"],
        "a smart mug. It keeps coffee hot for hours"
    );
    let still = image_at(&app, &video["storyboard_images"][0]).await;
    let blue = still.pixels().filter(|p| p[2] > 180 && p[0] < 60).count();
    assert!(
        blue > 10_000,
        "the reference asset is the product photo: {blue} blue pixels"
    );

    for (field, value) in [
        ("model", json!("gpt-9")),
        ("title", json!(" ")),
        ("reference_assets", json!([uuid::Uuid::new_v4()])),
        ("description", json!("x".repeat(2001))),
    ] {
        let mut body = json!({"prompt": "a smart mug"});
        body[field] = value;
        let (status, refused) = app.post("/api/generate", &body).await;
        assert_eq!(
            (status, &refused["error"]["field"]),
            (422, &json!(field)),
            "{refused}"
        );
    }
    app.finish().await;
}
