//! The attachment endpoints of the sync protocol: offer, then content in pieces.

use uuid::Uuid;

use bytes::Bytes;

use super::client::SyncClient;
use crate::error::{Error, Result};
use crate::protocol::{AttachmentOffer, AttachmentStatus};

impl SyncClient {
    /// Announces an attachment and returns how much of its stream the server has.
    pub async fn offer_attachment(
        &self,
        token: &str,
        id: Uuid,
        offer: &AttachmentOffer,
    ) -> Result<AttachmentStatus> {
        let path = format!("/v1/attachments/{id}");
        let body = serde_json::to_vec(offer)
            .map_err(|error| Error::invalid("attachment offer", error.to_string()))?;
        self.send(reqwest::Method::PUT, &path, Some(token), Bytes::from(body), &[], false).await
    }

    /// Sends one piece of an attachment's encrypted stream, starting at `offset`.
    pub async fn send_attachment_content(
        &self,
        token: &str,
        id: Uuid,
        offset: u64,
        content: Vec<u8>,
    ) -> Result<AttachmentStatus> {
        let path = format!("/v1/attachments/{id}/content?offset={offset}");
        let headers = [(reqwest::header::CONTENT_TYPE.as_str(), "application/octet-stream")];
        self.send(reqwest::Method::POST, &path, Some(token), Bytes::from(content), &headers, false)
            .await
    }
}
