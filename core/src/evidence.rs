//! Records as evidence outside the device: sealing a stored record for the wire, the
//! export format of a device's chain, and its offline verification.
//!
//! The SOC exports a device's records as an [`EvidenceExport`]; `vigil verify` checks one
//! with [`verify_export`] without the server.

mod rescue;

pub use rescue::{RescuedEvidence, RescuedRecord, rescue_sealed};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::{ChainFault, ChainedRecord, DeviceSigningKey, seal_to_soc, verify_chain};
use crate::error::{Error, Result};
use crate::model::Record;
use crate::protocol::{SealedRecord, sealing_context};

/// Builds the wire form of a record from its canonical bytes: seals them to the SOC's
/// public key and signs them with the device's key.
///
/// # Errors
///
/// [`Error::InvalidInput`] if the SOC key is not a valid X25519 public key.
pub fn seal_record(
    id: Uuid,
    seq: u64,
    canonical: &[u8],
    signing_key: &DeviceSigningKey,
    soc_public_key: &[u8],
) -> Result<SealedRecord> {
    let sealed = seal_to_soc(soc_public_key, canonical, &sealing_context(&id))
        .map_err(|error| Error::invalid("soc_public_key", error.to_string()))?;
    Ok(SealedRecord {
        id,
        seq,
        sealed: URL_SAFE_NO_PAD.encode(sealed),
        signature: URL_SAFE_NO_PAD.encode(signing_key.sign(canonical)),
    })
}

/// One record of an [`EvidenceExport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedRecord {
    /// The record's per-device sequence number, as the SOC stored it.
    pub seq: u64,
    /// The record's canonical bytes, in base64url without padding.
    pub canonical: String,
    /// The device's Ed25519 signature over the canonical bytes, in base64url without
    /// padding.
    pub signature: String,
}

/// The reply to `GET /v1/operator/devices/{id}/export`: every record the SOC stored from a
/// device, in sequence order, with the public key registered at enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceExport {
    /// The device the records came from.
    pub device_id: String,
    /// The device's Ed25519 public key as registered at enrollment, in base64url without
    /// padding.
    pub public_key: String,
    /// The records, by sequence number.
    pub records: Vec<ExportedRecord>,
}

/// A missing range of sequence numbers, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    /// The first missing sequence number.
    pub first: u64,
    /// The last missing sequence number.
    pub last: u64,
}

/// A record the SOC rejected for a chain or signature fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFault {
    /// The rejected record's id, as sent in clear.
    pub record_id: Uuid,
    /// The sequence number sent in clear.
    pub seq: u64,
    /// The rejection code, such as `tampered` or `broken_link`.
    pub code: String,
    /// When the server detected it, in milliseconds since the Unix epoch.
    pub detected_at_ms: i64,
}

/// The reply to `GET /v1/operator/devices/{id}/chain`: the state of a device's chain at
/// the SOC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    /// The device.
    pub device_id: String,
    /// The highest sequence number stored, 0 when none is.
    pub highest_seq: u64,
    /// How many records are stored.
    pub records: u64,
    /// The sequence numbers below `highest_seq` that the SOC does not hold: not sent yet,
    /// or deleted on the device.
    pub missing: Vec<SeqRange>,
    /// Every record rejected for a chain or signature fault, oldest first.
    pub faults: Vec<RecordFault>,
}

/// Returns the ranges of sequence numbers from 1 to the highest one that `seqs`, sorted
/// ascending, does not contain.
pub fn missing_ranges(seqs: &[u64]) -> Vec<SeqRange> {
    let mut missing = Vec::new();
    let mut expected = 1;
    for &seq in seqs {
        if seq > expected {
            missing.push(SeqRange { first: expected, last: seq - 1 });
        }
        expected = expected.max(seq + 1);
    }
    missing
}

/// A fault found in an exported record set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportFault {
    /// A record's bytes or signature are not valid base64url, or its bytes are not a
    /// record.
    Unreadable {
        /// The sequence number the export lists.
        seq: u64,
        /// The decoding error.
        reason: String,
    },
    /// The sequence number inside the signed bytes differs from the one the export lists.
    SeqMismatch {
        /// The sequence number the export lists.
        listed: u64,
        /// The one inside the signed bytes.
        signed: u64,
    },
    /// The record names another device.
    WrongDevice {
        /// The sequence number.
        seq: u64,
    },
    /// A fault of the signed hash chain.
    Chain(ChainFault),
}

impl std::fmt::Display for ExportFault {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportFault::Unreadable { seq, reason } => {
                write!(formatter, "seq {seq}: unreadable record: {reason}")
            }
            ExportFault::SeqMismatch { listed, signed } => write!(
                formatter,
                "seq {listed}: the signed bytes carry seq {signed}; the record was moved"
            ),
            ExportFault::WrongDevice { seq } => {
                write!(formatter, "seq {seq}: the record names another device")
            }
            ExportFault::Chain(ChainFault::BadSignature { seq }) => {
                write!(formatter, "seq {seq}: invalid signature; the record was edited or forged")
            }
            ExportFault::Chain(ChainFault::Gap { after, next }) => write!(
                formatter,
                "seq {}..={}: missing; records between {after} and {next} were removed or \
                 never delivered",
                after + 1,
                next - 1
            ),
            ExportFault::Chain(ChainFault::OutOfOrder { seq, after }) => {
                write!(formatter, "seq {seq}: out of order, listed after seq {after}")
            }
            ExportFault::Chain(ChainFault::BrokenLink { seq }) => write!(
                formatter,
                "seq {seq}: prev_hash does not match the record before it; that record was \
                 edited or replaced"
            ),
        }
    }
}

/// Verifies an exported record set against `public_key` (32 bytes), in the order the
/// export lists the records, and returns every fault found. An empty list means that every
/// record is signed by that key and unchanged, and that none is missing or out of order.
pub fn verify_export(export: &EvidenceExport, public_key: &[u8]) -> Vec<ExportFault> {
    let mut faults = Vec::new();
    let mut decoded = Vec::with_capacity(export.records.len());

    for exported in &export.records {
        match decode_exported(exported) {
            Ok((canonical, signature, record)) => {
                if record.seq != exported.seq {
                    faults.push(ExportFault::SeqMismatch {
                        listed: exported.seq,
                        signed: record.seq,
                    });
                }
                if record.device_id != export.device_id {
                    faults.push(ExportFault::WrongDevice { seq: exported.seq });
                }
                let prev_hash = record
                    .prev_hash
                    .as_deref()
                    .and_then(|hash| URL_SAFE_NO_PAD.decode(hash).ok())
                    .and_then(|hash| <[u8; 32]>::try_from(hash).ok());
                match prev_hash {
                    Some(prev_hash) => {
                        decoded.push((exported.seq, prev_hash, canonical, signature))
                    }
                    None => faults.push(ExportFault::Unreadable {
                        seq: exported.seq,
                        reason: "missing or invalid prev_hash".into(),
                    }),
                }
            }
            Err(reason) => faults.push(ExportFault::Unreadable { seq: exported.seq, reason }),
        }
    }

    let chained = decoded.iter().map(|(seq, prev_hash, canonical, signature)| ChainedRecord {
        seq: *seq,
        prev_hash: *prev_hash,
        canonical,
        signature,
    });
    faults.extend(verify_chain(public_key, chained).into_iter().map(ExportFault::Chain));
    faults
}

fn decode_exported(
    exported: &ExportedRecord,
) -> std::result::Result<(Vec<u8>, Vec<u8>, Record), String> {
    let canonical = URL_SAFE_NO_PAD
        .decode(&exported.canonical)
        .map_err(|error| format!("canonical is not base64url: {error}"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(&exported.signature)
        .map_err(|error| format!("signature is not base64url: {error}"))?;
    let record: Record = serde_json::from_slice(&canonical)
        .map_err(|error| format!("canonical bytes are not a record: {error}"))?;
    Ok((canonical, signature, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ranges_lists_gaps() {
        assert_eq!(missing_ranges(&[]), vec![]);
        assert_eq!(missing_ranges(&[1, 2, 3]), vec![]);
        assert_eq!(
            missing_ranges(&[2, 3, 6, 9]),
            vec![
                SeqRange { first: 1, last: 1 },
                SeqRange { first: 4, last: 5 },
                SeqRange { first: 7, last: 8 }
            ]
        );
    }
}
