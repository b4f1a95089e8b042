//! Site perimeter and checkpoint checks on real building geometry: the Oakland Main Post
//! Office (OpenStreetMap way 52538639) as the perimeter, its corners and a gate (node
//! 667744217) as checkpoints, and simulated walks with a phone receiver's correlated error.

mod common;

use std::sync::Arc;

use common::data_dir;
use geo::{Contains, Point, Polygon};
use serde_json::Value;
use vigil_core::location::{FenceCrossing, FenceTracker, distance_m};
use vigil_core::model::{
    CheckinReason, Checkpoint, Fix, FixSource, LatLon, Location, RecordBody, ScanMethod, Site,
};
use vigil_core::{Config, FixOutcome, ManualClock, Vigil};

const POST_OFFICE: &str = "way/52538639";
const GATE: &str = "node/667744217";

/// 2024-05-01T22:00:00Z.
const T0: i64 = 1_714_600_800_000;

/// Mean metres per degree of latitude.
const METRES_PER_DEGREE: f64 = 111_195.0;

/// Radius of every checkpoint, in metres.
const RADIUS_M: f64 = 25.0;

/// The post office's perimeter and the gate, read from the GeoJSON extract.
struct Geometry {
    perimeter: Vec<LatLon>,
    gate: LatLon,
}

/// Reads the geometry, or returns `None` when the data folder is missing.
fn geometry() -> Option<Geometry> {
    let path = data_dir()?.join("site_west_oakland_features.geojson");
    let text = std::fs::read_to_string(&path).unwrap();
    let collection: Value = serde_json::from_str(&text).unwrap();
    let feature = |id: &str| -> Value {
        collection["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|feature| feature["id"] == id)
            .unwrap_or_else(|| panic!("{id} is missing from {}", path.display()))
            .clone()
    };
    let lat_lon = |pair: &Value| LatLon {
        latitude: pair[1].as_f64().unwrap(),
        longitude: pair[0].as_f64().unwrap(),
    };

    let ring = feature(POST_OFFICE)["geometry"]["coordinates"][0].clone();
    let mut perimeter: Vec<LatLon> = ring.as_array().unwrap().iter().map(lat_lon).collect();
    assert_eq!(perimeter.first(), perimeter.last(), "a GeoJSON ring is closed");
    perimeter.pop();
    let gate = lat_lon(&feature(GATE)["geometry"]["coordinates"]);
    Some(Geometry { perimeter, gate })
}

/// Converts between positions and metres east and north of a point, on a tangent plane.
#[derive(Clone, Copy)]
struct Plane {
    origin: LatLon,
}

impl Plane {
    fn position(self, east: f64, north: f64) -> LatLon {
        LatLon {
            latitude: self.origin.latitude + north / METRES_PER_DEGREE,
            longitude: self.origin.longitude
                + east / (METRES_PER_DEGREE * self.origin.latitude.to_radians().cos()),
        }
    }

    fn metres(self, position: LatLon) -> (f64, f64) {
        let east = (position.longitude - self.origin.longitude)
            * METRES_PER_DEGREE
            * self.origin.latitude.to_radians().cos();
        (east, (position.latitude - self.origin.latitude) * METRES_PER_DEGREE)
    }
}

/// A receiver's error: each axis follows a first-order autoregressive process, so the
/// error drifts over tens of seconds as a phone's does, rather than jumping every fix.
struct ReceiverError {
    state: u64,
    sigma_m: f64,
    correlation: f64,
    error: (f64, f64),
}

impl ReceiverError {
    fn new(seed: u64, sigma_m: f64) -> Self {
        Self { state: seed, sigma_m, correlation: 0.9, error: (0.0, 0.0) }
    }

    /// SplitMix64, mapped to a uniform number in (0, 1).
    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Returns a standard normal number, by the Box–Muller transform.
    fn gaussian(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Returns the next error, in metres east and north.
    fn next(&mut self) -> (f64, f64) {
        let step = self.sigma_m * (1.0 - self.correlation * self.correlation).sqrt();
        self.error = (
            self.correlation * self.error.0 + step * self.gaussian(),
            self.correlation * self.error.1 + step * self.gaussian(),
        );
        self.error
    }
}

fn fix(position: LatLon, accuracy_m: f64, time_ms: i64) -> Fix {
    Fix {
        latitude: position.latitude,
        longitude: position.longitude,
        accuracy_m,
        altitude_m: None,
        speed_mps: None,
        bearing_deg: None,
        source: FixSource::Fused,
        mock: false,
        fix_time_ms: time_ms,
    }
}

/// Builds the site: the post office as the perimeter, each corner and the gate as GPS
/// checkpoints.
fn site(geometry: &Geometry) -> Site {
    let checkpoint = |id: String, position: LatLon| Checkpoint {
        name: id.clone(),
        id,
        position,
        radius_m: RADIUS_M,
        tags: Vec::new(),
    };
    let mut checkpoints: Vec<Checkpoint> = geometry
        .perimeter
        .iter()
        .enumerate()
        .map(|(index, corner)| checkpoint(format!("corner-{index}"), *corner))
        .collect();
    checkpoints.push(checkpoint("gate".into(), geometry.gate));
    Site {
        id: POST_OFFICE.into(),
        name: "Oakland Main Post Office".into(),
        perimeter: geometry.perimeter.clone(),
        checkpoints,
        tours: Vec::new(),
        revision: 1,
    }
}

fn open_device(folder: &tempfile::TempDir, geometry: &Geometry) -> (Vigil, ManualClock) {
    let clock = ManualClock::new(T0);
    let config = Config::new("oakland-device", "oakland-guard", "http://127.0.0.1:9", "code");
    let vigil =
        Vigil::open_with_clock(folder.path().join("device.db"), config, Arc::new(clock.clone()))
            .unwrap();
    vigil.store().save_sites(&[site(geometry)], None).unwrap();
    vigil.start_shift(Some(POST_OFFICE.into())).unwrap();
    (vigil, clock)
}

/// Hands the fixes to the device in batches of 10, with the device clock at each batch's
/// newest fix, and asserts that none is flagged.
fn record(vigil: &Vigil, clock: &ManualClock, fixes: Vec<Fix>) {
    for batch in fixes.chunks(10) {
        clock.set(batch.last().unwrap().fix_time_ms);
        for outcome in vigil.record_fixes(batch.to_vec()).unwrap() {
            assert!(
                matches!(&outcome, FixOutcome::Skipped)
                    || matches!(&outcome, FixOutcome::Stored { flags, .. } if flags.is_empty()),
                "{outcome:?}"
            );
        }
    }
}

/// Returns the planar polygon of the perimeter, to tell which side a fix fell on.
fn polygon(plane: Plane, perimeter: &[LatLon]) -> Polygon<f64> {
    let ring: Vec<(f64, f64)> = perimeter.iter().map(|corner| plane.metres(*corner)).collect();
    Polygon::new(ring.into(), Vec::new())
}

fn crossings(vigil: &Vigil) -> Vec<String> {
    let shift_id = vigil.store().latest_shift().unwrap().unwrap().0;
    let mut found = Vec::new();
    vigil
        .store()
        .for_each_in_shift(shift_id, |record, _| {
            if let RecordBody::SiteFence { crossing, .. } = &record.body {
                found.push(format!("{crossing:?}"));
            }
        })
        .unwrap();
    found
}

/// Returns the centre of the building's bounding box, which lies inside the building.
fn centre(perimeter: &[LatLon]) -> LatLon {
    let (mut south, mut north) = (f64::MAX, f64::MIN);
    let (mut west, mut east) = (f64::MAX, f64::MIN);
    for corner in perimeter {
        south = south.min(corner.latitude);
        north = north.max(corner.latitude);
        west = west.min(corner.longitude);
        east = east.max(corner.longitude);
    }
    LatLon { latitude: (south + north) / 2.0, longitude: (west + east) / 2.0 }
}

#[test]
fn walk_across_post_office_enters_and_leaves_once() {
    let Some(geometry) = geometry() else { return };
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_device(&folder, &geometry);
    let plane = Plane { origin: centre(&geometry.perimeter) };
    let building = polygon(plane, &geometry.perimeter);

    // From 150 m west of the centre to 150 m east, at 1.4 m/s, with 3 m of drifting error
    // and 6 m of reported accuracy.
    let mut receiver = ReceiverError::new(7, 3.0);
    let mut fixes = Vec::new();
    let mut sides = Vec::new();
    for second in 0..=214 {
        let (error_east, error_north) = receiver.next();
        let east = -150.0 + 1.4 * second as f64 + error_east;
        sides.push(building.contains(&Point::new(east, error_north)));
        fixes.push(fix(plane.position(east, error_north), 6.0, T0 + second * 1000));
    }
    assert_eq!(sides.first(), Some(&false), "the walk starts outside");
    assert_eq!(sides.last(), Some(&false), "the walk ends outside");
    assert!(sides.contains(&true), "the walk must cross the building");

    record(&vigil, &clock, fixes);
    vigil.end_shift().unwrap();

    assert_eq!(crossings(&vigil), ["Entered", "Left"]);
    let report = vigil.shift_report().unwrap();
    assert_eq!((report.site_entries, report.site_exits), (1, 1));
    // 300 m walked; the drifting error adds a little.
    assert!((290.0..=335.0).contains(&report.distance_m), "{}", report.distance_m);
}

#[test]
fn guard_at_post_office_wall_makes_no_storm() {
    let Some(geometry) = geometry() else { return };
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_device(&folder, &geometry);
    let centre = centre(&geometry.perimeter);
    let plane = Plane { origin: centre };
    let building = polygon(plane, &geometry.perimeter);

    // The midpoint of the long west wall, from the south-west corner (index 3) to the
    // north-west corner (index 2).
    let (sw, nw) = (plane.metres(geometry.perimeter[3]), plane.metres(geometry.perimeter[2]));
    let wall = ((sw.0 + nw.0) / 2.0, (sw.1 + nw.1) / 2.0);

    // The guard starts in the building, then stands at the wall for ten minutes; fixes
    // with 8 m accuracy drift 4 m either side of it.
    let mut fixes = vec![fix(centre, 6.0, T0)];
    let mut receiver = ReceiverError::new(11, 4.0);
    let mut inside = 0;
    for second in 1..=600 {
        let (error_east, error_north) = receiver.next();
        let at = (wall.0 + error_east, wall.1 + error_north);
        if building.contains(&Point::new(at.0, at.1)) {
            inside += 1;
        }
        fixes.push(fix(plane.position(at.0, at.1), 8.0, T0 + 60_000 + second * 1000));
    }
    assert!((60..=540).contains(&inside), "the fixes must fall on both sides: {inside} inside");
    record(&vigil, &clock, fixes);
    assert_eq!(crossings(&vigil), ["Entered"], "no storm at the wall");

    // Then the guard walks 63 m west, away from the wall.
    let away: Vec<Fix> = (1..=45)
        .map(|second| {
            let east = wall.0 - 1.4 * second as f64;
            fix(plane.position(east, wall.1), 8.0, T0 + 661_000 + second * 1000)
        })
        .collect();
    record(&vigil, &clock, away);
    assert_eq!(crossings(&vigil), ["Entered", "Left"]);
}

/// The same stand at the west wall, for 20 receivers with different errors, straight
/// through the perimeter tracker.
#[test]
fn wall_stand_is_quiet_for_many_receivers() {
    let Some(geometry) = geometry() else { return };
    let centre = centre(&geometry.perimeter);
    let plane = Plane { origin: centre };
    let (sw, nw) = (plane.metres(geometry.perimeter[3]), plane.metres(geometry.perimeter[2]));
    let wall = ((sw.0 + nw.0) / 2.0, (sw.1 + nw.1) / 2.0);

    for seed in 0..20 {
        let mut fence = FenceTracker::new(POST_OFFICE, &geometry.perimeter).unwrap();
        assert_eq!(fence.update(&fix(centre, 6.0, T0)), Some(FenceCrossing::Entered));

        let mut receiver = ReceiverError::new(seed, 4.0);
        for second in 1..=600 {
            let (error_east, error_north) = receiver.next();
            let at = plane.position(wall.0 + error_east, wall.1 + error_north);
            let crossing = fence.update(&fix(at, 8.0, T0 + second * 1000));
            assert_eq!(crossing, None, "receiver {seed}, second {second}");
        }
    }
}

#[test]
fn checkins_at_real_distances() {
    let Some(geometry) = geometry() else { return };
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_device(&folder, &geometry);
    let south_east = geometry.perimeter[4];
    let north_west = geometry.perimeter[0];
    let plane = Plane { origin: south_east };
    let mut receiver = ReceiverError::new(23, 3.0);
    let mut second = 0;
    // Each stand is five minutes after the one before, time enough to walk between them.
    let mut stand_at =
        |vigil: &Vigil, clock: &ManualClock, east: f64, north: f64, origin: LatLon| {
            let plane = Plane { origin };
            let (error_east, error_north) = receiver.next();
            second += 300;
            let time = T0 + second * 1000;
            let position = plane.position(east + error_east, north + error_north);
            clock.set(time);
            vigil.record_fixes(vec![fix(position, 6.0, time)]).unwrap();
            position
        };

    // 10 m south-east of the south-east corner, outside the building: within its radius.
    stand_at(&vigil, &clock, 7.0, -7.0, plane.origin);
    let near = vigil.scan_checkpoint(ScanMethod::Gps, "corner-4").unwrap();
    assert!(near.verification.accepted, "{:?}", near.verification.reasons);

    // At the north-west corner, 245 m away, scanning the south-east corner.
    let position = stand_at(&vigil, &clock, 0.0, 0.0, north_west);
    let far = vigil.scan_checkpoint(ScanMethod::Gps, "corner-4").unwrap();
    assert!(!far.verification.accepted);
    let [CheckinReason::TooFar { distance_m: reported, accuracy_m, radius_m }] =
        far.verification.reasons[..]
    else {
        panic!("{:?}", far.verification.reasons);
    };
    assert!((235.0..=255.0).contains(&reported), "the corners are 245 m apart, not {reported}");
    assert!((reported - distance_m(position, south_east)).abs() < 0.01);
    assert_eq!((accuracy_m, radius_m), (6.0, RADIUS_M));

    // The gate is 348 m from the north-west corner.
    let at_gate = vigil.scan_checkpoint(ScanMethod::Gps, "gate").unwrap();
    let [CheckinReason::TooFar { distance_m: to_gate, .. }] = at_gate.verification.reasons[..]
    else {
        panic!("{:?}", at_gate.verification.reasons);
    };
    assert!((338.0..=358.0).contains(&to_gate), "{to_gate}");

    // Walking up to 15 m from the gate (with 6 m accuracy) is close enough.
    stand_at(&vigil, &clock, 0.0, -15.0, geometry.gate);
    let Location::Fix(current) = vigil.current_location() else { panic!("no fix") };
    let at_gate_now = vigil.scan_checkpoint(ScanMethod::Gps, "gate").unwrap();
    let gap = distance_m(current.position(), geometry.gate);
    assert!(at_gate_now.verification.accepted, "{gap} m: {:?}", at_gate_now.verification.reasons);

    // 40 m from the gate is not, even allowing for the accuracy.
    stand_at(&vigil, &clock, 0.0, -40.0, geometry.gate);
    let short = vigil.scan_checkpoint(ScanMethod::Gps, "gate").unwrap();
    assert_eq!(short.verification.reasons[0].code(), "too_far");
}
