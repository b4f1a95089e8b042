use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A photo, audio clip or video attached to a record, as the record refers to it.
///
/// The file itself is stored encrypted on the device and uploaded on its own (see
/// `docs/protocol.md`, "Attachments"); the record carries only this reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// A UUIDv7 generated on the device; it names the upload and binds the encrypted
    /// stream to this attachment.
    pub id: Uuid,
    /// The digest of the encrypted stream: SHA-256 over its header and every chunk's tag,
    /// 64 lowercase hex digits (see `crypto::encrypt_stream`).
    pub digest: String,
    /// The size of the original file, in bytes.
    pub size_bytes: u64,
    /// The media type the app gave, such as `image/jpeg` or `video/mp4`.
    pub media_type: String,
}
