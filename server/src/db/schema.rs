//! Pragmas and schema migrations of the server database.

use rusqlite::Connection;

use crate::error::ServerError;

/// Sets the pragmas of the writer connection. Every pragma the server depends on is set
/// here or in [`apply_read_pragmas`].
pub(crate) fn apply_pragmas(connection: &Connection) -> Result<(), ServerError> {
    // WAL lets inspection connections read while the server writes, and a crash in the
    // middle of a write leaves the last committed state intact.
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(ServerError::Corrupt(format!(
            "failed to enable WAL mode: the journal mode is {mode}"
        )));
    }

    // FULL syncs the WAL to disk at every commit. The server acknowledges a record only
    // after its commit, and a device deletes acknowledged records, so an acknowledged
    // record must survive a power loss. NORMAL can lose the last commits.
    connection.pragma_update(None, "synchronous", "FULL")?;

    // Alerts refer to records, and SQLite checks foreign keys only when asked to.
    connection.pragma_update(None, "foreign_keys", "ON")?;

    apply_read_pragmas(connection)
}

/// Sets the pragmas that read-only inspection connections need as well as the writer.
/// The journal mode is stored in the file, so readers need not set it.
pub(crate) fn apply_read_pragmas(connection: &Connection) -> Result<(), ServerError> {
    // Wait for a lock held by another connection to the same file instead of failing at
    // once. Inspection connections and WAL checkpoints take locks briefly.
    connection.busy_timeout(std::time::Duration::from_secs(5))?;

    Ok(())
}

/// The schema migrations, in order: migration `n` (from 1) upgrades `user_version` `n - 1`
/// to `n`. Append new ones, and never edit one that has shipped.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: devices, records, panic alerts and sites.
    "CREATE TABLE devices (
        device_id TEXT PRIMARY KEY NOT NULL,
        guard_id TEXT NOT NULL,
        token_selector TEXT NOT NULL UNIQUE,
        token_verifier TEXT NOT NULL,
        enrolled_at_ms INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE records (
        id TEXT PRIMARY KEY NOT NULL,
        device_id TEXT NOT NULL REFERENCES devices (device_id),
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        captured_at_ms INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL,
        content TEXT NOT NULL
    ) STRICT;
    CREATE INDEX records_by_device ON records (device_id, seq);
    CREATE TABLE alerts (
        record_id TEXT PRIMARY KEY NOT NULL REFERENCES records (id),
        device_id TEXT NOT NULL,
        delivered_at_ms INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE sites (
        site_id TEXT PRIMARY KEY NOT NULL,
        change_seq INTEGER NOT NULL UNIQUE,
        content TEXT NOT NULL
    ) STRICT;",
    // The operator's acknowledgement of an alert, which devices learn from their resends,
    // and the guard's cancel, which arrives as an `alert_cancel` record.
    "ALTER TABLE alerts ADD COLUMN acknowledged_at_ms INTEGER;
    ALTER TABLE alerts ADD COLUMN cancelled_at_ms INTEGER;",
    // The server's corrected capture time of each record, and why it is uncertain
    // (a JSON array of time flags).
    "ALTER TABLE records ADD COLUMN corrected_at_ms INTEGER;
    ALTER TABLE records ADD COLUMN time_flags TEXT;",
    // The device's Ed25519 public key, base64url, which verifies its SMS alerts.
    "ALTER TABLE devices ADD COLUMN public_key TEXT;",
    // The newest heartbeat of each device, for finding devices that went silent.
    "CREATE TABLE heartbeats (
        device_id TEXT PRIMARY KEY NOT NULL REFERENCES devices (device_id),
        received_at_ms INTEGER NOT NULL,
        content TEXT NOT NULL
    ) STRICT;",
    // Records as evidence: `content` now contains the device's canonical bytes, with the
    // device's signature over them, their SHA-256 (the successor's link) and the record's
    // link to its predecessor. Records stored before this migration have NULLs. The fault
    // log keeps every record rejected for a chain or signature fault.
    "ALTER TABLE records ADD COLUMN signature BLOB;
    ALTER TABLE records ADD COLUMN record_hash BLOB;
    ALTER TABLE records ADD COLUMN prev_hash BLOB;
    CREATE TABLE chain_faults (
        id INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL,
        record_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        code TEXT NOT NULL,
        detected_at_ms INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX chain_faults_by_device ON chain_faults (device_id, id);",
    // Commands queued by operators for one enrollment of a device (`enrollment` is the
    // device's token selector when the command was queued), pulled by cursor (`seq`).
    "CREATE TABLE commands (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL REFERENCES devices (device_id),
        enrollment TEXT NOT NULL,
        kind TEXT NOT NULL,
        queued_at_ms INTEGER NOT NULL,
        acknowledged_at_ms INTEGER
    ) STRICT;
    CREATE INDEX commands_by_device ON commands (device_id, seq);",
    // Attachments: what a device announced and how much of the encrypted stream is
    // stored. The stream itself is a file in the attachment folder, named by `id`.
    "CREATE TABLE attachments (
        id TEXT PRIMARY KEY NOT NULL,
        device_id TEXT NOT NULL REFERENCES devices (device_id),
        record_id TEXT NOT NULL,
        digest TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        sealed_bytes INTEGER NOT NULL,
        media_type TEXT NOT NULL,
        sealed_key TEXT,
        received_bytes INTEGER NOT NULL DEFAULT 0,
        completed_at_ms INTEGER
    ) STRICT;
    CREATE INDEX attachments_by_record ON attachments (record_id);",
];

/// Returns the schema version this build creates.
pub(crate) fn latest_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// Reads the schema version of the database.
pub(crate) fn version(connection: &Connection) -> Result<i64, ServerError> {
    Ok(connection.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Upgrades the schema to the newest version, one migration per transaction.
///
/// # Errors
///
/// [`ServerError::SchemaTooNew`] if a newer server wrote the file.
pub(crate) fn migrate(connection: &mut Connection) -> Result<(), ServerError> {
    let current = version(connection)?;
    if current > latest_version() {
        return Err(ServerError::SchemaTooNew { found: current, supported: latest_version() });
    }

    let applied = usize::try_from(current).unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(sql)?;
        transaction.pragma_update(None, "user_version", index + 1)?;
        transaction.commit()?;

        tracing::info!(version = index + 1, "upgraded the database schema");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens a migrated database in a file, because in-memory databases do not support WAL.
    fn migrated(dir: &tempfile::TempDir) -> Connection {
        let mut connection = Connection::open(dir.path().join("server.db")).unwrap();
        apply_pragmas(&connection).unwrap();
        migrate(&mut connection).unwrap();
        connection
    }

    fn pragma(connection: &Connection, name: &str) -> String {
        connection
            .query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, rusqlite::types::Value>(0))
            .map(|value| format!("{value:?}"))
            .unwrap()
    }

    #[test]
    fn pragmas_are_applied() {
        let dir = tempfile::tempdir().unwrap();
        let connection = migrated(&dir);

        assert_eq!(pragma(&connection, "journal_mode"), r#"Text("wal")"#);
        assert_eq!(pragma(&connection, "synchronous"), "Integer(2)", "2 is FULL");
        assert_eq!(pragma(&connection, "foreign_keys"), "Integer(1)");
        assert_eq!(pragma(&connection, "busy_timeout"), "Integer(5000)");
    }

    #[test]
    fn migrate_twice_is_noop() {
        let dir = tempfile::tempdir().unwrap();
        let mut connection = migrated(&dir);

        migrate(&mut connection).unwrap();

        assert_eq!(version(&connection).unwrap(), latest_version());
    }

    #[test]
    fn migrate_rejects_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let mut connection = migrated(&dir);
        connection.pragma_update(None, "user_version", latest_version() + 1).unwrap();

        let result = migrate(&mut connection);

        assert!(
            matches!(result, Err(ServerError::SchemaTooNew { found, supported })
                if found == latest_version() + 1 && supported == latest_version()),
            "{result:?}"
        );
    }
}
