//! Entering and leaving a site's perimeter, with hysteresis from the fix's accuracy.

use geo::{Contains, Distance, Euclidean, LineString, Point, Polygon};
use serde::{Deserialize, Serialize};

use crate::model::{Fix, LatLon};

/// Mean metres per degree of latitude.
const METRES_PER_DEGREE: f64 = 111_195.0;

/// Smallest margin, in metres, a fix must be past the fence to change sides, even when
/// its reported accuracy is smaller: phones under-report their error.
const MIN_MARGIN_M: f64 = 5.0;

/// The margin a fix must be past the fence to change sides, in multiples of its reported
/// accuracy. Android's `Location.getAccuracy` is the radius of 68% confidence, about 1.5
/// standard deviations of the error in one direction. So a guard at the fence gets a fix
/// one accuracy past it on one side about 6% of the time, and two accuracies past it
/// about 0.1% of the time. Apple documents no confidence level for `horizontalAccuracy`.
const MARGIN_PER_ACCURACY: f64 = 2.0;

/// A crossing of a site's perimeter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FenceCrossing {
    /// The guard came inside the perimeter.
    Entered,
    /// The guard went outside the perimeter.
    Left,
}

/// Which side of a perimeter the guard is known to be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Side {
    #[default]
    Unknown,
    Inside,
    Outside,
}

/// Follows one guard across one site's perimeter.
///
/// A fix changes the side only when it is farther from the fence than twice its accuracy
/// (at least [`MIN_MARGIN_M`]), so a guard standing at the fence, whose fixes wander
/// across it, produces no crossings. The first confident fix inside counts as entering; the first
/// confident fix outside only sets the side.
#[derive(Debug, Clone)]
pub struct FenceTracker {
    site_id: String,
    reference: LatLon,
    polygon: Polygon<f64>,
    side: Side,
}

impl FenceTracker {
    /// Creates a tracker for a site's perimeter, or `None` when the perimeter has fewer
    /// than three corners. The perimeter should have passed
    /// [`check_perimeter`](super::check_perimeter).
    pub fn new(site_id: impl Into<String>, perimeter: &[LatLon]) -> Option<Self> {
        let reference = *perimeter.first()?;
        if perimeter.len() < 3 {
            return None;
        }
        let ring: LineString<f64> =
            perimeter.iter().map(|corner| local_metres(reference, *corner)).collect();
        Some(Self {
            site_id: site_id.into(),
            reference,
            polygon: Polygon::new(ring, Vec::new()),
            side: Side::Unknown,
        })
    }

    /// Returns the site the tracker follows.
    pub fn site_id(&self) -> &str {
        &self.site_id
    }

    /// Takes a trusted fix and returns the crossing it makes, if any.
    pub fn update(&mut self, fix: &Fix) -> Option<FenceCrossing> {
        let point = Point::from(local_metres(self.reference, fix.position()));
        if !(point.x().is_finite() && point.y().is_finite()) {
            return None;
        }
        let to_fence_m = Euclidean.distance(&point, self.polygon.exterior());
        if to_fence_m < (MARGIN_PER_ACCURACY * fix.accuracy_m).max(MIN_MARGIN_M) {
            return None;
        }

        let inside = self.polygon.contains(&point);
        match (self.side, inside) {
            (Side::Inside, true) | (Side::Outside, false) => None,
            (Side::Unknown | Side::Outside, true) => {
                self.side = Side::Inside;
                Some(FenceCrossing::Entered)
            }
            (Side::Unknown, false) => {
                self.side = Side::Outside;
                None
            }
            (Side::Inside, false) => {
                self.side = Side::Outside;
                Some(FenceCrossing::Left)
            }
        }
    }
}

/// Returns `point` in metres east and north of `reference`, on a plane tangent there.
/// Longitudes are unwrapped, so a site across the antimeridian works.
fn local_metres(reference: LatLon, point: LatLon) -> (f64, f64) {
    let delta_longitude = (point.longitude - reference.longitude + 180.0).rem_euclid(360.0) - 180.0;
    let east = delta_longitude * METRES_PER_DEGREE * reference.latitude.to_radians().cos();
    let north = (point.latitude - reference.latitude) * METRES_PER_DEGREE;
    (east, north)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FixSource;

    const ORIGIN: LatLon = LatLon { latitude: 37.8065, longitude: -122.3000 };

    /// A 100 m square with its south-west corner at the origin.
    fn square() -> Vec<LatLon> {
        [(0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)]
            .into_iter()
            .map(|(east, north)| at(east, north))
            .collect()
    }

    fn at(east: f64, north: f64) -> LatLon {
        LatLon {
            latitude: ORIGIN.latitude + north / METRES_PER_DEGREE,
            longitude: ORIGIN.longitude
                + east / (METRES_PER_DEGREE * ORIGIN.latitude.to_radians().cos()),
        }
    }

    fn fix(east: f64, north: f64, accuracy_m: f64) -> Fix {
        let position = at(east, north);
        Fix {
            latitude: position.latitude,
            longitude: position.longitude,
            accuracy_m,
            altitude_m: None,
            speed_mps: None,
            bearing_deg: None,
            source: FixSource::Gnss,
            mock: false,
            fix_time_ms: 0,
        }
    }

    #[test]
    fn walk_in_and_out_crosses_twice() {
        let mut fence = FenceTracker::new("yard", &square()).unwrap();
        let crossings: Vec<FenceCrossing> = (-30..=130)
            .step_by(2)
            .filter_map(|east| fence.update(&fix(east as f64, 50.0, 5.0)))
            .collect();
        assert_eq!(crossings, [FenceCrossing::Entered, FenceCrossing::Left]);
    }

    #[test]
    fn guard_at_fence_makes_no_storm() {
        let mut fence = FenceTracker::new("yard", &square()).unwrap();
        assert_eq!(fence.update(&fix(50.0, 50.0, 5.0)), Some(FenceCrossing::Entered));
        // Standing at the east fence for ten minutes, fixes wander 6 m either side of it
        // with 8 m accuracy.
        for second in 0..600 {
            let wobble = if second % 2 == 0 { 6.0 } else { -6.0 };
            assert_eq!(fence.update(&fix(100.0 + wobble, 50.0, 8.0)), None, "second {second}");
        }
        assert_eq!(fence.update(&fix(120.0, 50.0, 8.0)), Some(FenceCrossing::Left));
    }

    #[test]
    fn first_fix_outside_is_no_crossing() {
        let mut fence = FenceTracker::new("yard", &square()).unwrap();
        assert_eq!(fence.update(&fix(-50.0, 50.0, 5.0)), None);
        assert_eq!(fence.update(&fix(50.0, 50.0, 5.0)), Some(FenceCrossing::Entered));
    }

    #[test]
    fn vague_fix_changes_nothing() {
        let mut fence = FenceTracker::new("yard", &square()).unwrap();
        assert_eq!(fence.update(&fix(50.0, 50.0, 60.0)), None, "60 m accuracy reaches the fence");
        assert!(FenceTracker::new("yard", &square()[..2]).is_none());
    }
}
