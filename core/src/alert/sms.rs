//! The SMS fallback message: a compact, signed form of an alert that fits one SMS.
//!
//! The text is `VG1 <device> <kind> <time> <location> <signature>`, all in the GSM 03.38
//! basic character set, at most 160 characters. `docs/protocol.md` describes each field
//! and the security margin. The signature is a full Ed25519 signature (an Ed25519
//! signature cannot be verified once truncated) by the device key registered at
//! enrollment, over `vigil-sms-v1\n` followed by the text before the signature.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ED25519, UnparsedPublicKey};

use crate::crypto::DeviceSigningKey;
use crate::model::{AlertKind, Fix};

/// The first field of every SMS fallback message, with the format version.
pub const SMS_PREFIX: &str = "VG1";

/// Longest SMS fallback message, in characters: one GSM-7 SMS.
pub const MAX_SMS_CHARS: usize = 160;

/// Longest device id sent as it is. A longer id, or one with other characters than
/// ASCII letters, digits and `.-_:`, is replaced by the device key's fingerprint.
pub const MAX_SMS_DEVICE_CHARS: usize = 29;

/// Characters of a key fingerprint after its `#`: 48 bits of the key's SHA-256.
const FINGERPRINT_CHARS: usize = 8;

/// Largest accuracy written, in metres; a worse fix is written as this value.
const MAX_ACCURACY_M: u32 = 9_999;

/// The domain of the signature, so that no other signed Vigil message verifies as an SMS.
const SIGNATURE_CONTEXT: &[u8] = b"vigil-sms-v1\n";

/// An alert as an SMS fallback message carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsAlert {
    /// The device id, or `#` and the device key's fingerprint when the id does not fit.
    pub device: String,
    /// The trigger of the alert.
    pub kind: AlertKind,
    /// When the device captured the alert, by its clock, in seconds since the Unix epoch.
    pub captured_at_s: i64,
    /// The fix attached to the alert, if there was one.
    pub fix: Option<SmsFix>,
}

/// A fix as an SMS fallback message carries it: about 1.1 m of resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsFix {
    /// Latitude in 1e-5 degrees.
    pub latitude_e5: i32,
    /// Longitude in 1e-5 degrees.
    pub longitude_e5: i32,
    /// Accuracy radius in whole metres, rounded up, at most 9999.
    pub accuracy_m: u32,
}

/// A message that is not a valid SMS fallback message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// The text does not have the fields of the format.
    #[error("not a Vigil SMS alert: {0}")]
    Malformed(String),
    /// The signature does not match the device's key: the text was changed or forged.
    #[error("the signature does not match the device's key; the text was changed or forged")]
    BadSignature,
}

/// Composes the SMS fallback message of an alert, signed with `key`.
pub fn compose_sms(
    key: &DeviceSigningKey,
    device_id: &str,
    kind: AlertKind,
    captured_at_ms: i64,
    fix: Option<&Fix>,
) -> String {
    let alert = SmsAlert {
        device: sms_device_field(device_id, &key.public_key()),
        kind,
        captured_at_s: captured_at_ms.div_euclid(1_000).max(0),
        fix: fix.map(SmsFix::from_fix),
    };
    let unsigned = alert.unsigned_text();
    let signature = key.sign(&signed_bytes(&unsigned));
    format!("{unsigned} {}", URL_SAFE_NO_PAD.encode(signature))
}

/// A parsed SMS fallback message whose signature is not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSms {
    /// The alert it carries.
    pub alert: SmsAlert,
    unsigned: String,
    signature: Vec<u8>,
}

impl ParsedSms {
    /// Checks the signature against a device's 32-byte Ed25519 public key.
    ///
    /// # Errors
    ///
    /// [`SmsError::BadSignature`] if it does not match.
    pub fn verify(&self, public_key: &[u8]) -> Result<(), SmsError> {
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(&signed_bytes(&self.unsigned), &self.signature)
            .map_err(|_| SmsError::BadSignature)
    }
}

/// Parses an SMS fallback message. Surrounding whitespace is ignored, because SMS apps
/// and copy-paste add it.
///
/// # Errors
///
/// [`SmsError::Malformed`] naming the first field that is wrong.
pub fn parse_sms(text: &str) -> Result<ParsedSms, SmsError> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [prefix, device, kind, time, location, signature] = fields[..] else {
        return Err(SmsError::Malformed(format!("expected 6 fields, found {}", fields.len())));
    };
    if prefix != SMS_PREFIX {
        return Err(SmsError::Malformed(format!(
            "the prefix is {prefix:?}, expected {SMS_PREFIX}"
        )));
    }

    let kind = kind_from_letter(kind)
        .ok_or_else(|| SmsError::Malformed(format!("unknown alert kind {kind:?}")))?;
    let captured_at_s = time
        .parse::<i64>()
        .ok()
        .filter(|seconds| *seconds >= 0)
        .ok_or_else(|| SmsError::Malformed(format!("invalid time {time:?}")))?;
    let fix = match location {
        "-" => None,
        _ => Some(SmsFix::parse(location)?),
    };
    let signature =
        URL_SAFE_NO_PAD.decode(signature).ok().filter(|bytes| bytes.len() == 64).ok_or_else(
            || SmsError::Malformed("the signature is not 64 bytes of base64url".into()),
        )?;

    let alert = SmsAlert { device: device.to_string(), kind, captured_at_s, fix };
    let unsigned = alert.unsigned_text();
    Ok(ParsedSms { alert, unsigned, signature })
}

/// Returns the fingerprint that stands for a device whose id does not fit an SMS: `#` and
/// the first 48 bits of the SHA-256 of its public key, in base64url.
pub fn key_fingerprint(public_key: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
    let encoded = URL_SAFE_NO_PAD.encode(digest.as_ref());
    format!("#{}", &encoded[..FINGERPRINT_CHARS])
}

fn sms_device_field(device_id: &str, public_key: &[u8]) -> String {
    let fits = !device_id.is_empty()
        && device_id.len() <= MAX_SMS_DEVICE_CHARS
        && device_id.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:".contains(c));
    if fits { device_id.to_string() } else { key_fingerprint(public_key) }
}

fn signed_bytes(unsigned: &str) -> Vec<u8> {
    [SIGNATURE_CONTEXT, unsigned.as_bytes()].concat()
}

impl SmsAlert {
    fn unsigned_text(&self) -> String {
        let location = match &self.fix {
            Some(fix) => fix.to_field(),
            None => "-".to_string(),
        };
        format!(
            "{SMS_PREFIX} {} {} {} {location}",
            self.device,
            kind_letter(self.kind),
            self.captured_at_s
        )
    }
}

impl SmsFix {
    fn from_fix(fix: &Fix) -> Self {
        // The fix was checked when stored, so the products fit an i32.
        let accuracy = fix.accuracy_m.ceil().clamp(0.0, f64::from(MAX_ACCURACY_M));
        Self {
            latitude_e5: (fix.latitude * 1e5).round() as i32,
            longitude_e5: (fix.longitude * 1e5).round() as i32,
            accuracy_m: accuracy as u32,
        }
    }

    /// Returns the latitude in degrees.
    pub fn latitude(&self) -> f64 {
        f64::from(self.latitude_e5) / 1e5
    }

    /// Returns the longitude in degrees.
    pub fn longitude(&self) -> f64 {
        f64::from(self.longitude_e5) / 1e5
    }

    fn to_field(self) -> String {
        format!(
            "{},{},{}",
            format_e5(self.latitude_e5),
            format_e5(self.longitude_e5),
            self.accuracy_m
        )
    }

    fn parse(field: &str) -> Result<Self, SmsError> {
        let invalid = || SmsError::Malformed(format!("invalid location {field:?}"));
        let [latitude, longitude, accuracy] = field.split(',').collect::<Vec<_>>()[..] else {
            return Err(invalid());
        };
        let latitude_e5 = parse_e5(latitude).filter(|value| value.abs() <= 9_000_000);
        let longitude_e5 = parse_e5(longitude).filter(|value| value.abs() <= 18_000_000);
        let accuracy_m = accuracy.parse::<u32>().ok().filter(|value| *value <= MAX_ACCURACY_M);
        match (latitude_e5, longitude_e5, accuracy_m) {
            (Some(latitude_e5), Some(longitude_e5), Some(accuracy_m)) => {
                let fix = Self { latitude_e5, longitude_e5, accuracy_m };
                // Only the canonical spelling verifies, so reject any other at once.
                if fix.to_field() != field {
                    return Err(invalid());
                }
                Ok(fix)
            }
            _ => Err(invalid()),
        }
    }
}

fn format_e5(value: i32) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let magnitude = value.unsigned_abs();
    format!("{sign}{}.{:05}", magnitude / 100_000, magnitude % 100_000)
}

fn parse_e5(text: &str) -> Option<i32> {
    let (whole, fraction) = text.split_once('.')?;
    if fraction.len() != 5 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let negative = whole.starts_with('-');
    let digits = whole.strip_prefix('-').unwrap_or(whole);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.parse::<i64>().ok()? * 100_000 + fraction.parse::<i64>().ok()?;
    i32::try_from(if negative { -magnitude } else { magnitude }).ok()
}

fn kind_letter(kind: AlertKind) -> char {
    match kind {
        AlertKind::Panic => 'P',
        AlertKind::Duress => 'D',
        AlertKind::ManDown => 'M',
        AlertKind::MissedCheckIn => 'C',
    }
}

fn kind_from_letter(letter: &str) -> Option<AlertKind> {
    match letter {
        "P" => Some(AlertKind::Panic),
        "D" => Some(AlertKind::Duress),
        "M" => Some(AlertKind::ManDown),
        "C" => Some(AlertKind::MissedCheckIn),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FixSource;

    fn fix(latitude: f64, longitude: f64, accuracy_m: f64) -> Fix {
        Fix {
            latitude,
            longitude,
            accuracy_m,
            altitude_m: None,
            speed_mps: None,
            bearing_deg: None,
            source: FixSource::Gnss,
            mock: false,
            fix_time_ms: 0,
        }
    }

    #[test]
    fn worst_case_fits_one_sms() {
        let key = DeviceSigningKey::generate().unwrap();
        let device = "d".repeat(MAX_SMS_DEVICE_CHARS);
        let worst = fix(-89.99999, -179.99999, 1e9);
        let text =
            compose_sms(&key, &device, AlertKind::MissedCheckIn, 9_999_999_999_000, Some(&worst));

        assert!(text.len() <= MAX_SMS_CHARS, "{} chars: {text}", text.len());
        assert!(text.contains(&device));
        assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || " .,-_#:".contains(c)));
    }

    #[test]
    fn composed_text_parses_and_verifies() {
        let key = DeviceSigningKey::generate().unwrap();
        let text = compose_sms(
            &key,
            "guard-phone-7",
            AlertKind::Panic,
            1_765_000_123_456,
            Some(&fix(-33.456789, -70.661234, 12.2)),
        );

        let parsed = parse_sms(&format!("  {text}\n")).unwrap();
        parsed.verify(&key.public_key()).unwrap();
        assert_eq!(parsed.alert.device, "guard-phone-7");
        assert_eq!(parsed.alert.kind, AlertKind::Panic);
        assert_eq!(parsed.alert.captured_at_s, 1_765_000_123);
        let carried = parsed.alert.fix.unwrap();
        assert_eq!(carried.latitude_e5, -3_345_679);
        assert_eq!(carried.longitude_e5, -7_066_123);
        assert_eq!(carried.accuracy_m, 13);
    }

    #[test]
    fn no_fix_is_a_dash() {
        let key = DeviceSigningKey::generate().unwrap();
        let text = compose_sms(&key, "d1", AlertKind::Duress, 5_000, None);

        assert!(text.starts_with("VG1 d1 D 5 - "), "{text}");
        let parsed = parse_sms(&text).unwrap();
        parsed.verify(&key.public_key()).unwrap();
        assert_eq!(parsed.alert.fix, None);
    }

    #[test]
    fn long_device_id_becomes_fingerprint() {
        let key = DeviceSigningKey::generate().unwrap();
        let device = "6f1c2a0e-9d4b-4c55-8a3e-2b7f9e1d0c44";
        let text = compose_sms(&key, device, AlertKind::ManDown, 0, None);

        let parsed = parse_sms(&text).unwrap();
        assert_eq!(parsed.alert.device, key_fingerprint(&key.public_key()));
        assert!(!text.contains(device));
        parsed.verify(&key.public_key()).unwrap();
    }

    #[test]
    fn tampered_text_fails_verification() {
        let key = DeviceSigningKey::generate().unwrap();
        let text = compose_sms(&key, "d1", AlertKind::Panic, 1_000, Some(&fix(1.0, 2.0, 5.0)));
        let tampered = text.replace(" P ", " C ");
        let moved = text.replace("1.00000,", "1.00001,");

        for changed in [tampered, moved] {
            let parsed = parse_sms(&changed).unwrap();
            assert_eq!(parsed.verify(&key.public_key()), Err(SmsError::BadSignature));
        }
        let other = DeviceSigningKey::generate().unwrap();
        let parsed = parse_sms(&text).unwrap();
        assert_eq!(parsed.verify(&other.public_key()), Err(SmsError::BadSignature));
    }

    #[test]
    fn malformed_text_is_rejected() {
        for text in [
            "",
            "hello",
            "VG2 d1 P 1 - AAAA",
            "VG1 d1 X 1 - AAAA",
            "VG1 d1 P x - AAAA",
            "VG1 d1 P 1 1.0,2.0,3 AAAA",
            "VG1 d1 P 1 - AAAA",
            "VG1 d1 P 1 +1.00000,2.00000,3 AAAA",
        ] {
            assert!(matches!(parse_sms(text), Err(SmsError::Malformed(_))), "{text:?}");
        }
    }
}
