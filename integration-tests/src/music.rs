//! A stub of a Replicate-style music model that refuses its first request, so that a video fails
//! in adding_music and an operator can replay it.

use std::time::Duration;

use serde_json::json;
use std::sync::Arc;

use slate_activities::{
    cost::Prices,
    providers::{
        predictions::{PredictionModel, PredictionMusic},
        Providers,
    },
};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::predictions;

/// A music model that refuses its first request and then writes a track.
pub async fn flaky(server: &MockServer) -> Providers {
    let track = tempfile::NamedTempFile::new().unwrap();
    let made = tokio::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=f=220:d=20",
            "-f",
            "wav",
        ])
        .arg(track.path())
        .status()
        .await
        .unwrap();
    assert!(made.success());
    let prediction = json!({"id": "mus", "status": "succeeded",
                            "output": format!("{}/files/track.wav", server.uri())});
    let create = || path("/v1/models/meta/musicgen/predictions");
    Mock::given(method("POST"))
        .and(create())
        .respond_with(ResponseTemplate::new(422).set_body_string("duration too long"))
        .up_to_n_times(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(create())
        .respond_with(ResponseTemplate::new(201).set_body_json(&prediction))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/predictions/mus"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&prediction))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/files/track.wav"))
        .respond_with(
            ResponseTemplate::new(200).set_body_bytes(std::fs::read(track.path()).unwrap()),
        )
        .mount(server)
        .await;
    let api = predictions::client(&server.uri(), Duration::from_secs(30));
    Providers {
        music: Arc::new(PredictionMusic(PredictionModel {
            api,
            model: "meta/musicgen".into(),
            price: Prices::REFERENCE_CLOUD.per_track,
        })),
        ..Providers::embedded().unwrap()
    }
}
