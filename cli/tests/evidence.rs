//! Evidence end to end: a device captures and syncs records, the operator exports them
//! with `vigil export`, and `vigil verify` checks the file offline and finds every edit,
//! deletion and reordering.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{stderr, stdout, vigil};
use serde_json::Value;
use vigil_core::model::{Incident, Severity};
use vigil_core::{Config, Vigil};
use vigil_server::ServerConfig;

const OPERATOR_TOKEN: &str = "evidence-operator-token";

/// Runs `vigil` on the blocking pool, so the in-process server keeps serving.
async fn run_vigil(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        vigil(&args)
    })
    .await
    .unwrap()
}

fn incident(text: &str) -> Incident {
    Incident { category: "intrusion".into(), severity: Severity::High, text: text.into() }
}

fn verify(path: &std::path::Path, public_key: Option<&str>) -> std::process::Output {
    let mut args = vec!["verify", path.to_str().unwrap()];
    if let Some(key) = public_key {
        args.extend(["--public-key", key]);
    }
    vigil(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_records_verify_and_edits_are_caught() {
    let folder = tempfile::tempdir().unwrap();
    let database = folder.path().join("soc.db");
    let config = ServerConfig {
        operator_token: Some(OPERATOR_TOKEN.into()),
        ..ServerConfig::new(database.clone(), "code").unwrap()
    };
    let server = vigil_server::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let device_config = Config::new("phone-3", "guard-3", server.url(), "code");
    let device = Vigil::open(folder.path().join("device.db"), device_config).unwrap();

    device.start_shift(None).unwrap();
    device.log_incident(incident("Fence cut near gate 3")).unwrap();
    device.log_incident(incident("Van without plates at the dock")).unwrap();
    device.raise_panic().unwrap();
    device.end_shift().unwrap();
    let summary = device.sync_now().await.unwrap();
    assert_eq!(summary.counts.pending, 0, "{summary:?}");

    // Export with the CLI, as an investigator would.
    let exported = run_vigil(vec![
        "export".into(),
        "--server".into(),
        server.url(),
        "--operator-token".into(),
        OPERATOR_TOKEN.into(),
        "--device".into(),
        "phone-3".into(),
    ])
    .await;
    assert!(exported.status.success(), "{}", stderr(&exported));
    let file = folder.path().join("phone-3.json");
    std::fs::write(&file, &exported.stdout).unwrap();
    let export: Value = serde_json::from_slice(&exported.stdout).unwrap();
    let records = export["records"].as_array().unwrap().clone();
    assert_eq!(records.len(), 5);
    let public_key = export["public_key"].as_str().unwrap().to_owned();

    // The intact file verifies, with the key given and with the file's own key.
    let intact = verify(&file, Some(&public_key));
    assert!(intact.status.success(), "{}{}", stdout(&intact), stderr(&intact));
    assert!(stdout(&intact).contains("OK"), "{}", stdout(&intact));
    let self_consistent = verify(&file, None);
    assert!(self_consistent.status.success());
    assert!(stdout(&self_consistent).contains("self-consistent"), "{}", stdout(&self_consistent));

    // Another device's key: every record fails.
    let other_key = URL_SAFE_NO_PAD.encode([9u8; 32]);
    let wrong_key = verify(&file, Some(&other_key));
    assert!(!wrong_key.status.success());
    assert!(stdout(&wrong_key).contains("seq 1: invalid signature"), "{}", stdout(&wrong_key));

    // One record's text edited: its signature and its successor's link break.
    let mut edited = export.clone();
    let canonical = URL_SAFE_NO_PAD.decode(records[1]["canonical"].as_str().unwrap()).unwrap();
    let text = String::from_utf8(canonical).unwrap().replace("gate 3", "gate 4");
    edited["records"][1]["canonical"] = Value::String(URL_SAFE_NO_PAD.encode(text));
    let edited_file = folder.path().join("edited.json");
    std::fs::write(&edited_file, serde_json::to_vec(&edited).unwrap()).unwrap();
    let caught = verify(&edited_file, Some(&public_key));
    assert!(!caught.status.success());
    let report = stdout(&caught);
    assert!(report.contains("seq 2: invalid signature"), "{report}");
    assert!(report.contains("seq 3: prev_hash does not match"), "{report}");

    // A record deleted: the gap is reported.
    let mut deleted = export.clone();
    deleted["records"].as_array_mut().unwrap().remove(2);
    let deleted_file = folder.path().join("deleted.json");
    std::fs::write(&deleted_file, serde_json::to_vec(&deleted).unwrap()).unwrap();
    let gap = verify(&deleted_file, Some(&public_key));
    assert!(!gap.status.success());
    assert!(stdout(&gap).contains("seq 3..=3: missing"), "{}", stdout(&gap));

    // Two records swapped.
    let mut reordered = export.clone();
    reordered["records"].as_array_mut().unwrap().swap(3, 4);
    let reordered_file = folder.path().join("reordered.json");
    std::fs::write(&reordered_file, serde_json::to_vec(&reordered).unwrap()).unwrap();
    let swapped = verify(&reordered_file, Some(&public_key));
    assert!(!swapped.status.success());
    assert!(stdout(&swapped).contains("seq 4: out of order"), "{}", stdout(&swapped));

    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_byte_in_file_fails_verify() {
    let folder = tempfile::tempdir().unwrap();
    let database = folder.path().join("soc.db");
    let config = ServerConfig {
        operator_token: Some(OPERATOR_TOKEN.into()),
        ..ServerConfig::new(database.clone(), "code").unwrap()
    };
    let server = vigil_server::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let device_config = Config::new("phone-4", "guard-4", server.url(), "code");
    let device = Vigil::open(folder.path().join("device.db"), device_config).unwrap();
    device.log_incident(incident("Window broken in the lobby")).unwrap();
    device.log_incident(incident("Alarm reset by the night manager")).unwrap();
    device.sync_now().await.unwrap();

    let exported = run_vigil(vec![
        "export".into(),
        "--server".into(),
        server.url(),
        "--operator-token".into(),
        OPERATOR_TOKEN.into(),
        "--device".into(),
        "phone-4".into(),
    ])
    .await;
    assert!(exported.status.success(), "{}", stderr(&exported));
    let text = String::from_utf8(exported.stdout).unwrap();

    // Change one character inside the first record's canonical bytes, in the file itself.
    let start = text.find("\"canonical\": \"").unwrap() + "\"canonical\": \"".len() + 40;
    let mut bytes = text.into_bytes();
    bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
    let file = folder.path().join("flipped.json");
    std::fs::write(&file, &bytes).unwrap();

    let output = verify(&file, None);
    assert!(!output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).contains("FAULT seq 1"), "{}", stdout(&output));

    server.shutdown().await.unwrap();
}
