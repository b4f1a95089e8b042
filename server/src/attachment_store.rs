//! Read-only inspection of the attachments a server stored.

use uuid::Uuid;

use crate::db::attachments;
use crate::error::ServerError;
use crate::store::ServerStore;

/// An attachment as the server stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAttachment {
    /// The device that uploaded it.
    pub device_id: String,
    /// The record that refers to it.
    pub record_id: Uuid,
    /// The digest the device announced, which the stored stream matched if `complete`.
    pub digest: String,
    /// The length of the whole encrypted stream, in bytes.
    pub sealed_bytes: u64,
    /// Bytes of the stream stored so far.
    pub received_bytes: u64,
    /// Whether every byte is stored and the digest matched.
    pub complete: bool,
    /// The attachment key sealed to the SOC, base64url, if the device sent it.
    pub sealed_key: Option<String>,
}

impl ServerStore {
    /// Returns the attachment stored under `id`, complete or not.
    pub fn attachment(&self, id: Uuid) -> Result<Option<ServerAttachment>, ServerError> {
        let row = attachments::find(self.connection(), id)?;
        Ok(row.map(|row| ServerAttachment {
            device_id: row.device_id,
            record_id: row.offer.record_id,
            digest: row.offer.digest,
            sealed_bytes: row.offer.sealed_bytes,
            received_bytes: row.received_bytes,
            complete: row.completed_at_ms.is_some(),
            sealed_key: row.offer.sealed_key,
        }))
    }
}
