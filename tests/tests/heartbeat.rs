//! Heartbeats from a device to the reference server on loopback, and the silent devices
//! the server lists.

mod panic_support;

use std::time::Duration;

use panic_support::{PATIENCE, device_config, open_device, start_server};
use vigil_core::model::AlertKind;
use vigil_core::{Clock, SystemClock};
use vigil_core::{HeartbeatPolicy, ProtectionState};
use vigil_server::RunningServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_stored_then_device_silent() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let (device, _recorder) = open_device(device_folder.path(), device_config(&server.url()));

    let state = ProtectionState { location_permission: false, battery_percent: Some(42) };
    device.send_heartbeat(state).await.unwrap();

    let store = server.store().unwrap();
    let now = SystemClock.now_ms();
    let listed = store.device_heartbeats(now, 180_000).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].device_id, "device-alert");
    assert!(!listed[0].silent);
    assert!(!listed[0].heartbeat.location_permission);
    assert_eq!(listed[0].heartbeat.battery_percent, Some(42));
    assert_eq!(listed[0].heartbeat.last_fix_age_ms, None);
    assert_eq!(listed[0].heartbeat.pending_alerts, 0);

    // 181 s later with no heartbeat, the device is silent.
    let later = store.device_heartbeats(now + 181_000, 180_000).unwrap();
    assert!(later[0].silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_counts_pending_alerts() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    // No alert lane runs, so the raised alert stays pending on the device.
    let device =
        vigil_core::Vigil::open(device_folder.path().join("d.db"), device_config(&server.url()))
            .unwrap();
    device.raise_alert(AlertKind::Panic).unwrap();

    let state = ProtectionState { location_permission: true, battery_percent: None };
    device.send_heartbeat(state).await.unwrap();

    let listed = server.store().unwrap().device_heartbeats(SystemClock.now_ms(), 180_000).unwrap();
    assert_eq!(listed[0].heartbeat.pending_alerts, 1);
    assert!(listed[0].heartbeat.location_permission);

    let bad = ProtectionState { location_permission: true, battery_percent: Some(101) };
    assert!(matches!(
        device.send_heartbeat(bad).await,
        Err(vigil_core::Error::InvalidInput { .. })
    ));
}

/// The silence limit of the server in the scheduling tests, in milliseconds.
const SILENT_AFTER_MS: i64 = 600;

/// Returns whether the server lists the device as silent now, or `None` before its first
/// heartbeat.
fn silent(server: &RunningServer) -> Option<bool> {
    let listed =
        server.store().unwrap().device_heartbeats(SystemClock.now_ms(), SILENT_AFTER_MS).unwrap();
    listed.first().map(|device| device.silent)
}

/// Waits until the server lists the device as `expected`, or fails after the patience.
async fn wait_until_silent_is(server: &RunningServer, expected: bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while silent(server) != Some(expected) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never listed the device as silent = {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Returns when the server received the device's latest heartbeat.
fn received_at_ms(server: &RunningServer) -> i64 {
    let listed = server.store().unwrap().device_heartbeats(SystemClock.now_ms(), 1).unwrap();
    listed[0].received_at_ms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_heartbeats_silence_and_return() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let (device, _recorder) = open_device(device_folder.path(), device_config(&server.url()));
    let policy = HeartbeatPolicy { interval_ms: 100, alert_interval_ms: 50 };
    device.start_heartbeats(&tokio::runtime::Handle::current(), policy).unwrap();

    // Nothing is sent before the shell supplies the protection state.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(silent(&server), None);
    let state = ProtectionState { location_permission: true, battery_percent: Some(80) };
    device.set_protection_state(state).unwrap();
    wait_until_silent_is(&server, false).await;
    let listed = server.store().unwrap().device_heartbeats(SystemClock.now_ms(), 180_000).unwrap();
    assert_eq!(listed[0].heartbeat.battery_percent, Some(80));
    assert!(listed[0].heartbeat.location_permission);

    // Paused, the device sends nothing, and the server marks it silent.
    device.pause().unwrap();
    wait_until_silent_is(&server, true).await;
    device.resume().unwrap();
    wait_until_silent_is(&server, false).await;

    // Stopped, the device goes silent again, and started again, it comes back.
    device.stop_heartbeats();
    wait_until_silent_is(&server, true).await;
    device.start_heartbeats(&tokio::runtime::Handle::current(), policy).unwrap();
    wait_until_silent_is(&server, false).await;

    // Dropped, the device goes silent for good.
    drop(device);
    wait_until_silent_is(&server, true).await;
    let last = received_at_ms(&server);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(received_at_ms(&server), last, "no heartbeat after the drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_faster_during_alert() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let (device, recorder) = open_device(device_folder.path(), device_config(&server.url()));
    // The normal interval is far longer than the test, so only the alert interval can
    // explain a second heartbeat.
    let policy = HeartbeatPolicy { interval_ms: 600_000, alert_interval_ms: 50 };
    device.start_heartbeats(&tokio::runtime::Handle::current(), policy).unwrap();
    let state = ProtectionState { location_permission: true, battery_percent: None };
    device.set_protection_state(state).unwrap();
    wait_until_silent_is(&server, false).await;
    let first = received_at_ms(&server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received_at_ms(&server), first, "one heartbeat per interval without an alert");

    let record = device.raise_panic().unwrap();
    recorder.wait_for(record.id, vigil_core::alert::AlertState::Delivered).await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while received_at_ms(&server) == first {
        assert!(tokio::time::Instant::now() < deadline, "no heartbeat during the alert");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let bad = ProtectionState { location_permission: true, battery_percent: Some(101) };
    assert!(matches!(
        device.set_protection_state(bad),
        Err(vigil_core::Error::InvalidInput { .. })
    ));
    let zero = HeartbeatPolicy { interval_ms: 0, alert_interval_ms: 50 };
    assert!(device.start_heartbeats(&tokio::runtime::Handle::current(), zero).is_err());
}
