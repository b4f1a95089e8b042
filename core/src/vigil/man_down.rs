//! No-motion (man-down) detection: the shell reports motion, and after a configured time
//! without any, Vigil warns the guard and then raises a `ManDown` alert.
//!
//! The detector's policy, stage and last motion are stored, so a restart keeps the
//! stillness period that had begun. The time away is measured as in
//! [`super::saved_time`].

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Vigil;
use super::saved_time::SavedMoment;
use crate::error::{Error, Result};
use crate::model::AlertKind;

/// The setting that stores the running detector, as JSON.
const MAN_DOWN: &str = "man_down_detector";

/// The maximum time, in monotonic milliseconds, by which the stored last motion may lag
/// the real one. Motion is reported many times a second, so only some reports are written to
/// disk. After a restart the stillness period may count from up to this much earlier,
/// which makes the alert come early rather than late.
const MOTION_SAVE_INTERVAL_MS: i64 = 5_000;

/// Acceleration magnitude away from standard gravity (9.80665 m/s²) that counts as
/// motion, in m/s². It is an estimate for a phone worn on the body.
pub const MOTION_THRESHOLD_MPS2: f64 = 1.0;

const STANDARD_GRAVITY_MPS2: f64 = 9.80665;

/// The durations of the no-motion detector, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManDownPolicy {
    /// Time without motion before the guard is warned.
    pub still_after_ms: u64,
    /// Time from the warning to the `ManDown` alert, unless the guard moves.
    pub warning_ms: u64,
}

/// The stage of the no-motion detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// The monotonic time of the last motion; negative when it came before this run's
    /// clock origin.
    last_motion_ms: i64,
    /// The monotonic time of the last motion written to disk.
    saved_motion_ms: i64,
    /// Whether the stored detector was read in this run.
    loaded: bool,
    listener: Option<Arc<dyn ManDownListener>>,
}

impl ManDownSlot {
    /// Moves the times of the last motion to a new monotonic clock, keeping the time since.
    pub(super) fn rebase(&mut self, old_now_ms: u64, new_now_ms: u64) {
        let shift = to_i64(new_now_ms) - to_i64(old_now_ms);
        self.last_motion_ms += shift;
        self.saved_motion_ms += shift;
    }
}

/// The detector as stored.
#[derive(Debug, Serialize, Deserialize)]
struct SavedManDown {
    policy: ManDownPolicy,
    stage: ManDownStage,
    last_motion: SavedMoment,
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
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
        let now = to_i64(self.monotonic_ms());
        {
            let mut slot = self.man_down_slot();
            slot.policy = Some(policy);
            slot.stage = Some(ManDownStage::Moving);
            slot.last_motion_ms = now;
            slot.loaded = true;
            self.save_man_down(&mut slot, now)?;
        }
        self.inner.alerts_wake();
        Ok(())
    }

    /// Stops the no-motion detector, also for later runs.
    ///
    /// # Errors
    ///
    /// Storage errors; then the detector still runs.
    pub fn stop_man_down(&self) -> Result<()> {
        let mut slot = self.man_down_slot();
        self.store().delete_setting(MAN_DOWN)?;
        slot.policy = None;
        slot.stage = None;
        slot.loaded = true;
        Ok(())
    }

    /// Reports the shell's motion signal: `true` for motion, which restarts the stillness
    /// period and ends a warning; `false` ("still") changes nothing, because stillness is
    /// counted from the last motion.
    pub fn record_motion(&self, moving: bool) {
        if !moving {
            return;
        }
        let now = to_i64(self.monotonic_ms());
        let changed = {
            let mut slot = self.man_down_slot();
            self.load_or_log(&mut slot, now);
            slot.last_motion_ms = now;
            let changed = match slot.stage {
                Some(stage) if stage != ManDownStage::Moving => {
                    slot.stage = Some(ManDownStage::Moving);
                    true
                }
                _ => false,
            };
            if slot.policy.is_some()
                && (changed || now - slot.saved_motion_ms >= MOTION_SAVE_INTERVAL_MS)
                && let Err(error) = self.save_man_down(&mut slot, now)
            {
                tracing::error!(%error, "failed to store the last motion of the man-down detector");
            }
            changed
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
        let now = to_i64(self.monotonic_ms());
        let mut slot = self.man_down_slot();
        self.load_or_log(&mut slot, now);
        slot.stage
    }

    /// Moves the detector to the stage that is due, raising the `ManDown` alert when the
    /// warning ends. Returns the milliseconds until the next change, or `None`.
    pub(super) fn tick_man_down(&self) -> Result<Option<u64>> {
        let now = to_i64(self.monotonic_ms());
        let (entered, next) = {
            let mut slot = self.man_down_slot();
            self.load_man_down(&mut slot, now)?;
            let (Some(policy), Some(stage)) = (slot.policy, slot.stage) else {
                return Ok(None);
            };
            let still_ms = u64::try_from(now - slot.last_motion_ms).unwrap_or(0);
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
            if due != stage {
                self.save_man_down(&mut slot, now)?;
            }
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

    /// Reads the stored detector once per run. `now` is the monotonic time, read before
    /// the slot was locked.
    fn load_man_down(&self, slot: &mut ManDownSlot, now: i64) -> Result<()> {
        if slot.loaded {
            return Ok(());
        }
        if let Some(text) = self.store().setting(MAN_DOWN)? {
            let saved: SavedManDown = serde_json::from_str(&text)
                .map_err(|error| Error::Corrupt(format!("saved man-down detector: {error}")))?;
            let still_ms = to_i64(self.elapsed_since(&saved.last_motion));
            slot.policy = Some(saved.policy);
            slot.stage = Some(saved.stage);
            slot.last_motion_ms = now - still_ms;
            slot.saved_motion_ms = slot.last_motion_ms;
            tracing::info!(still_ms, "man-down detector resumed");
        }
        slot.loaded = true;
        Ok(())
    }

    fn load_or_log(&self, slot: &mut ManDownSlot, now: i64) {
        if let Err(error) = self.load_man_down(slot, now) {
            tracing::error!(%error, "failed to read the stored man-down detector");
        }
    }

    /// Stores the running detector. `now` is the monotonic time, read before the slot was
    /// locked.
    fn save_man_down(&self, slot: &mut ManDownSlot, now: i64) -> Result<()> {
        let (Some(policy), Some(stage)) = (slot.policy, slot.stage) else {
            return Ok(());
        };
        let last_motion_ms = slot.last_motion_ms;
        let still_ms = now - last_motion_ms;
        let mut last_motion = self.moment_now();
        last_motion.wall_ms -= still_ms;
        if let Some(boot) = &mut last_motion.boot {
            boot.since_boot_ms -= still_ms;
        }
        let saved = SavedManDown { policy, stage, last_motion };
        let text = serde_json::to_string(&saved).map_err(|error| {
            Error::InvalidState(format!("failed to encode the man-down detector: {error}"))
        })?;
        self.store().set_setting(MAN_DOWN, &text)?;
        slot.saved_motion_ms = last_motion_ms;
        Ok(())
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
