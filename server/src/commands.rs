//! Commands an SOC operator queues for a device from the server machine.

use std::path::Path;

use vigil_core::protocol::CommandKind;

use crate::db::commands::{self, QueuedCommand};
use crate::error::ServerError;
use crate::operator::open_writer;

/// Queues `kind` for the current enrollment of `device_id` in the server database at
/// `database`. The device applies it at its next sync. This may run while a server writes
/// to the same file.
///
/// A server started with an operator token also offers this as
/// `POST /v1/operator/devices/{id}/commands`.
///
/// # Errors
///
/// [`ServerError::DeviceNotFound`] if the device never enrolled; [`ServerError::Database`]
/// if the file cannot be opened or written; [`ServerError::Corrupt`] if no server of this
/// version has created its schema.
pub fn queue_command(
    database: impl AsRef<Path>,
    device_id: &str,
    kind: CommandKind,
    now_ms: i64,
) -> Result<QueuedCommand, ServerError> {
    let mut connection = open_writer(database.as_ref())?;
    commands::queue(&mut connection, device_id, kind, now_ms)
}
