//! Flags for fixes that are kept as evidence but must not place the guard.

use super::distance_m;
use crate::model::{Fix, FixFlag};

/// The GPS epoch, 1980-01-06T00:00:00Z, in milliseconds since the Unix epoch. No receiver
/// can report a real fix before it.
const GPS_EPOCH_MS: i64 = 315_964_800_000;

/// Limits of what a fix may plausibly report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlausibilityLimits {
    /// Fastest speed, in metres per second, between two fixes after subtracting both
    /// accuracies. The default of 70 m/s (252 km/h) is above any patrol vehicle.
    pub max_speed_mps: f64,
    /// Largest difference, in milliseconds, between a fix's time and the device clock.
    pub max_clock_skew_ms: i64,
    /// Longest time, in milliseconds, a receiver may repeat exactly the same fix before
    /// the repeats are flagged as frozen. A receiver's static hold repeats a standing
    /// guard's position for a while: the default of 120 s lets the 145 repeated fixes of a
    /// recorded 1 Hz walk with stops pass, and flags a phone log that repeats a fix exactly
    /// after 143 s.
    pub max_frozen_ms: i64,
}

impl Default for PlausibilityLimits {
    fn default() -> Self {
        // NOTE: the device clock is trusted as it is; a phone clock wrong by more than the
        // skew limit flags every fix.
        Self { max_speed_mps: 70.0, max_clock_skew_ms: 24 * 60 * 60 * 1000, max_frozen_ms: 120_000 }
    }
}

/// Checks a stream of fixes, one at a time, against the fixes before it.
///
/// A fix that implies an impossible speed from the last trusted fix is flagged. If the next
/// fix is consistent with the flagged one but not with the last trusted one, the guard
/// really moved (for example the receiver re-acquired after a dropout), so the new fix is
/// trusted again.
#[derive(Debug, Clone, Default)]
pub struct FixChecker {
    limits: PlausibilityLimits,
    previous: Option<Fix>,
    trusted: Option<Fix>,
    suspect: Option<Fix>,
    newest: Option<NewestFix>,
    /// The fix time of the first fix of the current run of exact repeats.
    repeated_since_ms: Option<i64>,
}

/// The flags of the newest fix checked and the device time of the check.
#[derive(Debug, Clone)]
struct NewestFix {
    flags: Vec<FixFlag>,
    checked_at_ms: i64,
}

impl FixChecker {
    /// Creates a checker with these limits.
    pub fn new(limits: PlausibilityLimits) -> Self {
        Self { limits, ..Self::default() }
    }

    /// Returns the flags of `fix`, given the device clock `now_ms`, and remembers the fix
    /// for the next call. The fix must have passed [`Fix::validate`].
    pub fn check(&mut self, fix: &Fix, now_ms: i64) -> Vec<FixFlag> {
        let mut flags = Vec::new();

        if fix.latitude.abs() < 1e-7 && fix.longitude.abs() < 1e-7 {
            flags.push(FixFlag::NullIsland);
        }
        if fix.mock {
            flags.push(FixFlag::Mock);
        }

        self.check_time(fix, now_ms, &mut flags);
        if self.is_repeat(fix) {
            let since = *self.repeated_since_ms.get_or_insert(self.previous_time_ms());
            if fix.fix_time_ms - since > self.limits.max_frozen_ms {
                flags.push(FixFlag::Frozen);
            }
        } else {
            self.repeated_since_ms = None;
        }

        if flags.is_empty() && !self.speed_is_plausible(fix) {
            flags.push(FixFlag::ImplausibleSpeed);
            self.suspect = Some(fix.clone());
        }

        if flags.is_empty() {
            self.trusted = Some(fix.clone());
            self.suspect = None;
        }
        self.previous = Some(fix.clone());
        self.newest = Some(NewestFix { flags: flags.clone(), checked_at_ms: now_ms });
        flags
    }

    /// Returns the flags of the newest fix checked, if it was checked no more than
    /// `max_age_ms` before `now_ms`; an older fix says nothing about the guard now.
    pub fn newest_flags(&self, now_ms: i64, max_age_ms: i64) -> &[FixFlag] {
        match &self.newest {
            Some(newest) if now_ms.saturating_sub(newest.checked_at_ms) <= max_age_ms => {
                &newest.flags
            }
            _ => &[],
        }
    }

    /// Returns the newest fix that carried no flag.
    pub fn last_trusted(&self) -> Option<&Fix> {
        self.trusted.as_ref()
    }

    fn check_time(&self, fix: &Fix, now_ms: i64, flags: &mut Vec<FixFlag>) {
        let skew = fix.fix_time_ms.saturating_sub(now_ms).saturating_abs();
        if fix.fix_time_ms < GPS_EPOCH_MS || skew > self.limits.max_clock_skew_ms {
            flags.push(FixFlag::ImplausibleTime);
        }

        if let Some(previous) = &self.previous {
            if fix.fix_time_ms < previous.fix_time_ms {
                flags.push(FixFlag::TimeBackwards);
            } else if fix.fix_time_ms == previous.fix_time_ms {
                flags.push(FixFlag::DuplicateTime);
            }
        }
    }

    fn previous_time_ms(&self) -> i64 {
        self.previous.as_ref().map_or(0, |previous| previous.fix_time_ms)
    }

    /// Returns whether `fix` repeats the previous fix bit for bit at a later time.
    fn is_repeat(&self, fix: &Fix) -> bool {
        let Some(previous) = &self.previous else {
            return false;
        };
        fix.fix_time_ms > previous.fix_time_ms
            && fix.latitude == previous.latitude
            && fix.longitude == previous.longitude
            && fix.accuracy_m == previous.accuracy_m
            && fix.altitude_m == previous.altitude_m
            && fix.speed_mps == previous.speed_mps
            && fix.bearing_deg == previous.bearing_deg
    }

    fn speed_is_plausible(&self, fix: &Fix) -> bool {
        let Some(trusted) = &self.trusted else {
            return true;
        };
        if self.reachable(trusted, fix) {
            return true;
        }
        self.suspect.as_ref().is_some_and(|suspect| self.reachable(suspect, fix))
    }

    /// Returns whether `to` can be reached from `from` at the speed limit, allowing both
    /// fixes to be off by their accuracy.
    fn reachable(&self, from: &Fix, to: &Fix) -> bool {
        let excess_m = distance_m(from.position(), to.position()) - from.accuracy_m - to.accuracy_m;
        if excess_m <= 0.0 {
            return true;
        }
        let elapsed_s = (to.fix_time_ms - from.fix_time_ms) as f64 / 1000.0;
        elapsed_s > 0.0 && excess_m / elapsed_s <= self.limits.max_speed_mps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FixSource;

    const T0: i64 = 1_700_000_000_000;

    fn fix(latitude: f64, longitude: f64, time_ms: i64) -> Fix {
        Fix {
            latitude,
            longitude,
            accuracy_m: 5.0,
            altitude_m: None,
            speed_mps: None,
            bearing_deg: None,
            source: FixSource::Gnss,
            mock: false,
            fix_time_ms: time_ms,
        }
    }

    /// About 1.11 m per 0.00001 degree of latitude.
    fn north(metres: f64) -> f64 {
        48.0 + metres / 111_195.0
    }

    #[test]
    fn walking_is_not_flagged() {
        let mut checker = FixChecker::default();
        for second in 0..60 {
            let flags =
                checker.check(&fix(north(1.4 * second as f64), 2.0, T0 + second * 1000), T0);
            assert!(flags.is_empty(), "second {second}: {flags:?}");
        }
    }

    #[test]
    fn single_spike_is_flagged_once() {
        let mut checker = FixChecker::default();
        assert!(checker.check(&fix(north(0.0), 2.0, T0), T0).is_empty());
        let spike = checker.check(&fix(north(500.0), 2.0, T0 + 1000), T0);
        assert_eq!(spike, vec![FixFlag::ImplausibleSpeed]);
        let back = checker.check(&fix(north(2.0), 2.0, T0 + 2000), T0);
        assert!(back.is_empty(), "{back:?}");
    }

    #[test]
    fn relocation_is_trusted_after_one_flag() {
        let mut checker = FixChecker::default();
        checker.check(&fix(north(0.0), 2.0, T0), T0);
        let jump = checker.check(&fix(north(184.0), 2.0, T0 + 2000), T0);
        assert_eq!(jump, vec![FixFlag::ImplausibleSpeed]);
        let after = checker.check(&fix(north(190.0), 2.0, T0 + 4000), T0);
        assert!(after.is_empty(), "{after:?}");
        assert_eq!(checker.last_trusted().map(|f| f.fix_time_ms), Some(T0 + 4000));
    }

    #[test]
    fn long_frozen_repeat_is_flagged() {
        let mut checker = FixChecker::default();
        for second in 0..=120 {
            let flags = checker.check(&fix(north(0.0), 2.0, T0 + second * 1000), T0);
            assert!(flags.is_empty(), "second {second}: a short static hold is fine: {flags:?}");
        }
        assert_eq!(checker.check(&fix(north(0.0), 2.0, T0 + 121_000), T0), vec![FixFlag::Frozen]);
        assert_eq!(checker.last_trusted().map(|f| f.fix_time_ms), Some(T0 + 120_000));

        let mut moved_accuracy = fix(north(0.0), 2.0, T0 + 122_000);
        moved_accuracy.accuracy_m = 5.5;
        assert!(checker.check(&moved_accuracy, T0).is_empty(), "any change is a live receiver");
        assert!(checker.check(&fix(north(0.0), 2.0, T0 + 123_000), T0).is_empty());
    }

    #[test]
    fn null_island_and_mock_are_flagged() {
        let mut checker = FixChecker::default();
        assert_eq!(checker.check(&fix(0.0, 0.0, T0), T0), vec![FixFlag::NullIsland]);
        let mut mocked = fix(north(0.0), 2.0, T0 + 1000);
        mocked.mock = true;
        assert_eq!(checker.check(&mocked, T0), vec![FixFlag::Mock]);
        assert!(checker.last_trusted().is_none());
    }

    #[test]
    fn time_defects_are_flagged() {
        let mut checker = FixChecker::default();
        let bogus_1901 = -2_147_483_648_000;
        assert_eq!(
            checker.check(&fix(north(-1.0), 2.0, bogus_1901), T0),
            vec![FixFlag::ImplausibleTime]
        );
        assert!(checker.check(&fix(north(0.0), 2.0, T0), T0).is_empty());
        assert_eq!(checker.check(&fix(north(1.0), 2.0, T0), T0), vec![FixFlag::DuplicateTime]);
        assert_eq!(
            checker.check(&fix(north(2.0), 2.0, T0 - 302), T0),
            vec![FixFlag::TimeBackwards]
        );
        let two_days = 2 * 24 * 3600 * 1000;
        assert_eq!(
            checker.check(&fix(north(3.0), 2.0, T0 + two_days), T0),
            vec![FixFlag::ImplausibleTime]
        );
    }
}
