//! The attachment endpoints of the sync protocol: offer, then content in pieces.

use uuid::Uuid;

use super::client::{SyncClient, decode, offline};
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
        let url = format!("{}/v1/attachments/{id}", self.base_url);
        let body = serde_json::to_vec(offer)
            .map_err(|error| Error::invalid("attachment offer", error.to_string()))?;
        let request = self
            .http
            .put(url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        decode(request.send().await.map_err(offline)?).await
    }

    /// Sends one piece of an attachment's encrypted stream, starting at `offset`.
    pub async fn send_attachment_content(
        &self,
        token: &str,
        id: Uuid,
        offset: u64,
        content: Vec<u8>,
    ) -> Result<AttachmentStatus> {
        let url = format!("{}/v1/attachments/{id}/content?offset={offset}", self.base_url);
        let request = self
            .http
            .post(url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(content);
        decode(request.send().await.map_err(offline)?).await
    }
}
