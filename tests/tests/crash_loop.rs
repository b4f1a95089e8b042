//! A device process killed with SIGKILL at random moments while it captures and syncs.
//!
//! Each round starts the `crash_worker` binary on the same device database, lets it run
//! for a random time and kills it. After every kill the database must pass
//! `PRAGMA integrity_check`. At the end, every record a worker reported saved must be in
//! the device store and, after a final sync, on the server exactly once.
//!
//! `VIGIL_CRASH_ROUNDS` sets the number of rounds (default 200) and `VIGIL_CRASH_SEED`
//! the seed.

use std::collections::HashSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use uuid::Uuid;
use vigil_core::store::SyncState;
use vigil_core::{Config, Vigil};
use vigil_server::ServerConfig;
use vigil_tests::crash::{CODE, DEVICE};
use vigil_tests::rng::Rng;

const MAX_FINAL_SYNCS: usize = 50;

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value.parse().unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

/// Runs the worker for `run_for`, kills it with SIGKILL, and returns the ids it reported
/// saved. A line cut short by the kill does not count.
fn run_and_kill(database: &std::path::Path, url: &str, seed: u64, run_for: Duration) -> Vec<Uuid> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_worker"))
        .arg(database)
        .arg(url)
        .arg(seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start crash_worker");

    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut output = String::new();
        let _ = stdout.read_to_string(&mut output);
        output
    });

    std::thread::sleep(run_for);
    // `Child::kill` sends SIGKILL on Unix.
    child.kill().expect("kill crash_worker");
    child.wait().expect("reap crash_worker");
    let output = reader.join().unwrap();

    let complete = match output.rfind('\n') {
        Some(end) => &output[..end],
        None => "",
    };
    complete
        .lines()
        .filter_map(|line| line.strip_prefix("saved "))
        .map(|id| Uuid::parse_str(id).expect("the worker prints record ids"))
        .collect()
}

fn integrity_check(database: &std::path::Path) -> String {
    let connection = rusqlite::Connection::open(database).unwrap();
    connection.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_device_keeps_every_saved_record() {
    let rounds = env_number("VIGIL_CRASH_ROUNDS", 200);
    let seed = env_number("VIGIL_CRASH_SEED", 0x6b69_6c6c);
    let mut rng = Rng::new(seed);

    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let config = ServerConfig::new(server_folder.path().join("soc.db"), CODE).unwrap();
    let server = vigil_server::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let database = device_folder.path().join("device.db");

    let mut saved = Vec::new();
    for round in 0..rounds {
        let run_for = Duration::from_millis(5 + rng.below(120));
        saved.extend(run_and_kill(&database, &server.url(), rng.next_u64(), run_for));

        if database.exists() {
            assert_eq!(integrity_check(&database), "ok", "seed {seed}: round {round}");
        }
    }
    assert!(!saved.is_empty(), "seed {seed}: no worker got to save a record");

    let mut config = Config::new(DEVICE, "guard-crash", server.url(), CODE);
    config.retry_base_delay_ms = 5;
    let device = Vigil::open(&database, config).unwrap();
    for (index, id) in saved.iter().enumerate() {
        let found = device.store().record(*id);
        assert!(found.is_ok(), "seed {seed}: saved record {index} ({id}) is gone: {found:?}");
    }

    let mut syncs = 0;
    while device.sync_now().await.map(|summary| summary.counts.pending).unwrap_or(1) > 0 {
        syncs += 1;
        assert!(syncs < MAX_FINAL_SYNCS, "seed {seed}: the outbox did not drain");
    }

    let counts = device.store().sync_counts().unwrap();
    let store = server.store().unwrap();
    let on_server = store.records_for_device(DEVICE).unwrap();
    assert!(store.duplicate_seqs().unwrap().is_empty(), "seed {seed}: duplicated seqs");
    assert_eq!(on_server.len() as u64, counts.captured, "seed {seed}: records on the server");
    let seqs: Vec<u64> = on_server.iter().map(|record| record.seq).collect();
    assert_eq!(seqs, (1..=counts.captured).collect::<Vec<_>>(), "seed {seed}: seqs");

    let server_ids: HashSet<Uuid> = on_server.iter().map(|record| record.id).collect();
    for id in &saved {
        assert!(server_ids.contains(id), "seed {seed}: saved record {id} never reached the server");
        assert_eq!(device.store().record(*id).unwrap().1, SyncState::Acknowledged);
    }
    assert_eq!(integrity_check(&database), "ok");

    println!(
        "seed {seed}: {rounds} kills, {} records reported saved, {} captured, {} on the server",
        saved.len(),
        counts.captured,
        on_server.len()
    );
    server.shutdown().await.unwrap();
}
