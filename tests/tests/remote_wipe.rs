//! The SOC's remote wipe command, pulled by a device from a real reference server on
//! loopback, with real SQLite files on both sides.

use std::sync::Arc;

use vigil_core::crypto::KeyFileKek;
use vigil_core::model::{Incident, Severity};
use vigil_core::protocol::CommandKind;
use vigil_core::store::Store;
use vigil_core::{Config, Error, ManualClock, Vigil};
use vigil_server::{RunningServer, ServerConfig};

const CODE: &str = "enroll-me";
const T0: i64 = 1_764_806_400_000;
const DEVICE: &str = "device-wipe";

async fn start_server(folder: &tempfile::TempDir) -> RunningServer {
    let config = ServerConfig {
        database: folder.path().join("soc.db"),
        sealing_key: Arc::new(
            vigil_server::load_or_create_sealing_key(&vigil_server::sealing_key_path(
                &folder.path().join("soc.db"),
            ))
            .expect("the SOC sealing key must load"),
        ),
        enrollment_code: CODE.into(),
        sites: Vec::new(),
        tag_keys: Vec::new(),
        operator_token: None,
    };
    vigil_server::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn open_device(folder: &std::path::Path, url: &str) -> Result<Vigil, Error> {
    open_device_as(DEVICE, folder, url)
}

fn open_device_as(device_id: &str, folder: &std::path::Path, url: &str) -> Result<Vigil, Error> {
    let mut config = Config::new(device_id, "guard-wipe", url, CODE);
    config.retry_base_delay_ms = 10;
    config.sync_attempts = 2;
    Vigil::open_with_clock(folder.join("device.db"), config, Arc::new(ManualClock::new(T0)))
}

fn incident(text: &str) -> Incident {
    Incident { category: "door".into(), severity: Severity::Low, text: text.into() }
}

/// Returns `(seq, acknowledged)` for every command in the server database.
fn server_commands(server: &RunningServer) -> Vec<(i64, bool)> {
    let connection = rusqlite::Connection::open(server.database()).unwrap();
    let mut statement = connection
        .prepare("SELECT seq, acknowledged_at_ms IS NOT NULL FROM commands ORDER BY seq")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[tokio::test]
async fn remote_wipe_sends_outbox_then_wipes() {
    let server_folder = tempfile::tempdir().unwrap();
    let server = start_server(&server_folder).await;
    let device_folder = tempfile::tempdir().unwrap();
    let device = open_device(device_folder.path(), &server.url()).unwrap();
    device.sync_now().await.unwrap();
    let attachments = device_folder.path().join("attachments");
    std::fs::create_dir(&attachments).unwrap();
    std::fs::write(attachments.join("photo.bin"), b"photo").unwrap();

    for text in ["Gate left open", "Light out in bay 4", "Visitor without badge"] {
        device.log_incident(incident(text)).unwrap();
    }
    vigil_server::queue_command(server.database(), DEVICE, CommandKind::Wipe, T0).unwrap();

    let result = device.sync_now().await;

    assert!(matches!(result, Err(Error::Wiped)), "{result:?}");
    let on_server = server.store().unwrap().records_for_device(DEVICE).unwrap();
    assert_eq!(on_server.len(), 3, "every incident queued before the wipe reached the SOC");
    for gone in ["device.db", "device.db-wal", "device.db-shm", "device.db.key", "attachments"] {
        assert!(!device_folder.path().join(gone).exists(), "{gone} survived the wipe");
    }
    assert_eq!(server_commands(&server), [(1, true)], "the device acknowledged the wipe");
    assert!(matches!(device.log_incident(incident("after")), Err(Error::Wiped)));
    assert!(matches!(device.raise_panic(), Err(Error::Wiped)));
    assert!(matches!(device.sync_now().await, Err(Error::Wiped)));

    // A fresh installation on the same path has a new signing key, so it enrolls under a
    // new device id, and the old device's wipe is not applied to it.
    drop(device);
    let fresh = open_device_as("device-wipe-2", device_folder.path(), &server.url()).unwrap();
    let summary = fresh.sync_now().await.unwrap();
    assert_eq!(summary.counts.captured, summary.acknowledged);
    assert!(device_folder.path().join("device.db").exists());
}

#[tokio::test]
async fn remote_wipe_applies_once_across_restart() {
    let server_folder = tempfile::tempdir().unwrap();
    let server = start_server(&server_folder).await;
    let device_folder = tempfile::tempdir().unwrap();
    let path = device_folder.path().join("device.db");

    // A crash right after the wipe was accepted: the cursor and the pending mark are
    // durable, the files are still there. The store is opened with the key file the
    // device created.
    drop(open_device(device_folder.path(), &server.url()).unwrap());
    let kek = KeyFileKek::open_or_create(device_folder.path().join("device.db.key")).unwrap();
    let store = Store::open_with_key(&path, Arc::new(kek)).unwrap();
    store.accept_wipe(1).unwrap();
    drop(store);

    let reopened = open_device(device_folder.path(), &server.url());

    assert!(matches!(reopened, Err(Error::Wiped)), "{reopened:?}");
    assert!(!path.exists(), "the interrupted wipe was finished at open");
    let fresh = open_device(device_folder.path(), &server.url()).unwrap();
    fresh.sync_now().await.unwrap();
    assert!(path.exists());
}

#[tokio::test]
async fn commands_of_other_devices_are_not_applied() {
    let server_folder = tempfile::tempdir().unwrap();
    let server = start_server(&server_folder).await;
    let device_folder = tempfile::tempdir().unwrap();
    let device = open_device(device_folder.path(), &server.url()).unwrap();
    device.sync_now().await.unwrap();

    let unknown =
        vigil_server::queue_command(server.database(), "no-such-device", CommandKind::Wipe, T0);

    assert!(matches!(unknown, Err(vigil_server::ServerError::DeviceNotFound(_))), "{unknown:?}");
    device.log_incident(incident("Quiet night")).unwrap();
    let summary = device.sync_now().await.unwrap();
    assert_eq!(summary.counts.pending, 0);
    assert!(device_folder.path().join("device.db").exists());
}
