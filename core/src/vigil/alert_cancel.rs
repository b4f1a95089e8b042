//! Cancelling an alert with the guard's PIN, and the duress PIN.

use uuid::Uuid;

use super::Vigil;
use crate::alert::pin::{PinHashes, PinMatch};
use crate::alert::{AlertState, AlertStatus};
use crate::error::{Error, Result};
use crate::model::{AlertKind, RecordBody};

/// The settings key of the PIN hashes.
const ALERT_PINS: &str = "alert_pins";

impl Vigil {
    /// Sets the guard's cancel PIN and duress PIN, replacing earlier ones. Only salted
    /// PBKDF2 hashes are stored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a PIN that is not 4 to 8 digits, or two equal PINs;
    /// storage errors.
    pub fn set_alert_pins(&self, cancel_pin: &str, duress_pin: &str) -> Result<()> {
        let hashes = PinHashes::new(cancel_pin, duress_pin)?;
        let stored = serde_json::to_string(&hashes)
            .map_err(|error| Error::InvalidState(format!("failed to encode the PINs: {error}")))?;
        self.store().set_setting(ALERT_PINS, &stored)?;
        tracing::info!("alert PINs set");
        Ok(())
    }

    /// Cancels an alert with the guard's PIN and returns its new status.
    ///
    /// With the cancel PIN, the alert becomes [`AlertState::Cancelled`] and a cancel event
    /// record goes to the SOC on the alert lane: the alert is never deleted there. With the
    /// duress PIN, the result and the listener's calls are exactly those of a cancel, but
    /// the original alert is not cancelled at the SOC and a silent
    /// [`AlertKind::Duress`] alert is raised, whose states the listener never receives.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a wrong PIN (the alert stays active);
    /// [`Error::InvalidState`] if no PIN is set or the alert is cancelled already;
    /// [`Error::NotFound`] for an unknown alert; storage errors.
    pub fn cancel_alert(&self, record_id: Uuid, pin: &str) -> Result<AlertStatus> {
        let Some(stored) = self.store().setting(ALERT_PINS)? else {
            return Err(Error::InvalidState(
                "no alert PIN is set; set one with set_alert_pins first".into(),
            ));
        };
        let hashes: PinHashes = serde_json::from_str(&stored)?;
        let alert = self.store().alert(record_id)?;
        if alert.state == AlertState::Cancelled {
            return Err(Error::InvalidState(format!("alert {record_id} is cancelled already")));
        }

        // NOTE: wrong PINs are not counted, so nothing stops someone holding the phone from
        // trying every PIN, and the SOC gets no sign of the attempts.
        let matched = hashes.check(pin);
        if matched == PinMatch::Wrong {
            return Err(Error::invalid("pin", "does not match"));
        }
        if matched == PinMatch::Duress {
            self.raise_alert(AlertKind::Duress)?;
        }

        let in_order = self.inner.alerts.lock_publish_order();
        let cancelled = match matched {
            PinMatch::Duress => self.cancel_under_duress(record_id)?,
            _ => self.cancel_with_event(record_id)?,
        };
        let status = cancelled.clone().unwrap_or(alert);
        if let Some(changed) = cancelled {
            self.publish_alert(changed);
        }
        drop(in_order);

        self.inner.alerts_wake();
        Ok(status)
    }

    fn cancel_with_event(&self, record_id: Uuid) -> Result<Option<AlertStatus>> {
        let shift_id = self.active_shift_id().ok().flatten();
        let body = RecordBody::AlertCancel { alert_id: record_id };
        let event = self.new_record(shift_id, self.current_location(), body);
        let status = self.store().cancel_alert(record_id, Some(event), self.now_ms())?;
        tracing::info!(record = %record_id, "alert cancelled with the cancel PIN");
        Ok(status)
    }

    /// Cancels the alert on the phone only. The caller raises the duress alert first, so
    /// that a crash in between leaves both alerts active rather than none.
    fn cancel_under_duress(&self, record_id: Uuid) -> Result<Option<AlertStatus>> {
        let status = self.store().cancel_alert(record_id, None, self.now_ms())?;
        // The log line must read like a cancel: logs can be read on the phone.
        tracing::info!(record = %record_id, "alert cancelled with the cancel PIN");
        Ok(status)
    }
}
