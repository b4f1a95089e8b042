//! Capture times that survive a wrong phone clock: the phone clock set hours wrong,
//! changed mid-shift, and a reboot while offline. A real reference server on 127.0.0.1
//! corrects each record's time from the device's monotonic clock and keeps both the
//! device's claim and the corrected time.

use std::ops::RangeInclusive;
use std::sync::Arc;

use vigil_core::model::{Incident, Severity};
use vigil_core::time::{ManualMonotonic, TimeFlag};
use vigil_core::{Clock, Config, ManualClock, SystemClock, Vigil};
use vigil_server::{RecordTime, RunningServer, ServerConfig};

const CODE: &str = "enroll-me";
const DEVICE: &str = "device-time";
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
/// Slack for the loopback round trip and the test's own steps, in milliseconds.
const SLACK: i64 = 5_000;

struct Setup {
    _folders: (tempfile::TempDir, tempfile::TempDir),
    server: RunningServer,
    device: Vigil,
    wall: ManualClock,
    monotonic: ManualMonotonic,
}

async fn setup(wall_offset_ms: i64) -> Setup {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let config = ServerConfig::new(server_folder.path().join("soc.db"), CODE).unwrap();
    let server = vigil_server::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();

    let wall = ManualClock::new(SystemClock.now_ms() + wall_offset_ms);
    let monotonic = ManualMonotonic::new("boot-a", 3 * HOUR);
    let mut device_config = Config::new(DEVICE, "guard-time", server.url(), CODE);
    device_config.retry_base_delay_ms = 1;
    let device = Vigil::open_with_clocks(
        device_folder.path().join("device.db"),
        device_config,
        Arc::new(wall.clone()),
        Arc::new(monotonic.clone()),
    )
    .unwrap();
    Setup { _folders: (server_folder, device_folder), server, device, wall, monotonic }
}

fn log(device: &Vigil, text: &str) -> uuid::Uuid {
    let incident = Incident { category: "note".into(), severity: Severity::Low, text: text.into() };
    device.log_incident(incident).unwrap().id
}

/// Moves both device clocks forward by `delta_ms`, as time passing on the phone.
fn pass(setup: &Setup, delta_ms: i64) {
    setup.wall.advance(delta_ms);
    setup.monotonic.advance(delta_ms);
}

/// Syncs and returns the server's clock range during the sync.
async fn sync(device: &Vigil) -> RangeInclusive<i64> {
    let before = SystemClock.now_ms();
    let summary = device.sync_now().await.unwrap();
    assert_eq!(summary.counts.pending, 0);
    before..=SystemClock.now_ms()
}

fn time_of(times: &[RecordTime], id: uuid::Uuid) -> &RecordTime {
    times.iter().find(|time| time.id == id).expect("the record is on the server")
}

/// Asserts that `corrected` lies `ago_ms` before the sync, within the slack.
fn assert_ago(corrected: Option<i64>, synced: &RangeInclusive<i64>, ago_ms: i64, what: &str) {
    let corrected = corrected.unwrap_or_else(|| panic!("{what}: no corrected time"));
    let earliest = synced.start() - ago_ms - SLACK;
    let latest = synced.end() - ago_ms + SLACK;
    assert!(
        (earliest..=latest).contains(&corrected),
        "{what}: corrected {corrected} is not {ago_ms} ms before the sync ({synced:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_hours_wrong_is_corrected() {
    // The phone is 14 hours slow and the guard works offline for 10 minutes.
    let setup = setup(-14 * HOUR).await;
    let id = log(&setup.device, "Gate locked");
    let claimed = setup.wall.now_ms();
    pass(&setup, 10 * MINUTE);

    let synced = sync(&setup.device).await;

    let times = setup.server.store().unwrap().record_times(DEVICE).unwrap();
    let time = time_of(&times, id);
    assert_eq!(time.claimed_ms, claimed, "the SOC keeps the device's claim");
    assert_ago(time.corrected_ms, &synced, 10 * MINUTE, "server");
    assert!(time.flags.is_empty(), "{:?}", time.flags);

    let offset = setup.device.clock_offset().unwrap().expect("the sync measured an offset");
    let expected = 14 * HOUR - 10 * MINUTE;
    assert!((offset.offset_ms - expected).abs() < SLACK, "offset {}", offset.offset_ms);
    let on_device = setup.device.corrected_time(id).unwrap();
    assert_eq!(on_device.claimed_ms, claimed);
    assert_ago(on_device.corrected_ms, &synced, 10 * MINUTE, "device");
    setup.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_changed_mid_shift_is_flagged() {
    let setup = setup(0).await;
    let before_change = log(&setup.device, "Round 1");
    pass(&setup, MINUTE);
    // The guard sets the phone 3 hours ahead.
    setup.wall.advance(3 * HOUR);
    let after_change = log(&setup.device, "Round 2");
    pass(&setup, MINUTE);

    let synced = sync(&setup.device).await;

    let times = setup.server.store().unwrap().record_times(DEVICE).unwrap();
    let first = time_of(&times, before_change);
    assert_ago(first.corrected_ms, &synced, 2 * MINUTE, "before the change");
    assert_eq!(first.flags, vec![TimeFlag::ClockChanged]);
    let second = time_of(&times, after_change);
    assert_ago(second.corrected_ms, &synced, MINUTE, "after the change");
    assert!(second.flags.is_empty(), "{:?}", second.flags);
    assert!(
        second.claimed_ms - second.corrected_ms.unwrap() > 3 * HOUR - SLACK,
        "the claim is 3 h ahead"
    );
    setup.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reboot_while_offline_is_flagged() {
    let setup = setup(0).await;
    let before_reboot = log(&setup.device, "Before reboot");
    setup.wall.advance(10 * MINUTE);
    setup.monotonic.reboot("boot-b", 30_000);
    let after_reboot = log(&setup.device, "After reboot");
    pass(&setup, MINUTE);

    let synced = sync(&setup.device).await;

    let times = setup.server.store().unwrap().record_times(DEVICE).unwrap();
    let first = time_of(&times, before_reboot);
    assert_eq!(first.flags, vec![TimeFlag::Rebooted]);
    assert_ago(first.corrected_ms, &synced, 11 * MINUTE, "before the reboot");
    let second = time_of(&times, after_reboot);
    assert!(second.flags.is_empty(), "{:?}", second.flags);
    assert_ago(second.corrected_ms, &synced, MINUTE, "after the reboot");
    setup.server.shutdown().await.unwrap();
}
