//! No-motion (man-down) detection: the shell reports motion, and after a configured time
//! without any, Vigil warns the guard and then raises a `ManDown` alert.
//!
//! NOTE: the detector's state is kept in memory only, so a restart starts the stillness
//! period again from the reopen.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use super::Vigil;
use crate::error::{Error, Result};
use crate::model::AlertKind;

/// Acceleration magnitude away from standard gravity (9.80665 m/s²) that counts as
/// motion, in m/s². It is an estimate for a phone worn on the body.
pub const MOTION_THRESHOLD_MPS2: f64 = 1.0;

const STANDARD_GRAVITY_MPS2: f64 = 9.80665;

/// The durations of the no-motion detector, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManDownPolicy {
    /// Time without motion before the guard is warned.
    pub still_after_ms: u64,
    /// Time from the warning to the `ManDown` alert, unless the guard moves.
    pub warning_ms: u64,
}

/// The stage of the no-motion detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ManDownStage {
    /// Motion was seen recently.
    Moving,
    /// No motion for `still_after_ms`: the guard is warned.
    Warning,
    /// No motion through the warning: the `ManDown` alert was raised. Motion starts a new
    /// period.
    Alerted,
}

/// Receives every stage change of the no-motion detector. Called from Vigil's threads; it
/// must return quickly. A panic in it is caught and logged.
pub trait ManDownListener: Send + Sync {
    /// Called once for each stage the detector enters.
    fn on_man_down(&self, stage: ManDownStage);
}

/// The detector's state in the alert lane.
#[derive(Default)]
pub(super) struct ManDownSlot {
    policy: Option<ManDownPolicy>,
    stage: Option<ManDownStage>,
    /// The monotonic time of the last motion.
    last_motion_ms: u64,
    listener: Option<Arc<dyn ManDownListener>>,
}

impl ManDownSlot {
    /// Moves the time of the last motion to a new monotonic clock, keeping the time since.
    pub(super) fn rebase(&mut self, old_now_ms: u64, new_now_ms: u64) {
        let still_ms = old_now_ms.saturating_sub(self.last_motion_ms);
        self.last_motion_ms = new_now_ms.saturating_sub(still_ms);
    }
}

impl Vigil {
    /// Starts the no-motion detector with `policy`, counting from now.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a zero `still_after_ms`.
    pub fn start_man_down(&self, policy: ManDownPolicy) -> Result<()> {
        if policy.still_after_ms == 0 {
            return Err(Error::invalid("still_after_ms", "must be positive"));
        }
        let now = self.monotonic_ms();
        {
            let mut slot = self.man_down_slot();
            slot.policy = Some(policy);
            slot.stage = Some(ManDownStage::Moving);
            slot.last_motion_ms = now;
        }
        self.inner.alerts_wake();
        Ok(())
    }

    /// Stops the no-motion detector.
    pub fn stop_man_down(&self) {
        let mut slot = self.man_down_slot();
        slot.policy = None;
        slot.stage = None;
    }

    /// Reports the shell's motion signal: `true` for motion, which restarts the stillness
    /// period and ends a warning; `false` ("still") changes nothing, because stillness is
    /// counted from the last motion.
    pub fn record_motion(&self, moving: bool) {
        if !moving {
            return;
        }
        let now = self.monotonic_ms();
        let changed = {
            let mut slot = self.man_down_slot();
            slot.last_motion_ms = now;
            match slot.stage {
                Some(stage) if stage != ManDownStage::Moving => {
                    slot.stage = Some(ManDownStage::Moving);
                    true
                }
                _ => false,
            }
        };
        if changed {
            self.publish_man_down(ManDownStage::Moving);
        }
        self.inner.alerts_wake();
    }

    /// Reports one accelerometer sample in m/s²; a magnitude more than
    /// [`MOTION_THRESHOLD_MPS2`] away from standard gravity counts as motion.
    pub fn record_acceleration(&self, x: f64, y: f64, z: f64) {
        let magnitude = (x * x + y * y + z * z).sqrt();
        if magnitude.is_finite()
            && (magnitude - STANDARD_GRAVITY_MPS2).abs() > MOTION_THRESHOLD_MPS2
        {
            self.record_motion(true);
        }
    }

    /// Sets the listener notified of every stage change; `None` removes it.
    pub fn set_man_down_listener(&self, listener: Option<Arc<dyn ManDownListener>>) {
        self.man_down_slot().listener = listener;
    }

    /// Returns the detector's stage, or `None` when it is stopped.
    pub fn man_down_stage(&self) -> Option<ManDownStage> {
        self.man_down_slot().stage
    }

    /// Moves the detector to the stage that is due, raising the `ManDown` alert when the
    /// warning ends. Returns the milliseconds until the next change, or `None`.
    pub(super) fn tick_man_down(&self) -> Result<Option<u64>> {
        let now = self.monotonic_ms();
        let (entered, next) = {
            let mut slot = self.man_down_slot();
            let (Some(policy), Some(stage)) = (slot.policy, slot.stage) else {
                return Ok(None);
            };
            let still_ms = now.saturating_sub(slot.last_motion_ms);
            let alert_after_ms = policy.still_after_ms.saturating_add(policy.warning_ms);
            let due = if still_ms >= alert_after_ms {
                ManDownStage::Alerted
            } else if still_ms >= policy.still_after_ms {
                ManDownStage::Warning
            } else {
                ManDownStage::Moving
            };
            let due = due.max(stage);

            let mut entered = Vec::new();
            if stage < ManDownStage::Warning && due >= ManDownStage::Warning {
                entered.push(ManDownStage::Warning);
            }
            if stage < ManDownStage::Alerted && due == ManDownStage::Alerted {
                self.raise_alert(AlertKind::ManDown)?;
                entered.push(ManDownStage::Alerted);
            }
            slot.stage = Some(due);
            let next = match due {
                ManDownStage::Moving => Some(policy.still_after_ms - still_ms),
                ManDownStage::Warning => Some(alert_after_ms - still_ms),
                ManDownStage::Alerted => None,
            };
            (entered, next)
        };
        for stage in entered {
            if stage == ManDownStage::Alerted {
                tracing::warn!("no motion through the warning; man-down alert raised");
            }
            self.publish_man_down(stage);
        }
        Ok(next)
    }

    pub(super) fn man_down_slot(&self) -> std::sync::MutexGuard<'_, ManDownSlot> {
        self.inner.alerts.man_down.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn publish_man_down(&self, stage: ManDownStage) {
        let Some(listener) = self.man_down_slot().listener.clone() else {
            return;
        };
        let call = std::panic::catch_unwind(AssertUnwindSafe(|| listener.on_man_down(stage)));
        if call.is_err() {
            tracing::error!("the man-down listener panicked; the detector goes on");
        }
    }
}
