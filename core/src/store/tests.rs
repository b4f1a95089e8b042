use rusqlite::Connection;
use uuid::Uuid;

use super::*;
use crate::model::{Incident, Location, NoFixReason, RecordBody, Severity};

fn incident(text: &str) -> NewRecord {
    NewRecord {
        id: Uuid::now_v7(),
        device_id: "device-1".into(),
        guard_id: "guard-1".into(),
        shift_id: None,
        captured_at_ms: 1_700_000_000_000,
        location: Location::NoFix { reason: NoFixReason::Unavailable },
        clock: None,
        attachments: Vec::new(),
        body: RecordBody::Incident(Incident {
            category: "intrusion".into(),
            severity: Severity::High,
            text: text.into(),
        }),
    }
}

fn schema_of(connection: &Connection) -> Vec<(String, String)> {
    let mut statement = connection
        .prepare("SELECT name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn upgrade_from_version_1_keeps_records() {
    let folder = tempfile::tempdir().unwrap();
    let old_path = folder.path().join("old.db");

    // A database as the first release wrote it, holding one queued record.
    let record = {
        let mut connection = Connection::open(&old_path).unwrap();
        schema::apply_pragmas(&connection).unwrap();
        schema::migrate_to(&mut connection, 1).unwrap();
        drop(connection);

        let mut connection = Connection::open(&old_path).unwrap();
        let transaction = connection.transaction().unwrap();
        let stored = records_for_test(&transaction, incident("door forced"));
        transaction.commit().unwrap();
        stored
    };

    let upgraded = Store::open(&old_path).unwrap();
    let (read, state) = upgraded.record(record.id).unwrap();
    assert_eq!(read, record);
    assert_eq!(state, SyncState::Stored);
    assert_eq!(upgraded.sync_counts().unwrap().pending, 1);
    drop(upgraded);

    let fresh_path = folder.path().join("fresh.db");
    drop(Store::open(&fresh_path).unwrap());
    let upgraded_schema = schema_of(&Connection::open(&old_path).unwrap());
    let fresh_schema = schema_of(&Connection::open(&fresh_path).unwrap());
    assert_eq!(upgraded_schema, fresh_schema);
}

/// Inserts a record with the version-1 tables only, as the first release did.
fn records_for_test(
    transaction: &rusqlite::Transaction<'_>,
    new: NewRecord,
) -> crate::model::Record {
    super::records::insert_for_test(transaction, new)
}

#[test]
fn newer_schema_is_refused_untouched() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("future.db");
    drop(Store::open(&path).unwrap());
    Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();

    let error = Store::open(&path).unwrap_err();
    assert!(matches!(error, Error::Corrupt(ref message) if message.contains("99")), "{error}");
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 99);
}

#[test]
fn not_a_database_is_reported_as_corrupt() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("garbage.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();

    let error = Store::open(&path).unwrap_err();
    assert!(matches!(error, Error::Corrupt(_)), "{error:?}");
    assert_eq!(std::fs::read(&path).unwrap(), vec![0x5a; 8192], "the file must be left as it was");
}

#[test]
fn pragmas_are_durable_settings() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("device.db")).unwrap();
    let connection = store.lock();
    let mode: String = connection.query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
    let synchronous: i64 =
        connection.query_row("PRAGMA synchronous", [], |row| row.get(0)).unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(synchronous, 2, "synchronous must be FULL");
}

#[test]
fn sequence_numbers_continue_after_reopen() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("device.db");
    let first = Store::open(&path).unwrap().append(vec![incident("a"), incident("b")]).unwrap();
    let second = Store::open(&path).unwrap().append(vec![incident("c")]).unwrap();

    let seqs: Vec<u64> = first.iter().chain(&second).map(|record| record.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

#[test]
fn acknowledged_records_leave_the_outbox_once() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("device.db")).unwrap();
    let records = store.append(vec![incident("a"), incident("b")]).unwrap();
    let first = records[0].id;

    store.mark_sent(&[first]).unwrap();
    assert_eq!(store.record(first).unwrap().1, SyncState::Sent);
    store.mark_acknowledged(&[first], 5).unwrap();
    store.mark_acknowledged(&[first], 6).unwrap();

    let page = store.outbox_page(10, None).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, records[1].id);
    assert_eq!(store.record(first).unwrap().1, SyncState::Acknowledged);
    let counts = store.sync_counts().unwrap();
    assert_eq!((counts.captured, counts.synced, counts.pending), (2, 1, 1));
}

#[test]
fn outbox_sends_panics_first() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("device.db")).unwrap();
    let mut panic = incident("unused");
    panic.body = RecordBody::Panic { alert: crate::model::AlertKind::Panic };
    let stored = store.append(vec![incident("a"), panic]).unwrap();

    let page = store.outbox_page(10, None).unwrap();
    assert_eq!(page[0].id, stored[1].id);
    assert_eq!(store.outbox_page(10, Some("panic")).unwrap().len(), 1);
    assert_eq!(store.sync_counts().unwrap().pending_panics, 1);
}

#[test]
fn rejected_record_is_kept_with_reason() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("device.db")).unwrap();
    let stored = store.append(vec![incident("a")]).unwrap();

    store.mark_rejected(stored[0].id, "invalid_record: test").unwrap();
    let (record, state) = store.record(stored[0].id).unwrap();
    assert_eq!(state, SyncState::Rejected);
    assert_eq!(record, stored[0]);
    assert_eq!(store.sync_counts().unwrap().pending, 0);
    assert_eq!(store.sync_counts().unwrap().rejected, 1);
}
