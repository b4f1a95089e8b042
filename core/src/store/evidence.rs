//! The evidence parts of a record, made in the transaction that stores it: its place in the
//! device's hash chain, its Ed25519 signature and its box sealed to the SOC.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::{OptionalExtension, Transaction, params};
use uuid::Uuid;

use super::encryption::{RECORD_BODY, SETTING_VALUE};
use super::{QueuedRecord, Store};
use crate::crypto::{DataKey, DeviceSigningKey, GENESIS_HASH, record_hash, seal_to_soc};
use crate::error::{Error, Result};
use crate::protocol::{SealedRecord, sealing_context};

/// The setting that stores the SOC's X25519 sealing public key, in base64url without
/// padding, as the enrollment reply gives it.
pub const SOC_PUBLIC_KEY: &str = "soc_public_key";

/// The setting that stores the hash of the newest record's canonical bytes.
pub(super) const CHAIN_HEAD: &str = "chain_head";

/// The signature and sealed box of one record, made from its canonical bytes.
pub(super) struct Evidence {
    pub(super) signature: Option<Vec<u8>>,
    pub(super) sealed: Option<Vec<u8>>,
}

/// The keys a record is signed and sealed with, read once per transaction.
pub(super) struct EvidenceKeys {
    signing_key: Option<Arc<DeviceSigningKey>>,
    soc_public_key: Option<[u8; 32]>,
}

impl EvidenceKeys {
    /// Reads the SOC's public key from the settings, beside the device's signing key.
    /// Without a data key (an old database layout in tests) nothing is signed or sealed.
    pub(super) fn load(
        transaction: &Transaction<'_>,
        data_key: Option<&DataKey>,
        signing_key: Option<Arc<DeviceSigningKey>>,
    ) -> Result<Self> {
        let Some(data_key) = data_key else {
            return Ok(Self { signing_key: None, soc_public_key: None });
        };
        let row = transaction
            .query_row(
                "SELECT value, value_envelope FROM settings WHERE key = ?1",
                [SOC_PUBLIC_KEY],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<Vec<u8>>>(1)?)),
            )
            .optional()?;
        let soc_public_key = row
            .map(|(clear, envelope)| {
                SETTING_VALUE.open_text(data_key, SOC_PUBLIC_KEY, clear, envelope)
            })
            .transpose()?
            .map(|encoded| decode_soc_public_key(&encoded))
            .transpose()?;
        Ok(Self { signing_key, soc_public_key })
    }

    /// Signs and seals a record's canonical bytes.
    ///
    /// NOTE: before the first enrollment the SOC's public key is unknown, so the box is left
    /// empty and made from the stored bytes at each push. A store used without a `Vigil`
    /// has no signing key, so its signatures are made at push time the same way.
    ///
    /// A failed seal leaves the box empty instead of failing the capture, because a record
    /// must never be lost to its evidence. The push then reports the error.
    pub(super) fn apply(&self, id: &Uuid, canonical: &[u8]) -> Evidence {
        let signature = self.signing_key.as_ref().map(|key| key.sign(canonical).to_vec());
        let sealed = self.soc_public_key.as_ref().and_then(|soc_public_key| {
            seal_to_soc(soc_public_key, canonical, &sealing_context(id))
                .inspect_err(|error| {
                    tracing::error!(record = %id, %error, "failed to seal a record to the SOC");
                })
                .ok()
        });
        Evidence { signature, sealed }
    }
}

/// Returns the hash the next record links to: the stored chain head, else the hash of the
/// newest stored record's canonical bytes (decrypted with `data_key`), else the genesis
/// hash.
pub(super) fn chain_head(
    transaction: &Transaction<'_>,
    data_key: Option<&DataKey>,
) -> Result<[u8; 32]> {
    if let Some(encoded) = read_setting(transaction, CHAIN_HEAD)? {
        return decode_hash(&encoded)
            .ok_or_else(|| Error::Corrupt("invalid stored chain head".into()));
    }

    let Some(data_key) = data_key else {
        return Ok(GENESIS_HASH);
    };
    let newest: Option<(String, String, Option<Vec<u8>>)> = transaction
        .query_row(
            "SELECT id, body, body_envelope FROM records ORDER BY seq DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    let Some((id, clear, envelope)) = newest else {
        return Ok(GENESIS_HASH);
    };
    let canonical = RECORD_BODY.open_text(data_key, &id, clear, envelope)?;
    Ok(record_hash(canonical.as_bytes()))
}

/// Stores the hash of the newest record, which the next record links to.
pub(super) fn set_chain_head(transaction: &Transaction<'_>, hash: &[u8; 32]) -> Result<()> {
    transaction.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![CHAIN_HEAD, URL_SAFE_NO_PAD.encode(hash)],
    )?;
    Ok(())
}

/// Encodes a chain hash as records carry it in `prev_hash`.
pub(super) fn encode_hash(hash: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(hash)
}

fn decode_hash(encoded: &str) -> Option<[u8; 32]> {
    URL_SAFE_NO_PAD.decode(encoded).ok()?.try_into().ok()
}

/// Decodes the SOC's sealing public key: 32 bytes in base64url without padding.
///
/// # Errors
///
/// [`Error::InvalidInput`] for any other form.
pub fn decode_soc_public_key(encoded: &str) -> Result<[u8; 32]> {
    URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            Error::invalid("soc_public_key", "must be 32 bytes in base64url without padding")
        })
}

fn read_setting(transaction: &Transaction<'_>, key: &str) -> Result<Option<String>> {
    Ok(transaction
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| row.get(0))
        .optional()?)
}

impl QueuedRecord {
    /// Returns the record's wire form from the box and signature stored at capture, or
    /// `None` if either is missing.
    pub fn sealed_record(&self) -> Option<SealedRecord> {
        let (Some(sealed), Some(signature)) = (&self.sealed, &self.signature) else {
            return None;
        };
        Some(SealedRecord {
            id: self.id,
            seq: self.seq,
            sealed: URL_SAFE_NO_PAD.encode(sealed),
            signature: URL_SAFE_NO_PAD.encode(signature),
        })
    }
}

impl Store {
    /// Sets the device's signing key, with which every record stored from now on is
    /// signed in its insert transaction.
    pub fn set_signing_key(&self, key: Arc<DeviceSigningKey>) {
        *self.signing_key.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(key);
    }

    pub(super) fn signing_key(&self) -> Option<Arc<DeviceSigningKey>> {
        self.signing_key.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Returns the stored records with these ids as queued for a push, in the order given;
    /// ids of unknown records are skipped.
    pub fn queued_records(&self, ids: &[Uuid]) -> Result<Vec<QueuedRecord>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT seq, body, body_envelope, signature, sealed FROM records WHERE id = ?1",
        )?;

        let mut queued = Vec::with_capacity(ids.len());
        for id in ids {
            let row = statement
                .query_row([id.to_string()], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<Vec<u8>>>(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })
                .optional()?;
            if let Some((seq, clear, envelope, signature, sealed)) = row {
                let seq = u64::try_from(seq)
                    .map_err(|_| Error::Corrupt(format!("negative stored seq {seq}")))?;
                let json = RECORD_BODY.open_text(&self.key, &id.to_string(), clear, envelope)?;
                queued.push(QueuedRecord { id: *id, seq, json, signature, sealed });
            }
        }
        Ok(queued)
    }
}
