//! Verification of SMS fallback alerts against the public keys devices sent at enrollment.

use vigil_core::alert::sms::{SmsAlert, SmsError, key_fingerprint, parse_sms};
use vigil_core::checkin::decode_public_key;

use crate::error::ServerError;
use crate::store::ServerStore;

/// An SMS fallback alert whose signature matches the key of an enrolled device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSms {
    /// The enrolled device that signed the message.
    pub device_id: String,
    /// The guard enrolled on that device.
    pub guard_id: String,
    /// The alert the message carries.
    pub alert: SmsAlert,
}

impl ServerStore {
    /// Verifies an SMS fallback message: parses it, finds the enrolled device it names (by
    /// id, or by key fingerprint for a `#` field), and checks the signature with that
    /// device's public key.
    ///
    /// # Errors
    ///
    /// [`ServerError::SmsRejected`] if the text is malformed, names no enrolled device with
    /// a public key, or its signature does not match; [`ServerError::Database`] if reading
    /// fails.
    pub fn verify_sms(&self, text: &str) -> Result<VerifiedSms, ServerError> {
        let parsed = parse_sms(text).map_err(ServerError::SmsRejected)?;

        let device = &parsed.alert.device;
        let candidates = self.device_keys()?.into_iter().filter(|(device_id, _, public_key)| {
            if device.starts_with('#') {
                decode_public_key(public_key).is_ok_and(|key| key_fingerprint(&key) == *device)
            } else {
                device_id == device
            }
        });

        let mut known = false;
        for (device_id, guard_id, public_key) in candidates {
            known = true;
            let Ok(key) = decode_public_key(&public_key) else {
                continue;
            };
            if parsed.verify(&key).is_ok() {
                return Ok(VerifiedSms { device_id, guard_id, alert: parsed.alert });
            }
        }

        if known {
            Err(ServerError::SmsRejected(SmsError::BadSignature))
        } else {
            Err(ServerError::SmsRejected(SmsError::Malformed(format!(
                "no enrolled device {device} has a public key"
            ))))
        }
    }

    /// Returns `(device_id, guard_id, public_key)` of every device that sent a public key.
    fn device_keys(&self) -> Result<Vec<(String, String, String)>, ServerError> {
        let mut statement = self.connection().prepare(
            "SELECT device_id, guard_id, public_key FROM devices
             WHERE public_key IS NOT NULL ORDER BY device_id",
        )?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}
