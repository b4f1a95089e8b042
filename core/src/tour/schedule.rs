//! When the rounds of a tour open and close.

use crate::error::{Error, Result};
use crate::model::{Site, Tour};

const MINUTE_MS: i64 = 60_000;

/// One scheduled round of a tour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// The round's number, from 0 at the tour's first round.
    pub index: i64,
    /// When the round opens, in milliseconds since the Unix epoch.
    pub opens_at_ms: i64,
    /// When the round's window closes, in milliseconds since the Unix epoch.
    pub closes_at_ms: i64,
}

/// Whether a round of a tour is open at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// This round is open.
    Open(Round),
    /// No round is open; this one opens next.
    Closed {
        /// The next round.
        next: Round,
    },
}

/// The rounds of one tour, anchored at its first round.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    anchor_ms: i64,
    period_ms: i64,
    window_ms: i64,
}

impl Schedule {
    /// Builds the schedule of a valid tour; rounds without a fixed start are anchored at
    /// `shift_started_at_ms`.
    pub(crate) fn new(tour: &Tour, shift_started_at_ms: i64) -> Self {
        let period_ms = i64::from(tour.every_minutes.max(1)) * MINUTE_MS;
        let window_ms = tour
            .timing
            .window_minutes
            .map_or(period_ms, |minutes| (i64::from(minutes) * MINUTE_MS).clamp(1, period_ms));
        let anchor_ms = tour.timing.first_round_at_ms.unwrap_or(shift_started_at_ms);
        Self { anchor_ms, period_ms, window_ms }
    }

    /// Returns round `index`.
    pub(crate) fn round(&self, index: i64) -> Round {
        let opens_at_ms = self.anchor_ms.saturating_add(index.saturating_mul(self.period_ms));
        Round { index, opens_at_ms, closes_at_ms: opens_at_ms.saturating_add(self.window_ms) }
    }

    /// Returns the open round at `at_ms`, or the next one to open.
    pub(crate) fn slot_at(&self, at_ms: i64) -> Slot {
        if at_ms < self.anchor_ms {
            return Slot::Closed { next: self.round(0) };
        }
        let round = self.round((at_ms - self.anchor_ms) / self.period_ms);
        if at_ms < round.closes_at_ms {
            Slot::Open(round)
        } else {
            Slot::Closed { next: self.round(round.index + 1) }
        }
    }

    /// Returns the first round that is still open at `at_ms` or opens after it: the
    /// first round that concerns a shift started then.
    pub(crate) fn first_round_from(&self, at_ms: i64) -> Round {
        match self.slot_at(at_ms) {
            Slot::Open(round) | Slot::Closed { next: round } => round,
        }
    }

    /// Returns the round during which a scan at `at_ms` counts, if any is open.
    pub(crate) fn round_of(&self, at_ms: i64) -> Option<Round> {
        match self.slot_at(at_ms) {
            Slot::Open(round) => Some(round),
            Slot::Closed { .. } => None,
        }
    }
}

/// Checks that a tour of `site` can be scheduled and walked: a positive period, a window no
/// longer than the period, a pace whose minimum is below its maximum, and checkpoints that
/// exist on the site.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the site, the tour and the broken rule.
pub fn validate_tour(site: &Site, tour: &Tour) -> Result<()> {
    let field = || format!("site {:?} tour {:?}", site.id, tour.id);

    if tour.every_minutes == 0 {
        return Err(Error::invalid(field(), "every_minutes must be at least 1"));
    }
    if let Some(window) = tour.timing.window_minutes {
        if window == 0 || window > tour.every_minutes {
            return Err(Error::invalid(
                field(),
                format!("window_minutes {window} is outside 1..={}", tour.every_minutes),
            ));
        }
    }
    if let (Some(min), Some(max)) =
        (tour.timing.min_seconds_between_scans, tour.timing.max_seconds_between_scans)
    {
        if min > max {
            return Err(Error::invalid(
                field(),
                format!("min_seconds_between_scans {min} is over max_seconds_between_scans {max}"),
            ));
        }
    }
    if tour.checkpoint_ids.is_empty() {
        return Err(Error::invalid(field(), "has no checkpoints"));
    }
    for (index, checkpoint_id) in tour.checkpoint_ids.iter().enumerate() {
        if site.checkpoint(checkpoint_id).is_none() {
            return Err(Error::invalid(
                field(),
                format!("checkpoint {checkpoint_id:?} is not a checkpoint of the site"),
            ));
        }
        if tour.checkpoint_ids[..index].contains(checkpoint_id) {
            return Err(Error::invalid(
                field(),
                format!("checkpoint {checkpoint_id:?} is listed twice"),
            ));
        }
    }
    Ok(())
}
