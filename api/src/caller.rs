//! Who is calling: the client key a request carries (`Authorization: Bearer slate_...`), or the
//! built-in local key while keys are off.

use std::{future::Future, pin::Pin};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use slate_activities::keys::{key_authenticate, Secret, LOCAL_KEY};
use uuid::Uuid;

use crate::{auth::Auth, error::ApiError, state::AppState};

/// The key a client request acts for. Handlers that take it answer 401 without a valid key
/// while keys are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub key_id: Uuid,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<web::Data<AppState>>().cloned();
        let sent = bearer(request).map(str::to_owned);
        Box::pin(async move {
            let state = state.expect("the application's state is registered");
            if state.auth == Auth::Off {
                return Ok(Caller { key_id: LOCAL_KEY });
            }
            let sent = sent.ok_or(ApiError::Unauthorized(
                "send your API key as Authorization: Bearer slate_...",
            ))?;
            let secret = Secret::parse(&sent).ok_or(ApiError::Unauthorized(
                "this is not a Slate API key (they start with slate_)",
            ))?;
            let key = key_authenticate(&state.pool, &secret).await?;
            let key = key.ok_or(ApiError::Unauthorized(
                "this API key is unknown, revoked or expired",
            ))?;
            Ok(Caller { key_id: key.id })
        })
    }
}

/// The bearer token of the Authorization header.
pub fn bearer(request: &HttpRequest) -> Option<&str> {
    let value = request.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
