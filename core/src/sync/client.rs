//! The HTTP side of sync: one method per endpoint of `docs/protocol.md`.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::protocol::DEVICE_CLOCK_HEADER;
use crate::protocol::{
    AssignmentsResponse, EnrollRequest, EnrollResponse, ErrorResponse, HeartbeatRequest,
    HeartbeatResponse, PanicRequest, PanicResponse, PushRequest, PushResponse,
};
use crate::time::DeviceClockSample;

/// A client of the SOC server's sync protocol.
#[derive(Debug, Clone)]
pub struct SyncClient {
    pub(super) http: reqwest::Client,
    pub(super) base_url: String,
}

impl SyncClient {
    /// Creates a client for the server at `base_url`, such as `http://127.0.0.1:8443`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the URL is not http or https.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self> {
        let base_url = base_url.trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::invalid(
                "server_url",
                format!("{base_url:?} is not an http(s) URL"),
            ));
        }

        // NOTE: plain HTTP only; TLS and certificate pinning are not built in yet.
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|error| Error::invalid("server_url", error.to_string()))?;
        Ok(Self { http, base_url })
    }

    /// Enrolls the device and returns its token.
    pub async fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse> {
        self.post("/v1/enroll", None, request).await
    }

    /// Pushes a batch of records.
    pub async fn push(&self, token: &str, request: &PushRequest) -> Result<PushResponse> {
        self.post("/v1/records", Some(token), request).await
    }

    /// Works as [`SyncClient::push`], and sends the device's clocks at the time of the
    /// push in the [`DEVICE_CLOCK_HEADER`] header, so the server can correct the records'
    /// capture times.
    pub async fn push_with_clock(
        &self,
        token: &str,
        request: &PushRequest,
        clock: Option<&DeviceClockSample>,
    ) -> Result<PushResponse> {
        let body = serde_json::to_vec(request)
            .map_err(|error| Error::invalid("request", error.to_string()))?;
        let clock = match clock {
            Some(sample) => Some(
                serde_json::to_string(sample)
                    .map_err(|error| Error::invalid("device_clock", error.to_string()))?,
            ),
            None => None,
        };
        self.post_body_with_header(
            "/v1/records",
            Some(token),
            body,
            clock.as_deref().map(|value| (DEVICE_CLOCK_HEADER, value)),
        )
        .await
    }

    /// Sends one panic alert on the fast path.
    pub async fn panic(&self, token: &str, request: &PanicRequest) -> Result<PanicResponse> {
        self.post("/v1/panic", Some(token), request).await
    }

    /// Sends the device's protection state.
    pub async fn heartbeat(
        &self,
        token: &str,
        request: &HeartbeatRequest,
    ) -> Result<HeartbeatResponse> {
        self.post("/v1/heartbeat", Some(token), request).await
    }

    /// Pulls the sites that changed after `cursor`.
    pub async fn assignments(&self, token: &str, cursor: i64) -> Result<AssignmentsResponse> {
        let url = format!("{}/v1/assignments?cursor={cursor}", self.base_url);
        let request = self.http.get(url).bearer_auth(token);
        decode(request.send().await.map_err(offline)?).await
    }

    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: &B,
    ) -> Result<R> {
        let body = serde_json::to_vec(body)
            .map_err(|error| Error::invalid("request", error.to_string()))?;
        self.post_body(path, token, body).await
    }

    async fn post_body<R: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Result<R> {
        self.post_body_with_header(path, token, body, None).await
    }

    async fn post_body_with_header<R: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
        header: Option<(&str, &str)>,
    ) -> Result<R> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        decode(request.send().await.map_err(offline)?).await
    }
}

pub(super) fn offline(error: reqwest::Error) -> Error {
    Error::Offline(without_url(error).to_string())
}

/// Drops the URL from a reqwest error: it names the SOC's host, which is configuration,
/// not something to repeat in every log line.
fn without_url(error: reqwest::Error) -> reqwest::Error {
    error.without_url()
}

pub(super) async fn decode<R: DeserializeOwned>(response: reqwest::Response) -> Result<R> {
    let status = response.status();
    let retry_after_ms = retry_after_ms(response.headers());
    let bytes = response.bytes().await.map_err(offline)?;

    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|error| Error::Server {
            status: 0,
            message: format!("invalid reply to a {status} response: {error}"),
            retry_after_ms: None,
        });
    }

    let message = match serde_json::from_slice::<ErrorResponse>(&bytes) {
        Ok(reply) => format!("{}: {}", reply.error.code, reply.error.message),
        Err(_) => format!("unreadable error reply ({} bytes)", bytes.len()),
    };
    Err(Error::Server { status: status.as_u16(), message, retry_after_ms })
}

/// Reads a `Retry-After` header given in seconds, as in `Retry-After: 120`.
///
/// NOTE: the HTTP-date form of the header is ignored, so the device falls back to its
/// own backoff for it.
fn retry_after_ms(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(seconds.saturating_mul(1_000))
}

/// Returns whether the server refused the device's token.
pub(crate) fn is_unauthorized(error: &Error) -> bool {
    matches!(error, Error::Server { status, .. } if *status == StatusCode::UNAUTHORIZED.as_u16())
}
