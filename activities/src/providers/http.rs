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

/// The longest delay a provider may ask for; beyond it the step's own backoff decides.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// The delay a response asks for, read as the official OpenAI clients read it: `retry-after-ms`
/// (milliseconds), else `retry-after` as seconds (decimals allowed) or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let seconds = text("retry-after-ms")
        .and_then(|ms| ms.parse::<f64>().ok())
        .map(|ms| ms / 1000.0)
        .or_else(|| {
            let value = text("retry-after")?;
            value.parse::<f64>().ok().or_else(|| {
                let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
                Some(
                    (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_milliseconds() as f64
                        / 1000.0,
                )
            })
        })?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds).min(MAX_RETRY_AFTER))
}

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
        if body.contains("insufficient_quota") {
            return StepError::permanent("quota_exceeded", message);
        }
        let delay = retry_after(headers).unwrap_or(DEFAULT_RETRY_AFTER);
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
        let quota = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        let spent = status_error("p", StatusCode::TOO_MANY_REQUESTS, &none, quota);
        assert_eq!(
            (spent.code.as_str(), spent.retryable),
            ("quota_exceeded", false)
        );
    }

    #[test]
    fn retry_after_is_read_in_milliseconds_seconds_decimals_or_as_a_date() {
        let headers = |pairs: &[(&'static str, String)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, value.parse().unwrap());
            }
            headers
        };
        let ms = headers(&[
            ("retry-after-ms", "250".into()),
            ("retry-after", "9".into()),
        ]);
        assert_eq!(retry_after(&ms), Some(Duration::from_millis(250)));
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1.5".into())])),
            Some(Duration::from_millis(1500))
        );
        let at = (chrono::Utc::now() + chrono::Duration::seconds(30))
            .to_rfc2822()
            .replace("+0000", "GMT");
        let dated = retry_after(&headers(&[("retry-after", at)])).unwrap();
        assert!(
            dated > Duration::from_secs(25) && dated <= Duration::from_secs(30),
            "{dated:?}"
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "soon".into())])),
            None
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "86400".into())])),
            Some(MAX_RETRY_AFTER)
        );
    }
}
