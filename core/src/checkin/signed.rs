//! Checkpoint tags signed by the SOC with Ed25519, verified offline.
//!
//! A signed tag is the text `vigil1.<claims>.<signature>`, where `<claims>` is the
//! unpadded base64url encoding of a JSON object naming the key, the site and the
//! checkpoint, and `<signature>` is the unpadded base64url Ed25519 signature of the ASCII
//! bytes of `<claims>`. Signing the encoded text, as JSON Web Signatures do, means no JSON
//! canonicalization is needed. A QR code contains the text, and an NFC tag stores it as an NDEF
//! text or URI record.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// The prefix that marks a signed tag.
pub const SIGNED_TAG_PREFIX: &str = "vigil1.";

/// Length of an Ed25519 public key in bytes.
const PUBLIC_KEY_BYTES: usize = 32;

/// Maximum length of a key, site or checkpoint id in a signed tag, in bytes.
const MAX_CLAIM_ID_BYTES: usize = 128;

/// A public key the SOC signs checkpoint tags with, as pulled with the assignments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagKey {
    /// The key's id, named in every tag it signs.
    pub key_id: String,
    /// The Ed25519 public key, 32 bytes in unpadded base64url.
    pub public_key: String,
}

/// The claims of a signed tag: the checkpoint and site it is mounted at, and the key that
/// signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagClaims {
    /// The id of the key that signed the tag.
    pub key_id: String,
    /// The site of the checkpoint.
    pub site_id: String,
    /// The checkpoint the tag is mounted at.
    pub checkpoint_id: String,
}

/// The reason a signed tag was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// The text has the signed-tag prefix but not its structure.
    #[error("malformed signed tag: {0}")]
    Malformed(String),
    /// No stored key has the tag's key id; the keys may need a sync.
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    /// The signature does not match the claims: the tag is forged or altered.
    #[error("the signature does not match")]
    BadSignature,
}

impl TagError {
    /// Returns the stable code of the problem, as stored and sent.
    pub fn code(&self) -> &'static str {
        match self {
            TagError::Malformed(_) => "malformed",
            TagError::UnknownKey(_) => "unknown_key",
            TagError::BadSignature => "bad_signature",
        }
    }
}

/// Returns whether a scanned payload claims to be a signed tag.
pub fn is_signed_tag(payload: &str) -> bool {
    payload.starts_with(SIGNED_TAG_PREFIX)
}

/// Verifies a signed tag against the SOC's keys and returns its claims.
///
/// # Errors
///
/// [`TagError::Malformed`] when the text is not a signed tag, [`TagError::UnknownKey`] when
/// no key has its key id, [`TagError::BadSignature`] when the signature does not match.
pub fn verify_signed_tag(payload: &str, keys: &[TagKey]) -> Result<TagClaims, TagError> {
    let malformed = |problem: &str| TagError::Malformed(problem.to_string());
    let body = payload
        .trim()
        .strip_prefix(SIGNED_TAG_PREFIX)
        .ok_or_else(|| malformed("missing the vigil1. prefix"))?;
    let (claims_text, signature_text) =
        body.split_once('.').ok_or_else(|| malformed("missing the signature part"))?;

    let claims_json = URL_SAFE_NO_PAD
        .decode(claims_text)
        .map_err(|error| malformed(&format!("claims are not base64url: {error}")))?;
    let claims: TagClaims = serde_json::from_slice(&claims_json)
        .map_err(|error| malformed(&format!("claims are not valid JSON: {error}")))?;
    for (field, value) in [
        ("key_id", &claims.key_id),
        ("site_id", &claims.site_id),
        ("checkpoint_id", &claims.checkpoint_id),
    ] {
        if value.is_empty() || value.len() > MAX_CLAIM_ID_BYTES {
            return Err(malformed(&format!("{field} must be 1 to {MAX_CLAIM_ID_BYTES} bytes")));
        }
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_text)
        .map_err(|error| malformed(&format!("signature is not base64url: {error}")))?;

    let key = keys
        .iter()
        .find(|key| key.key_id == claims.key_id)
        .ok_or_else(|| TagError::UnknownKey(claims.key_id.clone()))?;
    let public_key = decode_public_key(&key.public_key).map_err(|_| TagError::BadSignature)?;
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(claims_text.as_bytes(), &signature)
        .map_err(|_| TagError::BadSignature)?;
    Ok(claims)
}

/// Decodes an Ed25519 public key from unpadded base64url.
///
/// # Errors
///
/// A message naming the problem when the text is not base64url or not 32 bytes.
pub fn decode_public_key(text: &str) -> Result<Vec<u8>, String> {
    let bytes =
        URL_SAFE_NO_PAD.decode(text).map_err(|error| format!("not unpadded base64url: {error}"))?;
    if bytes.len() != PUBLIC_KEY_BYTES {
        return Err(format!("{} bytes, expected {PUBLIC_KEY_BYTES}", bytes.len()));
    }
    Ok(bytes)
}

/// The SOC's Ed25519 signing key for checkpoint tags.
pub struct TagSigner {
    key_id: String,
    key_pair: Ed25519KeyPair,
}

impl std::fmt::Debug for TagSigner {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("TagSigner").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl TagSigner {
    /// Generates a new key pair and returns it with its PKCS#8 v2 document, which is the
    /// secret to keep.
    ///
    /// # Errors
    ///
    /// A message when the system's random number generator fails.
    pub fn generate(key_id: impl Into<String>) -> Result<(Self, Vec<u8>), String> {
        let random = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&random)
            .map_err(|_| "the random number generator failed".to_string())?;
        let signer = Self::from_pkcs8(key_id, pkcs8.as_ref())?;
        Ok((signer, pkcs8.as_ref().to_vec()))
    }

    /// Loads a key pair from a PKCS#8 v2 document.
    ///
    /// # Errors
    ///
    /// A message when the document is not an Ed25519 PKCS#8 v2 key.
    pub fn from_pkcs8(key_id: impl Into<String>, pkcs8: &[u8]) -> Result<Self, String> {
        let key_pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(|error| format!("not an Ed25519 PKCS#8 v2 key: {error}"))?;
        Ok(Self { key_id: key_id.into(), key_pair })
    }

    /// Returns the public key that verifies this signer's tags.
    pub fn public_key(&self) -> TagKey {
        TagKey {
            key_id: self.key_id.clone(),
            public_key: URL_SAFE_NO_PAD.encode(self.key_pair.public_key().as_ref()),
        }
    }

    /// Returns the signed tag text for a checkpoint of a site.
    pub fn sign(&self, site_id: &str, checkpoint_id: &str) -> String {
        let claims = TagClaims {
            key_id: self.key_id.clone(),
            site_id: site_id.to_string(),
            checkpoint_id: checkpoint_id.to_string(),
        };
        // Serializing three strings cannot fail.
        let json = serde_json::to_vec(&claims).unwrap_or_default();
        let claims_text = URL_SAFE_NO_PAD.encode(json);
        let signature = self.key_pair.sign(claims_text.as_bytes());
        format!("{SIGNED_TAG_PREFIX}{claims_text}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TagSigner {
        TagSigner::generate("soc-2026").unwrap().0
    }

    #[test]
    fn genuine_tag_verifies() {
        let signer = signer();
        let tag = signer.sign("depot", "gate");
        assert!(is_signed_tag(&tag));
        let claims = verify_signed_tag(&tag, &[signer.public_key()]).unwrap();
        assert_eq!(claims.site_id, "depot");
        assert_eq!(claims.checkpoint_id, "gate");
        assert_eq!(claims.key_id, "soc-2026");
    }

    #[test]
    fn altered_claims_fail_signature() {
        let signer = signer();
        let tag = signer.sign("depot", "gate");
        let (_, signature) = tag.rsplit_once('.').unwrap();
        let altered_claims = URL_SAFE_NO_PAD
            .encode(br#"{"key_id":"soc-2026","site_id":"depot","checkpoint_id":"dock"}"#);
        let altered = format!("{SIGNED_TAG_PREFIX}{altered_claims}.{signature}");
        assert_eq!(
            verify_signed_tag(&altered, &[signer.public_key()]),
            Err(TagError::BadSignature)
        );
    }

    #[test]
    fn tag_of_other_key_is_forged() {
        let genuine = signer();
        let forger = TagSigner::generate("soc-2026").unwrap().0;
        let forged = forger.sign("depot", "gate");
        assert_eq!(
            verify_signed_tag(&forged, &[genuine.public_key()]),
            Err(TagError::BadSignature)
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let signer = signer();
        let tag = signer.sign("depot", "gate");
        let error = verify_signed_tag(&tag, &[]).unwrap_err();
        assert_eq!(error, TagError::UnknownKey("soc-2026".into()));
    }

    #[test]
    fn malformed_tags_are_clear_errors() {
        let keys = [signer().public_key()];
        let huge = format!("{SIGNED_TAG_PREFIX}{}.AAAA", "A".repeat(100_000));
        let cases = [
            "",
            "vigil1.",
            "vigil1.nodot",
            "vigil1.!!!.AAAA",
            "vigil1.e30.AAAA",
            "vigil1.bm90IGpzb24.AAAA",
            huge.as_str(),
        ];
        for case in cases {
            let error = verify_signed_tag(case, &keys).unwrap_err();
            assert_eq!(error.code(), "malformed", "{:.40}: {error}", case);
        }
    }

    #[test]
    fn pkcs8_round_trips() {
        let (signer, pkcs8) = TagSigner::generate("k").unwrap();
        let loaded = TagSigner::from_pkcs8("k", &pkcs8).unwrap();
        assert_eq!(loaded.public_key(), signer.public_key());
        assert!(TagSigner::from_pkcs8("k", b"not a key").is_err());
    }
}
