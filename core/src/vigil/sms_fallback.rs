//! The SMS fallback of the alert lane: an alert the SOC has not stored within the
//! configured time is also sent by SMS through the shell.
//!
//! The delay counts from when the alert was raised, which the alert record's wall time and
//! boot clock reading give, so a restart keeps the original deadline. See
//! [`super::saved_time`] for how the time away is measured.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::Vigil;
use super::saved_time::SavedMoment;
use crate::alert::sms::compose_sms;
use crate::alert::{AlertState, AlertStatus, SmsSender};
use crate::error::Result;
use crate::model::{AlertKind, Record, RecordBody};

/// The setting prefix that marks an alert whose SMS was requested, followed by its id.
const SMS_REQUESTED: &str = "alert_sms_requested.";

/// What the lane remembers of the fallback between two rounds.
#[derive(Default)]
pub(super) struct SmsFallback {
    /// When each undelivered alert's SMS falls due, fixed when the lane first reads the alert.
    due: HashMap<Uuid, Instant>,
    /// Alerts whose SMS was requested, in this run or a previous one.
    requested: HashSet<Uuid>,
}

impl SmsFallback {
    /// Requests the SMS of every undelivered alert whose delay has passed, and returns
    /// when the next one falls due, if any.
    pub(super) async fn poll(
        &mut self,
        vigil: &Vigil,
        active: &[(Record, AlertStatus)],
        now: Instant,
    ) -> Option<Instant> {
        let config = vigil.config();
        let number = config.sms_fallback_number.clone()?;
        let delay = Duration::from_millis(config.sms_fallback_after_ms);
        let place_call = config.sms_fallback_call;
        self.due.retain(|id, _| active.iter().any(|(record, _)| record.id == *id));

        let mut next_due = None;
        for (record, status) in active {
            if !matches!(status.state, AlertState::Stored | AlertState::Sent) {
                continue;
            }
            let id = record.id;
            let due = *self.due.entry(id).or_insert_with(|| {
                let raised = SavedMoment::of_record(record.captured_at_ms, record.clock.as_ref());
                // Both clock readings are whole milliseconds. Their difference can
                // overstate the time since the raise by up to 1 ms, so count 1 ms less:
                // the SMS is then never asked for before its delay.
                let since_raise =
                    Duration::from_millis(vigil.elapsed_since(&raised).saturating_sub(1));
                now + delay.saturating_sub(since_raise)
            });
            if self.requested.contains(&id) {
                continue;
            }
            if due > now {
                next_due = Some(next_due.map_or(due, |next: Instant| next.min(due)));
                continue;
            }

            let record = record.clone();
            let number = number.clone();
            let request =
                vigil.blocking(move |vigil| request_sms(vigil, &record, number, place_call)).await;
            match request {
                Ok(true) => {
                    self.requested.insert(id);
                }
                // No sender yet: `set_sms_sender` wakes the lane, which tries again.
                Ok(false) => {}
                Err(error) => {
                    tracing::error!(record = %id, %error, "failed to request the SMS fallback");
                }
            }
        }
        next_due
    }
}

/// Sends the SMS of one alert through the shell unless an earlier run did, and records it.
/// Returns `false` when the shell has set no sender.
fn request_sms(vigil: &Vigil, record: &Record, number: String, place_call: bool) -> Result<bool> {
    let key = format!("{SMS_REQUESTED}{}", record.id);
    if vigil.store().setting(&key)?.is_some() {
        return Ok(true);
    }
    let Some(sender) = vigil.sms_sender() else {
        return Ok(false);
    };

    let kind = alert_kind(record);
    let text = compose_sms(
        &vigil.inner.signing_key,
        &vigil.config().device_id,
        kind,
        record.captured_at_ms,
        record.location.fix(),
    );
    let call = std::panic::catch_unwind(AssertUnwindSafe(|| {
        sender.send_sms(number.clone(), text);
        if place_call && kind != AlertKind::Duress {
            sender.place_call(number);
        }
    }));
    if call.is_err() {
        tracing::error!(record = %record.id, "the SMS sender panicked; the alert lane goes on");
    }

    // Marked after the call, so that an app killed during it sends again after restart.
    vigil.store().set_setting(&key, &vigil.now_ms().to_string())?;
    if kind != AlertKind::Duress {
        tracing::warn!(record = %record.id, "alert not delivered in time; SMS fallback requested");
    }
    Ok(true)
}

/// Returns the alert kind of a panic record.
fn alert_kind(record: &Record) -> AlertKind {
    match &record.body {
        RecordBody::Panic { alert } => *alert,
        // The lane reads only panic records, so this arm is not reached.
        _ => AlertKind::Panic,
    }
}

impl Vigil {
    /// Sets the shell's SMS and phone service, used when an alert is not delivered within
    /// `sms_fallback_after_ms`; `None` removes it.
    pub fn set_sms_sender(&self, sender: Option<Arc<dyn SmsSender>>) {
        *self.inner.alerts.sms_sender.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            sender;
        self.inner.alerts_wake();
    }

    fn sms_sender(&self) -> Option<Arc<dyn SmsSender>> {
        self.inner.alerts.sms_sender.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}
