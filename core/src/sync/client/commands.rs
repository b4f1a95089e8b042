//! The device's side of `GET /v1/commands` and `POST /v1/commands/ack`.

use super::{SyncClient, decode, offline};
use crate::error::Result;
use crate::protocol::{CommandsAckRequest, CommandsAckResponse, CommandsResponse};

impl SyncClient {
    /// Pulls the commands queued for this device after `cursor`.
    pub async fn commands(&self, token: &str, cursor: i64) -> Result<CommandsResponse> {
        let url = format!("{}/v1/commands?cursor={cursor}", self.base_url);
        let request = self.http.get(url).bearer_auth(token);
        decode(request.send().await.map_err(offline)?).await
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
