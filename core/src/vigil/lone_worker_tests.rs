//! The lone-worker timer through `Vigil`, with a fake monotonic clock and a manual wall
//! clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::alert::lone_worker::{
    LoneWorkerListener, LoneWorkerPolicy, LoneWorkerStage, LoneWorkerStatus, MonotonicClock,
};
use crate::clock::ManualClock;
use crate::model::{AlertKind, RecordBody};
use crate::time::ManualMonotonic;

const POLICY: LoneWorkerPolicy =
    LoneWorkerPolicy { interval_ms: 60_000, warning_ms: 10_000, grace_ms: 5_000 };
const T0: i64 = 1_764_806_400_000;

#[derive(Default)]
struct FakeMonotonic(AtomicU64);

impl MonotonicClock for FakeMonotonic {
    fn elapsed_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl FakeMonotonic {
    fn advance(&self, delta_ms: u64) {
        self.0.fetch_add(delta_ms, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Stages(Mutex<Vec<LoneWorkerStage>>);

impl LoneWorkerListener for Stages {
    fn on_lone_worker(&self, status: LoneWorkerStatus) {
        self.0.lock().unwrap().push(status.stage);
    }
}

fn open(folder: &tempfile::TempDir, wall: &ManualClock) -> (Vigil, Arc<FakeMonotonic>) {
    open_booted(folder, wall, Arc::new(ManualMonotonic::new("boot-1", 1_000)))
}

/// Opens the device with `boot` as the boot clock that marks the saved timer.
fn open_booted(
    folder: &tempfile::TempDir,
    wall: &ManualClock,
    boot: Arc<ManualMonotonic>,
) -> (Vigil, Arc<FakeMonotonic>) {
    let config = Config::new("device-lone", "guard-lone", "http://127.0.0.1:9", "code");
    let path = folder.path().join("device.db");
    let vigil = Vigil::open_with_clocks(path, config, Arc::new(wall.clone()), boot).unwrap();
    let monotonic = Arc::new(FakeMonotonic::default());
    vigil.set_monotonic_clock(monotonic.clone());
    (vigil, monotonic)
}

fn missed_check_in_alerts(vigil: &Vigil) -> usize {
    vigil
        .store()
        .active_alerts()
        .unwrap()
        .iter()
        .filter(|(record, _)| {
            matches!(record.body, RecordBody::Panic { alert: AlertKind::MissedCheckIn })
        })
        .count()
}

#[test]
fn missed_check_in_warns_then_alerts() {
    let folder = tempfile::tempdir().unwrap();
    let wall = ManualClock::new(T0);
    let (vigil, monotonic) = open(&folder, &wall);
    let stages = Arc::new(Stages::default());
    vigil.set_lone_worker_listener(Some(stages.clone()));

    vigil.start_lone_worker(POLICY).unwrap();
    assert_eq!(vigil.tick_lone_worker().unwrap(), Some(50_000));
    monotonic.advance(50_000);
    assert_eq!(vigil.tick_lone_worker().unwrap(), Some(10_000));
    monotonic.advance(10_000);
    assert_eq!(vigil.tick_lone_worker().unwrap(), Some(5_000));
    assert_eq!(missed_check_in_alerts(&vigil), 0);
    monotonic.advance(5_000);
    assert_eq!(vigil.tick_lone_worker().unwrap(), None);

    assert_eq!(missed_check_in_alerts(&vigil), 1);
    assert_eq!(
        stages.0.lock().unwrap().as_slice(),
        [
            LoneWorkerStage::Running,
            LoneWorkerStage::Warning,
            LoneWorkerStage::Grace,
            LoneWorkerStage::Alerted
        ]
    );
    vigil.tick_lone_worker().unwrap();
    assert_eq!(missed_check_in_alerts(&vigil), 1, "one alert per missed interval");
}

#[test]
fn check_in_restarts_interval() {
    let folder = tempfile::tempdir().unwrap();
    let wall = ManualClock::new(T0);
    let (vigil, monotonic) = open(&folder, &wall);

    vigil.start_lone_worker(POLICY).unwrap();
    monotonic.advance(55_000);
    vigil.tick_lone_worker().unwrap();
    assert_eq!(vigil.lone_worker_status().unwrap().unwrap().stage, LoneWorkerStage::Warning);

    let confirmed = vigil.confirm_lone_worker().unwrap();
    assert_eq!(confirmed.stage, LoneWorkerStage::Running);
    assert_eq!(confirmed.until_deadline_ms, 60_000);
    monotonic.advance(59_000);
    vigil.tick_lone_worker().unwrap();
    assert_eq!(missed_check_in_alerts(&vigil), 0);
}

#[test]
fn wall_clock_change_neither_fires_nor_suppresses() {
    let folder = tempfile::tempdir().unwrap();
    let wall = ManualClock::new(T0);
    let (vigil, monotonic) = open(&folder, &wall);
    vigil.start_lone_worker(POLICY).unwrap();

    wall.advance(3_600_000);
    vigil.tick_lone_worker().unwrap();
    assert_eq!(missed_check_in_alerts(&vigil), 0, "a clock jump forward fired the alert");

    wall.advance(-7_200_000);
    monotonic.advance(65_000);
    vigil.tick_lone_worker().unwrap();
    assert_eq!(missed_check_in_alerts(&vigil), 1, "a clock jump back suppressed the alert");
}

#[test]
fn timer_survives_restart() {
    let folder = tempfile::tempdir().unwrap();
    let wall = ManualClock::new(T0);
    let boot = Arc::new(ManualMonotonic::new("boot-1", 1_000));
    let (vigil, monotonic) = open_booted(&folder, &wall, boot.clone());
    vigil.start_lone_worker(POLICY).unwrap();
    monotonic.advance(20_000);
    wall.advance(20_000);
    boot.advance(20_000);
    vigil.tick_lone_worker().unwrap();
    drop(vigil);

    // The app is gone for 45 s by the boot clock, while the wall clock was set back an
    // hour; the new process's monotonic clock restarts.
    wall.advance(-3_600_000);
    boot.advance(45_000);
    let (vigil, _) = open_booted(&folder, &wall, boot.clone());
    let status = vigil.lone_worker_status().unwrap().unwrap();
    assert_eq!(status.until_deadline_ms, -5_000);
    vigil.tick_lone_worker().unwrap();
    assert_eq!(missed_check_in_alerts(&vigil), 1);
}

#[test]
fn confirm_without_timer_is_an_error() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _) = open(&folder, &ManualClock::new(T0));

    assert!(matches!(vigil.confirm_lone_worker(), Err(Error::InvalidState(_))));
    vigil.start_lone_worker(POLICY).unwrap();
    vigil.stop_lone_worker().unwrap();
    assert_eq!(vigil.lone_worker_status().unwrap(), None);
    assert_eq!(vigil.tick_lone_worker().unwrap(), None);
}

#[test]
fn restart_after_reboot_uses_wall_clock() {
    let folder = tempfile::tempdir().unwrap();
    let wall = ManualClock::new(T0);
    let boot = Arc::new(ManualMonotonic::new("boot-1", 1_000));
    let (vigil, _) = open_booted(&folder, &wall, boot.clone());
    vigil.start_lone_worker(POLICY).unwrap();
    drop(vigil);

    // The phone rebooted, so only the wall clock tells how long the app was gone.
    wall.advance(70_000);
    boot.reboot("boot-2", 5_000);
    let (vigil, _) = open_booted(&folder, &wall, boot);

    assert_eq!(vigil.lone_worker_status().unwrap().unwrap().until_deadline_ms, -10_000);
    vigil.tick_lone_worker().unwrap();
    assert_eq!(missed_check_in_alerts(&vigil), 1);
}
