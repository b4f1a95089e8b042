//! Sites and their change counter, which is the assignments cursor.
//!
//! Every insert or change of a site takes the next value of one database-wide counter
//! (`change_seq`), and the site's `revision` is set to that value. A device that sends the
//! highest counter it has seen gets exactly the sites changed since.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use vigil_core::model::Site;

use super::{decode, encode};
use crate::error::ServerError;

/// Inserts each site, or replaces the stored one when its content differs, in one
/// transaction. The incoming `revision` is ignored. Returns how many sites changed.
pub(crate) fn upsert_all(
    connection: &mut Connection,
    sites: &[Site],
) -> Result<usize, ServerError> {
    let transaction = connection.transaction()?;
    let mut changed = 0;

    for site in sites {
        if upsert(&transaction, site)? {
            changed += 1;
        }
    }

    transaction.commit()?;
    Ok(changed)
}

/// Stores `site` under a new change counter unless the stored copy is the same. Returns
/// whether it was stored.
pub(crate) fn upsert(transaction: &Transaction<'_>, site: &Site) -> Result<bool, ServerError> {
    let stored: Option<String> = transaction
        .query_row("SELECT content FROM sites WHERE site_id = ?1", [&site.id], |row| row.get(0))
        .optional()?;

    if let Some(content) = stored {
        let stored: Site = decode("site", &content)?;
        let unchanged = Site { revision: stored.revision, ..site.clone() } == stored;
        if unchanged {
            return Ok(false);
        }
    }

    let change_seq = max_change_seq(transaction)? + 1;
    let site = Site { revision: change_seq, ..site.clone() };
    transaction.execute(
        "INSERT INTO sites (site_id, change_seq, content) VALUES (?1, ?2, ?3)
         ON CONFLICT (site_id) DO UPDATE SET
             change_seq = excluded.change_seq,
             content = excluded.content",
        params![site.id, change_seq, encode("site", &site)?],
    )?;
    Ok(true)
}

/// Returns the highest change counter, or 0 when there are no sites.
fn max_change_seq(connection: &Connection) -> Result<i64, ServerError> {
    let max =
        connection
            .query_row("SELECT COALESCE(MAX(change_seq), 0) FROM sites", [], |row| row.get(0))?;
    Ok(max)
}

/// Returns the sites changed after `cursor`, oldest change first, and the cursor for the
/// next pull.
///
/// A cursor ahead of the highest counter means the device synced with a database that has
/// since been replaced, so every site is returned and the device catches up.
pub(crate) fn changed_after(
    connection: &Connection,
    cursor: i64,
) -> Result<(i64, Vec<Site>), ServerError> {
    let max = max_change_seq(connection)?;
    let from = if cursor > max { 0 } else { cursor };

    let mut statement = connection
        .prepare("SELECT content FROM sites WHERE change_seq > ?1 ORDER BY change_seq")?;
    let rows = statement.query_map([from], |row| row.get::<_, String>(0))?;

    let mut sites = Vec::new();
    for content in rows {
        sites.push(decode("site", &content?)?);
    }
    Ok((max, sites))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema;

    fn site(id: &str, name: &str) -> Site {
        Site {
            id: id.to_owned(),
            name: name.to_owned(),
            perimeter: Vec::new(),
            checkpoints: Vec::new(),
            tours: Vec::new(),
            revision: 0,
        }
    }

    fn migrated() -> Connection {
        let mut connection = Connection::open_in_memory().unwrap();
        schema::migrate(&mut connection).unwrap();
        connection
    }

    #[test]
    fn upsert_skips_unchanged_sites() {
        let mut connection = migrated();
        let sites = [site("depot", "Depot"), site("mall", "Mall")];
        upsert_all(&mut connection, &sites).unwrap();

        let changed = upsert_all(&mut connection, &sites).unwrap();

        assert_eq!(changed, 0);
        assert_eq!(changed_after(&connection, 2).unwrap(), (2, Vec::new()));
    }

    #[test]
    fn upsert_ignores_incoming_revision() {
        let mut connection = migrated();
        upsert_all(&mut connection, &[site("depot", "Depot")]).unwrap();

        let renumbered = Site { revision: 40, ..site("depot", "Depot") };
        let changed = upsert_all(&mut connection, &[renumbered]).unwrap();

        assert_eq!(changed, 0);
        let (cursor, sites) = changed_after(&connection, 0).unwrap();
        assert_eq!(cursor, 1);
        assert_eq!(sites[0].revision, 1);
    }

    #[test]
    fn changed_site_gets_next_counter() {
        let mut connection = migrated();
        upsert_all(&mut connection, &[site("depot", "Depot"), site("mall", "Mall")]).unwrap();

        upsert_all(&mut connection, &[site("depot", "Depot North")]).unwrap();

        let (cursor, sites) = changed_after(&connection, 2).unwrap();
        assert_eq!(cursor, 3);
        assert_eq!(sites, [Site { revision: 3, ..site("depot", "Depot North") }]);
    }
}
