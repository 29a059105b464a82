//! The API's errors and their responses: a status code and the body
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`, never SQL or internal text.

use actix_web::{
    http::{header, StatusCode},
    HttpResponse, ResponseError,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::media_urls::Refusal;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, for example `invalid_field` or `not_found`.
    pub code: &'static str,
    /// What is wrong, for people.
    pub message: String,
    /// The one field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON.
    #[error("{0}")]
    BadJson(String),
    #[error("the body is larger than 64 KiB")]
    TooLarge,
    #[error("the image is larger than 10 MiB")]
    UploadTooLarge,
    /// A body of a type the endpoint does not take; the message names those it does.
    #[error("{0}")]
    UnsupportedType(String),
    /// A field is missing or invalid.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        code: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(String),
    /// Something the path names is not there; the code says what.
    #[error("{message}")]
    Missing { code: &'static str, message: String },
    /// No key, or not a valid one; the message says which.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The video's reservation would take the key past its monthly budget.
    #[error("this video could cost ${reserve_usd:.2}, and the key has committed ${committed_usd:.2} of its ${budget_usd:.2} monthly budget")]
    MonthlyBudget {
        reserve_usd: f64,
        committed_usd: f64,
        budget_usd: f64,
    },
    #[error("{0}")]
    Conflict(String),
    /// The video is not in a state that allows the request; the code says which.
    #[error("{message}")]
    NotNow { code: &'static str, message: String },
    /// A media URL that was not signed by Slate, or has expired.
    #[error("{}", match .0 {
        Refusal::Expired => "this media link has expired; GET the video again for a fresh one",
        Refusal::Invalid => "this media link is not valid; use the URLs GET /api/video returns",
    })]
    MediaLink(Refusal),
    #[error("too many videos are queued; try again later")]
    Busy { retry_after_secs: u64 },
    #[error("this key has {limit} videos in the making, its limit; try again when one finishes")]
    TooManyActive { limit: i64 },
    #[error("too many requests; try again later")]
    RateLimited { retry_after_secs: u64 },
    #[error("too many event streams are open; try again later")]
    TooManyStreams,
    #[error("the database is unreachable")]
    Unavailable,
    #[error("the media store is unreachable; try again shortly")]
    MediaUnavailable,
    /// A `Range` none of whose bytes the media has.
    #[error("the range asked for is outside the media's {size} bytes")]
    RangeNotSatisfiable { size: u64 },
}

impl ApiError {
    pub fn not_now(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotNow {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field.into()),
            code: "invalid_field",
            message: message.into(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadJson(_) => "malformed_json",
            Self::TooLarge | Self::UploadTooLarge => "payload_too_large",
            Self::UnsupportedType(_) => "unsupported_media_type",
            Self::Invalid { code, .. } => code,
            Self::NotFound(_) => "not_found",
            Self::Missing { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::MonthlyBudget { .. } => "monthly_budget_exceeded",
            Self::TooManyActive { .. } => "too_many_active_videos",
            Self::Conflict(_) => "conflict",
            Self::NotNow { code, .. } => code,
            Self::MediaLink(Refusal::Expired) => "media_link_expired",
            Self::MediaLink(Refusal::Invalid) => "media_link_invalid",
            Self::Busy { .. } => "too_many_queued",
            Self::RateLimited { .. } => "rate_limited",
            Self::TooManyStreams => "too_many_streams",
            Self::Unavailable => "database_unavailable",
            Self::MediaUnavailable => "media_unavailable",
            Self::RangeNotSatisfiable { .. } => "range_not_satisfiable",
        }
    }
}

impl From<sqlx::Error> for ApiError {
    /// A value the database refuses (SQLSTATE class 22, "data exception") is the request's fault,
    /// whatever validation missed; anything else means the database cannot serve.
    fn from(error: sqlx::Error) -> Self {
        let refused = error
            .as_database_error()
            .and_then(|e| e.code())
            .is_some_and(|code| code.starts_with("22"));
        if refused {
            tracing::warn!(%error, "the database refused a value of the request");
            return Self::Invalid {
                field: None,
                code: "unstorable_value",
                message: "the request holds a value that cannot be stored".into(),
            };
        }
        tracing::error!(%error, "database error");
        Self::Unavailable
    }
}

impl From<slate_engine::Error> for ApiError {
    fn from(error: slate_engine::Error) -> Self {
        match error {
            slate_engine::Error::RunNotFound(id) => Self::NotFound(format!("video {id}")),
            slate_engine::Error::InvalidState { state, .. } => {
                Self::Conflict(format!("the run is {state}"))
            }
            slate_engine::Error::Database(error) => error.into(),
            other => {
                tracing::error!(error = %other, "engine error");
                Self::Unavailable
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadJson(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge | Self::UploadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) | Self::Missing { .. } => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::MonthlyBudget { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::Conflict(_) | Self::NotNow { .. } => StatusCode::CONFLICT,
            Self::MediaLink(_) => StatusCode::FORBIDDEN,
            Self::Busy { .. }
            | Self::TooManyActive { .. }
            | Self::RateLimited { .. }
            | Self::TooManyStreams => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable | Self::MediaUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let field = match self {
            Self::Invalid { field, .. } => field.clone(),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                field,
            },
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Busy { retry_after_secs } | Self::RateLimited { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Unavailable | Self::MediaUnavailable | Self::TooManyStreams => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            Self::RangeNotSatisfiable { size } => {
                response.insert_header((header::CONTENT_RANGE, format!("bytes */{size}")));
            }
            Self::TooManyActive { .. } => {
                response.insert_header((header::RETRY_AFTER, "30"));
            }
            Self::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        response.json(body)
    }
}
