//! Storing pushed records and panic alerts, idempotently by record id.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;
use vigil_core::crypto::SocSealingKey;
use vigil_core::model::{Record, RecordBody};
use vigil_core::protocol::{RejectedRecord, SealedRecord};

use super::chain::{self, Opened};
use crate::error::ServerError;

/// A reason the server rejects a record for good, so sending it again will not help.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rejection {
    /// A field is out of range or empty. The message names it.
    InvalidRecord(String),
    /// The record names another device than the one the token belongs to.
    WrongDevice,
    /// A record with the same id but different content is already stored: an edit.
    IdConflict,
    /// The sealed box does not open with the SOC's key for this record id.
    Tampered,
    /// The signature does not match the key the device registered at enrollment.
    BadSignature,
    /// Another record of the device is already stored at this seq: a fork of the chain.
    SeqConflict,
    /// The record's `prev_hash` is not the stored predecessor's hash, or the stored
    /// successor does not link to this record.
    BrokenLink,
}

impl Rejection {
    /// Returns the stable code sent to the device.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Rejection::InvalidRecord(_) => "invalid_record",
            Rejection::WrongDevice => "wrong_device",
            Rejection::IdConflict => "id_conflict",
            Rejection::Tampered => "tampered",
            Rejection::BadSignature => "bad_signature",
            Rejection::SeqConflict => "seq_conflict",
            Rejection::BrokenLink => "broken_link",
        }
    }

    /// Returns the English explanation sent to the device. It may quote the record's
    /// values, so it must not be logged.
    pub(crate) fn message(&self) -> String {
        match self {
            Rejection::InvalidRecord(reason) => format!("invalid record: {reason}"),
            Rejection::WrongDevice => {
                "record.device_id is not the device the bearer token was issued to".to_owned()
            }
            Rejection::IdConflict => {
                "another record with this id and different content is already stored; \
                 records are immutable, so give a new record a new id"
                    .to_owned()
            }
            Rejection::Tampered => "the sealed box does not open with the SOC's key for this \
                                    record id; it was changed in transit or sealed to another SOC"
                .to_owned(),
            Rejection::BadSignature => "the signature does not match the public key this device \
                                        registered at enrollment"
                .to_owned(),
            Rejection::SeqConflict => {
                "another record of this device is already stored at this seq".to_owned()
            }
            Rejection::BrokenLink => "prev_hash does not match the hash of the stored record \
                                      before it, or the stored record after it does not link \
                                      to this one"
                .to_owned(),
        }
    }

    /// Returns whether the rejection is a chain or signature fault, which goes to the
    /// device's fault log.
    fn is_chain_fault(&self) -> bool {
        !matches!(self, Rejection::InvalidRecord(_) | Rejection::WrongDevice)
    }

    pub(crate) fn into_rejected(self, id: Uuid) -> RejectedRecord {
        RejectedRecord { id, code: self.code().to_owned(), message: self.message() }
    }
}

/// The storage outcome of a record that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// The record was new and is now stored.
    New,
    /// The same record was already stored, so nothing changed.
    Existing,
}

/// The result of a push: every record is in exactly one of the two lists.
#[derive(Debug, Default)]
pub(crate) struct PushOutcome {
    /// Records stored now or before.
    pub(crate) acked: Vec<Uuid>,
    /// Records that will never be stored.
    pub(crate) rejected: Vec<RejectedRecord>,
    /// How many of the acknowledged records were new.
    pub(crate) new_count: usize,
    /// The new records of kind `panic`, whose alerts this push stored.
    pub(crate) new_alerts: Vec<Uuid>,
    /// The acknowledged records, opened from their sealed boxes.
    pub(crate) records: Vec<Record>,
}

/// Stores a batch from `device_id` in one transaction and returns what happened to each
/// record. When this returns `Ok`, the transaction is committed.
pub(crate) fn push(
    connection: &mut Connection,
    device_id: &str,
    sealing_key: &SocSealingKey,
    records: &[SealedRecord],
    now_ms: i64,
) -> Result<PushOutcome, ServerError> {
    let transaction = connection.transaction()?;
    let outcome = push_in(&transaction, device_id, sealing_key, records, now_ms)?;
    transaction.commit()?;
    Ok(outcome)
}

/// Works as [`push`] inside the caller's transaction, which the caller commits.
pub(crate) fn push_in(
    transaction: &Transaction<'_>,
    device_id: &str,
    sealing_key: &SocSealingKey,
    records: &[SealedRecord],
    now_ms: i64,
) -> Result<PushOutcome, ServerError> {
    let mut outcome = PushOutcome::default();
    let device_key = chain::device_public_key(transaction, device_id)?;

    for sealed in records {
        let result = open_and_store(
            transaction,
            device_id,
            sealing_key,
            device_key.as_deref(),
            sealed,
            now_ms,
        )?;

        // An id is never in both lists: a later copy of it with other content moves the id
        // from `acked` to `rejected`, and once rejected it stays there.
        if outcome.rejected.iter().any(|rejected| rejected.id == sealed.id) {
            continue;
        }
        match result {
            Ok((Stored::New, record)) => {
                outcome.acked.push(sealed.id);
                outcome.new_count += 1;
                if matches!(record.body, RecordBody::Panic { .. }) {
                    outcome.new_alerts.push(sealed.id);
                }
                outcome.records.push(record);
            }
            Ok((Stored::Existing, record)) => {
                outcome.acked.push(sealed.id);
                outcome.records.push(record);
            }
            Err(rejection) => {
                outcome.acked.retain(|id| *id != sealed.id);
                outcome.records.retain(|record| record.id != sealed.id);
                outcome.rejected.push(rejection.into_rejected(sealed.id));
            }
        }
    }

    Ok(outcome)
}

/// Opens a sealed record, checks it and stores it; a chain or signature fault is added to
/// the device's fault log.
fn open_and_store(
    transaction: &Transaction<'_>,
    device_id: &str,
    sealing_key: &SocSealingKey,
    device_key: Option<&[u8]>,
    sealed: &SealedRecord,
    now_ms: i64,
) -> Result<Result<(Stored, Record), Rejection>, ServerError> {
    let result = match chain::open(sealing_key, device_key, sealed) {
        Ok(opened) => store_checked(transaction, device_id, &opened, now_ms)?
            .map(|stored| (stored, opened.record)),
        Err(rejection) => Err(rejection),
    };

    if let Err(rejection) = &result
        && rejection.is_chain_fault()
    {
        chain::log_fault(transaction, device_id, sealed, rejection, now_ms)?;
    }
    Ok(result)
}

/// The result of delivering a panic alert.
#[derive(Debug)]
pub(crate) enum PanicOutcome {
    /// The alert is stored. `first` is false when it had been delivered before.
    Delivered {
        /// When the server first stored the alert, in milliseconds since the Unix epoch.
        delivered_at_ms: i64,
        /// When an operator acknowledged the alert, if one did.
        acknowledged_at_ms: Option<i64>,
        /// Whether this request stored it.
        first: bool,
    },
    /// The record will never be stored.
    Rejected(Rejection),
}

/// Opens and stores a panic record and its alert in one transaction. A record of another
/// kind is rejected and nothing is stored.
pub(crate) fn store_panic(
    connection: &mut Connection,
    device_id: &str,
    sealing_key: &SocSealingKey,
    sealed: &SealedRecord,
    now_ms: i64,
) -> Result<PanicOutcome, ServerError> {
    let transaction = connection.transaction()?;
    let device_key = chain::device_public_key(&transaction, device_id)?;

    let result = open_and_store(
        &transaction,
        device_id,
        sealing_key,
        device_key.as_deref(),
        sealed,
        now_ms,
    )?;
    let (stored, record) = match result {
        Ok((_, record)) if !matches!(record.body, RecordBody::Panic { .. }) => {
            // Nothing was committed: the transaction rolls back when dropped.
            return Ok(PanicOutcome::Rejected(Rejection::InvalidRecord(format!(
                "record.kind is {}; this endpoint takes only panic records, send others to \
                 POST /v1/records",
                record.body.kind()
            ))));
        }
        Ok(stored) => stored,
        Err(rejection) => {
            // The fault log entry is kept even though nothing is stored.
            transaction.commit()?;
            return Ok(PanicOutcome::Rejected(rejection));
        }
    };

    let (delivered_at_ms, acknowledged_at_ms) = transaction.query_row(
        "SELECT delivered_at_ms, acknowledged_at_ms FROM alerts WHERE record_id = ?1",
        [record.id.to_string()],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;

    transaction.commit()?;
    Ok(PanicOutcome::Delivered {
        delivered_at_ms,
        acknowledged_at_ms,
        first: stored == Stored::New,
    })
}

/// Checks an opened record against the device and its own fields, then stores it.
fn store_checked(
    transaction: &Transaction<'_>,
    device_id: &str,
    opened: &Opened,
    now_ms: i64,
) -> Result<Result<Stored, Rejection>, ServerError> {
    let record = &opened.record;
    if record.device_id != device_id {
        return Ok(Err(Rejection::WrongDevice));
    }
    if let Err(reason) = validate(record) {
        return Ok(Err(Rejection::InvalidRecord(reason)));
    }
    store(transaction, opened, now_ms)
}

/// Checks the fields the server relies on. Returns the reason for the first invalid one.
fn validate(record: &Record) -> Result<(), String> {
    if record.id.is_nil() {
        return Err("id must not be the nil UUID".to_owned());
    }
    if record.seq == 0 || i64::try_from(record.seq).is_err() {
        return Err(format!("seq {} is outside 1..={}", record.seq, i64::MAX));
    }
    check_id("guard_id", &record.guard_id)?;
    check_id("device_id", &record.device_id)?;
    if !(0..=LATEST_TIME_MS).contains(&record.captured_at_ms) {
        return Err(format!(
            "captured_at_ms {} is outside 0..={LATEST_TIME_MS}",
            record.captured_at_ms
        ));
    }
    if let Some(fix) = record.location.fix() {
        fix.validate().map_err(|error| format!("location: {error}"))?;
        // A receiver's bogus time (such as 1901) is kept as evidence, flagged by the device.
        if fix.fix_time_ms.unsigned_abs() > LATEST_TIME_MS as u64 {
            return Err(format!("location.fix_time_ms {} is out of range", fix.fix_time_ms));
        }
    }

    match &record.body {
        RecordBody::Incident(incident) => {
            check_text("incident.category", &incident.category, vigil_core::MAX_CATEGORY_BYTES)?;
            check_text("incident.text", &incident.text, vigil_core::MAX_INCIDENT_TEXT_BYTES)
        }
        RecordBody::CheckpointScan { payload, .. } => {
            check_text("payload", payload, vigil_core::MAX_SCAN_PAYLOAD_BYTES)
        }
        _ => Ok(()),
    }
}

/// Maximum length of a device or guard id, in bytes, as the device's own configuration allows.
const MAX_ID_BYTES: usize = 128;

/// Latest capture time accepted, 3000-01-01T00:00:00Z, in milliseconds since the Unix
/// epoch; the earliest is the epoch itself.
const LATEST_TIME_MS: i64 = 32_503_680_000_000;

fn check_id(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() || value.len() > MAX_ID_BYTES || value.chars().any(char::is_control)
    {
        return Err(format!(
            "{field} must be 1 to {MAX_ID_BYTES} bytes without control characters"
        ));
    }
    Ok(())
}

fn check_text(field: &str, value: &str, max_bytes: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if value.len() > max_bytes {
        return Err(format!("{field} is {} bytes, over the limit of {max_bytes}", value.len()));
    }
    Ok(())
}

/// Inserts the record unless a record with its id exists, and inserts the alert of a panic
/// record. A stored record with the same id must have the same canonical bytes, and a new
/// one must fit the device's chain.
fn store(
    transaction: &Transaction<'_>,
    opened: &Opened,
    now_ms: i64,
) -> Result<Result<Stored, Rejection>, ServerError> {
    let record = &opened.record;
    let id = record.id.to_string();

    let existing: Option<String> = transaction
        .query_row("SELECT content FROM records WHERE id = ?1", [&id], |row| row.get(0))
        .optional()?;
    if let Some(content) = existing {
        let result = if content == opened.canonical {
            Ok(Stored::Existing)
        } else {
            Err(Rejection::IdConflict)
        };
        return Ok(result);
    }

    let hash = chain::hash_of(opened);
    if let Err(rejection) = chain::check_link(transaction, opened, &hash)? {
        return Ok(Err(rejection));
    }

    insert(transaction, &id, opened, &hash, now_ms)?;
    match &record.body {
        RecordBody::Panic { .. } => insert_alert(transaction, &id, record, now_ms)?,
        RecordBody::AlertCancel { alert_id } => {
            mark_alert_cancelled(transaction, *alert_id, &record.device_id, now_ms)?;
        }
        _ => {}
    }
    Ok(Ok(Stored::New))
}

fn insert(
    transaction: &Transaction<'_>,
    id: &str,
    opened: &Opened,
    hash: &[u8; 32],
    now_ms: i64,
) -> Result<(), ServerError> {
    let record = &opened.record;
    // `validate` checked that seq fits.
    let seq = i64::try_from(record.seq).unwrap_or(i64::MAX);
    let prev_hash = chain::decode_prev_hash(record).map(|hash| hash.to_vec());

    transaction.execute(
        "INSERT INTO records (id, device_id, seq, kind, captured_at_ms, received_at_ms, content,
                              signature, record_hash, prev_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            id,
            record.device_id,
            seq,
            record.body.kind(),
            record.captured_at_ms,
            now_ms,
            opened.canonical,
            opened.signature,
            hash.as_slice(),
            prev_hash,
        ],
    )?;
    Ok(())
}

fn insert_alert(
    transaction: &Transaction<'_>,
    id: &str,
    record: &Record,
    now_ms: i64,
) -> Result<(), ServerError> {
    transaction.execute(
        "INSERT INTO alerts (record_id, device_id, delivered_at_ms) VALUES (?1, ?2, ?3)",
        params![id, record.device_id, now_ms],
    )?;

    // The cancel may have arrived first, when the device sent it before the alert got
    // through.
    transaction.execute(
        "UPDATE alerts SET cancelled_at_ms = (
             SELECT min(received_at_ms) FROM records
             WHERE kind = 'alert_cancel' AND device_id = ?2
               AND json_extract(content, '$.body.alert_id') = ?1)
         WHERE record_id = ?1",
        params![id, record.device_id],
    )?;
    Ok(())
}

/// Records the guard's cancel of an alert. The alert stays stored; a cancel of an alert
/// the server does not have yet changes nothing, and its record is still kept.
fn mark_alert_cancelled(
    transaction: &Transaction<'_>,
    alert_id: Uuid,
    device_id: &str,
    now_ms: i64,
) -> Result<(), ServerError> {
    transaction.execute(
        "UPDATE alerts SET cancelled_at_ms = ?3
         WHERE record_id = ?1 AND device_id = ?2 AND cancelled_at_ms IS NULL",
        params![alert_id.to_string(), device_id, now_ms],
    )?;
    Ok(())
}
