//! Conditional edits of one site by an operator: the edit names the revision it was made
//! from, and a site changed since then is a conflict, never a silent overwrite.
//!
//! NOTE: `ServerConfig::sites` is stored unconditionally at every start, so restarting the
//! server with a site list that differs from an operator's edit replaces that edit.

use rusqlite::{Connection, OptionalExtension};
use vigil_core::model::Site;

use super::{decode, sites};
use crate::error::ServerError;

/// The revision an edit expects the stored site to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// `If-Match: "<revision>"`: the site exists with this revision.
    Revision(i64),
    /// `If-None-Match: *`: no site has this id yet.
    Absent,
}

/// The result of a conditional edit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EditOutcome {
    /// The site is stored; its revision is the new one, or the old one if nothing changed.
    Stored(Site),
    /// The stored site does not match the precondition; it is returned as it is, or
    /// `None` if there is none.
    Conflict(Option<Site>),
}

/// Returns the stored site with this id.
pub(crate) fn get(connection: &Connection, site_id: &str) -> Result<Option<Site>, ServerError> {
    let content: Option<String> = connection
        .query_row("SELECT content FROM sites WHERE site_id = ?1", [site_id], |row| row.get(0))
        .optional()?;
    content.map(|content| decode("site", &content)).transpose()
}

/// Stores `site` if the stored copy matches `precondition`, in one transaction, so two
/// operators editing the same revision cannot both succeed.
pub(crate) fn put(
    connection: &mut Connection,
    site: &Site,
    precondition: Precondition,
) -> Result<EditOutcome, ServerError> {
    let transaction = connection.transaction()?;
    let stored = get(&transaction, &site.id)?;

    let matches = match (&stored, precondition) {
        (Some(stored), Precondition::Revision(revision)) => stored.revision == revision,
        (None, Precondition::Absent) => true,
        _ => false,
    };
    if !matches {
        return Ok(EditOutcome::Conflict(stored));
    }

    sites::upsert(&transaction, site)?;
    let stored = get(&transaction, &site.id)?
        .ok_or_else(|| ServerError::Corrupt(format!("site {:?} vanished while stored", site.id)))?;
    transaction.commit()?;
    Ok(EditOutcome::Stored(stored))
}
