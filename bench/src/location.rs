//! Location checks: fixes per second through validation, plausibility and the geofence
//! test against a loop that only measures distances, and a simulated 12-hour shift at 1 Hz
//! through `Vigil::record_fixes` into the store against bare SQLite inserts.

use std::sync::Arc;
use std::time::Instant;

use rusqlite::{Connection, params};
use vigil_core::location::{FixChecker, StorageRate, distance_m, inside_perimeter, simplify_track};
use vigil_core::model::{Checkpoint, Fix, FixSource, LatLon, Site, Tour};
use vigil_core::{Config, FixOutcome, ManualClock, Vigil};

/// Fixes checked per round of the throughput benchmark.
const FIXES: usize = 1_000_000;

/// A 12-hour shift at one fix per second.
const SHIFT_FIXES: usize = 12 * 60 * 60;

/// Fixes per `record_fixes` call: a shell that hands over its buffer every 30 s.
const BATCH: usize = 30;

const T0: i64 = 1_764_806_400_000;
const ORIGIN: LatLon = LatLon { latitude: 37.8065, longitude: -122.3000 };

/// The recorded walks the simplified track is measured on.
const WALKS: [&str; 3] = [
    "walk_apple_health_export_hacc.gpx",
    "walk_android_app_ns2_prefixed.gpx",
    "phone_maemo_mapper_1hz_hdop.gpx",
];

pub fn run(rounds: usize) {
    shift();
    throughput(rounds);
    simplified_tracks();
}

/// Prints the points kept and the largest deviation of the simplified track of each
/// recorded walk, at three tolerances.
fn simplified_tracks() {
    let folder = match std::env::var_os("VIGIL_DATA_DIR") {
        Some(folder) => std::path::PathBuf::from(folder),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
    };
    println!("simplified track (Ramer-Douglas-Peucker), recorded walks");
    for name in WALKS {
        let Ok(text) = std::fs::read_to_string(folder.join(name)) else {
            println!("  {name}: skipped, not found in {}", folder.display());
            continue;
        };
        let track = track_points(&text);
        for tolerance_m in [2.0, 5.0, 10.0] {
            let simple = simplify_track(&track, tolerance_m);
            println!(
                "  {name:<38} tolerance {tolerance_m:>4.0} m: kept {:>4} of {:>4} points ({:>5.1}%), max deviation {:.2} m",
                simple.points.len(),
                track.len(),
                100.0 * simple.points.len() as f64 / track.len().max(1) as f64,
                simple.max_deviation_m
            );
        }
    }
}

/// Returns the `lat` and `lon` attributes of every track point of a GPX text, whatever
/// the namespace prefix of its elements.
fn track_points(gpx: &str) -> Vec<LatLon> {
    let attribute = |element: &str, name: &str| -> Option<f64> {
        let start = element.find(&format!(" {name}=\""))? + name.len() + 3;
        let end = element[start..].find('"')? + start;
        element[start..end].parse().ok()
    };
    gpx.split('<')
        .filter(|element| {
            element.split([' ', '>']).next().is_some_and(|tag| tag.ends_with("trkpt"))
        })
        .filter_map(|element| {
            Some(LatLon {
                latitude: attribute(element, "lat")?,
                longitude: attribute(element, "lon")?,
            })
        })
        .collect()
}

/// A guard walking a 200 m by 100 m rectangle at 1.4 m/s with a few metres of wobble.
fn walk(count: usize) -> Vec<Fix> {
    let metre = 1.0 / 111_195.0;
    let lap = 600.0;
    (0..count)
        .map(|second| {
            let along = (second as f64 * 1.4) % lap;
            let (east, north) = match along {
                a if a < 200.0 => (a, 0.0),
                a if a < 300.0 => (200.0, a - 200.0),
                a if a < 500.0 => (500.0 - a, 100.0),
                a => (0.0, lap - a),
            };
            let wobble = ((second * 7919) % 11) as f64 * 0.3;
            Fix {
                latitude: ORIGIN.latitude + (north + wobble) * metre,
                longitude: ORIGIN.longitude + east * metre / ORIGIN.latitude.to_radians().cos(),
                accuracy_m: 5.0 + wobble,
                altitude_m: None,
                speed_mps: Some(1.4),
                bearing_deg: None,
                source: FixSource::Gnss,
                mock: false,
                fix_time_ms: T0 + second as i64 * 1000,
            }
        })
        .collect()
}

/// A perimeter of 24 corners around the walk: a real site outline has tens of corners.
fn perimeter() -> Vec<LatLon> {
    let metre = 1.0 / 111_195.0;
    (0..24)
        .map(|index| {
            let angle = index as f64 / 24.0 * std::f64::consts::TAU;
            LatLon {
                latitude: ORIGIN.latitude + (50.0 + 150.0 * angle.sin()) * metre,
                longitude: ORIGIN.longitude + (100.0 + 250.0 * angle.cos()) * metre / 0.79,
            }
        })
        .collect()
}

fn throughput(rounds: usize) {
    let fixes = walk(FIXES);
    let fence = perimeter();
    let mut checked_rates = Vec::new();
    let mut baseline_rates = Vec::new();
    let mut ratios = Vec::new();

    for _ in 0..rounds {
        let baseline = baseline_rate(&fixes);
        let checked = checked_rate(&fixes, &fence);
        baseline_rates.push(baseline);
        checked_rates.push(checked);
        ratios.push(checked / baseline);
    }

    println!("location: {FIXES} fixes per round on one thread, {rounds} rounds, medians");
    println!(
        "  baseline: distance to the previous fix only:           {:>12.0} fixes/s",
        crate::median(baseline_rates)
    );
    println!(
        "  validate + plausibility + geofence (24 corners):       {:>12.0} fixes/s",
        crate::median(checked_rates)
    );
    println!(
        "  ratio checked / baseline (median of per-round ratios): {:>12.2}x",
        crate::median(ratios)
    );
}

fn baseline_rate(fixes: &[Fix]) -> f64 {
    let started = Instant::now();
    let mut total = 0.0;
    for pair in fixes.windows(2) {
        total += distance_m(pair[0].position(), pair[1].position());
    }
    std::hint::black_box(total);
    fixes.len() as f64 / started.elapsed().as_secs_f64()
}

fn checked_rate(fixes: &[Fix], fence: &[LatLon]) -> f64 {
    let mut checker = FixChecker::default();
    let started = Instant::now();
    let mut flagged = 0usize;
    let mut inside = 0usize;
    for fix in fixes {
        if fix.validate().is_err() {
            continue;
        }
        if !checker.check(fix, fix.fix_time_ms).is_empty() {
            flagged += 1;
        }
        if inside_perimeter(fence, fix.position()) {
            inside += 1;
        }
    }
    let rate = fixes.len() as f64 / started.elapsed().as_secs_f64();
    assert_eq!(flagged, 0, "the simulated walk must be plausible");
    std::hint::black_box(inside);
    rate
}

fn shift() {
    let fixes = walk(SHIFT_FIXES);

    let (bare_s, _) = cpu_seconds(|| bare_shift(&fixes));
    let every_fix = StorageRate { min_distance_m: 0.0, ..StorageRate::default() };
    let (all_s, all_stored) = cpu_seconds(|| vigil_shift(&fixes, every_fix));
    let (vigil_s, stored) = cpu_seconds(|| vigil_shift(&fixes, StorageRate::default()));
    let peak_kib = peak_resident_kib();

    println!("shift: {SHIFT_FIXES} fixes (12 h at 1 Hz) in batches of {BATCH}, one run");
    println!("  bare rusqlite insert, 1 txn per batch (CPU):  {bare_s:>8.2} s");
    println!(
        "  Vigil record_fixes, every fix stored (CPU):   {all_s:>8.2} s ({all_stored} stored)"
    );
    println!("  ratio Vigil every fix / bare:                 {:>8.2}x", all_s / bare_s);
    println!("  Vigil record_fixes, default rate (CPU):       {vigil_s:>8.2} s ({stored} stored)");
    println!("  ratio Vigil default rate / bare:              {:>8.2}x", vigil_s / bare_s);
    match peak_kib {
        Some(kib) => println!(
            "  peak resident memory of the process so far:   {:>8.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("  peak resident memory: unavailable (needs /proc/self/status)"),
    }
}

fn bare_shift(fixes: &[Fix]) -> usize {
    let folder = tempfile::tempdir().expect("failed to create a temp folder");
    let mut connection =
        Connection::open(folder.path().join("bare.db")).expect("failed to open SQLite");
    connection.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())).unwrap();
    connection.pragma_update(None, "synchronous", "FULL").unwrap();
    connection
        .execute_batch("CREATE TABLE fixes (id TEXT PRIMARY KEY, time_ms INTEGER, body TEXT)")
        .unwrap();

    for batch in fixes.chunks(BATCH) {
        let transaction = connection.transaction().unwrap();
        for fix in batch {
            let body = serde_json::json!({
                "latitude": fix.latitude, "longitude": fix.longitude, "accuracy_m": fix.accuracy_m,
            });
            transaction
                .execute(
                    "INSERT INTO fixes (id, time_ms, body) VALUES (?1, ?2, ?3)",
                    params![uuid::Uuid::now_v7().to_string(), fix.fix_time_ms, body.to_string()],
                )
                .unwrap();
        }
        transaction.commit().unwrap();
    }
    fixes.len()
}

fn vigil_shift(fixes: &[Fix], storage_rate: StorageRate) -> usize {
    let folder = tempfile::tempdir().expect("failed to create a temp folder");
    let clock = ManualClock::new(T0);
    let mut config = Config::new("bench-device", "bench-guard", "http://127.0.0.1:9", "code");
    config.storage_rate = storage_rate;
    let vigil =
        Vigil::open_with_clock(folder.path().join("device.db"), config, Arc::new(clock.clone()))
            .expect("failed to open Vigil");
    vigil.store().save_sites(&[site()], None).expect("the bench site must be valid");
    vigil.start_shift(Some("bench-site".into())).unwrap();

    let mut stored = 0;
    for batch in fixes.chunks(BATCH) {
        clock.set(batch.last().map_or(T0, |fix| fix.fix_time_ms));
        let outcomes = vigil.record_fixes(batch.to_vec()).unwrap();
        stored +=
            outcomes.iter().filter(|outcome| matches!(outcome, FixOutcome::Stored { .. })).count();
    }
    vigil.end_shift().unwrap();
    let rounds = vigil.shift_report().unwrap().tour_rounds.len();
    assert_eq!(rounds, 12, "an hourly tour over 12 hours closes 12 rounds");
    stored
}

/// The site of the simulated shift: the perimeter and an hourly tour of two checkpoints
/// that the walk passes, so rounds close during the shift.
fn site() -> Site {
    let checkpoint = |id: &str, position: LatLon| Checkpoint {
        id: id.to_string(),
        name: id.to_string(),
        position,
        radius_m: 20.0,
        tags: Vec::new(),
    };
    Site {
        id: "bench-site".into(),
        name: "Bench site".into(),
        perimeter: perimeter(),
        checkpoints: vec![
            checkpoint("start", ORIGIN),
            checkpoint("far-corner", walk(215)[214].position()),
        ],
        tours: vec![Tour {
            id: "hourly".into(),
            name: "Hourly".into(),
            checkpoint_ids: vec!["start".into(), "far-corner".into()],
            ordered: false,
            every_minutes: 60,
            timing: Default::default(),
        }],
        revision: 1,
    }
}

/// Runs `work` and returns the CPU time (user and system) it took, in seconds, with its
/// result. Falls back to wall time where /proc is missing.
fn cpu_seconds<T>(work: impl FnOnce() -> T) -> (f64, T) {
    let before = process_cpu_seconds();
    let started = Instant::now();
    let result = work();
    let seconds = match (before, process_cpu_seconds()) {
        (Some(before), Some(after)) => after - before,
        _ => started.elapsed().as_secs_f64(),
    };
    (seconds, result)
}

/// Returns the process's user and system CPU time in seconds, from /proc/self/stat (Linux).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may contain spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    // NOTE: assumes the kernel's USER_HZ of 100, the value on every mainstream Linux build.
    Some((user + system) / 100.0)
}

/// Returns the process's peak resident set size in KiB, from /proc/self/status (Linux).
fn peak_resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
