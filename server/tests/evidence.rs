//! Records as evidence at the SOC: sealed boxes, signatures and each device's hash chain,
//! checked on push and reported to the operator.

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use support::{Client, incident, localhost, panic_alert, record};
use vigil_core::crypto::{DeviceSigningKey, GENESIS_HASH, record_hash};
use vigil_core::evidence::{ChainReport, EvidenceExport, SeqRange, verify_export};
use vigil_core::model::{Record, RecordBody};
use vigil_core::protocol::{EnrollRequest, PushRequest, PushResponse};
use vigil_server::{RunningServer, ServerConfig};

const OPERATOR_TOKEN: &str = "operator-evidence-token";

async fn start() -> (tempfile::TempDir, RunningServer, Client) {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        operator_token: Some(OPERATOR_TOKEN.to_owned()),
        ..support::config(&dir, Vec::new())
    };
    let server = vigil_server::start(config, localhost(0)).await.unwrap();
    let client = Client::new(server.url());
    (dir, server, client)
}

/// Returns `count` records of `device_id` from seq 1, each linked to the one before.
fn chain(device_id: &str, count: u64) -> Vec<Record> {
    let mut prev_hash = GENESIS_HASH;
    let mut records = Vec::new();
    for seq in 1..=count {
        let mut next = record(device_id, seq, incident(&format!("report {seq}")));
        next.prev_hash = Some(URL_SAFE_NO_PAD.encode(prev_hash));
        prev_hash = record_hash(&serde_json::to_vec(&next).unwrap());
        records.push(next);
    }
    records
}

async fn push_sealed(client: &Client, token: &str, request: &PushRequest) -> PushResponse {
    let reply = client.post("/v1/records", Some(token), request).await;
    assert_eq!(reply.status, 200, "push failed: {}", reply.body);
    reply.parse()
}

async fn push(client: &Client, token: &str, records: &[Record]) -> PushResponse {
    push_sealed(client, token, &client.push_request(records)).await
}

fn codes(reply: &PushResponse) -> Vec<&str> {
    reply.rejected.iter().map(|rejected| rejected.code.as_str()).collect()
}

async fn chain_report(client: &Client, device_id: &str) -> ChainReport {
    let reply =
        client.get(&format!("/v1/operator/devices/{device_id}/chain"), Some(OPERATOR_TOKEN)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.parse()
}

async fn export(client: &Client, device_id: &str) -> EvidenceExport {
    let reply =
        client.get(&format!("/v1/operator/devices/{device_id}/export"), Some(OPERATOR_TOKEN)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.parse()
}

#[tokio::test]
async fn intact_chain_exports_and_verifies() {
    let (_dir, _server, client) = start().await;
    let token = client.enroll("phone-1").await;
    let records = chain("phone-1", 4);

    let reply = push(&client, &token, &records).await;
    assert_eq!(reply.acked.len(), 4, "{:?}", reply.rejected);

    let report = chain_report(&client, "phone-1").await;
    assert_eq!(report.highest_seq, 4);
    assert_eq!(report.records, 4);
    assert!(report.missing.is_empty());
    assert!(report.faults.is_empty());

    let exported = export(&client, "phone-1").await;
    assert_eq!(exported.public_key, support::encoded_public_key("phone-1"));
    assert_eq!(exported.records.len(), 4);
    let canonical = URL_SAFE_NO_PAD.decode(&exported.records[0].canonical).unwrap();
    assert_eq!(canonical, serde_json::to_vec(&records[0]).unwrap());
    let key = support::device_key("phone-1").public_key();
    assert_eq!(verify_export(&exported, &key), vec![]);
}

#[tokio::test]
async fn tampered_box_is_rejected() {
    let (_dir, server, client) = start().await;
    let token = client.enroll("phone-1").await;
    let mut request = client.push_request(&chain("phone-1", 1));
    let mut sealed = URL_SAFE_NO_PAD.decode(&request.records[0].sealed).unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    request.records[0].sealed = URL_SAFE_NO_PAD.encode(sealed);

    let reply = push_sealed(&client, &token, &request).await;

    assert_eq!(codes(&reply), ["tampered"]);
    assert_eq!(server.store().unwrap().record_count().unwrap(), 0);
    let report = chain_report(&client, "phone-1").await;
    assert_eq!(report.faults.len(), 1);
    assert_eq!(report.faults[0].code, "tampered");
    assert_eq!(report.faults[0].seq, 1);
}

#[tokio::test]
async fn box_moved_to_another_id_is_tampered() {
    let (_dir, _server, client) = start().await;
    let token = client.enroll("phone-1").await;
    let mut request = client.push_request(&chain("phone-1", 2));
    let second_box = request.records[1].sealed.clone();
    request.records[0].sealed = second_box;

    let reply = push_sealed(&client, &token, &request).await;

    assert_eq!(codes(&reply), ["tampered"]);
    assert_eq!(reply.acked, [request.records[1].id]);
}

#[tokio::test]
async fn forged_record_with_another_key_is_rejected() {
    let (_dir, server, client) = start().await;
    let token = client.enroll("phone-1").await;
    let forger = DeviceSigningKey::generate().unwrap();
    let forged = client.seal_signed_by(&chain("phone-1", 1)[0], &forger);

    let reply = push_sealed(&client, &token, &PushRequest { records: vec![forged] }).await;

    assert_eq!(codes(&reply), ["bad_signature"]);
    assert_eq!(server.store().unwrap().record_count().unwrap(), 0);
}

#[tokio::test]
async fn record_naming_another_device_is_rejected() {
    let (_dir, server, client) = start().await;
    let token = client.enroll("phone-1").await;
    client.enroll("phone-2").await;
    // phone-2's own, validly signed record, replayed with phone-1's token.
    let theirs = client.push_request(&chain("phone-2", 1));
    // A record naming phone-2, signed with phone-1's key.
    let own_key = support::device_key("phone-1");
    let named = client.seal_signed_by(&chain("phone-2", 1)[0], &own_key);

    let replayed = push_sealed(&client, &token, &theirs).await;
    let misnamed = push_sealed(&client, &token, &PushRequest { records: vec![named] }).await;

    assert_eq!(codes(&replayed), ["bad_signature"]);
    assert_eq!(codes(&misnamed), ["wrong_device"]);
    assert_eq!(server.store().unwrap().record_count().unwrap(), 0);
}

#[tokio::test]
async fn clear_seq_must_match_signed_seq() {
    let (_dir, _server, client) = start().await;
    let token = client.enroll("phone-1").await;
    let mut request = client.push_request(&chain("phone-1", 1));
    request.records[0].seq = 7;

    let reply = push_sealed(&client, &token, &request).await;

    assert_eq!(codes(&reply), ["invalid_record"]);
}

#[tokio::test]
async fn edited_record_is_an_id_conflict() {
    let (_dir, server, client) = start().await;
    let token = client.enroll("phone-1").await;
    let records = chain("phone-1", 2);
    push(&client, &token, &records).await;
    let mut edited = records[1].clone();
    edited.body = incident("nothing happened");

    let reply = push(&client, &token, &[edited]).await;

    assert_eq!(codes(&reply), ["id_conflict"]);
    assert_eq!(server.store().unwrap().records_for_device("phone-1").unwrap(), records);
    assert_eq!(chain_report(&client, "phone-1").await.faults[0].code, "id_conflict");
}

#[tokio::test]
async fn second_record_at_a_seq_is_a_fork() {
    let (_dir, _server, client) = start().await;
    let token = client.enroll("phone-1").await;
    let records = chain("phone-1", 2);
    push(&client, &token, &records).await;
    let mut fork = records[1].clone();
    fork.id = uuid::Uuid::now_v7();

    let reply = push(&client, &token, &[fork]).await;

    assert_eq!(codes(&reply), ["seq_conflict"]);
}

#[tokio::test]
async fn wrong_links_are_broken_links() {
    let (_dir, _server, client) = start().await;
    let token = client.enroll("phone-1").await;
    let records = chain("phone-1", 3);
    push(&client, &token, &[records[0].clone()]).await;

    // Seq 2 claims another predecessor than the stored seq 1.
    let mut wrong_predecessor = records[1].clone();
    wrong_predecessor.prev_hash = Some(URL_SAFE_NO_PAD.encode([7u8; 32]));
    // Seq 1 of another chain must link to the genesis hash.
    let mut bad_genesis = chain("phone-1", 1).remove(0);
    bad_genesis.prev_hash = Some(URL_SAFE_NO_PAD.encode([7u8; 32]));

    let first = push(&client, &token, &[wrong_predecessor]).await;
    assert_eq!(codes(&first), ["broken_link"]);

    // Seq 3 arrives first; a seq 2 that seq 3 does not link to is then rejected.
    push(&client, &token, &[records[2].clone()]).await;
    let mut unlinked_middle = records[1].clone();
    unlinked_middle.body = RecordBody::ShiftEnd;
    unlinked_middle.prev_hash = records[1].prev_hash.clone();
    let second = push(&client, &token, &[unlinked_middle]).await;
    assert_eq!(codes(&second), ["broken_link"]);

    let genesis_device = client.enroll("phone-9").await;
    bad_genesis.device_id = "phone-9".to_owned();
    let third = push(&client, &genesis_device, &[bad_genesis]).await;
    assert_eq!(codes(&third), ["broken_link"]);

    // The true seq 2 still fits between them.
    let fitting = push(&client, &token, &[records[1].clone()]).await;
    assert!(fitting.rejected.is_empty(), "{:?}", fitting.rejected);
}

#[tokio::test]
async fn out_of_order_push_reports_gaps() {
    let (_dir, _server, client) = start().await;
    let token = client.enroll("phone-1").await;
    let records = chain("phone-1", 6);

    // A panic alert and an incident go first: seq 5, then 2.
    let reply = push(&client, &token, &[records[4].clone(), records[1].clone()]).await;
    assert!(reply.rejected.is_empty(), "{:?}", reply.rejected);

    let report = chain_report(&client, "phone-1").await;
    assert_eq!(report.highest_seq, 5);
    assert_eq!(report.missing, [SeqRange { first: 1, last: 1 }, SeqRange { first: 3, last: 4 }]);
    assert!(report.faults.is_empty(), "a gap is not a fault: {:?}", report.faults);

    push(&client, &token, &records).await;
    let report = chain_report(&client, "phone-1").await;
    assert_eq!(report.highest_seq, 6);
    assert!(report.missing.is_empty());
}

#[tokio::test]
async fn replayed_push_changes_nothing() {
    let (_dir, server, client) = start().await;
    let token = client.enroll("phone-1").await;
    let mut records = chain("phone-1", 3);
    records[2].body = panic_alert();
    let request = client.push_request(&records);

    let first = push_sealed(&client, &token, &request).await;
    let before = export(&client, "phone-1").await;
    let alerts_before = server.store().unwrap().alerts().unwrap();
    let replay = push_sealed(&client, &token, &request).await;

    assert_eq!(first.acked, replay.acked);
    assert!(replay.rejected.is_empty());
    assert_eq!(export(&client, "phone-1").await, before);
    assert_eq!(server.store().unwrap().alerts().unwrap(), alerts_before);
    assert!(chain_report(&client, "phone-1").await.faults.is_empty());
}

#[tokio::test]
async fn reenrollment_with_another_key_is_refused() {
    let (_dir, _server, client) = start().await;
    let token = client.enroll("phone-1").await;
    let impostor = DeviceSigningKey::generate().unwrap();
    let request = EnrollRequest {
        device_id: "phone-1".to_owned(),
        guard_id: "guard-7".to_owned(),
        enrollment_code: support::CODE.to_owned(),
        public_key: Some(URL_SAFE_NO_PAD.encode(impostor.public_key())),
    };

    let reply = client.post("/v1/enroll", None, &request).await;

    assert_eq!(reply.status, 409, "{}", reply.body);
    assert_eq!(reply.error_code(), "device_key_mismatch");
    let still_valid = client.get("/v1/assignments", Some(&token)).await;
    assert_eq!(still_valid.status, 200, "the device's token must survive the attempt");
    assert_eq!(export(&client, "phone-1").await.public_key, support::encoded_public_key("phone-1"));
}

#[tokio::test]
async fn enrollment_without_key_is_refused() {
    let (_dir, _server, client) = start().await;
    let request = EnrollRequest {
        device_id: "phone-1".to_owned(),
        guard_id: "guard-7".to_owned(),
        enrollment_code: support::CODE.to_owned(),
        public_key: None,
    };

    let reply = client.post("/v1/enroll", None, &request).await;

    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.error_message().contains("public_key"), "{}", reply.error_message());
}

#[tokio::test]
async fn evidence_endpoints_need_operator_and_known_device() {
    let (_dir, _server, client) = start().await;
    let token = client.enroll("phone-1").await;

    let device = client.get("/v1/operator/devices/phone-1/export", Some(&token)).await;
    let unknown = client.get("/v1/operator/devices/phone-404/chain", Some(OPERATOR_TOKEN)).await;

    assert_eq!(device.status, 401);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_code(), "not_found");
}
