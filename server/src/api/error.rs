//! Error replies: an [`ErrorResponse`] body with a stable code and the matching HTTP status.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vigil_core::protocol::{ErrorDetail, ErrorResponse};

use super::MAX_BODY_BYTES;
use crate::db::records::Rejection;
use crate::error::ServerError;

/// A request that failed, as the client will see it.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// The text logged in place of `message`, which may quote the client's data.
    log_detail: String,
}

/// The part of an error that the request log prints. It travels to the logging middleware
/// as a response extension.
#[derive(Debug, Clone)]
pub(crate) struct ErrorLog {
    /// The stable error code.
    pub(crate) code: &'static str,
    /// A description without incident text, coordinates, tokens or guard ids.
    pub(crate) detail: String,
}

impl ApiError {
    /// Creates an error whose message is safe to log.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self { status, code, log_detail: message.clone(), message }
    }

    /// Sets the text logged in place of the message, for messages that quote the client's
    /// data.
    fn with_log_detail(mut self, detail: impl Into<String>) -> Self {
        self.log_detail = detail.into();
        self
    }

    /// Creates a `400 invalid_request` error. `message` must be safe to log.
    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// Creates a `401 unauthorized` error. `message` must be safe to log.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// Creates a `401 signature_required` error for an unsigned request from a device that
    /// registered a key. `message` must be safe to log.
    pub(crate) fn signature_required(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "signature_required", message)
    }

    /// Creates a `401 bad_signature` error. `message` must be safe to log.
    pub(crate) fn bad_signature(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "bad_signature", message)
    }

    /// Creates a `401 wrong_device` error for a request signed for another device than the
    /// token's. `message` must be safe to log.
    pub(crate) fn wrong_device(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "wrong_device", message)
    }

    /// Creates a `403 clock_skew` error for a timestamp outside the request window.
    /// `message` must be safe to log.
    pub(crate) fn clock_skew(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "clock_skew", message)
    }

    /// Creates a `409 replayed` error for a nonce already used. `message` must be safe to
    /// log.
    pub(crate) fn replayed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "replayed", message)
    }

    /// Creates a `413 payload_too_large` error. `message` must be safe to log.
    pub(crate) fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// Creates a `415 unsupported_encoding` error for a `Content-Encoding` the server cannot
    /// decode. `message` must be safe to log.
    pub(crate) fn unsupported_encoding(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding", message)
    }

    /// Returns the HTTP status of the reply.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// Creates a `409 revision_conflict` error: the object changed since the revision the
    /// request names. `message` must be safe to log.
    pub(crate) fn revision_conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "revision_conflict", message)
    }

    /// Creates a `428 precondition_required` error for a change sent without `If-Match`.
    pub(crate) fn precondition_required(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PRECONDITION_REQUIRED, "precondition_required", message)
    }

    /// Creates the `404 not_found` error for an unknown path.
    pub(crate) fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no endpoint at this path; see docs/protocol.md",
        )
    }

    /// Creates the `404 not_found` error for a device id that no device enrolled with.
    pub(crate) fn unknown_device() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no device with this id is enrolled")
    }

    /// Creates the `409 device_key_mismatch` error for an enrollment that would replace an
    /// enrolled device's public key.
    pub(crate) fn device_key_mismatch() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "device_key_mismatch",
            "this device id is enrolled with another public key; a device keeps its key for \
             life, so enroll a new installation under a new device id",
        )
    }

    /// Creates the `405 method_not_allowed` error for a known path and the wrong method.
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not accept this HTTP method; see docs/protocol.md",
        )
    }

    /// Creates the error for a panic record the server will never store. The message may
    /// quote the record, so the log shows only the code.
    pub(crate) fn rejected_record(rejection: &Rejection) -> Self {
        let status = match rejection {
            Rejection::InvalidRecord(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Rejection::WrongDevice => StatusCode::FORBIDDEN,
            Rejection::IdConflict | Rejection::SeqConflict | Rejection::BrokenLink => {
                StatusCode::CONFLICT
            }
            Rejection::Tampered | Rejection::BadSignature => StatusCode::UNPROCESSABLE_ENTITY,
        };

        Self::new(status, rejection.code(), rejection.message())
            .with_log_detail(format!("the record was rejected as {}", rejection.code()))
    }
}

impl From<ServerError> for ApiError {
    fn from(error: ServerError) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to process the request; retry later",
        )
        .with_log_detail(error.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let message = rejection.body_text();

        // serde's messages can quote values from the body, such as incident text, so the
        // log gets only the kind of failure.
        match rejection {
            JsonRejection::JsonDataError(_) => Self::invalid_request(message)
                .with_log_detail("the JSON body does not match the expected type"),
            JsonRejection::JsonSyntaxError(_) => {
                Self::invalid_request(message).with_log_detail("the body is not valid JSON")
            }
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "expected the header Content-Type: application/json",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::payload_too_large(format!(
                    "the request body is larger than {MAX_BODY_BYTES} bytes; \
                     send fewer records per request"
                ))
            }
            other => {
                let status = other.status();
                let code = if status.is_server_error() { "internal" } else { "invalid_request" };
                Self::new(status, code, other.body_text())
            }
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::invalid_request(rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorResponse {
            error: ErrorDetail { code: self.code.to_owned(), message: self.message },
        };
        let log = ErrorLog { code: self.code, detail: self.log_detail };

        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(log);
        response
    }
}
