//! Two more measures of sync: peak memory during a large catch-up, and bytes sent per
//! hour of a typical shift.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::net::{TcpListener, TcpStream};
use vigil_core::model::{Fix, FixSource, Incident, ScanMethod, Severity};
use vigil_core::{Config, ManualClock, Vigil};
use vigil_server::{RunningServer, ServerConfig};

const T0: i64 = 1_764_806_400_000;

/// Records captured per chunk when building a backlog, so the capture's own buffers stay
/// small next to what the sync uses.
const CAPTURE_CHUNK: usize = 1_000;

async fn start_server(folder: &tempfile::TempDir) -> RunningServer {
    let config = ServerConfig::new(folder.path().join("soc.db"), "bench").unwrap();
    vigil_server::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("failed to start the server")
}

fn open_device(folder: &tempfile::TempDir, url: &str, clock: &ManualClock) -> Vigil {
    let mut config = Config::new("bench-device", "bench-guard", url, "bench");
    // Store every fix, as the figures recorded in BENCHMARKS.md did.
    config.storage_rate.max_interval_ms = 0;
    Vigil::open_with_clock(folder.path().join("device.db"), config, Arc::new(clock.clone()))
        .expect("failed to open Vigil")
}

fn fix(index: usize, time_ms: i64) -> Fix {
    Fix {
        latitude: 45.5 + (index % 1_000) as f64 * 1e-5,
        longitude: -73.56,
        accuracy_m: 5.0,
        altitude_m: Some(30.0),
        speed_mps: Some(1.4),
        bearing_deg: Some(10.0),
        source: FixSource::Gnss,
        mock: false,
        fix_time_ms: time_ms,
    }
}

/// Reads a field of `/proc/self/status` in KiB, such as `VmRSS` or `VmHWM`.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the process's peak resident size (`VmHWM`) to its current size (Linux 4.0+).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Captures a backlog of `records` fixes, then syncs it, and returns the growth of the
/// process's peak resident memory during the sync in KiB, and the backlog's JSON size in
/// bytes. The server runs in the same process, so its memory counts too.
async fn catch_up_peak(records: usize) -> (u64, u64) {
    let folder = tempfile::tempdir().expect("failed to create a temp folder");
    let server = start_server(&folder).await;
    let clock = ManualClock::new(T0);
    let device = open_device(&folder, &server.url(), &clock);

    for start in (0..records).step_by(CAPTURE_CHUNK) {
        let end = (start + CAPTURE_CHUNK).min(records);
        let fixes = (start..end).map(|index| fix(index, T0 + index as i64 * 1_000)).collect();
        device.record_fixes(fixes).unwrap();
    }
    let backlog_bytes: u64 = {
        let path = folder.path().join("device.db");
        let connection = rusqlite::Connection::open(path).unwrap();
        // The bodies are stored encrypted, in `body_envelope`; `body` is empty.
        let sql = "SELECT sum(length(body_envelope)) FROM records";
        connection.query_row(sql, [], |row| row.get(0)).unwrap()
    };

    let before = status_kib("VmRSS").expect("Linux /proc/self/status");
    assert!(reset_peak(), "cannot reset the peak resident size through /proc/self/clear_refs");
    let summary = device.sync_now().await.expect("the sync must succeed");
    let peak = status_kib("VmHWM").unwrap();
    assert_eq!(summary.counts.pending, 0);

    server.shutdown().await.unwrap();
    (peak.saturating_sub(before), backlog_bytes)
}

/// Prints the peak memory growth of catching up 10,000 and 100,000 records.
pub async fn run_memory() {
    let (small_kib, small_bytes) = catch_up_peak(10_000).await;
    let (large_kib, large_bytes) = catch_up_peak(100_000).await;

    println!(
        "catch-up memory: growth of the peak resident size during sync_now (device and server in one process)"
    );
    println!(
        "  10,000 records  ({:>6.1} MiB of encrypted records queued): {:>7.1} MiB",
        small_bytes as f64 / 1_048_576.0,
        small_kib as f64 / 1024.0
    );
    println!(
        "  100,000 records ({:>6.1} MiB of encrypted records queued): {:>7.1} MiB",
        large_bytes as f64 / 1_048_576.0,
        large_kib as f64 / 1024.0
    );
    println!(
        "  ratio of peak growth 100,000 / 10,000 records:          {:>7.2}x (the backlog grew 10x)",
        large_kib as f64 / small_kib.max(1) as f64
    );
}

/// A TCP relay on 127.0.0.1 that counts the bytes going each way.
struct CountingRelay {
    url: String,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

impl CountingRelay {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicU64::new(0));
        let (up_total, down_total) = (Arc::clone(&up), Arc::clone(&down));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (up_total, down_total) = (Arc::clone(&up_total), Arc::clone(&down_total));
                tokio::spawn(async move {
                    let mut server = TcpStream::connect(upstream).await.unwrap();
                    if let Ok((sent, received)) =
                        tokio::io::copy_bidirectional(&mut client, &mut server).await
                    {
                        up_total.fetch_add(sent, Ordering::Relaxed);
                        down_total.fetch_add(received, Ordering::Relaxed);
                    }
                });
            }
        });
        Self { url, up, down }
    }

    /// Returns the bytes sent and received so far, counting connections that closed.
    fn totals(&self) -> (u64, u64) {
        (self.up.load(Ordering::Relaxed), self.down.load(Ordering::Relaxed))
    }
}

/// Plays one hour of a typical shift: a fix every 10 s, 10 check-ins and 2 incidents. `sync`
/// runs after every `sync_every` captures. Returns the bytes sent and received on the wire,
/// enrollment excluded.
async fn shift_hour_bytes(sync_every: usize) -> (u64, u64, usize) {
    let folder = tempfile::tempdir().expect("failed to create a temp folder");
    let server = start_server(&folder).await;
    let relay = CountingRelay::start(server.addr()).await;
    let clock = ManualClock::new(T0);
    let device = open_device(&folder, &relay.url, &clock);
    device.sync_now().await.unwrap();
    device.start_shift(None).unwrap();
    // Connections are counted when they close, so each measure starts from a fresh pool.
    drop(device);
    let device = open_device(&folder, &relay.url, &clock);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (up_before, down_before) = relay.totals();

    let mut captured = 0;
    let mut syncs = 0;
    for second in (0..3_600).step_by(10) {
        clock.set(T0 + second as i64 * 1_000);
        device.record_fixes(vec![fix(second, T0 + second as i64 * 1_000)]).unwrap();
        captured += 1;
        if second % 360 == 0 {
            device.scan_checkpoint(ScanMethod::Qr, "gate/1").unwrap();
            captured += 1;
        }
        if second == 1_200 || second == 2_400 {
            let incident = Incident {
                category: "door".into(),
                severity: Severity::Low,
                text: "Side door found open; closed it and checked the room.".into(),
            };
            device.log_incident(incident).unwrap();
            captured += 1;
        }
        if captured >= sync_every {
            device.sync_now().await.unwrap();
            syncs += 1;
            captured = 0;
        }
    }
    device.sync_now().await.unwrap();
    syncs += 1;

    drop(device);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (up_after, down_after) = relay.totals();
    server.shutdown().await.unwrap();
    (up_after - up_before, down_after - down_before, syncs)
}

/// Prints the bytes per hour of a shift synced every 5 minutes, against one request per
/// record.
pub async fn run_shift_bytes() {
    let started = Instant::now();
    let (vigil_up, vigil_down, vigil_syncs) = shift_hour_bytes(32).await;
    let (each_up, each_down, each_syncs) = shift_hour_bytes(1).await;

    println!("bytes per hour of a shift (360 fixes, 10 check-ins, 2 incidents), on the wire");
    println!(
        "  one sync per record ({each_syncs} syncs):       {:>8} B up, {:>8} B down",
        each_up, each_down
    );
    println!(
        "  Vigil, a sync every ~5 min ({vigil_syncs} syncs): {:>8} B up, {:>8} B down",
        vigil_up, vigil_down
    );
    println!(
        "  ratio Vigil / one sync per record, up and down:  {:>8.2}x ({:.1} s)",
        (vigil_up + vigil_down) as f64 / (each_up + each_down) as f64,
        started.elapsed().as_secs_f64()
    );
}
