//! The local wipe and its rule for undelivered panic alerts.

use std::sync::Arc;

use crate::model::{Incident, Severity};
use crate::{Config, Error, ManualClock, Vigil};

fn open(folder: &tempfile::TempDir) -> Vigil {
    // Port 9 (discard) on loopback refuses connections, so nothing is ever delivered.
    let config = Config::new("device-1", "guard-1", "http://127.0.0.1:9", "code");
    Vigil::open_with_clock(folder.path().join("device.db"), config, Arc::new(ManualClock::new(0)))
        .unwrap()
}

fn incident() -> Incident {
    Incident { category: "door".into(), severity: Severity::Low, text: "Open".into() }
}

#[test]
fn wipe_refuses_undelivered_panic_unless_forced() {
    let folder = tempfile::tempdir().unwrap();
    let vigil = open(&folder);
    vigil.raise_panic().unwrap();

    let refused = vigil.wipe(false);

    assert!(matches!(refused, Err(Error::InvalidState(_))), "{refused:?}");
    assert_eq!(vigil.store().sync_counts().unwrap().captured, 1, "nothing was deleted");
    assert!(folder.path().join("device.db").exists());

    vigil.wipe(true).unwrap();

    assert!(!folder.path().join("device.db").exists());
    assert!(!folder.path().join("device.db.key").exists(), "the key file went too");
    assert!(matches!(vigil.log_incident(incident()), Err(Error::Wiped)));
    assert!(matches!(vigil.wipe(true), Err(Error::Wiped)));
}

#[test]
fn wipe_without_alerts_needs_no_force() {
    let folder = tempfile::tempdir().unwrap();
    let vigil = open(&folder);
    vigil.log_incident(incident()).unwrap();

    vigil.wipe(false).unwrap();

    assert!(!folder.path().join("device.db").exists());
    assert!(matches!(vigil.raise_panic(), Err(Error::Wiped)));
    drop(vigil);
    let fresh = open(&folder);
    assert_eq!(fresh.store().sync_counts().unwrap().captured, 0, "a fresh device");
}
