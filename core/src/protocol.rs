//! The sync protocol between a device and the SOC server: request and response bodies.
//!
//! Both sides use these types, so a change here changes the wire format. `docs/protocol.md`
//! describes the endpoints that carry them.

mod commands;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use commands::{
    CommandKind, CommandsAckRequest, CommandsAckResponse, CommandsResponse, DeviceCommand,
};

use crate::checkin::TagKey;
use crate::model::Site;

/// The protocol version; it is the path prefix of every endpoint (`/v1/...`).
pub const PROTOCOL_VERSION: u32 = 1;

/// The header that carries a device's bearer token, as `Authorization: Bearer <token>`.
pub const AUTHORIZATION: &str = "authorization";

/// The header of `POST /v1/records` that carries the device's clocks at the push, as the
/// JSON of a [`crate::time::DeviceClockSample`]. The server uses it to correct the records'
/// capture times; a push without it is stored uncorrected.
pub const DEVICE_CLOCK_HEADER: &str = "vigil-device-clock";

/// `POST /v1/enroll`: registers a device with the SOC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The device's id, chosen by the app and stable for the installation.
    pub device_id: String,
    /// The guard signed in on the device.
    pub guard_id: String,
    /// The code the SOC issued for this enrollment.
    pub enrollment_code: String,
    /// The device's Ed25519 public key, 32 bytes in base64url without padding, which
    /// verifies its SMS fallback messages. Older devices omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// The reply to [`EnrollRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The token the device sends with every later request.
    pub device_token: String,
    /// The server's clock at the reply, in milliseconds since the Unix epoch.
    pub server_time_ms: i64,
    /// The SOC's X25519 sealing public key, 32 bytes in base64url without padding. The
    /// device seals every record to it at capture. Older servers omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soc_public_key: Option<String>,
}

/// A record as it travels and as the SOC keeps it as evidence: its canonical bytes (the
/// JSON of a [`Record`](crate::model::Record), which includes `seq` and `prev_hash`) sealed to the SOC's key and
/// signed with the device's Ed25519 key.
///
/// Only the SOC can read `sealed`; anyone with the device's public key can check
/// `signature` once the canonical bytes are known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedRecord {
    /// The record's id, in clear so that the server can acknowledge it; it must equal the
    /// id inside the sealed bytes.
    pub id: Uuid,
    /// The record's per-device sequence number, in clear for the same reason.
    pub seq: u64,
    /// `crypto::seal_to_soc(canonical, &sealing_context(id))`, in base64url without
    /// padding.
    pub sealed: String,
    /// The Ed25519 signature over the canonical bytes, 64 bytes in base64url without
    /// padding.
    pub signature: String,
}

/// Returns the associated data a record is sealed with: it binds the sealed box to the
/// record's id, so a box moved to another id fails to open.
pub fn sealing_context(id: &Uuid) -> Vec<u8> {
    format!("vigil-record-v1:{id}").into_bytes()
}

/// `POST /v1/records`: a batch of records from the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    /// The records, sealed and signed at capture, in outbox order.
    pub records: Vec<SealedRecord>,
}

/// The reply to [`PushRequest`]. Every record of the request is in exactly one of the two
/// lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResponse {
    /// Records now durably stored on the server, including ones it already had.
    pub acked: Vec<Uuid>,
    /// Records the server will never store; sending them again will not help.
    pub rejected: Vec<RejectedRecord>,
    /// The server's clock at the reply, in milliseconds since the Unix epoch.
    pub server_time_ms: i64,
}

/// A record the server refused, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedRecord {
    /// The refused record.
    pub id: Uuid,
    /// A stable code: `invalid_record`, `wrong_device`, `id_conflict`, `tampered`,
    /// `bad_signature`, `seq_conflict` or `broken_link`.
    pub code: String,
    /// A human-readable explanation in English.
    pub message: String,
}

/// `POST /v1/panic`: one panic alert, sent on its own lane ahead of the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanicRequest {
    /// The panic record, sealed and signed at capture.
    pub record: SealedRecord,
}

/// The reply to [`PanicRequest`]: the SOC has durably stored the alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanicResponse {
    /// The id of the stored alert.
    pub id: Uuid,
    /// When the server stored the alert, in milliseconds since the Unix epoch.
    pub delivered_at_ms: i64,
    /// When an operator acknowledged the alert, in milliseconds since the Unix epoch;
    /// absent until then. A device resends the alert until this is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at_ms: Option<i64>,
    /// The server's clock at the reply, in milliseconds since the Unix epoch.
    pub server_time_ms: i64,
}

/// The reply to `GET /v1/assignments?cursor=N`: the sites changed after `cursor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignmentsResponse {
    /// The cursor to send on the next pull.
    pub cursor: i64,
    /// The sites assigned to this device that changed since the request's cursor, whole.
    pub sites: Vec<Site>,
    /// Every public key the SOC signs checkpoint tags with, sent whole on each pull.
    /// Older servers omit it; a device keeps its stored keys when the list is empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_keys: Vec<TagKey>,
    /// The server's clock at the reply, in milliseconds since the Unix epoch.
    pub server_time_ms: i64,
}

/// The body of every error reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// A machine-readable code and an English message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable code, such as `unauthorized` or `invalid_request`.
    pub code: String,
    /// A human-readable explanation in English.
    pub message: String,
}

/// `POST /v1/heartbeat`: the device's protection state, sent at a fixed interval so that
/// the SOC notices a device that goes silent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    /// Whether the app may read the location.
    pub location_permission: bool,
    /// The battery charge in percent, if the platform reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_percent: Option<u8>,
    /// Age of the newest trusted fix in milliseconds; `None` when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fix_age_ms: Option<i64>,
    /// Alerts on the device that the SOC has not yet stored.
    pub pending_alerts: u32,
    /// The device's clock when it sent the heartbeat, in milliseconds since the Unix epoch.
    pub sent_at_ms: i64,
}

/// The reply to [`HeartbeatRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// The server's clock at the reply, in milliseconds since the Unix epoch.
    pub server_time_ms: i64,
}

/// The largest body of `POST /v1/attachments/{id}/content`, in bytes. A device sends an
/// attachment's encrypted stream in pieces of at most this size.
pub const MAX_ATTACHMENT_CHUNK_BYTES: usize = 1024 * 1024;

/// Returns the associated data an attachment's encrypted stream is bound to, so a stream
/// moved to another attachment id fails to decrypt.
pub fn attachment_context(id: &Uuid) -> Vec<u8> {
    format!("vigil-attachment-v1:{id}").into_bytes()
}

/// Returns the associated data an attachment's key is sealed to the SOC with.
pub fn attachment_key_context(id: &Uuid) -> Vec<u8> {
    format!("vigil-attachment-key-v1:{id}").into_bytes()
}

/// `PUT /v1/attachments/{id}`: announces an attachment's encrypted stream before its bytes,
/// and returns how much of it the server has. Sending it again is harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentOffer {
    /// The record that refers to the attachment.
    pub record_id: Uuid,
    /// The stream's digest, as in [`crate::model::AttachmentRef::digest`]; the server
    /// checks it once it has every byte.
    pub digest: String,
    /// The size of the original file, in bytes.
    pub size_bytes: u64,
    /// The length of the encrypted stream, in bytes (`crypto::sealed_len(size_bytes)`).
    pub sealed_bytes: u64,
    /// The media type, such as `image/jpeg`.
    pub media_type: String,
    /// The attachment's key sealed to the SOC's public key (`crypto::seal_to_soc` with
    /// [`attachment_key_context`]), base64url without padding. Absent when the device
    /// does not know the SOC's key; the SOC then cannot open the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_key: Option<String>,
}

/// The reply to [`AttachmentOffer`] and to each piece of content: how much of the stream
/// the server has durably stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentStatus {
    /// The attachment.
    pub id: Uuid,
    /// Bytes of the stream stored, from its start; the next piece starts at this offset.
    pub received_bytes: u64,
    /// The length of the whole stream, in bytes.
    pub sealed_bytes: u64,
    /// Whether the server has every byte and the digest matched.
    pub complete: bool,
    /// The server's clock at the reply, in milliseconds since the Unix epoch.
    pub server_time_ms: i64,
}
