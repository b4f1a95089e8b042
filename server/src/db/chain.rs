//! Checking pushed records as evidence: opening the sealed box, verifying the device's
//! signature and the record's place in the device's hash chain, and the per-device fault
//! log that the operator reads.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ED25519, UnparsedPublicKey};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use uuid::Uuid;
use vigil_core::crypto::{GENESIS_HASH, SocSealingKey, record_hash};
use vigil_core::evidence::{
    ChainReport, EvidenceExport, ExportedRecord, RecordFault, missing_ranges,
};
use vigil_core::model::Record;
use vigil_core::protocol::{SealedRecord, sealing_context};

use super::records::Rejection;
use crate::error::ServerError;

/// A pushed record whose box opened and whose signature matches the device's key.
pub(crate) struct Opened {
    /// The record parsed from its canonical bytes.
    pub(crate) record: Record,
    /// The canonical bytes, as the device signed them.
    pub(crate) canonical: String,
    /// The device's signature over `canonical`.
    pub(crate) signature: Vec<u8>,
}

/// Returns the Ed25519 public key the device registered at enrollment, if any.
pub(crate) fn device_public_key(
    connection: &Connection,
    device_id: &str,
) -> Result<Option<Vec<u8>>, ServerError> {
    let stored: Option<Option<String>> = connection
        .query_row("SELECT public_key FROM devices WHERE device_id = ?1", [device_id], |row| {
            row.get(0)
        })
        .optional()?;
    Ok(stored.flatten().and_then(|encoded| URL_SAFE_NO_PAD.decode(encoded).ok()))
}

/// Opens a sealed record, verifies its signature and checks that the clear fields match
/// the signed ones.
pub(crate) fn open(
    sealing_key: &SocSealingKey,
    device_key: Option<&[u8]>,
    sealed: &SealedRecord,
) -> Result<Opened, Rejection> {
    let box_bytes = URL_SAFE_NO_PAD.decode(&sealed.sealed).map_err(|_| Rejection::Tampered)?;
    let canonical = sealing_key
        .open(&box_bytes, &sealing_context(&sealed.id))
        .map_err(|_| Rejection::Tampered)?;

    let signature =
        URL_SAFE_NO_PAD.decode(&sealed.signature).map_err(|_| Rejection::BadSignature)?;
    let Some(device_key) = device_key else {
        return Err(Rejection::BadSignature);
    };
    UnparsedPublicKey::new(&ED25519, device_key)
        .verify(&canonical, &signature)
        .map_err(|_| Rejection::BadSignature)?;

    let record: Record = serde_json::from_slice(&canonical).map_err(|error| {
        Rejection::InvalidRecord(format!("the sealed bytes are not a record: {error}"))
    })?;
    if record.id != sealed.id || record.seq != sealed.seq {
        return Err(Rejection::InvalidRecord(
            "the clear id or seq differs from the signed record's".to_owned(),
        ));
    }
    let canonical = String::from_utf8(canonical.to_vec())
        .map_err(|_| Rejection::InvalidRecord("the sealed bytes are not UTF-8".to_owned()))?;
    Ok(Opened { record, canonical, signature })
}

/// Checks a new record's place in its device's chain against the records stored beside
/// it: no other record at its seq, its `prev_hash` equal to the stored predecessor's hash,
/// and its hash equal to the stored successor's `prev_hash`.
///
/// NOTE: a record without `prev_hash` (captured before chaining) is only checked for a
/// seq conflict.
pub(crate) fn check_link(
    transaction: &Transaction<'_>,
    opened: &Opened,
    hash: &[u8; 32],
) -> Result<Result<(), Rejection>, ServerError> {
    let record = &opened.record;
    let seq = i64::try_from(record.seq).unwrap_or(i64::MAX);
    let neighbour = |seq: i64| -> Result<Option<(Option<Vec<u8>>, Option<Vec<u8>>)>, ServerError> {
        Ok(transaction
            .query_row(
                "SELECT record_hash, prev_hash FROM records WHERE device_id = ?1 AND seq = ?2",
                params![record.device_id, seq],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?)
    };

    if neighbour(seq)?.is_some() {
        return Ok(Err(Rejection::SeqConflict));
    }
    let Some(prev_hash) = decode_prev_hash(record) else {
        return Ok(Ok(()));
    };

    if seq == 1 && prev_hash != GENESIS_HASH {
        return Ok(Err(Rejection::BrokenLink));
    }
    if let Some((Some(predecessor_hash), _)) = neighbour(seq - 1)?
        && predecessor_hash != prev_hash
    {
        return Ok(Err(Rejection::BrokenLink));
    }
    if let Some((_, Some(successor_link))) = neighbour(seq + 1)?
        && successor_link != hash
    {
        return Ok(Err(Rejection::BrokenLink));
    }
    Ok(Ok(()))
}

/// Decodes a record's `prev_hash`; `None` when it has none or it is not 32 bytes.
pub(crate) fn decode_prev_hash(record: &Record) -> Option<[u8; 32]> {
    let encoded = record.prev_hash.as_deref()?;
    URL_SAFE_NO_PAD.decode(encoded).ok()?.try_into().ok()
}

/// Returns the hash the record's successor links to.
pub(crate) fn hash_of(opened: &Opened) -> [u8; 32] {
    record_hash(opened.canonical.as_bytes())
}

/// Adds a rejected record to its device's fault log.
pub(crate) fn log_fault(
    transaction: &Transaction<'_>,
    device_id: &str,
    sealed: &SealedRecord,
    rejection: &Rejection,
    now_ms: i64,
) -> Result<(), ServerError> {
    transaction.execute(
        "INSERT INTO chain_faults (device_id, record_id, seq, code, detected_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            device_id,
            sealed.id.to_string(),
            i64::try_from(sealed.seq).unwrap_or(i64::MAX),
            rejection.code(),
            now_ms
        ],
    )?;
    Ok(())
}

/// Builds the chain report of a device, or `None` if no such device is enrolled.
pub(crate) fn report(
    connection: &Connection,
    device_id: &str,
) -> Result<Option<ChainReport>, ServerError> {
    if !device_exists(connection, device_id)? {
        return Ok(None);
    }

    let mut statement =
        connection.prepare("SELECT seq FROM records WHERE device_id = ?1 ORDER BY seq")?;
    let seqs = statement
        .query_map([device_id], |row| row.get::<_, i64>(0))?
        .map(|seq| Ok(u64::try_from(seq?).unwrap_or(0)))
        .collect::<Result<Vec<u64>, ServerError>>()?;

    let mut statement = connection.prepare(
        "SELECT record_id, seq, code, detected_at_ms FROM chain_faults
         WHERE device_id = ?1 ORDER BY id",
    )?;
    let faults = statement
        .query_map([device_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?, row.get(2)?, row.get(3)?))
        })?
        .map(|row| {
            let (record_id, seq, code, detected_at_ms) = row?;
            Ok(RecordFault {
                record_id: Uuid::parse_str(&record_id)
                    .map_err(|error| ServerError::Corrupt(format!("stored fault id: {error}")))?,
                seq: u64::try_from(seq).unwrap_or(0),
                code,
                detected_at_ms,
            })
        })
        .collect::<Result<Vec<_>, ServerError>>()?;

    Ok(Some(ChainReport {
        device_id: device_id.to_owned(),
        highest_seq: seqs.last().copied().unwrap_or(0),
        records: seqs.len() as u64,
        missing: missing_ranges(&seqs),
        faults,
    }))
}

/// Exports a device's records as evidence, or `None` if no such device is enrolled.
///
/// NOTE: the whole export is built in memory; a device with years of records needs a
/// paged or streamed export.
pub(crate) fn export(
    connection: &Connection,
    device_id: &str,
) -> Result<Option<EvidenceExport>, ServerError> {
    let public_key: Option<Option<String>> = connection
        .query_row("SELECT public_key FROM devices WHERE device_id = ?1", [device_id], |row| {
            row.get(0)
        })
        .optional()?;
    let Some(public_key) = public_key else {
        return Ok(None);
    };

    let mut statement = connection.prepare(
        "SELECT seq, content, signature FROM records
         WHERE device_id = ?1 AND signature IS NOT NULL ORDER BY seq",
    )?;
    let records = statement
        .query_map([device_id], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, Vec<u8>>(2)?))
        })?
        .map(|row| {
            let (seq, content, signature) = row?;
            Ok(ExportedRecord {
                seq: u64::try_from(seq).unwrap_or(0),
                canonical: URL_SAFE_NO_PAD.encode(content.as_bytes()),
                signature: URL_SAFE_NO_PAD.encode(signature),
            })
        })
        .collect::<Result<Vec<_>, ServerError>>()?;

    Ok(Some(EvidenceExport {
        device_id: device_id.to_owned(),
        public_key: public_key.unwrap_or_default(),
        records,
    }))
}

fn device_exists(connection: &Connection, device_id: &str) -> Result<bool, ServerError> {
    Ok(connection
        .query_row("SELECT 1 FROM devices WHERE device_id = ?1", [device_id], |_| Ok(()))
        .optional()?
        .is_some())
}
