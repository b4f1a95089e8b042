//! A device process for the crash-loop test: it captures records and syncs them until it is
//! killed.
//!
//! Usage: `crash_worker DATABASE SERVER_URL SEED`. After each capture call returns, it
//! prints one `saved <record id>` line per stored record, so the test can tell which records
//! the device reported as saved before the kill. A background task runs `sync_now` in a
//! loop meanwhile.

use std::io::Write;
use std::time::Duration;

use vigil_core::model::{Fix, FixSource, Incident, Severity};
use vigil_core::{Config, FixOutcome, Vigil};
use vigil_tests::crash::{CODE, DEVICE};
use vigil_tests::rng::Rng;

fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    let [_, database, server_url, seed] = arguments.as_slice() else {
        eprintln!("usage: crash_worker DATABASE SERVER_URL SEED");
        std::process::exit(2);
    };
    let seed: u64 = seed.parse().expect("SEED must be a number");

    let mut config = Config::new(DEVICE, "guard-crash", server_url.as_str(), CODE);
    config.retry_base_delay_ms = 5;
    config.sync_attempts = 2;
    config.request_timeout_ms = 2_000;
    config.batch_size = 50;
    // Store every fix, so each capture call stores what it reports.
    config.storage_rate.max_interval_ms = 0;
    let device = Vigil::open(database, config).expect("open the device store");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("start the tokio runtime");
    let syncing = device.clone();
    runtime.spawn(async move {
        loop {
            if syncing.sync_now().await.is_err() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });

    capture_forever(&device, &mut Rng::new(seed));
}

fn capture_forever(device: &Vigil, rng: &mut Rng) -> ! {
    let stdout = std::io::stdout();
    if device.store().active_shift().expect("read the active shift").is_none() {
        let record = device.start_shift(None).expect("start a shift");
        report_saved(&stdout, &[record.id]);
    }

    let mut index: u64 = 0;
    loop {
        let ids = match rng.below(20) {
            0 => vec![device.raise_panic().expect("store a panic alert").id],
            1 | 2 => {
                let incident = Incident {
                    category: "door".into(),
                    severity: Severity::Low,
                    text: format!("Door {index} open"),
                };
                vec![device.log_incident(incident).expect("store an incident").id]
            }
            _ => {
                let count = 1 + rng.below(8);
                let fixes = (0..count).map(|offset| fix(index + offset)).collect();
                let outcomes = device.record_fixes(fixes).expect("store fixes");
                outcomes
                    .into_iter()
                    .filter_map(|outcome| match outcome {
                        FixOutcome::Stored { id, .. } => Some(id),
                        FixOutcome::Rejected { .. } | FixOutcome::Skipped => None,
                    })
                    .collect()
            }
        };
        index += ids.len() as u64;
        report_saved(&stdout, &ids);
    }
}

fn report_saved(stdout: &std::io::Stdout, ids: &[uuid::Uuid]) {
    let mut out = stdout.lock();
    for id in ids {
        writeln!(out, "saved {id}").expect("write to stdout");
    }
    out.flush().expect("flush stdout");
}

fn fix(index: u64) -> Fix {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0);
    Fix {
        latitude: -23.5500 + (index % 500) as f64 * 0.000_01,
        longitude: -46.6330,
        accuracy_m: 6.0,
        altitude_m: None,
        speed_mps: Some(1.0),
        bearing_deg: None,
        source: FixSource::Fused,
        mock: false,
        fix_time_ms: now_ms,
    }
}
