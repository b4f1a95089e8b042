//! The SOC's public keys for signed checkpoint tags, kept for offline verification.

use super::Store;
use crate::checkin::{TagKey, decode_public_key};
use crate::error::{Error, Result};

/// The setting that stores the tag keys as a JSON array.
const TAG_KEYS: &str = "tag_keys";

impl Store {
    /// Replaces the stored tag keys with `keys`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the key when a public key is not 32 bytes of
    /// unpadded base64url; nothing is stored then. Storage errors.
    pub fn save_tag_keys(&self, keys: &[TagKey]) -> Result<()> {
        for key in keys {
            decode_public_key(&key.public_key)
                .map_err(|problem| Error::invalid(format!("tag key {:?}", key.key_id), problem))?;
        }
        let json = serde_json::to_string(keys)
            .map_err(|error| Error::invalid("tag_keys", error.to_string()))?;
        self.set_setting(TAG_KEYS, &json)
    }

    /// Returns the stored tag keys; empty before the first pull that carried any.
    pub fn tag_keys(&self) -> Result<Vec<TagKey>> {
        match self.setting(TAG_KEYS)? {
            Some(json) => Ok(serde_json::from_str(&json)?),
            None => Ok(Vec::new()),
        }
    }
}
