use std::time::Duration;

use slate_api::auth::Auth;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_creates_a_key_sees_its_secret_once_and_revokes_it_from_the_admin_page() {
    let app = spawn_app_with(Options {
        auth: Auth::Keys,
        ..Options::default()
    })
    .await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/admin", app.base))
        .await
        .unwrap();
    browser.fill("#token", ADMIN_TOKEN).await;
    browser.click("#connect").await;
    browser
        .until(
            "the keys to show",
            Duration::from_secs(30),
            "return document.querySelector('#keys').textContent.includes('local') || null;",
        )
        .await;
    browser.fill("#key-name", "Bakery on Main").await;
    browser.fill("#key-budget", "50").await;
    browser.click("#key-form button").await;
    let secret = browser
        .until(
            "the new secret to show",
            Duration::from_secs(30),
            "const s = document.querySelector('#key-secret-value').textContent;
             return s.startsWith('slate_') ? s : null;",
        )
        .await;
    let secret = secret.as_str().unwrap();
    let usage = |secret: &str| {
        app.http
            .get(format!("{}/api/usage", app.base))
            .bearer_auth(secret.to_owned())
            .send()
    };
    let answer: serde_json::Value = usage(secret).await.unwrap().json().await.unwrap();
    assert_eq!(answer["name"], "Bakery on Main");
    assert_eq!(answer["monthly_budget_usd"], 50.0);

    browser
        .eval("window.confirm = () => true; return true")
        .await;
    browser
        .click("#keys tbody tr:last-child button.danger")
        .await;
    browser
        .until(
            "the key to show as revoked",
            Duration::from_secs(30),
            "const row = document.querySelector('#keys tbody tr:last-child');
             return row.textContent.includes('revoked') || null;",
        )
        .await;
    let shown = browser
        .eval("return document.querySelector('#keys').textContent")
        .await;
    assert!(
        !shown.as_str().unwrap().contains(&secret[19..]),
        "secrets are never listed"
    );
    browser.close().await;
    app.finish().await;
}
