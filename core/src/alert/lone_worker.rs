//! The lone-worker check-in timer: the guard confirms every interval; a warning comes
//! before the deadline, a grace period after it, and then a `MissedCheckIn` alert.
//!
//! Time within a run of the app comes from a [`MonotonicClock`], so a change of the wall
//! clock neither fires nor suppresses the alert. Across a restart the only source left is
//! the wall clock: the time between the last saved state and the reopen is taken from it,
//! and counted as zero if the clock went back, unless both ends carry a boot clock
//! reading of the same boot, which gives the time away without the wall clock.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A clock that only moves forward, in milliseconds from an origin of its own choosing.
pub trait MonotonicClock: Send + Sync {
    /// Returns the milliseconds elapsed since the clock's origin.
    fn elapsed_ms(&self) -> u64;
}

/// The default [`MonotonicClock`]: `std::time::Instant` from when it was created.
#[derive(Debug)]
pub struct InstantClock {
    origin: Instant,
}

impl Default for InstantClock {
    fn default() -> Self {
        Self { origin: Instant::now() }
    }
}

impl MonotonicClock for InstantClock {
    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// The durations of a check-in timer, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoneWorkerPolicy {
    /// Time between two check-ins.
    pub interval_ms: u64,
    /// How long before the deadline the guard is warned.
    pub warning_ms: u64,
    /// Time after the deadline before the alert is raised.
    pub grace_ms: u64,
}

impl LoneWorkerPolicy {
    /// Checks that the interval is positive and the warning falls inside it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the wrong duration.
    pub fn validate(&self) -> Result<()> {
        if self.interval_ms == 0 {
            return Err(Error::invalid("interval_ms", "must be positive"));
        }
        if self.warning_ms >= self.interval_ms {
            return Err(Error::invalid(
                "warning_ms",
                format!("{} must be less than interval_ms {}", self.warning_ms, self.interval_ms),
            ));
        }
        Ok(())
    }
}

/// The stage of a check-in timer. The order of the variants is the order of the stages
/// within one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LoneWorkerStage {
    /// Before the warning.
    Running,
    /// The warning was given; the deadline has not passed.
    Warning,
    /// The deadline passed; the grace period runs.
    Grace,
    /// The grace period ended and the `MissedCheckIn` alert was raised. A check-in
    /// starts a new interval.
    Alerted,
}

/// A check-in timer as the app shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoneWorkerStatus {
    /// The timer's durations.
    pub policy: LoneWorkerPolicy,
    /// The current stage.
    pub stage: LoneWorkerStage,
    /// Milliseconds until the check-in deadline; negative once it has passed.
    pub until_deadline_ms: i64,
}

/// Receives every stage change of the check-in timer, so that the app can warn the
/// guard. Called from Vigil's threads; it must return quickly. A panic in it is caught and
/// logged.
pub trait LoneWorkerListener: Send + Sync {
    /// Called once for each stage the timer enters, and after each check-in.
    fn on_lone_worker(&self, status: LoneWorkerStatus);
}

/// The state saved in the store after every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SavedTimer {
    pub policy: LoneWorkerPolicy,
    pub stage: LoneWorkerStage,
    /// Milliseconds until the deadline when saved.
    pub until_deadline_ms: i64,
    /// The wall clock when saved, in milliseconds since the Unix epoch.
    pub saved_at_wall_ms: i64,
    /// The boot clock when saved, if the platform has one.
    #[serde(default)]
    pub boot: Option<BootMark>,
}

/// A boot clock reading, small enough to save with the timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BootMark {
    /// The FNV-1a hash of the boot id.
    pub boot_hash: u64,
    /// Milliseconds since that boot, counting time asleep.
    pub since_boot_ms: i64,
}

impl BootMark {
    /// Makes a mark from a boot id and the milliseconds since that boot.
    pub fn new(boot_id: &str, since_boot_ms: i64) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in boot_id.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self { boot_hash: hash, since_boot_ms }
    }
}

/// A running timer in memory: the saved state and the monotonic time it refers to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoneWorkerTimer {
    pub saved: SavedTimer,
    /// The monotonic time at which `saved.until_deadline_ms` was true.
    anchor_ms: u64,
}

impl LoneWorkerTimer {
    /// Starts a new interval now.
    pub fn start(policy: LoneWorkerPolicy, monotonic_ms: u64, wall_ms: i64) -> Self {
        let saved = SavedTimer {
            policy,
            stage: LoneWorkerStage::Running,
            until_deadline_ms: to_i64(policy.interval_ms),
            saved_at_wall_ms: wall_ms,
            boot: None,
        };
        Self { saved, anchor_ms: monotonic_ms }
    }

    /// Resumes a saved timer after a restart: the time since it was saved comes from the
    /// wall clock, counted as zero if the clock went back.
    pub fn resume(saved: SavedTimer, monotonic_ms: u64, wall_ms: i64) -> Self {
        Self::resume_with_boot(saved, monotonic_ms, wall_ms, None)
    }

    /// Resumes a saved timer after a restart. When `boot` and the saved mark come from the
    /// same boot, the time away is the boot clock's difference; otherwise the wall clock's,
    /// counted as zero if it went back.
    pub fn resume_with_boot(
        saved: SavedTimer,
        monotonic_ms: u64,
        wall_ms: i64,
        boot: Option<BootMark>,
    ) -> Self {
        let away_ms = match (saved.boot, boot) {
            (Some(then), Some(now)) if then.boot_hash == now.boot_hash => {
                (now.since_boot_ms - then.since_boot_ms).max(0)
            }
            _ => (wall_ms - saved.saved_at_wall_ms).max(0),
        };
        let saved = SavedTimer {
            until_deadline_ms: saved.until_deadline_ms.saturating_sub(away_ms),
            saved_at_wall_ms: wall_ms,
            boot,
            ..saved
        };
        Self { saved, anchor_ms: monotonic_ms }
    }

    /// Returns the milliseconds until the deadline at `monotonic_ms`.
    pub fn until_deadline_ms(&self, monotonic_ms: u64) -> i64 {
        let elapsed = to_i64(monotonic_ms.saturating_sub(self.anchor_ms));
        self.saved.until_deadline_ms.saturating_sub(elapsed)
    }

    /// Returns the stage the timer should be in at `monotonic_ms`. It never goes back,
    /// and only reaches `Alerted` once the grace period has ended.
    pub fn due_stage(&self, monotonic_ms: u64) -> LoneWorkerStage {
        let until = self.until_deadline_ms(monotonic_ms);
        let policy = self.saved.policy;
        let stage = if until <= -to_i64(policy.grace_ms) {
            LoneWorkerStage::Alerted
        } else if until <= 0 {
            LoneWorkerStage::Grace
        } else if until <= to_i64(policy.warning_ms) {
            LoneWorkerStage::Warning
        } else {
            LoneWorkerStage::Running
        };
        stage.max(self.saved.stage)
    }

    /// Moves to `stage` at `monotonic_ms`, re-anchoring the saved state.
    pub fn advance(&mut self, stage: LoneWorkerStage, monotonic_ms: u64, wall_ms: i64) {
        self.saved.until_deadline_ms = self.until_deadline_ms(monotonic_ms);
        self.saved.saved_at_wall_ms = wall_ms;
        self.saved.stage = stage;
        self.anchor_ms = monotonic_ms;
    }

    /// Returns the milliseconds from `monotonic_ms` until the next stage change, or `None`
    /// once the alert was raised.
    pub fn next_change_in_ms(&self, monotonic_ms: u64) -> Option<u64> {
        let until = self.until_deadline_ms(monotonic_ms);
        let policy = self.saved.policy;
        let target = match self.saved.stage {
            LoneWorkerStage::Running => to_i64(policy.warning_ms),
            LoneWorkerStage::Warning => 0,
            LoneWorkerStage::Grace => -to_i64(policy.grace_ms),
            LoneWorkerStage::Alerted => return None,
        };
        Some(u64::try_from(until - target).unwrap_or(0))
    }

    /// Returns the status at `monotonic_ms`.
    pub fn status(&self, monotonic_ms: u64) -> LoneWorkerStatus {
        LoneWorkerStatus {
            policy: self.saved.policy,
            stage: self.saved.stage,
            until_deadline_ms: self.until_deadline_ms(monotonic_ms),
        }
    }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LoneWorkerPolicy =
        LoneWorkerPolicy { interval_ms: 60_000, warning_ms: 10_000, grace_ms: 5_000 };

    #[test]
    fn stages_follow_the_deadline() {
        let timer = LoneWorkerTimer::start(POLICY, 1_000, 0);

        assert_eq!(timer.due_stage(1_000), LoneWorkerStage::Running);
        assert_eq!(timer.due_stage(50_999), LoneWorkerStage::Running);
        assert_eq!(timer.due_stage(51_000), LoneWorkerStage::Warning);
        assert_eq!(timer.due_stage(61_000), LoneWorkerStage::Grace);
        assert_eq!(timer.due_stage(65_999), LoneWorkerStage::Grace);
        assert_eq!(timer.due_stage(66_000), LoneWorkerStage::Alerted);
    }

    #[test]
    fn next_change_matches_stage_boundaries() {
        let mut timer = LoneWorkerTimer::start(POLICY, 0, 0);

        assert_eq!(timer.next_change_in_ms(0), Some(50_000));
        timer.advance(LoneWorkerStage::Warning, 50_000, 50_000);
        assert_eq!(timer.next_change_in_ms(50_000), Some(10_000));
        timer.advance(LoneWorkerStage::Grace, 60_000, 60_000);
        assert_eq!(timer.next_change_in_ms(62_000), Some(3_000));
        timer.advance(LoneWorkerStage::Alerted, 65_000, 65_000);
        assert_eq!(timer.next_change_in_ms(70_000), None);
    }

    #[test]
    fn stage_never_goes_back() {
        let mut timer = LoneWorkerTimer::start(POLICY, 0, 0);
        timer.advance(LoneWorkerStage::Grace, 60_000, 0);

        assert_eq!(timer.due_stage(60_000), LoneWorkerStage::Grace);
    }

    #[test]
    fn resume_counts_wall_time_away() {
        let mut timer = LoneWorkerTimer::start(POLICY, 0, 1_000_000);
        timer.advance(LoneWorkerStage::Running, 20_000, 1_020_000);

        // Reopened 30 s of wall time later, in a process whose monotonic clock restarted.
        let resumed = LoneWorkerTimer::resume(timer.saved, 7, 1_050_000);
        assert_eq!(resumed.until_deadline_ms(7), 10_000);
        assert_eq!(resumed.due_stage(7), LoneWorkerStage::Warning);
    }

    #[test]
    fn resume_same_boot_ignores_wall_clock() {
        let mut timer = LoneWorkerTimer::start(POLICY, 0, 1_000_000);
        timer.saved.boot = Some(BootMark::new("boot-a", 500_000));

        // The wall clock jumped a day ahead while the app was gone 20 s by the boot clock.
        let now = Some(BootMark::new("boot-a", 520_000));
        let resumed = LoneWorkerTimer::resume_with_boot(timer.saved, 0, 87_400_000, now);
        assert_eq!(resumed.until_deadline_ms(0), 40_000);

        // After a reboot the boot clock says nothing, so the wall clock is used.
        let rebooted = Some(BootMark::new("boot-b", 1_000));
        let resumed = LoneWorkerTimer::resume_with_boot(timer.saved, 0, 1_030_000, rebooted);
        assert_eq!(resumed.until_deadline_ms(0), 30_000);
    }

    #[test]
    fn resume_ignores_clock_set_back() {
        let timer = LoneWorkerTimer::start(POLICY, 0, 1_000_000);

        let resumed = LoneWorkerTimer::resume(timer.saved, 0, 400_000);
        assert_eq!(resumed.until_deadline_ms(0), 60_000);
    }

    #[test]
    fn policy_rejects_warning_past_interval() {
        let bad = LoneWorkerPolicy { interval_ms: 10_000, warning_ms: 10_000, grace_ms: 0 };
        assert!(bad.validate().is_err());
        let zero = LoneWorkerPolicy { interval_ms: 0, warning_ms: 0, grace_ms: 0 };
        assert!(zero.validate().is_err());
        POLICY.validate().unwrap();
    }
}
