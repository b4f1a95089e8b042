//! Panic alerts as the guard sees them: their delivery states and the listener notified
//! of every change.
//!
//! An alert is a panic record plus a row of state. The state only moves forward:
//! stored, sent, delivered (the SOC stored it), acknowledged (an operator took it). A
//! cancelled alert stops there. [`crate::Vigil::start_alert_lane`] starts the task that
//! sends alerts; [`crate::Vigil::alert_status`] reads the state.

pub mod lone_worker;
pub(crate) mod pin;
pub mod sms;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::AlertKind;

/// The stage of an alert on its way to the SOC. The order of the variants is the order of the
/// states: a state never moves back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    /// Durable on the device; no send has started yet.
    Stored,
    /// At least one send started; the SOC has not confirmed it yet.
    Sent,
    /// The SOC stored the alert.
    Delivered,
    /// An operator at the SOC took the alert.
    Acknowledged,
    /// The guard cancelled the alert.
    Cancelled,
}

impl AlertState {
    /// Returns the stable name of the state.
    pub fn code(self) -> &'static str {
        match self {
            AlertState::Stored => "stored",
            AlertState::Sent => "sent",
            AlertState::Delivered => "delivered",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Cancelled => "cancelled",
        }
    }

    /// Returns whether the alert lane still sends this alert.
    pub fn is_active(self) -> bool {
        matches!(self, AlertState::Stored | AlertState::Sent | AlertState::Delivered)
    }

    pub(crate) fn to_sql(self) -> i64 {
        match self {
            AlertState::Stored => 0,
            AlertState::Sent => 1,
            AlertState::Delivered => 2,
            AlertState::Acknowledged => 3,
            AlertState::Cancelled => 4,
        }
    }

    pub(crate) fn from_sql(value: i64) -> Result<Self> {
        match value {
            0 => Ok(AlertState::Stored),
            1 => Ok(AlertState::Sent),
            2 => Ok(AlertState::Delivered),
            3 => Ok(AlertState::Acknowledged),
            4 => Ok(AlertState::Cancelled),
            other => Err(Error::Corrupt(format!("unknown alert state {other}"))),
        }
    }
}

/// One alert and its current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertStatus {
    /// The id of the alert's record.
    pub record_id: Uuid,
    /// The trigger of the alert.
    pub kind: AlertKind,
    /// The current state.
    pub state: AlertState,
    /// When the state last changed, by the device's clock, in milliseconds since the Unix
    /// epoch.
    pub updated_at_ms: i64,
    /// When the SOC stored the alert, by the server's clock; `None` before delivery.
    pub delivered_at_ms: Option<i64>,
    /// When an operator took the alert, by the server's clock; `None` before that.
    pub acknowledged_at_ms: Option<i64>,
}

/// Receives every change of an alert's state, so that the app can show it.
///
/// Vigil calls it from its own runtime threads, after the change is durable. A listener
/// must return quickly and must not call back into Vigil's blocking methods. A panic in a
/// listener is caught and logged; it does not stop the alert lane.
pub trait AlertListener: Send + Sync {
    /// Called once for each state an alert enters.
    fn on_alert_state(&self, status: AlertStatus);
}

/// The shell's location service, as far as alerts need it.
///
/// While an alert is active, Vigil asks for high-accuracy fixes, so that the SOC gets
/// location updates that place the guard precisely; when no alert is active any more, it
/// asks the shell to return to its normal mode. Vigil calls it from its own runtime
/// threads, only when the wanted mode changes.
pub trait LocationRequester: Send + Sync {
    /// Called with `true` when the first alert becomes active, and with `false` when the
    /// last active alert is acknowledged or cancelled.
    fn set_high_accuracy(&self, enabled: bool);
}

/// The shell's SMS and phone service, for the fallback when an alert cannot be delivered
/// over data.
///
/// Vigil calls it from a blocking thread of its runtime, at most once per alert in a run
/// of the app (once per alert across restarts unless the app is killed during the call).
/// The shell must send duress messages without any trace the person holding the phone
/// could see.
pub trait SmsSender: Send + Sync {
    /// Sends `text`, at most 160 GSM-7 characters, as one SMS to `number`.
    fn send_sms(&self, number: String, text: String);

    /// Places a voice call to `number`. Vigil never calls it for a duress alert.
    fn place_call(&self, number: String);
}
