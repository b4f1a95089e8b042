//! The server over real HTTP on 127.0.0.1, with its SQLite database in a temporary
//! directory.

mod support;

use serde_json::json;
use support::{Client, TestServer, incident, panic_alert, record, site};
use vigil_core::model::{Location, Record, RecordBody};
use vigil_core::protocol::{
    AssignmentsResponse, EnrollRequest, PanicResponse, PushRequest, PushResponse,
};
use vigil_server::{MAX_BATCH_RECORDS, MAX_BODY_BYTES, ServerConfig, ServerError, ServerStore};

async fn push(client: &Client, token: &str, records: &[Record]) -> PushResponse {
    let request = client.push_request(records);
    let reply = client.post("/v1/records", Some(token), &request).await;
    assert_eq!(reply.status, 200, "push failed: {}", reply.body);

    reply.parse()
}

fn enroll_request(device_id: &str, code: &str) -> EnrollRequest {
    EnrollRequest {
        device_id: device_id.to_owned(),
        guard_id: "guard-7".to_owned(),
        enrollment_code: code.to_owned(),
        public_key: Some(support::encoded_public_key(device_id)),
    }
}

#[tokio::test]
async fn enroll_issues_distinct_tokens() {
    let test = TestServer::start(Vec::new()).await;

    let first = test.client.enroll("phone-1").await;
    let second = test.client.enroll("phone-2").await;

    assert_ne!(first, second);
    assert!(first.len() >= 32, "token {first:?} is too short");
    assert_eq!(test.server.store().unwrap().device_ids().unwrap(), ["phone-1", "phone-2"]);
}

#[tokio::test]
async fn enroll_rejects_wrong_code() {
    let test = TestServer::start(Vec::new()).await;

    let reply = test.client.post("/v1/enroll", None, &enroll_request("phone-1", "guess")).await;

    assert_eq!(reply.status, 401);
    assert_eq!(reply.error_code(), "unauthorized");
    assert!(test.server.store().unwrap().device_ids().unwrap().is_empty());
}

#[tokio::test]
async fn enroll_rejects_empty_device_id() {
    let test = TestServer::start(Vec::new()).await;

    let reply = test.client.post("/v1/enroll", None, &enroll_request("", support::CODE)).await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.error_code(), "invalid_request");
    assert!(reply.error_message().contains("device_id"), "{}", reply.error_message());
}

#[tokio::test]
async fn reenroll_replaces_token() {
    let test = TestServer::start(Vec::new()).await;
    let old_token = test.client.enroll("phone-1").await;
    push(&test.client, &old_token, &[record("phone-1", 1, incident("before"))]).await;

    let new_token = test.client.enroll("phone-1").await;
    let old_reply = test.client.get("/v1/assignments", Some(&old_token)).await;
    let new_reply = test.client.get("/v1/assignments", Some(&new_token)).await;

    assert_eq!(old_reply.status, 401);
    assert_eq!(old_reply.error_code(), "unauthorized");
    assert_eq!(new_reply.status, 200);
    assert_eq!(test.server.store().unwrap().record_count().unwrap(), 1);
}

#[tokio::test]
async fn push_twice_stores_once() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    let records =
        [record("phone-1", 1, incident("door forced")), record("phone-1", 2, panic_alert())];
    let ids: Vec<_> = records.iter().map(|record| record.id).collect();

    let first = push(&test.client, &token, &records).await;
    let second = push(&test.client, &token, &records).await;

    assert_eq!(first.acked, ids);
    assert_eq!(second.acked, ids);
    assert!(first.rejected.is_empty());
    assert!(second.rejected.is_empty());
    let store = test.server.store().unwrap();
    assert_eq!(store.record_count().unwrap(), 2);
    assert_eq!(store.records_for_device("phone-1").unwrap(), records);
    assert!(store.duplicate_seqs().unwrap().is_empty());
}

#[tokio::test]
async fn push_repeated_id_in_one_batch() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    let original = record("phone-1", 1, incident("door forced"));

    let reply = push(&test.client, &token, &[original.clone(), original.clone()]).await;

    assert_eq!(reply.acked, [original.id, original.id]);
    assert_eq!(test.server.store().unwrap().record_count().unwrap(), 1);
}

#[tokio::test]
async fn push_rejects_id_conflict() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    let original = record("phone-1", 1, incident("door forced"));
    let changed = Record { body: incident("door closed"), ..original.clone() };
    push(&test.client, &token, std::slice::from_ref(&original)).await;

    let reply = push(&test.client, &token, &[changed]).await;

    assert!(reply.acked.is_empty());
    assert_eq!(reply.rejected.len(), 1);
    assert_eq!(reply.rejected[0].id, original.id);
    assert_eq!(reply.rejected[0].code, "id_conflict");
    assert_eq!(test.server.store().unwrap().records_for_device("phone-1").unwrap(), [original]);
}

#[tokio::test]
async fn push_rejects_wrong_device() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    test.client.enroll("phone-2").await;
    let own = record("phone-1", 1, incident("own"));
    let foreign = record("phone-2", 1, incident("foreign"));

    // phone-1 signs a record that names phone-2: the signature is valid, the device is not.
    let own_key = support::device_key("phone-1");
    let request = PushRequest {
        records: vec![test.client.seal(&own), test.client.seal_signed_by(&foreign, &own_key)],
    };
    let reply: PushResponse = test.client.post("/v1/records", Some(&token), &request).await.parse();

    assert_eq!(reply.acked, [own.id]);
    assert_eq!(reply.rejected.len(), 1);
    assert_eq!(reply.rejected[0].id, foreign.id);
    assert_eq!(reply.rejected[0].code, "wrong_device");
    let store = test.server.store().unwrap();
    assert_eq!(store.record_count().unwrap(), 1);
    assert!(store.records_for_device("phone-2").unwrap().is_empty());
}

#[tokio::test]
async fn push_rejects_invalid_records() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    let mut far_north = support::fix();
    far_north.latitude = 91.0;
    let cases = [
        Record { seq: 0, ..record("phone-1", 1, incident("a")) },
        Record { guard_id: String::new(), ..record("phone-1", 2, incident("b")) },
        Record { location: Location::Fix(far_north), ..record("phone-1", 3, incident("c")) },
        Record { id: uuid::Uuid::nil(), ..record("phone-1", 4, incident("d")) },
    ];

    let reply = push(&test.client, &token, &cases).await;

    assert!(reply.acked.is_empty());
    let codes: Vec<_> = reply.rejected.iter().map(|rejected| rejected.code.as_str()).collect();
    assert_eq!(codes, ["invalid_record"; 4]);
    assert!(reply.rejected[2].message.contains("latitude"), "{}", reply.rejected[2].message);
    assert_eq!(test.server.store().unwrap().record_count().unwrap(), 0);
}

#[tokio::test]
async fn push_rejects_bad_tokens() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    let body = test.client.push_request(&[record("phone-1", 1, incident("x"))]);
    let (selector, _) = token.split_once('.').unwrap();
    let wrong_verifier = format!("{selector}.{}", "0".repeat(32));

    for bad in ["nope", "", wrong_verifier.as_str()] {
        let reply = test.client.post("/v1/records", Some(bad), &body).await;
        assert_eq!(reply.status, 401, "token {bad:?}");
        assert_eq!(reply.error_code(), "unauthorized", "token {bad:?}");
    }
    let missing = test.client.post("/v1/records", None, &body).await;

    assert_eq!(missing.status, 401);
    assert_eq!(missing.error_code(), "unauthorized");
    assert_eq!(test.server.store().unwrap().record_count().unwrap(), 0);
}

#[tokio::test]
async fn push_rejects_garbage_body() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    let json = Some("application/json");

    let syntax =
        test.client.post_raw("/v1/records", Some(&token), json, b"{not json".to_vec()).await;
    let shape = test.client.post("/v1/records", Some(&token), &json!({ "records": 5 })).await;
    let untyped = test.client.post_raw("/v1/records", Some(&token), None, b"{}".to_vec()).await;

    assert_eq!(syntax.status, 400);
    assert_eq!(syntax.error_code(), "invalid_request");
    assert_eq!(shape.status, 400);
    assert_eq!(shape.error_code(), "invalid_request");
    assert!(shape.error_message().contains("records"), "{}", shape.error_message());
    assert_eq!(untyped.status, 415);
    assert_eq!(untyped.error_code(), "invalid_request");
}

#[tokio::test]
async fn push_rejects_oversized_batches() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    let too_many: Vec<_> = (1..=MAX_BATCH_RECORDS as u64 + 1)
        .map(|seq| record("phone-1", seq, RecordBody::ShiftEnd))
        .collect();
    let huge_text = "x".repeat(MAX_BODY_BYTES);

    let count_reply =
        test.client.post("/v1/records", Some(&token), &test.client.push_request(&too_many)).await;
    let size_reply = test
        .client
        .post(
            "/v1/records",
            Some(&token),
            &test.client.push_request(&[record("phone-1", 1, incident(&huge_text))]),
        )
        .await;

    assert_eq!(count_reply.status, 413);
    assert_eq!(count_reply.error_code(), "payload_too_large");
    assert_eq!(size_reply.status, 413);
    assert_eq!(size_reply.error_code(), "payload_too_large");
    assert_eq!(test.server.store().unwrap().record_count().unwrap(), 0);
}

#[tokio::test]
async fn panic_resend_is_idempotent() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    let alert = test.client.panic_request(&record("phone-1", 1, panic_alert()));

    let first = test.client.post("/v1/panic", Some(&token), &alert).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = test.client.post("/v1/panic", Some(&token), &alert).await;

    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(second.status, 200, "{}", second.body);
    let first: PanicResponse = first.parse();
    let second: PanicResponse = second.parse();
    assert_eq!(first.id, alert.record.id);
    assert_eq!(second.delivered_at_ms, first.delivered_at_ms);
    let store = test.server.store().unwrap();
    assert_eq!(store.record_count().unwrap(), 1);
    let alerts = store.alerts().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].record_id, alert.record.id);
    assert_eq!(alerts[0].device_id, "phone-1");
    assert_eq!(alerts[0].delivered_at_ms, first.delivered_at_ms);
}

#[tokio::test]
async fn panic_after_outbox_push_keeps_first_delivery() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    let alert = record("phone-1", 1, panic_alert());
    push(&test.client, &token, std::slice::from_ref(&alert)).await;
    let pushed = test.server.store().unwrap().alerts().unwrap();

    let reply =
        test.client.post("/v1/panic", Some(&token), &test.client.panic_request(&alert)).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(pushed.len(), 1);
    assert_eq!(reply.parse::<PanicResponse>().delivered_at_ms, pushed[0].delivered_at_ms);
}

#[tokio::test]
async fn panic_rejects_bad_records() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    test.client.enroll("phone-2").await;
    let stored = record("phone-1", 1, panic_alert());
    let conflicting = Record { seq: 2, ..stored.clone() };
    test.client.post("/v1/panic", Some(&token), &test.client.panic_request(&stored)).await;
    let cases = [
        (record("phone-1", 3, incident("not a panic")), 422, "invalid_record"),
        (record("phone-2", 1, panic_alert()), 422, "bad_signature"),
        (conflicting, 409, "id_conflict"),
        (Record { seq: 0, ..record("phone-1", 4, panic_alert()) }, 422, "invalid_record"),
    ];

    for (record, status, code) in cases {
        let request = test.client.panic_request(&record);
        let reply = test.client.post("/v1/panic", Some(&token), &request).await;
        assert_eq!(reply.status, status, "{code}: {}", reply.body);
        assert_eq!(reply.error_code(), code);
    }

    assert_eq!(test.server.store().unwrap().alerts().unwrap().len(), 1);
}

#[tokio::test]
async fn assignments_follow_cursor() {
    let test = TestServer::start(vec![site("depot", "Depot"), site("mall", "Mall")]).await;
    let token = test.client.enroll("phone-1").await;

    let first: AssignmentsResponse =
        test.client.get("/v1/assignments?cursor=0", Some(&token)).await.parse();
    let path = format!("/v1/assignments?cursor={}", first.cursor);
    let second: AssignmentsResponse = test.client.get(&path, Some(&token)).await.parse();
    let ahead: AssignmentsResponse =
        test.client.get("/v1/assignments?cursor=99", Some(&token)).await.parse();
    let absent: AssignmentsResponse =
        test.client.get("/v1/assignments", Some(&token)).await.parse();

    let ids: Vec<_> = first.sites.iter().map(|site| site.id.as_str()).collect();
    assert_eq!(ids, ["depot", "mall"]);
    assert_eq!(first.cursor, 2);
    assert_eq!(first.sites[1].revision, 2);
    assert!(second.sites.is_empty());
    assert_eq!(second.cursor, 2);
    assert_eq!(ahead.sites.len(), 2, "a cursor ahead of the server starts over");
    assert_eq!(ahead.cursor, 2);
    assert_eq!(absent.sites.len(), 2);
}

#[tokio::test]
async fn assignments_reject_bad_requests() {
    let test = TestServer::start(vec![site("depot", "Depot")]).await;
    let token = test.client.enroll("phone-1").await;

    let negative = test.client.get("/v1/assignments?cursor=-1", Some(&token)).await;
    let text = test.client.get("/v1/assignments?cursor=abc", Some(&token)).await;
    let anonymous = test.client.get("/v1/assignments", None).await;

    assert_eq!(negative.status, 400);
    assert_eq!(negative.error_code(), "invalid_request");
    assert_eq!(text.status, 400);
    assert_eq!(text.error_code(), "invalid_request");
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.error_code(), "unauthorized");
}

#[tokio::test]
async fn restart_same_port_keeps_data() {
    let test = TestServer::start(vec![site("depot", "Depot")]).await;
    let token = test.client.enroll("phone-1").await;
    let records = [record("phone-1", 1, incident("door forced"))];
    push(&test.client, &token, &records).await;
    let addr = test.server.addr();
    test.server.shutdown().await.expect("shut down");

    let changed = vigil_core::model::Site { name: "Depot North".to_owned(), ..site("depot", "") };
    let sites = vec![changed, site("mall", "Mall")];
    let restarted = support::start_at(&test.dir, sites, addr).await;
    // The same address, so the enrolled client with the SOC's key reaches the new server.
    let client = &test.client;
    let again = push(&client, &token, &records).await;
    let pulled: AssignmentsResponse =
        client.get("/v1/assignments?cursor=1", Some(&token)).await.parse();

    assert_eq!(restarted.addr(), addr);
    assert_eq!(again.acked, [records[0].id]);
    let store = restarted.store().unwrap();
    assert_eq!(store.record_count().unwrap(), 1);
    assert_eq!(store.records_for_device("phone-1").unwrap(), records);
    let names: Vec<_> = pulled.sites.iter().map(|site| site.name.as_str()).collect();
    assert_eq!(names, ["Depot North", "Mall"]);
    assert_eq!(pulled.cursor, 3);
    restarted.shutdown().await.expect("shut down");
}

#[tokio::test]
async fn store_reads_database_after_shutdown() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    push(&test.client, &token, &[record("phone-1", 1, panic_alert())]).await;
    let database = test.server.database().to_path_buf();
    test.server.shutdown().await.expect("shut down");

    let store = ServerStore::open(&database).expect("open the stopped server's database");

    assert_eq!(store.record_count().unwrap(), 1);
    assert_eq!(store.alerts().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_routes_reply_with_json_errors() {
    let test = TestServer::start(Vec::new()).await;

    let missing = test.client.get("/v2/records", None).await;
    let wrong_method = test.client.get("/v1/records", None).await;

    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "not_found");
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.error_code(), "method_not_allowed");
}

#[tokio::test]
async fn health_needs_no_token() {
    let test = TestServer::start(Vec::new()).await;

    let reply = test.client.get("/v1/health", None).await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["status"], "ok");
    assert_eq!(reply.body["protocol_version"], 1);
}

#[tokio::test]
async fn start_rejects_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let empty_code =
        ServerConfig { enrollment_code: String::new(), ..support::config(&dir, Vec::new()) };
    let repeated_site = support::config(&dir, vec![site("depot", "A"), site("depot", "B")]);

    for config in [empty_code, repeated_site] {
        let result = vigil_server::start(config, support::localhost(0)).await;
        assert!(matches!(result, Err(ServerError::InvalidConfig(_))), "{result:?}");
    }
}

#[tokio::test]
async fn start_rejects_busy_port() {
    let test = TestServer::start(Vec::new()).await;
    let other_dir = tempfile::tempdir().unwrap();

    let result =
        vigil_server::start(support::config(&other_dir, Vec::new()), test.server.addr()).await;

    assert!(matches!(result, Err(ServerError::Bind { .. })), "{result:?}");
}

#[tokio::test]
async fn shutdown_drops_stalled_connections() {
    use std::io::Write;

    let test = TestServer::start(Vec::new()).await;
    let addr = test.server.addr();
    // A blocking socket is fine here: the writes are a few bytes to loopback.
    let mut stalled = std::net::TcpStream::connect(addr).unwrap();
    let head = "POST /v1/enroll HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\n\r\n{\"device_id\":";
    stalled.write_all(head.as_bytes()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;

    let started = std::time::Instant::now();
    test.server.shutdown_within(std::time::Duration::from_millis(300)).await.unwrap();
    let restarted = support::start_at(&test.dir, Vec::new(), addr).await;

    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(restarted.addr(), addr);
    restarted.shutdown().await.unwrap();
}

#[tokio::test]
async fn conflicting_copy_in_batch_is_only_rejected() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    let original = record("phone-1", 1, incident("door forced"));
    let mut edited = original.clone();
    edited.body = incident("door closed");

    let reply = push(&test.client, &token, &[original.clone(), edited]).await;

    assert!(reply.acked.is_empty(), "{:?}", reply.acked);
    assert_eq!(reply.rejected.len(), 1);
    assert_eq!(reply.rejected[0].id, original.id);
    assert_eq!(reply.rejected[0].code, "id_conflict");
}

#[tokio::test]
async fn push_rejects_out_of_range_content() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    let empty_text = record("phone-1", 1, incident("   "));
    let huge_text = record("phone-1", 2, incident(&"x".repeat(20_000)));
    let mut long_guard = record("phone-1", 3, incident("ok"));
    long_guard.guard_id = "g".repeat(1_000);
    let mut early = record("phone-1", 4, incident("ok"));
    early.captured_at_ms = i64::MIN;
    let valid = record("phone-1", 5, incident("ok"));

    let records = [empty_text, huge_text, long_guard, early, valid.clone()];
    let reply = push(&test.client, &token, &records).await;

    assert_eq!(reply.acked, [valid.id]);
    assert_eq!(reply.rejected.len(), 4);
    for rejected in &reply.rejected {
        assert_eq!(rejected.code, "invalid_record", "{rejected:?}");
    }
    assert_eq!(test.server.store().unwrap().record_count().unwrap(), 1);
}

#[tokio::test]
async fn heartbeat_needs_token_and_valid_battery() {
    let test = TestServer::start(Vec::new()).await;
    let heartbeat = vigil_core::protocol::HeartbeatRequest {
        location_permission: true,
        battery_percent: Some(101),
        last_fix_age_ms: None,
        pending_alerts: 0,
        sent_at_ms: 0,
    };

    let anonymous = test.client.post("/v1/heartbeat", None, &heartbeat).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);

    let token = test.client.enroll("phone-1").await;
    let invalid = test.client.post("/v1/heartbeat", Some(&token), &heartbeat).await;
    assert_eq!(invalid.status, 400, "{}", invalid.body);

    let valid = vigil_core::protocol::HeartbeatRequest { battery_percent: Some(100), ..heartbeat };
    let stored = test.client.post("/v1/heartbeat", Some(&token), &valid).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    let listed = test.server.store().unwrap().device_heartbeats(i64::MAX / 2, 180_000).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].silent);
}

#[tokio::test]
async fn enroll_rejects_invalid_public_key() {
    let test = TestServer::start(Vec::new()).await;
    let mut request = enroll_request("phone-1", support::CODE);
    request.public_key = Some("not-a-key".into());

    let reply = test.client.post("/v1/enroll", None, &request).await;

    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.to_string().contains("public_key"), "{}", reply.body);
}
