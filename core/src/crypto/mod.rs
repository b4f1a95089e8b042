//! Cryptography for records as evidence: versioned envelopes for data at rest, wrapping of
//! the data key by a key-encryption key only the platform holds, streamed encryption of
//! attachments, and the signed hash chain of a device's records.
//!
//! Everything here is built on `ring`. Key material lives in `ring` key objects or in
//! [`zeroize::Zeroizing`] buffers, is never logged, and is never returned to the app.

mod chain;
mod envelope;
mod key_file;
mod keys;
mod seal;
mod stream;

pub use chain::{
    ChainFault, ChainedRecord, DeviceSigningKey, GENESIS_HASH, record_hash, verify_chain,
};
pub use envelope::DataKey;
pub use key_file::KeyFileKek;
pub use keys::{KeyEncryptionKey, PBKDF2_ITERATIONS, PassphraseKek, WrappedDataKey};
pub use seal::{SocSealingKey, seal_to_soc};
pub use stream::{
    CHUNK_BYTES, StreamSealer, StreamSummary, decrypt_stream, encrypt_stream, sealed_len,
    stream_digest,
};

/// A cryptographic failure. The variants say what an app or an investigator can act on;
/// none carries key material or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The key cannot open the data: a wrong key or passphrase, or data that was changed.
    #[error("decryption failed: wrong key or tampered data")]
    Locked,
    /// The data is in a format or version this library cannot read.
    #[error("unsupported format: {0}")]
    Unsupported(String),
    /// The data ends early or is malformed.
    #[error("malformed data: {0}")]
    Malformed(String),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// Reading or writing a stream failed.
    #[error("I/O failed: {0}")]
    Io(String),
}

impl From<std::io::Error> for CryptoError {
    fn from(error: std::io::Error) -> Self {
        CryptoError::Io(error.to_string())
    }
}

/// Fills a buffer from the system's secure random number generator.
pub(crate) fn fill_random(buffer: &mut [u8]) -> Result<(), CryptoError> {
    use ring::rand::SecureRandom;

    ring::rand::SystemRandom::new().fill(buffer).map_err(|_| CryptoError::Random)
}
