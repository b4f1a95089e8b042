//! Cancelling alerts with the guard's PIN, and the duress PIN, against the reference
//! server on loopback.

mod panic_support;

use std::time::Duration;

use panic_support::{PATIENCE, device_config, free_addr, open_device, start_server};
use vigil_core::Error;
use vigil_core::alert::AlertState;
use vigil_core::model::{AlertKind, RecordBody};
use vigil_server::{RunningServer, StoredAlert};

const CANCEL_PIN: &str = "2468";
const DURESS_PIN: &str = "1357";

/// Waits until the server's alerts satisfy `done`, and returns them.
async fn wait_for_alerts(
    server: &RunningServer,
    done: impl Fn(&[StoredAlert]) -> bool,
) -> Vec<StoredAlert> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let alerts = server.store().unwrap().alerts().unwrap();
        if done(&alerts) {
            return alerts;
        }
        assert!(tokio::time::Instant::now() < deadline, "the server never got there: {alerts:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_delivery_is_event() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let (device, recorder) = open_device(device_folder.path(), device_config(&server.url()));
    device.set_alert_pins(CANCEL_PIN, DURESS_PIN).unwrap();

    let record = device.raise_panic().unwrap();
    recorder.wait_for(record.id, AlertState::Delivered).await;
    let cancelled = device.cancel_alert(record.id, CANCEL_PIN).unwrap();

    assert_eq!(cancelled.state, AlertState::Cancelled);
    assert_eq!(recorder.wait_for(record.id, AlertState::Cancelled).await, cancelled);
    let alerts =
        wait_for_alerts(&server, |alerts| alerts.len() == 1 && alerts[0].cancelled_at_ms.is_some())
            .await;
    assert_eq!(alerts[0].record_id, record.id, "the alert is kept, not deleted");
    let on_server = server.store().unwrap().records_for_device("device-alert").unwrap();
    assert!(
        on_server
            .iter()
            .any(|stored| stored.body == RecordBody::AlertCancel { alert_id: record.id }),
        "{on_server:?}"
    );
    // The server commits the cancel record before the device applies its reply.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while device.store().sync_counts().unwrap().pending > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the cancel record stayed queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let again = device.cancel_alert(record.id, CANCEL_PIN);
    assert!(matches!(again, Err(Error::InvalidState(_))), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duress_pin_looks_like_cancel() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let (device, recorder) = open_device(device_folder.path(), device_config(&server.url()));
    device.set_alert_pins(CANCEL_PIN, DURESS_PIN).unwrap();

    let first = device.raise_panic().unwrap();
    let second = device.raise_panic().unwrap();
    recorder.wait_for(first.id, AlertState::Delivered).await;
    recorder.wait_for(second.id, AlertState::Delivered).await;
    let by_cancel = device.cancel_alert(first.id, CANCEL_PIN).unwrap();
    let by_duress = device.cancel_alert(second.id, DURESS_PIN).unwrap();

    // The phone shows the same result for both PINs.
    assert_eq!(by_duress.state, by_cancel.state);
    assert_eq!(by_duress.kind, by_cancel.kind);
    assert_eq!(recorder.states(first.id), recorder.states(second.id));
    assert_eq!(device.alert_status(second.id).unwrap().state, AlertState::Cancelled);

    // The SOC gets a duress alert and no cancel of the second alert.
    let alerts = wait_for_alerts(&server, |alerts| {
        alerts.len() == 3 && alerts.iter().any(|alert| alert.cancelled_at_ms.is_some())
    })
    .await;
    let on_server = server.store().unwrap().records_for_device("device-alert").unwrap();
    let duress: Vec<_> = on_server
        .iter()
        .filter(|stored| stored.body == RecordBody::Panic { alert: AlertKind::Duress })
        .collect();
    assert_eq!(duress.len(), 1, "{on_server:?}");
    let second_on_server = alerts.iter().find(|alert| alert.record_id == second.id).unwrap();
    assert_eq!(second_on_server.cancelled_at_ms, None);
    let first_on_server = alerts.iter().find(|alert| alert.record_id == first.id).unwrap();
    assert!(first_on_server.cancelled_at_ms.is_some());

    // The listener never hears of the duress alert.
    assert!(recorder.states(duress[0].id).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pin_keeps_alert_active() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let (device, recorder) = open_device(device_folder.path(), device_config(&server.url()));
    let record = device.raise_panic().unwrap();

    let no_pin = device.cancel_alert(record.id, CANCEL_PIN);
    assert!(matches!(no_pin, Err(Error::InvalidState(_))), "{no_pin:?}");
    device.set_alert_pins(CANCEL_PIN, DURESS_PIN).unwrap();
    let wrong = device.cancel_alert(record.id, "0000");
    assert!(
        matches!(&wrong, Err(Error::InvalidInput { field, .. }) if field == "pin"),
        "{wrong:?}"
    );

    recorder.wait_for(record.id, AlertState::Delivered).await;
    assert!(!recorder.states(record.id).contains(&AlertState::Cancelled));
    assert_eq!(server.store().unwrap().alerts().unwrap()[0].cancelled_at_ms, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_delivery_still_reaches_soc() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let addr = free_addr().await;
    let (device, recorder) =
        open_device(device_folder.path(), device_config(&format!("http://{addr}")));
    device.set_alert_pins(CANCEL_PIN, DURESS_PIN).unwrap();

    let record = device.raise_panic().unwrap();
    recorder.wait_for(record.id, AlertState::Sent).await;
    device.cancel_alert(record.id, CANCEL_PIN).unwrap();
    let server = start_server(server_folder.path(), addr).await;

    // The SOC gets the alert and its cancel, in whichever order they arrive.
    let alerts =
        wait_for_alerts(&server, |alerts| alerts.len() == 1 && alerts[0].cancelled_at_ms.is_some())
            .await;
    assert_eq!(alerts[0].record_id, record.id);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while device.alert_status(record.id).unwrap().delivered_at_ms.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the delivery was never recorded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(device.alert_status(record.id).unwrap().state, AlertState::Cancelled);
    assert_eq!(recorder.states(record.id).last(), Some(&AlertState::Cancelled));
}
