//! Location: distances, plausibility of fixes, the rate fixes are stored at and site
//! geofences.

mod fence;
mod geofence;
mod plausibility;
mod site_check;
mod storage_rate;
mod track;

pub use fence::{FenceCrossing, FenceTracker};
pub use geofence::{check_perimeter, inside_perimeter};
pub use plausibility::{FixChecker, PlausibilityLimits};
pub use storage_rate::{StorageFilter, StorageRate};
pub use track::{SimplifiedTrack, simplify_track};

use geo::{Distance, Haversine, Point};

use crate::model::{Fix, LatLon};

/// Returns the great-circle distance between two points in metres (haversine on the GRS 80
/// mean radius; within 0.5% of the ellipsoidal distance).
pub fn distance_m(a: LatLon, b: LatLon) -> f64 {
    Haversine.distance(Point::new(a.longitude, a.latitude), Point::new(b.longitude, b.latitude))
}

impl Fix {
    /// Returns the fix's position.
    pub fn position(&self) -> LatLon {
        LatLon { latitude: self.latitude, longitude: self.longitude }
    }
}
