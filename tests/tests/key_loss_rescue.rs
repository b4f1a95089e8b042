//! Delivering sealed evidence after the device's key-encryption key is lost. Records are
//! captured offline under KEK A, the store no longer opens under KEK B, and a fresh store
//! adopts the old file's sealed boxes and pushes them to a real reference server on
//! loopback.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vigil_core::crypto::{DeviceSigningKey, PassphraseKek, SocSealingKey};
use vigil_core::evidence::{EvidenceExport, rescue_sealed, seal_record, verify_export};
use vigil_core::model::{Incident, Severity};
use vigil_core::protocol::{EnrollRequest, PushRequest};
use vigil_core::sync::SyncClient;
use vigil_core::sync::request_auth::RequestSigner;
use vigil_core::{Config, Error, ManualClock, SystemClock, Vigil};
use vigil_server::{RunningServer, ServerConfig};

const CODE: &str = "enroll-me";
const OPERATOR_TOKEN: &str = "operator-secret-token";
const T0: i64 = 1_764_806_400_000;
const LOST_DEVICE: &str = "device-lost-kek";
const FRESH_DEVICE: &str = "device-after-reset";

async fn start_server(folder: &Path) -> (RunningServer, Arc<SocSealingKey>) {
    let database = folder.join("soc.db");
    let sealing_key = Arc::new(
        vigil_server::load_or_create_sealing_key(&vigil_server::sealing_key_path(&database))
            .expect("the SOC sealing key must load"),
    );
    let config = ServerConfig {
        database,
        sealing_key: sealing_key.clone(),
        enrollment_code: CODE.into(),
        sites: Vec::new(),
        tag_keys: Vec::new(),
        operator_token: Some(OPERATOR_TOKEN.into()),
    };
    (vigil_server::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap(), sealing_key)
}

fn open_device(path: &Path, device_id: &str, url: &str, passphrase: &str) -> Result<Vigil, Error> {
    let mut config = Config::new(device_id, "guard-rescue", url, CODE);
    config.retry_base_delay_ms = 10;
    config.sync_attempts = 2;
    config.key_encryption_key = Some(Arc::new(PassphraseKek::with_iterations(passphrase, 1_000)));
    Vigil::open_with_clock(path, config, Arc::new(ManualClock::new(T0)))
}

fn incident(text: &str) -> Incident {
    Incident { category: "door".into(), severity: Severity::Low, text: text.into() }
}

/// Captures records under KEK A: some sent while online, then `offline` more that are
/// never sent, and closes the store. Returns the path of the database.
async fn capture_then_lose_key(folder: &Path, url: &str, offline: usize) -> std::path::PathBuf {
    let path = folder.join("old.db");
    let device = open_device(&path, LOST_DEVICE, url, "kek A").unwrap();
    device.log_incident(incident("Gate left open")).unwrap();
    device.sync_now().await.unwrap();

    for index in 0..offline {
        device.log_incident(incident(&format!("Offline round {index}"))).unwrap();
    }
    drop(device);

    let locked = open_device(&path, LOST_DEVICE, url, "kek B");
    assert!(matches!(locked, Err(Error::Locked(_))), "KEK B must not open the store: {locked:?}");
    path
}

async fn export(server: &RunningServer, device_id: &str) -> EvidenceExport {
    vigil_core::sync::install_default_crypto_provider();
    reqwest::Client::new()
        .get(format!("{}/v1/operator/devices/{device_id}/export", server.url()))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .bytes()
        .await
        .map(|body| serde_json::from_slice(&body).unwrap())
        .unwrap()
}

/// Enrolls a device with its own key and returns a client that signs its requests, with
/// its token.
async fn enroll(server: &RunningServer, device_id: &str) -> (SyncClient, String) {
    let key = Arc::new(DeviceSigningKey::generate().unwrap());
    let signer = RequestSigner::new(device_id, key.clone(), Arc::new(SystemClock));
    let client = SyncClient::new(&server.url(), Duration::from_secs(10))
        .unwrap()
        .with_signer(Arc::new(signer));
    let request = EnrollRequest {
        device_id: device_id.into(),
        guard_id: "guard-raw".into(),
        enrollment_code: CODE.into(),
        public_key: Some(URL_SAFE_NO_PAD.encode(key.public_key())),
    };
    let reply = client.enroll(&request).await.unwrap();
    (client, reply.device_token)
}

fn flip_sealed_byte(path: &Path, seq: u64) {
    let connection = rusqlite::Connection::open(path).unwrap();
    let sealed: Vec<u8> = connection
        .query_row("SELECT sealed FROM records WHERE seq = ?1", [seq as i64], |row| row.get(0))
        .unwrap();
    let mut tampered = sealed.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    connection
        .execute(
            "UPDATE records SET sealed = ?1 WHERE seq = ?2",
            rusqlite::params![tampered, seq as i64],
        )
        .unwrap();
}

#[tokio::test]
async fn adopted_records_reach_soc_with_chain() {
    let server_folder = tempfile::tempdir().unwrap();
    let (server, _) = start_server(server_folder.path()).await;
    let device_folder = tempfile::tempdir().unwrap();
    let old_path = capture_then_lose_key(device_folder.path(), &server.url(), 3).await;
    let old_bytes = std::fs::read(&old_path).unwrap();
    let sent_before = server.store().unwrap().records_for_device(LOST_DEVICE).unwrap().len();

    let fresh =
        open_device(&device_folder.path().join("new.db"), FRESH_DEVICE, &server.url(), "kek B")
            .unwrap();
    let report = fresh.adopt_locked_evidence(&old_path).unwrap();
    let summary = fresh.sync_now().await.unwrap();

    assert_eq!(report.adopted, 3);
    assert_eq!(report.newly_adopted, 3);
    assert_eq!(report.unsealed, 0);
    assert_eq!(summary.acknowledged, 3);
    assert_eq!(fresh.adopted_pending().unwrap(), 0);
    assert_eq!(std::fs::read(&old_path).unwrap(), old_bytes, "the locked file changed");

    let on_server = server.store().unwrap().records_for_device(LOST_DEVICE).unwrap();
    let seqs: Vec<u64> = on_server.iter().map(|record| record.seq).collect();
    let expected: Vec<u64> = (1..=(sent_before as u64 + 3)).collect();
    assert_eq!(seqs, expected, "the original seqs, none missing");
    assert!(server.store().unwrap().records_for_device(FRESH_DEVICE).unwrap().is_empty());

    let export = export(&server, LOST_DEVICE).await;
    let public_key = URL_SAFE_NO_PAD.decode(&export.public_key).unwrap();
    let faults = verify_export(&export, &public_key);
    assert!(faults.is_empty(), "the chain has faults: {faults:?}");

    // A second adoption of the same file queues nothing new.
    let again = fresh.adopt_locked_evidence(&old_path).unwrap();
    assert_eq!(again.newly_adopted, 0);
    assert_eq!(fresh.adopted_pending().unwrap(), 0);
}

#[tokio::test]
async fn tampered_box_rejected_rest_delivered() {
    let server_folder = tempfile::tempdir().unwrap();
    let (server, _) = start_server(server_folder.path()).await;
    let device_folder = tempfile::tempdir().unwrap();
    let old_path = capture_then_lose_key(device_folder.path(), &server.url(), 4).await;
    let sent_before = server.store().unwrap().records_for_device(LOST_DEVICE).unwrap().len() as u64;
    let tampered_seq = sent_before + 2;
    flip_sealed_byte(&old_path, tampered_seq);

    let fresh =
        open_device(&device_folder.path().join("new.db"), FRESH_DEVICE, &server.url(), "kek B")
            .unwrap();
    fresh.adopt_locked_evidence(&old_path).unwrap();
    let summary = fresh.sync_now().await.unwrap();

    assert_eq!(summary.acknowledged, 3);
    assert_eq!(summary.rejected, 1);
    assert_eq!(fresh.store().adopted_counts().unwrap().rejected, 1);
    assert_eq!(fresh.adopted_pending().unwrap(), 0);
    let seqs: Vec<u64> = server
        .store()
        .unwrap()
        .records_for_device(LOST_DEVICE)
        .unwrap()
        .iter()
        .map(|record| record.seq)
        .collect();
    assert!(!seqs.contains(&tampered_seq), "the tampered record was stored");
    for seq in [sent_before + 1, sent_before + 3, sent_before + 4] {
        assert!(seqs.contains(&seq), "seq {seq} was not delivered: {seqs:?}");
    }
}

#[tokio::test]
async fn rescue_push_replay_is_idempotent() {
    let server_folder = tempfile::tempdir().unwrap();
    let (server, _) = start_server(server_folder.path()).await;
    let device_folder = tempfile::tempdir().unwrap();
    let old_path = capture_then_lose_key(device_folder.path(), &server.url(), 3).await;
    let rescued = rescue_sealed(&old_path).unwrap();
    let request = PushRequest {
        records: rescued
            .records
            .iter()
            .map(|record| vigil_core::protocol::SealedRecord {
                id: record.id,
                seq: record.seq,
                sealed: URL_SAFE_NO_PAD.encode(&record.sealed),
                signature: URL_SAFE_NO_PAD.encode(&record.signature),
            })
            .collect(),
    };
    let (client, token) = enroll(&server, FRESH_DEVICE).await;

    let first = client.push_rescued(&token, &request).await.unwrap();
    let count_after_first = server.store().unwrap().record_count().unwrap();
    let replay = client.push_rescued(&token, &request).await.unwrap();

    assert_eq!(first.acked.len(), 3, "{first:?}");
    assert!(first.rejected.is_empty(), "{first:?}");
    assert_eq!(replay.acked, first.acked);
    assert!(replay.rejected.is_empty(), "{replay:?}");
    assert_eq!(server.store().unwrap().record_count().unwrap(), count_after_first);
}

#[tokio::test]
async fn box_of_unenrolled_device_rejected() {
    let server_folder = tempfile::tempdir().unwrap();
    let (server, sealing_key) = start_server(server_folder.path()).await;
    let device_folder = tempfile::tempdir().unwrap();
    capture_then_lose_key(device_folder.path(), &server.url(), 0).await;
    let stored = export(&server, LOST_DEVICE).await;
    let canonical = URL_SAFE_NO_PAD.decode(&stored.records[0].canonical).unwrap();
    let (client, token) = enroll(&server, FRESH_DEVICE).await;

    // A record naming a device the SOC never enrolled, and one naming the enrolled device
    // but signed with another key.
    let mut ghost: serde_json::Value = serde_json::from_slice(&canonical).unwrap();
    ghost["device_id"] = "ghost-device".into();
    ghost["id"] = uuid::Uuid::new_v4().to_string().into();
    let ghost_id: uuid::Uuid = ghost["id"].as_str().unwrap().parse().unwrap();
    let mut forged: serde_json::Value = serde_json::from_slice(&canonical).unwrap();
    forged["id"] = uuid::Uuid::new_v4().to_string().into();
    forged["seq"] = 2.into();
    let forged_id: uuid::Uuid = forged["id"].as_str().unwrap().parse().unwrap();
    let forger = DeviceSigningKey::generate().unwrap();
    let soc_public_key = sealing_key.public_key();
    let records = vec![
        seal_record(ghost_id, 1, &serde_json::to_vec(&ghost).unwrap(), &forger, &soc_public_key)
            .unwrap(),
        seal_record(forged_id, 2, &serde_json::to_vec(&forged).unwrap(), &forger, &soc_public_key)
            .unwrap(),
    ];

    let reply = client.push_rescued(&token, &PushRequest { records }).await.unwrap();

    assert!(reply.acked.is_empty(), "{reply:?}");
    let codes: Vec<(uuid::Uuid, &str)> =
        reply.rejected.iter().map(|rejected| (rejected.id, rejected.code.as_str())).collect();
    assert_eq!(codes, [(ghost_id, "bad_signature"), (forged_id, "bad_signature")]);
    assert!(server.store().unwrap().records_for_device("ghost-device").unwrap().is_empty());
    assert_eq!(server.store().unwrap().records_for_device(LOST_DEVICE).unwrap().len(), 1);
}
