//! The HTTP side of sync: one method per endpoint of `docs/protocol.md`.

mod commands;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::compression;
use crate::error::{Error, Result};
use crate::protocol::DEVICE_CLOCK_HEADER;
use crate::protocol::{
    AssignmentsResponse, EnrollRequest, EnrollResponse, ErrorResponse, HeartbeatRequest,
    HeartbeatResponse, PanicRequest, PanicResponse, PushRequest, PushResponse,
};
use crate::time::DeviceClockSample;

use super::request_auth::{RequestSigner, SERVER_TIME_HEADER};
use super::tls::{TlsSettings, client_config, untrusted_reason};

/// The error code of a request whose timestamp is outside the server's window.
const CLOCK_SKEW: &str = "clock_skew";

/// A client of the SOC server's sync protocol.
#[derive(Debug, Clone)]
pub struct SyncClient {
    pub(super) http: reqwest::Client,
    pub(super) base_url: String,
    /// Signs every request that carries a token; `None` sends the token alone.
    signer: Option<Arc<RequestSigner>>,
}

impl SyncClient {
    /// Creates a client for the server at `base_url`, such as `http://127.0.0.1:8443`,
    /// that trusts the built-in Mozilla roots and pins nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the URL is not http or https.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self> {
        Self::with_tls(base_url, timeout, &TlsSettings::default())
    }

    /// Creates a client for the server at `base_url` that checks an https server's
    /// certificate as `tls` configures.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the URL is not http or https, if pins are set for an
    /// http URL, or if a pin or CA certificate is malformed.
    pub fn with_tls(base_url: &str, timeout: Duration, tls: &TlsSettings) -> Result<Self> {
        let base_url = base_url.trim_end_matches('/').to_string();
        let is_https = base_url.starts_with("https://");
        if !(is_https || base_url.starts_with("http://")) {
            return Err(Error::invalid(
                "server_url",
                format!("{base_url:?} is not an http(s) URL"),
            ));
        }
        if !is_https && !tls.spki_pins.is_empty() {
            return Err(Error::invalid(
                "tls.spki_pins",
                "pins are set but server_url is plain http; use an https URL",
            ));
        }

        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .tls_backend_preconfigured(client_config(tls)?)
            .build()
            .map_err(|error| Error::invalid("server_url", error.to_string()))?;
        Ok(Self { http, base_url, signer: None })
    }

    /// Returns this client with every request that carries a token signed by `signer`.
    pub fn with_signer(mut self, signer: Arc<RequestSigner>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Enrolls the device and returns its token.
    pub async fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse> {
        self.post("/v1/enroll", None, request).await
    }

    /// Pushes a batch of records.
    pub async fn push(&self, token: &str, request: &PushRequest) -> Result<PushResponse> {
        self.post("/v1/records", Some(token), request).await
    }

    /// Pushes records adopted from a locked database to `POST /v1/records/rescued`: the
    /// server takes each record's device from its sealed bytes, so they may come from
    /// another device than the one `token` authenticates.
    ///
    /// # Errors
    ///
    /// As [`SyncClient::push`].
    pub async fn push_rescued(&self, token: &str, request: &PushRequest) -> Result<PushResponse> {
        self.post("/v1/records/rescued", Some(token), request).await
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
        let mut headers = Vec::with_capacity(2);
        if let Some(clock) = clock.as_deref() {
            headers.push((DEVICE_CLOCK_HEADER, clock));
        }

        // The server bounds the body after decompression, so the batch limit of the
        // outbox applies to the JSON built above, not to the bytes on the wire.
        let compress = body.len() >= compression::MIN_COMPRESSED_BYTES;
        let body = Bytes::from(body);
        self.send(reqwest::Method::POST, "/v1/records", Some(token), body, &headers, compress).await
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
        let path = format!("/v1/assignments?cursor={cursor}");
        self.send(reqwest::Method::GET, &path, Some(token), Bytes::new(), &[], false).await
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
        self.post_body_with_headers(path, token, body, &[]).await
    }

    async fn post_body_with_headers<R: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Result<R> {
        self.send(reqwest::Method::POST, path, token, Bytes::from(body), headers, false).await
    }

    /// Sends one request and decodes the reply. A request rejected with `clock_skew` is
    /// sent once more at once, signed with the server's clock that the rejection carried.
    pub(super) async fn send<R: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Bytes,
        headers: &[(&str, &str)],
        compress: bool,
    ) -> Result<R> {
        let reply =
            self.send_once(method.clone(), path, token, body.clone(), headers, compress).await?;
        if reply.is_clock_skew() && self.signer.is_some() {
            tracing::info!("the server rejected the request timestamp; resending with its clock");
            let reply = self.send_once(method, path, token, body, headers, compress).await?;
            return reply.decode();
        }
        reply.decode()
    }

    async fn send_once(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Bytes,
        headers: &[(&str, &str)],
        compress: bool,
    ) -> Result<Reply> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base_url));
        let typed = headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
        if !typed && method != reqwest::Method::GET {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json");
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
            if let Some(signer) = &self.signer {
                for (name, value) in signer.sign(method.as_str(), path, &body)?.pairs() {
                    request = request.header(name, value);
                }
            }
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        // The signature above covers the body as the server's handlers see it, after the
        // server has decompressed it, so the body is compressed only now.
        if compress {
            request = request
                .header(reqwest::header::CONTENT_ENCODING, compression::GZIP)
                .body(compression::gzip(&body)?);
        } else if !body.is_empty() || method != reqwest::Method::GET {
            request = request.body(body);
        }

        let response = request.send().await.map_err(offline)?;
        if let (Some(signer), Some(server_time_ms)) = (&self.signer, server_time(&response)) {
            signer.note_server_time(server_time_ms);
        }
        Reply::read(response).await
    }
}

/// A reply read whole, before it is decoded.
struct Reply {
    status: StatusCode,
    retry_after_ms: Option<u64>,
    bytes: Bytes,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Result<Self> {
        let status = response.status();
        let retry_after_ms = retry_after_ms(response.headers());
        let bytes = response.bytes().await.map_err(offline)?;
        Ok(Self { status, retry_after_ms, bytes })
    }

    fn error_detail(&self) -> Option<ErrorResponse> {
        serde_json::from_slice::<ErrorResponse>(&self.bytes).ok()
    }

    fn is_clock_skew(&self) -> bool {
        !self.status.is_success()
            && self.error_detail().is_some_and(|reply| reply.error.code == CLOCK_SKEW)
    }

    fn decode<R: DeserializeOwned>(self) -> Result<R> {
        let status = self.status;
        if status.is_success() {
            return serde_json::from_slice(&self.bytes).map_err(|error| Error::Server {
                status: 0,
                message: format!("invalid reply to a {status} response: {error}"),
                retry_after_ms: None,
            });
        }

        let message = match self.error_detail() {
            Some(reply) => format!("{}: {}", reply.error.code, reply.error.message),
            None => format!("unreadable error reply ({} bytes)", self.bytes.len()),
        };
        Err(Error::Server { status: status.as_u16(), message, retry_after_ms: self.retry_after_ms })
    }
}

/// Reads the server's clock from a reply's [`SERVER_TIME_HEADER`].
fn server_time(response: &reqwest::Response) -> Option<i64> {
    response.headers().get(SERVER_TIME_HEADER)?.to_str().ok()?.trim().parse().ok()
}

/// Maps a failed request to [`Error::UntrustedServer`] when TLS rejected the server's
/// certificate, else to [`Error::Offline`].
pub(super) fn offline(error: reqwest::Error) -> Error {
    if let Some(reason) = untrusted_reason(&error) {
        return Error::UntrustedServer(reason);
    }
    Error::Offline(without_url(error).to_string())
}

/// Drops the URL from a reqwest error: it names the SOC's host, which is configuration,
/// not something to repeat in every log line.
fn without_url(error: reqwest::Error) -> reqwest::Error {
    error.without_url()
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
