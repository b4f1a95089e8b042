//! Tours and location trust through the `Vigil` facade, on a real store.

use super::tests::{T0, fix_near_gate, open_offline, site};
use crate::model::{
    CheckinReason, RecordBody, RoundClosedBy, RoundStatus, ScanMethod, Site, TourTiming,
};

const MINUTE: i64 = 60_000;

/// The gate and dock are 55.6 m apart on the same meridian.
const DOCK_NORTH_M: f64 = 55.6;

fn site_with_timing(timing: TourTiming) -> Site {
    let mut site = site();
    site.tours[0].timing = timing;
    site.revision = 2;
    site
}

fn codes(reasons: &[CheckinReason]) -> Vec<&'static str> {
    reasons.iter().map(CheckinReason::code).collect()
}

#[test]
fn mocked_newest_fix_refuses_scan() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();
    vigil.record_fixes(vec![fix_near_gate(2.0, T0)]).unwrap();

    clock.advance(1_000);
    let mut mocked = fix_near_gate(2.5, T0 + 1_000);
    mocked.mock = true;
    vigil.record_fixes(vec![mocked]).unwrap();

    let check_in = vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap();
    assert!(!check_in.verification.accepted);
    assert_eq!(codes(&check_in.verification.reasons), ["mock_location"]);
    assert!(check_in.verification.tour_ids.is_empty());
}

#[test]
fn implausible_newest_fix_refuses_scan() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();
    vigil.record_fixes(vec![fix_near_gate(2.0, T0)]).unwrap();

    clock.advance(1_000);
    vigil.record_fixes(vec![fix_near_gate(900.0, T0 + 1_000)]).unwrap();

    let check_in = vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap();
    assert_eq!(
        check_in.verification.reasons,
        vec![CheckinReason::ImplausibleLocation { flags: vec!["implausible_speed".into()] }]
    );
}

#[test]
fn frozen_receiver_refuses_scan() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();
    vigil.record_fixes(vec![fix_near_gate(2.0, T0)]).unwrap();

    let repeats: Vec<_> = (1..=125).map(|second| fix_near_gate(2.0, T0 + second * 1000)).collect();
    clock.advance(125_000);
    vigil.record_fixes(repeats).unwrap();
    let check_in = vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap();
    assert_eq!(
        check_in.verification.reasons,
        vec![CheckinReason::ImplausibleLocation { flags: vec!["frozen".into()] }]
    );
}

#[test]
fn ordered_tour_credits_scans_in_order() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();

    clock.advance(MINUTE);
    vigil.record_fixes(vec![fix_near_gate(1.0, T0 + 2 * MINUTE)]).unwrap();
    let gate = vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap();
    assert!(gate.verification.accepted, "{:?}", gate.verification);
    assert_eq!(gate.verification.tour_ids, vec!["night".to_string()]);

    let progress = vigil.tour_progress().unwrap();
    assert_eq!(progress.len(), 1);
    assert_eq!(progress[0].next_checkpoint_id.as_deref(), Some("dock"));

    clock.advance(MINUTE);
    vigil.record_fixes(vec![fix_near_gate(DOCK_NORTH_M, T0 + 3 * MINUTE)]).unwrap();
    let dock = vigil.scan_checkpoint(ScanMethod::Qr, "depot/dock").unwrap();
    assert!(dock.verification.accepted, "{:?}", dock.verification);
    assert!(vigil.tour_progress().unwrap()[0].remaining.is_empty());
}

#[test]
fn ordered_tour_refuses_going_back() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();

    clock.advance(MINUTE);
    vigil.record_fixes(vec![fix_near_gate(DOCK_NORTH_M, T0 + MINUTE)]).unwrap();
    let skipped_ahead = vigil.scan_checkpoint(ScanMethod::Qr, "depot/dock").unwrap();
    assert!(skipped_ahead.verification.accepted, "{:?}", skipped_ahead.verification);

    clock.advance(MINUTE);
    vigil.record_fixes(vec![fix_near_gate(1.0, T0 + 2 * MINUTE)]).unwrap();
    let back = vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap();
    assert_eq!(
        back.verification.reasons,
        vec![CheckinReason::OutOfOrder {
            tour_id: "night".into(),
            after_checkpoint_id: "dock".into()
        }]
    );
    assert!(back.verification.tour_ids.is_empty());
}

#[test]
fn rushed_scan_is_too_soon() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    let timing = TourTiming { min_seconds_between_scans: Some(120), ..Default::default() };
    vigil.store().save_sites(&[site_with_timing(timing)], None).unwrap();
    vigil.start_shift(Some("depot".into())).unwrap();

    vigil.record_fixes(vec![fix_near_gate(1.0, T0)]).unwrap();
    assert!(vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap().verification.accepted);

    // A dock fix 10 s later: 55 m in 10 s is a run, but the scan must wait 120 s.
    clock.advance(10_000);
    vigil.record_fixes(vec![fix_near_gate(DOCK_NORTH_M, T0 + 10_000)]).unwrap();
    let rushed = vigil.scan_checkpoint(ScanMethod::Qr, "depot/dock").unwrap();
    assert_eq!(
        rushed.verification.reasons,
        vec![CheckinReason::TooSoon {
            tour_id: "night".into(),
            seconds_since_last_scan: 10,
            min_seconds: 120
        }]
    );
}

#[test]
fn closed_window_records_missed_round_offline() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();
    vigil.record_fixes(vec![fix_near_gate(1.0, T0)]).unwrap();
    vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap();

    clock.advance(59 * MINUTE);
    assert!(vigil.check_tours().unwrap().is_empty());

    clock.advance(MINUTE);
    let closed = vigil.check_tours().unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].status, RoundStatus::Incomplete);
    assert_eq!(closed[0].missed, vec!["dock".to_string()]);
    assert!(vigil.check_tours().unwrap().is_empty(), "a round is recorded once");

    // Fixes alone close the next round two hours later, with no scan at all.
    clock.advance(60 * MINUTE);
    vigil.record_fixes(vec![fix_near_gate(1.0, T0 + 120 * MINUTE)]).unwrap();
    let report = vigil.shift_report().unwrap();
    let statuses: Vec<RoundStatus> = report.tour_rounds.iter().map(|round| round.status).collect();
    assert_eq!(statuses, [RoundStatus::Incomplete, RoundStatus::Missed]);

    let progress = &vigil.tour_progress().unwrap()[0];
    assert_eq!((progress.rounds_incomplete, progress.rounds_missed), (1, 1));
}

#[test]
fn shift_end_closes_open_round() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();
    clock.advance(10 * MINUTE);
    vigil.end_shift().unwrap();

    let report = vigil.shift_report().unwrap();
    assert_eq!(report.tour_rounds.len(), 1);
    let round = &report.tour_rounds[0];
    assert_eq!(round.closed_by, RoundClosedBy::ShiftEnded);
    assert_eq!(round.status, RoundStatus::Missed);
    assert_eq!(round.missed, vec!["gate".to_string(), "dock".to_string()]);

    let stored = vigil.store().shift_records_of_kinds(report.shift_id.unwrap(), &["tour_round"]);
    assert!(
        matches!(&stored.unwrap()[..], [record] if matches!(record.body, RecordBody::TourRound(_)))
    );
    assert!(vigil.tour_progress().unwrap().is_empty(), "no shift is active");
}

#[test]
fn scan_between_windows_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    let timing = TourTiming {
        first_round_at_ms: Some(T0 + 30 * MINUTE),
        window_minutes: Some(15),
        ..Default::default()
    };
    vigil.store().save_sites(&[site_with_timing(timing)], None).unwrap();
    vigil.start_shift(Some("depot".into())).unwrap();

    clock.advance(MINUTE);
    vigil.record_fixes(vec![fix_near_gate(1.0, T0 + MINUTE)]).unwrap();
    let early = vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap();
    assert_eq!(
        early.verification.reasons,
        vec![CheckinReason::OutsideTourWindow { tour_id: "night".into(), minutes_until_open: 29 }]
    );

    clock.advance(30 * MINUTE);
    vigil.record_fixes(vec![fix_near_gate(1.5, T0 + 31 * MINUTE)]).unwrap();
    assert!(vigil.scan_checkpoint(ScanMethod::Nfc, "04:A2:19").unwrap().verification.accepted);
}

#[test]
fn invalid_site_is_not_stored() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let mut bow_tie = site();
    bow_tie.id = "bow-tie".into();
    bow_tie.perimeter.swap(2, 3);

    let error = vigil.store().save_sites(&[bow_tie], Some(9)).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("\"bow-tie\""), "{message}");
    assert!(message.contains("self-intersection"), "{message}");
    assert!(vigil.store().site("bow-tie").unwrap().is_none());

    let mut unknown_checkpoint = site();
    unknown_checkpoint.tours[0].checkpoint_ids.push("roof".into());
    let message = vigil.store().save_sites(&[unknown_checkpoint], None).unwrap_err().to_string();
    assert!(message.contains("\"roof\""), "{message}");
}

#[test]
fn walk_through_site_records_entry_and_exit() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();

    // From 150 m south of the gate to 150 m north; the fence is 111 m either side.
    let walk: Vec<_> = (0..=215)
        .map(|second| fix_near_gate(-150.0 + 1.4 * second as f64, T0 + second * 1000))
        .collect();
    clock.advance(215_000);
    for batch in walk.chunks(30) {
        vigil.record_fixes(batch.to_vec()).unwrap();
    }

    let report = vigil.shift_report().unwrap();
    assert_eq!(report.site_entries, 1);
    assert_eq!(report.site_exits, 1);

    let shift_id = report.shift_id.unwrap();
    let crossings = vigil.store().shift_records_of_kinds(shift_id, &["site_fence"]).unwrap();
    assert_eq!(crossings.len(), 2);
    let entry_fix = crossings[0].location.fix().expect("a crossing carries its fix");
    let metres_north = (entry_fix.latitude - 45.5000) * 111_195.0;
    assert!((-111.0 + 5.0..-90.0).contains(&metres_north), "entered at {metres_north} m");
}

#[test]
fn beacon_needs_strong_signal() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();
    clock.advance(MINUTE);
    vigil.record_fixes(vec![fix_near_gate(DOCK_NORTH_M, T0 + MINUTE)]).unwrap();

    let weak = vigil.scan_beacon("beacon-dock", -90).unwrap();
    assert_eq!(
        weak.verification.reasons,
        vec![CheckinReason::WeakSignal { rssi_dbm: Some(-90), min_rssi_dbm: -75 }]
    );
    let without_strength = vigil.scan_checkpoint(ScanMethod::Ble, "beacon-dock").unwrap();
    assert_eq!(codes(&without_strength.verification.reasons), ["weak_signal"]);

    let strong = vigil.scan_beacon("beacon-dock", -60).unwrap();
    assert!(strong.verification.accepted, "{:?}", strong.verification);
    assert_eq!(strong.verification.checkpoint_id.as_deref(), Some("dock"));

    let error = vigil.scan_beacon("beacon-dock", -300).unwrap_err();
    assert!(
        matches!(&error, crate::Error::InvalidInput { field, .. } if field == "rssi_dbm"),
        "{error:?}"
    );
}

#[test]
fn gps_only_check_in_names_checkpoint() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    vigil.start_shift(Some("depot".into())).unwrap();
    vigil.record_fixes(vec![fix_near_gate(3.0, T0)]).unwrap();

    let check_in = vigil.scan_checkpoint(ScanMethod::Gps, "gate").unwrap();
    assert!(check_in.verification.accepted, "{:?}", check_in.verification);
    assert_eq!(check_in.verification.tour_ids, vec!["night".to_string()]);
    let unknown = vigil.scan_checkpoint(ScanMethod::Gps, "roof").unwrap();
    assert_eq!(codes(&unknown.verification.reasons), ["unknown_tag"]);
}
