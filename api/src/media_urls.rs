//! The absolute URLs of media keys, as responses show them.

/// Builds the absolute URLs of media keys.
#[derive(Debug, Clone)]
pub struct MediaUrls {
    /// For example `http://127.0.0.1:8080`.
    pub public_url: String,
}

impl MediaUrls {
    pub fn url(&self, key: &str) -> String {
        format!("{}/media/{key}", self.public_url.trim_end_matches('/'))
    }
}
