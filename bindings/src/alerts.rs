//! Panic alerts across the FFI: kinds, states and the app's listener.

use std::sync::Arc;

use vigil_core::alert as core_alert;
use vigil_core::model;

/// What raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AlertKind {
    /// The guard pressed the panic button.
    Panic,
    /// The guard entered the duress PIN; the SOC must respond without alerting the
    /// person holding the phone.
    Duress,
    /// The phone detected no motion for longer than the configured period.
    ManDown,
    /// A lone worker missed a check-in and its grace period.
    MissedCheckIn,
}

/// The stage of an alert on its way to the SOC. A state never moves back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
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

/// One alert and its current state.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AlertStatus {
    /// The id of the alert's record.
    pub record_id: String,
    /// The trigger of the alert.
    pub kind: AlertKind,
    /// The current state.
    pub state: AlertState,
    /// When the state last changed, by the phone's clock, in milliseconds since the Unix
    /// epoch.
    pub updated_at_ms: i64,
    /// When the SOC stored the alert, by the server's clock; `null` before delivery.
    pub delivered_at_ms: Option<i64>,
    /// When an operator took the alert, by the server's clock; `null` before that.
    pub acknowledged_at_ms: Option<i64>,
}

/// Receives every change of an alert's state, so that the app can show it.
///
/// Vigil calls it on its own threads after the change is durable: switch to the UI thread
/// before touching views, and return quickly.
#[uniffi::export(with_foreign)]
pub trait AlertListener: Send + Sync {
    /// Called once for each state an alert enters.
    fn on_alert_state(&self, status: AlertStatus);
}

/// The platform's location service, as far as alerts need it.
///
/// While an alert is active, Vigil asks for high-accuracy fixes (on Android, for example,
/// `Priority.PRIORITY_HIGH_ACCURACY` with a short interval), and the app keeps passing them
/// to `record_fixes`; Vigil sends the newest one to the SOC at each resend. Vigil calls it
/// on its own threads, only when the wanted mode changes.
#[uniffi::export(with_foreign)]
pub trait LocationRequester: Send + Sync {
    /// Called with `true` when the first alert becomes active, and with `false` when the
    /// last active alert is acknowledged or cancelled.
    fn set_high_accuracy(&self, enabled: bool);
}

/// The platform's SMS and phone service, for the fallback when an alert is not delivered
/// over data within `sms_fallback_after_ms`.
///
/// Vigil calls it on its own threads, at most once per alert in a run of the app (once
/// per alert across restarts unless the app is killed during the call). Send duress
/// messages without any trace the person holding the phone could see.
#[uniffi::export(with_foreign)]
pub trait SmsSender: Send + Sync {
    /// Sends `text`, at most 160 GSM-7 characters, as one SMS to `number`.
    fn send_sms(&self, number: String, text: String);

    /// Places a voice call to `number`. Vigil never calls it for a duress alert.
    fn place_call(&self, number: String);
}

/// Forwards the core's SMS requests to the app's SMS service.
pub(crate) struct ForeignSms(pub(crate) Arc<dyn SmsSender>);

impl core_alert::SmsSender for ForeignSms {
    fn send_sms(&self, number: String, text: String) {
        self.0.send_sms(number, text);
    }

    fn place_call(&self, number: String) {
        self.0.place_call(number);
    }
}

/// Forwards the core's location requests to the app's location service.
pub(crate) struct ForeignLocation(pub(crate) Arc<dyn LocationRequester>);

impl core_alert::LocationRequester for ForeignLocation {
    fn set_high_accuracy(&self, enabled: bool) {
        self.0.set_high_accuracy(enabled);
    }
}

/// Forwards the core's callbacks to the app's listener.
pub(crate) struct ForeignListener(pub(crate) Arc<dyn AlertListener>);

impl core_alert::AlertListener for ForeignListener {
    fn on_alert_state(&self, status: core_alert::AlertStatus) {
        self.0.on_alert_state(status.into());
    }
}

impl From<AlertKind> for model::AlertKind {
    fn from(kind: AlertKind) -> Self {
        match kind {
            AlertKind::Panic => model::AlertKind::Panic,
            AlertKind::Duress => model::AlertKind::Duress,
            AlertKind::ManDown => model::AlertKind::ManDown,
            AlertKind::MissedCheckIn => model::AlertKind::MissedCheckIn,
        }
    }
}

impl From<model::AlertKind> for AlertKind {
    fn from(kind: model::AlertKind) -> Self {
        match kind {
            model::AlertKind::Panic => AlertKind::Panic,
            model::AlertKind::Duress => AlertKind::Duress,
            model::AlertKind::ManDown => AlertKind::ManDown,
            model::AlertKind::MissedCheckIn => AlertKind::MissedCheckIn,
        }
    }
}

impl From<core_alert::AlertState> for AlertState {
    fn from(state: core_alert::AlertState) -> Self {
        match state {
            core_alert::AlertState::Stored => AlertState::Stored,
            core_alert::AlertState::Sent => AlertState::Sent,
            core_alert::AlertState::Delivered => AlertState::Delivered,
            core_alert::AlertState::Acknowledged => AlertState::Acknowledged,
            core_alert::AlertState::Cancelled => AlertState::Cancelled,
        }
    }
}

impl From<core_alert::AlertStatus> for AlertStatus {
    fn from(status: core_alert::AlertStatus) -> Self {
        Self {
            record_id: status.record_id.to_string(),
            kind: status.kind.into(),
            state: status.state.into(),
            updated_at_ms: status.updated_at_ms,
            delivered_at_ms: status.delivered_at_ms,
            acknowledged_at_ms: status.acknowledged_at_ms,
        }
    }
}
