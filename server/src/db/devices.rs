//! Enrolled devices and their tokens.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::ServerError;
use crate::token::{self, IssuedToken};

/// The result of an enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enrolled {
    /// The device is enrolled with the new token.
    Done,
    /// The device id is enrolled with another public key; nothing changed.
    KeyMismatch,
}

/// Enrolls `device_id`, or re-enrolls it: the new token replaces the old one, which stops
/// working, and the device's records stay. A device keeps its public key for life: a
/// re-enrollment with another key changes nothing and returns
/// [`Enrolled::KeyMismatch`]. A device enrolled before keys were required gets the key.
pub(crate) fn enroll(
    connection: &mut Connection,
    device_id: &str,
    guard_id: &str,
    public_key: &str,
    token: &IssuedToken,
    now_ms: i64,
) -> Result<Enrolled, ServerError> {
    let transaction = connection.transaction()?;

    let stored: Option<Option<String>> = transaction
        .query_row("SELECT public_key FROM devices WHERE device_id = ?1", [device_id], |row| {
            row.get(0)
        })
        .optional()?;
    if let Some(Some(stored)) = stored
        && stored != public_key
    {
        return Ok(Enrolled::KeyMismatch);
    }

    transaction.execute(
        "INSERT INTO devices
             (device_id, guard_id, token_selector, token_verifier, enrolled_at_ms, public_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (device_id) DO UPDATE SET
             guard_id = excluded.guard_id,
             token_selector = excluded.token_selector,
             token_verifier = excluded.token_verifier,
             enrolled_at_ms = excluded.enrolled_at_ms,
             public_key = excluded.public_key",
        params![device_id, guard_id, token.selector, token.verifier, now_ms, public_key],
    )?;
    transaction.commit()?;
    Ok(Enrolled::Done)
}

/// Returns the id and the registered Ed25519 public key (base64url, `None` for a device
/// enrolled without one) of the device `bearer_token` was issued to, or `None` if it
/// matches no device.
pub(crate) fn credentials(
    connection: &Connection,
    bearer_token: &str,
) -> Result<Option<(String, Option<String>)>, ServerError> {
    let Some((selector, verifier)) = token::split(bearer_token) else {
        return Ok(None);
    };

    let row: Option<(String, String, Option<String>)> = connection
        .query_row(
            "SELECT device_id, token_verifier, public_key FROM devices WHERE token_selector = ?1",
            [selector],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;

    let credentials = row.and_then(|(device_id, stored, public_key)| {
        token::constant_time_eq(stored.as_bytes(), verifier.as_bytes())
            .then_some((device_id, public_key))
    });
    Ok(credentials)
}
