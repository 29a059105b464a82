//! A headless Chromium driven over WebDriver: `chromedriver` on a free port, one browser session.

use std::{net::TcpListener, process::Stdio, time::Duration};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use slate_integration_tests::wait;
use tokio::process::{Child, Command};

pub struct Browser {
    pub client: Client,
    _driver: Child,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (the project's install script puts both
    /// in place: Debian's chromium and chromium-driver).
    pub async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver runs (scripts/install-tools.sh test installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let probe = reqwest::Client::new();
        wait::until(
            "chromedriver to answer",
            Duration::from_secs(30),
            || async {
                let answer = probe.get(format!("{url}/status")).send().await.ok()?;
                answer.status().is_success().then_some(())
            },
        )
        .await;
        let mut options = json!({"args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--mute-audio", "--window-size=1280,1000"]});
        if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a Chromium session");
        Self {
            client,
            _driver: driver,
        }
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }

    /// Types `text` into the element at `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }

    /// Clicks the element at `css` once it is there.
    pub async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} appears: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// The value of a script's `return`.
    pub async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits until `script` returns something truthy, and returns it.
    pub async fn until(&self, what: &str, timeout: Duration, script: &str) -> Value {
        wait::until(what, timeout, || async {
            let value = self.eval(script).await;
            let truthy = !matches!(value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            truthy.then_some(value)
        })
        .await
    }
}
