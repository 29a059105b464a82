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
