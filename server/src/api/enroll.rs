//! `POST /v1/enroll`.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vigil_core::protocol::{EnrollRequest, EnrollResponse};

use super::error::ApiError;
use super::{AppState, now_ms};
use crate::db::devices;
use crate::token;

/// Maximum length of a device or guard id, in bytes.
const MAX_ID_BYTES: usize = 200;

/// Checks the enrollment code, then creates or re-enrolls the device with a new token and
/// returns the SOC's sealing public key.
pub(crate) async fn enroll(
    State(state): State<AppState>,
    body: Result<Json<EnrollRequest>, JsonRejection>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let Json(request) = body?;

    check_id("device_id", &request.device_id)?;
    check_id("guard_id", &request.guard_id)?;
    let Some(public_key) = request.public_key.clone() else {
        return Err(ApiError::invalid_request(
            "public_key is missing; a device must register its Ed25519 public key, which \
             verifies its records",
        ));
    };
    check_public_key(&public_key)?;
    let code_matches = token::constant_time_eq(
        request.enrollment_code.as_bytes(),
        state.enrollment_code.as_bytes(),
    );
    if !code_matches {
        return Err(ApiError::unauthorized(
            "the enrollment code is wrong; ask the SOC for a new one",
        ));
    }

    let issued = token::issue();
    let device_token = issued.token.clone();
    let device_id = request.device_id.clone();
    let now = now_ms();
    let enrolled = state
        .db
        .call(move |connection| {
            devices::enroll(
                connection,
                &request.device_id,
                &request.guard_id,
                &public_key,
                &issued,
                now,
            )
        })
        .await?;
    if enrolled == devices::Enrolled::KeyMismatch {
        tracing::warn!("rejected an enrollment that would replace a device's public key");
        tracing::debug!(device_id, "enrollment with another public key");
        return Err(ApiError::device_key_mismatch());
    }

    tracing::info!("enrolled a device");
    tracing::debug!(device_id, "enrolled device");
    let soc_public_key = URL_SAFE_NO_PAD.encode(state.sealing_key.public_key());
    Ok(Json(EnrollResponse {
        device_token,
        server_time_ms: now,
        soc_public_key: Some(soc_public_key),
    }))
}

/// Checks that an id is not empty, not too long and free of control characters. The
/// message names the field but not the value, because guard ids must not reach the log.
fn check_id(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid_request(format!("{field} must not be empty")));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(ApiError::invalid_request(format!(
            "{field} is {} bytes long; the maximum is {MAX_ID_BYTES}",
            value.len()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid_request(format!("{field} contains control characters")));
    }
    Ok(())
}

/// Checks that a device public key is 32 bytes in base64url without padding.
fn check_public_key(public_key: &str) -> Result<(), ApiError> {
    vigil_core::checkin::decode_public_key(public_key)
        .map(drop)
        .map_err(|reason| ApiError::invalid_request(format!("invalid public_key: {reason}")))
}
