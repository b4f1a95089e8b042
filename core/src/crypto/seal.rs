//! Sealing records to the SOC's public key, so the payload that travels is end-to-end
//! encrypted and evidence not yet sent stays deliverable if the local key is lost.
//!
//! A sealed box is `version (1) | algorithm (1) | ephemeral public key (32) | ciphertext
//! and tag`. The device makes a fresh X25519 key pair for every box, agrees a secret with
//! the SOC's public key, and derives a one-time AES-256-GCM key with HKDF-SHA256 (salt:
//! both public keys; info: a label and the caller's context). Because each key seals one
//! message only, the nonce is fixed at zero.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::agreement::{EphemeralPrivateKey, UnparsedPublicKey, X25519, agree_ephemeral};
use ring::hkdf::{HKDF_SHA256, Salt};
use zeroize::Zeroizing;

use super::{CryptoError, fill_random};

const VERSION_1: u8 = 1;
const ALGORITHM_X25519_HKDF_SHA256_AES_256_GCM: u8 = 1;
const HEADER_LEN: usize = 2 + 32;
const LABEL: &[u8] = b"vigil/seal/v1";

/// Seals `plaintext` to the SOC's X25519 public key, bound to `context` (such as the
/// record id).
///
/// # Errors
///
/// [`CryptoError::Malformed`] if the public key is not 32 bytes or is a low-order point;
/// [`CryptoError::Random`] if no ephemeral key can be drawn.
pub fn seal_to_soc(
    soc_public_key: &[u8],
    plaintext: &[u8],
    context: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if soc_public_key.len() != 32 {
        return Err(CryptoError::Malformed(format!("a SOC key of {} bytes", soc_public_key.len())));
    }
    let rng = ring::rand::SystemRandom::new();
    let ephemeral =
        EphemeralPrivateKey::generate(&X25519, &rng).map_err(|_| CryptoError::Random)?;
    let ephemeral_public = ephemeral.compute_public_key().map_err(|_| CryptoError::Random)?;
    let ephemeral_public: [u8; 32] =
        ephemeral_public.as_ref().try_into().expect("X25519 public keys are 32 bytes");

    let peer = UnparsedPublicKey::new(&X25519, soc_public_key);
    let key = agree_ephemeral(ephemeral, &peer, |shared| {
        box_key(shared, &ephemeral_public, soc_public_key, context)
    })
    .map_err(|_| CryptoError::Malformed("the SOC key is not a valid X25519 key".into()))??;

    let mut sealed = vec![VERSION_1, ALGORITHM_X25519_HKDF_SHA256_AES_256_GCM];
    sealed.extend_from_slice(&ephemeral_public);
    let mut body = plaintext.to_vec();
    key.seal_in_place_append_tag(zero_nonce(), Aad::from(context), &mut body)
        .map_err(|_| CryptoError::Malformed("plaintext too long".into()))?;
    sealed.extend_from_slice(&body);
    Ok(sealed)
}

/// The SOC's static X25519 key, which opens what devices sealed to its public key.
pub struct SocSealingKey {
    secret: x25519_dalek::StaticSecret,
}

impl std::fmt::Debug for SocSealingKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("SocSealingKey").field("public_key", &self.public_key()).finish()
    }
}

impl SocSealingKey {
    /// Generates a new key.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Random`] if the system random number generator fails.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        fill_random(bytes.as_mut())?;
        Ok(Self::from_bytes(*bytes))
    }

    /// Loads a key from its 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self { secret: x25519_dalek::StaticSecret::from(bytes) }
    }

    /// Returns the 32 secret bytes, to be stored protected on the SOC.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// Returns the public key that devices seal to.
    pub fn public_key(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.secret).to_bytes()
    }

    /// Opens a sealed box made with [`seal_to_soc`] for the same `context`.
    ///
    /// # Errors
    ///
    /// [`CryptoError::Unsupported`] for an unknown format, [`CryptoError::Malformed`] for a
    /// truncated box, [`CryptoError::Locked`] for another SOC's box, a changed byte or
    /// another context.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < HEADER_LEN + 16 {
            return Err(CryptoError::Malformed(format!("a sealed box of {} bytes", sealed.len())));
        }
        if sealed[0] != VERSION_1 || sealed[1] != ALGORITHM_X25519_HKDF_SHA256_AES_256_GCM {
            return Err(CryptoError::Unsupported(format!(
                "sealed box version {}, algorithm {}",
                sealed[0], sealed[1]
            )));
        }
        let ephemeral_public: [u8; 32] = sealed[2..HEADER_LEN].try_into().expect("32 bytes");
        let shared = self.secret.diffie_hellman(&x25519_dalek::PublicKey::from(ephemeral_public));
        if !shared.was_contributory() {
            return Err(CryptoError::Locked);
        }
        let key = box_key(shared.as_bytes(), &ephemeral_public, &self.public_key(), context)?;

        let mut body = Zeroizing::new(sealed[HEADER_LEN..].to_vec());
        let plaintext_len = key
            .open_in_place(zero_nonce(), Aad::from(context), body.as_mut_slice())
            .map_err(|_| CryptoError::Locked)?
            .len();
        body.truncate(plaintext_len);
        Ok(body)
    }
}

/// Derives the one-time box key from the shared secret.
fn box_key(
    shared: &[u8],
    ephemeral_public: &[u8],
    soc_public: &[u8],
    context: &[u8],
) -> Result<LessSafeKey, CryptoError> {
    let salt = Salt::new(HKDF_SHA256, &[ephemeral_public, soc_public].concat());
    let info = [LABEL, context];
    let pseudorandom_key = salt.extract(shared);
    let okm = pseudorandom_key
        .expand(&info, &AES_256_GCM)
        .map_err(|_| CryptoError::Malformed("HKDF output length".into()))?;
    let key: UnboundKey = okm.into();
    Ok(LessSafeKey::new(key))
}

fn zero_nonce() -> Nonce {
    Nonce::assume_unique_for_key([0; NONCE_LEN])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_box_opens_only_for_its_soc() {
        let soc = SocSealingKey::generate().unwrap();
        let sealed = seal_to_soc(&soc.public_key(), b"Fence cut near gate 3", b"record-1").unwrap();
        assert_eq!(soc.open(&sealed, b"record-1").unwrap().as_slice(), b"Fence cut near gate 3");

        let other = SocSealingKey::generate().unwrap();
        assert_eq!(other.open(&sealed, b"record-1").unwrap_err(), CryptoError::Locked);
        assert_eq!(soc.open(&sealed, b"record-2").unwrap_err(), CryptoError::Locked);
    }

    #[test]
    fn every_changed_byte_is_detected() {
        let soc = SocSealingKey::generate().unwrap();
        let sealed = seal_to_soc(&soc.public_key(), b"-23.55,-46.63", b"ctx").unwrap();
        for index in 2..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[index] ^= 0x04;
            assert!(soc.open(&tampered, b"ctx").is_err(), "byte {index}");
        }
    }

    #[test]
    fn boxes_differ_and_key_reloads() {
        let soc = SocSealingKey::generate().unwrap();
        let first = seal_to_soc(&soc.public_key(), b"same", b"ctx").unwrap();
        let second = seal_to_soc(&soc.public_key(), b"same", b"ctx").unwrap();
        assert_ne!(first, second, "each box has its own ephemeral key");

        let reloaded = SocSealingKey::from_bytes(*soc.to_bytes());
        assert_eq!(reloaded.open(&second, b"ctx").unwrap().as_slice(), b"same");
    }

    #[test]
    fn bad_keys_and_boxes_are_errors() {
        assert!(matches!(seal_to_soc(&[1; 31], b"x", b"c"), Err(CryptoError::Malformed(_))));
        let soc = SocSealingKey::generate().unwrap();
        assert!(matches!(soc.open(&[1, 1, 0], b"c"), Err(CryptoError::Malformed(_))));
        let mut sealed = seal_to_soc(&soc.public_key(), b"x", b"c").unwrap();
        sealed[0] = 2;
        assert!(matches!(soc.open(&sealed, b"c"), Err(CryptoError::Unsupported(_))));
    }
}
