//! Working out the true capture time of a record from a trusted anchor.

use serde::{Deserialize, Serialize};

use super::{ClockReading, DeviceClockSample};

/// Largest disagreement, in milliseconds, between the wall clock and the monotonic clock
/// over the same interval that still counts as the same time passing. Larger means the
/// wall clock was set or jumped in between.
pub const CLOCK_JUMP_TOLERANCE_MS: i64 = 2_000;

/// A reason a corrected time is less certain than usual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFlag {
    /// The wall clock was changed between the capture and the anchor: the device's claim
    /// is off, while the corrected time, from the monotonic clock, is not.
    ClockChanged,
    /// The device restarted between the capture and the anchor. The corrected time is the
    /// claim shifted by the wall clock's offset at the anchor, which is wrong if the wall
    /// clock was changed before the restart.
    Rebooted,
    /// The record carries no monotonic reading, so it was not corrected.
    NoReading,
}

/// A record's capture time as the device claimed it and as corrected against a trusted
/// clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectedTime {
    /// The device's wall clock at capture, in milliseconds since the Unix epoch.
    pub claimed_ms: i64,
    /// The capture time on the trusted clock, in milliseconds since the Unix epoch; `None`
    /// when it cannot be worked out.
    pub corrected_ms: Option<i64>,
    /// Reasons the correction is less certain; empty when the monotonic clock placed it.
    pub flags: Vec<TimeFlag>,
}

/// The device wall clock's offset from a trusted clock, measured in one exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockOffset {
    /// Trusted time minus device time, in milliseconds: positive when the device is
    /// behind.
    pub offset_ms: i64,
    /// Half the round trip of the exchange, in milliseconds: the offset is exact to
    /// within this.
    pub uncertainty_ms: i64,
    /// The device's clocks at the middle of the exchange.
    pub sample: DeviceClockSample,
    /// The trusted clock at the same moment, in milliseconds since the Unix epoch.
    pub trusted_ms: i64,
}

/// Corrects the capture time of a record against an anchor: `sample` is the device's
/// clocks at the moment the trusted clock read `trusted_ms`.
pub fn correct(
    claimed_ms: i64,
    reading: Option<&ClockReading>,
    sample: &DeviceClockSample,
    trusted_ms: i64,
) -> CorrectedTime {
    let Some(reading) = reading else {
        return CorrectedTime { claimed_ms, corrected_ms: None, flags: vec![TimeFlag::NoReading] };
    };

    if reading.boot_id != sample.boot_id {
        let offset = trusted_ms - sample.wall_ms;
        return CorrectedTime {
            claimed_ms,
            corrected_ms: Some(claimed_ms.saturating_add(offset)),
            flags: vec![TimeFlag::Rebooted],
        };
    }

    let elapsed = sample.since_boot_ms - reading.since_boot_ms;
    let wall_elapsed = sample.wall_ms - claimed_ms;
    let mut flags = Vec::new();
    if (wall_elapsed - elapsed).abs() > CLOCK_JUMP_TOLERANCE_MS {
        flags.push(TimeFlag::ClockChanged);
    }
    CorrectedTime { claimed_ms, corrected_ms: Some(trusted_ms - elapsed), flags }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUE_NOW: i64 = 1_764_806_400_000;
    const HOUR: i64 = 3_600_000;

    fn reading(boot: &str, since_boot_ms: i64) -> ClockReading {
        ClockReading { boot_id: boot.into(), since_boot_ms, gnss_time_ms: None }
    }

    #[test]
    fn wrong_clock_is_corrected_by_monotonic_time() {
        // The phone is 14 hours slow; the record was made 10 minutes before the anchor.
        let sample = DeviceClockSample {
            boot_id: "a".into(),
            since_boot_ms: 600_000 + 5_000,
            wall_ms: TRUE_NOW - 14 * HOUR,
        };
        let claimed = TRUE_NOW - 14 * HOUR - 600_000;

        let time = correct(claimed, Some(&reading("a", 5_000)), &sample, TRUE_NOW);

        assert_eq!(time.corrected_ms, Some(TRUE_NOW - 600_000));
        assert!(time.flags.is_empty(), "{:?}", time.flags);
    }

    #[test]
    fn clock_set_after_capture_is_flagged() {
        // Captured with a right clock; then the guard moved the clock 3 hours ahead.
        let sample = DeviceClockSample {
            boot_id: "a".into(),
            since_boot_ms: 65_000,
            wall_ms: TRUE_NOW + 3 * HOUR,
        };
        let claimed = TRUE_NOW - 60_000;

        let time = correct(claimed, Some(&reading("a", 5_000)), &sample, TRUE_NOW);

        assert_eq!(time.corrected_ms, Some(TRUE_NOW - 60_000));
        assert_eq!(time.flags, vec![TimeFlag::ClockChanged]);
    }

    #[test]
    fn reboot_falls_back_to_offset_and_is_flagged() {
        let sample = DeviceClockSample {
            boot_id: "b".into(),
            since_boot_ms: 1_000,
            wall_ms: TRUE_NOW - HOUR,
        };
        let claimed = TRUE_NOW - HOUR - 120_000;

        let time = correct(claimed, Some(&reading("a", 900_000)), &sample, TRUE_NOW);

        assert_eq!(time.corrected_ms, Some(TRUE_NOW - 120_000));
        assert_eq!(time.flags, vec![TimeFlag::Rebooted]);
    }

    #[test]
    fn record_without_reading_is_not_corrected() {
        let sample =
            DeviceClockSample { boot_id: "a".into(), since_boot_ms: 1_000, wall_ms: TRUE_NOW };

        let time = correct(TRUE_NOW, None, &sample, TRUE_NOW);

        assert_eq!(time.corrected_ms, None);
        assert_eq!(time.flags, vec![TimeFlag::NoReading]);
    }
}
