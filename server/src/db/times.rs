//! Corrected capture times: the server's estimate of when each record was really made.

use rusqlite::{Transaction, params};
use vigil_core::model::Record;
use vigil_core::time::{DeviceClockSample, correct};

use crate::error::ServerError;

/// Stores the corrected capture time of each record that has none yet, from the device's
/// clocks at the push (`sample`) and the server's clock when it arrived (`now_ms`). The
/// first correction of a record is kept: a resend carries the same reading, and the
/// earliest anchor is the one least exposed to clock drift.
pub(crate) fn store_corrections(
    transaction: &Transaction<'_>,
    records: &[Record],
    sample: &DeviceClockSample,
    now_ms: i64,
) -> Result<(), ServerError> {
    {
        let mut update = transaction.prepare_cached(
            "UPDATE records SET corrected_at_ms = ?2, time_flags = ?3
             WHERE id = ?1 AND device_id = ?4 AND corrected_at_ms IS NULL",
        )?;
        for record in records {
            let time = correct(record.captured_at_ms, record.clock.as_ref(), sample, now_ms);
            let Some(corrected_ms) = time.corrected_ms else {
                continue;
            };
            let flags = serde_json::to_string(&time.flags)
                .map_err(|error| ServerError::Corrupt(error.to_string()))?;
            update.execute(params![
                record.id.to_string(),
                corrected_ms,
                flags,
                record.device_id
            ])?;
        }
    }
    Ok(())
}
