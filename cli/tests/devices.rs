//! `vigil devices`: an operator lists the devices that send heartbeats.

mod common;

use common::{stderr, vigil, vigil_json};
use vigil_core::{Config, ProtectionState, Vigil};
use vigil_server::ServerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_lists_heartbeats_and_silent() {
    let folder = tempfile::tempdir().unwrap();
    let database = folder.path().join("soc.db");
    let config = ServerConfig::new(database.clone(), "code").unwrap();
    let server = vigil_server::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let device = Vigil::open(
        folder.path().join("device.db"),
        Config::new("phone-3", "guard-3", server.url(), "code"),
    )
    .unwrap();
    let state = ProtectionState { location_permission: true, battery_percent: Some(80) };
    device.send_heartbeat(state).await.unwrap();
    let database = database.to_str().unwrap();

    let all = vigil_json(&["devices", "--database", database, "--json"]);
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all[0]["device_id"], "phone-3");
    assert_eq!(all[0]["battery_percent"], 80);
    assert_eq!(all[0]["silent"], false);

    let silent = vigil_json(&["devices", "--silent", "--database", database, "--json"]);
    assert!(silent.as_array().unwrap().is_empty(), "{silent}");

    // With a limit of 0 s, any heartbeat at least 1 ms old counts as silent.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let zero = vigil(&["devices", "--silent", "--silent-after-s", "0", "--database", database]);
    assert!(zero.status.success(), "{}", stderr(&zero));
    assert!(String::from_utf8_lossy(&zero.stdout).contains("SILENT phone-3"));
}
