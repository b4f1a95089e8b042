//! `vigil alerts`: an operator lists and acknowledges the alerts a device raised.

mod common;

use std::time::Duration;

use common::{stderr, vigil, vigil_json};
use vigil_core::alert::AlertState;
use vigil_core::{Config, Vigil};
use vigil_server::ServerConfig;

/// Polls `check` every 10 ms until it holds; the limit only turns a hang into a failure.
async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_acknowledges_alert() {
    let folder = tempfile::tempdir().unwrap();
    let database = folder.path().join("soc.db");
    let config = ServerConfig::new(database.clone(), "code").unwrap();
    let server = vigil_server::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut device_config = Config::new("phone-9", "guard-9", server.url(), "code");
    device_config.alert_resend_interval_ms = 100;
    let device = Vigil::open(folder.path().join("device.db"), device_config).unwrap();
    device.start_alert_lane(&tokio::runtime::Handle::current());

    let record = device.raise_panic().unwrap();
    wait_until("the delivery", || {
        device.alert_status(record.id).unwrap().state == AlertState::Delivered
    })
    .await;
    let database = database.to_str().unwrap();

    let active = vigil_json(&["alerts", "list", "--database", database, "--json"]);
    assert_eq!(active.as_array().unwrap().len(), 1, "{active}");
    assert_eq!(active[0]["record_id"], record.id.to_string());
    assert_eq!(active[0]["device_id"], "phone-9");

    let id = record.id.to_string();
    let ack = vigil(&["alerts", "ack", &id, "--database", database]);
    assert!(ack.status.success(), "{}", stderr(&ack));
    wait_until("the acknowledgement on the device", || {
        device.alert_status(record.id).unwrap().state == AlertState::Acknowledged
    })
    .await;

    let active = vigil_json(&["alerts", "list", "--database", database, "--json"]);
    assert!(active.as_array().unwrap().is_empty(), "{active}");
    let all = vigil_json(&["alerts", "list", "--database", database, "--all", "--json"]);
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert!(all[0]["acknowledged_at_ms"].is_i64(), "{all}");
    assert_eq!(
        Some(all[0]["acknowledged_at_ms"].as_i64().unwrap()),
        device.alert_status(record.id).unwrap().acknowledged_at_ms
    );
}

#[test]
fn ack_rejects_bad_ids() {
    let folder = tempfile::tempdir().unwrap();
    let database = folder.path().join("missing.db");
    let database = database.to_str().unwrap();

    let malformed = vigil(&["alerts", "ack", "not-an-id", "--database", database]);
    assert!(!malformed.status.success());
    assert!(stderr(&malformed).contains("invalid alert id"), "{}", stderr(&malformed));

    let missing = vigil(&["alerts", "list", "--database", database]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("opening the server database"), "{}", stderr(&missing));
}
