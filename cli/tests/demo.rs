//! `vigil demo`: the simulated shift against the in-process server.

mod common;

use common::{stderr, stdout, vigil, vigil_json};

#[test]
fn demo_syncs_everything() {
    let report = vigil_json(&["demo", "--json"]);
    let shift = &report["shift"];
    let sync = &report["sync"];

    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
    assert_eq!(shift["pending"], 0, "{shift:#}");
    assert_eq!(sync["device_pending"], 0, "{sync:#}");
    assert_eq!(shift["captured"], shift["synced"], "{shift:#}");
    assert_eq!(sync["server_records"], sync["device_synced"], "{sync:#}");
    // About 660 m walked, stored every 5 m or so, with the scans and incidents.
    assert!(sync["device_synced"].as_u64().unwrap() > 100, "{sync:#}");
}

#[test]
fn demo_report_shows_the_script() {
    let report = vigil_json(&["demo", "--json", "--seed", "11"]);
    let shift = &report["shift"];
    let ids = |list: &str| -> Vec<String> {
        shift[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };

    assert_eq!(ids("checkpoints_missed"), ["cp-fuel"]);
    assert_eq!(
        ids("checkpoints_visited"),
        ["cp-gate", "cp-dock", "cp-server", "cp-park", "cp-fence"]
    );

    let refusals = shift["refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 1, "{refusals:#?}");
    assert_eq!(refusals[0]["checkpoint"]["id"], "cp-park");
    assert_eq!(refusals[0]["reasons"][0]["code"], "too_far");
    let text = refusals[0]["reasons"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("You are 5"), "{text}");

    assert_eq!(shift["incidents"].as_array().unwrap().len(), 2);
    assert_eq!(shift["panics"], 1);
    assert_eq!(shift["flagged_fixes"], 0, "walking at 1.4 m/s must not be flagged");
    // The path is 659 m long; the receiver's error may add a little, but not much.
    let distance = shift["distance_m"].as_f64().unwrap();
    assert!((600.0..750.0).contains(&distance), "distance {distance} m");
}

#[test]
fn demo_survives_the_outage() {
    let report = vigil_json(&["demo", "--json"]);
    let sync = &report["sync"];

    let error = sync["offline_sync_error"].as_str().unwrap();
    assert!(error.starts_with("server unreachable"), "{error}");
    assert!(sync["queued_during_outage"].as_u64().unwrap() > 30, "{sync:#}");
    assert!(
        sync["panic_delivery_ms"].is_u64(),
        "the panic alert was not delivered at once: {sync:#}"
    );
    let wall_time = sync["wall_time_ms"].as_u64().unwrap();
    assert!(wall_time < 10_000, "the demo took {wall_time} ms");
}

#[test]
fn demo_text_report_shows_zero_pending() {
    let output = vigil(&["demo"]);
    let text = stdout(&output);

    assert!(output.status.success(), "stderr:\n{}", stderr(&output));
    assert!(text.contains(" synced, 0 pending"), "{text}");
    assert!(text.contains("checkpoints missed:   1 — Fuel store (cp-fuel)"), "{text}");
    assert!(text.contains("[too_far] You are"), "{text}");
    assert!(text.contains("(matches)"), "{text}");
}

#[test]
fn demo_speaks_spanish() {
    let report = vigil_json(&["demo", "--json", "--language", "es"]);
    let text = report["shift"]["refusals"][0]["reasons"][0]["text"].as_str().unwrap();

    assert!(text.starts_with("Está a "), "{text}");
}
