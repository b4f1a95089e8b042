//! `raise_panic_and_send` and panic records stored outside `raise_alert`: each alert is
//! posted once per send, and sync never fails on a panic record.

mod panic_support;

use std::time::Duration;

use panic_support::proxy::{FaultProxy, Faults};
use panic_support::{device_config, free_addr, open_device, start_server};
use vigil_core::alert::AlertState;
use vigil_core::model::{AlertKind, Location, NoFixReason, RecordBody};
use vigil_core::store::NewRecord;
use vigil_core::{Clock, SystemClock, Vigil};

const PANIC_POST: &[u8] = b"POST /v1/panic";

/// A resend interval long enough that the lane never resends during a test.
const NO_RESEND_MS: u64 = 600_000;

fn counting_faults() -> Faults {
    Faults { count_prefix: Some(PANIC_POST.to_vec()), ..Faults::default() }
}

fn panic_record(device: &Vigil) -> NewRecord {
    NewRecord {
        id: uuid::Uuid::now_v7(),
        device_id: device.config().device_id.clone(),
        guard_id: device.config().guard_id.clone(),
        shift_id: None,
        captured_at_ms: SystemClock.now_ms(),
        location: Location::NoFix { reason: NoFixReason::Unavailable },
        clock: None,
        attachments: Vec::new(),
        body: RecordBody::Panic { alert: AlertKind::Panic },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raise_and_send_posts_once_with_lane() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let proxy = FaultProxy::start(server.addr(), counting_faults()).await;
    let mut config = device_config(&proxy.url());
    config.alert_resend_interval_ms = NO_RESEND_MS;
    let (device, recorder) = open_device(device_folder.path(), config);

    let outcome = device.raise_panic_and_send().await.unwrap();

    let status = device.alert_status(outcome.record_id).unwrap();
    assert!(outcome.delivered_at_ms.is_some(), "{outcome:?}");
    assert_eq!(outcome.delivered_at_ms, status.delivered_at_ms);
    assert_eq!(status.state, AlertState::Delivered);
    assert_eq!(
        recorder.states(outcome.record_id),
        [AlertState::Stored, AlertState::Sent, AlertState::Delivered]
    );
    // A second send, had there been one, would have started with the first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(proxy.counted(), 1, "the alert must be posted once");
    assert_eq!(server.store().unwrap().alerts().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raise_and_send_without_lane() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let proxy = FaultProxy::start(server.addr(), counting_faults()).await;
    let device =
        Vigil::open(device_folder.path().join("device.db"), device_config(&proxy.url())).unwrap();

    let outcome = device.raise_panic_and_send().await.unwrap();

    assert!(outcome.delivered_at_ms.is_some(), "{outcome:?}");
    assert_eq!(device.alert_status(outcome.record_id).unwrap().state, AlertState::Delivered);
    assert_eq!(proxy.counted(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raise_and_send_server_down() {
    let device_folder = tempfile::tempdir().unwrap();
    let addr = free_addr().await;
    let (device, recorder) =
        open_device(device_folder.path(), device_config(&format!("http://{addr}")));

    let outcome = device.raise_panic_and_send().await.unwrap();

    assert_eq!(outcome.delivered_at_ms, None);
    let status = device.alert_status(outcome.record_id).unwrap();
    assert_eq!(status.state, AlertState::Sent, "the lane keeps the alert");
    assert_eq!(recorder.states(outcome.record_id)[..2], [AlertState::Stored, AlertState::Sent]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_panic_syncs_without_lane() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let device =
        Vigil::open(device_folder.path().join("device.db"), device_config(&server.url())).unwrap();
    let record = device.store().append(vec![panic_record(&device)]).unwrap().remove(0);

    let summary = device.sync_now().await.unwrap();

    assert_eq!(summary.panics_delivered, 1);
    assert_eq!(summary.counts.pending, 0);
    assert_eq!(device.alert_status(record.id).unwrap().state, AlertState::Delivered);
    assert_eq!(server.store().unwrap().alerts().unwrap()[0].record_id, record.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_panic_goes_on_lane() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let (device, recorder) = open_device(device_folder.path(), device_config(&server.url()));
    let record = device.store().append(vec![panic_record(&device)]).unwrap().remove(0);

    let summary = device.sync_now().await.unwrap();

    assert_eq!(summary.counts.pending, 0);
    recorder.wait_for(record.id, AlertState::Delivered).await;
    assert_eq!(server.store().unwrap().alerts().unwrap()[0].record_id, record.id);
}
