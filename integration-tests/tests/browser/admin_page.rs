use std::time::Duration;

use slate_integration_tests::app::{spawn_app_with, Options, ADMIN_TOKEN};

use crate::driver::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_replays_a_failed_run_from_the_admin_page() {
    let (_music, providers) = slate_integration_tests::music::flaky().await;
    let app = spawn_app_with(Options {
        workers: true,
        providers,
        ..Options::default()
    })
    .await;
    let id = app.generate("15s ad for a watch").await;
    app.wait_for_status(&id, "failed").await;

    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/admin", app.base))
        .await
        .unwrap();
    browser.fill("#token", "not-the-token").await;
    browser.click("#connect").await;
    browser
        .until(
            "a wrong token to be refused",
            Duration::from_secs(30),
            "return document.querySelector('#admin-error').textContent.includes('wrong token')",
        )
        .await;
    browser
        .eval("document.querySelector('#token').value = ''; return true")
        .await;
    browser.fill("#token", ADMIN_TOKEN).await;
    browser.click("#connect").await;
    browser.click(&format!("tr[data-run-id='{id}']")).await;
    let phase = browser
        .until(
            "the failed run's history to show",
            Duration::from_secs(30),
            "const history = document.querySelector('#history');
             return !history.hidden && history.textContent.includes('failed')
                 ? document.querySelector('#replay-phase').value : null;",
        )
        .await;
    assert_eq!(phase, "adding_music", "the failed step is preselected");
    browser.click("#replay").await;
    browser
        .until(
            "the page to confirm the replay",
            Duration::from_secs(30),
            "return document.querySelector('#admin-message').textContent.includes('adding_music')",
        )
        .await;
    app.wait_for_status(&id, "complete").await;
    browser
        .until(
            "the history to show the run completed",
            Duration::from_secs(60),
            "return document.querySelector('#history').textContent.includes('completed')",
        )
        .await;
    browser.close().await;
    app.finish().await;
}
