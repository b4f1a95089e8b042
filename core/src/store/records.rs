//! Appending and reading records.

use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction, params};
use uuid::Uuid;

use super::encryption::RECORD_BODY;
use super::evidence::{self, EvidenceKeys};
use super::{Store, SyncState};
use crate::crypto::{DataKey, DeviceSigningKey, record_hash};
use crate::error::{Error, Result};
use crate::model::{Location, Record, RecordBody};

/// A record ready to be stored; the store assigns its sequence number.
#[derive(Debug, Clone)]
pub struct NewRecord {
    /// The record's UUIDv7.
    pub id: Uuid,
    /// The device that captures it.
    pub device_id: String,
    /// The guard signed in.
    pub guard_id: String,
    /// The active shift, if any.
    pub shift_id: Option<Uuid>,
    /// Device wall-clock time of the capture, in milliseconds since the Unix epoch.
    pub captured_at_ms: i64,
    /// The attached fix, or why there is none.
    pub location: Location,
    /// The monotonic clock at capture.
    pub clock: Option<crate::time::ClockReading>,
    /// The files attached to the record, already stored encrypted.
    pub attachments: Vec<crate::model::AttachmentRef>,
    /// What was captured.
    pub body: RecordBody,
}

pub(super) const NEXT_SEQ: &str = "next_seq";

impl Store {
    /// Stores records and queues them for sync, all in one durable transaction.
    ///
    /// # Errors
    ///
    /// [`Error::StorageFull`] or [`Error::Storage`]; then none of the records was stored.
    pub fn append(&self, records: Vec<NewRecord>) -> Result<Vec<Record>> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;

        let stored = insert_records(&transaction, Some(&self.key), self.signing_key(), records)?;

        transaction.commit()?;
        Ok(stored)
    }

    /// Stores a shift-start record and opens the shift, in one durable transaction.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if a shift is already open; storage errors as
    /// [`Store::append`].
    pub fn open_shift(&self, record: NewRecord, site_id: Option<String>) -> Result<Record> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;

        if open_shift_id(&transaction)?.is_some() {
            return Err(Error::InvalidState("a shift is already active; end it first".into()));
        }
        let started_at_ms = record.captured_at_ms;
        let stored =
            insert_records(&transaction, Some(&self.key), self.signing_key(), vec![record])?
                .remove(0);
        transaction.execute(
            "INSERT INTO shifts (id, site_id, started_at_ms) VALUES (?1, ?2, ?3)",
            params![stored.id.to_string(), site_id, started_at_ms],
        )?;

        transaction.commit()?;
        Ok(stored)
    }

    /// Stores a shift-end record and closes the shift it names, in one durable transaction.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if no shift is open; storage errors as [`Store::append`].
    pub fn close_shift(&self, record: NewRecord) -> Result<Record> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;

        let Some((shift_id, _)) = open_shift_id(&transaction)? else {
            return Err(Error::InvalidState("no shift is active; start one first".into()));
        };
        let ended_at_ms = record.captured_at_ms;
        let stored =
            insert_records(&transaction, Some(&self.key), self.signing_key(), vec![record])?
                .remove(0);
        transaction.execute(
            "UPDATE shifts SET ended_at_ms = ?1 WHERE id = ?2",
            params![ended_at_ms, shift_id.to_string()],
        )?;

        transaction.commit()?;
        Ok(stored)
    }

    /// Returns the open shift's id and site, if a shift is open.
    pub fn active_shift(&self) -> Result<Option<(Uuid, Option<String>)>> {
        let connection = self.lock();
        open_shift_id(&connection)
    }

    /// Returns the most recent shift, open or closed, with its site.
    pub fn latest_shift(&self) -> Result<Option<(Uuid, Option<String>)>> {
        let connection = self.lock();
        let row = connection
            .query_row(
                "SELECT id, site_id FROM shifts ORDER BY started_at_ms DESC, rowid DESC LIMIT 1",
                [],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)),
            )
            .optional()?;
        row.map(|(id, site)| Ok((parse_uuid(&id)?, site))).transpose()
    }

    /// Returns the record with this id and its sync state.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if there is no such record.
    pub fn record(&self, id: Uuid) -> Result<(Record, SyncState)> {
        let connection = self.lock();
        let row = connection
            .query_row(
                "SELECT id, body, body_envelope, sync_state FROM records WHERE id = ?1",
                [id.to_string()],
                |row| Ok((StoredBody::from_row(row, 0)?, row.get::<_, i64>(3)?)),
            )
            .optional()?;
        let Some((body, state)) = row else {
            return Err(Error::NotFound { what: "record", id: id.to_string() });
        };
        Ok((body.decode(&self.key)?, SyncState::from_sql(state)?))
    }

    /// Visits every record of a shift in capture order, with its sync state, without
    /// loading them all at once.
    pub fn for_each_in_shift(
        &self,
        shift_id: Uuid,
        mut visit: impl FnMut(Record, SyncState),
    ) -> Result<()> {
        let connection = self.lock();
        let mut statement = connection.prepare(
            "SELECT id, body, body_envelope, sync_state FROM records
             WHERE shift_id = ?1 ORDER BY seq",
        )?;
        let mut rows = statement.query([shift_id.to_string()])?;
        while let Some(row) = rows.next()? {
            let record = StoredBody::from_row(row, 0)?.decode(&self.key)?;
            visit(record, SyncState::from_sql(row.get(3)?)?);
        }
        Ok(())
    }
}

/// Inserts records and queues them. Each record gets the next sequence number and the
/// hash of its predecessor. Its canonical bytes (`serde_json::to_vec` of the record, made
/// once) are its body, and are signed with `signing_key` and sealed to the SOC's key when
/// those are known. With `key`, the body is stored as an envelope. `None` writes the clear
/// layout of schema versions before encryption at rest, without signature or box, which
/// only tests use to build an old database.
pub(super) fn insert_records(
    transaction: &Transaction<'_>,
    key: Option<&DataKey>,
    signing_key: Option<Arc<DeviceSigningKey>>,
    records: Vec<NewRecord>,
) -> Result<Vec<Record>> {
    let mut next_seq: u64 = transaction
        .query_row("SELECT value FROM settings WHERE key = ?1", [NEXT_SEQ], |row| {
            row.get::<_, String>(0)
        })
        .optional()?
        .map(|value| value.parse::<u64>())
        .transpose()
        .map_err(|error| Error::Corrupt(format!("invalid stored sequence number: {error}")))?
        .unwrap_or(1);
    let mut prev_hash = evidence::chain_head(transaction, key)?;
    let keys = EvidenceKeys::load(transaction, key, signing_key)?;

    let mut insert_record = transaction.prepare_cached(if key.is_some() {
        "INSERT INTO records (id, seq, kind, shift_id, captured_at_ms, body, body_envelope,
                              signature, sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, '', ?6, ?7, ?8)"
    } else {
        "INSERT INTO records (id, seq, kind, shift_id, captured_at_ms, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    })?;
    let mut enqueue = transaction
        .prepare_cached("INSERT INTO outbox (record_id, priority, seq) VALUES (?1, ?2, ?3)")?;

    let mut stored = Vec::with_capacity(records.len());
    for new in records {
        let record = Record {
            id: new.id,
            device_id: new.device_id,
            guard_id: new.guard_id,
            shift_id: new.shift_id,
            seq: next_seq,
            captured_at_ms: new.captured_at_ms,
            location: new.location,
            clock: new.clock,
            prev_hash: Some(evidence::encode_hash(&prev_hash)),
            attachments: new.attachments,
            body: new.body,
        };
        let canonical = serde_json::to_vec(&record)
            .map_err(|error| Error::invalid("record", error.to_string()))?;
        let proof = keys.apply(&record.id, &canonical);
        prev_hash = record_hash(&canonical);
        let body = String::from_utf8(canonical)
            .map_err(|error| Error::invalid("record", error.to_string()))?;
        let id = record.id.to_string();
        let seq = i64::try_from(next_seq)
            .map_err(|_| Error::Corrupt("sequence number overflow".into()))?;

        let shift_id = record.shift_id.map(|shift| shift.to_string());
        let kind = record.body.kind();
        match key {
            Some(key) => {
                let envelope = RECORD_BODY.seal(key, &id, body.as_bytes())?;
                insert_record.execute(params![
                    id,
                    seq,
                    kind,
                    shift_id,
                    record.captured_at_ms,
                    envelope,
                    proof.signature,
                    proof.sealed,
                ])?
            }
            None => insert_record.execute(params![
                id,
                seq,
                kind,
                shift_id,
                record.captured_at_ms,
                body
            ])?,
        };
        enqueue.execute(params![id, record.body.priority(), seq])?;
        if let (Some(_), RecordBody::Panic { alert }) = (key, &record.body) {
            // The `records_panic_alert` trigger reads the alert kind from the body, which it
            // cannot decrypt, so the kind is set here.
            transaction.execute(
                "UPDATE alerts SET kind = ?2 WHERE record_id = ?1",
                params![id, alert.code()],
            )?;
        }

        next_seq += 1;
        stored.push(record);
    }

    transaction.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![NEXT_SEQ, next_seq.to_string()],
    )?;
    evidence::set_chain_head(transaction, &prev_hash)?;
    Ok(stored)
}

fn open_shift_id(connection: &rusqlite::Connection) -> Result<Option<(Uuid, Option<String>)>> {
    let row = connection
        .query_row(
            "SELECT id, site_id FROM shifts WHERE ended_at_ms IS NULL
             ORDER BY started_at_ms DESC LIMIT 1",
            [],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)),
        )
        .optional()?;
    row.map(|(id, site)| Ok((parse_uuid(&id)?, site))).transpose()
}

/// A record's body as stored: its id, and its clear JSON or its envelope.
pub(super) struct StoredBody {
    id: String,
    clear: String,
    envelope: Option<Vec<u8>>,
}

impl StoredBody {
    /// Reads the `id, body, body_envelope` columns starting at column `first`.
    pub(super) fn from_row(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Self> {
        Ok(Self { id: row.get(first)?, clear: row.get(first + 1)?, envelope: row.get(first + 2)? })
    }

    /// Decrypts the body, and returns the record's id and canonical JSON.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] naming the record if its envelope fails to open.
    pub(super) fn json(self, key: &DataKey) -> Result<(String, String)> {
        let json = RECORD_BODY.open_text(key, &self.id, self.clear, self.envelope)?;
        Ok((self.id, json))
    }

    /// Decrypts and decodes the record.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] naming the record if its envelope fails to open or its JSON does
    /// not decode.
    pub(super) fn decode(self, key: &DataKey) -> Result<Record> {
        let (id, json) = self.json(key)?;
        serde_json::from_str(&json)
            .map_err(|error| Error::Corrupt(format!("record {id} does not decode: {error}")))
    }
}

/// Logs a record skipped because its stored body cannot be decrypted or decoded. The error
/// names the record and contains no plaintext.
pub(super) fn log_unreadable(error: &Error) {
    tracing::error!(%error, "skipped a record whose stored body cannot be read; it stays on the device");
}

pub(super) fn parse_uuid(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|error| Error::Corrupt(format!("invalid stored id: {error}")))
}

#[cfg(test)]
pub(super) fn insert_for_test(transaction: &Transaction<'_>, record: NewRecord) -> Record {
    insert_records(transaction, None, None, vec![record]).unwrap().remove(0)
}
