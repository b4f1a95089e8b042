//! A large attachment's resumable upload against one raw POST of the same bytes over
//! loopback.

use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use vigil_core::model::{Incident, Severity};
use vigil_core::{AttachmentFile, Config, Vigil};
use vigil_server::ServerConfig;

/// Size of the attached file, in bytes.
const FILE_BYTES: usize = 64 * 1024 * 1024;

pub async fn run(rounds: usize) {
    let mut vigil_rates = Vec::new();
    let mut sink_rates = Vec::new();
    let mut durable_rates = Vec::new();
    let mut sink_ratios = Vec::new();
    let mut durable_ratios = Vec::new();

    for _ in 0..rounds {
        let (vigil_rate, sealed) = vigil_upload_rate().await;
        let sink_rate = raw_post_rate(&sealed, false).await;
        let durable_rate = raw_post_rate(&sealed, true).await;
        vigil_rates.push(vigil_rate);
        sink_rates.push(sink_rate);
        durable_rates.push(durable_rate);
        sink_ratios.push(vigil_rate / sink_rate);
        durable_ratios.push(vigil_rate / durable_rate);
    }

    let median = crate::median;
    println!("upload: one {} MiB attachment per round, {rounds} rounds, medians", FILE_BYTES >> 20);
    println!(
        "  raw POST of the encrypted file, one request, to a sink that reads:   {:>6.0} MiB/s",
        median(sink_rates)
    );
    println!(
        "  raw POST of the encrypted file, one request, written and fsynced:    {:>6.0} MiB/s",
        median(durable_rates)
    );
    println!(
        "  Vigil sync_now: check, offer, 1 MiB pieces to the reference server:  {:>6.0} MiB/s",
        median(vigil_rates)
    );
    println!(
        "  ratio Vigil / raw POST to the sink:                                  {:>6.2}x",
        median(sink_ratios)
    );
    println!(
        "  ratio Vigil / raw POST written and fsynced:                          {:>6.2}x",
        median(durable_ratios)
    );
}

/// Captures an incident with a generated attachment and times the sync that uploads it.
/// Returns MiB of the encrypted stream per second, and that stream.
async fn vigil_upload_rate() -> (f64, Vec<u8>) {
    let folder = tempfile::tempdir().expect("failed to create a temp folder");
    let server_config = ServerConfig::new(folder.path().join("soc.db"), "bench").unwrap();
    let server = vigil_server::start(server_config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("failed to start the server");
    let config = Config::new("bench-device", "bench-guard", server.url(), "bench");
    let vigil = Vigil::open(folder.path().join("device.db"), config).expect("failed to open Vigil");

    let video = folder.path().join("clip.mp4");
    let content: Vec<u8> = (0..FILE_BYTES).map(|index| (index % 251) as u8).collect();
    std::fs::write(&video, &content).unwrap();
    let incident =
        Incident { category: "intrusion".into(), severity: Severity::High, text: "bench".into() };
    let file = AttachmentFile { path: video, media_type: "video/mp4".into() };
    let record = vigil.log_incident_with_attachments(incident, vec![file]).unwrap();
    let id = record.attachments[0].id;
    let sealed = std::fs::read(vigil.store().attachments_dir().join(format!("{id}.vgs"))).unwrap();

    let started = Instant::now();
    let summary = vigil.sync_now().await.expect("the sync must succeed");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(summary.counts.pending, 0);
    assert!(server.store().unwrap().attachment(id).unwrap().unwrap().complete);

    server.shutdown().await.unwrap();
    (mib(sealed.len()) / elapsed, sealed)
}

/// Posts the bytes in one request to a server that reads them, and with `durable` also
/// writes them to a file and syncs it, as the reference server does with each piece.
async fn raw_post_rate(sealed: &[u8], durable: bool) -> f64 {
    let folder = tempfile::tempdir().expect("failed to create a temp folder");
    let target = folder.path().join("upload.bin");
    let sink = Router::new()
        .route(
            "/sink",
            post(move |body: Bytes| async move {
                if durable {
                    tokio::task::spawn_blocking(move || {
                        use std::io::Write;

                        let mut file = std::fs::File::create(&target).unwrap();
                        file.write_all(&body).unwrap();
                        file.sync_data().unwrap();
                        body.len().to_string()
                    })
                    .await
                    .unwrap()
                } else {
                    body.len().to_string()
                }
            }),
        )
        .layer(DefaultBodyLimit::disable());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, sink).await });

    let client = reqwest::Client::new();
    let url = format!("http://{address}/sink");
    let body = sealed.to_vec();
    let started = Instant::now();
    let response = client
        .post(&url)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    response.bytes().await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();

    server.abort();
    mib(sealed.len()) / elapsed
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
