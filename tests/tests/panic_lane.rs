//! Panic alerts on their own lane, against the reference server on loopback: every state,
//! restarts, a large attachment upload in progress, a bad link and no location at all.

mod panic_support;

use std::time::Duration;

use panic_support::proxy::{FaultProxy, Faults};
use panic_support::{PATIENCE, device_config, free_addr, open_device, start_server};
use vigil_core::AttachmentFile;
use vigil_core::alert::AlertState;
use vigil_core::model::{
    AlertKind, Fix, FixSource, Incident, Location, NoFixReason, RecordBody, Severity,
};
use vigil_core::store::SyncState;
use vigil_core::{Clock, SystemClock};

const T0: i64 = 1_764_806_400_000;

fn fix(time_ms: i64) -> Fix {
    Fix {
        latitude: -23.55,
        longitude: -46.633,
        accuracy_m: 8.0,
        altitude_m: None,
        speed_mps: None,
        bearing_deg: None,
        source: FixSource::Gnss,
        mock: false,
        fix_time_ms: time_ms,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_goes_through_every_state() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let (device, recorder) = open_device(device_folder.path(), device_config(&server.url()));

    let record = device.raise_panic().unwrap();
    let delivered = recorder.wait_for(record.id, AlertState::Delivered).await;
    assert!(delivered.delivered_at_ms.is_some());
    assert_eq!(delivered.acknowledged_at_ms, None);
    assert_eq!(device.store().record(record.id).unwrap().1, SyncState::Acknowledged);
    assert_eq!(device.store().sync_counts().unwrap().pending_panics, 0);

    let on_server = server.store().unwrap().alerts().unwrap();
    assert_eq!(on_server.len(), 1);
    assert_eq!(on_server[0].record_id, record.id);
    assert_eq!(Some(on_server[0].delivered_at_ms), delivered.delivered_at_ms);

    let acknowledged_at_ms =
        vigil_server::acknowledge_alert(server.database(), record.id, SystemClock.now_ms())
            .unwrap();
    let acknowledged = recorder.wait_for(record.id, AlertState::Acknowledged).await;
    assert_eq!(acknowledged.acknowledged_at_ms, Some(acknowledged_at_ms));
    assert_eq!(device.alert_status(record.id).unwrap(), acknowledged);
    assert_eq!(
        recorder.states(record.id),
        [AlertState::Stored, AlertState::Sent, AlertState::Delivered, AlertState::Acknowledged]
    );

    // An acknowledged alert leaves the lane: no more resends reach the server.
    let again = vigil_server::acknowledge_alert(server.database(), record.id, 1).unwrap();
    assert_eq!(again, acknowledged_at_ms, "a second acknowledgement keeps the first time");
    assert!(device.store().active_alerts().unwrap().is_empty());
    let unknown = vigil_server::acknowledge_alert(server.database(), uuid::Uuid::now_v7(), 1);
    assert!(matches!(unknown, Err(vigil_server::ServerError::AlertNotFound(_))), "{unknown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_resumes_after_restart() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let addr = free_addr().await;
    let config = device_config(&format!("http://{addr}"));

    // The app is killed right after raise_panic returns, with the server down.
    let (device, recorder) = open_device(device_folder.path(), config.clone());
    let record = device.raise_panic().unwrap();
    recorder.wait_for(record.id, AlertState::Sent).await;
    drop(device);

    let server = start_server(server_folder.path(), addr).await;
    let (device, recorder) = open_device(device_folder.path(), config);
    let delivered = recorder.wait_for(record.id, AlertState::Delivered).await;

    assert_eq!(device.alert_status(record.id).unwrap(), delivered);
    let on_server = server.store().unwrap().alerts().unwrap();
    assert_eq!(on_server.len(), 1);
    assert_eq!(on_server[0].record_id, record.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_resent_until_server_is_back() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let addr = free_addr().await;
    let (device, recorder) =
        open_device(device_folder.path(), device_config(&format!("http://{addr}")));

    let record = device.raise_panic().unwrap();
    recorder.wait_for(record.id, AlertState::Sent).await;
    // Several resend intervals pass with nothing listening.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(device.alert_status(record.id).unwrap().state, AlertState::Sent);

    let server = start_server(server_folder.path(), addr).await;
    recorder.wait_for(record.id, AlertState::Delivered).await;
    assert_eq!(server.store().unwrap().alerts().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_passes_attachment_upload() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    // 1 MiB/s per connection makes the 16 MiB video take about 16 s to upload.
    let slow = Faults { bytes_per_second: Some(1024 * 1024), ..Faults::default() };
    let proxy = FaultProxy::start(server.addr(), slow).await;
    let (device, recorder) = open_device(device_folder.path(), device_config(&proxy.url()));

    let video = device_folder.path().join("clip.mp4");
    let file = std::fs::File::create(&video).unwrap();
    file.set_len(16 * 1024 * 1024).unwrap();
    drop(file);
    let incident = Incident {
        category: "intrusion".into(),
        severity: Severity::High,
        text: "Fence cut".into(),
    };
    let attachment = AttachmentFile { path: video, media_type: "video/mp4".into() };
    let with_video = device.log_incident_with_attachments(incident, vec![attachment]).unwrap();
    let fixes: Vec<_> = (0..1_000).map(|n| fix(T0 + n * 1_000)).collect();
    device.record_fixes(fixes).unwrap();
    let video_id = with_video.attachments[0].id;

    let sync = tokio::spawn({
        let device = device.clone();
        async move { device.sync_now().await }
    });
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let stored = server.store().unwrap().attachment(video_id).unwrap();
        if stored.is_some_and(|stored| stored.received_bytes > 0) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the upload never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let record = device.raise_panic().unwrap();
    recorder.wait_for(record.id, AlertState::Delivered).await;

    let upload = server.store().unwrap().attachment(video_id).unwrap().unwrap();
    assert!(!upload.complete, "the upload must still be in progress");
    assert!(!sync.is_finished(), "the sync must still be in progress");
    assert_eq!(device.store().record(with_video.id).unwrap().1, SyncState::Sent);

    proxy.set(Faults::default());
    let summary = sync.await.unwrap().unwrap();
    assert_eq!(summary.counts.pending, 0);
    assert!(server.store().unwrap().attachment(video_id).unwrap().unwrap().complete);
    assert_eq!(device.store().record(with_video.id).unwrap().1, SyncState::Acknowledged);
    assert_eq!(server.store().unwrap().record_count().unwrap(), 1_002);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_cross_poor_link() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let faults = Faults {
        latency: Duration::from_millis(300),
        jitter: Duration::from_millis(150),
        bytes_per_second: Some(64 * 1024),
        reset_after: Some(Duration::from_millis(1_500)),
        ..Faults::default()
    };
    let proxy = FaultProxy::start(server.addr(), faults).await;
    let (device, recorder) = open_device(device_folder.path(), device_config(&proxy.url()));

    let mut ids = Vec::new();
    for kind in [AlertKind::Panic, AlertKind::ManDown, AlertKind::MissedCheckIn] {
        ids.push(device.raise_alert(kind).unwrap().0.id);
    }
    for id in &ids {
        recorder.wait_for(*id, AlertState::Delivered).await;
    }

    let mut on_server: Vec<_> = server
        .store()
        .unwrap()
        .alerts()
        .unwrap()
        .into_iter()
        .map(|alert| alert.record_id)
        .collect();
    on_server.sort();
    ids.sort();
    assert_eq!(on_server, ids, "every alert exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_with_location_off() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let (device, recorder) = open_device(device_folder.path(), device_config(&server.url()));

    // No fix was ever recorded: location is off.
    let (record, status) = device.raise_alert(AlertKind::Panic).unwrap();
    assert_eq!(record.location, Location::NoFix { reason: NoFixReason::Unavailable });
    assert_eq!(status.state, AlertState::Stored);
    recorder.wait_for(record.id, AlertState::Delivered).await;

    let stored = server.store().unwrap().records_for_device("device-alert").unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].location, record.location);
    assert_eq!(stored[0].body, RecordBody::Panic { alert: AlertKind::Panic });
}

/// Records every mode the lane requests from the fake location service.
#[derive(Default)]
struct FakeLocation {
    requests: std::sync::Mutex<Vec<bool>>,
}

impl vigil_core::alert::LocationRequester for FakeLocation {
    fn set_high_accuracy(&self, enabled: bool) {
        self.requests.lock().unwrap().push(enabled);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_alert_sends_location_updates() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    // The backlog fixes repeat one position, so every one of them is stored only when
    // the storage rate stores every fix.
    let mut config = device_config(&server.url());
    config.storage_rate.min_distance_m = 0.0;
    let (device, recorder) = open_device(device_folder.path(), config);
    let location = std::sync::Arc::new(FakeLocation::default());
    device.set_location_requester(Some(location.clone()));
    let now = SystemClock.now_ms();
    let backlog: Vec<_> = (0..1_000).map(|n| fix(now - 10_000 + n * 10)).collect();
    device.record_fixes(backlog).unwrap();

    let (record, _) = device.raise_alert(AlertKind::Panic).unwrap();
    assert!(matches!(record.location, Location::Fix(_)), "the alert carries the newest fix");
    recorder.wait_for(record.id, AlertState::Delivered).await;
    let moved = device.record_fixes(vec![fix(SystemClock.now_ms())]).unwrap();
    let vigil_core::FixOutcome::Stored { id: update, .. } = moved[0] else {
        panic!("{moved:?}");
    };

    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let stored = server.store().unwrap().records_for_device("device-alert").unwrap();
        if stored.iter().any(|stored| stored.id == update) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the location update never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(device.store().sync_counts().unwrap().pending >= 999, "the backlog waits for sync");
    assert_eq!(*location.requests.lock().unwrap(), [true]);

    vigil_server::acknowledge_alert(server.database(), record.id, SystemClock.now_ms()).unwrap();
    recorder.wait_for(record.id, AlertState::Acknowledged).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while location.requests.lock().unwrap().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "high accuracy was never released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*location.requests.lock().unwrap(), [true, false]);
}
