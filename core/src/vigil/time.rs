//! Trusted time on the device: stamping records and tracking the clock offset.

use super::Vigil;
use crate::error::Result;
use crate::model::{FixSource, Location, RecordBody};
use crate::time::{ClockOffset, ClockReading, CorrectedTime, DeviceClockSample, correct};

/// The setting that keeps the latest clock offset measured against the server.
const CLOCK_OFFSET: &str = "clock_offset";

/// A new offset is written to disk only when it differs from the stored one by more than
/// this many milliseconds, or when the stored one is older than [`OFFSET_REFRESH_MS`]: a
/// disk sync per exchange would slow a catch-up for no gain in accuracy.
const OFFSET_CHANGE_MS: i64 = 1_000;

/// The age, in monotonic milliseconds, after which a stored offset is refreshed anyway.
const OFFSET_REFRESH_MS: i64 = 60_000;

impl Vigil {
    /// Returns the monotonic reading for a record captured now, with GNSS time when the
    /// record is a fix from GNSS.
    ///
    /// NOTE: only fix records carry GNSS time; other records keep the attached fix's
    /// time in their location instead.
    pub(super) fn clock_reading(
        &self,
        location: &Location,
        body: &RecordBody,
    ) -> Option<ClockReading> {
        let mut reading = self.inner.monotonic.reading()?;
        if let (RecordBody::Fix { .. }, Location::Fix(fix)) = (body, location)
            && fix.source == FixSource::Gnss
        {
            reading.gnss_time_ms = Some(fix.fix_time_ms);
        }
        Some(reading)
    }

    /// Returns the device's clocks now, to send with a push; `None` when the monotonic
    /// clock cannot be read.
    pub(super) fn clock_sample(&self) -> Option<DeviceClockSample> {
        let reading = self.inner.monotonic.reading()?;
        Some(DeviceClockSample {
            boot_id: reading.boot_id,
            since_boot_ms: reading.since_boot_ms,
            wall_ms: self.now_ms(),
        })
    }

    /// Stores the clock offset measured by one exchange with the server: `before` and
    /// `after` are the device's clocks when the request left and the reply arrived, and
    /// `server_time_ms` the server's clock in the reply.
    pub(super) async fn note_server_time(
        &self,
        before: Option<DeviceClockSample>,
        after: Option<DeviceClockSample>,
        server_time_ms: i64,
    ) -> Result<()> {
        let (Some(before), Some(after)) = (before, after) else {
            return Ok(());
        };
        if before.boot_id != after.boot_id {
            return Ok(());
        }

        let round_trip = (after.since_boot_ms - before.since_boot_ms).max(0);
        let middle = DeviceClockSample {
            boot_id: after.boot_id,
            since_boot_ms: before.since_boot_ms + round_trip / 2,
            wall_ms: before.wall_ms + (after.wall_ms - before.wall_ms) / 2,
        };
        let offset = ClockOffset {
            offset_ms: server_time_ms - middle.wall_ms,
            uncertainty_ms: round_trip / 2 + 1,
            sample: middle,
            trusted_ms: server_time_ms,
        };
        let persist = {
            let mut latest =
                self.inner.clock_offset.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let stale = match latest.as_ref() {
                None => true,
                Some(stored) => {
                    stored.sample.boot_id != offset.sample.boot_id
                        || (stored.offset_ms - offset.offset_ms).abs() > OFFSET_CHANGE_MS
                        || offset.sample.since_boot_ms - stored.sample.since_boot_ms
                            > OFFSET_REFRESH_MS
                }
            };
            if stale {
                *latest = Some(offset.clone());
            }
            stale
        };
        if !persist {
            return Ok(());
        }

        let json = serde_json::to_string(&offset)?;
        self.blocking(move |vigil| vigil.store().set_setting(CLOCK_OFFSET, &json)).await
    }

    /// Returns the device clock's offset from the server's clock, or `None` before the
    /// first exchange with the server. It is the latest stored measure, which is within
    /// 1 s of the latest exchange's and at most a minute older.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn clock_offset(&self) -> Result<Option<ClockOffset>> {
        let latest =
            self.inner.clock_offset.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        if latest.is_some() {
            return Ok(latest);
        }
        let Some(json) = self.store().setting(CLOCK_OFFSET)? else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_str(&json)?))
    }

    /// Returns a record's capture time as the device claimed it and as corrected against
    /// the server's clock at the latest exchange. `corrected_ms` is `None` before the
    /// first exchange. The server makes the same correction at each push and keeps it.
    ///
    /// # Errors
    ///
    /// [`crate::Error::NotFound`] for an unknown record; storage errors.
    pub fn corrected_time(&self, record_id: uuid::Uuid) -> Result<CorrectedTime> {
        let (record, _) = self.store().record(record_id)?;
        let Some(offset) = self.clock_offset()? else {
            return Ok(CorrectedTime {
                claimed_ms: record.captured_at_ms,
                corrected_ms: None,
                flags: Vec::new(),
            });
        };
        Ok(correct(record.captured_at_ms, record.clock.as_ref(), &offset.sample, offset.trusted_ms))
    }
}
