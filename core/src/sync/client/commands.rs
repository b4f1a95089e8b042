//! The device's side of `GET /v1/commands` and `POST /v1/commands/ack`.

use super::SyncClient;
use crate::error::Result;
use crate::protocol::{CommandsAckRequest, CommandsAckResponse, CommandsResponse};

impl SyncClient {
    /// Pulls the commands queued for this device after `cursor`.
    pub async fn commands(&self, token: &str, cursor: i64) -> Result<CommandsResponse> {
        let path = format!("/v1/commands?cursor={cursor}");
        self.send(reqwest::Method::GET, &path, Some(token), bytes::Bytes::new(), &[], false).await
    }

    /// Tells the server that every command up to `through_seq` was applied.
    pub async fn acknowledge_commands(
        &self,
        token: &str,
        through_seq: i64,
    ) -> Result<CommandsAckResponse> {
        self.post("/v1/commands/ack", Some(token), &CommandsAckRequest { through_seq }).await
    }
}
