//! The shift report that `demo` and `replay` print, as text or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use vigil_core::model::RecordBody;
use vigil_core::wording::{Language, checkin_reason_text};
use vigil_core::{ShiftReport, Vigil};

use crate::error::{CliError, Context as _};
use crate::tracks::Origin;

/// How many checkpoints the text report names in one list; the JSON report has them all.
const CHECKPOINTS_LISTED: usize = 10;

/// How many examples each group of rejections or flags shows.
pub const EXAMPLES_PER_GROUP: usize = 3;

/// A checkpoint named in the report.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointRef {
    /// The checkpoint's id.
    pub id: String,
    /// Its display name, when the site is stored.
    pub name: Option<String>,
}

/// A refused check-in reason with its guard-facing text.
#[derive(Debug, Clone, Serialize)]
pub struct ReasonText {
    /// The stable code, such as `too_far`.
    pub code: String,
    /// The text from `vigil_core::wording` in the chosen language.
    pub text: String,
}

/// A refused checkpoint scan.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// The checkpoint the tag belongs to; `None` for an unknown tag.
    pub checkpoint: Option<CheckpointRef>,
    /// When it was scanned, by the device clock (ISO 8601, UTC).
    pub time: String,
    /// The reasons for the refusal.
    pub reasons: Vec<ReasonText>,
}

/// A logged incident, without its text.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentLine {
    /// When it was logged, by the device clock (ISO 8601, UTC).
    pub time: String,
    /// Its category.
    pub category: String,
    /// Its severity, as the stable code.
    pub severity: String,
}

/// One closed tour round.
#[derive(Debug, Clone, Serialize)]
pub struct TourRoundLine {
    /// The tour's id.
    pub tour: String,
    /// The round's number, from 0.
    pub round: i64,
    /// `completed`, `incomplete` or `missed`.
    pub status: String,
    /// `window_closed` or `shift_ended`.
    pub closed_by: String,
    /// When the round opened and closed, in RFC 3339.
    pub window: (String, String),
    /// Checkpoints visited in the round, in scan order.
    pub visited: Vec<CheckpointRef>,
    /// Checkpoints missed in the round, in tour order.
    pub missed: Vec<CheckpointRef>,
    /// Whether two scans were further apart than the tour allows.
    pub late: bool,
}

/// The summary of one shift, built from the device store.
#[derive(Debug, Clone, Serialize)]
pub struct ShiftSummary {
    /// The shift's site, if one was assigned.
    pub site: Option<String>,
    /// Distance between consecutive trusted fixes, in metres.
    pub distance_m: f64,
    /// Fixes stored.
    pub fixes: u64,
    /// Stored fixes with at least one flag.
    pub flagged_fixes: u64,
    /// How many stored fixes carry each flag, by flag code.
    pub flags: BTreeMap<String, u64>,
    /// Tour checkpoints with an accepted scan, in tour order.
    pub checkpoints_visited: Vec<CheckpointRef>,
    /// Tour checkpoints without an accepted scan, in tour order.
    pub checkpoints_missed: Vec<CheckpointRef>,
    /// Times the guard entered the site's perimeter.
    pub site_entries: u64,
    /// Times the guard left the site's perimeter.
    pub site_exits: u64,
    /// Tour rounds closed during the shift, in the order they were recorded.
    pub tour_rounds: Vec<TourRoundLine>,
    /// Refused scans, in capture order.
    pub refusals: Vec<Refusal>,
    /// Incidents, in capture order.
    pub incidents: Vec<IncidentLine>,
    /// Panic alerts raised.
    pub panics: u64,
    /// Records of the shift stored on the device.
    pub captured: u64,
    /// Records of the shift the server acknowledged.
    pub synced: u64,
    /// Records of the shift still waiting in the outbox.
    pub pending: u64,
}

impl ShiftSummary {
    /// Builds the summary of the latest shift from the device store, with refusal texts in
    /// `language`.
    ///
    /// # Errors
    ///
    /// [`CliError::Core`] if the store cannot be read.
    pub fn collect(vigil: &Vigil, language: Language) -> Result<Self, CliError> {
        let report: ShiftReport = vigil.shift_report().context("building the shift report")?;
        let site = match &report.site_id {
            Some(id) => vigil.store().site(id).context("reading the shift's site")?,
            None => None,
        };
        let checkpoint = |id: &str| CheckpointRef {
            id: id.to_string(),
            name: site.as_ref().and_then(|site| site.checkpoint(id)).map(|c| c.name.clone()),
        };

        let mut refusals = Vec::new();
        let mut incidents = Vec::new();
        if let Some(shift_id) = report.shift_id {
            vigil
                .store()
                .for_each_in_shift(shift_id, |record, _| match &record.body {
                    RecordBody::CheckpointScan { verification, .. } if !verification.accepted => {
                        refusals.push(Refusal {
                            checkpoint: verification.checkpoint_id.as_deref().map(checkpoint),
                            time: format_time(record.captured_at_ms),
                            reasons: verification
                                .reasons
                                .iter()
                                .map(|reason| ReasonText {
                                    code: reason.code().to_string(),
                                    text: checkin_reason_text(reason, language),
                                })
                                .collect(),
                        });
                    }
                    RecordBody::Incident(incident) => incidents.push(IncidentLine {
                        time: format_time(record.captured_at_ms),
                        category: incident.category.clone(),
                        severity: code_of(&incident.severity),
                    }),
                    _ => {}
                })
                .context("reading the shift's records")?;
        }

        Ok(Self {
            site: report.site_id.clone(),
            distance_m: report.distance_m,
            fixes: report.fixes,
            flagged_fixes: report.flagged_fixes,
            flags: report
                .flags
                .iter()
                .map(|(flag, count)| (flag.code().to_string(), *count))
                .collect(),
            checkpoints_visited: report
                .checkpoints_visited
                .iter()
                .map(|id| checkpoint(id))
                .collect(),
            checkpoints_missed: report.checkpoints_missed.iter().map(|id| checkpoint(id)).collect(),
            site_entries: report.site_entries,
            site_exits: report.site_exits,
            tour_rounds: report
                .tour_rounds
                .iter()
                .map(|round| TourRoundLine {
                    tour: round.tour_id.clone(),
                    round: round.round,
                    status: round.status.code().to_string(),
                    closed_by: code_of(&round.closed_by),
                    window: (format_time(round.opens_at_ms), format_time(round.closes_at_ms)),
                    visited: round
                        .visits
                        .iter()
                        .map(|visit| checkpoint(&visit.checkpoint_id))
                        .collect(),
                    missed: round.missed.iter().map(|id| checkpoint(id)).collect(),
                    late: round.late,
                })
                .collect(),
            refusals,
            incidents,
            panics: report.panics,
            captured: report.captured,
            synced: report.synced,
            pending: report.pending,
        })
    }

    /// Writes the summary as indented text lines. `with_sync` adds the synced count, which
    /// a replay without a server does not have.
    pub fn write_text(&self, out: &mut String, with_sync: bool) {
        out.push_str("Shift\n");
        field(out, "site", self.site.as_deref().unwrap_or("none"));
        field(out, "distance patrolled", format!("{:.0} m", self.distance_m));
        field(out, "fixes stored", format!("{} ({} flagged)", self.fixes, self.flagged_fixes));
        field(out, "checkpoints visited", checkpoint_list(&self.checkpoints_visited));
        field(out, "checkpoints missed", checkpoint_list(&self.checkpoints_missed));

        field(
            out,
            "site perimeter",
            format!("entered {} times, left {} times", self.site_entries, self.site_exits),
        );
        field(out, "tour rounds", self.tour_rounds.len());
        for round in &self.tour_rounds {
            let late = if round.late { ", late" } else { "" };
            let _ = writeln!(
                out,
                "    {} round {} ({} to {}): {}, closed by {}{late}; missed: {}",
                round.tour,
                round.round,
                round.window.0,
                round.window.1,
                round.status,
                round.closed_by.replace('_', " "),
                checkpoint_list(&round.missed),
            );
        }

        field(out, "scans refused", self.refusals.len());
        for refusal in &self.refusals {
            let name = refusal.checkpoint.as_ref().map_or("unknown tag".to_string(), describe);
            for reason in &refusal.reasons {
                let _ =
                    writeln!(out, "    {} {name}: [{}] {}", refusal.time, reason.code, reason.text);
            }
        }

        field(out, "incidents", self.incidents.len());
        for incident in &self.incidents {
            let _ = writeln!(
                out,
                "    {} {} ({})",
                incident.time, incident.category, incident.severity
            );
        }
        field(out, "panic alerts", self.panics);

        let records = if with_sync {
            format!("{} captured, {} synced, {} pending", self.captured, self.synced, self.pending)
        } else {
            format!("{} captured, {} pending (replay does not sync)", self.captured, self.pending)
        };
        field(out, "records", records);
    }
}

/// Writes one `label: value` line of a report, with the values aligned in a column.
pub fn field(out: &mut String, label: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "  {:<22}{value}", format!("{label}:"));
}

/// Rejections or flags that share a reason: how many, and the first few cases.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The reason or flag code.
    pub reason: String,
    /// How many points or lines it applies to.
    pub count: usize,
    /// The first [`EXAMPLES_PER_GROUP`] cases, in input order.
    pub examples: Vec<Example>,
}

/// One case of a [`Group`].
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// The position in the input.
    pub origin: Origin,
    /// The same, as text: `line 12` or `point 7 (track 1, segment 2, point 3)`.
    pub at: String,
    /// The time the input gives for it (ISO 8601, UTC), when it has one.
    pub time: Option<String>,
    /// Details, such as the checksums that differ.
    pub detail: Option<String>,
}

/// Collects cases into [`Group`]s, keeping the order in which reasons first appear.
#[derive(Debug, Default)]
pub struct Grouper {
    groups: Vec<Group>,
}

impl Grouper {
    /// Adds one case.
    pub fn add(
        &mut self,
        reason: &str,
        origin: Origin,
        time_ms: Option<i64>,
        detail: Option<String>,
    ) {
        let index = match self.groups.iter().position(|group| group.reason == reason) {
            Some(index) => index,
            None => {
                self.groups.push(Group {
                    reason: reason.to_string(),
                    count: 0,
                    examples: Vec::new(),
                });
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[index];
        group.count += 1;
        if group.examples.len() < EXAMPLES_PER_GROUP {
            group.examples.push(Example {
                origin,
                at: origin.to_string(),
                time: time_ms.map(format_time),
                detail,
            });
        }
    }

    /// Returns the groups, largest first.
    pub fn finish(mut self) -> Vec<Group> {
        self.groups.sort_by_key(|group| std::cmp::Reverse(group.count));
        self.groups
    }
}

/// Writes groups under a heading, or `none` when there are none.
pub fn write_groups(out: &mut String, heading: &str, groups: &[Group]) {
    let total: usize = groups.iter().map(|group| group.count).sum();
    let _ = writeln!(out, "{heading}: {total}");
    for group in groups {
        let _ = writeln!(out, "  {}: {}", group.reason, group.count);
        for example in &group.examples {
            let mut line = format!("    {}", example.at);
            if let Some(time) = &example.time {
                let _ = write!(line, " at {time}");
            }
            if let Some(detail) = &example.detail {
                let _ = write!(line, ": {detail}");
            }
            let _ = writeln!(out, "{line}");
        }
        if group.count > group.examples.len() {
            let _ = writeln!(out, "    … and {} more", group.count - group.examples.len());
        }
    }
}

/// Formats milliseconds since the Unix epoch as ISO 8601 UTC with milliseconds.
pub fn format_time(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(time) => time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("{ms} ms since 1970"),
    }
}

fn describe(checkpoint: &CheckpointRef) -> String {
    match &checkpoint.name {
        Some(name) => format!("{name} ({})", checkpoint.id),
        None => checkpoint.id.clone(),
    }
}

fn checkpoint_list(checkpoints: &[CheckpointRef]) -> String {
    if checkpoints.is_empty() {
        return "none".to_string();
    }
    let mut names: Vec<String> =
        checkpoints.iter().take(CHECKPOINTS_LISTED).map(describe).collect();
    if checkpoints.len() > CHECKPOINTS_LISTED {
        names.push(format!("… and {} more", checkpoints.len() - CHECKPOINTS_LISTED));
    }
    format!("{} — {}", checkpoints.len(), names.join(", "))
}

/// Returns the serde code of a value that serializes as a plain string, such as an enum
/// with `rename_all = "snake_case"`.
fn code_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(code)) => code,
        _ => "unknown".to_string(),
    }
}
