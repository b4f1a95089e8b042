//! A device synced to a real reference server on loopback over TLS, with real SQLite files
//! on both sides.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use vigil_core::model::{
    Checkpoint, CheckpointTag, Fix, FixSource, Incident, LatLon, ScanMethod, Severity, Site, Tour,
};
use vigil_core::store::SyncState;
use vigil_core::{Config, Error, ManualClock, Vigil};
use vigil_server::{DevCertificate, RunningServer, ServerConfig, ServerTls};
use vigil_tests::signer::device_signer;

const CODE: &str = "enroll-me";
const T0: i64 = 1_764_806_400_000;

fn site() -> Site {
    Site {
        id: "yard".into(),
        name: "Yard".into(),
        perimeter: vec![
            LatLon { latitude: -23.551, longitude: -46.634 },
            LatLon { latitude: -23.549, longitude: -46.634 },
            LatLon { latitude: -23.549, longitude: -46.632 },
            LatLon { latitude: -23.551, longitude: -46.632 },
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
        tours: vec![Tour {
            id: "round".into(),
            name: "Round".into(),
            checkpoint_ids: vec!["pump".into()],
            ordered: true,
            every_minutes: 30,
            timing: Default::default(),
        }],
        revision: 1,
    }
}

/// Returns the development certificate of this test run. It is shared, so a restarted
/// server presents the same one.
fn certificate() -> &'static DevCertificate {
    static CERTIFICATE: OnceLock<DevCertificate> = OnceLock::new();
    CERTIFICATE.get_or_init(|| vigil_server::generate_dev_certificate(&["127.0.0.1"]).unwrap())
}

async fn start_server(folder: &tempfile::TempDir, addr: SocketAddr) -> RunningServer {
    let config = ServerConfig {
        sites: vec![site()],
        ..ServerConfig::new(folder.path().join("soc.db"), CODE).unwrap()
    };
    let certificate = certificate();
    let tls = ServerTls::from_pem(certificate.chain_pem.as_bytes(), certificate.key_pem.as_bytes())
        .unwrap();
    vigil_server::start_with_tls(config, addr, Some(tls))
        .await
        .expect("the reference server must start")
}

fn open_device(folder: &tempfile::TempDir, url: &str, clock: &ManualClock) -> Vigil {
    let mut config = Config::new("device-e2e", "guard-e2e", url, CODE);
    config.tls.ca_certificates_pem = Some(certificate().ca_pem.clone());
    config.retry_base_delay_ms = 10;
    config.sync_attempts = 2;
    config.request_timeout_ms = 3_000;
    config.batch_size = 100;
    Vigil::open_with_clock(folder.path().join("device.db"), config, Arc::new(clock.clone()))
        .expect("the device store must open")
}

fn fix(metres_north: f64, time_ms: i64) -> Fix {
    Fix {
        latitude: -23.5500 + metres_north / 111_195.0,
        longitude: -46.6330,
        accuracy_m: 6.0,
        altitude_m: None,
        speed_mps: Some(1.3),
        bearing_deg: None,
        source: FixSource::Fused,
        mock: false,
        fix_time_ms: time_ms,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_reaches_server_exactly_once() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(&server_folder, "127.0.0.1:0".parse().unwrap()).await;
    let clock = ManualClock::new(T0);
    let device = open_device(&device_folder, &server.url(), &clock);

    let first = device.sync_now().await.unwrap();
    assert_eq!(first.sites_received, 1, "the site must be pulled");

    device.start_shift(Some("yard".into())).unwrap();
    let walk: Vec<Fix> =
        (0..500).map(|second| fix(second as f64 * 0.01, T0 + second * 1000)).collect();
    clock.advance(499_000);
    device.record_fixes(walk).unwrap();
    let check_in = device.scan_checkpoint(ScanMethod::Qr, "yard/pump").unwrap();
    assert!(check_in.verification.accepted, "{:?}", check_in.verification);
    device
        .log_incident(Incident {
            category: "leak".into(),
            severity: Severity::Medium,
            text: "Oil under pump".into(),
        })
        .unwrap();
    let panic = device.raise_panic_and_send().await.unwrap();
    assert!(panic.delivered_at_ms.is_some(), "the panic must be delivered at once");
    device.end_shift().unwrap();

    let summary = device.sync_now().await.unwrap();
    assert_eq!(summary.counts.pending, 0);
    // Syncing again sends nothing: every record left the outbox at its acknowledgement.
    let again = device.sync_now().await.unwrap();
    assert_eq!(again.acknowledged, 0);

    let store = server.store().unwrap();
    let on_server = store.records_for_device("device-e2e").unwrap();
    let captured = device.store().sync_counts().unwrap().captured;
    assert_eq!(on_server.len() as u64, captured);
    let seqs: Vec<u64> = on_server.iter().map(|record| record.seq).collect();
    assert_eq!(seqs, (1..=captured).collect::<Vec<_>>(), "every record once, in order");
    assert!(store.duplicate_seqs().unwrap().is_empty());
    assert_eq!(store.alerts().unwrap().len(), 1);

    let report = device.shift_report().unwrap();
    assert_eq!(report.checkpoints_visited, vec!["pump".to_string()]);
    assert_eq!(report.pending, 0);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_continues_while_server_is_down() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(&server_folder, "127.0.0.1:0".parse().unwrap()).await;
    let addr = server.addr();
    let clock = ManualClock::new(T0);
    let device = open_device(&device_folder, &server.url(), &clock);
    device.sync_now().await.unwrap();
    device.start_shift(Some("yard".into())).unwrap();
    server.shutdown().await.unwrap();

    let incident = device
        .log_incident(Incident {
            category: "fire".into(),
            severity: Severity::Critical,
            text: "Smoke".into(),
        })
        .unwrap();
    let panic = device.raise_panic_and_send().await.unwrap();
    assert_eq!(panic.delivered_at_ms, None);
    let error = device.sync_now().await.unwrap_err();
    assert!(matches!(error, Error::Offline(_)), "{error:?}");
    assert_eq!(device.store().record(incident.id).unwrap().1, SyncState::Stored);

    let server = start_server(&server_folder, addr).await;
    let summary = device.sync_now().await.unwrap();
    assert_eq!(summary.panics_delivered, 1);
    assert_eq!(summary.counts.pending, 0);
    assert_eq!(device.store().record(incident.id).unwrap().1, SyncState::Acknowledged);
    let on_server = server.store().unwrap().records_for_device("device-e2e").unwrap();
    assert_eq!(on_server.len(), 3, "shift start, incident and panic");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_acknowledgement_is_resent_without_duplicate() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(&server_folder, "127.0.0.1:0".parse().unwrap()).await;
    let clock = ManualClock::new(T0);
    let device = open_device(&device_folder, &server.url(), &clock);
    device.sync_now().await.unwrap();
    let stored = device
        .log_incident(Incident {
            category: "theft".into(),
            severity: Severity::Low,
            text: "Bike".into(),
        })
        .unwrap();

    // The server stores the batch but the device never sees the reply: simulate it by
    // pushing the same record straight from a second client, then syncing normally.
    let token = device.store().setting("device_token").unwrap().unwrap();
    let tls = device.config().tls.clone();
    let client =
        vigil_core::sync::SyncClient::with_tls(&server.url(), Duration::from_secs(3), &tls)
            .unwrap()
            .with_signer(device_signer(&device, Arc::new(clock.clone())));
    let queued = device.store().queued_records(&[stored.id]).unwrap();
    let sealed = queued[0].sealed_record().expect("sealed and signed at capture");
    let request = vigil_core::protocol::PushRequest { records: vec![sealed] };
    let reply = client.push(&token, &request).await.unwrap();
    assert_eq!(reply.acked, vec![stored.id]);

    let summary = device.sync_now().await.unwrap();
    assert_eq!(summary.acknowledged, 1, "the resend is acknowledged again");
    assert_eq!(server.store().unwrap().records_for_device("device-e2e").unwrap().len(), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_enrollment_code_is_a_server_error() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(&server_folder, "127.0.0.1:0".parse().unwrap()).await;
    let clock = ManualClock::new(T0);
    let mut config = Config::new("device-x", "guard-x", server.url(), "not-the-code");
    config.tls.ca_certificates_pem = Some(certificate().ca_pem.clone());
    config.sync_attempts = 1;
    let device = Vigil::open_with_clock(
        device_folder.path().join("device.db"),
        config,
        Arc::new(clock.clone()),
    )
    .unwrap();
    device.raise_panic().unwrap();

    let error = device.sync_now().await.unwrap_err();
    assert!(matches!(error, Error::Server { status: 401 | 403, .. }), "{error:?}");
    assert_eq!(device.store().sync_counts().unwrap().pending_panics, 1);
    server.shutdown().await.unwrap();
}
