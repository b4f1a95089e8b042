//! The data key and the key-encryption key (KEK) that wraps it.
//!
//! Records are encrypted with one random data key. The data key is stored only wrapped by
//! a KEK that the platform holds (Android Keystore, iOS Keychain), or, for the CLI and
//! tests, one derived from a passphrase. Rotating the KEK re-wraps the data key without
//! touching a single record.

use std::num::NonZeroU32;

use zeroize::Zeroizing;

use super::envelope::DATA_KEY_LEN;
use super::{CryptoError, DataKey, fill_random};

/// A key-encryption key held by the platform.
///
/// The data key's bytes are passed to [`KeyEncryptionKey::wrap`] once, when the store is
/// created or the KEK rotated: a platform keystore can only encrypt what it is given. They
/// are never returned to the app otherwise.
pub trait KeyEncryptionKey: Send + Sync + std::fmt::Debug {
    /// Returns a stable, non-secret identifier of this KEK, stored beside the wrapped key.
    fn id(&self) -> String;

    /// Encrypts a data key.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Locked`] when the platform refuses (for example, the device is locked).
    fn wrap(&self, data_key: &[u8]) -> Result<Vec<u8>, CryptoError>;

    /// Decrypts a data key wrapped by [`KeyEncryptionKey::wrap`].
    ///
    /// # Errors
    ///
    /// [`CryptoError::Locked`] for a wrong KEK or a changed wrapped key.
    fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError>;
}

/// A data key as stored: wrapped, with the id of the KEK that wrapped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    /// The id of the wrapping KEK.
    pub kek_id: String,
    /// The wrapped key bytes.
    pub wrapped: Vec<u8>,
}

impl WrappedDataKey {
    /// Generates a new data key and wraps it with `kek`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Random`], or the KEK's own errors.
    pub fn generate(kek: &dyn KeyEncryptionKey) -> Result<(DataKey, Self), CryptoError> {
        let (key, bytes) = DataKey::generate()?;
        let wrapped = kek.wrap(bytes.as_ref())?;
        Ok((key, Self { kek_id: kek.id(), wrapped }))
    }

    /// Unwraps the data key with `kek`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Locked`] for the wrong KEK; nothing is changed.
    pub fn unwrap(&self, kek: &dyn KeyEncryptionKey) -> Result<DataKey, CryptoError> {
        let bytes = kek.unwrap(&self.wrapped)?;
        if bytes.len() != DATA_KEY_LEN {
            return Err(CryptoError::Locked);
        }
        DataKey::from_bytes(&bytes)
    }

    /// Re-wraps the same data key from `current` to `next`: a KEK rotation.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Locked`] if `current` cannot unwrap the key.
    pub fn rewrap(
        &self,
        current: &dyn KeyEncryptionKey,
        next: &dyn KeyEncryptionKey,
    ) -> Result<Self, CryptoError> {
        let bytes = current.unwrap(&self.wrapped)?;
        let wrapped = next.wrap(&bytes)?;
        Ok(Self { kek_id: next.id(), wrapped })
    }
}

/// A KEK derived from a passphrase with PBKDF2-HMAC-SHA256, for the CLI, servers without a
/// keystore, and tests.
///
/// The wrapped form is `version (1) | iterations (4, big-endian) | salt (16) | envelope`, so
/// a later iteration count still opens keys wrapped with an earlier one.
pub struct PassphraseKek {
    passphrase: Zeroizing<String>,
    iterations: NonZeroU32,
}

/// PBKDF2-HMAC-SHA256 iterations: OWASP's Password Storage Cheat Sheet (2023 revision)
/// recommends 600,000.
pub const PBKDF2_ITERATIONS: u32 = 600_000;

const WRAP_FORMAT_1: u8 = 1;
const SALT_LEN: usize = 16;
const WRAP_CONTEXT: &[u8] = b"vigil/data-key-wrap/v1";

impl std::fmt::Debug for PassphraseKek {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PassphraseKek")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl PassphraseKek {
    /// Creates a KEK from a passphrase with the recommended iteration count.
    pub fn new(passphrase: &str) -> Self {
        Self::with_iterations(passphrase, PBKDF2_ITERATIONS)
    }

    /// Creates a KEK with another iteration count; tests use a low one to stay fast.
    pub fn with_iterations(passphrase: &str, iterations: u32) -> Self {
        Self {
            passphrase: Zeroizing::new(passphrase.to_string()),
            iterations: NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN),
        }
    }

    fn derive(&self, salt: &[u8], iterations: NonZeroU32) -> Result<DataKey, CryptoError> {
        let mut derived = Zeroizing::new([0u8; DATA_KEY_LEN]);
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            salt,
            self.passphrase.as_bytes(),
            derived.as_mut(),
        );
        DataKey::from_bytes(derived.as_ref())
    }
}

impl KeyEncryptionKey for PassphraseKek {
    fn id(&self) -> String {
        "passphrase".to_string()
    }

    fn wrap(&self, data_key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut salt = [0u8; SALT_LEN];
        fill_random(&mut salt)?;
        let envelope = self.derive(&salt, self.iterations)?.seal(data_key, WRAP_CONTEXT)?;

        let mut wrapped = vec![WRAP_FORMAT_1];
        wrapped.extend_from_slice(&self.iterations.get().to_be_bytes());
        wrapped.extend_from_slice(&salt);
        wrapped.extend_from_slice(&envelope);
        Ok(wrapped)
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let header = 1 + 4 + SALT_LEN;
        if wrapped.len() < header || wrapped[0] != WRAP_FORMAT_1 {
            return Err(CryptoError::Unsupported("wrapped data key format".into()));
        }
        let iterations = u32::from_be_bytes([wrapped[1], wrapped[2], wrapped[3], wrapped[4]]);
        let iterations = NonZeroU32::new(iterations)
            .ok_or_else(|| CryptoError::Malformed("zero PBKDF2 iterations".into()))?;
        let salt = &wrapped[5..header];

        self.derive(salt, iterations)?.open(&wrapped[header..], WRAP_CONTEXT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: u32 = 1_000;

    #[test]
    fn wrapped_key_opens_with_right_passphrase_only() {
        let kek = PassphraseKek::with_iterations("correct horse", FAST);
        let (key, wrapped) = WrappedDataKey::generate(&kek).unwrap();
        let envelope = key.seal(b"incident text", b"ctx").unwrap();

        let reopened = wrapped.unwrap(&kek).unwrap();
        assert_eq!(reopened.open(&envelope, b"ctx").unwrap().as_slice(), b"incident text");

        let wrong = PassphraseKek::with_iterations("battery staple", FAST);
        assert_eq!(wrapped.unwrap(&wrong).unwrap_err(), CryptoError::Locked);
    }

    #[test]
    fn rotation_keeps_the_same_data_key() {
        let old = PassphraseKek::with_iterations("old passphrase", FAST);
        let new = PassphraseKek::with_iterations("new passphrase", FAST * 2);
        let (key, wrapped) = WrappedDataKey::generate(&old).unwrap();
        let envelope = key.seal(b"kept", b"ctx").unwrap();

        let rotated = wrapped.rewrap(&old, &new).unwrap();
        assert_ne!(rotated.wrapped, wrapped.wrapped);
        let reopened = rotated.unwrap(&new).unwrap();
        assert_eq!(reopened.open(&envelope, b"ctx").unwrap().as_slice(), b"kept");
        assert_eq!(rotated.unwrap(&old).unwrap_err(), CryptoError::Locked);
    }

    #[test]
    fn tampered_wrapped_key_is_rejected() {
        let kek = PassphraseKek::with_iterations("p", FAST);
        let (_, wrapped) = WrappedDataKey::generate(&kek).unwrap();

        let mut flipped = wrapped.clone();
        let last = flipped.wrapped.len() - 1;
        flipped.wrapped[last] ^= 1;
        assert_eq!(flipped.unwrap(&kek).unwrap_err(), CryptoError::Locked);

        let mut truncated = wrapped.clone();
        truncated.wrapped.truncate(10);
        assert!(truncated.unwrap(&kek).is_err());
    }

    #[test]
    fn default_iterations_follow_owasp() {
        assert!(PBKDF2_ITERATIONS >= 600_000);
        assert_eq!(PassphraseKek::new("x").iterations.get(), PBKDF2_ITERATIONS);
    }
}
