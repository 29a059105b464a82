//! A bucket of a real S3-compatible server for the tests: Garage, which `scripts/s3-server.sh`
//! builds once, starts on its own port and sets up; each test keeps its objects under a prefix of
//! its own. The server is named by the SLATE_TEST_S3_* variables (`make test` sets them); when
//! they are unset, the script is run to start it.

use std::collections::HashMap;

use slate_activities::{
    providers::Secret,
    storage::{MediaStore, S3Settings, StoreSettings},
};

/// A prefix of the test server's bucket, all of it this test's.
pub struct TestBucket {
    pub settings: S3Settings,
}

impl TestBucket {
    pub fn new() -> Self {
        let server = server();
        let get = |name: &str| {
            server
                .get(name)
                .unwrap_or_else(|| panic!("the S3 test server did not set {name}"))
                .clone()
        };
        Self {
            settings: S3Settings {
                endpoint: Some(get("SLATE_TEST_S3_ENDPOINT")),
                bucket: get("SLATE_TEST_S3_BUCKET"),
                region: get("SLATE_TEST_S3_REGION"),
                access_key_id: get("SLATE_TEST_S3_ACCESS_KEY_ID"),
                secret_access_key: Secret::new(get("SLATE_TEST_S3_SECRET_ACCESS_KEY")),
                path_style: true,
                prefix: Some(format!("test-{}", uuid::Uuid::new_v4().simple())),
            },
        }
    }

    pub fn store(&self) -> MediaStore {
        MediaStore::open(&StoreSettings::S3(self.settings.clone())).expect("the S3 test bucket")
    }

    /// The settings of `slate` that keep its media in this bucket.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let s = &self.settings;
        vec![
            ("SLATE_S3_ENDPOINT", s.endpoint.clone().unwrap_or_default()),
            ("SLATE_S3_BUCKET", s.bucket.clone()),
            ("SLATE_S3_REGION", s.region.clone()),
            ("SLATE_S3_ACCESS_KEY_ID", s.access_key_id.clone()),
            (
                "SLATE_S3_SECRET_ACCESS_KEY",
                s.secret_access_key.expose().to_owned(),
            ),
            ("SLATE_S3_PATH_STYLE", "true".into()),
            ("SLATE_S3_PREFIX", s.prefix.clone().unwrap_or_default()),
        ]
    }
}

impl Default for TestBucket {
    fn default() -> Self {
        Self::new()
    }
}

/// The test server's variables: from the environment, or from the script, which starts it.
fn server() -> HashMap<String, String> {
    let from_env: HashMap<String, String> = std::env::vars()
        .filter(|(name, _)| name.starts_with("SLATE_TEST_S3_"))
        .collect();
    if from_env.contains_key("SLATE_TEST_S3_ENDPOINT") {
        return from_env;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/s3-server.sh");
    let output = std::process::Command::new("bash")
        .arg(script)
        .arg("env")
        .output()
        .expect("run scripts/s3-server.sh");
    assert!(
        output.status.success(),
        "scripts/s3-server.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("export ")?.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}
