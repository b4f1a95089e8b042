//! Sites, checkpoints and tours assigned by the SOC.

use rusqlite::{OptionalExtension, params};

use super::Store;
use super::encryption::SITE_BODY;
use crate::error::{Error, Result};
use crate::model::{ScanMethod, Site};

/// The setting that stores the cursor of the last assignments pull.
pub(crate) const ASSIGNMENTS_CURSOR: &str = "assignments_cursor";

impl Store {
    /// Stores sites from the server, replacing older revisions, and the pull cursor, in one
    /// transaction. A site whose stored revision is newer is left as it is.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the first site that fails [`Site::validate`]; then
    /// nothing is stored. Storage errors.
    pub fn save_sites(&self, sites: &[Site], cursor: Option<i64>) -> Result<()> {
        for site in sites {
            site.validate()?;
        }

        let mut connection = self.lock();
        let transaction = connection.transaction()?;

        for site in sites {
            let stored_revision: Option<i64> = transaction
                .query_row("SELECT revision FROM sites WHERE id = ?1", [&site.id], |row| row.get(0))
                .optional()?;
            if stored_revision.is_some_and(|revision| revision > site.revision) {
                continue;
            }

            let body = serde_json::to_string(site)
                .map_err(|error| Error::invalid("site", error.to_string()))?;
            let envelope = SITE_BODY.seal(&self.key, &site.id, body.as_bytes())?;
            transaction.execute(
                "INSERT INTO sites (id, revision, body, body_envelope) VALUES (?1, ?2, '', ?3)
                 ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, body = '',
                    body_envelope = excluded.body_envelope",
                params![site.id, site.revision, envelope],
            )?;

            transaction.execute("DELETE FROM checkpoint_tags WHERE site_id = ?1", [&site.id])?;
            for checkpoint in &site.checkpoints {
                for tag in &checkpoint.tags {
                    transaction.execute(
                        "INSERT OR REPLACE INTO checkpoint_tags (method, value, site_id, checkpoint_id)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![
                            tag.method.code(),
                            self.key.lookup_hash(tag.value.as_bytes()),
                            site.id,
                            checkpoint.id
                        ],
                    )?;
                }
            }
        }

        if let Some(cursor) = cursor {
            transaction.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![ASSIGNMENTS_CURSOR, cursor.to_string()],
            )?;
        }

        transaction.commit()?;
        Ok(())
    }

    /// Returns the stored site with this id.
    pub fn site(&self, id: &str) -> Result<Option<Site>> {
        let connection = self.lock();
        let row = connection
            .query_row("SELECT id, body, body_envelope FROM sites WHERE id = ?1", [id], read_site)
            .optional()?;
        row.map(|(id, clear, envelope)| self.decode_site(&id, clear, envelope)).transpose()
    }

    /// Returns every stored site, ordered by id.
    pub fn sites(&self) -> Result<Vec<Site>> {
        let connection = self.lock();
        let mut statement =
            connection.prepare("SELECT id, body, body_envelope FROM sites ORDER BY id")?;
        let rows = statement.query_map([], read_site)?.collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, clear, envelope)| self.decode_site(&id, clear, envelope))
            .collect()
    }

    fn decode_site(&self, id: &str, clear: String, envelope: Option<Vec<u8>>) -> Result<Site> {
        let json = SITE_BODY.open_text(&self.key, id, clear, envelope)?;
        serde_json::from_str(&json)
            .map_err(|error| Error::Corrupt(format!("site {id} does not decode: {error}")))
    }

    /// Finds the checkpoints carrying a tag: pairs of site id and checkpoint id.
    pub fn find_tag(&self, method: ScanMethod, value: &str) -> Result<Vec<(String, String)>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT site_id, checkpoint_id FROM checkpoint_tags
             WHERE method = ?1 AND value = ?2 ORDER BY site_id",
        )?;
        let found = statement
            .query_map(params![method.code(), self.key.lookup_hash(value.as_bytes())], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
        Ok(found)
    }
}

/// Reads a site's `id, body, body_envelope` columns.
fn read_site(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, Option<Vec<u8>>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}
