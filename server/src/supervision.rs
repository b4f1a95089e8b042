//! Supervision of devices through their heartbeats: which devices went silent.

use vigil_core::protocol::HeartbeatRequest;

use crate::db::decode;
use crate::error::ServerError;
use crate::store::ServerStore;

/// How long a device may send no heartbeat before it counts as silent, in milliseconds.
pub const DEFAULT_SILENT_AFTER_MS: i64 = 180_000;

/// A device that has sent heartbeats, with its newest one.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceHeartbeat {
    /// The device.
    pub device_id: String,
    /// The guard enrolled on it.
    pub guard_id: String,
    /// When the server received the newest heartbeat, in milliseconds since the Unix epoch.
    pub received_at_ms: i64,
    /// The protection state that heartbeat carried.
    pub heartbeat: HeartbeatRequest,
    /// Whether no heartbeat came for longer than the limit asked for.
    pub silent: bool,
}

impl ServerStore {
    /// Returns every device that has sent a heartbeat, oldest heartbeat first, each marked
    /// silent if its newest heartbeat is more than `silent_after_ms` older than `now_ms`.
    /// Devices that never sent one (older apps) are not listed.
    ///
    /// # Errors
    ///
    /// [`ServerError::Database`] if reading fails; [`ServerError::Corrupt`] for an
    /// undecodable stored heartbeat.
    pub fn device_heartbeats(
        &self,
        now_ms: i64,
        silent_after_ms: i64,
    ) -> Result<Vec<DeviceHeartbeat>, ServerError> {
        heartbeats_in(self.connection(), now_ms, silent_after_ms)
    }
}

/// Works as [`ServerStore::device_heartbeats`] on an open connection.
pub(crate) fn heartbeats_in(
    connection: &rusqlite::Connection,
    now_ms: i64,
    silent_after_ms: i64,
) -> Result<Vec<DeviceHeartbeat>, ServerError> {
    let mut statement = connection.prepare(
        "SELECT heartbeats.device_id, devices.guard_id, heartbeats.received_at_ms,
                heartbeats.content
         FROM heartbeats JOIN devices ON devices.device_id = heartbeats.device_id
         ORDER BY heartbeats.received_at_ms, heartbeats.device_id",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get(1)?, row.get::<_, i64>(2)?, row.get(3)?))
    })?;

    let mut devices = Vec::new();
    for row in rows {
        let (device_id, guard_id, received_at_ms, content): (String, String, i64, String) = row?;
        devices.push(DeviceHeartbeat {
            device_id,
            guard_id,
            received_at_ms,
            heartbeat: decode("heartbeat", &content)?,
            silent: now_ms - received_at_ms > silent_after_ms,
        });
    }
    Ok(devices)
}
