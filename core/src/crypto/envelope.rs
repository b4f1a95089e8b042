//! Versioned AEAD envelopes for values stored at rest.
//!
//! An envelope is `version (1 byte) | algorithm (1 byte) | nonce (12 bytes) | ciphertext
//! and tag`. The version and algorithm bytes let a later release add a new format while
//! still reading this one. The caller's associated data (for example the record id and the
//! column) binds a ciphertext to its place, so it cannot be moved to another row unnoticed.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use super::{CryptoError, fill_random};

/// The envelope format written by this version.
const VERSION_1: u8 = 1;

/// AES-256-GCM with a random 96-bit nonce.
const ALGORITHM_AES_256_GCM: u8 = 1;

const HEADER_LEN: usize = 2 + NONCE_LEN;

/// The HMAC label that derives the lookup key from the data key.
const LOOKUP_KEY_LABEL: &[u8] = b"vigil/lookup-key/v1";

/// The length of a data key in bytes.
pub(crate) const DATA_KEY_LEN: usize = 32;

/// The key that encrypts values at rest.
///
/// Nonces are random, which is safe for about 2^32 envelopes under one key (NIST SP
/// 800-38D, section 8.3); a phone storing a fix every second for ten years writes about
/// 2^28.
pub struct DataKey {
    key: LessSafeKey,
    /// An HMAC key derived from the data key, for lookups of values stored only as a
    /// keyed hash (see [`DataKey::lookup_hash`]).
    lookup: ring::hmac::Key,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// Generates a new random data key. Returns the key and its bytes, to be wrapped.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Random`] if the system random number generator fails.
    pub fn generate() -> Result<(Self, Zeroizing<[u8; DATA_KEY_LEN]>), CryptoError> {
        let mut bytes = Zeroizing::new([0u8; DATA_KEY_LEN]);
        fill_random(bytes.as_mut())?;
        Ok((Self::from_bytes(bytes.as_ref())?, bytes))
    }

    /// Builds a data key from unwrapped key bytes.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Malformed`] if `bytes` is not 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| CryptoError::Malformed(format!("a data key of {} bytes", bytes.len())))?;

        // A separate key for lookups, so the hashes reveal nothing about the AES key.
        let derivation = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes);
        let lookup_bytes = ring::hmac::sign(&derivation, LOOKUP_KEY_LABEL);
        let lookup = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, lookup_bytes.as_ref());

        Ok(Self { key: LessSafeKey::new(unbound), lookup })
    }

    /// Returns the keyed hash (HMAC-SHA256, in hex) of a value that must be found by
    /// equality but not stored in the clear, such as a checkpoint tag's payload.
    pub fn lookup_hash(&self, value: &[u8]) -> String {
        let tag = ring::hmac::sign(&self.lookup, value);
        tag.as_ref().iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// Encrypts `plaintext` into a version-1 envelope bound to `context`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Random`] if no nonce can be drawn.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;

        let mut envelope = Vec::with_capacity(HEADER_LEN + plaintext.len() + 16);
        envelope.extend_from_slice(&[VERSION_1, ALGORITHM_AES_256_GCM]);
        envelope.extend_from_slice(&nonce);
        envelope.extend_from_slice(plaintext);

        let mut in_out = envelope.split_off(HEADER_LEN);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut in_out,
            )
            .map_err(|_| CryptoError::Malformed("plaintext too long for one envelope".into()))?;
        envelope.extend_from_slice(&in_out);
        Ok(envelope)
    }

    /// Decrypts an envelope that was sealed with `context`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Unsupported`] for an unknown version or algorithm,
    /// [`CryptoError::Malformed`] for a truncated envelope, and [`CryptoError::Locked`] when
    /// the key, the context or any byte of the envelope does not match.
    pub fn open(&self, envelope: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if envelope.len() < HEADER_LEN + 16 {
            return Err(CryptoError::Malformed(format!("an envelope of {} bytes", envelope.len())));
        }
        match (envelope[0], envelope[1]) {
            (VERSION_1, ALGORITHM_AES_256_GCM) => {}
            (version, algorithm) => {
                return Err(CryptoError::Unsupported(format!(
                    "envelope version {version}, algorithm {algorithm}"
                )));
            }
        }

        let nonce = Nonce::try_assume_unique_for_key(&envelope[2..HEADER_LEN])
            .map_err(|_| CryptoError::Malformed("nonce".into()))?;
        let mut in_out = Zeroizing::new(envelope[HEADER_LEN..].to_vec());
        let plaintext_len = self
            .key
            .open_in_place(nonce, Aad::from(context), in_out.as_mut_slice())
            .map_err(|_| CryptoError::Locked)?
            .len();
        in_out.truncate(plaintext_len);
        Ok(in_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips() {
        let (key, _) = DataKey::generate().unwrap();
        let envelope = key.seal(b"Fence cut near gate 3", b"record-1/body").unwrap();
        assert_eq!(envelope[..2], [VERSION_1, ALGORITHM_AES_256_GCM]);
        assert!(!envelope.windows(5).any(|window| window == b"Fence"));
        let opened = key.open(&envelope, b"record-1/body").unwrap();
        assert_eq!(opened.as_slice(), b"Fence cut near gate 3");
    }

    #[test]
    fn empty_plaintext_round_trips() {
        let (key, _) = DataKey::generate().unwrap();
        let envelope = key.seal(b"", b"ctx").unwrap();
        assert!(key.open(&envelope, b"ctx").unwrap().is_empty());
    }

    #[test]
    fn flipped_byte_is_detected_everywhere() {
        let (key, _) = DataKey::generate().unwrap();
        let envelope = key.seal(b"47.3769,8.5417", b"ctx").unwrap();
        for index in 2..envelope.len() {
            let mut tampered = envelope.clone();
            tampered[index] ^= 0x01;
            assert_eq!(
                key.open(&tampered, b"ctx").unwrap_err(),
                CryptoError::Locked,
                "byte {index}"
            );
        }
    }

    #[test]
    fn wrong_key_or_context_is_locked() {
        let (key, _) = DataKey::generate().unwrap();
        let (other, _) = DataKey::generate().unwrap();
        let envelope = key.seal(b"secret", b"record-1/body").unwrap();
        assert_eq!(other.open(&envelope, b"record-1/body").unwrap_err(), CryptoError::Locked);
        assert_eq!(key.open(&envelope, b"record-2/body").unwrap_err(), CryptoError::Locked);
    }

    #[test]
    fn lookup_hash_depends_on_key_and_value() {
        let (key, bytes) = DataKey::generate().unwrap();
        let same = DataKey::from_bytes(bytes.as_ref()).unwrap();
        let (other, _) = DataKey::generate().unwrap();

        let hash = key.lookup_hash(b"NFC-04A2");
        assert_eq!(hash.len(), 64);
        assert_eq!(hash, same.lookup_hash(b"NFC-04A2"));
        assert_ne!(hash, key.lookup_hash(b"NFC-04A3"));
        assert_ne!(hash, other.lookup_hash(b"NFC-04A2"));
    }

    #[test]
    fn unknown_version_and_short_input_are_reported() {
        let (key, _) = DataKey::generate().unwrap();
        let mut envelope = key.seal(b"x", b"ctx").unwrap();
        envelope[0] = 9;
        assert!(matches!(key.open(&envelope, b"ctx"), Err(CryptoError::Unsupported(_))));
        assert!(matches!(key.open(&[1, 1, 0], b"ctx"), Err(CryptoError::Malformed(_))));
    }
}
