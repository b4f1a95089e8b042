//! Small device settings kept in the store: the sync token and the assignment cursor.
//!
//! Values written through [`Store::set_setting`] are stored encrypted; the store's own
//! counters, written in SQL, stay in the clear.

use rusqlite::{OptionalExtension, params};

use super::Store;
use super::encryption::SETTING_VALUE;
use crate::error::Result;

impl Store {
    /// Returns the stored value of a setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        let connection = self.lock();
        let row = connection
            .query_row("SELECT value, value_envelope FROM settings WHERE key = ?1", [key], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Option<Vec<u8>>>(1)?))
            })
            .optional()?;
        row.map(|(clear, envelope)| SETTING_VALUE.open_text(&self.key, key, clear, envelope))
            .transpose()
    }

    /// Stores a setting durably and encrypted, replacing any earlier value.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        let envelope = SETTING_VALUE.seal(&self.key, key, value.as_bytes())?;
        let connection = self.lock();
        connection.execute(
            "INSERT INTO settings (key, value, value_envelope) VALUES (?1, '', ?2)
             ON CONFLICT (key) DO UPDATE SET value = '', value_envelope = excluded.value_envelope",
            params![key, envelope],
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
