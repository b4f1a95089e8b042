//! `vigil devices`: an operator lists the devices that send heartbeats, and which of them
//! went silent.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use vigil_core::{Clock, SystemClock};
use vigil_server::{DeviceHeartbeat, ServerStore};

use crate::error::{CliError, Context as _};

/// One device as `vigil devices` prints it.
#[derive(Debug, Serialize)]
pub struct DeviceLine {
    /// The device.
    pub device_id: String,
    /// The guard enrolled on it.
    pub guard_id: String,
    /// When the server received its newest heartbeat, in milliseconds since the Unix epoch.
    pub last_heartbeat_at_ms: i64,
    /// Whether it sent no heartbeat for longer than the limit.
    pub silent: bool,
    /// Whether the app may read the location.
    pub location_permission: bool,
    /// The battery charge in percent, if reported.
    pub battery_percent: Option<u8>,
    /// Age of the newest trusted fix in milliseconds, if there was one.
    pub last_fix_age_ms: Option<i64>,
    /// Alerts the SOC had not yet stored when the heartbeat was sent.
    pub pending_alerts: u32,
}

impl From<DeviceHeartbeat> for DeviceLine {
    fn from(device: DeviceHeartbeat) -> Self {
        Self {
            device_id: device.device_id,
            guard_id: device.guard_id,
            last_heartbeat_at_ms: device.received_at_ms,
            silent: device.silent,
            location_permission: device.heartbeat.location_permission,
            battery_percent: device.heartbeat.battery_percent,
            last_fix_age_ms: device.heartbeat.last_fix_age_ms,
            pending_alerts: device.heartbeat.pending_alerts,
        }
    }
}

/// Returns the devices that sent heartbeats, oldest heartbeat first: only the silent ones
/// if `silent_only` is set.
pub fn list(
    database: &Path,
    silent_after_s: u64,
    silent_only: bool,
) -> Result<Vec<DeviceLine>, CliError> {
    let store = ServerStore::open(database).context("opening the server database")?;
    let silent_after_ms = i64::try_from(silent_after_s.saturating_mul(1_000)).unwrap_or(i64::MAX);
    let devices = store
        .device_heartbeats(SystemClock.now_ms(), silent_after_ms)
        .context("reading the heartbeats")?;
    Ok(devices
        .into_iter()
        .filter(|device| !silent_only || device.silent)
        .map(DeviceLine::from)
        .collect())
}

/// Formats devices one per line, for a terminal.
pub fn to_text(devices: &[DeviceLine]) -> String {
    let mut text = String::new();
    for device in devices {
        let state = if device.silent { "SILENT" } else { "ok" };
        let _ = writeln!(
            text,
            "{state:<6} {} (guard {}) last heartbeat at {} ms, location permission {}, \
             {} pending alerts",
            device.device_id,
            device.guard_id,
            device.last_heartbeat_at_ms,
            if device.location_permission { "on" } else { "off" },
            device.pending_alerts
        );
    }
    text
}
