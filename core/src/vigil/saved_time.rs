//! Moments saved to disk, and the time elapsed since one of them after a restart.
//!
//! Within a run the timers count with a monotonic clock. A saved moment carries the wall
//! clock and, where the platform has one, the boot clock. The time since a saved moment is
//! the boot clock's difference when both readings come from the same boot, because that
//! clock ignores changes of the wall clock. After a reboot it is the wall clock's
//! difference, counted as zero if the wall clock went back.

use serde::{Deserialize, Serialize};

use super::Vigil;
use crate::alert::lone_worker::BootMark;
use crate::time::ClockReading;

/// A moment as saved to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SavedMoment {
    /// The wall clock, in milliseconds since the Unix epoch.
    pub(super) wall_ms: i64,
    /// The boot clock, if the platform has one.
    pub(super) boot: Option<BootMark>,
}

impl SavedMoment {
    /// Returns the moment a record was captured, from its wall time and boot clock reading.
    pub(super) fn of_record(captured_at_ms: i64, clock: Option<&ClockReading>) -> Self {
        let boot = clock.map(|reading| BootMark::new(&reading.boot_id, reading.since_boot_ms));
        Self { wall_ms: captured_at_ms, boot }
    }
}

impl Vigil {
    /// Returns the current moment, to save.
    pub(super) fn moment_now(&self) -> SavedMoment {
        SavedMoment { wall_ms: self.now_ms(), boot: self.boot_mark() }
    }

    /// Returns the milliseconds elapsed since `moment`, never negative.
    pub(super) fn elapsed_since(&self, moment: &SavedMoment) -> u64 {
        let elapsed_ms = match (moment.boot, self.boot_mark()) {
            (Some(then), Some(now)) if then.boot_hash == now.boot_hash => {
                now.since_boot_ms - then.since_boot_ms
            }
            _ => self.now_ms() - moment.wall_ms,
        };
        u64::try_from(elapsed_ms).unwrap_or(0)
    }
}
