//! How the media store fails, and which failures are worth retrying.

use std::path::Path;

use slate_engine::StepError;

/// Why the store failed. Timeouts, server errors and lost connections (after the client's own
/// retries) are worth retrying; a missing object, a bad key or refused credentials are not.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("media key {0:?} is not a relative path of the store")]
    BadKey(String),
    #[error("no media at {0:?}")]
    NotFound(String),
    #[error("the media store refused the request: {0}")]
    Refused(String),
    #[error("the media store failed: {0}")]
    Unavailable(String),
    #[error("local file {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Io { .. })
    }

    pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

impl From<object_store::Error> for StoreError {
    fn from(error: object_store::Error) -> Self {
        use object_store::Error as E;
        match error {
            E::NotFound { path, .. } => Self::NotFound(path),
            E::InvalidPath { source } => Self::BadKey(source.to_string()),
            e @ (E::PermissionDenied { .. }
            | E::Unauthenticated { .. }
            | E::NotSupported { .. }
            | E::NotImplemented
            | E::UnknownConfigurationKey { .. }
            | E::AlreadyExists { .. }
            | E::Precondition { .. }
            | E::NotModified { .. }) => Self::Refused(e.to_string()),
            e => Self::Unavailable(e.to_string()),
        }
    }
}

impl From<StoreError> for StepError {
    fn from(error: StoreError) -> Self {
        if error.is_retryable() {
            StepError::retryable("storage", error.to_string())
        } else {
            StepError::permanent("storage", error.to_string())
        }
    }
}
