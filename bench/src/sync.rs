//! Catch-up sync of a queued backlog against posting the same bytes raw over loopback.

use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use vigil_core::model::{Fix, FixSource};
use vigil_core::protocol::PushRequest;
use vigil_core::{Config, ManualClock, Vigil};
use vigil_server::ServerConfig;

/// Records queued before each sync.
const RECORDS: usize = 10_000;

const T0: i64 = 1_764_806_400_000;

pub async fn run(rounds: usize) {
    let mut sync_rates = Vec::new();
    let mut raw_rates = Vec::new();
    let mut ratios = Vec::new();

    for _ in 0..rounds {
        let (sync_rate, batches) = vigil_sync_rate().await;
        let raw_rate = raw_post_rate(&batches).await;
        sync_rates.push(sync_rate);
        raw_rates.push(raw_rate);
        ratios.push(sync_rate / raw_rate);
    }

    println!("sync: {RECORDS} queued fix records per round, {rounds} rounds, medians");
    println!(
        "  raw POST of the same batch bodies to a sink on loopback: {:>8.0} records/s",
        crate::median(raw_rates)
    );
    println!(
        "  Vigil sync_now to the reference server on loopback:      {:>8.0} records/s",
        crate::median(sync_rates)
    );
    println!(
        "  ratio Vigil / raw (median of per-round ratios):          {:>8.2}x",
        crate::median(ratios)
    );
}

/// Syncs a backlog to a fresh reference server. Returns records per second and the batch
/// bodies that were sent, serialized as the device serializes them.
async fn vigil_sync_rate() -> (f64, Vec<Vec<u8>>) {
    let folder = tempfile::tempdir().expect("failed to create a temp folder");
    let server_config = ServerConfig {
        database: folder.path().join("soc.db"),
        enrollment_code: "bench".into(),
        sites: Vec::new(),
    };
    let server = vigil_server::start(server_config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("failed to start the server");

    let clock = ManualClock::new(T0);
    let config = Config::new("bench-device", "bench-guard", server.url(), "bench");
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
        .outbox_page(RECORDS, None)
        .unwrap()
        .chunks(batch_size)
        .map(|chunk| serde_json::to_vec(&PushRequest { records: chunk.to_vec() }).unwrap())
        .collect();

    let started = Instant::now();
    let summary = vigil.sync_now().await.expect("the sync must succeed");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(summary.counts.pending, 0);

    server.shutdown().await.unwrap();
    (RECORDS as f64 / elapsed, batches)
}

/// Posts the batch bodies, one request each, to a server that only reads them.
async fn raw_post_rate(batches: &[Vec<u8>]) -> f64 {
    let sink =
        Router::new().route("/sink", post(|body: Bytes| async move { body.len().to_string() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, sink).await });

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
