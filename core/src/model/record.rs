use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{FixFlag, Location, TourRound};
use crate::location::FenceCrossing;

/// One captured record: the unit that is stored, queued and synced.
///
/// The JSON form of this type is the wire format of the sync protocol, so its field names
/// are stable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// A UUIDv7 generated on the device when the record was captured; it makes every upload
    /// idempotent.
    pub id: Uuid,
    /// The enrolled device that captured the record.
    pub device_id: String,
    /// The guard signed in on the device.
    pub guard_id: String,
    /// The shift the record belongs to, if one was active.
    pub shift_id: Option<Uuid>,
    /// A per-device sequence number, starting at 1 and increasing by 1 with every record.
    pub seq: u64,
    /// The device's wall-clock time at capture, in milliseconds since the Unix epoch.
    pub captured_at_ms: i64,
    /// The fix attached to the record, or why there is none.
    pub location: Location,
    /// The monotonic clock (and GNSS time, when known) at capture, from which the server
    /// works out the true capture time; `None` for records of older versions or from a
    /// platform that cannot read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<crate::time::ClockReading>,
    /// The SHA-256 of the previous record's canonical bytes (all zeros for the device's
    /// first record), 32 bytes in base64url without padding. It chains the device's records,
    /// so that an edited or removed record is detected. `None` only for records captured
    /// before chaining existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
    /// The files attached to the record, such as photos of an incident. The record is
    /// complete on the server only once each of them is uploaded. Empty for most records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<super::AttachmentRef>,
    /// What was captured.
    #[serde(flatten)]
    pub body: RecordBody,
}

/// The kind-specific content of a [`Record`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum RecordBody {
    /// The guard started a shift.
    ShiftStart {
        /// The site the shift is at, if assigned.
        site_id: Option<String>,
    },
    /// The guard ended the shift.
    ShiftEnd,
    /// A location fix; the fix itself is the record's location.
    Fix {
        /// The reasons the fix is not trusted; empty when it is trusted.
        flags: Vec<FixFlag>,
    },
    /// An incident report.
    Incident(Incident),
    /// A checkpoint scan with its verification result.
    CheckpointScan {
        /// How the tag was read.
        method: ScanMethod,
        /// The raw identifier read from the tag.
        payload: String,
        /// The result of checking the scan against the site's checkpoints.
        verification: Verification,
    },
    /// A panic alert.
    Panic {
        /// What raised the alert.
        alert: AlertKind,
    },
    /// A tour round whose window closed or whose shift ended: what was visited and missed.
    TourRound(TourRound),
    /// The guard entered or left the shift's site; the record's location is the fix that
    /// showed it.
    SiteFence {
        /// The site whose perimeter was crossed.
        site_id: String,
        /// Whether the guard came in or went out.
        crossing: FenceCrossing,
    },
    /// The guard cancelled an alert with the cancel PIN. The alert stays stored on both
    /// sides; this record tells the SOC of the cancel.
    AlertCancel {
        /// The id of the cancelled alert's record.
        alert_id: Uuid,
    },
}

impl RecordBody {
    /// Returns the stable name of the record's kind, as stored and sent.
    pub fn kind(&self) -> &'static str {
        match self {
            RecordBody::ShiftStart { .. } => "shift_start",
            RecordBody::ShiftEnd => "shift_end",
            RecordBody::Fix { .. } => "fix",
            RecordBody::Incident(_) => "incident",
            RecordBody::CheckpointScan { .. } => "checkpoint_scan",
            RecordBody::Panic { .. } => "panic",
            RecordBody::TourRound(_) => "tour_round",
            RecordBody::SiteFence { .. } => "site_fence",
            RecordBody::AlertCancel { .. } => "alert_cancel",
        }
    }

    /// Returns the sync priority of the kind: lower numbers are sent first.
    pub fn priority(&self) -> u8 {
        match self {
            RecordBody::Panic { .. } | RecordBody::AlertCancel { .. } => 0,
            RecordBody::Incident(_) => 1,
            RecordBody::CheckpointScan { .. } => 2,
            RecordBody::ShiftStart { .. } | RecordBody::ShiftEnd => 2,
            RecordBody::TourRound(_) | RecordBody::SiteFence { .. } => 2,
            RecordBody::Fix { .. } => 3,
        }
    }
}

/// An incident as the guard reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// A category from the SOC's list, such as `intrusion` or `fire`.
    pub category: String,
    /// How serious the guard judges it.
    pub severity: Severity,
    /// The guard's description.
    pub text: String,
}

/// The severity of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth noting; no action needed.
    Low,
    /// Needs follow-up.
    Medium,
    /// Needs action during the shift.
    High,
    /// Needs action now.
    Critical,
}

/// How a checkpoint was scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanMethod {
    /// An NFC tag's UID.
    Nfc,
    /// A QR code's text.
    Qr,
    /// A Bluetooth Low Energy beacon's id.
    Ble,
    /// The guard's position alone, for checkpoints without a tag.
    Gps,
}

impl ScanMethod {
    /// Returns the stable name of the method, as stored and sent.
    pub fn code(self) -> &'static str {
        match self {
            ScanMethod::Nfc => "nfc",
            ScanMethod::Qr => "qr",
            ScanMethod::Ble => "ble",
            ScanMethod::Gps => "gps",
        }
    }
}

/// What raised a panic alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The guard pressed the panic button.
    Panic,
    /// The guard entered the duress PIN: to the person holding the phone it looked like a
    /// cancel, so the SOC must respond without alerting them.
    Duress,
    /// The phone detected no motion for longer than the configured period.
    ManDown,
    /// A lone worker missed a check-in and its grace period.
    MissedCheckIn,
}

impl AlertKind {
    /// Returns the stable name of the kind, as stored and sent.
    pub fn code(self) -> &'static str {
        match self {
            AlertKind::Panic => "panic",
            AlertKind::Duress => "duress",
            AlertKind::ManDown => "man_down",
            AlertKind::MissedCheckIn => "missed_check_in",
        }
    }

    /// Parses a name returned by [`AlertKind::code`].
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "panic" => Some(AlertKind::Panic),
            "duress" => Some(AlertKind::Duress),
            "man_down" => Some(AlertKind::ManDown),
            "missed_check_in" => Some(AlertKind::MissedCheckIn),
            _ => None,
        }
    }
}

/// The result of verifying a checkpoint scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Whether the scan counts as a visit of the checkpoint.
    pub accepted: bool,
    /// The checkpoint the tag belongs to, when it is known.
    pub checkpoint_id: Option<String>,
    /// Why the scan was not accepted; empty when it was.
    pub reasons: Vec<CheckinReason>,
    /// The tours the accepted scan counts for; empty when it was refused or the checkpoint
    /// is on no tour.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tour_ids: Vec<String>,
}

/// A reason a check-in was refused, as a stable code with parameters.
///
/// Apps show it through [`crate::wording::checkin_reason_text`] or their own translation of
/// the code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum CheckinReason {
    /// No checkpoint of any stored site has this tag.
    UnknownTag,
    /// The tag belongs to a checkpoint of another site than the shift's.
    WrongSite {
        /// The site of the scanned checkpoint.
        checkpoint_site_id: String,
    },
    /// The guard's fix is too far from the checkpoint, even allowing for its accuracy.
    TooFar {
        /// Distance from the fix to the checkpoint, in metres.
        distance_m: f64,
        /// Accuracy of the fix, in metres.
        accuracy_m: f64,
        /// The checkpoint's radius, in metres.
        radius_m: f64,
    },
    /// The fix is too imprecise to place the guard at a checkpoint.
    FixTooInaccurate {
        /// Accuracy of the fix, in metres.
        accuracy_m: f64,
        /// The largest accuracy accepted, in metres.
        max_accuracy_m: f64,
    },
    /// There is no trusted, recent fix to compare with the checkpoint's position.
    NoFix,
    /// The platform reports the newest fix as coming from a mock location provider.
    MockLocation,
    /// The newest fix is implausible (a jump, a bad time or the 0,0 position), so the
    /// guard's position cannot be trusted.
    ImplausibleLocation {
        /// The stable codes of the newest fix's flags, such as `implausible_speed`.
        flags: Vec<String>,
    },
    /// No round of the tour is open now.
    OutsideTourWindow {
        /// The tour whose window is closed.
        tour_id: String,
        /// Whole minutes until the next round opens, rounded up.
        minutes_until_open: i64,
    },
    /// The tour is ordered, and the checkpoint comes before one already scanned in this
    /// round. Skipping ahead is allowed (the skipped checkpoints are missed); going back is
    /// not.
    OutOfOrder {
        /// The ordered tour.
        tour_id: String,
        /// The furthest checkpoint scanned in the round, which this one comes before.
        after_checkpoint_id: String,
    },
    /// The scanned payload claims to be a signed tag but does not verify: it is forged,
    /// altered, malformed, or signed by a key the device has not pulled.
    UnverifiedTag {
        /// `bad_signature`, `unknown_key` or `malformed`.
        problem: String,
    },
    /// A BLE beacon was received more weakly than its checkpoint requires, so the guard
    /// may not be next to it.
    WeakSignal {
        /// The received signal strength in dBm, when the app reported it.
        rssi_dbm: Option<i32>,
        /// The weakest strength accepted, in dBm.
        min_rssi_dbm: i32,
    },
    /// The scan came sooner after the tour's previous scan than walking allows.
    TooSoon {
        /// The tour whose pace was broken.
        tour_id: String,
        /// Seconds since the previous scan of the tour.
        seconds_since_last_scan: i64,
        /// The minimum seconds allowed between two scans.
        min_seconds: u32,
    },
}

impl CheckinReason {
    /// Returns the stable code of the reason.
    pub fn code(&self) -> &'static str {
        match self {
            CheckinReason::UnknownTag => "unknown_tag",
            CheckinReason::WrongSite { .. } => "wrong_site",
            CheckinReason::TooFar { .. } => "too_far",
            CheckinReason::FixTooInaccurate { .. } => "fix_too_inaccurate",
            CheckinReason::NoFix => "no_fix",
            CheckinReason::MockLocation => "mock_location",
            CheckinReason::ImplausibleLocation { .. } => "implausible_location",
            CheckinReason::OutsideTourWindow { .. } => "outside_tour_window",
            CheckinReason::OutOfOrder { .. } => "out_of_order",
            CheckinReason::TooSoon { .. } => "too_soon",
            CheckinReason::UnverifiedTag { .. } => "unverified_tag",
            CheckinReason::WeakSignal { .. } => "weak_signal",
        }
    }

    /// Returns the reason's parameters as name and value pairs, with distances rounded to
    /// whole metres.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let metres = |value: f64| format!("{value:.0}");
        match self {
            CheckinReason::UnknownTag | CheckinReason::NoFix | CheckinReason::MockLocation => {
                Vec::new()
            }
            CheckinReason::WrongSite { checkpoint_site_id } => {
                vec![("checkpoint_site_id", checkpoint_site_id.clone())]
            }
            CheckinReason::TooFar { distance_m, accuracy_m, radius_m } => vec![
                ("distance_m", metres(*distance_m)),
                ("accuracy_m", metres(*accuracy_m)),
                ("radius_m", metres(*radius_m)),
            ],
            CheckinReason::FixTooInaccurate { accuracy_m, max_accuracy_m } => vec![
                ("accuracy_m", metres(*accuracy_m)),
                ("max_accuracy_m", metres(*max_accuracy_m)),
            ],
            CheckinReason::ImplausibleLocation { flags } => vec![("flags", flags.join(", "))],
            CheckinReason::UnverifiedTag { problem } => vec![("problem", problem.clone())],
            CheckinReason::WeakSignal { rssi_dbm, min_rssi_dbm } => vec![
                (
                    "rssi_dbm",
                    rssi_dbm.map_or_else(|| "unknown".to_string(), |rssi| rssi.to_string()),
                ),
                ("min_rssi_dbm", min_rssi_dbm.to_string()),
            ],
            CheckinReason::OutsideTourWindow { tour_id, minutes_until_open } => vec![
                ("tour_id", tour_id.clone()),
                ("minutes_until_open", minutes_until_open.to_string()),
            ],
            CheckinReason::OutOfOrder { tour_id, after_checkpoint_id } => vec![
                ("tour_id", tour_id.clone()),
                ("after_checkpoint_id", after_checkpoint_id.clone()),
            ],
            CheckinReason::TooSoon { tour_id, seconds_since_last_scan, min_seconds } => vec![
                ("tour_id", tour_id.clone()),
                ("seconds_since_last_scan", seconds_since_last_scan.to_string()),
                ("min_seconds", min_seconds.to_string()),
            ],
        }
    }
}
