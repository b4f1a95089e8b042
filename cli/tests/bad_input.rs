//! `vigil replay` on files it cannot use: a clear error, a non-zero exit, no panic.

mod common;

use std::path::Path;

use common::{stderr, vigil};

/// Runs a replay expected to fail and returns stderr.
fn replay_error(track: &Path) -> String {
    let output = vigil(&["replay", "--track", track.to_str().unwrap()]);
    let message = stderr(&output);

    assert_eq!(output.status.code(), Some(1), "stderr:\n{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(
        message.contains(&track.display().to_string()),
        "the message does not name the file: {message}"
    );
    message
}

fn write(folder: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = folder.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn missing_file_is_not_found() {
    let folder = tempfile::tempdir().unwrap();
    let message = replay_error(&folder.path().join("nowhere.gpx"));

    assert!(message.contains("not found"), "{message}");
}

#[test]
fn empty_file_is_empty() {
    let folder = tempfile::tempdir().unwrap();
    let message = replay_error(&write(folder.path(), "empty.gpx", b""));

    assert!(message.contains("is empty"), "{message}");
}

#[test]
fn binary_file_is_binary() {
    let folder = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> =
        (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let message = replay_error(&write(folder.path(), "photo.gpx", &bytes));

    assert!(message.contains("binary"), "{message}");
}

#[test]
fn nan_coordinate_is_invalid_gpx() {
    let folder = tempfile::tempdir().unwrap();
    let gpx = br#"<?xml version="1.0"?>
<gpx version="1.1" creator="test"><trk><trkseg>
<trkpt lat="NaN" lon="5.0"><time>2020-01-01T00:00:00Z</time></trkpt>
</trkseg></trk></gpx>"#;
    let message = replay_error(&write(folder.path(), "nan.gpx", gpx));

    assert!(message.contains("is not valid GPX"), "{message}");
    assert!(message.contains("NaN"), "{message}");
}

#[test]
fn out_of_range_coordinate_is_invalid_gpx() {
    let folder = tempfile::tempdir().unwrap();
    let gpx = br#"<gpx version="1.0"><trk><trkseg>
<trkpt lat="48.1" lon="181.5"><time>2020-01-01T00:00:00Z</time></trkpt>
</trkseg></trk></gpx>"#;
    let message = replay_error(&write(folder.path(), "range.gpx", gpx));

    assert!(message.contains("is not valid GPX"), "{message}");
    assert!(message.contains("181.5"), "{message}");
}

#[test]
fn truncated_gpx_is_invalid() {
    let folder = tempfile::tempdir().unwrap();
    let gpx = br#"<gpx version="1.1"><trk><trkseg><trkpt lat="1" lon="2">"#;
    let message = replay_error(&write(folder.path(), "cut.gpx", gpx));

    assert!(message.contains("is not valid GPX"), "{message}");
}

#[test]
fn unknown_format_is_named() {
    let folder = tempfile::tempdir().unwrap();
    let message = replay_error(&write(folder.path(), "notes.gpx", b"shift notes, not a track\n"));

    assert!(message.contains("neither GPX"), "{message}");
}

#[test]
fn invalid_site_names_the_site_file() {
    let folder = tempfile::tempdir().unwrap();
    let track = write(
        folder.path(),
        "t.gpx",
        br#"<gpx version="1.1"><trk><trkseg><trkpt lat="1" lon="2"><time>2020-01-01T00:00:00Z</time></trkpt></trkseg></trk></gpx>"#,
    );
    let site =
        write(folder.path(), "site.geojson", br#"{"type":"FeatureCollection","features":[]}"#);
    let output =
        vigil(&["replay", "--track", track.to_str().unwrap(), "--site", site.to_str().unwrap()]);
    let message = stderr(&output);

    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("site.geojson: has no Polygon feature"), "{message}");
}
