//! The demo's fictional site: a fenced depot with six tagged checkpoints.
//!
//! Positions are given in metres east and north of [`ORIGIN`] and converted to degrees on
//! a flat grid.

use vigil_core::model::{Checkpoint, CheckpointTag, LatLon, ScanMethod, Site, Tour};

/// The id of the demo's site.
pub const SITE_ID: &str = "depot-riverside";

/// The south-west corner of the fictional depot; the demo places everything in metres
/// east and north of it.
pub const ORIGIN: LatLon = LatLon { latitude: 44.812_400, longitude: -0.585_300 };

/// Metres per degree of latitude on a sphere of the Earth's mean radius.
pub const METRES_PER_DEGREE: f64 = 111_195.0;

/// The checkpoints: id, name, metres east and north of [`ORIGIN`], radius in metres, and
/// the tag mounted there. The NFC UIDs and QR texts are made up.
const CHECKPOINTS: [(&str, &str, f64, f64, f64, ScanMethod, &str); 6] = [
    ("cp-gate", "Main gate", 60.0, 6.0, 15.0, ScanMethod::Nfc, "04:A2:19:7C:33:5E:80"),
    ("cp-dock", "Loading dock", 212.0, 40.0, 20.0, ScanMethod::Qr, "VIGIL-CP-DOCK-7F3A"),
    ("cp-fuel", "Fuel store", 212.0, 110.0, 15.0, ScanMethod::Nfc, "04:5B:E1:2A:90:11:81"),
    ("cp-server", "Server room door", 150.0, 145.0, 12.0, ScanMethod::Nfc, "04:C7:0D:56:1B:2F:80"),
    ("cp-park", "Car park", 40.0, 137.0, 20.0, ScanMethod::Qr, "VIGIL-CP-PARK-21C9"),
    ("cp-fence", "West fence", 6.0, 70.0, 15.0, ScanMethod::Qr, "VIGIL-CP-WFENCE-0D44"),
];

/// The fence, in metres east and north of [`ORIGIN`], closed.
const FENCE: [(f64, f64); 6] =
    [(0.0, 0.0), (220.0, 0.0), (220.0, 140.0), (120.0, 160.0), (0.0, 140.0), (0.0, 0.0)];

/// Returns the fictional depot: a five-sided fence, six checkpoints and one ordered tour.
pub fn demo_site() -> Site {
    let checkpoints: Vec<Checkpoint> = CHECKPOINTS
        .iter()
        .map(|&(id, name, east, north, radius_m, method, tag)| Checkpoint {
            id: id.to_string(),
            name: name.to_string(),
            position: local(east, north),
            radius_m,
            tags: vec![CheckpointTag { method, value: tag.to_string(), min_rssi_dbm: None }],
        })
        .collect();
    let tour = Tour {
        id: "night-round".to_string(),
        name: "Night round".to_string(),
        checkpoint_ids: checkpoints.iter().map(|checkpoint| checkpoint.id.clone()).collect(),
        ordered: true,
        every_minutes: 60,
        timing: Default::default(),
    };
    Site {
        id: SITE_ID.to_string(),
        name: "Riverside Logistics Depot (fictional)".to_string(),
        perimeter: FENCE.iter().map(|&(east, north)| local(east, north)).collect(),
        checkpoints,
        tours: vec![tour],
        revision: 1,
    }
}

/// Converts metres east and north of [`ORIGIN`] to degrees. A flat grid is exact to a few
/// centimetres over a site this small.
pub fn local(east_m: f64, north_m: f64) -> LatLon {
    LatLon {
        latitude: ORIGIN.latitude + north_m / METRES_PER_DEGREE,
        longitude: ORIGIN.longitude
            + east_m / (METRES_PER_DEGREE * ORIGIN.latitude.to_radians().cos()),
    }
}

/// Returns a checkpoint's position in metres east and north of [`ORIGIN`].
pub fn grid_position(site: &Site, checkpoint_id: &str) -> (f64, f64) {
    let position = site.checkpoint(checkpoint_id).map_or(ORIGIN, |checkpoint| checkpoint.position);
    let north = (position.latitude - ORIGIN.latitude) * METRES_PER_DEGREE;
    let east = (position.longitude - ORIGIN.longitude)
        * METRES_PER_DEGREE
        * ORIGIN.latitude.to_radians().cos();
    (east, north)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_lie_inside_the_fence() {
        let site = demo_site();
        for checkpoint in &site.checkpoints {
            assert!(
                vigil_core::location::inside_perimeter(&site.perimeter, checkpoint.position),
                "{} is outside",
                checkpoint.id
            );
        }
    }

    #[test]
    fn grid_positions_round_trip() {
        let site = demo_site();
        let (east, north) = grid_position(&site, "cp-dock");
        assert!((east - 212.0).abs() < 1e-6, "east {east}");
        assert!((north - 40.0).abs() < 1e-6, "north {north}");
    }
}
