//! After a shift, the device's data folder holds no plaintext: not the incident text, the
//! guard's name, a checkpoint's name or payload, nor a coordinate, whether as decimal text
//! or as an IEEE 754 double in either byte order, nor the content of an attached photo.
//! The scan runs once with the WAL still holding the shift and once after the store closed
//! and checkpointed it.

use std::path::Path;
use std::sync::Arc;

use vigil_core::crypto::PassphraseKek;
use vigil_core::model::{
    Checkpoint, CheckpointTag, Fix, FixSource, Incident, LatLon, ScanMethod, Severity, Site,
};
use vigil_core::{AttachmentFile, Config, ManualClock, Vigil};

const T0: i64 = 1_764_806_400_000;
const GUARD: &str = "Marisol Quintanilha";
const INCIDENT_TEXT: &str = "Broken padlock on the east gate, van ZX-4471 parked outside";
const CHECKPOINT_NAME: &str = "Generator room";
const TAG_PAYLOAD: &str = "yard/generator-7f3a";
const PHOTO_CONTENT: &str = "JFIF photo of the east gate: face of the intruder, plate ZX-4471";
const LATITUDE: f64 = -23.551_234_567;
const LONGITUDE: f64 = -46.633_456_789;

fn site() -> Site {
    Site {
        id: "yard".into(),
        name: "Yard".into(),
        perimeter: vec![
            LatLon { latitude: -23.561, longitude: -46.644 },
            LatLon { latitude: -23.541, longitude: -46.644 },
            LatLon { latitude: -23.541, longitude: -46.622 },
            LatLon { latitude: -23.561, longitude: -46.622 },
        ],
        checkpoints: vec![Checkpoint {
            id: "generator".into(),
            name: CHECKPOINT_NAME.into(),
            position: LatLon { latitude: LATITUDE, longitude: LONGITUDE },
            radius_m: 30.0,
            tags: vec![CheckpointTag {
                method: ScanMethod::Qr,
                value: TAG_PAYLOAD.into(),
                min_rssi_dbm: None,
            }],
        }],
        tours: Vec::new(),
        revision: 1,
    }
}

fn fix(index: i64) -> Fix {
    Fix {
        latitude: LATITUDE,
        longitude: LONGITUDE,
        accuracy_m: 5.0,
        altitude_m: None,
        speed_mps: Some(0.0),
        bearing_deg: None,
        source: FixSource::Gnss,
        mock: false,
        fix_time_ms: T0 + index * 1_000,
    }
}

/// A byte string that must not appear, with a label for the failure message.
struct Needle {
    label: String,
    bytes: Vec<u8>,
}

fn needles() -> Vec<Needle> {
    let mut needles = Vec::new();
    for (label, text) in [
        ("incident text", INCIDENT_TEXT),
        ("incident fragment", "Broken padlock"),
        ("guard name", GUARD),
        ("checkpoint name", CHECKPOINT_NAME),
        ("tag payload", TAG_PAYLOAD),
        ("photo content", PHOTO_CONTENT),
    ] {
        needles.push(Needle { label: label.into(), bytes: text.as_bytes().to_vec() });
    }
    for value in [LATITUDE, LONGITUDE] {
        for decimals in 3..=9 {
            let text = format!("{value:.decimals$}");
            needles.push(Needle { label: format!("coordinate {text}"), bytes: text.into_bytes() });
        }
        let shortest = value.to_string();
        needles.push(Needle { label: format!("coordinate {shortest}"), bytes: shortest.into() });
        needles.push(Needle {
            label: format!("{value} as a little-endian double"),
            bytes: value.to_le_bytes().to_vec(),
        });
        needles.push(Needle {
            label: format!("{value} as a big-endian double"),
            bytes: value.to_be_bytes().to_vec(),
        });
    }
    needles
}

/// Returns the label and file of every needle found in a file of `folder` or of its
/// subfolders, such as the attachment folder.
fn scan_folder(folder: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(scan_folder(&path));
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for needle in needles() {
            if bytes.windows(needle.bytes.len()).any(|window| window == needle.bytes) {
                found.push(format!("{} in {}", needle.label, path.display()));
            }
        }
    }
    found
}

fn open_device(folder: &Path, clock: &ManualClock) -> Vigil {
    let mut config = Config::new("device-scan", GUARD, "http://127.0.0.1:9", "code");
    config.key_encryption_key = Some(Arc::new(PassphraseKek::with_iterations("shift", 1_000)));
    Vigil::open_with_clock(folder.join("device.db"), config, Arc::new(clock.clone()))
        .expect("the device store must open")
}

/// Plays a short shift: a site, fixes, a checkpoint scan, an incident, an incident with a
/// photo and a panic alert. The photo's original lies outside the data folder, as in an
/// app's camera cache.
fn play_shift(device: &Vigil, clock: &ManualClock) {
    device.store().save_sites(&[site()], Some(1)).unwrap();
    device.start_shift(Some("yard".into())).unwrap();
    clock.advance(30_000);
    device.record_fixes((0..30).map(fix).collect()).unwrap();
    let check_in = device.scan_checkpoint(ScanMethod::Qr, TAG_PAYLOAD).unwrap();
    assert!(check_in.verification.accepted, "{:?}", check_in.verification);
    device
        .log_incident(Incident {
            category: "intrusion".into(),
            severity: Severity::High,
            text: INCIDENT_TEXT.into(),
        })
        .unwrap();
    let camera = tempfile::tempdir().unwrap();
    let photo = camera.path().join("gate.jpg");
    std::fs::write(&photo, PHOTO_CONTENT.repeat(2_000)).unwrap();
    let with_photo = device
        .log_incident_with_attachments(
            Incident {
                category: "intrusion".into(),
                severity: Severity::High,
                text: INCIDENT_TEXT.into(),
            },
            vec![AttachmentFile { path: photo, media_type: "image/jpeg".into() }],
        )
        .unwrap();
    assert_eq!(with_photo.attachments.len(), 1, "the photo is attached");
    device.raise_panic().unwrap();
    device.end_shift().unwrap();
}

#[test]
fn shift_leaves_no_plaintext_in_wal() {
    let folder = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let device = open_device(folder.path(), &clock);

    play_shift(&device, &clock);

    let wal = folder.path().join("device.db-wal");
    assert!(wal.metadata().map(|meta| meta.len() > 0).unwrap_or(false), "the WAL holds the shift");
    let found = scan_folder(folder.path());
    assert!(found.is_empty(), "plaintext found with the WAL present: {found:#?}");
    drop(device);
}

#[test]
fn shift_leaves_no_plaintext_after_close() {
    let folder = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let device = open_device(folder.path(), &clock);

    play_shift(&device, &clock);
    drop(device);

    assert!(!folder.path().join("device.db-wal").exists(), "closing checkpointed the WAL");
    let found = scan_folder(folder.path());
    assert!(found.is_empty(), "plaintext found after close: {found:#?}");
}

/// The scan finds each kind of needle in a database that stores the same shift's values
/// in clear columns, so an empty result above means the values are not there.
#[test]
fn scan_catches_clear_columns() {
    let folder = tempfile::tempdir().unwrap();
    let connection = rusqlite::Connection::open(folder.path().join("control.db")).unwrap();
    connection
        .execute_batch("CREATE TABLE records (guard TEXT, body TEXT, latitude REAL, raw BLOB)")
        .unwrap();
    let body = format!("{{\"text\":\"{INCIDENT_TEXT}\",\"latitude\":{LATITUDE}}}");
    connection
        .execute(
            "INSERT INTO records VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![GUARD, body, LONGITUDE, LONGITUDE.to_le_bytes().to_vec()],
        )
        .unwrap();
    drop(connection);
    let attachments = folder.path().join("control.attachments");
    std::fs::create_dir(&attachments).unwrap();
    std::fs::write(attachments.join("gate.jpg"), PHOTO_CONTENT).unwrap();

    let found = scan_folder(folder.path());

    for expected in [
        "photo content",
        "incident text",
        "guard name",
        &format!("coordinate {LATITUDE}"),
        &format!("{LONGITUDE} as a big-endian double"),
        &format!("{LONGITUDE} as a little-endian double"),
    ] {
        assert!(
            found.iter().any(|hit| hit.starts_with(expected)),
            "the scan missed {expected} in the control file: {found:#?}"
        );
    }
}
