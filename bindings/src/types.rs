//! Records and enums that cross the FFI, with their conversions to and from `vigil-core`.
//!
//! Ids cross as strings (UUIDs in canonical text form) and times as milliseconds since the
//! Unix epoch.

use std::collections::HashMap;

use vigil_core::model;

/// Where a fix came from, as the platform reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FixSource {
    /// A satellite receiver.
    Gnss,
    /// Cell towers or Wi-Fi.
    Network,
    /// The platform's fused provider.
    Fused,
    /// A Bluetooth beacon at a known position.
    Beacon,
    /// Entered by hand.
    Manual,
}

/// One location fix, as the platform reports it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Fix {
    /// Latitude in degrees, WGS 84.
    pub latitude: f64,
    /// Longitude in degrees, WGS 84.
    pub longitude: f64,
    /// Horizontal accuracy in metres (68% confidence radius).
    pub accuracy_m: f64,
    /// Altitude in metres, when known.
    pub altitude_m: Option<f64>,
    /// Ground speed in metres per second, when known.
    pub speed_mps: Option<f64>,
    /// Bearing in degrees from true north, when known.
    pub bearing_deg: Option<f64>,
    /// The provider of the fix.
    pub source: FixSource,
    /// Whether the platform marks the fix as mocked.
    pub mock: bool,
    /// When the fix was taken, in milliseconds since the Unix epoch.
    pub fix_time_ms: i64,
}

/// The outcome of one fix of a batch.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum FixOutcome {
    /// Stored; `flags` lists why it is not trusted (codes such as `implausible_speed`), or
    /// is empty.
    Stored {
        /// The id of the fix record.
        record_id: String,
        /// Stable codes of the fix's flags.
        flags: Vec<String>,
    },
    /// Not stored because a value is invalid.
    Rejected {
        /// The invalid field.
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Checked and trusted, but not stored because it adds nothing to the track at the
    /// configured storage rate. It still counts as the current location.
    Skipped,
}

/// How serious an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Severity {
    /// Worth noting.
    Low,
    /// Needs follow-up.
    Medium,
    /// Needs action during the shift.
    High,
    /// Needs action now.
    Critical,
}

/// How a checkpoint was scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ScanMethod {
    /// An NFC tag's UID.
    Nfc,
    /// A QR code's text.
    Qr,
    /// A BLE beacon's id.
    Ble,
    /// Position only; the payload is the checkpoint id.
    Gps,
}

/// A reason a check-in was refused: a stable code, its parameters, and the project's text
/// for it in the requested language.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CheckinReason {
    /// A stable code, such as `too_far` or `unknown_tag`.
    pub code: String,
    /// Parameters of the code, such as `distance_m`.
    pub params: HashMap<String, String>,
}

/// A stored checkpoint scan and its verification.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CheckIn {
    /// The id of the scan record.
    pub record_id: String,
    /// Whether the scan counts as a visit.
    pub accepted: bool,
    /// The checkpoint the tag belongs to, when known.
    pub checkpoint_id: Option<String>,
    /// Why the scan was refused; empty when accepted.
    pub reasons: Vec<CheckinReason>,
    /// The tours the accepted scan counts for.
    pub tour_ids: Vec<String>,
}

/// A stored panic alert and whether the SOC has it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PanicOutcome {
    /// The id of the alert record.
    pub record_id: String,
    /// When the SOC stored the alert, by its clock; `None` while it waits in the outbox.
    pub delivered_at_ms: Option<i64>,
}

/// How many records are in each sync state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SyncCounts {
    /// Records stored on the device.
    pub captured: u64,
    /// Records the server acknowledged.
    pub synced: u64,
    /// Records waiting for an acknowledgement.
    pub pending: u64,
    /// Panic alerts among the pending records.
    pub pending_panics: u64,
    /// Records the server refused for good; they stay on the device.
    pub rejected: u64,
}

/// The result of one sync.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncSummary {
    /// Panic alerts delivered.
    pub panics_delivered: u64,
    /// Records acknowledged.
    pub acknowledged: u64,
    /// Records refused for good.
    pub rejected: u64,
    /// Sites received.
    pub sites_received: u64,
    /// Counts after the sync.
    pub counts: SyncCounts,
}

/// The sync state of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RecordSyncState {
    /// Stored on the device, not sent yet.
    Stored,
    /// Sent, not acknowledged yet.
    Sent,
    /// Acknowledged by the SOC.
    Acknowledged,
    /// Refused by the SOC for good; kept on the device.
    Rejected,
}

/// A summary of the active or latest shift.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ShiftReport {
    /// The shift's id, if there was a shift.
    pub shift_id: Option<String>,
    /// The shift's site.
    pub site_id: Option<String>,
    /// Distance between consecutive trusted fixes, in metres.
    pub distance_m: f64,
    /// Fixes stored.
    pub fixes: u64,
    /// Fixes with at least one flag.
    pub flagged_fixes: u64,
    /// Tour checkpoints with an accepted scan.
    pub checkpoints_visited: Vec<String>,
    /// Tour checkpoints without an accepted scan.
    pub checkpoints_missed: Vec<String>,
    /// Refused scans.
    pub scans_refused: u64,
    /// Incidents logged.
    pub incidents: u64,
    /// Panic alerts raised.
    pub panics: u64,
    /// Records of the shift stored.
    pub captured: u64,
    /// Records of the shift acknowledged.
    pub synced: u64,
    /// Records of the shift waiting.
    pub pending: u64,
    /// The tour rounds closed during the shift, in the order they were recorded.
    pub tour_rounds: Vec<TourRound>,
    /// Times the guard entered the site's perimeter.
    pub site_entries: u64,
    /// Times the guard left the site's perimeter.
    pub site_exits: u64,
}

/// A point in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct LatLon {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
}

/// A track reduced for upload.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SimplifiedTrack {
    /// The kept points, in track order, always the first and the last.
    pub points: Vec<LatLon>,
    /// The positions in the original track of the kept points.
    pub kept_indices: Vec<u64>,
    /// The largest distance, in metres, from an original point to the simplified track.
    pub max_deviation_m: f64,
}

/// A checkpoint of a site.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Checkpoint {
    /// The SOC's id.
    pub id: String,
    /// A display name.
    pub name: String,
    /// Where it is.
    pub position: LatLon,
    /// Check-in radius in metres.
    pub radius_m: f64,
    /// How its tags are read; empty for a GPS-only checkpoint.
    pub methods: Vec<ScanMethod>,
}

/// A patrol tour.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Tour {
    /// The SOC's id.
    pub id: String,
    /// A display name.
    pub name: String,
    /// Checkpoint ids, in visiting order when `ordered`.
    pub checkpoint_ids: Vec<String>,
    /// Whether the order matters.
    pub ordered: bool,
    /// How often the tour is walked, in minutes: a new round opens every period.
    pub every_minutes: u32,
    /// When the first round opens, in milliseconds since the Unix epoch; `None` anchors
    /// the rounds at the start of the shift.
    pub first_round_at_ms: Option<i64>,
    /// How long each round stays open, in minutes; `None` for the whole period.
    pub window_minutes: Option<u32>,
    /// Minimum seconds between two scans of the tour; a faster scan is refused as `too_soon`.
    pub min_seconds_between_scans: Option<u32>,
    /// Most seconds between two scans within a round; a longer gap marks the round late.
    pub max_seconds_between_scans: Option<u32>,
}

/// An accepted scan that counted for a tour round.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TourVisit {
    /// The visited checkpoint.
    pub checkpoint_id: String,
    /// When it was scanned, in milliseconds since the Unix epoch (device clock).
    pub scanned_at_ms: i64,
}

/// The result of one tour round, recorded when its window closed or its shift ended.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TourRound {
    /// The tour.
    pub tour_id: String,
    /// The round's number, from 0 at the tour's first round.
    pub round: i64,
    /// When the round opened, in milliseconds since the Unix epoch.
    pub opens_at_ms: i64,
    /// When the round's window closes, in milliseconds since the Unix epoch.
    pub closes_at_ms: i64,
    /// The accepted scans of the round, one per checkpoint, in scan order.
    pub visits: Vec<TourVisit>,
    /// The checkpoints without an accepted scan, in tour order.
    pub missed: Vec<String>,
    /// Whether two consecutive scans were further apart than the tour allows.
    pub late: bool,
    /// `completed`, `incomplete` or `missed`.
    pub status: String,
    /// `window_closed` or `shift_ended`.
    pub closed_by: String,
}

/// The current progress of a tour of the active shift.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TourProgress {
    /// The tour.
    pub tour_id: String,
    /// The tour's display name.
    pub name: String,
    /// Whether the checkpoints must be visited in order.
    pub ordered: bool,
    /// The number of the open round, if one is open.
    pub open_round: Option<i64>,
    /// When the open round closes, in milliseconds since the Unix epoch.
    pub open_round_closes_at_ms: Option<i64>,
    /// When the next round opens, in milliseconds since the Unix epoch.
    pub next_round_opens_at_ms: i64,
    /// The accepted scans of the open round.
    pub visited: Vec<TourVisit>,
    /// The checkpoints of the open round still to visit, in tour order.
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

/// A site assigned by the SOC.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Site {
    /// The SOC's id.
    pub id: String,
    /// A display name.
    pub name: String,
    /// The perimeter ring.
    pub perimeter: Vec<LatLon>,
    /// The checkpoints.
    pub checkpoints: Vec<Checkpoint>,
    /// The tours.
    pub tours: Vec<Tour>,
}

impl From<Fix> for model::Fix {
    fn from(fix: Fix) -> Self {
        let source = match fix.source {
            FixSource::Gnss => model::FixSource::Gnss,
            FixSource::Network => model::FixSource::Network,
            FixSource::Fused => model::FixSource::Fused,
            FixSource::Beacon => model::FixSource::Beacon,
            FixSource::Manual => model::FixSource::Manual,
        };
        model::Fix {
            latitude: fix.latitude,
            longitude: fix.longitude,
            accuracy_m: fix.accuracy_m,
            altitude_m: fix.altitude_m,
            speed_mps: fix.speed_mps,
            bearing_deg: fix.bearing_deg,
            source,
            mock: fix.mock,
            fix_time_ms: fix.fix_time_ms,
        }
    }
}

impl From<vigil_core::FixOutcome> for FixOutcome {
    fn from(outcome: vigil_core::FixOutcome) -> Self {
        match outcome {
            vigil_core::FixOutcome::Stored { id, flags } => FixOutcome::Stored {
                record_id: id.to_string(),
                flags: flags.iter().map(|flag| flag.code().to_string()).collect(),
            },
            vigil_core::FixOutcome::Rejected { field, reason } => {
                FixOutcome::Rejected { field, reason }
            }
            vigil_core::FixOutcome::Skipped => FixOutcome::Skipped,
        }
    }
}

impl From<Severity> for model::Severity {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Low => model::Severity::Low,
            Severity::Medium => model::Severity::Medium,
            Severity::High => model::Severity::High,
            Severity::Critical => model::Severity::Critical,
        }
    }
}

impl From<ScanMethod> for model::ScanMethod {
    fn from(method: ScanMethod) -> Self {
        match method {
            ScanMethod::Nfc => model::ScanMethod::Nfc,
            ScanMethod::Qr => model::ScanMethod::Qr,
            ScanMethod::Ble => model::ScanMethod::Ble,
            ScanMethod::Gps => model::ScanMethod::Gps,
        }
    }
}

impl From<model::ScanMethod> for ScanMethod {
    fn from(method: model::ScanMethod) -> Self {
        match method {
            model::ScanMethod::Nfc => ScanMethod::Nfc,
            model::ScanMethod::Qr => ScanMethod::Qr,
            model::ScanMethod::Ble => ScanMethod::Ble,
            model::ScanMethod::Gps => ScanMethod::Gps,
        }
    }
}

impl From<&model::CheckinReason> for CheckinReason {
    fn from(reason: &model::CheckinReason) -> Self {
        let params =
            reason.params().into_iter().map(|(name, value)| (name.to_string(), value)).collect();
        CheckinReason { code: reason.code().to_string(), params }
    }
}

impl From<vigil_core::CheckIn> for CheckIn {
    fn from(check_in: vigil_core::CheckIn) -> Self {
        let verification = check_in.verification;
        CheckIn {
            record_id: check_in.record_id.to_string(),
            accepted: verification.accepted,
            checkpoint_id: verification.checkpoint_id,
            reasons: verification.reasons.iter().map(CheckinReason::from).collect(),
            tour_ids: verification.tour_ids,
        }
    }
}

impl From<vigil_core::store::SyncCounts> for SyncCounts {
    fn from(counts: vigil_core::store::SyncCounts) -> Self {
        SyncCounts {
            captured: counts.captured,
            synced: counts.synced,
            pending: counts.pending,
            pending_panics: counts.pending_panics,
            rejected: counts.rejected,
        }
    }
}

impl From<vigil_core::SyncSummary> for SyncSummary {
    fn from(summary: vigil_core::SyncSummary) -> Self {
        SyncSummary {
            panics_delivered: summary.panics_delivered,
            acknowledged: summary.acknowledged,
            rejected: summary.rejected,
            sites_received: summary.sites_received,
            counts: summary.counts.into(),
        }
    }
}

impl From<vigil_core::store::SyncState> for RecordSyncState {
    fn from(state: vigil_core::store::SyncState) -> Self {
        use vigil_core::store::SyncState;
        match state {
            SyncState::Stored => RecordSyncState::Stored,
            SyncState::Sent => RecordSyncState::Sent,
            SyncState::Acknowledged => RecordSyncState::Acknowledged,
            SyncState::Rejected => RecordSyncState::Rejected,
        }
    }
}

impl From<vigil_core::ShiftReport> for ShiftReport {
    fn from(report: vigil_core::ShiftReport) -> Self {
        ShiftReport {
            shift_id: report.shift_id.map(|id| id.to_string()),
            site_id: report.site_id,
            distance_m: report.distance_m,
            fixes: report.fixes,
            flagged_fixes: report.flagged_fixes,
            checkpoints_visited: report.checkpoints_visited,
            checkpoints_missed: report.checkpoints_missed,
            scans_refused: report.scans_refused,
            incidents: report.incidents,
            panics: report.panics,
            captured: report.captured,
            synced: report.synced,
            pending: report.pending,
            tour_rounds: report.tour_rounds.into_iter().map(TourRound::from).collect(),
            site_entries: report.site_entries,
            site_exits: report.site_exits,
        }
    }
}

impl From<model::LatLon> for LatLon {
    fn from(point: model::LatLon) -> Self {
        LatLon { latitude: point.latitude, longitude: point.longitude }
    }
}

impl From<model::Site> for Site {
    fn from(site: model::Site) -> Self {
        let checkpoints = site
            .checkpoints
            .into_iter()
            .map(|checkpoint| Checkpoint {
                id: checkpoint.id,
                name: checkpoint.name,
                position: checkpoint.position.into(),
                radius_m: checkpoint.radius_m,
                methods: checkpoint.tags.iter().map(|tag| tag.method.into()).collect(),
            })
            .collect();
        let tours = site
            .tours
            .into_iter()
            .map(|tour| Tour {
                id: tour.id,
                name: tour.name,
                checkpoint_ids: tour.checkpoint_ids,
                ordered: tour.ordered,
                every_minutes: tour.every_minutes,
                first_round_at_ms: tour.timing.first_round_at_ms,
                window_minutes: tour.timing.window_minutes,
                min_seconds_between_scans: tour.timing.min_seconds_between_scans,
                max_seconds_between_scans: tour.timing.max_seconds_between_scans,
            })
            .collect();
        Site {
            id: site.id,
            name: site.name,
            perimeter: site.perimeter.into_iter().map(LatLon::from).collect(),
            checkpoints,
            tours,
        }
    }
}

impl From<model::TourVisit> for TourVisit {
    fn from(visit: model::TourVisit) -> Self {
        TourVisit { checkpoint_id: visit.checkpoint_id, scanned_at_ms: visit.scanned_at_ms }
    }
}

impl From<model::TourRound> for TourRound {
    fn from(round: model::TourRound) -> Self {
        let closed_by = match round.closed_by {
            model::RoundClosedBy::WindowClosed => "window_closed",
            model::RoundClosedBy::ShiftEnded => "shift_ended",
        };
        TourRound {
            tour_id: round.tour_id,
            round: round.round,
            opens_at_ms: round.opens_at_ms,
            closes_at_ms: round.closes_at_ms,
            visits: round.visits.into_iter().map(TourVisit::from).collect(),
            missed: round.missed,
            late: round.late,
            status: round.status.code().to_string(),
            closed_by: closed_by.to_string(),
        }
    }
}

impl From<vigil_core::tour::TourProgress> for TourProgress {
    fn from(progress: vigil_core::tour::TourProgress) -> Self {
        TourProgress {
            tour_id: progress.tour_id,
            name: progress.name,
            ordered: progress.ordered,
            open_round: progress.open_round.map(|round| round.index),
            open_round_closes_at_ms: progress.open_round.map(|round| round.closes_at_ms),
            next_round_opens_at_ms: progress.next_round_opens_at_ms,
            visited: progress.visited.into_iter().map(TourVisit::from).collect(),
            remaining: progress.remaining,
            next_checkpoint_id: progress.next_checkpoint_id,
            overdue: progress.overdue,
            rounds_completed: progress.rounds_completed,
            rounds_incomplete: progress.rounds_incomplete,
            rounds_missed: progress.rounds_missed,
        }
    }
}

impl From<LatLon> for model::LatLon {
    fn from(point: LatLon) -> Self {
        model::LatLon { latitude: point.latitude, longitude: point.longitude }
    }
}

impl From<vigil_core::location::SimplifiedTrack> for SimplifiedTrack {
    fn from(track: vigil_core::location::SimplifiedTrack) -> Self {
        SimplifiedTrack {
            points: track.points.into_iter().map(LatLon::from).collect(),
            kept_indices: track.kept_indices.into_iter().map(|index| index as u64).collect(),
            max_deviation_m: track.max_deviation_m,
        }
    }
}
