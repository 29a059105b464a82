//! What the cloud providers share: secrets that never print, and the classification of HTTP
//! failures into retryable and permanent step errors.

use std::{fmt, time::Duration};

use reqwest::{header::HeaderMap, StatusCode};
use slate_engine::StepError;

/// An API key. Its `Debug` and `Display` print `***`, so it cannot reach a log by accident.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The delay a 429 asks for when it names none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The step error for a failed response of `provider`.
pub fn status_error(
    provider: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
) -> StepError {
    let excerpt: String = body.chars().take(300).collect();
    let message = format!("{provider} answered {status}: {excerpt}");
    if status == StatusCode::TOO_MANY_REQUESTS {
        let delay = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs);
        return StepError::retryable("rate_limited", message).with_retry_after(delay);
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return StepError::retryable("provider_unavailable", message);
    }
    StepError::permanent("provider_rejected", message)
}

/// The step error for a request of `provider` that got no response.
pub fn transport_error(provider: &str, error: reqwest::Error) -> StepError {
    let error = error.without_url();
    StepError::retryable("provider_unreachable", format!("{provider}: {error}"))
}

/// The body of a successful response, or the classified error.
pub async fn checked(
    provider: &str,
    response: reqwest::Response,
) -> Result<reqwest::Response, StepError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    Err(status_error(provider, status, &headers, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("sk-live-123");
        assert_eq!(format!("{secret} {secret:?}"), "*** ***");
        assert_eq!(secret.expose(), "sk-live-123");
    }

    #[test]
    fn statuses_are_classified() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        let limited = status_error("p", StatusCode::TOO_MANY_REQUESTS, &headers, "");
        assert!(limited.retryable);
        assert_eq!(limited.retry_after, Some(Duration::from_secs(7)));
        let none = HeaderMap::new();
        assert!(status_error("p", StatusCode::BAD_GATEWAY, &none, "").retryable);
        assert!(!status_error("p", StatusCode::UNPROCESSABLE_ENTITY, &none, "").retryable);
        assert!(!status_error("p", StatusCode::UNAUTHORIZED, &none, "").retryable);
    }
}
