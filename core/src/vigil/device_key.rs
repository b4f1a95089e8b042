//! The device's Ed25519 signing key, which signs SMS fallback messages and requests to the SOC.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::DeviceSigningKey;
use crate::error::{Error, Result};
use crate::store::Store;

/// The setting that stores the key's PKCS #8 document, in base64url.
const DEVICE_SIGNING_KEY: &str = "device_signing_key";

/// Loads the device's signing key from the store, creating and storing one on first open.
///
/// The key is stored in the settings table, encrypted with the store's data key, so only
/// a holder of the key-encryption key can sign as this device.
pub(super) fn load_or_create(store: &Store) -> Result<DeviceSigningKey> {
    if let Some(stored) = store.setting(DEVICE_SIGNING_KEY)? {
        let pkcs8 = zeroize::Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(stored.as_bytes())
                .map_err(|error| Error::Corrupt(format!("stored device signing key: {error}")))?,
        );
        return DeviceSigningKey::from_pkcs8(&pkcs8)
            .map_err(|error| Error::Corrupt(format!("stored device signing key: {error}")));
    }

    let key = DeviceSigningKey::generate().map_err(|error| {
        Error::InvalidState(format!("failed to create the device key: {error}"))
    })?;
    store.set_setting(DEVICE_SIGNING_KEY, &URL_SAFE_NO_PAD.encode(key.pkcs8()))?;
    tracing::info!("created the device signing key");
    Ok(key)
}

/// Returns a public key in the form sent at enrollment: base64url without padding.
pub(super) fn encode_public_key(key: &DeviceSigningKey) -> String {
    URL_SAFE_NO_PAD.encode(key.public_key())
}
