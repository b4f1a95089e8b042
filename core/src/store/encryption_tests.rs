//! Encryption at rest: locking, rotation, tampering, the upgrade of a clear database, and
//! retention.

use std::sync::Arc;

use rusqlite::Connection;
use uuid::Uuid;

use super::*;
use crate::crypto::PassphraseKek;
use crate::model::{
    Checkpoint, CheckpointTag, Incident, LatLon, Location, NoFixReason, RecordBody, ScanMethod,
    Severity, Site,
};

const T0: i64 = 1_700_000_000_000;

fn kek(passphrase: &str) -> Arc<dyn KeyEncryptionKey> {
    Arc::new(PassphraseKek::with_iterations(passphrase, 1_000))
}

fn incident(text: &str) -> NewRecord {
    NewRecord {
        id: Uuid::now_v7(),
        device_id: "device-1".into(),
        guard_id: "guard-1".into(),
        shift_id: None,
        captured_at_ms: T0,
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

fn site() -> Site {
    Site {
        id: "yard".into(),
        name: "Yard".into(),
        perimeter: vec![
            LatLon { latitude: -23.551, longitude: -46.634 },
            LatLon { latitude: -23.549, longitude: -46.634 },
            LatLon { latitude: -23.549, longitude: -46.632 },
        ],
        checkpoints: vec![Checkpoint {
            id: "pump".into(),
            name: "Pump house".into(),
            position: LatLon { latitude: -23.5500, longitude: -46.6330 },
            radius_m: 25.0,
            tags: vec![CheckpointTag {
                method: ScanMethod::Qr,
                value: "yard/pump".into(),
                min_rssi_dbm: None,
            }],
        }],
        tours: Vec::new(),
        revision: 1,
    }
}

/// Reads the database file and its companions, in that order; a missing file reads empty.
fn files_of(path: &std::path::Path) -> Vec<Vec<u8>> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::fs::read(name).unwrap_or_default()
        })
        .collect()
}

#[test]
fn wrong_kek_is_locked_and_changes_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("device.db");
    let record = {
        let store = Store::open_with_key(&path, kek("right")).unwrap();
        store.append(vec![incident("door forced")]).unwrap().remove(0)
    };
    let before = files_of(&path);

    let error = Store::open_with_key(&path, kek("wrong")).unwrap_err();

    assert!(matches!(error, Error::Locked(_)), "{error:?}");
    assert_eq!(files_of(&path), before, "a locked open must not change the files");
    let store = Store::open_with_key(&path, kek("right")).unwrap();
    assert_eq!(store.record(record.id).unwrap().0, record);
}

#[test]
fn rotation_rewraps_without_rewriting_records() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("device.db");
    let store = Store::open_with_key(&path, kek("old")).unwrap();
    let record = store.append(vec![incident("gate left open")]).unwrap().remove(0);
    let envelope_before: Vec<u8> =
        store.lock().query_row("SELECT body_envelope FROM records", [], |row| row.get(0)).unwrap();

    store.rotate_key(kek("new")).unwrap();

    let envelope_after: Vec<u8> =
        store.lock().query_row("SELECT body_envelope FROM records", [], |row| row.get(0)).unwrap();
    assert_eq!(envelope_after, envelope_before, "no record is rewritten");
    assert_eq!(store.record(record.id).unwrap().0, record);
    drop(store);

    let error = Store::open_with_key(&path, kek("old")).unwrap_err();
    assert!(matches!(error, Error::Locked(_)), "{error:?}");
    let reopened = Store::open_with_key(&path, kek("new")).unwrap();
    assert_eq!(reopened.record(record.id).unwrap().0, record);
}

#[test]
fn flipped_ciphertext_byte_names_the_record() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("device.db")).unwrap();
    let stored =
        store.append(vec![incident("first"), incident("second"), incident("third")]).unwrap();
    let victim = stored[1].id;
    {
        let connection = store.lock();
        let mut envelope: Vec<u8> = connection
            .query_row(
                "SELECT body_envelope FROM records WHERE id = ?1",
                [victim.to_string()],
                |row| row.get(0),
            )
            .unwrap();
        let middle = envelope.len() / 2;
        envelope[middle] ^= 0x01;
        connection
            .execute(
                "UPDATE records SET body_envelope = ?2 WHERE id = ?1",
                rusqlite::params![victim.to_string(), envelope],
            )
            .unwrap();
    }

    let error = store.record(victim).unwrap_err();

    let Error::Corrupt(message) = &error else { panic!("expected Corrupt, got {error:?}") };
    assert!(message.contains(&victim.to_string()), "{message}");
    assert_eq!(store.record(stored[0].id).unwrap().0, stored[0]);
    assert_eq!(store.record(stored[2].id).unwrap().0, stored[2]);
    let batch: Vec<Uuid> =
        store.outbox_batch(10, usize::MAX).unwrap().into_iter().map(|queued| queued.id).collect();
    assert_eq!(batch, vec![stored[0].id, stored[2].id], "sync goes on around the bad record");
    assert_eq!(store.sync_counts().unwrap().pending, 3, "the bad record stays queued");
}

#[test]
fn envelope_moved_to_another_row_fails() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("device.db")).unwrap();
    let stored = store.append(vec![incident("kept"), incident("target")]).unwrap();
    store
        .lock()
        .execute(
            "UPDATE records SET body_envelope = (SELECT body_envelope FROM records WHERE id = ?1)
             WHERE id = ?2",
            [stored[0].id.to_string(), stored[1].id.to_string()],
        )
        .unwrap();

    let error = store.record(stored[1].id).unwrap_err();

    assert!(matches!(error, Error::Corrupt(_)), "{error:?}");
}

#[test]
fn values_are_stored_encrypted() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("device.db")).unwrap();
    store.append(vec![incident("ladder against north fence")]).unwrap();
    store.set_setting("device_token", "token-secret").unwrap();
    store.save_sites(&[site()], Some(7)).unwrap();

    let connection = store.lock();
    let clear: String = connection
        .query_row("SELECT body || '|' || (SELECT group_concat(value) FROM settings) || '|' || (SELECT group_concat(body) FROM sites) || '|' || (SELECT group_concat(value) FROM checkpoint_tags) FROM records", [], |row| row.get(0))
        .unwrap();
    drop(connection);
    for secret in ["ladder", "token-secret", "Pump house", "yard/pump", "-23.55"] {
        assert!(!clear.contains(secret), "{secret:?} is stored in the clear: {clear}");
    }
    assert_eq!(store.setting("device_token").unwrap().as_deref(), Some("token-secret"));
    assert_eq!(store.site("yard").unwrap(), Some(site()));
    assert_eq!(
        store.find_tag(ScanMethod::Qr, "yard/pump").unwrap(),
        vec![("yard".to_string(), "pump".to_string())]
    );
    assert_eq!(store.setting(ASSIGNMENTS_CURSOR).unwrap().as_deref(), Some("7"));
}

#[test]
fn clear_database_is_encrypted_on_open() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("old.db");
    let before_encryption = schema::MIGRATIONS
        .iter()
        .position(|sql| sql.contains("CREATE TABLE data_key"))
        .expect("a migration creates the data_key table");

    // A database as the release before encryption at rest wrote it.
    let record = {
        let mut connection = Connection::open(&path).unwrap();
        schema::apply_pragmas(&connection).unwrap();
        schema::migrate_to(&mut connection, before_encryption).unwrap();
        let transaction = connection.transaction().unwrap();
        let record = records::insert_for_test(&transaction, incident("old clear text"));
        let site_json = serde_json::to_string(&site()).unwrap();
        transaction
            .execute_batch(&format!(
                "INSERT INTO settings (key, value) VALUES ('device_token', 'old-token');
                 INSERT INTO settings (key, value) VALUES ('assignments_cursor', '3');
                 INSERT INTO sites (id, revision, body) VALUES ('yard', 1, '{site_json}');
                 INSERT INTO checkpoint_tags (method, value, site_id, checkpoint_id)
                     VALUES ('qr', 'yard/pump', 'yard', 'pump');"
            ))
            .unwrap();
        transaction.commit().unwrap();
        record
    };

    let store = Store::open(&path).unwrap();

    assert_eq!(store.record(record.id).unwrap().0, record);
    assert_eq!(store.setting("device_token").unwrap().as_deref(), Some("old-token"));
    assert_eq!(store.setting(ASSIGNMENTS_CURSOR).unwrap().as_deref(), Some("3"));
    assert_eq!(store.site("yard").unwrap(), Some(site()));
    assert_eq!(store.find_tag(ScanMethod::Qr, "yard/pump").unwrap().len(), 1);
    let connection = store.lock();
    let clear_rows: i64 = connection
        .query_row(
            "SELECT (SELECT count(*) FROM records WHERE body_envelope IS NULL OR body != '')
                  + (SELECT count(*) FROM sites WHERE body_envelope IS NULL)
                  + (SELECT count(*) FROM settings WHERE value_envelope IS NULL
                        AND key NOT IN ('next_seq', 'assignments_cursor', 'chain_head'))
                  + (SELECT count(*) FROM checkpoint_tags WHERE value = 'yard/pump')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(clear_rows, 0);
    drop(connection);
    drop(store);
    for (index, bytes) in files_of(&path).iter().enumerate() {
        let found = bytes.windows(14).any(|window| window == b"old clear text");
        assert!(!found, "the clear text is still in file {index} (database, -wal, -shm)");
    }
}

#[test]
fn retention_purges_only_old_acknowledged_records() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("device.db")).unwrap();
    let stored = store
        .append(vec![
            incident("old acked"),
            incident("new acked"),
            incident("queued"),
            incident("sent"),
        ])
        .unwrap();
    store.mark_acknowledged(&[stored[0].id], T0).unwrap();
    store.mark_acknowledged(&[stored[1].id], T0 + 10_000).unwrap();
    store.mark_sent(&[stored[3].id]).unwrap();

    let purged = store.purge_acknowledged(T0 + 5_000).unwrap();

    assert_eq!(purged, 1);
    assert!(matches!(store.record(stored[0].id), Err(Error::NotFound { .. })));
    for kept in &stored[1..] {
        assert_eq!(store.record(kept.id).unwrap().0, *kept);
    }
    assert_eq!(store.sync_counts().unwrap().pending, 2, "unacknowledged records stay queued");

    // Even a cut-off far in the future never touches an unacknowledged record.
    assert_eq!(store.purge_acknowledged(i64::MAX).unwrap(), 1);
    assert_eq!(store.sync_counts().unwrap().captured, 2);
}

#[test]
fn retention_keeps_open_shift_and_active_alert() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("device.db")).unwrap();
    let start = store
        .open_shift(
            NewRecord { body: RecordBody::ShiftStart { site_id: None }, ..incident("") },
            None,
        )
        .unwrap();
    let panic = NewRecord {
        body: RecordBody::Panic { alert: crate::model::AlertKind::Panic },
        ..incident("")
    };
    let (alert, _) = store.append_alert(panic).unwrap();
    let delivered = AlertTransition::Delivered { delivered_at_ms: T0 };
    store.advance_alert(alert.id, delivered, T0).unwrap();
    store.mark_acknowledged(&[start.id], T0).unwrap();

    assert_eq!(store.purge_acknowledged(i64::MAX).unwrap(), 0);

    let taken = AlertTransition::Acknowledged { acknowledged_at_ms: T0 };
    store.advance_alert(alert.id, taken, T0).unwrap();
    assert_eq!(store.purge_acknowledged(i64::MAX).unwrap(), 1, "a finished alert is purged");
    assert!(store.record(start.id).is_ok(), "the open shift's start is kept");
}

#[test]
fn purged_text_leaves_no_trace_in_file() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("device.db");
    let store = Store::open(&path).unwrap();
    let record = store.append(vec![incident("purge me")]).unwrap().remove(0);
    let envelope: Vec<u8> =
        store.lock().query_row("SELECT body_envelope FROM records", [], |row| row.get(0)).unwrap();
    store.mark_acknowledged(&[record.id], T0).unwrap();

    store.purge_acknowledged(T0).unwrap();
    store.lock().execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    drop(store);

    let bytes = std::fs::read(&path).unwrap();
    let found = bytes.windows(envelope.len()).any(|window| window == envelope.as_slice());
    assert!(!found, "the purged ciphertext is still in the file");
}

#[test]
fn alert_kind_survives_encrypted_body() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("device.db")).unwrap();
    let alert = |kind| NewRecord { body: RecordBody::Panic { alert: kind }, ..incident("") };
    let (duress, _) = store.append_alert(alert(crate::model::AlertKind::Duress)).unwrap();
    let man_down = store.append(vec![alert(crate::model::AlertKind::ManDown)]).unwrap().remove(0);

    assert_eq!(store.alert(duress.id).unwrap().kind, crate::model::AlertKind::Duress);
    assert_eq!(store.alert(man_down.id).unwrap().kind, crate::model::AlertKind::ManDown);
}

#[test]
fn unreadable_alert_does_not_block_others() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("device.db")).unwrap();
    let panic = || NewRecord {
        body: RecordBody::Panic { alert: crate::model::AlertKind::Panic },
        ..incident("")
    };
    let (first, _) = store.append_alert(panic()).unwrap();
    let (second, _) = store.append_alert(panic()).unwrap();
    store
        .lock()
        .execute(
            "UPDATE records SET body_envelope = substr(body_envelope, 1, 20) WHERE id = ?1",
            [first.id.to_string()],
        )
        .unwrap();

    let active = store.active_alerts().unwrap();

    let ids: Vec<Uuid> = active.iter().map(|(record, _)| record.id).collect();
    assert_eq!(ids, vec![second.id]);
}
