use super::*;
use crate::model::{
    CheckinReason, RoundClosedBy, RoundStatus, Tour, TourRound, TourTiming, TourVisit,
};

const MINUTE: i64 = 60_000;
const SHIFT_START: i64 = 1_764_806_400_000;

fn tour(ordered: bool, timing: TourTiming) -> Tour {
    Tour {
        id: "night".into(),
        name: "Night round".into(),
        checkpoint_ids: vec!["gate".into(), "dock".into(), "yard".into()],
        ordered,
        every_minutes: 60,
        timing,
    }
}

fn visit(checkpoint_id: &str, at_ms: i64) -> TourVisit {
    TourVisit { checkpoint_id: checkpoint_id.into(), scanned_at_ms: at_ms }
}

fn codes(reasons: &[CheckinReason]) -> Vec<&'static str> {
    reasons.iter().map(CheckinReason::code).collect()
}

#[test]
fn ordered_tour_refuses_going_back() {
    let tour = tour(true, TourTiming::default());
    let visits = [visit("gate", SHIFT_START + MINUTE), visit("yard", SHIFT_START + 3 * MINUTE)];
    let log = TourLog::new(&tour, SHIFT_START, visits, []);

    let back = log.check_scan("dock", SHIFT_START + 5 * MINUTE);
    assert_eq!(
        back,
        vec![CheckinReason::OutOfOrder {
            tour_id: "night".into(),
            after_checkpoint_id: "yard".into()
        }]
    );
    assert!(
        log.check_scan("gate", SHIFT_START + 5 * MINUTE).is_empty(),
        "a repeat is no step back"
    );
}

#[test]
fn ordered_tour_may_skip_ahead() {
    let tour = tour(true, TourTiming::default());
    let log = TourLog::new(&tour, SHIFT_START, [visit("gate", SHIFT_START + MINUTE)], []);
    assert!(log.check_scan("yard", SHIFT_START + 5 * MINUTE).is_empty());

    let skipped = TourLog::new(
        &tour,
        SHIFT_START,
        [visit("gate", SHIFT_START + MINUTE), visit("yard", SHIFT_START + 5 * MINUTE)],
        [],
    );
    let round = &skipped.due_rounds(SHIFT_START + 60 * MINUTE)[0];
    assert_eq!(round.missed, vec!["dock".to_string()]);
    assert_eq!(skipped.progress(SHIFT_START + 6 * MINUTE).next_checkpoint_id, None);
}

#[test]
fn any_order_tour_accepts_every_checkpoint() {
    let tour = tour(false, TourTiming::default());
    let log = TourLog::new(&tour, SHIFT_START, [visit("gate", SHIFT_START + MINUTE)], []);
    assert!(log.check_scan("yard", SHIFT_START + 5 * MINUTE).is_empty());
}

#[test]
fn scan_too_soon_is_rushing() {
    let timing = TourTiming { min_seconds_between_scans: Some(90), ..Default::default() };
    let tour = tour(false, timing);
    let log = TourLog::new(&tour, SHIFT_START, [visit("gate", SHIFT_START + MINUTE)], []);

    let rushed = log.check_scan("dock", SHIFT_START + MINUTE + 30_500);
    assert_eq!(
        rushed,
        vec![CheckinReason::TooSoon {
            tour_id: "night".into(),
            seconds_since_last_scan: 30,
            min_seconds: 90
        }]
    );
    assert!(log.check_scan("dock", SHIFT_START + MINUTE + 90_000).is_empty());
}

#[test]
fn scan_between_windows_is_outside() {
    let timing = TourTiming {
        first_round_at_ms: Some(SHIFT_START - 30 * MINUTE),
        window_minutes: Some(20),
        ..Default::default()
    };
    let tour = tour(false, timing);
    let log = TourLog::new(&tour, SHIFT_START, [], []);

    // Rounds open at -30, 30, 90 minutes and stay open 20 minutes.
    let reasons = log.check_scan("gate", SHIFT_START + 5 * MINUTE);
    assert_eq!(
        reasons,
        vec![CheckinReason::OutsideTourWindow { tour_id: "night".into(), minutes_until_open: 25 }]
    );
    assert!(log.check_scan("gate", SHIFT_START + 31 * MINUTE).is_empty());
    assert_eq!(codes(&log.check_scan("gate", SHIFT_START + 50 * MINUTE)), ["outside_tour_window"]);
}

#[test]
fn closed_window_reports_missed_checkpoints() {
    let tour = tour(true, TourTiming::default());
    let visits = [visit("gate", SHIFT_START + MINUTE), visit("dock", SHIFT_START + 9 * MINUTE)];
    let log = TourLog::new(&tour, SHIFT_START, visits, []);

    assert!(log.due_rounds(SHIFT_START + 59 * MINUTE).is_empty());
    let due = log.due_rounds(SHIFT_START + 60 * MINUTE);
    assert_eq!(due.len(), 1);
    let round = &due[0];
    assert_eq!(round.round, 0);
    assert_eq!(round.status, RoundStatus::Incomplete);
    assert_eq!(round.missed, vec!["yard".to_string()]);
    assert_eq!(round.visits.len(), 2);
    assert_eq!(round.closed_by, RoundClosedBy::WindowClosed);
    assert_eq!((round.opens_at_ms, round.closes_at_ms), (SHIFT_START, SHIFT_START + 60 * MINUTE));

    let three_hours = log.due_rounds(SHIFT_START + 180 * MINUTE);
    let statuses: Vec<RoundStatus> = three_hours.iter().map(|round| round.status).collect();
    assert_eq!(statuses, [RoundStatus::Incomplete, RoundStatus::Missed, RoundStatus::Missed]);
}

#[test]
fn recorded_rounds_are_not_closed_again() {
    let tour = tour(false, TourTiming::default());
    let first = TourLog::new(&tour, SHIFT_START, [], []).due_rounds(SHIFT_START + 60 * MINUTE);
    let log = TourLog::new(&tour, SHIFT_START, [], first.clone());
    assert!(log.due_rounds(SHIFT_START + 60 * MINUTE).is_empty());
    assert_eq!(log.due_rounds(SHIFT_START + 120 * MINUTE)[0].round, 1);
    assert_eq!(log.progress(SHIFT_START + 61 * MINUTE).rounds_missed, 1);

    let other_tour = TourRound { tour_id: "day".into(), ..first[0].clone() };
    let unrelated = TourLog::new(&tour, SHIFT_START, [], [other_tour]);
    assert_eq!(unrelated.due_rounds(SHIFT_START + 60 * MINUTE).len(), 1);
}

#[test]
fn rounds_before_shift_are_not_reported() {
    let timing =
        TourTiming { first_round_at_ms: Some(SHIFT_START - 600 * MINUTE), ..Default::default() };
    let tour = tour(false, timing);
    let log = TourLog::new(&tour, SHIFT_START + 10 * MINUTE, [], []);
    let due = log.due_rounds(SHIFT_START + 60 * MINUTE);
    assert_eq!(due.len(), 1, "only the round open when the shift started: {due:?}");
    assert_eq!(due[0].round, 10);
}

#[test]
fn shift_end_closes_open_round() {
    let tour = tour(false, TourTiming::default());
    let log = TourLog::new(&tour, SHIFT_START, [visit("yard", SHIFT_START + 70 * MINUTE)], []);
    let round = log.close_for_shift_end(SHIFT_START + 75 * MINUTE).unwrap();
    assert_eq!(round.round, 1);
    assert_eq!(round.closed_by, RoundClosedBy::ShiftEnded);
    assert_eq!(round.missed, vec!["gate".to_string(), "dock".to_string()]);
    assert_eq!(round.status, RoundStatus::Incomplete);
}

#[test]
fn slow_round_is_late_and_overdue() {
    let timing = TourTiming { max_seconds_between_scans: Some(600), ..Default::default() };
    let tour = tour(false, timing);
    let visits = [visit("gate", SHIFT_START + MINUTE), visit("dock", SHIFT_START + 20 * MINUTE)];
    let log = TourLog::new(&tour, SHIFT_START, visits, []);

    let progress = log.progress(SHIFT_START + 25 * MINUTE);
    assert!(!progress.overdue);
    assert_eq!(progress.remaining, vec!["yard".to_string()]);
    assert!(log.progress(SHIFT_START + 31 * MINUTE).overdue);

    let round = &log.due_rounds(SHIFT_START + 60 * MINUTE)[0];
    assert!(round.late);
}

#[test]
fn progress_shows_next_ordered_checkpoint() {
    let tour = tour(true, TourTiming::default());
    let log = TourLog::new(&tour, SHIFT_START, [visit("gate", SHIFT_START + MINUTE)], []);
    let progress = log.progress(SHIFT_START + 2 * MINUTE);
    assert_eq!(progress.next_checkpoint_id.as_deref(), Some("dock"));
    assert_eq!(progress.visited.len(), 1);
    assert_eq!(progress.open_round.map(|round| round.index), Some(0));
    assert_eq!(progress.next_round_opens_at_ms, SHIFT_START + 60 * MINUTE);
}

#[test]
fn invalid_tours_are_named() {
    let site = crate::model::Site {
        id: "depot".into(),
        name: "Depot".into(),
        perimeter: Vec::new(),
        checkpoints: Vec::new(),
        tours: Vec::new(),
        revision: 1,
    };
    let mut bad = tour(false, TourTiming::default());
    let error = validate_tour(&site, &bad).unwrap_err().to_string();
    assert!(error.contains("\"night\""), "{error}");
    assert!(error.contains("gate"), "{error}");

    bad.every_minutes = 0;
    let error = validate_tour(&site, &bad).unwrap_err().to_string();
    assert!(error.contains("every_minutes"), "{error}");
}
