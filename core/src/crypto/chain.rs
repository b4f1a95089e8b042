//! The signed hash chain of a device's records.
//!
//! Each record's canonical bytes include its per-device sequence number and the SHA-256 of
//! the previous record's canonical bytes, and are signed with the device's Ed25519 key.
//! A verifier holding only the device's public key can then tell a forged record (bad
//! signature), an edited one (its successor's link breaks), a deleted one (a sequence gap)
//! and a reordered set (sequence numbers out of order).

use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::Zeroizing;

use super::CryptoError;

/// The `prev_hash` of a device's first record.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// A device's Ed25519 signing key.
pub struct DeviceSigningKey {
    pair: Ed25519KeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for DeviceSigningKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("DeviceSigningKey").field("public_key", &self.public_key()).finish()
    }
}

impl DeviceSigningKey {
    /// Generates a new key pair.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Random`] if the system random number generator fails.
    pub fn generate() -> Result<Self, CryptoError> {
        let rng = ring::rand::SystemRandom::new();
        let document = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| CryptoError::Random)?;
        Self::from_pkcs8(document.as_ref())
    }

    /// Loads a key pair from its PKCS #8 form, as stored (encrypted) on the device.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Malformed`] if the bytes are not an Ed25519 PKCS #8 document.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(|error| CryptoError::Malformed(format!("signing key: {error}")))?;
        Ok(Self { pair, pkcs8: Zeroizing::new(pkcs8.to_vec()) })
    }

    /// Returns the PKCS #8 form, to be stored encrypted.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// Returns the 32-byte public key the SOC registers at enrollment.
    pub fn public_key(&self) -> [u8; 32] {
        self.pair.public_key().as_ref().try_into().expect("Ed25519 public keys are 32 bytes")
    }

    /// Signs a message.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.pair.sign(message).as_ref().try_into().expect("Ed25519 signatures are 64 bytes")
    }
}

/// Returns the SHA-256 of a record's canonical bytes: the `prev_hash` of its successor.
pub fn record_hash(canonical: &[u8]) -> [u8; 32] {
    ring::digest::digest(&ring::digest::SHA256, canonical)
        .as_ref()
        .try_into()
        .expect("SHA-256 digests are 32 bytes")
}

/// One record as the verifier sees it.
#[derive(Debug, Clone, Copy)]
pub struct ChainedRecord<'a> {
    /// The per-device sequence number, from 1.
    pub seq: u64,
    /// The previous record's hash, as the record claims it.
    pub prev_hash: [u8; 32],
    /// The bytes that were signed; they contain `seq` and `prev_hash`.
    pub canonical: &'a [u8],
    /// The Ed25519 signature over `canonical`.
    pub signature: &'a [u8],
}

/// Something wrong in a chain of records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainFault {
    /// The signature does not match the device's key: the record was forged or edited.
    BadSignature {
        /// The record's sequence number.
        seq: u64,
    },
    /// Records are missing between two sequence numbers: deleted or never delivered.
    Gap {
        /// The last sequence number before the gap.
        after: u64,
        /// The next sequence number present.
        next: u64,
    },
    /// A record's sequence number is not above its predecessor's: reordered or repeated.
    OutOfOrder {
        /// The record's sequence number.
        seq: u64,
        /// The predecessor's sequence number.
        after: u64,
    },
    /// A record's `prev_hash` is not the hash of the record before it: that record was
    /// changed or replaced.
    BrokenLink {
        /// The record whose link does not match.
        seq: u64,
    },
}

/// Verifies a device's records, given in the order received, against its public key.
/// Returns every fault found; an empty list means the chain is intact.
///
/// The first record given may start after sequence 1 (an export of part of a shift); its
/// link is then taken on trust, but every later one is checked.
pub fn verify_chain<'a>(
    public_key: &[u8],
    records: impl IntoIterator<Item = ChainedRecord<'a>>,
) -> Vec<ChainFault> {
    let key = UnparsedPublicKey::new(&ED25519, public_key);
    let mut faults = Vec::new();
    let mut previous: Option<(u64, [u8; 32])> = None;

    for record in records {
        if key.verify(record.canonical, record.signature).is_err() {
            faults.push(ChainFault::BadSignature { seq: record.seq });
        }

        match previous {
            None if record.seq == 1 && record.prev_hash != GENESIS_HASH => {
                faults.push(ChainFault::BrokenLink { seq: record.seq });
            }
            None => {}
            Some((after, _)) if record.seq <= after => {
                faults.push(ChainFault::OutOfOrder { seq: record.seq, after });
            }
            Some((after, _)) if record.seq > after + 1 => {
                faults.push(ChainFault::Gap { after, next: record.seq });
            }
            Some((_, hash)) if hash != record.prev_hash => {
                faults.push(ChainFault::BrokenLink { seq: record.seq });
            }
            Some(_) => {}
        }

        previous = Some((record.seq, record_hash(record.canonical)));
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Signed {
        seq: u64,
        prev_hash: [u8; 32],
        canonical: Vec<u8>,
        signature: Vec<u8>,
    }

    fn canonical(seq: u64, prev_hash: &[u8; 32], text: &str) -> Vec<u8> {
        format!("{seq}|{}|{text}", super::super::stream::hex(prev_hash)).into_bytes()
    }

    fn chain(key: &DeviceSigningKey, texts: &[&str]) -> Vec<Signed> {
        let mut prev_hash = GENESIS_HASH;
        let mut records = Vec::new();
        for (index, text) in texts.iter().enumerate() {
            let seq = index as u64 + 1;
            let bytes = canonical(seq, &prev_hash, text);
            let signature = key.sign(&bytes).to_vec();
            records.push(Signed { seq, prev_hash, canonical: bytes.clone(), signature });
            prev_hash = record_hash(&bytes);
        }
        records
    }

    fn verify(key: &DeviceSigningKey, records: &[Signed]) -> Vec<ChainFault> {
        verify_chain(
            &key.public_key(),
            records.iter().map(|record| ChainedRecord {
                seq: record.seq,
                prev_hash: record.prev_hash,
                canonical: &record.canonical,
                signature: &record.signature,
            }),
        )
    }

    #[test]
    fn intact_chain_has_no_fault() {
        let key = DeviceSigningKey::generate().unwrap();
        let records = chain(&key, &["start", "fix", "incident", "end"]);
        assert_eq!(verify(&key, &records), vec![]);
        let reloaded = DeviceSigningKey::from_pkcs8(key.pkcs8()).unwrap();
        assert_eq!(reloaded.public_key(), key.public_key());
    }

    #[test]
    fn edited_record_breaks_signature() {
        let key = DeviceSigningKey::generate().unwrap();
        let mut records = chain(&key, &["start", "door forced", "end"]);
        records[1].canonical = canonical(2, &records[1].prev_hash, "door closed");
        let faults = verify(&key, &records);
        assert!(faults.contains(&ChainFault::BadSignature { seq: 2 }), "{faults:?}");
        assert!(faults.contains(&ChainFault::BrokenLink { seq: 3 }), "{faults:?}");
    }

    #[test]
    fn deleted_record_is_a_gap() {
        let key = DeviceSigningKey::generate().unwrap();
        let mut records = chain(&key, &["a", "b", "c", "d"]);
        records.remove(2);
        assert_eq!(verify(&key, &records), vec![ChainFault::Gap { after: 2, next: 4 }]);
    }

    #[test]
    fn reordered_records_are_reported() {
        let key = DeviceSigningKey::generate().unwrap();
        let mut records = chain(&key, &["a", "b", "c"]);
        records.swap(1, 2);
        let faults = verify(&key, &records);
        assert!(faults.contains(&ChainFault::Gap { after: 1, next: 3 }), "{faults:?}");
        assert!(faults.contains(&ChainFault::OutOfOrder { seq: 2, after: 3 }), "{faults:?}");
    }

    #[test]
    fn forged_record_from_another_key_is_caught() {
        let device = DeviceSigningKey::generate().unwrap();
        let forger = DeviceSigningKey::generate().unwrap();
        let mut records = chain(&device, &["a", "b"]);
        let forged = chain(&forger, &["a", "b", "forged"]);
        records.push(Signed {
            seq: 3,
            prev_hash: record_hash(&records[1].canonical),
            canonical: forged[2].canonical.clone(),
            signature: forged[2].signature.clone(),
        });
        let faults = verify(&device, &records);
        assert!(faults.contains(&ChainFault::BadSignature { seq: 3 }), "{faults:?}");
    }

    #[test]
    fn first_record_must_link_to_genesis() {
        let key = DeviceSigningKey::generate().unwrap();
        let mut records = chain(&key, &["a"]);
        records[0].prev_hash = [1; 32];
        assert_eq!(verify(&key, &records), vec![ChainFault::BrokenLink { seq: 1 }]);
    }
}
