//! Storage at an adaptive rate: a trusted fix is stored only when it adds to the track.

use super::distance_m;
use crate::model::Fix;

/// Slowest speed, in metres per second, at which a platform's reported bearing is used as
/// the heading. Below it a receiver's course is noise.
const MIN_COURSE_SPEED_MPS: f64 = 0.5;

/// When a trusted fix is worth storing. A fix is stored when any one threshold is passed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StorageRate {
    /// Distance, in metres, from the last stored fix past which a fix is stored. The
    /// default of 5 m is below the accuracy of a phone in a city, so a walk is stored about
    /// every 5 m, while a guard standing still adds no fixes. 0 stores every fix.
    pub min_distance_m: f64,
    /// Maximum time, in milliseconds, between stored fixes while the guard is not moving.
    /// The default of 30 s keeps a stationary guard's position on record twice a minute.
    pub max_interval_ms: i64,
    /// Change of heading, in degrees, since the last stored fix past which a fix is
    /// stored, so that a corner stays on the track. The default is 30°.
    pub min_heading_change_deg: f64,
}

impl Default for StorageRate {
    fn default() -> Self {
        Self { min_distance_m: 5.0, max_interval_ms: 30_000, min_heading_change_deg: 30.0 }
    }
}

/// Decides, one trusted fix at a time, which fixes to store.
///
/// The heading of a fix is the bearing the platform reports while the fix moves at least
/// 0.5 m/s. A course computed between fixes is not used: the jitter of a standing
/// receiver moves it by metres in random directions.
///
/// NOTE: a fix without a reported bearing and speed (some GPX and NMEA sources) is stored
/// by distance and time only, so a corner may be cut by up to the distance threshold.
#[derive(Debug, Clone, Default)]
pub struct StorageFilter {
    rate: StorageRate,
    last_stored: Option<Fix>,
    /// The heading at the last stored fix, when it was known.
    last_heading_deg: Option<f64>,
}

impl StorageFilter {
    /// Creates a filter that stores fixes at this rate.
    pub fn new(rate: StorageRate) -> Self {
        Self { rate, ..Self::default() }
    }

    /// Returns whether a trusted `fix` should be stored, and remembers it as the last
    /// stored fix when it should. The first fix is always stored.
    pub fn admit(&mut self, fix: &Fix) -> bool {
        let Some(last) = &self.last_stored else {
            self.remember(fix, course_reported(fix));
            return true;
        };

        let moved_m = distance_m(last.position(), fix.position());
        let elapsed_ms = fix.fix_time_ms.saturating_sub(last.fix_time_ms);
        let heading = course_reported(fix);
        let turned = match (self.last_heading_deg, heading) {
            (Some(before), Some(now)) => {
                angle_between(before, now) > self.rate.min_heading_change_deg
            }
            _ => false,
        };

        if moved_m >= self.rate.min_distance_m || elapsed_ms >= self.rate.max_interval_ms || turned
        {
            self.remember(fix, heading);
            return true;
        }
        false
    }

    /// Remembers a fix stored for another reason, such as a fence crossing, as the last
    /// stored fix.
    pub fn stored_anyway(&mut self, fix: &Fix) {
        self.remember(fix, course_reported(fix));
    }

    fn remember(&mut self, fix: &Fix, heading: Option<f64>) {
        self.last_stored = Some(fix.clone());
        if heading.is_some() {
            self.last_heading_deg = heading;
        }
    }
}

/// Returns the platform's bearing, in degrees, if the fix reports one with a speed of at
/// least [`MIN_COURSE_SPEED_MPS`].
fn course_reported(fix: &Fix) -> Option<f64> {
    match (fix.bearing_deg, fix.speed_mps) {
        (Some(bearing), Some(speed)) if speed >= MIN_COURSE_SPEED_MPS && bearing.is_finite() => {
            Some(bearing)
        }
        _ => None,
    }
}

/// Returns the smaller angle between two bearings, in degrees (0 to 180).
fn angle_between(a: f64, b: f64) -> f64 {
    let difference = (a - b).rem_euclid(360.0);
    difference.min(360.0 - difference)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FixSource;

    const T0: i64 = 1_700_000_000_000;
    const METRES_PER_DEGREE: f64 = 111_195.0;

    /// A fix `east` and `north` metres from 48° N 2° E, `second` seconds after T0.
    fn fix(east: f64, north: f64, second: i64) -> Fix {
        Fix {
            latitude: 48.0 + north / METRES_PER_DEGREE,
            longitude: 2.0 + east / (METRES_PER_DEGREE * 48f64.to_radians().cos()),
            accuracy_m: 5.0,
            altitude_m: None,
            speed_mps: None,
            bearing_deg: None,
            source: FixSource::Gnss,
            mock: false,
            fix_time_ms: T0 + second * 1000,
        }
    }

    #[test]
    fn standing_still_stores_by_time() {
        let mut filter = StorageFilter::default();
        // A receiver wanders 0.3 m either way around one spot for a minute at 1 Hz.
        let stored = (0..60)
            .filter(|&second| {
                let wobble = if second % 2 == 0 { 0.3 } else { -0.3 };
                filter.admit(&fix(wobble, -wobble, second))
            })
            .count();
        assert_eq!(stored, 2, "the first fix and one after 30 s");
    }

    #[test]
    fn walk_stores_about_every_step() {
        let mut filter = StorageFilter::default();
        // 140 m east at 1.4 m/s.
        let stored = (0..=100)
            .filter(|&second| filter.admit(&fix(1.4 * second as f64, 0.0, second)))
            .count();
        // 140 m in steps of 4 seconds (5.6 m) is 25 steps, plus the first fix.
        assert_eq!(stored, 26);
    }

    #[test]
    fn corner_is_stored_by_heading() {
        let rate = StorageRate { min_distance_m: 50.0, ..StorageRate::default() };
        let mut filter = StorageFilter::new(rate);
        let walking = |east: f64, north: f64, second: i64, bearing: f64| Fix {
            speed_mps: Some(1.4),
            bearing_deg: Some(bearing),
            ..fix(east, north, second)
        };
        let mut stored = Vec::new();
        for second in 0..=20 {
            let east = 1.4 * second as f64;
            if filter.admit(&walking(east, 0.0, second, 90.0)) {
                stored.push((east, 0.0));
            }
        }
        // At 28 m east the guard turns north.
        for second in 1..=20 {
            let north = 1.4 * second as f64;
            if filter.admit(&walking(28.0, north, 20 + second, 0.0)) {
                stored.push((28.0, north));
            }
        }
        assert_eq!(stored, [(0.0, 0.0), (28.0, 1.4)], "the first fix after the turn is kept");
    }

    #[test]
    fn reported_course_change_is_stored() {
        let mut filter = StorageFilter::default();
        let mut heading_east = fix(0.0, 0.0, 0);
        heading_east.speed_mps = Some(1.4);
        heading_east.bearing_deg = Some(90.0);
        assert!(filter.admit(&heading_east));

        let mut same = fix(1.0, 0.0, 1);
        same.speed_mps = Some(1.4);
        same.bearing_deg = Some(100.0);
        assert!(!filter.admit(&same), "10° is no turn");

        let mut turned = fix(1.5, 0.5, 2);
        turned.speed_mps = Some(1.4);
        turned.bearing_deg = Some(350.0);
        assert!(filter.admit(&turned), "100° is a turn");

        let mut slow = fix(1.6, 0.6, 3);
        slow.speed_mps = Some(0.1);
        slow.bearing_deg = Some(180.0);
        assert!(!filter.admit(&slow), "a bearing at 0.1 m/s is noise");
    }

    #[test]
    fn angles_wrap_at_north() {
        assert_eq!(angle_between(350.0, 10.0), 20.0);
        assert_eq!(angle_between(10.0, 350.0), 20.0);
        assert_eq!(angle_between(0.0, 180.0), 180.0);
    }
}
