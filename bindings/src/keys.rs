//! The key-encryption key (KEK) that the platform holds, and a passphrase-backed one for
//! tests and tools.
//!
//! Vigil encrypts everything it stores with a random data key, and stores that data key
//! only wrapped by the KEK. On Android the app implements [`KeyStore`] with an AES key in
//! the Android Keystore. On iOS it uses a key in the Secure Enclave. The KEK itself never
//! leaves the platform.
//!
//! The data key is the only key that crosses the FFI as bytes, and only as the argument of
//! `wrap_data_key` and the result of `unwrap_data_key`: a keystore can only encrypt bytes it
//! is given, and Vigil must hold the unwrapped data key to read its store. Vigil zeroes its
//! copies after use and never logs them. The app must not keep, store or log them either.

use std::sync::Arc;

use vigil_core::crypto::{CryptoError, KeyEncryptionKey, PassphraseKek};

use crate::{Vigil, VigilError};

/// A failure of the platform keystore to wrap or unwrap the data key.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum KeyStoreError {
    /// The keystore rejected the operation: the key was deleted or invalidated (for
    /// example after a new screen lock or a keystore reset), the device is locked, or the
    /// wrapped bytes are not the keystore's. Vigil reports this as `VigilError.Locked`.
    #[error("the keystore rejected the operation: {detail}")]
    Rejected {
        /// The platform's description, without key material.
        detail: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for KeyStoreError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        KeyStoreError::Rejected { detail: error.reason }
    }
}

/// A key-encryption key held by the platform: the app implements it with the Android
/// Keystore or the iOS Keychain. Vigil calls it on its own threads, when the store opens
/// and when the key is rotated.
#[uniffi::export(with_foreign)]
pub trait KeyStore: Send + Sync {
    /// Returns a stable, non-secret name of the key, such as its keystore alias. Vigil
    /// stores it beside the wrapped data key.
    fn key_id(&self) -> String;

    /// Encrypts the 32-byte data key with the platform key, and returns the result, which
    /// Vigil stores. Called once, when a store is created or the key rotated.
    ///
    /// # Errors
    ///
    /// `Rejected` when the platform cannot use its key.
    fn wrap_data_key(&self, data_key: Vec<u8>) -> Result<Vec<u8>, KeyStoreError>;

    /// Decrypts what `wrap_data_key` returned, and returns the 32-byte data key. Called at
    /// every open.
    ///
    /// # Errors
    ///
    /// `Rejected` when the platform cannot use its key or the bytes are not its own.
    fn unwrap_data_key(&self, wrapped: Vec<u8>) -> Result<Vec<u8>, KeyStoreError>;
}

/// Creates a [`KeyStore`] whose key is derived from `passphrase` with PBKDF2-HMAC-SHA256
/// (600,000 iterations, as OWASP recommends), for tests, tools and devices without a
/// platform keystore. Each wrap or unwrap takes a fraction of a second.
#[uniffi::export]
pub fn passphrase_key_store(passphrase: String) -> Arc<dyn KeyStore> {
    Arc::new(PassphraseKeyStore(PassphraseKek::new(&passphrase)))
}

/// The Rust implementation behind [`passphrase_key_store`].
struct PassphraseKeyStore(PassphraseKek);

impl KeyStore for PassphraseKeyStore {
    fn key_id(&self) -> String {
        self.0.id()
    }

    fn wrap_data_key(&self, data_key: Vec<u8>) -> Result<Vec<u8>, KeyStoreError> {
        let data_key = zeroize::Zeroizing::new(data_key);
        self.0.wrap(&data_key).map_err(rejected)
    }

    fn unwrap_data_key(&self, wrapped: Vec<u8>) -> Result<Vec<u8>, KeyStoreError> {
        // The Vec is moved to the caller, which zeroes it (see `PlatformKek::unwrap`).
        self.0.unwrap(&wrapped).map(|key| key.to_vec()).map_err(rejected)
    }
}

fn rejected(error: CryptoError) -> KeyStoreError {
    KeyStoreError::Rejected { detail: error.to_string() }
}

/// Adapts the app's [`KeyStore`] to the core's key-encryption key.
pub(crate) struct PlatformKek(pub(crate) Arc<dyn KeyStore>);

impl std::fmt::Debug for PlatformKek {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_tuple("PlatformKek").field(&self.0.key_id()).finish()
    }
}

impl KeyEncryptionKey for PlatformKek {
    fn id(&self) -> String {
        self.0.key_id()
    }

    fn wrap(&self, data_key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        // NOTE: UniFFI copies the key into a transfer buffer that it frees without zeroing.
        self.0.wrap_data_key(data_key.to_vec()).map_err(locked)
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        self.0.unwrap_data_key(wrapped.to_vec()).map(zeroize::Zeroizing::new).map_err(locked)
    }
}

fn locked(error: KeyStoreError) -> CryptoError {
    tracing::warn!(%error, "the platform keystore rejected a data key operation");
    CryptoError::Locked
}

#[uniffi::export]
impl Vigil {
    /// Re-wraps the store's data key with `next`, a new key-encryption key, without
    /// rewriting any record. From then on only `next` opens the store: pass it to the next
    /// `open`.
    ///
    /// # Errors
    ///
    /// `Locked` if the current key no longer unwraps the data key or `next` fails to wrap
    /// it; the store then keeps its current key.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the rotation runs to completion on Vigil's runtime, in one transaction,
    /// even if the caller is cancelled.
    pub async fn rotate_key(&self, next: Arc<dyn KeyStore>) -> Result<(), VigilError> {
        self.blocking(move |core| Ok(core.rotate_key(Arc::new(PlatformKek(next)))?)).await
    }

    /// Deletes the records the SOC acknowledged longer ago than `retention_ms`, and returns
    /// how many were deleted. Records the SOC does not have are never deleted. Vigil also
    /// purges at every `open`.
    ///
    /// # Errors
    ///
    /// `Storage` if the database fails; then nothing was deleted.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: as `rotate_key`.
    pub async fn purge_expired_records(&self) -> Result<u64, VigilError> {
        self.blocking(|core| Ok(core.purge_expired_records()?)).await
    }
}
