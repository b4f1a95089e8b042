//! Retention: removing records the SOC has had for long enough.
//!
//! Only acknowledged records are purged, so a record the SOC does not have yet is never
//! lost. With `secure_delete` on (see [`super::schema::apply_pragmas`]), SQLite overwrites
//! a purged row's bytes with zeros.

use rusqlite::params;

use super::{Store, SyncState};
use crate::alert::AlertState;
use crate::error::Result;

impl Store {
    /// Deletes the records the SOC acknowledged at or before `acknowledged_before_ms` (by
    /// the device clock), in one durable transaction, and returns how many were deleted.
    ///
    /// Some records are kept even when old enough. A record still queued, sent or rejected
    /// is kept, and so is the start of a shift that is still open. An alert that is still
    /// active (see [`Store::active_alerts`]) is kept because the alert lane reads it.
    /// Deleting a closed shift's start record also deletes the shift's row, and deleting a
    /// record deletes its attachments' rows and encrypted files.
    ///
    /// # Errors
    ///
    /// Storage errors; then nothing was deleted.
    pub fn purge_acknowledged(&self, acknowledged_before_ms: i64) -> Result<u64> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;

        transaction.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS purge (id TEXT PRIMARY KEY NOT NULL);
             DELETE FROM temp.purge;",
        )?;
        transaction.execute(
            "INSERT INTO temp.purge (id)
             SELECT id FROM records
             WHERE sync_state = ?1 AND acked_at_ms <= ?2
               AND id NOT IN (SELECT record_id FROM outbox)
               AND id NOT IN (SELECT id FROM shifts WHERE ended_at_ms IS NULL)
               AND id NOT IN (SELECT record_id FROM alerts WHERE state IN (?3, ?4, ?5)
                              OR (state = ?6 AND delivered_at_ms IS NULL))",
            params![
                SyncState::Acknowledged.to_sql(),
                acknowledged_before_ms,
                AlertState::Stored.to_sql(),
                AlertState::Sent.to_sql(),
                AlertState::Delivered.to_sql(),
                AlertState::Cancelled.to_sql()
            ],
        )?;
        let attachment_ids = super::attachments::purge_attachment_rows(&transaction)?;
        transaction
            .execute("DELETE FROM alerts WHERE record_id IN (SELECT id FROM temp.purge)", [])?;
        transaction.execute("DELETE FROM shifts WHERE id IN (SELECT id FROM temp.purge)", [])?;
        let purged = transaction
            .execute("DELETE FROM records WHERE id IN (SELECT id FROM temp.purge)", [])?;
        transaction.execute("DELETE FROM temp.purge", [])?;
        transaction.commit()?;
        self.remove_attachment_files(&attachment_ids);

        if purged > 0 {
            tracing::info!(records = purged, "purged records past their retention time");
        }
        Ok(purged as u64)
    }
}
