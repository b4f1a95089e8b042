//! The state of one tour during a shift, rebuilt from stored visits and closed rounds.

use std::collections::BTreeSet;

use super::schedule::{Round, Schedule, Slot};
use crate::model::{CheckinReason, RoundClosedBy, RoundStatus, Tour, TourRound, TourVisit};

/// Most rounds closed by one call of [`TourLog::due_rounds`]. A shift of 24 hours with a
/// round every minute has 1,440; more means a clock jump, and closing them all would flood
/// the outbox.
const MAX_ROUNDS_PER_CHECK: usize = 2_000;

/// One tour during one shift: its schedule, the accepted scans credited to it and the
/// rounds already recorded as closed.
#[derive(Debug, Clone)]
pub struct TourLog<'a> {
    tour: &'a Tour,
    schedule: Schedule,
    shift_started_at_ms: i64,
    visits: Vec<TourVisit>,
    closed: Vec<TourRound>,
    closed_rounds: BTreeSet<i64>,
}

/// Where a tour stands now, for the app to show.
#[derive(Debug, Clone, PartialEq)]
pub struct TourProgress {
    /// The tour.
    pub tour_id: String,
    /// The tour's display name.
    pub name: String,
    /// Whether the checkpoints must be visited in order.
    pub ordered: bool,
    /// The open round, if one is open now.
    pub open_round: Option<Round>,
    /// When the next round opens, in milliseconds since the Unix epoch.
    pub next_round_opens_at_ms: i64,
    /// The accepted scans of the open round, one per checkpoint, in scan order.
    pub visited: Vec<TourVisit>,
    /// The checkpoints of the open round still to visit, in tour order; all of them when
    /// no round is open.
    pub remaining: Vec<String>,
    /// The checkpoint to scan next in an ordered tour.
    pub next_checkpoint_id: Option<String>,
    /// Whether the time since the round's last scan is over the tour's maximum.
    pub overdue: bool,
    /// Rounds of the shift closed with every checkpoint visited.
    pub rounds_completed: u32,
    /// Rounds of the shift closed with some checkpoints visited.
    pub rounds_incomplete: u32,
    /// Rounds of the shift closed with no checkpoint visited.
    pub rounds_missed: u32,
}

impl<'a> TourLog<'a> {
    /// Builds the log of `tour` for a shift started at `shift_started_at_ms`, from the
    /// visits credited to the tour and the round records stored during the shift. Visits
    /// and rounds of other tours are ignored; order does not matter.
    pub fn new(
        tour: &'a Tour,
        shift_started_at_ms: i64,
        visits: impl IntoIterator<Item = TourVisit>,
        closed: impl IntoIterator<Item = TourRound>,
    ) -> Self {
        let mut visits: Vec<TourVisit> = visits.into_iter().collect();
        visits.sort_by_key(|visit| visit.scanned_at_ms);
        let closed: Vec<TourRound> =
            closed.into_iter().filter(|round| round.tour_id == tour.id).collect();
        let closed_rounds = closed.iter().map(|round| round.round).collect();

        Self {
            tour,
            schedule: Schedule::new(tour, shift_started_at_ms),
            shift_started_at_ms,
            visits,
            closed,
            closed_rounds,
        }
    }

    /// Returns the tour.
    pub fn tour(&self) -> &Tour {
        self.tour
    }

    /// Returns the open round at `at_ms`, or the next one to open.
    pub fn slot_at(&self, at_ms: i64) -> Slot {
        self.schedule.slot_at(at_ms)
    }

    /// Returns why a scan of `checkpoint_id` at `at_ms` cannot count for the tour: no round
    /// open, the wrong checkpoint of an ordered tour, or too soon after the tour's previous
    /// scan. Empty when it counts.
    pub fn check_scan(&self, checkpoint_id: &str, at_ms: i64) -> Vec<CheckinReason> {
        let round = match self.schedule.slot_at(at_ms) {
            Slot::Open(round) => round,
            Slot::Closed { next } => {
                let minutes = (next.opens_at_ms - at_ms + 59_999) / 60_000;
                return vec![CheckinReason::OutsideTourWindow {
                    tour_id: self.tour.id.clone(),
                    minutes_until_open: minutes,
                }];
            }
        };
        let mut reasons = Vec::new();

        // An ordered tour may skip ahead (the skipped checkpoints are then missed) but
        // never go back to a checkpoint listed before the furthest one scanned.
        let visited = self.round_visits(round);
        let already_visited = visited.iter().any(|visit| visit.checkpoint_id == checkpoint_id);
        if self.tour.ordered && !already_visited {
            let furthest = self.furthest_position(&visited);
            if let (Some(furthest), Some(position)) = (furthest, self.position(checkpoint_id)) {
                if position < furthest {
                    reasons.push(CheckinReason::OutOfOrder {
                        tour_id: self.tour.id.clone(),
                        after_checkpoint_id: self.tour.checkpoint_ids[furthest].clone(),
                    });
                }
            }
        }

        if let (Some(min_seconds), Some(last)) =
            (self.tour.timing.min_seconds_between_scans, self.visits.last())
        {
            let since_ms = at_ms - last.scanned_at_ms;
            if since_ms < i64::from(min_seconds) * 1000 {
                reasons.push(CheckinReason::TooSoon {
                    tour_id: self.tour.id.clone(),
                    seconds_since_last_scan: since_ms.div_euclid(1000),
                    min_seconds,
                });
            }
        }
        reasons
    }

    /// Returns the results of the rounds whose window closed at or before `now_ms` and that
    /// are not recorded yet, oldest first. Rounds that closed before the shift started are
    /// not the shift's.
    pub fn due_rounds(&self, now_ms: i64) -> Vec<TourRound> {
        let first = self.schedule.first_round_from(self.shift_started_at_ms);
        let mut due = Vec::new();
        let mut index = first.index;

        loop {
            let round = self.schedule.round(index);
            if round.closes_at_ms > now_ms {
                break;
            }
            if due.len() == MAX_ROUNDS_PER_CHECK {
                tracing::warn!(
                    tour = %self.tour.id,
                    "more than {MAX_ROUNDS_PER_CHECK} tour rounds closed at once; \
                     the rest are closed at the next check"
                );
                break;
            }
            if !self.closed_rounds.contains(&index) {
                due.push(self.result(round, RoundClosedBy::WindowClosed));
            }
            index += 1;
        }
        due
    }

    /// Returns the result of the round open at `now_ms`, closed early because the shift
    /// ends, unless it is recorded already.
    pub fn close_for_shift_end(&self, now_ms: i64) -> Option<TourRound> {
        let round = self.schedule.round_of(now_ms)?;
        if self.closed_rounds.contains(&round.index) {
            return None;
        }
        Some(self.result(round, RoundClosedBy::ShiftEnded))
    }

    /// Returns when the next round after `now_ms` closes, so the caller knows when to look
    /// again.
    pub fn next_close_after(&self, now_ms: i64) -> i64 {
        match self.schedule.slot_at(now_ms) {
            Slot::Open(round) | Slot::Closed { next: round } => round.closes_at_ms,
        }
    }

    /// Returns where the tour stands at `now_ms`.
    pub fn progress(&self, now_ms: i64) -> TourProgress {
        let (open_round, next) = match self.schedule.slot_at(now_ms) {
            Slot::Open(round) => (Some(round), self.schedule.round(round.index + 1)),
            Slot::Closed { next } => (None, next),
        };
        let visited = open_round.map(|round| self.round_visits(round)).unwrap_or_default();
        let remaining = self.remaining(&visited);

        let overdue = match (open_round, self.tour.timing.max_seconds_between_scans) {
            (Some(_), Some(max_seconds)) if !remaining.is_empty() => visited
                .iter()
                .map(|visit| visit.scanned_at_ms)
                .max()
                .is_some_and(|last| now_ms - last > i64::from(max_seconds) * 1000),
            _ => false,
        };

        let count = |status| self.closed.iter().filter(|round| round.status == status).count();
        TourProgress {
            tour_id: self.tour.id.clone(),
            name: self.tour.name.clone(),
            ordered: self.tour.ordered,
            open_round,
            next_round_opens_at_ms: next.opens_at_ms,
            next_checkpoint_id: if self.tour.ordered { self.next_in_order(&visited) } else { None },
            visited,
            remaining,
            overdue,
            rounds_completed: count(RoundStatus::Completed) as u32,
            rounds_incomplete: count(RoundStatus::Incomplete) as u32,
            rounds_missed: count(RoundStatus::Missed) as u32,
        }
    }

    fn result(&self, round: Round, closed_by: RoundClosedBy) -> TourRound {
        let visits = self.round_visits(round);
        let missed = self.remaining(&visits);
        let status = match (visits.is_empty(), missed.is_empty()) {
            (_, true) => RoundStatus::Completed,
            (true, false) => RoundStatus::Missed,
            (false, false) => RoundStatus::Incomplete,
        };
        let late = self.tour.timing.max_seconds_between_scans.is_some_and(|max_seconds| {
            visits.windows(2).any(|pair| {
                pair[1].scanned_at_ms - pair[0].scanned_at_ms > i64::from(max_seconds) * 1000
            })
        });

        TourRound {
            tour_id: self.tour.id.clone(),
            round: round.index,
            opens_at_ms: round.opens_at_ms,
            closes_at_ms: round.closes_at_ms,
            visits,
            missed,
            late,
            status,
            closed_by,
        }
    }

    /// Returns the first visit of each checkpoint during `round`, in scan order.
    fn round_visits(&self, round: Round) -> Vec<TourVisit> {
        let mut visits: Vec<TourVisit> = Vec::new();
        for visit in &self.visits {
            let inside = (round.opens_at_ms..round.closes_at_ms).contains(&visit.scanned_at_ms);
            let counted = visits.iter().any(|seen| seen.checkpoint_id == visit.checkpoint_id);
            let on_tour = self.tour.checkpoint_ids.contains(&visit.checkpoint_id);
            if inside && on_tour && !counted {
                visits.push(visit.clone());
            }
        }
        visits
    }

    /// Returns the position in the tour of a checkpoint.
    fn position(&self, checkpoint_id: &str) -> Option<usize> {
        self.tour.checkpoint_ids.iter().position(|id| id == checkpoint_id)
    }

    /// Returns the position of the furthest visited checkpoint, in tour order.
    fn furthest_position(&self, visited: &[TourVisit]) -> Option<usize> {
        visited.iter().filter_map(|visit| self.position(&visit.checkpoint_id)).max()
    }

    /// Returns the checkpoint an ordered tour goes on with: the first one after the
    /// furthest visited.
    fn next_in_order(&self, visited: &[TourVisit]) -> Option<String> {
        let start = self.furthest_position(visited).map_or(0, |furthest| furthest + 1);
        self.tour.checkpoint_ids.get(start).cloned()
    }

    /// Returns the tour's checkpoints not in `visited`, in tour order.
    fn remaining(&self, visited: &[TourVisit]) -> Vec<String> {
        self.tour
            .checkpoint_ids
            .iter()
            .filter(|id| !visited.iter().any(|visit| &visit.checkpoint_id == *id))
            .cloned()
            .collect()
    }
}
