//! Device tokens: issuing them and checking them without leaking timing.
//!
//! A token is `<selector>.<verifier>`, each part 32 lowercase hex digits taken from a UUIDv4
//! (122 random bits from the operating system's generator, through `getrandom`). The server
//! finds the device by the selector, then compares the verifier in constant time, so the
//! response time does not reveal how much of a guessed verifier was right.
//!
//! NOTE: the verifier is stored as issued, so a leaked database file leaks working tokens.
//! Storing a hash of the verifier (such as SHA-256) needs a hash crate and is left for later.

use uuid::Uuid;

/// The length of each part of a token, in characters.
const PART_LEN: usize = 32;

/// A newly issued token with its two parts.
pub(crate) struct IssuedToken {
    /// The whole token, as sent to the device.
    pub(crate) token: String,
    /// The part used to find the device.
    pub(crate) selector: String,
    /// The secret part, compared in constant time.
    pub(crate) verifier: String,
}

/// Generates a new random token.
pub(crate) fn issue() -> IssuedToken {
    let selector = Uuid::new_v4().simple().to_string();
    let verifier = Uuid::new_v4().simple().to_string();
    let token = format!("{selector}.{verifier}");

    IssuedToken { token, selector, verifier }
}

/// Splits a token into its selector and verifier, or returns `None` if it is not of the form
/// that [`issue`] produces.
pub(crate) fn split(token: &str) -> Option<(&str, &str)> {
    let (selector, verifier) = token.split_once('.')?;
    if is_part(selector) && is_part(verifier) { Some((selector, verifier)) } else { None }
}

fn is_part(part: &str) -> bool {
    part.len() == PART_LEN && part.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }

    let difference = left.iter().zip(right).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_token_splits_into_its_parts() {
        let issued = issue();

        let (selector, verifier) = split(&issued.token).expect("an issued token splits");

        assert_eq!(selector, issued.selector);
        assert_eq!(verifier, issued.verifier);
    }

    #[test]
    fn issued_tokens_differ() {
        assert_ne!(issue().token, issue().token);
    }

    #[test]
    fn split_rejects_malformed_tokens() {
        let part = "0123456789abcdef0123456789abcdef";
        let cases = [
            String::new(),
            part.to_owned(),
            format!("{part}{part}"),
            format!("{part}.{}", &part[1..]),
            format!("{part}.{}", part.to_uppercase()),
            format!("{part}.{part}.{part}"),
            format!(" {part}.{part}"),
        ];

        for case in cases {
            assert_eq!(split(&case), None, "{case:?} must not split");
        }
    }

    #[test]
    fn constant_time_eq_compares_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
