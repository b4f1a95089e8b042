//! `vigil alerts`: the operator's view of the alerts stored by a reference server.

use std::path::Path;

use serde::Serialize;
use uuid::Uuid;
use vigil_server::{ServerStore, StoredAlert};

use crate::error::{CliError, Context as _};

/// One alert as `vigil alerts list` prints it.
#[derive(Debug, Serialize)]
pub struct AlertLine {
    /// The id of the alert's record.
    pub record_id: String,
    /// The device that raised it.
    pub device_id: String,
    /// When the server stored it, in milliseconds since the Unix epoch.
    pub delivered_at_ms: i64,
    /// When an operator acknowledged it, if one did.
    pub acknowledged_at_ms: Option<i64>,
    /// When the guard's cancel arrived, if one did.
    pub cancelled_at_ms: Option<i64>,
}

impl From<StoredAlert> for AlertLine {
    fn from(alert: StoredAlert) -> Self {
        Self {
            record_id: alert.record_id.to_string(),
            device_id: alert.device_id,
            delivered_at_ms: alert.delivered_at_ms,
            acknowledged_at_ms: alert.acknowledged_at_ms,
            cancelled_at_ms: alert.cancelled_at_ms,
        }
    }
}

/// Returns the stored alerts, oldest first: only the active ones (neither acknowledged
/// nor cancelled) unless `all` is set.
pub fn list(database: &Path, all: bool) -> Result<Vec<AlertLine>, CliError> {
    let store = ServerStore::open(database).context("opening the server database")?;
    let alerts = store.alerts().context("reading the alerts")?;
    Ok(alerts
        .into_iter()
        .filter(|alert| {
            all || (alert.acknowledged_at_ms.is_none() && alert.cancelled_at_ms.is_none())
        })
        .map(AlertLine::from)
        .collect())
}

/// Formats alerts one per line, for a terminal.
pub fn to_text(alerts: &[AlertLine]) -> String {
    if alerts.is_empty() {
        return "no alerts\n".to_owned();
    }
    let mut text = String::new();
    for alert in alerts {
        let state = match (alert.cancelled_at_ms, alert.acknowledged_at_ms) {
            (Some(_), _) => "cancelled",
            (None, Some(_)) => "acknowledged",
            (None, None) => "ACTIVE",
        };
        text.push_str(&format!(
            "{}  {:<12}  device {}  delivered at {} ms\n",
            alert.record_id, state, alert.device_id, alert.delivered_at_ms
        ));
    }
    text
}

/// Acknowledges an alert for the operator and returns the acknowledgement time.
pub fn acknowledge(database: &Path, id: &str) -> Result<i64, CliError> {
    let record_id = Uuid::parse_str(id)
        .map_err(|error| CliError::Other(format!("invalid alert id {id:?}: {error}")))?;
    let now_ms = vigil_core::Clock::now_ms(&vigil_core::SystemClock);
    vigil_server::acknowledge_alert(database, record_id, now_ms).context("acknowledging the alert")
}

/// Verifies an SMS fallback alert against the device keys stored in `database`.
pub fn verify_sms(database: &Path, text: &str) -> Result<vigil_server::VerifiedSms, CliError> {
    let store = ServerStore::open(database).context("opening the server database")?;
    store.verify_sms(text).context("verifying the SMS alert")
}

/// Formats a verified SMS alert on one line, for a terminal.
pub fn verified_sms_text(verified: &vigil_server::VerifiedSms) -> String {
    let alert = &verified.alert;
    let location = match &alert.fix {
        Some(fix) => {
            format!("at {:.5},{:.5} within {} m", fix.latitude(), fix.longitude(), fix.accuracy_m)
        }
        None => "with no fix".to_string(),
    };
    format!(
        "verified: {} alert from device {} (guard {}) captured at {} s {location}",
        alert.kind.code(),
        verified.device_id,
        verified.guard_id,
        alert.captured_at_s
    )
}
