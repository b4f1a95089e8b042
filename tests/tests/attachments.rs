//! Attachments end to end: captured encrypted on the device, uploaded in resumable pieces
//! to the reference server on loopback, through a server restart and broken connections.

mod panic_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use panic_support::proxy::{FaultProxy, Faults};
use panic_support::{PATIENCE, device_config, free_addr, start_server};
use uuid::Uuid;
use vigil_core::model::{Incident, Record, Severity};
use vigil_core::protocol::AttachmentOffer;
use vigil_core::store::{SyncState, UploadState};
use vigil_core::sync::SyncClient;
use vigil_core::{AttachmentFile, Config, Error, SystemClock, Vigil};
use vigil_server::RunningServer;
use vigil_tests::chaos::{ChaosProxy, FaultPlan};
use vigil_tests::signer::device_signer;

fn incident() -> Incident {
    Incident { category: "intrusion".into(), severity: Severity::High, text: "Fence cut".into() }
}

/// Writes `size` bytes of a pattern that differs from one 251-byte block to the next.
fn pattern_file(folder: &Path, name: &str, size: usize) -> PathBuf {
    let path = folder.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut written = 0;
    let mut block = 0u32;
    while written < size {
        let bytes: Vec<u8> =
            (0..251u32).map(|index| (index.wrapping_mul(31) ^ block) as u8).collect();
        let take = (size - written).min(bytes.len());
        file.write_all(&bytes[..take]).unwrap();
        written += take;
        block += 1;
    }
    file.flush().unwrap();
    path
}

fn open(folder: &Path, config: Config) -> Vigil {
    Vigil::open(folder.join("device.db"), config).expect("the store must open")
}

fn capture(device: &Vigil, files: &[(&Path, &str)]) -> Record {
    let files = files
        .iter()
        .map(|(path, media_type)| AttachmentFile {
            path: path.to_path_buf(),
            media_type: (*media_type).into(),
        })
        .collect();
    device.log_incident_with_attachments(incident(), files).unwrap()
}

fn local_file(device: &Vigil, id: Uuid) -> PathBuf {
    device.store().attachments_dir().join(format!("{id}.vgs"))
}

/// Checks that the server stores exactly the device's encrypted bytes of every attachment.
fn assert_same_on_server(server: &RunningServer, device: &Vigil, record: &Record) {
    let store = server.store().unwrap();
    for reference in &record.attachments {
        let stored = store.attachment(reference.id).unwrap().expect("the server has it");
        assert!(stored.complete, "attachment {} is complete", reference.id);
        assert_eq!(stored.record_id, record.id);
        assert_eq!(stored.digest, reference.digest);
        let on_device = std::fs::read(local_file(device, reference.id)).unwrap();
        let on_server = std::fs::read(server.attachment_path(reference.id)).unwrap();
        assert_eq!(on_server.len(), on_device.len(), "attachment {} length", reference.id);
        assert!(on_server == on_device, "attachment {} bytes differ", reference.id);
    }
}

/// Waits until the server has stored some but not all of an attachment.
async fn wait_for_partial(server: &RunningServer, id: Uuid) -> u64 {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(stored) = server.store().unwrap().attachment(id).unwrap() {
            assert!(!stored.complete, "the upload finished before the test could interrupt it");
            if stored.received_bytes > 0 {
                return stored.received_bytes;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "the upload never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_upload_whole() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let device = open(device_folder.path(), device_config(&server.url()));
    let empty = pattern_file(device_folder.path(), "empty.m4a", 0);
    let photo = pattern_file(device_folder.path(), "photo.jpg", 3 * 1024 * 1024 + 11);
    let record = capture(&device, &[(&empty, "audio/mp4"), (&photo, "image/jpeg")]);

    let summary = device.sync_now().await.unwrap();

    assert_eq!(summary.acknowledged, 1);
    assert_eq!(device.store().record(record.id).unwrap().1, SyncState::Acknowledged);
    assert_same_on_server(&server, &device, &record);
    for reference in &record.attachments {
        assert_eq!(device.store().attachment(reference.id).unwrap().state, UploadState::Uploaded);
    }
    let on_server = server.store().unwrap().records_for_device("device-alert").unwrap();
    assert_eq!(on_server.len(), 1);
    assert_eq!(on_server[0].attachments, record.attachments, "the server's record refers to them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_pieces_change_nothing() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let device = open(device_folder.path(), device_config(&server.url()));
    let photo = pattern_file(device_folder.path(), "photo.jpg", 1_500_000);
    let record = capture(&device, &[(&photo, "image/jpeg")]);
    device.sync_now().await.unwrap();
    let reference = &record.attachments[0];
    let sealed = std::fs::read(local_file(&device, reference.id)).unwrap();

    let token = device.store().setting("device_token").unwrap().expect("enrolled");
    let client = SyncClient::new(&server.url(), Duration::from_secs(10))
        .unwrap()
        .with_signer(device_signer(&device, Arc::new(SystemClock)));
    // The first piece again, a piece from the middle, and garbage past the end.
    let first = client
        .send_attachment_content(&token, reference.id, 0, sealed[..1000].to_vec())
        .await
        .unwrap();
    assert!(first.complete);
    assert_eq!(first.received_bytes, sealed.len() as u64);
    let garbage = vec![0xEEu8; 4096];
    let middle = client.send_attachment_content(&token, reference.id, 500, garbage.clone()).await;
    assert!(middle.unwrap().complete);
    let past = client
        .send_attachment_content(&token, reference.id, sealed.len() as u64, garbage)
        .await
        .unwrap();
    assert_eq!(past.received_bytes, sealed.len() as u64);

    // An offer for the same id with another digest is a conflict.
    let offer = AttachmentOffer {
        record_id: record.id,
        digest: "0".repeat(64),
        size_bytes: reference.size_bytes,
        sealed_bytes: sealed.len() as u64,
        media_type: "image/jpeg".into(),
        sealed_key: None,
    };
    let conflict = client.offer_attachment(&token, reference.id, &offer).await.unwrap_err();
    assert!(matches!(conflict, Error::Server { status: 409, .. }), "{conflict:?}");

    assert_same_on_server(&server, &device, &record);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_piece_is_rejected() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let device = open(device_folder.path(), device_config(&server.url()));
    let photo = pattern_file(device_folder.path(), "photo.jpg", 2_500_000);
    let record = capture(&device, &[(&photo, "image/jpeg")]);
    let reference = record.attachments[0].clone();
    let sealed = std::fs::read(local_file(&device, reference.id)).unwrap();

    // Enroll with a sync that has no time for more, then offer the attachment by hand.
    let token = {
        device.sync_within(Duration::ZERO).await.ok();
        match device.store().setting("device_token").unwrap() {
            Some(token) => token,
            None => panic!("the device did not enroll"),
        }
    };
    let client = SyncClient::new(&server.url(), Duration::from_secs(10))
        .unwrap()
        .with_signer(device_signer(&device, Arc::new(SystemClock)));
    let offer = AttachmentOffer {
        record_id: record.id,
        digest: reference.digest.clone(),
        size_bytes: reference.size_bytes,
        sealed_bytes: sealed.len() as u64,
        media_type: reference.media_type.clone(),
        sealed_key: None,
    };
    let status = client.offer_attachment(&token, reference.id, &offer).await.unwrap();
    let offset = status.received_bytes;

    let ahead = offset + 1_000_000;
    let error = client
        .send_attachment_content(
            &token,
            reference.id,
            ahead,
            sealed[ahead as usize..ahead as usize + 1000].to_vec(),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Server { status: 409, .. }), "{error:?}");
    let after = client.offer_attachment(&token, reference.id, &offer).await.unwrap();
    assert_eq!(after.received_bytes, offset, "an out-of-order piece stores nothing");

    device.sync_now().await.unwrap();
    assert_same_on_server(&server, &device, &record);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_resumes_after_server_restart() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let addr = free_addr().await;
    let server = start_server(server_folder.path(), addr).await;
    // 2 MiB/s makes the 8 MB upload last about 4 s, long enough to stop the server in it.
    let slow = Faults { bytes_per_second: Some(2 * 1024 * 1024), ..Faults::default() };
    let proxy = FaultProxy::start(addr, slow).await;
    let device = open(device_folder.path(), device_config(&proxy.url()));
    let video = pattern_file(device_folder.path(), "clip.mp4", 8 * 1024 * 1024);
    let record = capture(&device, &[(&video, "video/mp4")]);
    let id = record.attachments[0].id;

    let sync = tokio::spawn({
        let device = device.clone();
        async move { device.sync_now().await }
    });
    let received = wait_for_partial(&server, id).await;
    server.shutdown_within(Duration::from_millis(100)).await.unwrap();
    let interrupted = sync.await.unwrap();
    assert!(interrupted.is_err(), "the sync must fail while the server is down");
    assert_eq!(device.store().record(record.id).unwrap().1, SyncState::Sent);

    // A write cut by a crash can leave bytes in the file past what the database records.
    let mut partial = std::fs::OpenOptions::new()
        .append(true)
        .open(server_folder.path().join(format!("soc.attachments/{id}.vgs")))
        .unwrap();
    partial.write_all(&[0x5A; 1000]).unwrap();
    drop(partial);

    let server = start_server(server_folder.path(), addr).await;
    let before = server.store().unwrap().attachment(id).unwrap().unwrap();
    assert!(before.received_bytes >= received, "stored bytes survive the restart");
    assert!(!before.complete);
    proxy.set(Faults::default());
    device.sync_now().await.unwrap();

    assert_same_on_server(&server, &device, &record);
    assert_eq!(device.store().record(record.id).unwrap().1, SyncState::Acknowledged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_survives_cut_connections() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    // Most connections break within their first 1.5 MB: in a piece's upload, in its reply,
    // or after the server stored it.
    let plan = FaultPlan {
        weights: [2, 3, 1, 2, 1, 1, 0],
        max_trigger_bytes: 1_500_000,
        max_latency_ms: 0,
        retry_after_s: 0,
    };
    let proxy = ChaosProxy::start(server.addr(), plan, 7).await;
    let mut config = device_config(&proxy.url());
    config.sync_attempts = 20;
    let device = open(device_folder.path(), config);
    let video = pattern_file(device_folder.path(), "clip.mp4", 6 * 1024 * 1024 + 5);
    let photo = pattern_file(device_folder.path(), "photo.jpg", 700_000);
    let record = capture(&device, &[(&video, "video/mp4"), (&photo, "image/jpeg")]);

    let mut runs = 0;
    while device.store().record(record.id).unwrap().1 != SyncState::Acknowledged {
        runs += 1;
        assert!(runs <= 50, "the upload never completed");
        let _ = device.sync_now().await;
    }

    assert_same_on_server(&server, &device, &record);
    let faults: u64 = proxy.fault_counts().iter().skip(1).map(|(_, count)| count).sum();
    assert!(faults > 0, "the proxy must have broken some connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_attachment_holds_back_nothing_else() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let device = open(device_folder.path(), device_config(&server.url()));
    let first = pattern_file(device_folder.path(), "first.jpg", 300_000);
    let second = pattern_file(device_folder.path(), "second.jpg", 300_000);
    let damaged = capture(&device, &[(&first, "image/jpeg")]);
    let intact = capture(&device, &[(&second, "image/jpeg")]);
    let plain = device.log_incident(incident()).unwrap();
    let path = local_file(&device, damaged.attachments[0].id);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[200_000] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();

    device.sync_now().await.unwrap();

    let stored = device.store().attachment(damaged.attachments[0].id).unwrap();
    assert_eq!(stored.state, UploadState::Damaged);
    assert!(stored.problem.unwrap().contains("integrity check"));
    assert_eq!(device.store().record(damaged.id).unwrap().1, SyncState::Sent);
    assert!(server.store().unwrap().attachment(damaged.attachments[0].id).unwrap().is_none());
    assert_eq!(device.store().record(intact.id).unwrap().1, SyncState::Acknowledged);
    assert_eq!(device.store().record(plain.id).unwrap().1, SyncState::Acknowledged);
    assert_same_on_server(&server, &device, &intact);
    assert_eq!(server.store().unwrap().record_count().unwrap(), 3, "every record arrived");
}
