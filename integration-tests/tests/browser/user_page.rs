use std::time::Duration;

use slate_integration_tests::app::spawn_app;

use crate::driver::Browser;

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

    let playable = browser
        .until(
            "the player to hold a playable video",
            Duration::from_secs(300),
            "const p = document.querySelector('#player');
             return p.currentSrc && !p.error && p.readyState >= 2 ? p.duration : null;",
        )
        .await;
    let seconds = playable.as_f64().unwrap();
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
