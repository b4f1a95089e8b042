//! The cursor of the commands pulled from the SOC, and the wipe a command starts.

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::error::Result;

/// The setting that stores the sequence number of the last command applied.
const COMMANDS_CURSOR: &str = "commands_cursor";

/// The setting that stores the sequence number of a remote wipe that was accepted but has
/// not finished yet.
const PENDING_WIPE: &str = "pending_wipe";

impl Store {
    /// Returns the sequence number of the last command applied, or 0.
    pub fn commands_cursor(&self) -> Result<i64> {
        let connection = self.lock();
        let value: Option<String> = connection
            .query_row("SELECT value FROM settings WHERE key = ?1", [COMMANDS_CURSOR], |row| {
                row.get(0)
            })
            .optional()?;
        Ok(value.and_then(|value| value.parse().ok()).unwrap_or(0))
    }

    /// Advances the commands cursor to `seq` past a command that needs no local change.
    /// A `seq` at or below the cursor leaves it unchanged.
    pub fn skip_command(&self, seq: i64) -> Result<()> {
        let connection = self.lock();
        set_cursor(&connection, seq)?;
        Ok(())
    }

    /// Records a remote wipe: advances the cursor to `seq` and marks the wipe pending, in
    /// one transaction, so a restart before the files are gone finishes the wipe instead of
    /// forgetting or repeating it.
    pub fn accept_wipe(&self, seq: i64) -> Result<()> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        set_cursor(&transaction, seq)?;
        transaction.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![PENDING_WIPE, seq.to_string()],
        )?;
        transaction.commit()?;
        Ok(())
    }

    /// Returns the sequence number of an accepted remote wipe that has not finished.
    pub fn pending_wipe(&self) -> Result<Option<i64>> {
        let connection = self.lock();
        let value: Option<String> = connection
            .query_row("SELECT value FROM settings WHERE key = ?1", [PENDING_WIPE], |row| {
                row.get(0)
            })
            .optional()?;
        Ok(value.and_then(|value| value.parse().ok()))
    }
}

/// Moves the cursor forward to `seq`; never back.
fn set_cursor(connection: &rusqlite::Connection, seq: i64) -> Result<()> {
    connection.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value
         WHERE CAST(settings.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
        params![COMMANDS_CURSOR, seq.to_string()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_only_moves_forward() {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::open(folder.path().join("device.db")).unwrap();
        assert_eq!(store.commands_cursor().unwrap(), 0);

        store.skip_command(5).unwrap();
        store.skip_command(3).unwrap();

        assert_eq!(store.commands_cursor().unwrap(), 5);
    }

    #[test]
    fn accepted_wipe_survives_reopen() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("device.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.pending_wipe().unwrap(), None);

        store.accept_wipe(7).unwrap();
        drop(store);

        let reopened = Store::open(&path).unwrap();
        assert_eq!(reopened.pending_wipe().unwrap(), Some(7));
        assert_eq!(reopened.commands_cursor().unwrap(), 7);
    }
}
