//! Authentication of device requests: the bearer token finds the device, and for a device
//! that registered an Ed25519 key at enrollment, the request's signature, timestamp and
//! nonce are checked as `vigil_core::sync::request_auth` describes.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ED25519, UnparsedPublicKey};
use vigil_core::sync::request_auth::{
    DEVICE_ID_HEADER, NONCE_HEADER, REQUEST_WINDOW_MS, SIGNATURE_HEADER, TIMESTAMP_HEADER,
    signing_message,
};

use super::auth::{Device, bearer_token};
use super::error::ApiError;
use super::{AppState, MAX_BODY_BYTES, now_ms};
use crate::db::devices;

/// Authenticates the device behind a request to a device endpoint and hands it to the
/// handler as a request extension. The body is read whole to check its hash, within
/// [`MAX_BODY_BYTES`].
pub(crate) async fn authenticate_device(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    match authenticate(&state, &parts, body).await {
        Ok((device, body)) => {
            parts.extensions.insert(device);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(error) => error.into_response(),
    }
}

async fn authenticate(
    state: &AppState,
    parts: &Parts,
    body: Body,
) -> Result<(Device, Body), ApiError> {
    let token = bearer_token(parts)?.to_owned();
    let credentials = state.db.call(move |connection| devices::credentials(connection, &token));
    let Some((device_id, public_key)) = credentials.await? else {
        return Err(ApiError::unauthorized(
            "the bearer token is invalid or was replaced by a later enrollment; \
             enroll the device again",
        ));
    };

    // NOTE: a device enrolled without a public key (older apps) is authenticated by its
    // token alone, so its requests can be replayed.
    let Some(public_key) = public_key else {
        return Ok((Device { device_id }, body));
    };

    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::payload_too_large(format!(
            "the request body is larger than {MAX_BODY_BYTES} bytes; send fewer records \
             per request"
        ))
    })?;
    let signed = SignedParts::read(parts)?;
    check_signed(state, parts, &device_id, &public_key, &signed, &body)?;
    Ok((Device { device_id }, Body::from(body)))
}

/// The authentication headers of a signed request.
struct SignedParts<'a> {
    device_id: &'a str,
    nonce: &'a str,
    timestamp_ms: i64,
    signature: &'a str,
}

impl<'a> SignedParts<'a> {
    fn read(parts: &'a Parts) -> Result<Self, ApiError> {
        let header = |name: &str| -> Result<&'a str, ApiError> {
            let value = parts.headers.get(name).ok_or_else(|| {
                ApiError::signature_required(format!(
                    "missing {name} header; this device registered a key at enrollment, \
                     so every request must be signed"
                ))
            })?;
            value
                .to_str()
                .map_err(|_| ApiError::invalid_request(format!("{name} is not ASCII text")))
        };

        let nonce = header(NONCE_HEADER)?;
        let is_base64url =
            nonce.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if !(16..=64).contains(&nonce.len()) || !is_base64url {
            return Err(ApiError::invalid_request(format!(
                "{NONCE_HEADER} must be 16 to 64 base64url characters"
            )));
        }
        let timestamp_ms = header(TIMESTAMP_HEADER)?.trim().parse().map_err(|_| {
            ApiError::invalid_request(format!(
                "{TIMESTAMP_HEADER} must be milliseconds since the Unix epoch, as an integer"
            ))
        })?;

        Ok(Self {
            device_id: header(DEVICE_ID_HEADER)?,
            nonce,
            timestamp_ms,
            signature: header(SIGNATURE_HEADER)?,
        })
    }
}

/// Checks, in this order, that the request is signed for the token's device, that the
/// signature verifies, that the timestamp is within the window, and that the nonce is new.
/// The nonce is recorded only for a request whose signature verified, so a client without
/// the device key cannot fill the cache.
fn check_signed(
    state: &AppState,
    parts: &Parts,
    device_id: &str,
    public_key: &str,
    signed: &SignedParts<'_>,
    body: &Bytes,
) -> Result<(), ApiError> {
    if signed.device_id != device_id {
        return Err(ApiError::wrong_device(
            "the request is signed for another device than the bearer token's",
        ));
    }

    let path = parts.uri.path_and_query().map_or(parts.uri.path(), |path| path.as_str());
    let message = signing_message(
        parts.method.as_str(),
        path,
        device_id,
        signed.nonce,
        signed.timestamp_ms,
        body,
    );
    let signature = URL_SAFE_NO_PAD.decode(signed.signature).unwrap_or_default();
    let key = URL_SAFE_NO_PAD.decode(public_key).unwrap_or_default();
    if UnparsedPublicKey::new(&ED25519, key).verify(&message, &signature).is_err() {
        return Err(ApiError::bad_signature(
            "the request signature does not verify with the device key registered at \
             enrollment; the request was altered, or the device must enroll again",
        ));
    }

    let now = now_ms();
    if (signed.timestamp_ms - now).abs() > REQUEST_WINDOW_MS {
        return Err(ApiError::clock_skew(format!(
            "the request timestamp is more than {} s from the server clock; sign with the \
             server time from the vigil-server-time header of this reply",
            REQUEST_WINDOW_MS / 1000
        )));
    }

    if !state.nonces.insert(device_id, signed.nonce, signed.timestamp_ms, now) {
        return Err(ApiError::replayed(
            "this request was already received; a retry must be signed again with a new nonce",
        ));
    }
    Ok(())
}
