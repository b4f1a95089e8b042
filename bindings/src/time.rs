//! Trusted time: the device clock's offset from the SOC, and corrected capture times.

use uuid_text::parse_record_id;

use crate::{Vigil, VigilError, uuid_text};

/// A reason a corrected time is less certain than usual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TimeFlag {
    /// The phone's clock was changed between the capture and the latest exchange with
    /// the SOC: the claimed time is off, the corrected one is not.
    ClockChanged,
    /// The phone restarted in between; the corrected time assumes the clock was not
    /// changed before the restart.
    Rebooted,
    /// The record has no monotonic reading, so it was not corrected.
    NoReading,
}

impl From<vigil_core::time::TimeFlag> for TimeFlag {
    fn from(flag: vigil_core::time::TimeFlag) -> Self {
        match flag {
            vigil_core::time::TimeFlag::ClockChanged => TimeFlag::ClockChanged,
            vigil_core::time::TimeFlag::Rebooted => TimeFlag::Rebooted,
            vigil_core::time::TimeFlag::NoReading => TimeFlag::NoReading,
        }
    }
}

/// A record's capture time as the phone claimed it and as corrected against the SOC's
/// clock.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CorrectedTime {
    /// The phone's clock at capture, in milliseconds since the Unix epoch.
    pub claimed_ms: i64,
    /// The capture time on the SOC's clock, in milliseconds since the Unix epoch; null
    /// before the first exchange with the SOC.
    pub corrected_ms: Option<i64>,
    /// Reasons the corrected time is less certain; empty when it is as exact as the
    /// offset.
    pub flags: Vec<TimeFlag>,
}

/// The phone clock's offset from the SOC's clock at the latest exchange.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ClockOffset {
    /// SOC time minus phone time, in milliseconds: positive when the phone is behind.
    pub offset_ms: i64,
    /// Half the exchange's round trip, in milliseconds: the offset is exact to within it.
    pub uncertainty_ms: i64,
}

#[uniffi::export]
impl Vigil {
    /// Returns the phone clock's offset from the SOC's clock, measured at the latest
    /// exchange, or null before the first one.
    ///
    /// # Errors
    ///
    /// `Storage` if the store cannot be read.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only reads.
    pub async fn clock_offset(&self) -> Result<Option<ClockOffset>, VigilError> {
        self.blocking(|core| {
            Ok(core.clock_offset()?.map(|offset| ClockOffset {
                offset_ms: offset.offset_ms,
                uncertainty_ms: offset.uncertainty_ms,
            }))
        })
        .await
    }

    /// Returns a record's capture time as claimed and as corrected against the SOC's
    /// clock; the SOC stores the same correction when it receives the record.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a malformed id; `NotFound` for an unknown one.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only reads.
    pub async fn corrected_time(&self, record_id: String) -> Result<CorrectedTime, VigilError> {
        let id = parse_record_id(&record_id)?;
        self.blocking(move |core| {
            let time = core.corrected_time(id)?;
            Ok(CorrectedTime {
                claimed_ms: time.claimed_ms,
                corrected_ms: time.corrected_ms,
                flags: time.flags.into_iter().map(TimeFlag::from).collect(),
            })
        })
        .await
    }
}
