//! The guard's cancel PIN and duress PIN, kept as salted PBKDF2 hashes.

use std::num::NonZeroU32;

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// PBKDF2-HMAC-SHA256 rounds per PIN check. One check happens per cancel, so the cost is
/// paid rarely; it slows an offline search through the 10^4 to 10^8 possible PINs.
const ROUNDS: u32 = 100_000;

const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// Shortest and longest PIN accepted, in digits.
pub const PIN_DIGITS: std::ops::RangeInclusive<usize> = 4..=8;

/// The result of checking a PIN entered to cancel an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PinMatch {
    /// The cancel PIN.
    Cancel,
    /// The duress PIN.
    Duress,
    /// Neither.
    Wrong,
}

/// The stored hashes of both PINs, with their salt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PinHashes {
    rounds: u32,
    salt: Vec<u8>,
    cancel: Vec<u8>,
    duress: Vec<u8>,
}

impl PinHashes {
    /// Hashes both PINs with a new random salt.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a PIN that is not 4 to 8 digits, or two equal PINs.
    pub(crate) fn new(cancel_pin: &str, duress_pin: &str) -> Result<Self> {
        check_pin("cancel_pin", cancel_pin)?;
        check_pin("duress_pin", duress_pin)?;
        if cancel_pin == duress_pin {
            return Err(Error::invalid("duress_pin", "must differ from the cancel PIN"));
        }

        let mut salt = vec![0; SALT_LEN];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| Error::InvalidState("the system random generator failed".into()))?;
        Ok(Self {
            rounds: ROUNDS,
            cancel: derive(ROUNDS, &salt, cancel_pin),
            duress: derive(ROUNDS, &salt, duress_pin),
            salt,
        })
    }

    /// Checks an entered PIN against both hashes, in constant time for each.
    pub(crate) fn check(&self, pin: &str) -> PinMatch {
        let Some(rounds) = NonZeroU32::new(self.rounds) else {
            return PinMatch::Wrong;
        };
        let verify = |hash: &[u8]| {
            ring::pbkdf2::verify(
                ring::pbkdf2::PBKDF2_HMAC_SHA256,
                rounds,
                &self.salt,
                pin.as_bytes(),
                hash,
            )
            .is_ok()
        };
        // Both hashes are checked every time, so the time taken does not tell which PIN
        // was entered.
        let cancel = verify(&self.cancel);
        let duress = verify(&self.duress);
        match (cancel, duress) {
            (true, _) => PinMatch::Cancel,
            (false, true) => PinMatch::Duress,
            (false, false) => PinMatch::Wrong,
        }
    }
}

fn derive(rounds: u32, salt: &[u8], pin: &str) -> Vec<u8> {
    let mut hash = vec![0; HASH_LEN];
    let rounds = NonZeroU32::new(rounds).unwrap_or(NonZeroU32::MIN);
    ring::pbkdf2::derive(ring::pbkdf2::PBKDF2_HMAC_SHA256, rounds, salt, pin.as_bytes(), &mut hash);
    hash
}

fn check_pin(field: &str, pin: &str) -> Result<()> {
    if !PIN_DIGITS.contains(&pin.len()) || !pin.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(Error::invalid(
            field,
            format!("must be {} to {} digits", PIN_DIGITS.start(), PIN_DIGITS.end()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_check_tells_cancel_from_duress() {
        let hashes = PinHashes::new("2468", "1357").unwrap();

        assert_eq!(hashes.check("2468"), PinMatch::Cancel);
        assert_eq!(hashes.check("1357"), PinMatch::Duress);
        assert_eq!(hashes.check("0000"), PinMatch::Wrong);
        assert_eq!(hashes.check(""), PinMatch::Wrong);
    }

    #[test]
    fn pin_hashes_are_salted() {
        let first = PinHashes::new("2468", "1357").unwrap();
        let second = PinHashes::new("2468", "1357").unwrap();

        assert_ne!(first.salt, second.salt);
        assert_ne!(first.cancel, second.cancel);
        let stored = serde_json::to_string(&first).unwrap();
        assert!(!stored.contains("2468"), "{stored}");
    }

    #[test]
    fn invalid_pins_are_rejected() {
        for (cancel, duress) in
            [("123", "4567"), ("1234", "12a4"), ("123456789", "1234"), ("1234", "1234")]
        {
            let result = PinHashes::new(cancel, duress);
            assert!(
                matches!(result, Err(Error::InvalidInput { .. })),
                "{cancel} {duress}: {result:?}"
            );
        }
    }
}
