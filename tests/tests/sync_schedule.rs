//! When sync retries and stops: `Retry-After`, time budgets and network-change hints, on
//! 127.0.0.1 through the fault-injecting proxy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vigil_core::crypto::DeviceSigningKey;
use vigil_core::evidence::seal_record;
use vigil_core::model::{Fix, FixSource, Incident, RecordBody, Severity};
use vigil_core::protocol::PushRequest;
use vigil_core::store::SyncState;
use vigil_core::sync::SyncClient;
use vigil_core::{Config, Error, ManualClock, SystemClock, Vigil};
use vigil_server::{RunningServer, ServerConfig};
use vigil_tests::chaos::{ChaosProxy, Fault, FaultPlan};
use vigil_tests::signer::device_signer;

const CODE: &str = "enroll-me";
const DEVICE: &str = "device-schedule";
const T0: i64 = 1_764_806_400_000;

async fn start_server(folder: &tempfile::TempDir, addr: SocketAddr) -> RunningServer {
    let config = ServerConfig::new(folder.path().join("soc.db"), CODE).unwrap();
    vigil_server::start(config, addr).await.expect("the reference server must start")
}

fn open_device(
    folder: &tempfile::TempDir,
    url: &str,
    configure: impl FnOnce(&mut Config),
) -> Vigil {
    let mut config = Config::new(DEVICE, "guard-schedule", url, CODE);
    config.retry_base_delay_ms = 1;
    config.request_timeout_ms = 5_000;
    // Store every fix, so each test knows how many records it queued.
    config.storage_rate.max_interval_ms = 0;
    configure(&mut config);
    let clock = Arc::new(ManualClock::new(T0));
    Vigil::open_with_clock(folder.path().join("device.db"), config, clock).unwrap()
}

fn capture_fixes(device: &Vigil, count: usize) {
    let fixes = (0..count)
        .map(|index| Fix {
            latitude: -23.55 + index as f64 * 0.000_01,
            longitude: -46.63,
            accuracy_m: 5.0,
            altitude_m: None,
            speed_mps: None,
            bearing_deg: None,
            source: FixSource::Gnss,
            mock: false,
            fix_time_ms: T0 + index as i64 * 1_000,
        })
        .collect();
    device.record_fixes(fixes).unwrap();
}

fn throttled_connections(proxy: &ChaosProxy) -> u64 {
    proxy.fault_counts().iter().find(|(fault, _)| *fault == Fault::Status429).unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_waits_for_retry_after() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(&server_folder, "127.0.0.1:0".parse().unwrap()).await;
    let proxy = Arc::new(ChaosProxy::start(server.addr(), FaultPlan::throttled(1), 7).await);
    let device = open_device(&device_folder, &proxy.url(), |config| config.sync_attempts = 3);
    capture_fixes(&device, 10);

    // Lift the throttle as soon as the first request was refused.
    let lifting = {
        let proxy = Arc::clone(&proxy);
        tokio::spawn(async move {
            while throttled_connections(&proxy) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            proxy.set_plan(FaultPlan::healthy());
        })
    };
    let started = Instant::now();
    let summary = device.sync_now().await.unwrap();
    let waited = started.elapsed();
    lifting.await.unwrap();

    assert_eq!(summary.acknowledged, 10);
    assert_eq!(throttled_connections(&proxy), 1, "one refusal, then the retry went through");
    // With a 1 ms backoff, only the server's `Retry-After: 1` explains a wait this long.
    assert!(waited >= Duration::from_millis(950), "retried after {waited:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_retry_after_ends_sync_without_waiting() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(&server_folder, "127.0.0.1:0".parse().unwrap()).await;
    let proxy = ChaosProxy::start(server.addr(), FaultPlan::throttled(3_600), 7).await;
    let device = open_device(&device_folder, &proxy.url(), |config| config.sync_attempts = 5);
    capture_fixes(&device, 10);

    let error = device.sync_now().await.unwrap_err();

    assert!(
        matches!(error, Error::Server { status: 429, retry_after_ms: Some(3_600_000), .. }),
        "{error:?}"
    );
    assert_eq!(throttled_connections(&proxy), 1, "no retry before the server's hour is up");
    assert_eq!(device.store().sync_counts().unwrap().pending, 10);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spent_budget_stops_sync_cleanly() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(&server_folder, "127.0.0.1:0".parse().unwrap()).await;
    let device = open_device(&device_folder, &server.url(), |config| config.batch_size = 10);
    device.sync_now().await.unwrap();
    capture_fixes(&device, 500);

    let nothing = device.sync_within(Duration::ZERO).await.unwrap();
    assert_eq!(nothing.acknowledged, 0, "no budget, no batch");
    assert_eq!(nothing.counts.pending, 500);

    let some = device.sync_within(Duration::from_millis(30)).await.unwrap();
    let on_server = server.store().unwrap().records_for_device(DEVICE).unwrap().len() as u64;
    assert_eq!(on_server, some.acknowledged, "every batch sent was acknowledged");
    assert_eq!(some.counts.pending, 500 - some.acknowledged);

    let rest = device.sync_within(Duration::from_secs(600)).await.unwrap();
    assert_eq!(rest.counts.pending, 0);
    assert_eq!(server.store().unwrap().records_for_device(DEVICE).unwrap().len(), 500);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_change_ends_retry_wait() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    // Reserve a port, then leave it closed so the first attempt fails.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{addr}");
    let device = open_device(&device_folder, &url, |config| {
        config.sync_attempts = 2;
        // The first retry would wait between 10 and 20 s.
        config.retry_base_delay_ms = 20_000;
    });
    capture_fixes(&device, 10);
    assert!(!device.network_changed(), "no sync is running yet");

    let syncing = {
        let device = device.clone();
        tokio::spawn(async move { device.sync_now().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server = start_server(&server_folder, addr).await;
    assert!(device.network_changed(), "the sync is waiting to retry");

    let summary = tokio::time::timeout(Duration::from_secs(8), syncing)
        .await
        .expect("the hint must end the retry wait")
        .unwrap()
        .unwrap();
    assert_eq!(summary.acknowledged, 10);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_panic_does_not_block_outbox() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(&server_folder, "127.0.0.1:0".parse().unwrap()).await;
    let device = open_device(&device_folder, &server.url(), |_| {});
    device.sync_now().await.unwrap();
    let alert = device.raise_panic().unwrap();
    capture_fixes(&device, 10);

    // The server already holds another record under the alert's id, so it will reject
    // the alert as an id conflict on every lane.
    let token = device.store().setting("device_token").unwrap().unwrap();
    let client = SyncClient::new(&server.url(), Duration::from_secs(5))
        .unwrap()
        .with_signer(device_signer(&device, Arc::new(SystemClock)));
    let mut impostor = alert.clone();
    impostor.captured_at_ms += 1;
    // Far from the device's seqs, so that only the alert meets the impostor and the chain
    // links of the records behind it stay intact.
    impostor.seq += 1_000;
    impostor.body = RecordBody::Incident(Incident {
        category: "other".into(),
        severity: Severity::Low,
        text: "Same id, other content".into(),
    });
    // Signed with the device's own key, so only the changed content is wrong.
    let stored_key = device.store().setting("device_signing_key").unwrap().unwrap();
    let key = DeviceSigningKey::from_pkcs8(&URL_SAFE_NO_PAD.decode(stored_key).unwrap()).unwrap();
    let soc_key = device.store().setting("soc_public_key").unwrap().unwrap();
    let soc_key = URL_SAFE_NO_PAD.decode(soc_key).unwrap();
    let canonical = serde_json::to_vec(&impostor).unwrap();
    let sealed = seal_record(impostor.id, impostor.seq, &canonical, &key, &soc_key).unwrap();
    client.push(&token, &PushRequest { records: vec![sealed] }).await.unwrap();

    let summary = device.sync_now().await.unwrap();

    assert_eq!(summary.panics_delivered, 0);
    assert_eq!(summary.rejected, 1);
    assert_eq!(summary.acknowledged, 10, "the records behind the alert went through");
    assert_eq!(summary.counts.pending, 0);
    assert_eq!(device.store().record(alert.id).unwrap().1, SyncState::Rejected);
    server.shutdown().await.unwrap();
}
