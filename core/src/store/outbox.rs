//! The outbox: records waiting for the server's acknowledgement.
//!
//! A record enters the outbox in the transaction that stores it and leaves only in the
//! transaction that marks it acknowledged or rejected, so it can never be dropped unsent.

use rusqlite::params;
use uuid::Uuid;

use super::records::{StoredBody, log_unreadable};
use super::{Store, SyncState};
use crate::error::Result;
use crate::model::Record;

/// A queued record as stored: its id, sequence number, canonical bytes and evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecord {
    /// The record's id.
    pub id: Uuid,
    /// The record's per-device sequence number.
    pub seq: u64,
    /// The record's canonical bytes: its JSON, exactly as signed and sealed.
    pub json: String,
    /// The Ed25519 signature over `json`; `None` if the record was stored before the
    /// device's key was set.
    pub signature: Option<Vec<u8>>,
    /// `json` sealed to the SOC; `None` if the record was stored before the SOC's key
    /// was known.
    pub sealed: Option<Vec<u8>>,
}

/// How many records are in each sync state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    /// Records stored on the device, in any state.
    pub captured: u64,
    /// Records the server acknowledged.
    pub synced: u64,
    /// Records waiting in the outbox, whether sent already or not.
    pub pending: u64,
    /// Panic alerts among the pending records.
    pub pending_panics: u64,
    /// Records the server refused for good.
    pub rejected: u64,
}

impl Store {
    /// Returns up to `limit` queued records in send order: by priority, then by sequence
    /// number. `kind` restricts the page to one record kind.
    pub fn outbox_page(&self, limit: usize, kind: Option<&str>) -> Result<Vec<Record>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT records.id, records.body, records.body_envelope
             FROM outbox JOIN records ON records.id = outbox.record_id
             WHERE ?1 IS NULL OR records.kind = ?1
             ORDER BY outbox.priority, outbox.seq LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let bodies = statement
            .query_map(params![kind, limit], |row| StoredBody::from_row(row, 0))?
            .collect::<rusqlite::Result<Vec<StoredBody>>>()?;

        bodies.into_iter().map(|body| body.decode(&self.key)).collect()
    }

    /// Returns the next batch to push as stored JSON, in send order: at most `limit`
    /// records whose JSON adds up to at most `max_bytes`, but always at least one record
    /// when the outbox is not empty, so an oversized record is still tried alone.
    ///
    /// The JSON is the record exactly as stored, so a push sends the bytes captured on the
    /// device without decoding and encoding them again.
    pub fn outbox_batch(&self, limit: usize, max_bytes: usize) -> Result<Vec<QueuedRecord>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT records.id, records.body, records.body_envelope, records.seq,
                    records.signature, records.sealed
             FROM outbox JOIN records ON records.id = outbox.record_id
             ORDER BY outbox.priority, outbox.seq LIMIT ?1",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = statement.query([limit])?;

        let mut batch = Vec::new();
        let mut total_bytes = 0;
        while let Some(row) = rows.next()? {
            // A record whose ciphertext does not open stays queued, but must not keep the
            // records behind it from being sent.
            let (id, json) = match StoredBody::from_row(row, 0)?.json(&self.key) {
                Ok(decrypted) => decrypted,
                Err(error) => {
                    log_unreadable(&error);
                    continue;
                }
            };
            if !batch.is_empty() && total_bytes + json.len() > max_bytes {
                break;
            }
            total_bytes += json.len();
            let seq: i64 = row.get(3)?;
            batch.push(QueuedRecord {
                id: super::records::parse_uuid(&id)?,
                seq: u64::try_from(seq)
                    .map_err(|_| crate::Error::Corrupt(format!("negative stored seq {seq}")))?,
                json,
                signature: row.get(4)?,
                sealed: row.get(5)?,
            });
        }
        Ok(batch)
    }

    /// Records that these records are about to be sent.
    pub fn mark_sent(&self, ids: &[Uuid]) -> Result<()> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        {
            let mut attempt = transaction
                .prepare_cached("UPDATE outbox SET attempts = attempts + 1 WHERE record_id = ?1")?;
            let mut sent = transaction.prepare_cached(
                "UPDATE records SET sync_state = ?2 WHERE id = ?1 AND sync_state = ?3",
            )?;
            for id in ids {
                attempt.execute([id.to_string()])?;
                sent.execute(params![
                    id.to_string(),
                    SyncState::Sent.to_sql(),
                    SyncState::Stored.to_sql()
                ])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// Marks records as acknowledged by the server and removes them from the outbox, in one
    /// transaction. Ids not in the outbox are ignored, so a repeated acknowledgement is
    /// harmless.
    pub fn mark_acknowledged(&self, ids: &[Uuid], acked_at_ms: i64) -> Result<()> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        {
            let mut dequeue =
                transaction.prepare_cached("DELETE FROM outbox WHERE record_id = ?1")?;
            // A record with attachments not yet uploaded stays `Sent` until the last one
            // is (see `Store::mark_attachment_uploaded`).
            let mut acknowledge = transaction.prepare_cached(
                "UPDATE records SET sync_state = ?2, acked_at_ms = ?3 WHERE id = ?1
                 AND NOT EXISTS (SELECT 1 FROM attachments
                                 WHERE record_id = ?1 AND upload_state != 1)",
            )?;
            for id in ids {
                if dequeue.execute([id.to_string()])? == 1 {
                    acknowledge.execute(params![
                        id.to_string(),
                        SyncState::Acknowledged.to_sql(),
                        acked_at_ms
                    ])?;
                }
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// Marks a record as refused by the server for good: it stays stored with the reason,
    /// and leaves the outbox.
    pub fn mark_rejected(&self, id: Uuid, reason: &str) -> Result<()> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        if transaction.execute("DELETE FROM outbox WHERE record_id = ?1", [id.to_string()])? == 1 {
            transaction.execute(
                "UPDATE records SET sync_state = ?2, rejection = ?3 WHERE id = ?1",
                params![id.to_string(), SyncState::Rejected.to_sql(), reason],
            )?;
        }
        transaction.commit()?;
        Ok(())
    }

    /// Counts records by sync state.
    pub fn sync_counts(&self) -> Result<SyncCounts> {
        let connection = self.lock();
        let counts = connection.query_row(
            "SELECT
                (SELECT count(*) FROM records),
                (SELECT count(*) FROM records WHERE sync_state = ?1),
                (SELECT count(*) FROM outbox),
                (SELECT count(*) FROM outbox JOIN records ON records.id = outbox.record_id
                    WHERE records.kind = 'panic'),
                (SELECT count(*) FROM records WHERE sync_state = ?2)",
            params![SyncState::Acknowledged.to_sql(), SyncState::Rejected.to_sql()],
            |row| {
                Ok(SyncCounts {
                    captured: row.get(0)?,
                    synced: row.get(1)?,
                    pending: row.get(2)?,
                    pending_panics: row.get(3)?,
                    rejected: row.get(4)?,
                })
            },
        )?;
        Ok(counts)
    }
}
