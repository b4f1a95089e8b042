//! Heartbeats from a device to the reference server on loopback, and the silent devices
//! the server lists.

mod panic_support;

use panic_support::{device_config, open_device, start_server};
use vigil_core::ProtectionState;
use vigil_core::model::AlertKind;
use vigil_core::{Clock, SystemClock};

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
