//! The no-motion detector through `Vigil`, with a fake monotonic clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::alert::lone_worker::MonotonicClock;
use crate::model::{AlertKind, RecordBody};

const POLICY: ManDownPolicy = ManDownPolicy { still_after_ms: 30_000, warning_ms: 15_000 };

#[derive(Default)]
struct FakeMonotonic(AtomicU64);

impl MonotonicClock for FakeMonotonic {
    fn elapsed_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Default)]
struct Stages(Mutex<Vec<ManDownStage>>);

impl ManDownListener for Stages {
    fn on_man_down(&self, stage: ManDownStage) {
        self.0.lock().unwrap().push(stage);
    }
}

fn open(folder: &tempfile::TempDir) -> (Vigil, Arc<FakeMonotonic>, Arc<Stages>) {
    let config = Config::new("device-still", "guard-still", "http://127.0.0.1:9", "code");
    let vigil = Vigil::open(folder.path().join("device.db"), config).unwrap();
    let monotonic = Arc::new(FakeMonotonic::default());
    vigil.set_monotonic_clock(monotonic.clone());
    let stages = Arc::new(Stages::default());
    vigil.set_man_down_listener(Some(stages.clone()));
    (vigil, monotonic, stages)
}

fn man_down_alerts(vigil: &Vigil) -> usize {
    vigil
        .store()
        .active_alerts()
        .unwrap()
        .iter()
        .filter(|(record, _)| {
            matches!(record.body, RecordBody::Panic { alert: AlertKind::ManDown })
        })
        .count()
}

#[test]
fn stillness_warns_then_alerts() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, monotonic, stages) = open(&folder);
    vigil.start_man_down(POLICY).unwrap();

    assert_eq!(vigil.tick_man_down().unwrap(), Some(30_000));
    monotonic.0.store(30_000, Ordering::SeqCst);
    assert_eq!(vigil.tick_man_down().unwrap(), Some(15_000));
    assert_eq!(vigil.man_down_stage(), Some(ManDownStage::Warning));
    assert_eq!(man_down_alerts(&vigil), 0);
    monotonic.0.store(45_000, Ordering::SeqCst);
    assert_eq!(vigil.tick_man_down().unwrap(), None);

    assert_eq!(man_down_alerts(&vigil), 1);
    assert_eq!(stages.0.lock().unwrap().as_slice(), [ManDownStage::Warning, ManDownStage::Alerted]);
    vigil.tick_man_down().unwrap();
    assert_eq!(man_down_alerts(&vigil), 1, "one alert per still period");
}

#[test]
fn motion_ends_warning() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, monotonic, stages) = open(&folder);
    vigil.start_man_down(POLICY).unwrap();
    monotonic.0.store(40_000, Ordering::SeqCst);
    vigil.tick_man_down().unwrap();

    vigil.record_motion(false);
    assert_eq!(vigil.man_down_stage(), Some(ManDownStage::Warning), "still changes nothing");
    vigil.record_acceleration(0.0, 0.0, 9.8);
    assert_eq!(vigil.man_down_stage(), Some(ManDownStage::Warning), "gravity alone is not motion");
    vigil.record_acceleration(3.0, 0.0, 12.0);
    assert_eq!(vigil.man_down_stage(), Some(ManDownStage::Moving));
    monotonic.0.store(69_000, Ordering::SeqCst);
    vigil.tick_man_down().unwrap();

    assert_eq!(man_down_alerts(&vigil), 0);
    assert_eq!(stages.0.lock().unwrap().as_slice(), [ManDownStage::Warning, ManDownStage::Moving]);
}

#[test]
fn stopped_detector_never_alerts() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, monotonic, _) = open(&folder);
    assert!(vigil.start_man_down(ManDownPolicy { still_after_ms: 0, warning_ms: 0 }).is_err());
    vigil.start_man_down(POLICY).unwrap();
    vigil.stop_man_down().unwrap();
    monotonic.0.store(100_000, Ordering::SeqCst);

    assert_eq!(vigil.tick_man_down().unwrap(), None);
    assert_eq!(vigil.man_down_stage(), None);
    assert_eq!(man_down_alerts(&vigil), 0);
}

const T0: i64 = 1_764_806_400_000;

/// Opens the device with a manual wall clock and boot clock, and a fake monotonic clock.
fn open_booted(
    folder: &tempfile::TempDir,
    wall: &crate::clock::ManualClock,
    boot: Arc<crate::time::ManualMonotonic>,
) -> (Vigil, Arc<FakeMonotonic>) {
    let config = Config::new("device-still", "guard-still", "http://127.0.0.1:9", "code");
    let path = folder.path().join("device.db");
    let vigil = Vigil::open_with_clocks(path, config, Arc::new(wall.clone()), boot).unwrap();
    let monotonic = Arc::new(FakeMonotonic::default());
    vigil.set_monotonic_clock(monotonic.clone());
    (vigil, monotonic)
}

#[test]
fn stillness_survives_restart() {
    let folder = tempfile::tempdir().unwrap();
    let wall = crate::clock::ManualClock::new(T0);
    let boot = Arc::new(crate::time::ManualMonotonic::new("boot-1", 1_000));
    let (vigil, monotonic) = open_booted(&folder, &wall, boot.clone());
    vigil.start_man_down(POLICY).unwrap();
    monotonic.0.store(20_000, Ordering::SeqCst);
    wall.advance(20_000);
    boot.advance(20_000);
    assert_eq!(vigil.tick_man_down().unwrap(), Some(10_000));
    drop(vigil);

    // The app is gone for 5 s by the boot clock while the wall clock was set back an hour.
    wall.advance(-3_600_000);
    boot.advance(5_000);
    let (vigil, monotonic) = open_booted(&folder, &wall, boot.clone());
    assert_eq!(vigil.man_down_stage(), Some(ManDownStage::Moving));
    assert_eq!(vigil.tick_man_down().unwrap(), Some(5_000), "25 s of the 30 s are gone");
    monotonic.0.store(5_000, Ordering::SeqCst);
    assert_eq!(vigil.tick_man_down().unwrap(), Some(15_000));
    assert_eq!(vigil.man_down_stage(), Some(ManDownStage::Warning));
    drop(vigil);

    // Killed during the warning: the alert is due at the reopen.
    boot.advance(20_000);
    let (vigil, _) = open_booted(&folder, &wall, boot.clone());
    assert_eq!(vigil.man_down_stage(), Some(ManDownStage::Warning));
    assert_eq!(vigil.tick_man_down().unwrap(), None);
    assert_eq!(man_down_alerts(&vigil), 1);
    drop(vigil);

    // An alerted detector stays alerted, so a restart raises no second alert.
    let (vigil, _) = open_booted(&folder, &wall, boot);
    assert_eq!(vigil.man_down_stage(), Some(ManDownStage::Alerted));
    assert_eq!(vigil.tick_man_down().unwrap(), None);
    assert_eq!(man_down_alerts(&vigil), 1);
}

#[test]
fn restart_keeps_recent_motion() {
    let folder = tempfile::tempdir().unwrap();
    let wall = crate::clock::ManualClock::new(T0);
    let boot = Arc::new(crate::time::ManualMonotonic::new("boot-1", 1_000));
    let (vigil, monotonic) = open_booted(&folder, &wall, boot.clone());
    vigil.start_man_down(POLICY).unwrap();
    monotonic.0.store(40_000, Ordering::SeqCst);
    wall.advance(40_000);
    boot.advance(40_000);
    vigil.tick_man_down().unwrap();
    // Motion ends the warning, and the change of stage stores the motion at once.
    vigil.record_motion(true);
    drop(vigil);

    boot.advance(10_000);
    wall.advance(10_000);
    let (vigil, _) = open_booted(&folder, &wall, boot.clone());
    assert_eq!(vigil.man_down_stage(), Some(ManDownStage::Moving));
    assert_eq!(vigil.tick_man_down().unwrap(), Some(20_000));
    vigil.stop_man_down().unwrap();
    drop(vigil);

    let (vigil, _) = open_booted(&folder, &wall, boot);
    assert_eq!(vigil.man_down_stage(), None, "a stopped detector stays stopped");
}
