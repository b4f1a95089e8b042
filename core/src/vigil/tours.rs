//! Tours on the device: closing rounds when their window closes, crediting scans and
//! reporting progress, all from the local store so it works offline.

use std::sync::MutexGuard;

use uuid::Uuid;

use super::Vigil;
use crate::error::Result;
use crate::model::{CheckinReason, RecordBody, Site, TourRound, TourVisit, Verification};
use crate::tour::{TourLog, TourProgress};

/// How long a computed "next round closes at" time is trusted before it is computed again,
/// in milliseconds. Newly pulled sites and a wall clock set back are caught within this
/// time.
const RECHECK_MS: i64 = 60_000;

/// When the device next has to close a tour round.
#[derive(Debug, Default)]
pub(super) struct TourTimer {
    /// When the next round closes; `None` when unknown.
    due_at_ms: Option<i64>,
    /// When `due_at_ms` was computed.
    computed_at_ms: i64,
}

/// The tour state of the active shift, read from the store.
struct ShiftTours {
    shift_id: Uuid,
    started_at_ms: i64,
    site: Site,
    visits: Vec<(String, TourVisit)>,
    rounds: Vec<TourRound>,
}

impl ShiftTours {
    fn logs(&self) -> impl Iterator<Item = TourLog<'_>> {
        self.site.tours.iter().map(|tour| {
            let visits = self
                .visits
                .iter()
                .filter(|(tour_id, _)| *tour_id == tour.id)
                .map(|(_, visit)| visit.clone());
            TourLog::new(tour, self.started_at_ms, visits, self.rounds.iter().cloned())
        })
    }
}

impl Vigil {
    /// Records every tour round of the active shift whose window has closed and returns
    /// the new round records, oldest first: the missed checkpoints the app should show.
    ///
    /// Recording fixes and scanning checkpoints do this too; call it from a periodic timer
    /// so rounds close on time while the guard does neither.
    ///
    /// # Errors
    ///
    /// Storage errors; then no round was recorded.
    pub fn check_tours(&self) -> Result<Vec<TourRound>> {
        let mut timer = self.tour_timer();
        self.close_due_rounds(&mut timer)
    }

    /// Returns where each tour of the active shift's site stands now. Empty when no shift
    /// is active or its site has no tours.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn tour_progress(&self) -> Result<Vec<TourProgress>> {
        let now_ms = self.now_ms();
        let Some(tours) = self.load_shift_tours()? else {
            return Ok(Vec::new());
        };
        Ok(tours.logs().map(|log| log.progress(now_ms)).collect())
    }

    /// Closes due rounds unless the timer says none is due yet. Failures are logged and
    /// left for the next call, because they must not fail the capture that triggered them.
    pub(super) fn close_due_rounds_if_due(&self) {
        let mut timer = self.tour_timer();
        let now_ms = self.now_ms();
        let fresh = now_ms - timer.computed_at_ms < RECHECK_MS && now_ms >= timer.computed_at_ms;
        if fresh && timer.due_at_ms.is_some_and(|due| now_ms < due) {
            return;
        }
        if let Err(error) = self.close_due_rounds(&mut timer) {
            tracing::warn!(%error, "failed to close due tour rounds; will retry");
        }
    }

    /// Records the due rounds and the rounds still open, closed by the end of the shift.
    pub(super) fn close_rounds_for_shift_end(&self) -> Result<Vec<TourRound>> {
        let mut timer = self.tour_timer();
        let mut closed = self.close_due_rounds(&mut timer)?;

        let now_ms = self.now_ms();
        let Some(tours) = self.load_shift_tours()? else {
            return Ok(closed);
        };
        let ending: Vec<TourRound> =
            tours.logs().filter_map(|log| log.close_for_shift_end(now_ms)).collect();
        self.store_rounds(tours.shift_id, &ending)?;
        closed.extend(ending);

        *timer = TourTimer::default();
        Ok(closed)
    }

    /// Forgets when the next round closes, after a shift starts or ends.
    pub(super) fn reset_tour_timer(&self) {
        *self.tour_timer() = TourTimer::default();
    }

    /// Adds the tour reasons of a scan of `checkpoint_id` on the shift's site and credits
    /// the tours it counts for. A scan counts for every tour of the checkpoint that has no
    /// reason against it, if the location checks passed; when it counts for none, the
    /// reasons of every such tour are reported. The caller holds the tour timer, so two
    /// scans cannot both pass the pace check.
    pub(super) fn apply_tours(
        &self,
        _timer: &mut TourTimer,
        checkpoint_id: &str,
        at_ms: i64,
        verification: &mut Verification,
    ) -> Result<()> {
        let Some(tours) = self.load_shift_tours()? else {
            return Ok(());
        };

        let mut credited = Vec::new();
        let mut tour_reasons: Vec<CheckinReason> = Vec::new();
        for log in tours.logs() {
            if !log.tour().checkpoint_ids.iter().any(|id| id == checkpoint_id) {
                continue;
            }
            let reasons = log.check_scan(checkpoint_id, at_ms);
            if reasons.is_empty() {
                credited.push(log.tour().id.clone());
            } else {
                tour_reasons.extend(reasons);
            }
        }

        if credited.is_empty() {
            verification.reasons.extend(tour_reasons);
        } else if verification.reasons.is_empty() {
            verification.tour_ids = credited;
        }
        Ok(())
    }

    /// Takes the tour timer, which also serializes every tour write.
    pub(super) fn tour_timer(&self) -> MutexGuard<'_, TourTimer> {
        self.inner.tours.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn close_due_rounds(&self, timer: &mut TourTimer) -> Result<Vec<TourRound>> {
        let now_ms = self.now_ms();
        let Some(tours) = self.load_shift_tours()? else {
            *timer = TourTimer { due_at_ms: None, computed_at_ms: now_ms };
            return Ok(Vec::new());
        };

        let due: Vec<TourRound> = tours.logs().flat_map(|log| log.due_rounds(now_ms)).collect();
        self.store_rounds(tours.shift_id, &due)?;

        let next = tours.logs().map(|log| log.next_close_after(now_ms)).min();
        *timer = TourTimer { due_at_ms: next, computed_at_ms: now_ms };
        if !due.is_empty() {
            tracing::info!(rounds = due.len(), "tour rounds closed");
        }
        Ok(due)
    }

    fn store_rounds(&self, shift_id: Uuid, rounds: &[TourRound]) -> Result<()> {
        if rounds.is_empty() {
            return Ok(());
        }
        let records = rounds
            .iter()
            .map(|round| {
                let body = RecordBody::TourRound(round.clone());
                self.new_record(Some(shift_id), self.current_location(), body)
            })
            .collect();
        self.store().append(records)?;
        Ok(())
    }

    fn load_shift_tours(&self) -> Result<Option<ShiftTours>> {
        let Some((shift_id, Some(site_id))) = self.store().active_shift()? else {
            return Ok(None);
        };
        let Some(site) = self.store().site(&site_id)? else {
            return Ok(None);
        };
        if site.tours.is_empty() {
            return Ok(None);
        }
        let Some(started_at_ms) = self.store().shift_started_at_ms(shift_id)? else {
            return Ok(None);
        };

        let mut visits = Vec::new();
        let mut rounds = Vec::new();
        let records =
            self.store().shift_records_of_kinds(shift_id, &["checkpoint_scan", "tour_round"])?;
        for record in records {
            match record.body {
                RecordBody::CheckpointScan { verification, .. } => {
                    let Some(checkpoint_id) = verification.checkpoint_id else { continue };
                    for tour_id in verification.tour_ids {
                        let visit = TourVisit {
                            checkpoint_id: checkpoint_id.clone(),
                            scanned_at_ms: record.captured_at_ms,
                        };
                        visits.push((tour_id, visit));
                    }
                }
                RecordBody::TourRound(round) => rounds.push(round),
                _ => {}
            }
        }
        Ok(Some(ShiftTours { shift_id, started_at_ms, site, visits, rounds }))
    }
}
