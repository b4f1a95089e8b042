use std::io::Write;
use std::path::Path;

use super::tests::open_offline;
use super::*;
use crate::model::{Incident, Severity};
use crate::store::{SyncState, UploadState};

fn incident() -> Incident {
    Incident { category: "intrusion".into(), severity: Severity::High, text: "Fence cut".into() }
}

/// Writes `size` bytes of a repeating pattern to a new file.
fn pattern_file(folder: &Path, name: &str, size: usize) -> std::path::PathBuf {
    let path = folder.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let pattern: Vec<u8> = (0..=250u8).collect();
    let mut left = size;
    while left > 0 {
        let take = left.min(pattern.len());
        file.write_all(&pattern[..take]).unwrap();
        left -= take;
    }
    file.flush().unwrap();
    path
}

fn attach(path: &Path, media_type: &str) -> AttachmentFile {
    AttachmentFile { path: path.to_path_buf(), media_type: media_type.into() }
}

fn stored_file(vigil: &Vigil, id: uuid::Uuid) -> std::path::PathBuf {
    vigil.store().attachments_dir().join(format!("{id}.vgs"))
}

#[test]
fn attachments_round_trip() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let empty = pattern_file(folder.path(), "empty.jpg", 0);
    let photo = pattern_file(folder.path(), "photo.jpg", 3 * 1024 * 1024 + 17);

    let record = vigil
        .log_incident_with_attachments(
            incident(),
            vec![attach(&empty, "image/jpeg"), attach(&photo, "image/jpeg")],
        )
        .unwrap();

    assert_eq!(record.attachments.len(), 2);
    let (stored, state) = vigil.store().record(record.id).unwrap();
    assert_eq!(stored.attachments, record.attachments, "the stored record refers to both");
    assert_eq!(state, SyncState::Stored);
    for (reference, original) in record.attachments.iter().zip([&empty, &photo]) {
        let expected = std::fs::read(original).unwrap();
        assert_eq!(reference.size_bytes, expected.len() as u64);
        assert_eq!(reference.media_type, "image/jpeg");
        assert_eq!(reference.digest.len(), 64);

        let mut opened = Vec::new();
        let read = vigil.read_attachment(reference.id, &mut opened).unwrap();
        assert_eq!(&read, reference);
        assert_eq!(opened, expected);

        let on_disk = std::fs::read(stored_file(&vigil, reference.id)).unwrap();
        assert_eq!(on_disk.len() as u64, crate::crypto::sealed_len(reference.size_bytes));
        if expected.len() > 1024 {
            assert!(
                !on_disk.windows(251).any(|window| window == &expected[..251]),
                "the stored file must not contain the plaintext"
            );
        }
        let attachment = vigil.store().attachment(reference.id).unwrap();
        assert_eq!(attachment.state, UploadState::Pending);
        assert_eq!(attachment.record_id, record.id);
    }
}

#[test]
fn truncated_attachment_is_detected() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let video = pattern_file(folder.path(), "clip.mp4", 200_000);
    let photo = pattern_file(folder.path(), "photo.jpg", 5_000);
    let record = vigil
        .log_incident_with_attachments(
            incident(),
            vec![attach(&video, "video/mp4"), attach(&photo, "image/jpeg")],
        )
        .unwrap();
    let video_id = record.attachments[0].id;
    let path = stored_file(&vigil, video_id);
    let length = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(length - 100).unwrap();

    let error = vigil.verify_attachment(video_id).unwrap_err();
    assert!(matches!(&error, Error::Corrupt(message) if message.contains("truncated")), "{error}");

    // The other attachment and the record are untouched.
    let mut photo_bytes = Vec::new();
    vigil.read_attachment(record.attachments[1].id, &mut photo_bytes).unwrap();
    assert_eq!(photo_bytes, std::fs::read(&photo).unwrap());
    assert_eq!(vigil.store().record(record.id).unwrap().0, record);
}

#[test]
fn flipped_byte_is_detected() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let photo = pattern_file(folder.path(), "photo.jpg", 150_000);
    let record = vigil
        .log_incident_with_attachments(incident(), vec![attach(&photo, "image/jpeg")])
        .unwrap();
    let id = record.attachments[0].id;
    let path = stored_file(&vigil, id);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100_000] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let error = vigil.verify_attachment(id).unwrap_err();
    assert!(
        matches!(&error, Error::Corrupt(message) if message.contains("integrity check")),
        "{error}"
    );
    assert_eq!(vigil.store().record(record.id).unwrap().0, record);
}

#[test]
fn invalid_attachment_stores_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let photo = pattern_file(folder.path(), "photo.jpg", 10);
    let missing = folder.path().join("missing.jpg");

    for (files, field) in [
        (vec![attach(&photo, "jpeg")], "media_type"),
        (vec![attach(&photo, "image/jpeg"), attach(&missing, "image/jpeg")], "path"),
        (vec![attach(folder.path(), "image/jpeg")], "path"),
    ] {
        let error = vigil.log_incident_with_attachments(incident(), files).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidInput { field: name, .. } if name == field),
            "{error}"
        );
    }
    let too_many = vec![attach(&photo, "image/jpeg"); MAX_ATTACHMENTS_PER_RECORD + 1];
    assert!(vigil.log_incident_with_attachments(incident(), too_many).is_err());

    assert_eq!(vigil.store().sync_counts().unwrap().captured, 0);
    let left: Vec<_> = std::fs::read_dir(vigil.store().attachments_dir())
        .map(|entries| entries.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "no encrypted copy may be left behind: {left:?}");
}

#[test]
fn record_waits_for_its_attachments() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let photo = pattern_file(folder.path(), "photo.jpg", 10);
    let record = vigil
        .log_incident_with_attachments(incident(), vec![attach(&photo, "image/jpeg")])
        .unwrap();
    let plain = vigil.log_incident(incident()).unwrap();

    vigil.store().mark_sent(&[record.id, plain.id]).unwrap();
    vigil.store().mark_acknowledged(&[record.id, plain.id], T0_ACK).unwrap();
    assert_eq!(vigil.store().record(plain.id).unwrap().1, SyncState::Acknowledged);
    assert_eq!(
        vigil.store().record(record.id).unwrap().1,
        SyncState::Sent,
        "a record stays sent while an attachment is not uploaded"
    );
    assert_eq!(vigil.store().sync_counts().unwrap().pending, 0, "it left the outbox");

    vigil.store().mark_attachment_uploaded(record.attachments[0].id, T0_ACK + 1).unwrap();
    assert_eq!(vigil.store().record(record.id).unwrap().1, SyncState::Acknowledged);
    assert!(vigil.store().pending_attachments(10).unwrap().is_empty());
}

const T0_ACK: i64 = 1_764_806_500_000;

#[test]
fn reopening_removes_partial_files() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let photo = pattern_file(folder.path(), "photo.jpg", 1000);
    let record = vigil
        .log_incident_with_attachments(incident(), vec![attach(&photo, "image/jpeg")])
        .unwrap();
    let partial = vigil.store().attachments_dir().join(format!("{}.partial", uuid::Uuid::now_v7()));
    std::fs::write(&partial, b"cut short").unwrap();
    drop(vigil);

    let (vigil, _clock) = open_offline(&folder);
    assert!(!partial.exists(), "the partial file is removed");
    vigil.verify_attachment(record.attachments[0].id).unwrap();
}

#[test]
fn purge_removes_uploaded_attachments() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let photo = pattern_file(folder.path(), "photo.jpg", 1000);
    let record = vigil
        .log_incident_with_attachments(incident(), vec![attach(&photo, "image/jpeg")])
        .unwrap();
    let id = record.attachments[0].id;
    vigil.store().mark_sent(&[record.id]).unwrap();
    vigil.store().mark_acknowledged(&[record.id], T0_ACK).unwrap();

    assert_eq!(vigil.store().purge_acknowledged(T0_ACK + 10).unwrap(), 0, "not uploaded yet");
    assert!(stored_file(&vigil, id).exists());

    vigil.store().mark_attachment_uploaded(id, T0_ACK + 1).unwrap();
    assert_eq!(vigil.store().purge_acknowledged(T0_ACK + 10).unwrap(), 1);
    assert!(!stored_file(&vigil, id).exists(), "the encrypted file is removed");
    let missing = vigil.store().attachment(id).unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");
}
