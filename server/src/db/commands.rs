//! Commands queued for devices, and their acknowledgements.
//!
//! A command belongs to the enrollment of the device current when it was queued: a device
//! that enrolls again (after a wipe, or a new installation) does not receive the commands
//! meant for the installation before it.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use vigil_core::protocol::{CommandKind, DeviceCommand};

use crate::error::ServerError;

/// A queued command as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedCommand {
    /// The command's sequence number, which devices use as their cursor.
    pub seq: i64,
    /// The device the command is for.
    pub device_id: String,
    /// The command's action, such as `wipe`.
    pub kind: String,
    /// When it was queued, by the server's clock.
    pub queued_at_ms: i64,
    /// When the device reported it applied, or `None`.
    pub acknowledged_at_ms: Option<i64>,
}

/// Queues `kind` for the current enrollment of `device_id` and returns the command.
///
/// # Errors
///
/// [`ServerError::DeviceNotFound`] if the device never enrolled.
pub(crate) fn queue(
    connection: &mut Connection,
    device_id: &str,
    kind: CommandKind,
    now_ms: i64,
) -> Result<QueuedCommand, ServerError> {
    let transaction = connection.transaction()?;
    let enrollment: Option<String> = transaction
        .query_row("SELECT token_selector FROM devices WHERE device_id = ?1", [device_id], |row| {
            row.get(0)
        })
        .optional()?;
    let Some(enrollment) = enrollment else {
        return Err(ServerError::DeviceNotFound(device_id.to_owned()));
    };

    transaction.execute(
        "INSERT INTO commands (device_id, enrollment, kind, queued_at_ms) VALUES (?1, ?2, ?3, ?4)",
        params![device_id, enrollment, kind.code(), now_ms],
    )?;
    let seq = transaction.last_insert_rowid();
    transaction.commit()?;

    tracing::info!(device_id, seq, kind = kind.code(), "queued a command");
    Ok(QueuedCommand {
        seq,
        device_id: device_id.to_owned(),
        kind: kind.code().to_owned(),
        queued_at_ms: now_ms,
        acknowledged_at_ms: None,
    })
}

/// Returns the commands of the device's current enrollment with `seq` above `cursor`,
/// oldest first.
pub(crate) fn after(
    connection: &Connection,
    device_id: &str,
    cursor: i64,
) -> Result<Vec<DeviceCommand>, ServerError> {
    let mut statement = connection.prepare_cached(
        "SELECT commands.seq, commands.kind, commands.queued_at_ms
         FROM commands JOIN devices ON devices.device_id = commands.device_id
         WHERE commands.device_id = ?1 AND commands.seq > ?2
           AND commands.enrollment = devices.token_selector
         ORDER BY commands.seq",
    )?;
    let rows = statement.query_map(params![device_id, cursor], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?))
    })?;

    let mut commands = Vec::new();
    for row in rows {
        let (seq, kind, queued_at_ms) = row?;
        let kind =
            serde_json::from_value(serde_json::Value::String(kind)).unwrap_or(CommandKind::Unknown);
        commands.push(DeviceCommand { seq, kind, queued_at_ms });
    }
    Ok(commands)
}

/// Marks the device's commands up to `through_seq` acknowledged. Returns how many were
/// acknowledged for the first time.
pub(crate) fn acknowledge(
    connection: &Connection,
    device_id: &str,
    through_seq: i64,
    now_ms: i64,
) -> Result<u64, ServerError> {
    let changed = connection.execute(
        "UPDATE commands SET acknowledged_at_ms = ?3
         WHERE device_id = ?1 AND seq <= ?2 AND acknowledged_at_ms IS NULL",
        params![device_id, through_seq, now_ms],
    )?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}

/// Returns every command queued for `device_id`, oldest first.
pub(crate) fn list(
    connection: &Connection,
    device_id: &str,
) -> Result<Vec<QueuedCommand>, ServerError> {
    let mut statement = connection.prepare_cached(
        "SELECT seq, device_id, kind, queued_at_ms, acknowledged_at_ms FROM commands
         WHERE device_id = ?1 ORDER BY seq",
    )?;
    let rows = statement.query_map([device_id], |row| {
        Ok(QueuedCommand {
            seq: row.get(0)?,
            device_id: row.get(1)?,
            kind: row.get(2)?,
            queued_at_ms: row.get(3)?,
            acknowledged_at_ms: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
