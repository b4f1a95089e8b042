//! Records adopted from a database whose key-encryption key was lost, kept as their sealed
//! box and signature until the SOC acknowledges them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::params;
use uuid::Uuid;

use super::Store;
use crate::error::{Error, Result};
use crate::evidence::RescuedRecord;
use crate::protocol::SealedRecord;

/// The adopted records by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdoptedCounts {
    /// Adopted records the SOC has not acknowledged or rejected yet.
    pub pending: u64,
    /// Adopted records the SOC acknowledged.
    pub acknowledged: u64,
    /// Adopted records the SOC rejected for good.
    pub rejected: u64,
}

impl Store {
    /// Stores records rescued from the locked database at `source_path`, in one durable
    /// transaction, and returns how many were new. A record already adopted is left as it
    /// is, so adopting the same file again is harmless.
    pub fn adopt_records(
        &self,
        records: &[RescuedRecord],
        source_path: &str,
        adopted_at_ms: i64,
    ) -> Result<u64> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        let mut inserted = 0;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO adopted_records (id, seq, sealed, signature, source_path, adopted_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
            )?;
            for record in records {
                let seq = i64::try_from(record.seq)
                    .map_err(|_| Error::Corrupt(format!("seq {} out of range", record.seq)))?;
                inserted += insert.execute(params![
                    record.id.to_string(),
                    seq,
                    record.sealed,
                    record.signature,
                    source_path,
                    adopted_at_ms
                ])? as u64;
            }
        }
        transaction.commit()?;
        Ok(inserted)
    }

    /// Returns up to `limit` adopted records still to be delivered, by sequence number, in
    /// their wire form, stopping before the encoded boxes and signatures pass `max_bytes`
    /// (a single larger record is still returned alone).
    pub fn adopted_batch(&self, limit: usize, max_bytes: usize) -> Result<Vec<SealedRecord>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT id, seq, sealed, signature FROM adopted_records
             WHERE acked_at_ms IS NULL AND rejection IS NULL ORDER BY seq, id LIMIT ?1",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = statement.query_map([limit], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Vec<u8>>(2)?,
                row.get::<_, Vec<u8>>(3)?,
            ))
        })?;

        let mut batch = Vec::new();
        let mut bytes = 0;
        for row in rows {
            let (id, seq, sealed, signature) = row?;
            bytes += (sealed.len() + signature.len()) * 4 / 3 + 100;
            if bytes > max_bytes && !batch.is_empty() {
                break;
            }
            batch.push(SealedRecord {
                id: Uuid::parse_str(&id)
                    .map_err(|_| Error::Corrupt("an adopted record id is not a UUID".into()))?,
                seq: u64::try_from(seq)
                    .map_err(|_| Error::Corrupt(format!("negative adopted seq {seq}")))?,
                sealed: URL_SAFE_NO_PAD.encode(sealed),
                signature: URL_SAFE_NO_PAD.encode(signature),
            });
        }
        Ok(batch)
    }

    /// Marks adopted records as acknowledged by the SOC, in one transaction.
    pub fn mark_adopted_acknowledged(&self, ids: &[Uuid], acked_at_ms: i64) -> Result<()> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        {
            let mut acknowledge = transaction.prepare_cached(
                "UPDATE adopted_records SET acked_at_ms = ?2 WHERE id = ?1 AND acked_at_ms IS NULL",
            )?;
            for id in ids {
                acknowledge.execute(params![id.to_string(), acked_at_ms])?;
            }
        }
        transaction.commit()?;
        Ok(())
    }

    /// Marks an adopted record as rejected for good by the SOC, with the reason.
    pub fn mark_adopted_rejected(&self, id: Uuid, reason: &str) -> Result<()> {
        self.lock().execute(
            "UPDATE adopted_records SET rejection = ?2 WHERE id = ?1 AND acked_at_ms IS NULL",
            params![id.to_string(), reason],
        )?;
        Ok(())
    }

    /// Counts the adopted records by state.
    pub fn adopted_counts(&self) -> Result<AdoptedCounts> {
        let connection = self.lock();
        let (pending, acknowledged, rejected) = connection.query_row(
            "SELECT
                COALESCE(SUM(acked_at_ms IS NULL AND rejection IS NULL), 0),
                COALESCE(SUM(acked_at_ms IS NOT NULL), 0),
                COALESCE(SUM(acked_at_ms IS NULL AND rejection IS NOT NULL), 0)
             FROM adopted_records",
            [],
            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, i64>(2)?)),
        )?;
        Ok(AdoptedCounts {
            pending: pending as u64,
            acknowledged: acknowledged as u64,
            rejected: rejected as u64,
        })
    }
}
