use std::sync::Arc;

use super::*;
use crate::clock::ManualClock;
use crate::location::StorageRate;
use crate::model::{
    Checkpoint, CheckpointTag, Fix, FixFlag, FixSource, Incident, LatLon, Location, NoFixReason,
    RecordBody, ScanMethod, Severity, Site, Tour,
};
use crate::store::SyncState;

pub(super) const T0: i64 = 1_764_806_400_000;
const GATE: LatLon = LatLon { latitude: 45.5000, longitude: -73.5600 };

pub(super) fn site() -> Site {
    Site {
        id: "depot".into(),
        name: "Depot".into(),
        perimeter: vec![
            LatLon { latitude: 45.499, longitude: -73.561 },
            LatLon { latitude: 45.501, longitude: -73.561 },
            LatLon { latitude: 45.501, longitude: -73.559 },
            LatLon { latitude: 45.499, longitude: -73.559 },
        ],
        checkpoints: vec![
            Checkpoint {
                id: "gate".into(),
                name: "Gate".into(),
                position: GATE,
                radius_m: 20.0,
                tags: vec![CheckpointTag {
                    method: ScanMethod::Nfc,
                    value: "04:A2:19".into(),
                    min_rssi_dbm: None,
                }],
            },
            Checkpoint {
                id: "dock".into(),
                name: "Dock".into(),
                position: LatLon { latitude: 45.5005, longitude: -73.5600 },
                radius_m: 20.0,
                tags: vec![
                    CheckpointTag {
                        method: ScanMethod::Qr,
                        value: "depot/dock".into(),
                        min_rssi_dbm: None,
                    },
                    CheckpointTag {
                        method: ScanMethod::Ble,
                        value: "beacon-dock".into(),
                        min_rssi_dbm: Some(-75),
                    },
                ],
            },
        ],
        tours: vec![Tour {
            id: "night".into(),
            name: "Night round".into(),
            checkpoint_ids: vec!["gate".into(), "dock".into()],
            ordered: true,
            every_minutes: 60,
            timing: Default::default(),
        }],
        revision: 1,
    }
}

pub(super) fn fix_near_gate(metres_north: f64, time_ms: i64) -> Fix {
    Fix {
        latitude: GATE.latitude + metres_north / 111_195.0,
        longitude: GATE.longitude,
        accuracy_m: 5.0,
        altitude_m: Some(30.0),
        speed_mps: Some(1.4),
        bearing_deg: Some(0.0),
        source: FixSource::Gnss,
        mock: false,
        fix_time_ms: time_ms,
    }
}

/// Opens a device whose server address refuses connections.
pub(super) fn open_offline(folder: &tempfile::TempDir) -> (Vigil, ManualClock) {
    let clock = ManualClock::new(T0);
    let mut config = Config::new("device-1", "guard-7", "http://127.0.0.1:9", "code");
    config.sync_attempts = 1;
    config.request_timeout_ms = 2_000;
    let vigil =
        Vigil::open_with_clock(folder.path().join("device.db"), config, Arc::new(clock.clone()))
            .unwrap();
    vigil.store().save_sites(&[site()], None).unwrap();
    (vigil, clock)
}

#[test]
fn scan_near_checkpoint_is_accepted() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();
    vigil.record_fixes(vec![fix_near_gate(3.0, T0)]).unwrap();

    let check_in = vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap();
    assert!(check_in.verification.accepted, "{:?}", check_in.verification);

    let (record, state) = vigil.store().record(check_in.record_id).unwrap();
    assert_eq!(state, SyncState::Stored);
    assert!(matches!(record.location, Location::Fix(_)));
}

#[test]
fn scan_reasons_cover_tag_distance_and_age() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();

    let no_fix = vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap();
    assert_eq!(no_fix.verification.reasons[0].code(), "no_fix");

    vigil.record_fixes(vec![fix_near_gate(300.0, T0)]).unwrap();
    let far = vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap();
    assert_eq!(far.verification.reasons[0].code(), "too_far");

    let unknown = vigil.scan_checkpoint(ScanMethod::Qr, "somewhere/else").unwrap();
    assert_eq!(unknown.verification.reasons[0].code(), "unknown_tag");

    clock.advance(60_000);
    assert_eq!(vigil.current_location(), Location::NoFix { reason: NoFixReason::Stale });
    let stale = vigil.scan_checkpoint(ScanMethod::Qr, "depot/dock").unwrap();
    assert_eq!(stale.verification.reasons[0].code(), "no_fix");
}

#[test]
fn invalid_fixes_are_rejected_and_valid_ones_kept() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);

    let mut nan = fix_near_gate(0.0, T0);
    nan.latitude = f64::NAN;
    let mut out_of_range = fix_near_gate(0.0, T0);
    out_of_range.longitude = 181.0;
    let outcomes = vigil
        .record_fixes(vec![
            nan,
            fix_near_gate(0.0, T0),
            out_of_range,
            fix_near_gate(10.0, T0 + 1000),
        ])
        .unwrap();

    assert!(matches!(&outcomes[0], FixOutcome::Rejected { field, .. } if field == "latitude"));
    assert!(matches!(&outcomes[1], FixOutcome::Stored { flags, .. } if flags.is_empty()));
    assert!(matches!(&outcomes[2], FixOutcome::Rejected { field, .. } if field == "longitude"));
    assert!(matches!(&outcomes[3], FixOutcome::Stored { flags, .. } if flags.is_empty()));
    assert_eq!(vigil.store().sync_counts().unwrap().captured, 2);
}

#[test]
fn flagged_fix_is_stored_but_not_attached() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let mut mocked = fix_near_gate(0.0, T0);
    mocked.mock = true;

    let outcomes = vigil.record_fixes(vec![mocked]).unwrap();
    let FixOutcome::Stored { id, flags } = &outcomes[0] else { panic!("{outcomes:?}") };
    assert_eq!(flags, &vec![FixFlag::Mock]);
    let (record, _) = vigil.store().record(*id).unwrap();
    assert_eq!(record.body, RecordBody::Fix { flags: vec![FixFlag::Mock] });
    assert_eq!(vigil.current_location(), Location::NoFix { reason: NoFixReason::Unavailable });
}

#[test]
fn bad_incident_text_is_rejected_with_field() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let cases = [("", "incident.text"), (&"x".repeat(20_000)[..], "incident.text")];
    for (text, expected_field) in cases {
        let incident =
            Incident { category: "theft".into(), severity: Severity::Low, text: text.into() };
        let error = vigil.log_incident(incident).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidInput { field, .. } if field == expected_field),
            "{error:?}"
        );
    }
    assert_eq!(vigil.store().sync_counts().unwrap().captured, 0);
}

#[test]
fn shift_state_errors_are_clear() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    assert!(matches!(vigil.end_shift(), Err(Error::InvalidState(_))));
    assert!(matches!(
        vigil.start_shift(Some("nowhere".into())),
        Err(Error::NotFound { what: "site", .. })
    ));
    vigil.start_shift(None).unwrap();
    assert!(matches!(vigil.start_shift(None), Err(Error::InvalidState(_))));
}

#[test]
fn report_counts_visits_and_misses() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();
    let walk: Vec<Fix> =
        (0..20).map(|second| fix_near_gate(second as f64, T0 + second * 1000)).collect();
    vigil.record_fixes(walk).unwrap();
    vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap();
    vigil.end_shift().unwrap();

    let report = vigil.shift_report().unwrap();
    assert_eq!(report.checkpoints_visited, vec!["gate".to_string()]);
    assert_eq!(report.checkpoints_missed, vec!["dock".to_string()]);
    // A 19 m walk at 1 m/s is stored every 5 m: at 0, 5, 10 and 15 m.
    assert_eq!(report.fixes, 4);
    assert!((report.distance_m - 15.0).abs() < 0.5, "{}", report.distance_m);
    assert_eq!(report.pending, report.captured);
}

/// A fix `metres_north` of the gate with no reported course, as a standing receiver gives.
fn still_fix(metres_north: f64, time_ms: i64) -> Fix {
    Fix { speed_mps: Some(0.0), bearing_deg: None, ..fix_near_gate(metres_north, time_ms) }
}

#[test]
fn standing_guard_stores_few_fixes() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();

    // Three minutes at 1 Hz, wandering up to 1.5 m around one spot.
    let jitter = |second: i64| 1.5 * ((second as f64) * 0.7).sin();
    let minute: Vec<Fix> =
        (0..180).map(|second| still_fix(jitter(second), T0 + second * 1000)).collect();
    clock.set(T0 + 179_000);
    let outcomes = vigil.record_fixes(minute).unwrap();

    let stored = outcomes.iter().filter(|o| matches!(o, FixOutcome::Stored { .. })).count();
    let skipped = outcomes.iter().filter(|o| matches!(o, FixOutcome::Skipped)).count();
    assert_eq!(stored, 6, "one fix every 30 s");
    assert_eq!(stored + skipped, 180);

    let Location::Fix(current) = vigil.current_location() else { panic!("no current fix") };
    assert_eq!(current.fix_time_ms, T0 + 179_000, "the newest trusted fix, though not stored");
    let scan = vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap();
    let scan_record = vigil.store().record(scan.record_id).unwrap().0;
    assert_eq!(scan_record.location.fix().map(|fix| fix.fix_time_ms), Some(T0 + 179_000));

    let report = vigil.shift_report().unwrap();
    assert_eq!(report.fixes, 6);
    assert_eq!(report.distance_m, 0.0, "jitter is no patrol");
}

#[test]
fn flagged_fix_is_always_stored() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    vigil.start_shift(None).unwrap();
    clock.set(T0 + 3_000);

    let mut mocked = still_fix(0.5, T0 + 2_000);
    mocked.mock = true;
    let outcomes = vigil
        .record_fixes(vec![
            still_fix(0.0, T0),
            still_fix(0.2, T0 + 1_000),
            mocked,
            still_fix(0.0, T0 + 2_000),
            still_fix(0.3, T0 + 3_000),
        ])
        .unwrap();

    assert!(matches!(&outcomes[0], FixOutcome::Stored { flags, .. } if flags.is_empty()));
    assert_eq!(outcomes[1], FixOutcome::Skipped);
    assert!(matches!(&outcomes[2], FixOutcome::Stored { flags, .. } if flags == &[FixFlag::Mock]));
    let FixOutcome::Stored { flags, .. } = &outcomes[3] else { panic!("{outcomes:?}") };
    assert_eq!(flags, &[FixFlag::DuplicateTime], "a repeated time is evidence too");
    assert_eq!(outcomes[4], FixOutcome::Skipped);
    assert_eq!(vigil.shift_report().unwrap().flagged_fixes, 2);
}

#[test]
fn active_alert_stores_every_fix() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    vigil.record_fixes(vec![still_fix(0.0, T0)]).unwrap();
    vigil.raise_panic().unwrap();

    clock.set(T0 + 10_000);
    let standing: Vec<Fix> =
        (1..=10).map(|second| still_fix(0.1 * second as f64, T0 + second * 1000)).collect();
    let outcomes = vigil.record_fixes(standing).unwrap();
    for outcome in &outcomes {
        assert!(
            matches!(outcome, FixOutcome::Stored { flags, .. } if flags.is_empty()),
            "{outcome:?}"
        );
    }
}

#[test]
fn storage_rate_is_validated() {
    let folder = tempfile::tempdir().unwrap();
    let cases = [
        (
            "storage_rate.min_distance_m",
            StorageRate { min_distance_m: f64::NAN, ..StorageRate::default() },
        ),
        (
            "storage_rate.max_interval_ms",
            StorageRate { max_interval_ms: -1, ..StorageRate::default() },
        ),
        (
            "storage_rate.min_heading_change_deg",
            StorageRate { min_heading_change_deg: 0.0, ..StorageRate::default() },
        ),
        (
            "storage_rate.min_heading_change_deg",
            StorageRate { min_heading_change_deg: 200.0, ..StorageRate::default() },
        ),
    ];
    for (expected_field, storage_rate) in cases {
        let mut config = Config::new("device-1", "guard-7", "http://127.0.0.1:9", "code");
        config.storage_rate = storage_rate;
        let error = Vigil::open(folder.path().join("device.db"), config).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidInput { field, .. } if field == expected_field),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn offline_sync_loses_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let panic = vigil.raise_panic_and_send().await.unwrap();
    assert_eq!(panic.delivered_at_ms, None);

    let error = vigil.sync_now().await.unwrap_err();
    assert!(matches!(error, Error::Offline(_)), "{error:?}");
    let counts = vigil.store().sync_counts().unwrap();
    assert_eq!((counts.pending, counts.pending_panics), (1, 1));
}

/// Serves one canned HTTP reply to every connection on a loopback port.
async fn canned_server(reply: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = vec![0; 64 * 1024];
            let _ = socket.read(&mut buffer).await;
            let _ = socket.write_all(reply.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn garbage_reply_keeps_records_queued() {
    let replies = [
        "HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot json!",
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\noops",
        "garbage that is not HTTP at all\r\n\r\n",
    ];
    for reply in replies {
        let folder = tempfile::tempdir().unwrap();
        let url = canned_server(reply).await;
        let mut config = Config::new("device-1", "guard-7", url, "code");
        config.sync_attempts = 2;
        config.retry_base_delay_ms = 1;
        let vigil = Vigil::open(folder.path().join("device.db"), config).unwrap();
        let incident =
            Incident { category: "theft".into(), severity: Severity::Low, text: "x".into() };
        let stored = vigil.log_incident(incident).unwrap();

        let error = vigil.sync_now().await.unwrap_err();
        assert!(matches!(error, Error::Server { .. } | Error::Offline(_)), "{reply}: {error:?}");
        let (record, state) = vigil.store().record(stored.id).unwrap();
        assert_eq!(record, stored);
        assert_eq!(state, SyncState::Stored);
    }
}

#[test]
fn push_batches_stay_within_byte_limit() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let text = "x".repeat(10_000);
    for _ in 0..300 {
        let incident =
            Incident { category: "note".into(), severity: Severity::Low, text: text.clone() };
        vigil.log_incident(incident).unwrap();
    }

    let batch = vigil.store().outbox_batch(250, 1024 * 1024).unwrap();
    let bytes: usize = batch.iter().map(|record| record.json.len()).sum();
    assert!(bytes <= 1024 * 1024, "{bytes}");
    assert!(batch.len() > 90 && batch.len() < 110, "{}", batch.len());
    let page = vigil.store().outbox_page(batch.len(), None).unwrap();
    for (queued, record) in batch.iter().zip(&page) {
        assert_eq!(queued.id, record.id);
        assert_eq!(serde_json::from_str::<crate::model::Record>(&queued.json).unwrap(), *record);
    }

    let single = vigil.store().outbox_batch(250, 10).unwrap();
    assert_eq!(single.len(), 1, "an oversized record is still sent alone");
}
