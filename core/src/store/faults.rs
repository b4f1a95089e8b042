//! Storage faults: a full disk, simulated with SQLite's `max_page_count` limit, which fails
//! writes with the same `SQLITE_FULL` code as a full file system.

use uuid::Uuid;

use super::{NewRecord, Store};
use crate::error::Error;
use crate::model::{Incident, Location, NoFixReason, RecordBody, Severity};

fn incident(text: String) -> NewRecord {
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
            text,
        }),
    }
}

/// Caps the database at its current size plus `spare_pages`, as a nearly full disk would.
fn cap_pages(store: &Store, spare_pages: i64) {
    let connection = store.lock();
    let pages: i64 = connection.query_row("PRAGMA page_count", [], |row| row.get(0)).unwrap();
    let limit = pages + spare_pages;
    let set: i64 = connection
        .query_row(&format!("PRAGMA max_page_count = {limit}"), [], |row| row.get(0))
        .unwrap();
    assert_eq!(set, limit);
}

#[test]
fn full_disk_is_typed_and_stores_nothing_half() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("device.db")).unwrap();
    store.append(vec![incident("before".into())]).unwrap();
    cap_pages(&store, 4);

    let mut stored = 1;
    let error = loop {
        let batch = (0..5).map(|index| incident(format!("{index:02000}"))).collect();
        match store.append(batch) {
            Ok(records) => stored += records.len() as u64,
            Err(error) => break error,
        }
        assert!(stored < 10_000, "the page limit never took effect");
    };

    assert!(matches!(error, Error::StorageFull), "{error:?}");
    let counts = store.sync_counts().unwrap();
    assert_eq!(counts.captured, stored, "the failed batch left no record behind");
    assert_eq!(counts.pending, stored, "the outbox matches the records");

    // Space freed: capture continues with the next sequence number.
    cap_pages(&store, 1_000);
    let next = store.append(vec![incident("after".into())]).unwrap().remove(0);
    assert_eq!(next.seq, stored + 1);
    let integrity: String =
        store.lock().query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(integrity, "ok");
}

/// An I/O error, not a full disk: the WAL file's name is taken by a directory while the
/// store is paused, so SQLite cannot open it when the store resumes.
#[test]
fn unopenable_wal_is_typed_and_loses_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("device.db");
    let store = Store::open(&path).unwrap();
    let stored = store.append((0..3).map(|index| incident(format!("report {index}"))).collect());
    assert_eq!(stored.unwrap().len(), 3);
    store.pause().unwrap();
    let wal = folder.path().join("device.db-wal");
    std::fs::create_dir(&wal).unwrap();

    let error = store.resume().unwrap_err();

    assert!(matches!(error, Error::Storage(_)), "{error:?}");
    assert!(store.is_paused(), "a failed resume leaves the store paused");
    assert!(matches!(store.ensure_open(), Err(Error::InvalidState(_))));

    // The fault is repaired: every record is there and the file is sound.
    std::fs::remove_dir(&wal).unwrap();
    store.resume().unwrap();
    let counts = store.sync_counts().unwrap();
    assert_eq!(counts.captured, 3);
    assert_eq!(counts.pending, 3);
    let integrity: String =
        store.lock().query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(integrity, "ok");
}

/// A database path that is a directory fails to open with a typed error and is left as
/// it is.
#[test]
fn directory_in_place_of_database_is_typed() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("device.db");
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("kept.txt"), b"not Vigil's").unwrap();

    let error = Store::open(&path).unwrap_err();

    assert!(matches!(error, Error::Storage(_)), "{error:?}");
    assert!(path.join("kept.txt").exists());
}
