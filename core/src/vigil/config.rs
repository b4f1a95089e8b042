use std::sync::Arc;

use crate::checkin::CheckinPolicy;
use crate::crypto::KeyEncryptionKey;
use crate::error::{Error, Result};
use crate::location::{PlausibilityLimits, StorageRate};
use crate::sync::TlsSettings;

/// How a device opens its store and reaches its SOC.
#[derive(Debug, Clone)]
pub struct Config {
    /// The device's id, stable for the installation.
    pub device_id: String,
    /// The guard signed in on the device.
    pub guard_id: String,
    /// The SOC server's base URL, such as `https://soc.example.com`.
    pub server_url: String,
    /// The code the SOC issued to enroll this device.
    pub enrollment_code: String,
    /// The trust settings for the SOC's TLS certificate: SPKI pins and a custom CA. The
    /// default trusts the built-in Mozilla roots and pins nothing.
    pub tls: TlsSettings,
    /// Oldest age, in milliseconds, of a fix attached to an event; an older fix is reported
    /// as "no fix" rather than as a stale position.
    pub max_fix_age_ms: i64,
    /// Most records sent in one push.
    pub batch_size: usize,
    /// How many times one sync step is tried before `sync_now` gives up.
    pub sync_attempts: u32,
    /// The first retry delay in milliseconds; each retry doubles it, with jitter.
    pub retry_base_delay_ms: u64,
    /// Time limit of one HTTP request, in milliseconds.
    pub request_timeout_ms: u64,
    /// Limits for flagging implausible fixes.
    pub plausibility: PlausibilityLimits,
    /// When a trusted fix is stored. Every fix is checked, but a trusted fix that adds
    /// nothing to the track is not stored; a flagged fix is always stored.
    pub storage_rate: StorageRate,
    /// Limits for accepting a check-in.
    pub checkin: CheckinPolicy,
    /// Fixed interval between two sends of an alert not yet acknowledged by an operator,
    /// in milliseconds. Alerts are not subject to the sync backoff.
    pub alert_resend_interval_ms: u64,
    /// Time limit of one alert request, in milliseconds. It is shorter than
    /// `request_timeout_ms` so that a lost request is retried sooner.
    pub alert_request_timeout_ms: u64,
    /// Time after which an alert the SOC has not yet stored is also sent by SMS, in
    /// milliseconds, counted from when the alert lane first saw the alert.
    pub sms_fallback_after_ms: u64,
    /// The SOC's number for SMS fallback messages; `None` turns the fallback off.
    pub sms_fallback_number: Option<String>,
    /// Whether the SMS fallback also places a call to `sms_fallback_number`, except for
    /// duress alerts.
    pub sms_fallback_call: bool,
    /// The key-encryption key that wraps the store's data key: the platform keystore's in
    /// the apps, a [`crate::crypto::PassphraseKek`] in the CLI and tests. `None` uses a
    /// [`crate::crypto::KeyFileKek`] in the file `<database>.key`, which protects a copy of
    /// the database file alone, not a stolen phone.
    pub key_encryption_key: Option<Arc<dyn KeyEncryptionKey>>,
    /// How long a record is kept on the device after the SOC acknowledged it, in
    /// milliseconds; then it is purged (see [`crate::store::Store::purge_acknowledged`]).
    pub retention_ms: u64,
    /// The SOC's X25519 sealing public key, 32 bytes in base64url without padding, when the
    /// app is provisioned with it. It then replaces the key of the enrollment reply, so a
    /// server that replies to the enrollment cannot substitute its own key. `None` takes the
    /// key from the enrollment reply.
    pub soc_public_key: Option<String>,
}

/// The default retention of acknowledged records: 7 days.
pub const DEFAULT_RETENTION_MS: u64 = 7 * 24 * 60 * 60 * 1_000;

/// Longest device, guard or enrollment id accepted, in bytes.
const MAX_ID_BYTES: usize = 128;

impl Config {
    /// Creates a configuration with the default limits.
    pub fn new(
        device_id: impl Into<String>,
        guard_id: impl Into<String>,
        server_url: impl Into<String>,
        enrollment_code: impl Into<String>,
    ) -> Self {
        Self {
            device_id: device_id.into(),
            guard_id: guard_id.into(),
            server_url: server_url.into(),
            enrollment_code: enrollment_code.into(),
            tls: TlsSettings::default(),
            max_fix_age_ms: 30_000,
            batch_size: 250,
            sync_attempts: 4,
            retry_base_delay_ms: 500,
            request_timeout_ms: 15_000,
            plausibility: PlausibilityLimits::default(),
            storage_rate: StorageRate::default(),
            checkin: CheckinPolicy::default(),
            alert_resend_interval_ms: 2_000,
            alert_request_timeout_ms: 5_000,
            sms_fallback_after_ms: 30_000,
            sms_fallback_number: None,
            sms_fallback_call: false,
            key_encryption_key: None,
            retention_ms: DEFAULT_RETENTION_MS,
            soc_public_key: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        check_id("device_id", &self.device_id)?;
        check_id("guard_id", &self.guard_id)?;
        check_id("enrollment_code", &self.enrollment_code)?;

        if self.max_fix_age_ms <= 0 {
            return Err(Error::invalid("max_fix_age_ms", "must be positive"));
        }
        if !(1..=1_000).contains(&self.batch_size) {
            return Err(Error::invalid(
                "batch_size",
                format!("{} is outside 1..=1000", self.batch_size),
            ));
        }
        if self.sync_attempts == 0 {
            return Err(Error::invalid("sync_attempts", "must be at least 1"));
        }
        if self.request_timeout_ms == 0 {
            return Err(Error::invalid("request_timeout_ms", "must be positive"));
        }
        if self.alert_resend_interval_ms == 0 {
            return Err(Error::invalid("alert_resend_interval_ms", "must be positive"));
        }
        if self.alert_request_timeout_ms == 0 {
            return Err(Error::invalid("alert_request_timeout_ms", "must be positive"));
        }
        if i64::try_from(self.retention_ms).is_err() {
            return Err(Error::invalid(
                "retention_ms",
                format!("{} is too large", self.retention_ms),
            ));
        }
        check_storage_rate(&self.storage_rate)?;
        if let Some(number) = &self.sms_fallback_number {
            check_phone_number(number)?;
        }
        if let Some(key) = &self.soc_public_key {
            let key = crate::store::decode_soc_public_key(key)?;
            // X25519 rejects a few keys (low-order points) only when used, so one trial
            // seal finds them here instead of at every capture.
            crate::crypto::seal_to_soc(&key, b"", b"config check")
                .map_err(|error| Error::invalid("soc_public_key", error.to_string()))?;
        }
        Ok(())
    }
}

fn check_storage_rate(rate: &StorageRate) -> Result<()> {
    if !(rate.min_distance_m.is_finite() && rate.min_distance_m >= 0.0) {
        return Err(Error::invalid(
            "storage_rate.min_distance_m",
            format!("{} is not a distance of 0 m or more", rate.min_distance_m),
        ));
    }
    if rate.max_interval_ms < 0 {
        return Err(Error::invalid(
            "storage_rate.max_interval_ms",
            format!("{} is negative", rate.max_interval_ms),
        ));
    }
    if !(rate.min_heading_change_deg > 0.0 && rate.min_heading_change_deg <= 180.0) {
        return Err(Error::invalid(
            "storage_rate.min_heading_change_deg",
            format!("{} is outside (0, 180] degrees", rate.min_heading_change_deg),
        ));
    }
    Ok(())
}

fn check_id(field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(Error::invalid(
            field,
            format!("{} bytes is over the limit of {MAX_ID_BYTES}", value.len()),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// Accepts a phone number as `+` and 3 to 15 digits (E.164), or 3 to 15 digits for a short
/// code.
fn check_phone_number(number: &str) -> Result<()> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    let valid = (3..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    if !valid {
        return Err(Error::invalid(
            "sms_fallback_number",
            "must be an E.164 number such as +15551234567, or a short code of digits",
        ));
    }
    Ok(())
}
