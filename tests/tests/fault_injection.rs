//! Sync through a proxy that breaks the network on purpose, on 127.0.0.1.
//!
//! Each run captures 10,000 records while syncing through a [`ChaosProxy`] that resets
//! connections mid-request and mid-response, drops replies after the server processed the
//! request, replies 500 and 429, and adds latency, while the server is restarted at random
//! moments. At the end the server must hold exactly the records the device captured: none
//! missing, none twice, each with the content and sequence number the device gave it.
//!
//! `VIGIL_FAULT_RUNS` sets the number of runs (default 3) and `VIGIL_FAULT_SEED` the seed
//! of the first one (default fixed); a failure prints the seed that reproduces it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use vigil_core::model::{Fix, FixSource, Incident, Record, Severity};
use vigil_core::store::SyncState;
use vigil_core::{Clock, Config, ManualClock, Vigil};
use vigil_server::{RunningServer, ServerConfig};
use vigil_tests::chaos::{ChaosProxy, FaultPlan};
use vigil_tests::rng::Rng;

const CODE: &str = "enroll-me";
const DEVICE: &str = "device-chaos";
const T0: i64 = 1_764_806_400_000;
const RECORDS: usize = 10_000;

/// Upper bound on `sync_now` calls after capture ends; a run that needs more has stopped
/// making progress.
const MAX_FINAL_SYNCS: usize = 500;

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value.parse().unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

fn faulty_plan() -> FaultPlan {
    FaultPlan {
        // None, reset mid-request, reset mid-response, lost reply, 500, 500 after
        // processing, 429.
        weights: [1, 2, 2, 3, 1, 2, 1],
        max_trigger_bytes: 40_000,
        max_latency_ms: 3,
        retry_after_s: 0,
    }
}

async fn start_server(folder: &tempfile::TempDir, addr: SocketAddr) -> RunningServer {
    let config = ServerConfig::new(folder.path().join("soc.db"), CODE).unwrap();
    vigil_server::start(config, addr).await.expect("the reference server must start")
}

fn open_device(folder: &tempfile::TempDir, url: &str, clock: &ManualClock, batch: usize) -> Vigil {
    let mut config = Config::new(DEVICE, "guard-chaos", url, CODE);
    config.retry_base_delay_ms = 1;
    config.sync_attempts = 3;
    config.request_timeout_ms = 5_000;
    config.batch_size = batch;
    // Store every fix, so the device holds exactly the records the test counts.
    config.storage_rate.max_interval_ms = 0;
    Vigil::open_with_clock(folder.path().join("device.db"), config, Arc::new(clock.clone()))
        .expect("the device store must open")
}

fn fix(index: usize, time_ms: i64) -> Fix {
    Fix {
        latitude: -23.5500 + (index % 500) as f64 * 0.000_01,
        longitude: -46.6330,
        accuracy_m: 6.0,
        altitude_m: None,
        speed_mps: Some(1.0),
        bearing_deg: None,
        source: FixSource::Fused,
        mock: false,
        fix_time_ms: time_ms,
    }
}

/// Captures at least `RECORDS` records in batches of random size, with incidents and
/// panic alerts among the fixes, and returns the number of panic alerts.
fn capture_shift(device: &Vigil, clock: &ManualClock, rng: &mut Rng) -> usize {
    device.start_shift(None).expect("start the shift");
    let mut captured = 1;
    let mut panics = 0;

    while captured < RECORDS - 1 {
        let size = (1 + rng.below(150) as usize).min(RECORDS - 1 - captured);
        let fixes = (0..size)
            .map(|offset| {
                clock.advance(1_000);
                fix(captured + offset, clock.now_ms())
            })
            .collect();
        device.record_fixes(fixes).expect("store fixes");
        captured += size;

        match rng.below(40) {
            0 if captured < RECORDS - 1 => {
                device.raise_panic().expect("store a panic alert");
                captured += 1;
                panics += 1;
            }
            1..=3 if captured < RECORDS - 1 => {
                let incident = Incident {
                    category: "door".into(),
                    severity: Severity::Low,
                    text: format!("Door {captured} open"),
                };
                device.log_incident(incident).expect("store an incident");
                captured += 1;
            }
            _ => {}
        }
        if rng.below(10) == 0 {
            std::thread::sleep(Duration::from_millis(rng.below(20)));
        }
    }

    device.end_shift().expect("end the shift");
    panics
}

/// Restarts the server behind the proxy at random moments until `stop` is set, and leaves
/// it running.
async fn restart_server_randomly(
    server: Arc<Mutex<Option<RunningServer>>>,
    folder: Arc<tempfile::TempDir>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    mut rng: Rng,
) -> usize {
    let mut restarts = 0;
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(200 + rng.below(800))).await;

        let mut slot = server.lock().await;
        if let Some(running) = slot.take() {
            running.shutdown_within(Duration::from_millis(rng.below(50))).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(rng.below(100))).await;
        *slot = Some(start_server(&folder, addr).await);
        restarts += 1;
    }
    restarts
}

/// Returns every record the device stored, in sequence order.
fn device_records(device: &Vigil) -> Vec<(Record, SyncState)> {
    let (shift_id, _) = device.store().latest_shift().unwrap().expect("a shift was recorded");
    let mut records = Vec::new();
    device
        .store()
        .for_each_in_shift(shift_id, |record, state| records.push((record, state)))
        .unwrap();
    records
}

async fn run_once(seed: u64) {
    let mut rng = Rng::new(seed);
    let server_folder = Arc::new(tempfile::tempdir().unwrap());
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(&server_folder, "127.0.0.1:0".parse().unwrap()).await;
    let addr = server.addr();
    let server = Arc::new(Mutex::new(Some(server)));
    let proxy = ChaosProxy::start(addr, faulty_plan(), rng.next_u64()).await;

    let clock = ManualClock::new(T0);
    let batch = 20 + rng.below(280) as usize;
    let device = open_device(&device_folder, &proxy.url(), &clock, batch);

    let stop = Arc::new(AtomicBool::new(false));
    let restarter = tokio::spawn(restart_server_randomly(
        Arc::clone(&server),
        Arc::clone(&server_folder),
        addr,
        Arc::clone(&stop),
        Rng::new(rng.next_u64()),
    ));
    let syncing = {
        let device = device.clone();
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut calls = 0;
            while !stop.load(Ordering::SeqCst) {
                let _ = device.sync_now().await;
                calls += 1;
            }
            calls
        })
    };

    let capture_rng = Rng::new(rng.next_u64());
    let capturing = {
        let device = device.clone();
        let clock = clock.clone();
        tokio::task::spawn_blocking(move || {
            capture_shift(&device, &clock, &mut capture_rng.clone())
        })
    };
    let panics = capturing.await.unwrap();
    stop.store(true, Ordering::SeqCst);
    let restarts = restarter.await.unwrap();
    let concurrent_syncs = syncing.await.unwrap();

    // The faults stay on: the device must finish through them.
    let mut final_syncs = 0;
    loop {
        final_syncs += 1;
        if let Ok(summary) = device.sync_now().await
            && summary.counts.pending == 0
        {
            break;
        }
        assert!(
            final_syncs < MAX_FINAL_SYNCS,
            "seed {seed}: the outbox did not drain after {MAX_FINAL_SYNCS} syncs: {:?}",
            device.store().sync_counts()
        );
    }

    let counts = device.store().sync_counts().unwrap();
    assert_eq!(counts.captured, RECORDS as u64, "seed {seed}: records captured");
    assert_eq!(counts.synced, RECORDS as u64, "seed {seed}: records acknowledged");
    assert_eq!(counts.rejected, 0, "seed {seed}: records rejected");

    let on_device = device_records(&device);
    assert_eq!(on_device.len(), RECORDS, "seed {seed}: records in the shift");
    for (record, state) in &on_device {
        assert_eq!(*state, SyncState::Acknowledged, "seed {seed}: record {}", record.seq);
    }

    let slot = server.lock().await;
    let store = slot.as_ref().unwrap().store().unwrap();
    let on_server = store.records_for_device(DEVICE).unwrap();
    assert!(store.duplicate_seqs().unwrap().is_empty(), "seed {seed}: duplicated seqs");
    assert_eq!(on_server.len(), RECORDS, "seed {seed}: records on the server");
    let seqs: Vec<u64> = on_server.iter().map(|record| record.seq).collect();
    assert_eq!(seqs, (1..=RECORDS as u64).collect::<Vec<_>>(), "seed {seed}: seqs on the server");
    for ((device_record, _), server_record) in on_device.iter().zip(&on_server) {
        assert_eq!(device_record, server_record, "seed {seed}: record {}", device_record.seq);
    }
    assert_eq!(store.alerts().unwrap().len(), panics, "seed {seed}: panic alerts");

    println!(
        "seed {seed}: batch {batch}, {restarts} server restarts, {concurrent_syncs} syncs during \
         capture, {final_syncs} after, faults per connection {:?}",
        proxy.fault_counts()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_through_faults_loses_and_duplicates_nothing() {
    let runs = env_number("VIGIL_FAULT_RUNS", 3);
    let first_seed = env_number("VIGIL_FAULT_SEED", 0x7631_6c69_6769_76);

    for run in 0..runs {
        run_once(first_seed.wrapping_add(run)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_without_faults_passes_everything() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let server = start_server(&server_folder, "127.0.0.1:0".parse().unwrap()).await;
    let proxy = ChaosProxy::start(server.addr(), FaultPlan::healthy(), 1).await;
    let clock = ManualClock::new(T0);
    let device = open_device(&device_folder, &proxy.url(), &clock, 100);

    device.start_shift(None).unwrap();
    device.record_fixes((0..300).map(|index| fix(index, T0 + index as i64)).collect()).unwrap();
    let summary = device.sync_now().await.unwrap();

    assert_eq!(summary.acknowledged, 301);
    assert_eq!(server.store().unwrap().records_for_device(DEVICE).unwrap().len(), 301);
    let faults: u64 = proxy.fault_counts().iter().skip(1).map(|(_, count)| count).sum();
    assert_eq!(faults, 0, "a healthy plan draws no fault");
    server.shutdown().await.unwrap();
}
