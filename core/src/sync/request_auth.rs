//! Signed requests. Each request a device sends after enrollment carries a fresh nonce, a
//! timestamp and an Ed25519 signature by the device key. The signature covers the method,
//! the path, the device id, the nonce, the timestamp and the SHA-256 of the body.
//!
//! The server rejects a bad signature, a timestamp outside [`REQUEST_WINDOW_MS`] of its own
//! clock and a nonce it has already seen within the window. A retry is a new request with a
//! new nonce, so the client never trips over its own retries.
//!
//! The timestamp is the device's estimate of the server's clock, not its own clock: the
//! signer keeps the offset between the two, learned from the [`SERVER_TIME_HEADER`] of every
//! reply. A phone whose clock is hours wrong has its first request rejected with
//! `clock_skew`; that reply teaches it the offset, and the client retries at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SecureRandom as _;

use crate::clock::Clock;
use crate::crypto::DeviceSigningKey;
use crate::error::{Error, Result};

/// The header with the device id the request is signed for; it must be the id of the
/// bearer token's device.
pub const DEVICE_ID_HEADER: &str = "vigil-device-id";
/// The header with the request's nonce: 16 random bytes in base64url without padding.
pub const NONCE_HEADER: &str = "vigil-nonce";
/// The header with the request's timestamp: the server's clock as the device estimates
/// it, in milliseconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "vigil-timestamp";
/// The header with the Ed25519 signature over [`signing_message`], in base64url without
/// padding.
pub const SIGNATURE_HEADER: &str = "vigil-signature";
/// The header of every server reply with the server's clock, in milliseconds since the
/// Unix epoch.
pub const SERVER_TIME_HEADER: &str = "vigil-server-time";

/// How far a request's timestamp may be from the server's clock, either way, in
/// milliseconds. The server keeps nonces for twice as long, so a replay is rejected
/// either as a reused nonce or as a stale timestamp.
pub const REQUEST_WINDOW_MS: i64 = 5 * 60 * 1000;

/// The length of a nonce before encoding, in bytes.
const NONCE_BYTES: usize = 16;

/// Returns the bytes a request signature covers: a version tag and the request's parts,
/// one per line. `path` includes the query string as sent, such as
/// `/v1/assignments?cursor=3`.
pub fn signing_message(
    method: &str,
    path: &str,
    device_id: &str,
    nonce: &str,
    timestamp_ms: i64,
    body: &[u8],
) -> Vec<u8> {
    let body_hash = ring::digest::digest(&ring::digest::SHA256, body);
    let body_hash = URL_SAFE_NO_PAD.encode(body_hash.as_ref());
    format!("vigil-request-v1\n{method}\n{path}\n{device_id}\n{nonce}\n{timestamp_ms}\n{body_hash}")
        .into_bytes()
}

/// The authentication headers of one request, as `(name, value)` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// The device id, for [`DEVICE_ID_HEADER`].
    pub device_id: String,
    /// The nonce, for [`NONCE_HEADER`].
    pub nonce: String,
    /// The timestamp, for [`TIMESTAMP_HEADER`].
    pub timestamp_ms: i64,
    /// The signature, for [`SIGNATURE_HEADER`].
    pub signature: String,
}

impl SignedHeaders {
    /// Returns the four headers as `(name, value)` pairs.
    pub fn pairs(&self) -> [(&'static str, String); 4] {
        [
            (DEVICE_ID_HEADER, self.device_id.clone()),
            (NONCE_HEADER, self.nonce.clone()),
            (TIMESTAMP_HEADER, self.timestamp_ms.to_string()),
            (SIGNATURE_HEADER, self.signature.clone()),
        ]
    }
}

/// Signs a device's requests and keeps its estimate of the server's clock. Clients of the
/// same device share one signer, so what one learns about the clock serves the others.
pub struct RequestSigner {
    device_id: String,
    key: Arc<DeviceSigningKey>,
    clock: Arc<dyn Clock>,
    /// The server's clock minus the device's, in milliseconds, once a reply has shown it.
    server_offset_ms: AtomicI64,
    has_offset: AtomicBool,
}

impl std::fmt::Debug for RequestSigner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("RequestSigner").finish_non_exhaustive()
    }
}

impl RequestSigner {
    /// Creates a signer for `device_id` with its enrolled key, reading the device's clock
    /// from `clock`.
    pub fn new(
        device_id: impl Into<String>,
        key: Arc<DeviceSigningKey>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            device_id: device_id.into(),
            key,
            clock,
            server_offset_ms: AtomicI64::new(0),
            has_offset: AtomicBool::new(false),
        }
    }

    /// Signs one request with a new nonce and the current estimate of the server's clock.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if the system random number generator fails.
    pub fn sign(&self, method: &str, path: &str, body: &[u8]) -> Result<SignedHeaders> {
        let mut nonce = [0u8; NONCE_BYTES];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Error::InvalidState("the random number generator failed".to_owned()))?;
        let nonce = URL_SAFE_NO_PAD.encode(nonce);

        let timestamp_ms = self.server_now_ms();
        let message = signing_message(method, path, &self.device_id, &nonce, timestamp_ms, body);
        let signature = URL_SAFE_NO_PAD.encode(self.key.sign(&message));

        Ok(SignedHeaders { device_id: self.device_id.clone(), nonce, timestamp_ms, signature })
    }

    /// Records the server's clock from a reply's [`SERVER_TIME_HEADER`].
    ///
    /// NOTE: the request's transit time is not subtracted, so the estimate runs behind the
    /// server by up to one round trip, which is far inside [`REQUEST_WINDOW_MS`].
    pub fn note_server_time(&self, server_time_ms: i64) {
        let offset = server_time_ms.saturating_sub(self.clock.now_ms());
        self.server_offset_ms.store(offset, Ordering::Relaxed);
        self.has_offset.store(true, Ordering::Release);
    }

    /// Returns the server's clock as the device estimates it: the device's clock plus the
    /// last offset learned, or the device's clock alone before the first reply.
    pub fn server_now_ms(&self) -> i64 {
        let now = self.clock.now_ms();
        if self.has_offset.load(Ordering::Acquire) {
            now.saturating_add(self.server_offset_ms.load(Ordering::Relaxed))
        } else {
            now
        }
    }
}

#[cfg(test)]
mod tests {
    use ring::signature::{ED25519, UnparsedPublicKey};

    use super::*;
    use crate::clock::ManualClock;

    fn signer(clock: &ManualClock) -> (RequestSigner, [u8; 32]) {
        let key = Arc::new(DeviceSigningKey::generate().unwrap());
        let public_key = key.public_key();
        (RequestSigner::new("device-1", key, Arc::new(clock.clone())), public_key)
    }

    #[test]
    fn signature_covers_every_part() {
        let (signer, public_key) = signer(&ManualClock::new(1_000));
        let headers = signer.sign("POST", "/v1/records", b"{}").unwrap();
        let signature = URL_SAFE_NO_PAD.decode(&headers.signature).unwrap();
        let verify = |message: Vec<u8>| {
            UnparsedPublicKey::new(&ED25519, public_key).verify(&message, &signature).is_ok()
        };
        let (nonce, time) = (headers.nonce.as_str(), headers.timestamp_ms);

        assert!(verify(signing_message("POST", "/v1/records", "device-1", nonce, time, b"{}")));
        assert!(!verify(signing_message("GET", "/v1/records", "device-1", nonce, time, b"{}")));
        assert!(!verify(signing_message("POST", "/v1/panic", "device-1", nonce, time, b"{}")));
        assert!(!verify(signing_message("POST", "/v1/records", "device-2", nonce, time, b"{}")));
        assert!(!verify(signing_message("POST", "/v1/records", "device-1", "other", time, b"{}")));
        assert!(!verify(signing_message(
            "POST",
            "/v1/records",
            "device-1",
            nonce,
            time + 1,
            b"{}"
        )));
        assert!(!verify(signing_message("POST", "/v1/records", "device-1", nonce, time, b"[]")));
    }

    #[test]
    fn nonces_differ_between_requests() {
        let (signer, _) = signer(&ManualClock::new(1_000));

        let first = signer.sign("GET", "/v1/assignments?cursor=0", b"").unwrap();
        let second = signer.sign("GET", "/v1/assignments?cursor=0", b"").unwrap();

        assert_ne!(first.nonce, second.nonce);
        assert_eq!(URL_SAFE_NO_PAD.decode(&first.nonce).unwrap().len(), NONCE_BYTES);
    }

    #[test]
    fn timestamp_follows_server_clock() {
        let clock = ManualClock::new(1_000);
        let (signer, _) = signer(&clock);
        assert_eq!(signer.server_now_ms(), 1_000, "the device clock before any reply");

        signer.note_server_time(1_000 + 7 * 3_600_000);
        clock.advance(500);

        assert_eq!(signer.server_now_ms(), 1_500 + 7 * 3_600_000);
        assert_eq!(signer.sign("GET", "/", b"").unwrap().timestamp_ms, 1_500 + 7 * 3_600_000);
    }
}
