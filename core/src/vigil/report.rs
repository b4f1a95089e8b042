//! The end-of-shift report.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::Vigil;
use crate::error::Result;
use crate::location::{FenceCrossing, distance_m};
use crate::model::{Fix, FixFlag, RecordBody, TourRound};
use crate::store::SyncState;

/// A summary of one shift, built from the stored records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShiftReport {
    /// The shift's id: the id of its start record.
    pub shift_id: Option<Uuid>,
    /// The site of the shift, if one was assigned.
    pub site_id: Option<String>,
    /// Distance walked or driven, in metres: the sum of the steps between stored trusted
    /// fixes, where a step ends only once the guard is the storage rate's minimum distance
    /// from its start, so a receiver's jitter while the guard stands still adds nothing.
    pub distance_m: f64,
    /// Fixes stored during the shift.
    pub fixes: u64,
    /// Stored fixes that carry at least one flag.
    pub flagged_fixes: u64,
    /// How many fixes carry each flag.
    pub flags: BTreeMap<FixFlag, u64>,
    /// Tour checkpoints with at least one accepted scan, in tour order.
    pub checkpoints_visited: Vec<String>,
    /// Tour checkpoints with no accepted scan, in tour order.
    pub checkpoints_missed: Vec<String>,
    /// Scans that were refused.
    pub scans_refused: u64,
    /// Incidents logged.
    pub incidents: u64,
    /// Panic alerts raised.
    pub panics: u64,
    /// Records of the shift stored on the device.
    pub captured: u64,
    /// Records of the shift the server acknowledged.
    pub synced: u64,
    /// Records of the shift still waiting for an acknowledgement.
    pub pending: u64,
    /// The tour rounds closed during the shift, in the order they were recorded.
    pub tour_rounds: Vec<TourRound>,
    /// Times the guard entered the site's perimeter.
    pub site_entries: u64,
    /// Times the guard left the site's perimeter.
    pub site_exits: u64,
}

impl Vigil {
    /// Builds the report of the active shift, or of the latest one if none is active.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn shift_report(&self) -> Result<ShiftReport> {
        let Some((shift_id, site_id)) = self.store().latest_shift()? else {
            return Ok(ShiftReport::default());
        };

        let mut report = ShiftReport {
            shift_id: Some(shift_id),
            site_id: site_id.clone(),
            ..Default::default()
        };
        let min_step_m = self.config().storage_rate.min_distance_m;
        let mut step_start: Option<Fix> = None;
        let mut visited = BTreeSet::new();

        self.store().for_each_in_shift(shift_id, |record, state| {
            report.captured += 1;
            match state {
                SyncState::Acknowledged => report.synced += 1,
                SyncState::Stored | SyncState::Sent => report.pending += 1,
                SyncState::Rejected => {}
            }

            match &record.body {
                RecordBody::Fix { flags } => {
                    report.fixes += 1;
                    if !flags.is_empty() {
                        report.flagged_fixes += 1;
                    }
                    for flag in flags {
                        *report.flags.entry(*flag).or_default() += 1;
                    }
                    if let (true, Some(fix)) = (flags.is_empty(), record.location.fix()) {
                        match &step_start {
                            Some(start) => {
                                let step_m = distance_m(start.position(), fix.position());
                                if step_m >= min_step_m {
                                    report.distance_m += step_m;
                                    step_start = Some(fix.clone());
                                }
                            }
                            None => step_start = Some(fix.clone()),
                        }
                    }
                }
                RecordBody::CheckpointScan { verification, .. } => {
                    match (&verification.checkpoint_id, verification.accepted) {
                        (Some(checkpoint), true) => {
                            visited.insert(checkpoint.clone());
                        }
                        _ => report.scans_refused += 1,
                    }
                }
                RecordBody::Incident(_) => report.incidents += 1,
                RecordBody::Panic { .. } => report.panics += 1,
                RecordBody::TourRound(round) => report.tour_rounds.push(round.clone()),
                RecordBody::SiteFence { crossing, .. } => match crossing {
                    FenceCrossing::Entered => report.site_entries += 1,
                    FenceCrossing::Left => report.site_exits += 1,
                },
                RecordBody::ShiftStart { .. }
                | RecordBody::ShiftEnd
                | RecordBody::AlertCancel { .. } => {}
            }
        })?;

        let site = match &site_id {
            Some(site_id) => self.store().site(site_id)?,
            None => None,
        };
        if let Some(site) = site {
            let mut planned: Vec<String> = Vec::new();
            for tour in &site.tours {
                for checkpoint in &tour.checkpoint_ids {
                    if !planned.contains(checkpoint) {
                        planned.push(checkpoint.clone());
                    }
                }
            }
            let (done, missed): (Vec<String>, Vec<String>) =
                planned.into_iter().partition(|checkpoint| visited.contains(checkpoint));
            report.checkpoints_visited = done;
            report.checkpoints_missed = missed;
        }
        Ok(report)
    }
}
