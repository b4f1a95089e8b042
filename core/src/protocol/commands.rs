//! Commands the SOC queues for one device, pulled by cursor from `GET /v1/commands`.

use serde::{Deserialize, Serialize};

/// The action a command requests from the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// Delete every local record, key and file of the device (a lost or stolen phone).
    Wipe,
    /// A command this version does not know, from a newer server. The device skips it.
    #[serde(other)]
    Unknown,
}

impl CommandKind {
    /// Returns the name the protocol uses, such as `wipe`.
    pub fn code(self) -> &'static str {
        match self {
            CommandKind::Wipe => "wipe",
            CommandKind::Unknown => "unknown",
        }
    }
}

/// One queued command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCommand {
    /// Increases with every command the server queues; the device applies commands in this
    /// order and sends the highest applied as its cursor.
    pub seq: i64,
    /// The action.
    pub kind: CommandKind,
    /// When the operator queued it, by the server's clock.
    pub queued_at_ms: i64,
}

/// The reply to `GET /v1/commands?cursor=N`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandsResponse {
    /// The commands for this device and enrollment with `seq` above the cursor, oldest first.
    pub commands: Vec<DeviceCommand>,
    /// The server's clock at the reply, in milliseconds since the Unix epoch.
    pub server_time_ms: i64,
}

/// `POST /v1/commands/ack`: the device applied every command up to `through_seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandsAckRequest {
    /// The highest `seq` the device applied.
    pub through_seq: i64,
}

/// The reply to [`CommandsAckRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandsAckResponse {
    /// How many commands this request acknowledged for the first time.
    pub acknowledged: u64,
    /// The server's clock at the reply, in milliseconds since the Unix epoch.
    pub server_time_ms: i64,
}
