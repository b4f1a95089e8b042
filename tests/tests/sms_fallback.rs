//! The SMS fallback of panic alerts, against the reference server on loopback: the SMS the
//! shell is asked to send when the server is down, its verification at the SOC, and the
//! data path that still delivers the alert afterwards.

mod panic_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use panic_support::{PATIENCE, device_config, open_device, start_server};
use vigil_core::alert::AlertState;
use vigil_core::alert::SmsSender;
use vigil_core::model::AlertKind;
use vigil_server::ServerError;

/// A fake SMS and phone service that keeps every request.
#[derive(Default)]
struct FakeSms {
    messages: Mutex<Vec<(String, String, Instant)>>,
    calls: Mutex<Vec<String>>,
}

impl SmsSender for FakeSms {
    fn send_sms(&self, number: String, text: String) {
        self.messages.lock().unwrap().push((number, text, Instant::now()));
    }

    fn place_call(&self, number: String) {
        self.calls.lock().unwrap().push(number);
    }
}

impl FakeSms {
    async fn wait_for_message(&self) -> (String, String, Instant) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(message) = self.messages.lock().unwrap().first().cloned() {
                return message;
            }
            assert!(Instant::now() < deadline, "no SMS was requested within {PATIENCE:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_sends_verifiable_sms() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let addr = server.addr();
    let mut config = device_config(&server.url());
    config.sms_fallback_after_ms = 400;
    config.sms_fallback_number = Some("+15550100".into());
    config.sms_fallback_call = true;
    let (device, recorder) = open_device(device_folder.path(), config);
    let sms = Arc::new(FakeSms::default());
    device.set_sms_sender(Some(sms.clone()));

    // Enrolling registers the device's public key, then the server goes down.
    device.sync_now().await.unwrap();
    let database = server.database().to_path_buf();
    server.shutdown().await.unwrap();

    let raised = Instant::now();
    let record = device.raise_alert(AlertKind::Panic).unwrap().0;
    let (number, text, requested) = sms.wait_for_message().await;
    assert_eq!(number, "+15550100");
    assert!(requested - raised >= Duration::from_millis(400), "SMS before the delay");
    assert!(text.len() <= 160, "{} chars: {text}", text.len());
    // The call is placed right after the SMS, so wait for it.
    let deadline = Instant::now() + PATIENCE;
    while sms.calls.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sms.calls.lock().unwrap().as_slice(), ["+15550100".to_string()]);
    assert_eq!(device.alert_status(record.id).unwrap().state, AlertState::Sent);

    let store = vigil_server::ServerStore::open(&database).unwrap();
    let verified = store.verify_sms(&text).unwrap();
    assert_eq!(verified.device_id, "device-alert");
    assert_eq!(verified.guard_id, "guard-alert");
    assert_eq!(verified.alert.kind, AlertKind::Panic);
    assert_eq!(verified.alert.captured_at_s, record.captured_at_ms / 1_000);
    let tampered = text.replacen(" P ", " C ", 1);
    assert!(matches!(store.verify_sms(&tampered), Err(ServerError::SmsRejected(_))));
    drop(store);

    // The server comes back: the alert still goes through the data path, with no second SMS.
    let server = start_server(server_folder.path(), addr).await;
    recorder.wait_for(record.id, AlertState::Delivered).await;
    assert_eq!(server.store().unwrap().alerts().unwrap().len(), 1);
    assert_eq!(sms.messages.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_alert_sends_no_sms() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(server_folder.path(), "127.0.0.1:0".parse().unwrap()).await;
    let mut config = device_config(&server.url());
    config.sms_fallback_after_ms = 200;
    config.sms_fallback_number = Some("+15550100".into());
    let (device, recorder) = open_device(device_folder.path(), config);
    let sms = Arc::new(FakeSms::default());
    device.set_sms_sender(Some(sms.clone()));

    let record = device.raise_alert(AlertKind::Panic).unwrap().0;
    recorder.wait_for(record.id, AlertState::Delivered).await;
    tokio::time::sleep(Duration::from_millis(600)).await;

    assert!(sms.messages.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duress_sms_places_no_call() {
    let device_folder = tempfile::tempdir().unwrap();
    let addr = panic_support::free_addr().await;
    let mut config = device_config(&format!("http://{addr}"));
    config.sms_fallback_after_ms = 100;
    config.sms_fallback_number = Some("+15550100".into());
    config.sms_fallback_call = true;
    let (device, _recorder) = open_device(device_folder.path(), config);
    let sms = Arc::new(FakeSms::default());
    device.set_sms_sender(Some(sms.clone()));

    device.raise_alert(AlertKind::Duress).unwrap();
    let (_, text, _) = sms.wait_for_message().await;

    assert!(text.split(' ').nth(2) == Some("D"), "{text}");
    assert!(sms.calls.lock().unwrap().is_empty());
}

/// Opens the device with a manual wall clock and boot clock, with its SMS sender and alert
/// lane.
fn open_with_clocks(
    folder: &std::path::Path,
    config: vigil_core::Config,
    wall: &vigil_core::ManualClock,
    boot: &Arc<vigil_core::time::ManualMonotonic>,
) -> (vigil_core::Vigil, Arc<FakeSms>) {
    let path = folder.join("device.db");
    let device =
        vigil_core::Vigil::open_with_clocks(path, config, Arc::new(wall.clone()), boot.clone())
            .unwrap();
    let sms = Arc::new(FakeSms::default());
    device.set_sms_sender(Some(sms.clone()));
    device.start_alert_lane(&tokio::runtime::Handle::current());
    (device, sms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_deadline_survives_restart() {
    const DELAY_MS: u64 = 60_000;
    let device_folder = tempfile::tempdir().unwrap();
    let addr = panic_support::free_addr().await;
    let mut config = device_config(&format!("http://{addr}"));
    config.sms_fallback_after_ms = DELAY_MS;
    config.sms_fallback_number = Some("+15550100".into());
    let wall = vigil_core::ManualClock::new(1_764_806_400_000);
    let boot = Arc::new(vigil_core::time::ManualMonotonic::new("boot-1", 1_000));

    let (device, sms) = open_with_clocks(device_folder.path(), config.clone(), &wall, &boot);
    let record = device.raise_alert(AlertKind::Panic).unwrap().0;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sms.messages.lock().unwrap().is_empty(), "SMS long before the delay");
    drop(device);

    // The app is killed and reopened 57 s after the alert by the boot clock, while the
    // wall clock was set back a day: 3 s of the delay remain.
    boot.advance(57_000);
    wall.advance(-86_400_000);
    let reopened = Instant::now();
    let (device, sms) = open_with_clocks(device_folder.path(), config, &wall, &boot);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(sms.messages.lock().unwrap().is_empty(), "SMS before the original deadline");

    // A delay started again at the reopen would take 60 s; the patience is 30 s.
    let deadline = reopened + Duration::from_secs(30);
    while sms.messages.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no SMS within 30 s of the reopen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, text, _) = sms.messages.lock().unwrap()[0].clone();
    assert!(text.split(' ').nth(2) == Some("P"), "{text}");
    assert_eq!(device.alert_status(record.id).unwrap().state, AlertState::Sent);
}
