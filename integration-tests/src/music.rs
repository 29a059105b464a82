//! A music model on the fake predictions API that refuses its first request, so that a video
//! fails in adding_music and an operator can replay it.

use std::sync::Arc;

use slate_activities::providers::{
    predictions::{PredictionModel, PredictionMusic},
    profiles::Profile,
    Providers,
};

use crate::{
    predictions,
    replicate_fake::{FakeReplicate, Fault},
};

/// A 20 s track, as WAV.
pub async fn track() -> Vec<u8> {
    let file = tempfile::Builder::new().suffix(".wav").tempfile().unwrap();
    let made = tokio::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=220:d=20"])
        .arg(file.path())
        .status()
        .await
        .unwrap();
    assert!(made.success());
    std::fs::read(file.path()).unwrap()
}

/// The fake service, and providers whose music model (MusicGen) it refuses once.
pub async fn flaky() -> (FakeReplicate, Providers) {
    let fake = FakeReplicate::start(vec![("wav", track().await)]).await;
    fake.fault_next_create(Fault::Refused);
    let model = PredictionModel {
        api: predictions::client(&fake.uri()),
        profile: Profile::builtin("meta/musicgen").unwrap(),
    };
    let providers = Providers {
        music: Arc::new(PredictionMusic::new(model).unwrap()),
        ..Providers::embedded().unwrap()
    };
    (fake, providers)
}
