//! `vigil replay` on the real recorded tracks in the shared data folder, and on small
//! synthetic files for the site check-ins.
//!
//! Each data-file test checks that the file's known defects come out as rejections or
//! flags, and that walking is not flagged as an implausible speed.

mod common;

use std::path::Path;

use common::{count, data_dir, group, stderr, vigil, vigil_json};
use serde_json::Value;

/// Replays a data file as JSON, or returns `None` when the data folder is missing.
fn replay(file: &str) -> Option<Value> {
    let path = data_dir()?.join(file);
    Some(vigil_json(&["replay", "--track", path.to_str().unwrap(), "--json"]))
}

/// Returns the `at` texts of a group's examples.
fn examples(report: &Value, list: &str, reason: &str) -> Vec<String> {
    group(report, list, reason)
        .map(|group| {
            group["examples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["at"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn example_times(report: &Value, list: &str, reason: &str) -> Vec<String> {
    group(report, list, reason)
        .map(|group| {
            group["examples"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| e["time"].as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn apple_walk_is_clean() {
    let Some(report) = replay("walk_apple_health_export_hacc.gpx") else { return };

    assert_eq!(report["input"]["format"], "gpx11");
    // 68 m at 1.3 to 2.0 m/s, one fix a second: stored about every 5 m.
    assert_eq!(report["input"]["fixes_offered"], 44);
    assert_eq!(report["shift"]["fixes"], 12);
    assert_eq!(report["input"]["fixes_skipped"], 32);
    let distance = report["shift"]["distance_m"].as_f64().unwrap();
    assert!((60.0..=68.0).contains(&distance), "distance {distance} m");
    assert_eq!(report["shift"]["flagged_fixes"], 0, "{report:#}");
    assert_eq!(report["rejected"], serde_json::json!([]));
    let notes = report["input"]["notes"].to_string();
    assert!(notes.contains("hAcc"), "the dropped hAcc is not reported: {notes}");
}

#[test]
fn prefixed_android_walk_is_read() {
    let Some(report) = replay("walk_android_app_ns2_prefixed.gpx") else { return };

    assert_eq!(report["input"]["fixes_offered"], 702);
    // At 12 s a fix, nearly every fix is more than 5 m from the one before.
    assert_eq!(report["shift"]["fixes"], 680);
    assert_eq!(report["input"]["fixes_skipped"], 22);
    let distance = report["shift"]["distance_m"].as_f64().unwrap();
    assert!((13_000.0..=13_700.0).contains(&distance), "13.6 km walked, not {distance} m");
    assert_eq!(count(&report, "flagged", "implausible_speed"), 0, "{report:#}");
    assert!(report["input"]["notes"].to_string().contains("no version attribute"));
    // Point 166 repeats point 165 exactly, 143 s later: a re-sent stale fix.
    assert_eq!(count(&report, "flagged", "frozen"), 1, "{report:#}");
    assert_eq!(example_times(&report, "flagged", "frozen"), ["2015-04-05T13:13:57.000Z"]);
}

#[test]
fn maemo_duplicate_time_is_flagged() {
    let Some(report) = replay("phone_maemo_mapper_1hz_hdop.gpx") else { return };

    assert_eq!(count(&report, "flagged", "duplicate_time"), 1);
    assert_eq!(example_times(&report, "flagged", "duplicate_time"), ["2009-05-19T04:07:35.000Z"]);
    assert_eq!(count(&report, "flagged", "implausible_speed"), 0, "{report:#}");
    assert_eq!(report["input"]["accuracy_from_hdop"], 2747);
    // The receiver's static hold repeats positions at stops, for less than two minutes.
    assert_eq!(count(&report, "flagged", "frozen"), 0, "{report:#}");
    let notes = report["input"]["notes"].to_string();
    assert!(notes.contains("55 fixes are 2D"), "{notes}");
    assert!(notes.contains("longest: 12 s after point 37"), "{notes}");
}

#[test]
fn jump_after_dropout_is_implausible_speed() {
    let Some(report) = replay("handheld_walk_and_drive_8_segments.gpx") else { return };

    assert_eq!(count(&report, "flagged", "implausible_speed"), 1, "{report:#}");
    assert_eq!(
        example_times(&report, "flagged", "implausible_speed"),
        ["2010-08-05T15:40:02.000Z"]
    );
    assert_eq!(report["shift"]["fixes"], 294);
    assert_eq!(report["input"]["fixes_skipped"], 2);
    assert!(report["input"]["notes"].to_string().contains("track 1, segment 1 is empty"));
}

#[test]
fn bogus_1901_times_are_flagged() {
    let Some(report) = replay("handheld_hike_bogus_1901_timestamps.gpx") else { return };

    assert_eq!(count(&report, "flagged", "implausible_time"), 184);
    // 184 equal times (to the millisecond) make 183 duplicates.
    assert_eq!(count(&report, "flagged", "duplicate_time"), 183);
    assert_eq!(report["shift"]["distance_m"], 0.0);
}

#[test]
fn segment_without_times_is_rejected() {
    let Some(report) = replay("handheld_hike_segment_without_times.gpx") else { return };

    assert_eq!(count(&report, "rejected", "missing timestamp"), 358);
    assert_eq!(
        examples(&report, "rejected", "missing timestamp")[0],
        "point 1 (track 2, segment 1, point 1)"
    );
    assert_eq!(report["shift"]["fixes"], 512);
    assert_eq!(report["input"]["fixes_skipped"], 1);
    assert_eq!(count(&report, "flagged", "implausible_speed"), 0, "{report:#}");
}

#[test]
fn telit_first_fix_steps_back() {
    let Some(report) = replay("nmea_telit_he910_cellular_module.log") else { return };

    assert_eq!(report["input"]["format"], "nmea");
    assert_eq!(count(&report, "flagged", "time_backwards"), 1, "{report:#}");
    assert_eq!(example_times(&report, "flagged", "time_backwards"), ["2019-03-12T10:51:53.408Z"]);
    assert_eq!(count(&report, "rejected", "void fix"), 37);
    assert_eq!(count(&report, "rejected", "checksum mismatch"), 0);
    assert_eq!(count(&report, "flagged", "implausible_speed"), 0);
    // The module lies still: its 187 fixes are stored twice a minute and add no distance.
    assert_eq!(report["input"]["fixes_offered"], 187);
    assert_eq!(report["shift"]["fixes"], 8);
    assert_eq!(report["shift"]["distance_m"], 0.0);
    // Second 10:51:55 is missing from the log.
    let notes = report["input"]["notes"].to_string();
    assert!(notes.contains("1 time gaps of at least 2 s"), "{notes}");
}

#[test]
fn coldboot_defects_are_reported() {
    let Some(report) = replay("nmea_gps320fw_coldboot_week_rollover.log") else { return };

    // The log has 134 sentence lines: 86 intact, 47 corrupt (a wrong checksum, cut off,
    // glued to the next sentence or full of NUL bytes) and one proprietary $PLCS restart
    // marker without a checksum, which is skipped rather than rejected.
    let bad_lines: u64 = [
        "checksum mismatch",
        "glued sentences",
        "missing checksum",
        "truncated sentence",
        "corrupt characters",
    ]
    .iter()
    .map(|reason| count(&report, "rejected", reason))
    .sum();
    assert_eq!(bad_lines, 47, "{report:#}");
    assert!(count(&report, "rejected", "checksum mismatch") >= 30);
    assert!(count(&report, "rejected", "glued sentences") >= 5);
    assert_eq!(count(&report, "rejected", "missing date"), 1, "the RMC with an empty date");

    assert!(count(&report, "flagged", "null_island") >= 10, "{report:#}");
    assert!(count(&report, "flagged", "implausible_time") >= 10);
    assert!(count(&report, "flagged", "time_backwards") >= 1);
    let times = example_times(&report, "flagged", "time_backwards");
    assert!(times[0].starts_with("2006-12-16"), "{times:?}");
}

#[test]
fn every_data_file_runs_without_a_crash() {
    let Some(folder) = data_dir() else { return };
    let mut files = Vec::new();
    collect_files(&folder, &mut files);
    assert!(files.len() >= 10, "{files:?}");

    for file in files {
        let output = vigil(&["replay", "--track", file.to_str().unwrap(), "--json"]);
        let message = stderr(&output);
        let is_track = matches!(file.extension().and_then(|e| e.to_str()), Some("gpx" | "log"));

        assert!(!message.contains("panicked"), "{}: {message}", file.display());
        if is_track {
            assert!(output.status.success(), "{}: {message}", file.display());
        } else {
            assert_eq!(output.status.code(), Some(1), "{}: {message}", file.display());
            assert!(message.contains(&file.display().to_string()), "{message}");
        }
    }
}

/// Every flag the core raised must be on a stored fix (flagged fixes are evidence), and
/// every fix offered must be stored, skipped at the storage rate or rejected by the core.
/// Only the 184 m jump after a dropout may be flagged as an implausible speed.
#[test]
fn every_track_keeps_its_flagged_fixes() {
    let Some(folder) = data_dir() else { return };
    let mut files = Vec::new();
    collect_files(&folder, &mut files);
    files.retain(|file| matches!(file.extension().and_then(|e| e.to_str()), Some("gpx" | "log")));
    assert_eq!(files.len(), 8, "{files:?}");

    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let report = vigil_json(&["replay", "--track", file.to_str().unwrap(), "--json"]);

        for flagged in report["flagged"].as_array().unwrap() {
            let code = flagged["reason"].as_str().unwrap();
            let stored = &report["shift"]["flags"][code];
            assert_eq!(&flagged["count"], stored, "{name}: {code} fixes not all stored");
        }

        let rejected_by_core: u64 = report["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|group| group["reason"].as_str().unwrap().starts_with("invalid "))
            .map(|group| group["count"].as_u64().unwrap())
            .sum();
        let stored = report["shift"]["fixes"].as_u64().unwrap();
        let skipped = report["input"]["fixes_skipped"].as_u64().unwrap();
        let offered = report["input"]["fixes_offered"].as_u64().unwrap();
        assert_eq!(stored + skipped + rejected_by_core, offered, "{name}");

        let jumps = count(&report, "flagged", "implausible_speed");
        let expected = u64::from(name == "handheld_walk_and_drive_8_segments.gpx");
        assert_eq!(jumps, expected, "{name}: walking flagged as implausible speed");
    }
}

fn collect_files(folder: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

#[test]
fn oakland_site_loads_from_geojson() {
    let Some(folder) = data_dir() else { return };
    let track = folder.join("walk_apple_health_export_hacc.gpx");
    let site = folder.join("site_west_oakland_features.geojson");
    let args =
        ["replay", "--track", track.to_str().unwrap(), "--site", site.to_str().unwrap(), "--json"];

    let report = vigil_json(&args);
    assert_eq!(report["shift"]["site"], "way/52538639", "the largest building is the post office");
    let missed = report["shift"]["checkpoints_missed"].as_array().unwrap();
    // 13 corners of the post office and 21 Point features.
    assert_eq!(missed.len(), 34);
    assert!(report["input"]["notes"].to_string().contains("no closer than"));

    let mut picked = args.to_vec();
    picked.extend(["--perimeter-id", "way/121551547"]);
    assert_eq!(vigil_json(&picked)["shift"]["site"], "way/121551547");
}

/// A 100 m square site near 0.5° N 0.5° E with a gate in the middle of its south side,
/// and a walk 3 m outside that side, past both south corners and the gate.
#[test]
fn walk_past_checkpoints_checks_in() {
    let folder = tempfile::tempdir().unwrap();
    let degree = 1.0 / 111_195.0;
    let (lat0, lon0) = (0.5, 0.5);
    let corner = |east: f64, north: f64| [lon0 + east * degree, lat0 + north * degree];
    let site = serde_json::json!({
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": "yard", "properties": {"building": "warehouse", "name": "Yard"},
             "geometry": {"type": "Polygon", "coordinates": [[corner(0.0, 0.0), corner(100.0, 0.0), corner(100.0, 100.0), corner(0.0, 100.0), corner(0.0, 0.0)]]}},
            {"type": "Feature", "id": "gate", "properties": {"barrier": "gate"},
             "geometry": {"type": "Point", "coordinates": corner(50.0, 0.0)}}
        ]
    });
    let site_path = folder.path().join("yard.geojson");
    std::fs::write(&site_path, site.to_string()).unwrap();

    let mut gpx =
        String::from(r#"<?xml version="1.0"?><gpx version="1.0" creator="test"><trk><trkseg>"#);
    for second in 0..=80 {
        let [lon, lat] = corner(-5.0 + 1.4 * second as f64, -3.0);
        gpx.push_str(&format!(
            r#"<trkpt lat="{lat:.7}" lon="{lon:.7}"><time>2024-05-01T22:{:02}:{:02}Z</time><hdop>1.0</hdop></trkpt>"#,
            second / 60,
            second % 60
        ));
    }
    gpx.push_str("</trkseg></trk></gpx>");
    let track_path = folder.path().join("walk.gpx");
    std::fs::write(&track_path, gpx).unwrap();

    let report = vigil_json(&[
        "replay",
        "--track",
        track_path.to_str().unwrap(),
        "--site",
        site_path.to_str().unwrap(),
        "--json",
    ]);
    let visited: Vec<&str> = report["shift"]["checkpoints_visited"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();

    assert_eq!(visited, ["yard#corner1", "yard#corner2", "gate"]);
    assert_eq!(report["shift"]["checkpoints_missed"].as_array().unwrap().len(), 2);
    assert_eq!(report["shift"]["refusals"], serde_json::json!([]));

    let rounds = report["shift"]["tour_rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 1, "{rounds:?}");
    assert_eq!(rounds[0]["status"], "incomplete");
    assert_eq!(rounds[0]["closed_by"], "shift_ended");
    assert_eq!(rounds[0]["visited"].as_array().unwrap().len(), 3);
    assert_eq!(rounds[0]["missed"].as_array().unwrap().len(), 2);
}
