//! Small device settings kept in the store: the sync token and the assignment cursor.

use rusqlite::{OptionalExtension, params};

use super::Store;
use crate::error::Result;

impl Store {
    /// Returns the stored value of a setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        let connection = self.lock();
        let value = connection
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| row.get(0))
            .optional()?;
        Ok(value)
    }

    /// Stores a setting durably, replacing any earlier value.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let connection = self.lock();
        connection.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

impl Store {
    /// Deletes a setting; deleting a missing one is not an error.
    pub fn delete_setting(&self, key: &str) -> Result<()> {
        let connection = self.lock();
        connection.execute("DELETE FROM settings WHERE key = ?1", [key])?;
        Ok(())
    }
}
