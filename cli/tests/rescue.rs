//! `vigil rescue`: a device store whose key-encryption key is lost is adopted by a new store,
//! and its sealed records reach an in-process server as the old device's.

mod common;

use std::sync::Arc;

use common::{stderr, stdout, vigil};
use serde_json::Value;
use vigil_core::crypto::PassphraseKek;
use vigil_core::model::{Incident, Severity};
use vigil_core::{Config, Vigil};
use vigil_server::ServerConfig;

fn incident(text: &str) -> Incident {
    Incident { category: "intrusion".into(), severity: Severity::High, text: text.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rescue_delivers_locked_store() {
    let folder = tempfile::tempdir().unwrap();
    let database = folder.path().join("soc.db");
    let config = ServerConfig {
        database: database.clone(),
        sealing_key: Arc::new(
            vigil_server::load_or_create_sealing_key(&vigil_server::sealing_key_path(&database))
                .unwrap(),
        ),
        enrollment_code: "code".into(),
        sites: Vec::new(),
        tag_keys: Vec::new(),
        operator_token: None,
    };
    let server = vigil_server::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let locked = folder.path().join("old.db");
    let mut device_config = Config::new("phone-lost", "guard-3", server.url(), "code");
    device_config.key_encryption_key =
        Some(Arc::new(PassphraseKek::with_iterations("lost passphrase", 1_000)));
    let device = Vigil::open(&locked, device_config).unwrap();
    device.sync_now().await.unwrap();
    device.log_incident(incident("Fence cut near gate 3")).unwrap();
    device.log_incident(incident("Van without plates at the dock")).unwrap();
    drop(device);

    let args: Vec<String> = [
        "rescue",
        "--locked",
        locked.to_str().unwrap(),
        "--database",
        folder.path().join("new.db").to_str().unwrap(),
        "--server",
        &server.url(),
        "--device",
        "phone-after-reset",
        "--guard",
        "guard-3",
        "--enrollment-code",
        "code",
        "--json",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        vigil(&args)
    })
    .await
    .unwrap();

    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["adopted"], 2);
    assert_eq!(report["acknowledged"], 2);
    assert_eq!(report["pending"], 0);
    assert_eq!(report["unsealed"], 0);
    let on_server = server.store().unwrap().records_for_device("phone-lost").unwrap();
    let seqs: Vec<u64> = on_server.iter().map(|record| record.seq).collect();
    assert_eq!(seqs, [1, 2], "both incidents, with the seqs the lost device gave them");
    assert!(locked.exists());
}
