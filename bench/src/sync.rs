//! Catch-up sync of a queued backlog against posting the same bytes raw over loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vigil_core::crypto::{DeviceSigningKey, SocSealingKey};
use vigil_core::model::{Fix, FixSource};
use vigil_core::protocol::{DEVICE_CLOCK_HEADER, EnrollRequest, PushRequest};
use vigil_core::sync::{RequestSigner, SyncClient};
use vigil_core::time::{BootClock, DeviceClockSample, MonotonicClock};
use vigil_core::{Config, ManualClock, SystemClock, Vigil};
use vigil_server::ServerConfig;

/// The store setting that keeps the device key's PKCS #8 document, in base64url.
const DEVICE_SIGNING_KEY: &str = "device_signing_key";

/// The device's batches and keys, so the baseline can send them as the device would: the
/// SOC key opens their boxes and the device key signs the requests.
struct Device {
    batches: Vec<Vec<u8>>,
    sealing_key: Arc<SocSealingKey>,
    signing_key: Arc<DeviceSigningKey>,
}

/// Records queued before each sync.
const RECORDS: usize = 10_000;

const T0: i64 = 1_764_806_400_000;

pub async fn run(rounds: usize) {
    let mut sync_rates = Vec::new();
    let mut server_rates = Vec::new();
    let mut sink_rates = Vec::new();
    let mut server_ratios = Vec::new();
    let mut sink_ratios = Vec::new();

    for _ in 0..rounds {
        let (sync_rate, device) = vigil_sync_rate().await;
        let server_rate = raw_post_to_server_rate(&device).await;
        let sink_rate = raw_post_to_sink_rate(&device.batches).await;
        sync_rates.push(sync_rate);
        server_rates.push(server_rate);
        sink_rates.push(sink_rate);
        server_ratios.push(sync_rate / server_rate);
        sink_ratios.push(sync_rate / sink_rate);
    }

    let median = crate::median;
    println!("sync: {RECORDS} queued fix records per round, {rounds} rounds, medians");
    println!(
        "  raw POST of the same bodies to a fresh reference server: {:>8.0} records/s",
        median(server_rates)
    );
    println!(
        "  raw POST of the same bodies to a sink that only reads:   {:>8.0} records/s",
        median(sink_rates)
    );
    println!(
        "  Vigil sync_now to a fresh reference server:              {:>8.0} records/s",
        median(sync_rates)
    );
    println!(
        "  ratio Vigil / raw POST to the reference server:          {:>8.2}x",
        median(server_ratios)
    );
    println!(
        "  ratio Vigil / raw POST to the sink:                      {:>8.2}x",
        median(sink_ratios)
    );
}

/// Syncs a backlog to a fresh reference server. Returns records per second and the batch
/// bodies that were sent (sealed records, as the device sends them, before compression),
/// with the keys to send them again.
async fn vigil_sync_rate() -> (f64, Device) {
    let folder = tempfile::tempdir().expect("failed to create a temp folder");
    let sealing_key = Arc::new(SocSealingKey::generate().expect("a SOC key"));
    let server_config = ServerConfig {
        database: folder.path().join("soc.db"),
        sealing_key: sealing_key.clone(),
        enrollment_code: "bench".into(),
        sites: Vec::new(),
        tag_keys: Vec::new(),
        operator_token: None,
    };
    let server = vigil_server::start(server_config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("failed to start the server");

    let clock = ManualClock::new(T0);
    let mut config = Config::new("bench-device", "bench-guard", server.url(), "bench");
    config.soc_public_key = Some(URL_SAFE_NO_PAD.encode(sealing_key.public_key()));
    let batch_size = config.batch_size;
    let vigil = Vigil::open_with_clock(
        folder.path().join("device.db"),
        config,
        std::sync::Arc::new(clock.clone()),
    )
    .expect("failed to open Vigil");

    let fixes: Vec<Fix> = (0..RECORDS)
        .map(|second| Fix {
            latitude: 45.5 + second as f64 * 1e-5,
            longitude: -73.56,
            accuracy_m: 5.0,
            altitude_m: Some(30.0),
            speed_mps: Some(1.4),
            bearing_deg: Some(10.0),
            source: FixSource::Gnss,
            mock: false,
            fix_time_ms: T0 + second as i64 * 1000,
        })
        .collect();
    clock.set(T0 + RECORDS as i64 * 1000);
    vigil.record_fixes(fixes).unwrap();

    let batches: Vec<Vec<u8>> = vigil
        .store()
        .outbox_batch(RECORDS, usize::MAX)
        .unwrap()
        .chunks(batch_size)
        .map(|chunk| {
            let records = chunk
                .iter()
                .map(|record| record.sealed_record().expect("sealed at capture"))
                .collect();
            serde_json::to_vec(&PushRequest { records }).unwrap()
        })
        .collect();
    let pkcs8 = vigil.store().setting(DEVICE_SIGNING_KEY).unwrap().expect("a device key");
    let pkcs8 = URL_SAFE_NO_PAD.decode(pkcs8).expect("the stored key is base64url");
    let signing_key = Arc::new(DeviceSigningKey::from_pkcs8(&pkcs8).expect("a valid key"));

    let started = Instant::now();
    let summary = vigil.sync_now().await.expect("the sync must succeed");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(summary.counts.pending, 0);

    server.shutdown().await.unwrap();
    (RECORDS as f64 / elapsed, Device { batches, sealing_key, signing_key })
}

/// Posts the batch bodies, one request each, to a fresh reference server, which stores
/// them as it does for `sync_now`: this isolates the device side's cost. The requests are
/// signed with the device key, as every device request must be, and sent uncompressed.
async fn raw_post_to_server_rate(device: &Device) -> f64 {
    let folder = tempfile::tempdir().expect("failed to create a temp folder");
    let server_config = ServerConfig {
        database: folder.path().join("soc.db"),
        sealing_key: device.sealing_key.clone(),
        enrollment_code: "bench".into(),
        sites: Vec::new(),
        tag_keys: Vec::new(),
        operator_token: None,
    };
    let server = vigil_server::start(server_config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("failed to start the server");
    let client = SyncClient::new(&server.url(), Duration::from_secs(30)).unwrap();
    let enrollment = EnrollRequest {
        device_id: "bench-device".into(),
        guard_id: "bench-guard".into(),
        enrollment_code: "bench".into(),
        public_key: Some(URL_SAFE_NO_PAD.encode(device.signing_key.public_key())),
    };
    let token = client.enroll(&enrollment).await.unwrap().device_token;

    vigil_core::sync::install_default_crypto_provider();
    let http = reqwest::Client::new();
    let signer = RequestSigner::new(
        String::from("bench-device"),
        device.signing_key.clone(),
        Arc::new(SystemClock),
    );
    let url = format!("{}/v1/records", server.url());
    let started = Instant::now();
    for batch in &device.batches {
        // The same clock header as a sync sends, so the server corrects the same times.
        let reading = BootClock::new().reading().expect("Linux has CLOCK_BOOTTIME");
        let sample = DeviceClockSample {
            boot_id: reading.boot_id,
            since_boot_ms: reading.since_boot_ms,
            wall_ms: T0,
        };
        let mut request = http.post(&url).bearer_auth(&token);
        for (name, value) in signer.sign("POST", "/v1/records", batch).unwrap().pairs() {
            request = request.header(name, value);
        }
        let response = request
            .header("content-type", "application/json")
            .header(DEVICE_CLOCK_HEADER, serde_json::to_string(&sample).unwrap())
            .body(batch.clone())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();

    server.shutdown().await.unwrap();
    RECORDS as f64 / elapsed
}

/// Posts the batch bodies, one request each, to a server that only reads them: the cost
/// of the transport alone.
async fn raw_post_to_sink_rate(batches: &[Vec<u8>]) -> f64 {
    let sink =
        Router::new().route("/sink", post(|body: Bytes| async move { body.len().to_string() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, sink).await });

    vigil_core::sync::install_default_crypto_provider();
    let client = reqwest::Client::new();
    let url = format!("http://{address}/sink");
    let started = Instant::now();
    for batch in batches {
        let response = client
            .post(&url)
            .header("content-type", "application/json")
            .body(batch.clone())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        response.bytes().await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();

    server.abort();
    RECORDS as f64 / elapsed
}
