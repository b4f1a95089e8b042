//! Sites, checkpoints and tours assigned by the SOC.

use rusqlite::{OptionalExtension, params};

use super::Store;
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
            transaction.execute(
                "INSERT INTO sites (id, revision, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, body = excluded.body",
                params![site.id, site.revision, body],
            )?;

            transaction.execute("DELETE FROM checkpoint_tags WHERE site_id = ?1", [&site.id])?;
            for checkpoint in &site.checkpoints {
                for tag in &checkpoint.tags {
                    transaction.execute(
                        "INSERT OR REPLACE INTO checkpoint_tags (method, value, site_id, checkpoint_id)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![tag.method.code(), tag.value, site.id, checkpoint.id],
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
        let body: Option<String> = connection
            .query_row("SELECT body FROM sites WHERE id = ?1", [id], |row| row.get(0))
            .optional()?;
        Ok(body.map(|body| serde_json::from_str(&body)).transpose()?)
    }

    /// Returns every stored site, ordered by id.
    pub fn sites(&self) -> Result<Vec<Site>> {
        let connection = self.lock();
        let mut statement = connection.prepare("SELECT body FROM sites ORDER BY id")?;
        let bodies = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        bodies.iter().map(|body| Ok(serde_json::from_str(body)?)).collect()
    }

    /// Finds the checkpoints carrying a tag: pairs of site id and checkpoint id.
    pub fn find_tag(&self, method: ScanMethod, value: &str) -> Result<Vec<(String, String)>> {
        let connection = self.lock();
        let mut statement = connection.prepare_cached(
            "SELECT site_id, checkpoint_id FROM checkpoint_tags
             WHERE method = ?1 AND value = ?2 ORDER BY site_id",
        )?;
        let found = statement
            .query_map(params![method.code(), value], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
        Ok(found)
    }
}
