//! Bearer-token authentication of devices.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use vigil_core::protocol::AUTHORIZATION;

use super::AppState;
use super::error::ApiError;
use crate::db::devices;

/// The enrolled device that sent the request, taken from `Authorization: Bearer <token>`.
///
/// Put it before the body in a handler's arguments, so that a request without a valid
/// token is rejected before its body is read.
#[derive(Debug, Clone)]
pub(crate) struct Device {
    /// The id the device enrolled with.
    pub(crate) device_id: String,
}

impl FromRequestParts<AppState> for Device {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The request authentication layer already checked the token and the signature.
        if let Some(device) = parts.extensions.get::<Device>() {
            return Ok(device.clone());
        }

        let token = bearer_token(parts)?.to_owned();

        let credentials = state.db.call(move |connection| devices::credentials(connection, &token));
        match credentials.await? {
            Some((device_id, None)) => Ok(Device { device_id }),
            // Fails closed: a route without the signature layer must not accept a device
            // that signs, because its requests could then be replayed.
            Some((_, Some(_))) => Err(ApiError::from(crate::error::ServerError::InvalidConfig(
                "this endpoint lacks the request signature layer (request_auth::authenticate_device)"
                    .to_owned(),
            ))),
            None => Err(ApiError::unauthorized(
                "the bearer token is invalid or was replaced by a later enrollment; \
                 enroll the device again",
            )),
        }
    }
}

/// Extracts the token from the `Authorization` header. The scheme name is matched without
/// regard to case, as RFC 9110 section 11.1 requires.
pub(super) fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized(
            "missing Authorization header; send Authorization: Bearer <device_token> \
             with the token from POST /v1/enroll",
        )
    })?;

    let value = header.to_str().unwrap_or_default();
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
        _ => Err(ApiError::unauthorized(
            "the Authorization header is not of the form Bearer <device_token>",
        )),
    }
}
