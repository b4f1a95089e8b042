//! Capturing records: shifts, fixes, incidents, checkpoint scans and panic alerts.

use uuid::Uuid;

use super::Vigil;
use super::tours::TourTimer;
use crate::alert::AlertState;
use crate::checkin::{
    ScannedCheckpoint, is_signed_tag, location_trust_reasons, verify_checkin, verify_signed_tag,
};
use crate::error::{Error, Result};
use crate::location::{FenceTracker, StorageFilter};
use crate::model::{
    AlertKind, CheckinReason, Fix, FixFlag, Incident, Location, NoFixReason, Record, RecordBody,
    ScanMethod, Verification,
};
use crate::store::NewRecord;

/// Maximum length of an incident text, in bytes (about four pages).
pub const MAX_INCIDENT_TEXT_BYTES: usize = 16 * 1024;

/// Maximum length of an incident category, in bytes.
pub const MAX_CATEGORY_BYTES: usize = 64;

/// Maximum length of a scanned payload, in bytes. The largest QR code stores 2,953 bytes.
pub const MAX_SCAN_PAYLOAD_BYTES: usize = 4096;

/// The outcome of one fix of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum FixOutcome {
    /// The fix is stored, with the flags that mark it untrusted, if any.
    Stored {
        /// The id of the fix record.
        id: Uuid,
        /// The reasons the fix is not trusted; empty when it is trusted.
        flags: Vec<FixFlag>,
    },
    /// The fix has an invalid value and was not stored.
    Rejected {
        /// The invalid field.
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The fix was checked and trusted but not stored, because it adds nothing to the
    /// track at the configured [`StorageRate`](crate::location::StorageRate). It still
    /// counts as the current location and for the site's perimeter.
    Skipped,
}

/// A stored checkpoint scan and its verification.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckIn {
    /// The id of the scan record.
    pub record_id: Uuid,
    /// Whether the scan counts, and why not.
    pub verification: Verification,
}

/// A stored panic alert and whether the SOC has it yet.
#[derive(Debug, Clone, PartialEq)]
pub struct PanicOutcome {
    /// The id of the alert record.
    pub record_id: Uuid,
    /// When the SOC confirmed it stored the alert, by the server's clock; `None` while
    /// the alert waits in the outbox.
    pub delivered_at_ms: Option<i64>,
}

impl Vigil {
    /// Starts a shift, at a site if one is assigned.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if a shift is already active; [`Error::NotFound`] if the site
    /// is not stored; storage errors.
    pub fn start_shift(&self, site_id: Option<String>) -> Result<Record> {
        self.store().ensure_not_wiped()?;
        if let Some(site) = &site_id {
            if self.store().site(site)?.is_none() {
                return Err(Error::NotFound { what: "site", id: site.clone() });
            }
        }

        let id = Uuid::now_v7();
        let body = RecordBody::ShiftStart { site_id: site_id.clone() };
        let mut record = self.new_record(Some(id), self.current_location(), body);
        record.id = id;
        let stored = self.store().open_shift(record, site_id)?;
        self.reset_tour_timer();
        self.reset_site_fence();
        self.reset_storage_filter();

        tracing::info!(shift = %stored.id, "shift started");
        Ok(stored)
    }

    /// Ends the active shift.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if no shift is active; storage errors.
    pub fn end_shift(&self) -> Result<Record> {
        self.store().ensure_not_wiped()?;
        let shift_id = self.active_shift_id()?;
        if shift_id.is_some() {
            // NOTE: the rounds and the shift end are two transactions; if the second fails
            // the shift stays open with its open rounds already recorded as ended.
            self.close_rounds_for_shift_end()?;
        }
        let record = self.new_record(shift_id, self.current_location(), RecordBody::ShiftEnd);
        let stored = self.store().close_shift(record)?;
        self.reset_tour_timer();
        self.reset_site_fence();
        self.reset_storage_filter();
        tracing::info!(shift = ?stored.shift_id, "shift ended");
        Ok(stored)
    }

    /// Checks and stores a batch of fixes in one transaction, in the order given.
    ///
    /// Invalid fixes (NaN, out of range) are not stored and come back as
    /// [`FixOutcome::Rejected`]. The rest are checked for plausibility and against the
    /// site's perimeter. A flagged fix is always stored, as evidence. A trusted fix is
    /// stored at the configured [`StorageRate`](crate::location::StorageRate), when it
    /// crosses the perimeter, or while an alert is active, and otherwise comes back as
    /// [`FixOutcome::Skipped`].
    ///
    /// # Errors
    ///
    /// Storage errors only; then no fix of the batch was stored.
    pub fn record_fixes(&self, fixes: Vec<Fix>) -> Result<Vec<FixOutcome>> {
        self.store().ensure_not_wiped()?;
        let now_ms = self.now_ms();
        let shift_id = self.active_shift_id()?;
        // The alert lane sends the SOC the newest stored fix, so while an alert is active
        // every trusted fix is stored for the SOC to follow the guard.
        let alerting = self.alert_active()?;

        let mut checker = self.fix_checker();
        let before = checker.clone();
        let mut storage = self.storage_filter();
        let storage_before = storage.clone();
        let mut fence = self.site_fence()?;
        let fence_before = fence.clone();
        let mut outcomes = Vec::with_capacity(fixes.len());
        let mut records = Vec::with_capacity(fixes.len());

        for fix in fixes {
            if let Err(Error::InvalidInput { field, reason }) = fix.validate() {
                outcomes.push(FixOutcome::Rejected { field, reason });
                continue;
            }
            let flags = checker.check(&fix, now_ms);
            let crossing = match fence.as_mut() {
                Some(tracker) if flags.is_empty() => tracker.update(&fix),
                _ => None,
            };

            let store = if !flags.is_empty() {
                true
            } else if crossing.is_some() || alerting {
                storage.stored_anyway(&fix);
                true
            } else {
                storage.admit(&fix)
            };
            if store {
                let body = RecordBody::Fix { flags: flags.clone() };
                let record = self.new_record(shift_id, Location::Fix(fix.clone()), body);
                outcomes.push(FixOutcome::Stored { id: record.id, flags });
                records.push(record);
            } else {
                outcomes.push(FixOutcome::Skipped);
            }

            if let (Some(crossing), Some(tracker)) = (crossing, fence.as_ref()) {
                let body =
                    RecordBody::SiteFence { site_id: tracker.site_id().to_string(), crossing };
                records.push(self.new_record(shift_id, Location::Fix(fix), body));
            }
        }

        if let Err(error) = self.store().append(records) {
            // The batch was not stored, so the checker must not remember it either.
            *checker = before;
            *storage = storage_before;
            *fence = fence_before;
            return Err(error);
        }
        drop(fence);
        drop(storage);
        drop(checker);

        self.close_due_rounds_if_due();
        Ok(outcomes)
    }

    /// Stores an incident report with the current fix.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or oversized category or text; storage errors.
    pub fn log_incident(&self, incident: Incident) -> Result<Record> {
        self.store().ensure_not_wiped()?;
        check_incident(&incident)?;

        let shift_id = self.active_shift_id()?;
        let record =
            self.new_record(shift_id, self.current_location(), RecordBody::Incident(incident));
        let stored = self.store().append(vec![record])?.remove(0);
        tracing::info!(record = %stored.id, "incident logged");
        Ok(stored)
    }

    /// Verifies and stores a checkpoint scan. A refused scan is stored too, with its
    /// reasons, because an attempt is evidence.
    ///
    /// For [`ScanMethod::Gps`] the payload is the checkpoint's id; otherwise it is the raw
    /// identifier read from the tag.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or oversized payload; storage errors.
    pub fn scan_checkpoint(&self, method: ScanMethod, payload: &str) -> Result<CheckIn> {
        self.scan(method, payload, None)
    }

    /// Verifies and stores a BLE beacon sighting as a checkpoint scan. A beacon whose
    /// checkpoint tag sets `min_rssi_dbm` counts only when received at least that strongly.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or oversized beacon id, or a signal strength
    /// outside -127..=20 dBm; otherwise as [`Vigil::scan_checkpoint`].
    pub fn scan_beacon(&self, beacon_id: &str, rssi_dbm: i32) -> Result<CheckIn> {
        if !(-127..=20).contains(&rssi_dbm) {
            return Err(Error::invalid("rssi_dbm", format!("{rssi_dbm} is outside -127..=20")));
        }
        self.scan(ScanMethod::Ble, beacon_id, Some(rssi_dbm))
    }

    fn scan(&self, method: ScanMethod, payload: &str, rssi_dbm: Option<i32>) -> Result<CheckIn> {
        self.store().ensure_not_wiped()?;
        check_text("payload", payload, MAX_SCAN_PAYLOAD_BYTES)?;

        // The timer is held until the scan is stored, so a concurrent scan sees this one.
        let mut tour_timer = self.tour_timer();
        let closed = self.close_due_rounds(&mut tour_timer)?;
        if !closed.is_empty() {
            tracing::info!(rounds = closed.len(), "tour rounds closed before a scan");
        }

        let location = self.current_location();
        let verification =
            self.verify_scan(&mut tour_timer, method, payload, rssi_dbm, &location)?;

        let body = RecordBody::CheckpointScan {
            method,
            payload: payload.to_string(),
            verification: verification.clone(),
        };
        let record = self.new_record(self.active_shift_id()?, location, body);
        let stored = self.store().append(vec![record])?.remove(0);

        tracing::info!(record = %stored.id, accepted = verification.accepted, "checkpoint scanned");
        Ok(CheckIn { record_id: stored.id, verification })
    }

    /// Verifies and stores a scan whose payload arrived as bytes, such as an NFC NDEF
    /// record. A Vigil tag is always UTF-8 text, so other bytes are an input error.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a payload that is empty, oversized or not UTF-8 (naming
    /// the offset of the first invalid byte); otherwise as [`Vigil::scan_checkpoint`].
    pub fn scan_checkpoint_bytes(&self, method: ScanMethod, payload: &[u8]) -> Result<CheckIn> {
        if payload.len() > MAX_SCAN_PAYLOAD_BYTES {
            return Err(Error::invalid(
                "payload",
                format!("{} bytes is over the limit of {MAX_SCAN_PAYLOAD_BYTES}", payload.len()),
            ));
        }
        let text = std::str::from_utf8(payload).map_err(|error| {
            Error::invalid(
                "payload",
                format!("is not UTF-8 text: invalid byte at offset {}", error.valid_up_to()),
            )
        })?;
        self.scan_checkpoint(method, text)
    }

    /// Stores a panic alert durably and wakes the alert lane, as [`Vigil::raise_alert`]. It
    /// also goes first at the next sync.
    ///
    /// # Errors
    ///
    /// Storage errors only: a panic needs no shift, no fix and no enrollment.
    pub fn raise_panic(&self) -> Result<Record> {
        self.store().ensure_not_wiped()?;
        Ok(self.raise_alert(AlertKind::Panic)?.0)
    }

    /// Stores a panic alert and returns once its first send has finished. When the alert
    /// lane runs, the lane sends it and this waits for that send, so the alert is posted
    /// once. Otherwise this sends it. An alert not delivered now stays on the lane and goes
    /// first at the next sync.
    ///
    /// # Errors
    ///
    /// Storage errors only; a failed send is reported as `delivered_at_ms: None`.
    ///
    /// # Cancel safety
    ///
    /// The alert is stored before the first await; cancelling after that leaves it on the
    /// lane.
    pub async fn raise_panic_and_send(&self) -> Result<PanicOutcome> {
        let attempts = self.inner.alerts.subscribe_attempts();
        let record = self.blocking(|vigil| vigil.raise_panic()).await?;
        let delivered = if self.inner.alerts.is_running() {
            self.first_lane_attempt(record.id, attempts).await
        } else {
            self.deliver_panic(&record).await
        };

        let delivered_at_ms = match delivered {
            Ok(delivered_at_ms) => Some(delivered_at_ms),
            Err(error) => {
                tracing::warn!(record = %record.id, %error, "panic alert not delivered yet; queued");
                None
            }
        };
        Ok(PanicOutcome { record_id: record.id, delivered_at_ms })
    }

    /// Returns the newest trusted fix if it is recent enough, or why there is none.
    pub fn current_location(&self) -> Location {
        let checker = self.fix_checker();
        let Some(fix) = checker.last_trusted() else {
            return Location::NoFix { reason: NoFixReason::Unavailable };
        };
        if self.now_ms() - fix.fix_time_ms > self.config().max_fix_age_ms {
            return Location::NoFix { reason: NoFixReason::Stale };
        }
        Location::Fix(fix.clone())
    }

    fn verify_scan(
        &self,
        tour_timer: &mut TourTimer,
        method: ScanMethod,
        payload: &str,
        rssi_dbm: Option<i32>,
        location: &Location,
    ) -> Result<Verification> {
        let shift_site = self.store().active_shift()?.and_then(|(_, site)| site);

        // For a GPS check-in the payload names the checkpoint; search the shift's site first.
        let candidates = if matches!(method, ScanMethod::Qr | ScanMethod::Nfc)
            && is_signed_tag(payload)
        {
            match verify_signed_tag(payload, &self.store().tag_keys()?) {
                Ok(claims) => vec![(claims.site_id, claims.checkpoint_id)],
                Err(error) => {
                    tracing::warn!(%error, "signed checkpoint tag did not verify");
                    let reason = CheckinReason::UnverifiedTag { problem: error.code().to_string() };
                    return Ok(Verification {
                        accepted: false,
                        checkpoint_id: None,
                        reasons: vec![reason],
                        tour_ids: Vec::new(),
                    });
                }
            }
        } else if method == ScanMethod::Gps {
            let mut found = Vec::new();
            for site in self.store().sites()? {
                if site.checkpoint(payload).is_some() {
                    found.push((site.id.clone(), payload.to_string()));
                }
            }
            found
        } else {
            self.store().find_tag(method, payload)?
        };

        let chosen = candidates
            .iter()
            .find(|(site_id, _)| shift_site.as_deref().is_none_or(|shift| shift == site_id))
            .or(candidates.first());
        let Some((site_id, checkpoint_id)) = chosen else {
            return Ok(verify_checkin(
                ScannedCheckpoint::Unknown,
                location,
                &self.config().checkin,
            ));
        };

        let Some(site) = self.store().site(site_id)? else {
            return Ok(verify_checkin(
                ScannedCheckpoint::Unknown,
                location,
                &self.config().checkin,
            ));
        };
        let Some(checkpoint) = site.checkpoint(checkpoint_id) else {
            return Ok(verify_checkin(
                ScannedCheckpoint::Unknown,
                location,
                &self.config().checkin,
            ));
        };

        let scanned = match &shift_site {
            Some(shift) if shift != site_id => {
                ScannedCheckpoint::OtherSite { site_id: site_id.as_str(), checkpoint }
            }
            _ => ScannedCheckpoint::Found(checkpoint),
        };
        let mut verification = verify_checkin(scanned, location, &self.config().checkin);
        if let ScannedCheckpoint::Found(checkpoint) = scanned {
            let threshold = checkpoint
                .tags
                .iter()
                .find(|tag| tag.method == ScanMethod::Ble && tag.value == payload)
                .and_then(|tag| tag.min_rssi_dbm);
            if let (ScanMethod::Ble, Some(min_rssi_dbm)) = (method, threshold) {
                if rssi_dbm.is_none_or(|rssi| rssi < min_rssi_dbm) {
                    verification.reasons.push(CheckinReason::WeakSignal { rssi_dbm, min_rssi_dbm });
                }
            }
            self.add_location_trust_reasons(&mut verification);
            self.apply_tours(tour_timer, &checkpoint.id, self.now_ms(), &mut verification)?;
            verification.accepted = verification.reasons.is_empty();
        }
        Ok(verification)
    }

    fn add_location_trust_reasons(&self, verification: &mut Verification) {
        let now_ms = self.now_ms();
        let checker = self.fix_checker();
        let flags = checker.newest_flags(now_ms, self.config().max_fix_age_ms);
        verification.reasons.extend(location_trust_reasons(flags));
    }

    /// Returns the perimeter tracker of the active shift's site, created at the first fix
    /// of the shift; it holds `None` when the shift has no site or the site no perimeter.
    ///
    /// NOTE: the side of the fence is kept in memory only, so after the app restarts the
    /// first confident fix inside records an entry again.
    fn site_fence(&self) -> Result<std::sync::MutexGuard<'_, Option<FenceTracker>>> {
        let mut fence = self.inner.fence.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let site_id = self.store().active_shift()?.and_then(|(_, site)| site);
        let current = fence.as_ref().map(|tracker| tracker.site_id().to_string());
        if site_id != current {
            *fence = match &site_id {
                Some(id) => self
                    .store()
                    .site(id)?
                    .and_then(|site| FenceTracker::new(site.id, &site.perimeter)),
                None => None,
            };
        }
        Ok(fence)
    }

    /// Returns whether an alert is active: raised and neither cancelled nor taken by an
    /// operator yet.
    fn alert_active(&self) -> Result<bool> {
        let alerts = self.store().active_alerts()?;
        Ok(alerts.iter().any(|(_, status)| status.state != AlertState::Cancelled))
    }

    /// Forgets the last stored fix, so the first trusted fix of a shift is stored.
    fn reset_storage_filter(&self) {
        *self.storage_filter() = StorageFilter::new(self.config().storage_rate);
    }

    /// Forgets the side of the fence, when a shift starts or ends.
    fn reset_site_fence(&self) {
        *self.inner.fence.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }

    pub(super) fn active_shift_id(&self) -> Result<Option<Uuid>> {
        Ok(self.store().active_shift()?.map(|(id, _)| id))
    }

    /// Builds a record captured now, ready to store.
    pub(super) fn new_record(
        &self,
        shift_id: Option<Uuid>,
        location: Location,
        body: RecordBody,
    ) -> NewRecord {
        NewRecord {
            id: Uuid::now_v7(),
            device_id: self.config().device_id.clone(),
            guard_id: self.config().guard_id.clone(),
            shift_id,
            captured_at_ms: self.now_ms(),
            clock: self.clock_reading(&location, &body),
            location,
            attachments: Vec::new(),
            body,
        }
    }
}

/// Checks an incident's category and text.
pub(super) fn check_incident(incident: &Incident) -> Result<()> {
    check_text("incident.category", &incident.category, MAX_CATEGORY_BYTES)?;
    check_text("incident.text", &incident.text, MAX_INCIDENT_TEXT_BYTES)
}

fn check_text(field: &str, text: &str, max_bytes: usize) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if text.len() > max_bytes {
        return Err(Error::invalid(
            field,
            format!("{} bytes is over the limit of {max_bytes}", text.len()),
        ));
    }
    if text.contains('\0') {
        return Err(Error::invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}
