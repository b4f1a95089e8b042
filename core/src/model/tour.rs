use serde::{Deserialize, Serialize};

/// The result of one round of a patrol tour, recorded when its window closes or its shift
/// ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TourRound {
    /// The tour.
    pub tour_id: String,
    /// The round's number, from 0 at the tour's first scheduled round.
    pub round: i64,
    /// When the round opened, in milliseconds since the Unix epoch (device clock).
    pub opens_at_ms: i64,
    /// When the round's window closes, in milliseconds since the Unix epoch (device clock).
    pub closes_at_ms: i64,
    /// The accepted scans of the round, in scan order, one per checkpoint.
    pub visits: Vec<TourVisit>,
    /// The tour's checkpoints without an accepted scan in the round, in tour order.
    pub missed: Vec<String>,
    /// Whether two consecutive scans of the round were further apart than the tour allows.
    pub late: bool,
    /// Whether the round was walked completely, partly or not at all.
    pub status: RoundStatus,
    /// What closed the round.
    pub closed_by: RoundClosedBy,
}

/// An accepted scan that counted for a tour round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TourVisit {
    /// The visited checkpoint.
    pub checkpoint_id: String,
    /// When it was scanned, in milliseconds since the Unix epoch (device clock).
    pub scanned_at_ms: i64,
}

/// How much of a round was walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundStatus {
    /// Every checkpoint was visited.
    Completed,
    /// Some checkpoints were visited, some missed.
    Incomplete,
    /// No checkpoint was visited.
    Missed,
}

impl RoundStatus {
    /// Returns the stable code of the status.
    pub fn code(self) -> &'static str {
        match self {
            RoundStatus::Completed => "completed",
            RoundStatus::Incomplete => "incomplete",
            RoundStatus::Missed => "missed",
        }
    }
}

/// What closed a tour round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundClosedBy {
    /// The round's window closed.
    WindowClosed,
    /// The shift ended while the round was open.
    ShiftEnded,
}
