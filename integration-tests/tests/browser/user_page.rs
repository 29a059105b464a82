use std::time::Duration;

use serde_json::json;
use slate_api::auth::Auth;
use slate_integration_tests::app::{spawn_app, spawn_app_with, Options};

use crate::driver::Browser;

/// Waits until the page's player holds a playable video; returns its length in seconds.
async fn playable_seconds(browser: &Browser) -> f64 {
    browser
        .until(
            "the player to hold a playable video",
            Duration::from_secs(300),
            "const p = document.querySelector('#player');
             return p.currentSrc && !p.error && p.readyState >= 2 ? p.duration : null;",
        )
        .await
        .as_f64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_submitted_on_the_page_becomes_a_playable_video_with_its_storyboard() {
    let app = spawn_app(true).await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", app.base))
        .await
        .unwrap();
    browser
        .fill("#prompt", "15s Nike sneakers energetic urban")
        .await;
    browser.click("#duration option[value='15']").await;
    browser.click("#submit").await;

    let seconds = playable_seconds(&browser).await;
    assert!((seconds - 15.0).abs() < 0.2, "the video lasts {seconds} s");
    assert_eq!(
        browser
            .eval("return document.querySelector('#progress').value")
            .await,
        100
    );
    let stills = browser
        .until(
            "the storyboard stills to load",
            Duration::from_secs(30),
            "const imgs = [...document.querySelectorAll('#storyboard img')];
             return imgs.length && imgs.every(i => i.complete && i.naturalWidth === 1280)
                 ? imgs.length : null;",
        )
        .await;
    assert_eq!(stills, 3, "one still per beat");
    let cost = browser
        .eval("return document.querySelector('#cost').textContent")
        .await;
    assert_eq!(cost, "$0.00");
    browser.close().await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_keys_on_the_page_asks_for_a_key_keeps_it_in_the_tab_and_makes_the_video_with_it() {
    let app = spawn_app_with(Options {
        auth: Auth::Keys,
        workers: true,
        ..Options::default()
    })
    .await;
    let client = app.key(json!({"name": "bakery"})).await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", app.base))
        .await
        .unwrap();
    browser
        .until(
            "the page to ask for a key",
            Duration::from_secs(30),
            "return document.querySelector('#key-panel').hidden ? null : true;",
        )
        .await;
    browser.fill("#key-input", &client.secret).await;
    browser.click("#key-form button").await;
    browser
        .until(
            "the recent videos to load with the key",
            Duration::from_secs(30),
            "return document.querySelector('#recent').textContent.includes('No videos yet') || null;",
        )
        .await;
    browser.fill("#prompt", "15s sourdough bakery, warm").await;
    browser.click("#duration option[value='15']").await;
    browser.click("#submit").await;
    let seconds = playable_seconds(&browser).await;
    assert!((seconds - 15.0).abs() < 0.2);
    let kept = browser
        .eval("return [sessionStorage.getItem('slate.apiKey'), location.href, localStorage.length]")
        .await;
    assert_eq!(kept[0], client.secret.as_str());
    assert!(
        !kept[1].as_str().unwrap().contains("slate_"),
        "never in a URL"
    );
    assert_eq!(kept[2], 0, "nothing kept beyond the tab");
    let (_, mine) = client.get("/api/videos").await;
    assert_eq!(mine["videos"].as_array().unwrap().len(), 1);
    browser.close().await;
    app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_page_a_client_reviews_replaces_a_still_regenerates_a_beat_and_plays_three_versions()
{
    let app = spawn_app(true).await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/", app.base))
        .await
        .unwrap();
    browser
        .fill("#prompt", "Ember, a smart mug, cozy mornings")
        .await;
    browser.click("#duration option[value='15']").await;
    browser.click("#review").await;
    browser.click("#submit").await;

    browser
        .until(
            "the plan to wait for review",
            Duration::from_secs(120),
            "return document.querySelector('#review-title').textContent === 'Review the plan'
                && !document.querySelector('#review-panel').hidden
                && document.querySelectorAll('#beats .beat').length || null;",
        )
        .await;
    browser
        .eval(
            "const h = document.querySelector('#beats .headline');
             h.value = 'Coffee, hot for hours'; return true;",
        )
        .await;
    browser.click("#approve").await;
    let stills = browser
        .until(
            "the stills to wait for review",
            Duration::from_secs(120),
            "const imgs = [...document.querySelectorAll('#beats .beat img')];
             return document.querySelector('#review-title').textContent === 'Review the stills'
                 && imgs.length && imgs.every(i => i.complete && i.naturalWidth > 0)
                 ? imgs.length : null;",
        )
        .await;
    assert!(stills.as_u64().unwrap() >= 2);
    browser.click("#approve").await;
    let seconds = playable_seconds(&browser).await;
    assert!((seconds - 15.0).abs() < 0.2, "the video lasts {seconds} s");
    let (_, listed) = app.get("/api/videos").await;
    let video = &listed["videos"][0];
    assert_eq!(
        video["spec"]["beats"][0]["headline"], "Coffee, hot for hours",
        "the edit made at the planning gate"
    );

    let id = video["video_id"].as_str().unwrap().to_owned();
    let approve_stills_of = |version: u64| {
        let (browser, app, id) = (&browser, &app, id.clone());
        async move {
            browser
                .until(
                    "the new version to wait at the stills' review it inherits",
                    Duration::from_secs(120),
                    "return document.querySelector('#review-title').textContent === 'Review the stills'
                        && !document.querySelector('#review-panel').hidden || null;",
                )
                .await;
            let (_, status) = app.get(&format!("/api/status/{id}")).await;
            assert_eq!(status["version"], version);
            browser.click("#approve").await;
        }
    };

    let red = app.media.path().join("red.png");
    image::RgbImage::from_pixel(400, 300, image::Rgb([230, 20, 20]))
        .save(&red)
        .unwrap();
    browser
        .until(
            "the beats to offer a new still",
            Duration::from_secs(300),
            "return document.querySelectorAll('#beats input.still-file').length || null;",
        )
        .await;
    browser
        .fill(
            "#beats input.still-file[data-beat='1']",
            red.to_str().unwrap(),
        )
        .await;
    approve_stills_of(2).await;
    browser
        .until(
            "version 2 to offer regeneration",
            Duration::from_secs(300),
            "return document.querySelectorAll('#versions video').length === 2
                && document.querySelectorAll('#beats button.regenerate').length || null;",
        )
        .await;
    browser
        .click("#beats button.regenerate[data-beat='2']")
        .await;
    approve_stills_of(3).await;
    let players = browser
        .until(
            "the three versions to play",
            Duration::from_secs(300),
            "const ps = [...document.querySelectorAll('#versions video')];
             return ps.length === 3 && ps.every(p => !p.error && p.readyState >= 1)
                 ? ps.map(p => Math.round(p.duration)) : null;",
        )
        .await;
    assert_eq!(players, json!([15, 15, 15]));
    let (_, versions) = app.get(&format!("/api/video/{id}/versions")).await;
    assert_eq!(
        versions["versions"][1]["change"],
        json!({"kind": "still", "beat": 1})
    );
    assert_eq!(versions["versions"][2]["change"]["beat"], 2);
    browser.close().await;
    app.finish().await;
}
