//! Waiting on a condition with a deadline, instead of sleeping a fixed time.

use std::{future::Future, time::Duration};

use tokio::time::Instant;

/// Polls `check` every 20 ms until it returns `Some`, and returns that; panics naming `what`
/// after `timeout`.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
