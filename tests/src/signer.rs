//! A second client for a device under test: it signs requests with the device's own key,
//! read from its store, so the server accepts them as the device's.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vigil_core::crypto::DeviceSigningKey;
use vigil_core::sync::RequestSigner;
use vigil_core::{Clock, Vigil};

/// The store setting that keeps the device key's PKCS #8 document, in base64url.
const DEVICE_SIGNING_KEY: &str = "device_signing_key";

/// Returns a request signer with `device`'s key and id, reading the device's clock from
/// `clock`.
///
/// # Panics
///
/// If the store has no device key or the stored key is invalid.
pub fn device_signer(device: &Vigil, clock: Arc<dyn Clock>) -> Arc<RequestSigner> {
    let stored = device
        .store()
        .setting(DEVICE_SIGNING_KEY)
        .expect("the device store must be readable")
        .expect("the device store must contain its signing key");
    let pkcs8 = URL_SAFE_NO_PAD.decode(stored).expect("the stored key must be base64url");
    let key = DeviceSigningKey::from_pkcs8(&pkcs8).expect("the stored key must be valid");
    Arc::new(RequestSigner::new(device.config().device_id.clone(), Arc::new(key), clock))
}
