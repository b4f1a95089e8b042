//! Pragmas and schema migrations of the device database.

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Sets the connection pragmas. Every pragma the store depends on is set here.
pub(crate) fn apply_pragmas(connection: &Connection) -> Result<()> {
    // WAL lets readers run while a record is being written, and a crash in the middle of a
    // write leaves the last committed state intact.
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Corrupt(format!("the database refused WAL mode (got {mode})")));
    }

    // FULL syncs the WAL to disk at every commit, so a record is durable once its capture
    // call returns. NORMAL would be faster but can lose the last commits on power loss.
    connection.pragma_update(None, "synchronous", "FULL")?;

    // The outbox refers to records; SQLite checks that only when asked to.
    connection.pragma_update(None, "foreign_keys", "ON")?;

    // Overwrite deleted content with zeros, so a purged record or a value replaced by its
    // ciphertext leaves no plaintext in free pages of the file or in the WAL.
    connection.pragma_update(None, "secure_delete", "ON")?;

    // Wait for a lock held by another connection to the same file instead of failing at once.
    connection.busy_timeout(std::time::Duration::from_secs(5))?;

    Ok(())
}

/// The schema migrations, in order: migration `n` (from 1) upgrades `user_version` `n - 1`
/// to `n`. Append new ones; never edit one that has shipped.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: records and the outbox.
    "CREATE TABLE records (
        id TEXT PRIMARY KEY NOT NULL,
        seq INTEGER NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        shift_id TEXT,
        captured_at_ms INTEGER NOT NULL,
        body TEXT NOT NULL,
        sync_state INTEGER NOT NULL DEFAULT 0,
        acked_at_ms INTEGER,
        rejection TEXT
    ) STRICT;
    CREATE INDEX records_by_shift ON records (shift_id, seq);
    CREATE TABLE outbox (
        record_id TEXT PRIMARY KEY NOT NULL REFERENCES records (id),
        priority INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX outbox_order ON outbox (priority, seq);
    CREATE TABLE settings (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    ) STRICT;",
    // 2: shifts and the assignments pulled from the SOC.
    "CREATE TABLE shifts (
        id TEXT PRIMARY KEY NOT NULL REFERENCES records (id),
        site_id TEXT,
        started_at_ms INTEGER NOT NULL,
        ended_at_ms INTEGER
    ) STRICT;
    CREATE TABLE sites (
        id TEXT PRIMARY KEY NOT NULL,
        revision INTEGER NOT NULL,
        body TEXT NOT NULL
    ) STRICT;
    CREATE TABLE checkpoint_tags (
        method TEXT NOT NULL,
        value TEXT NOT NULL,
        site_id TEXT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
        checkpoint_id TEXT NOT NULL,
        PRIMARY KEY (method, value, site_id)
    ) STRICT;",
    // Tours read a shift's scans and closed rounds without reading its fixes.
    "CREATE INDEX records_by_shift_kind ON records (shift_id, kind, seq);",
    // Panic alerts and their delivery state. Alerts stored before this migration are
    // backfilled: queued ones as stored, acknowledged ones as delivered.
    "CREATE TABLE alerts (
        record_id TEXT PRIMARY KEY NOT NULL REFERENCES records (id),
        kind TEXT NOT NULL,
        state INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        delivered_at_ms INTEGER,
        acknowledged_at_ms INTEGER
    ) STRICT;
    CREATE INDEX alerts_by_state ON alerts (state);
    INSERT INTO alerts (record_id, kind, state, updated_at_ms, delivered_at_ms)
        SELECT id, coalesce(json_extract(body, '$.body.alert'), 'panic'),
               CASE WHEN sync_state = 2 THEN 2 ELSE 0 END,
               captured_at_ms,
               CASE WHEN sync_state = 2 THEN acked_at_ms END
        FROM records WHERE kind = 'panic';",
    // Every panic record gets its alert row in the transaction that stores it, whichever
    // path stored it, so the alert lane sends it and its delivery can be recorded. Panic
    // records stored without one before this migration get theirs here.
    "CREATE TRIGGER records_panic_alert AFTER INSERT ON records WHEN NEW.kind = 'panic'
     BEGIN
        INSERT OR IGNORE INTO alerts (record_id, kind, state, updated_at_ms)
        VALUES (
            NEW.id,
            coalesce(CASE WHEN json_valid(NEW.body) THEN json_extract(NEW.body, '$.body.alert') END,
                     'panic'),
            0,
            NEW.captured_at_ms
        );
     END;
    INSERT INTO alerts (record_id, kind, state, updated_at_ms, delivered_at_ms)
        SELECT id,
               coalesce(CASE WHEN json_valid(body) THEN json_extract(body, '$.body.alert') END,
                        'panic'),
               CASE WHEN sync_state = 2 THEN 2 ELSE 0 END,
               captured_at_ms,
               CASE WHEN sync_state = 2 THEN acked_at_ms END
        FROM records
        WHERE kind = 'panic' AND id NOT IN (SELECT record_id FROM alerts);",
    // Encryption at rest: the wrapped data key, and envelope columns for the values that
    // were stored in the clear. Rows written before this migration are encrypted by
    // `encryption::unlock` in the transaction that stores the data key.
    "CREATE TABLE data_key (
        id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
        kek_id TEXT NOT NULL,
        wrapped BLOB NOT NULL
    ) STRICT;
    ALTER TABLE records ADD COLUMN body_envelope BLOB;
    ALTER TABLE sites ADD COLUMN body_envelope BLOB;
    ALTER TABLE settings ADD COLUMN value_envelope BLOB;",
    // Each record's Ed25519 signature over its canonical bytes (the stored body) and its box
    // sealed to the SOC, both made at capture. Either is NULL for records stored before
    // this migration or before the key was known; a push then makes it from the body.
    "ALTER TABLE records ADD COLUMN signature BLOB;
    ALTER TABLE records ADD COLUMN sealed BLOB;",
    // Attachments: the key (in an envelope under the data key) and upload state of each
    // encrypted file a record refers to. `upload_state` is 0 pending, 1 uploaded,
    // 2 damaged, 3 rejected.
    "CREATE TABLE attachments (
        id TEXT PRIMARY KEY NOT NULL,
        record_id TEXT NOT NULL REFERENCES records (id),
        digest TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        media_type TEXT NOT NULL,
        key BLOB NOT NULL,
        upload_state INTEGER NOT NULL DEFAULT 0,
        problem TEXT,
        uploaded_at_ms INTEGER
    ) STRICT;
    CREATE INDEX attachments_by_record ON attachments (record_id);
    CREATE INDEX attachments_by_state ON attachments (upload_state);",
    // Records adopted from a database whose key-encryption key was lost: only their box
    // sealed to the SOC and the original device's signature, pushed after the device's own
    // records until the SOC acknowledges or rejects them.
    "CREATE TABLE adopted_records (
        id TEXT PRIMARY KEY NOT NULL,
        seq INTEGER NOT NULL,
        sealed BLOB NOT NULL,
        signature BLOB NOT NULL,
        source_path TEXT NOT NULL,
        adopted_at_ms INTEGER NOT NULL,
        acked_at_ms INTEGER,
        rejection TEXT
    ) STRICT;
    CREATE INDEX adopted_records_pending ON adopted_records (seq) WHERE acked_at_ms IS NULL AND rejection IS NULL;",
];

/// Upgrades the schema to the newest version, one migration per transaction.
pub(crate) fn migrate(connection: &mut Connection) -> Result<()> {
    migrate_to(connection, MIGRATIONS.len())
}

/// Checks that the database's schema is not newer than this library's, and returns its
/// version.
pub(crate) fn check_version(connection: &Connection) -> Result<usize> {
    let current: usize = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if current > MIGRATIONS.len() {
        return Err(Error::Corrupt(format!(
            "the database has schema version {current}, newer than this library's {}; \
             update the app",
            MIGRATIONS.len()
        )));
    }
    Ok(current)
}

/// Upgrades the schema to `target` versions; tests use it to build an older database.
pub(crate) fn migrate_to(connection: &mut Connection, target: usize) -> Result<()> {
    let current = check_version(connection)?;

    for (index, sql) in MIGRATIONS.iter().enumerate().take(target).skip(current) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(sql)?;
        transaction.pragma_update(None, "user_version", index + 1)?;
        transaction.commit()?;
        tracing::info!(version = index + 1, "upgraded the database schema");
    }
    Ok(())
}
