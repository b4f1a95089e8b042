//! Commands queued by an operator and pulled by a device, over real HTTP on loopback.

mod support;

use serde_json::json;
use support::{Client, localhost};
use vigil_server::{RunningServer, ServerConfig};

const OPERATOR_TOKEN: &str = "operator-secret-token";

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

#[tokio::test]
async fn device_pulls_commands_after_cursor() {
    let (_dir, _server, client) = start().await;
    let token = client.enroll("phone-1").await;
    let other = client.enroll("phone-2").await;
    let path = "/v1/operator/devices/phone-1/commands";

    let first = client.post(path, Some(OPERATOR_TOKEN), &json!({"kind": "wipe"})).await;
    let second = client.post(path, Some(OPERATOR_TOKEN), &json!({"kind": "wipe"})).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let first_seq = first.body["seq"].as_i64().unwrap();
    let second_seq = second.body["seq"].as_i64().unwrap();
    assert!(second_seq > first_seq);

    let all = client.get("/v1/commands?cursor=0", Some(&token)).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["commands"][0]["seq"], json!(first_seq));
    assert_eq!(all.body["commands"][0]["kind"], json!("wipe"));
    assert_eq!(all.body["commands"][1]["seq"], json!(second_seq));
    let later = client.get(&format!("/v1/commands?cursor={first_seq}"), Some(&token)).await;
    assert_eq!(later.body["commands"].as_array().unwrap().len(), 1);
    let none = client.get("/v1/commands?cursor=0", Some(&other)).await;
    assert_eq!(none.body["commands"], json!([]), "another device's commands stay hidden");

    let ack =
        client.post("/v1/commands/ack", Some(&token), &json!({"through_seq": first_seq})).await;
    assert_eq!(ack.status, 200, "{}", ack.body);
    assert_eq!(ack.body["acknowledged"], json!(1));
    let again =
        client.post("/v1/commands/ack", Some(&token), &json!({"through_seq": first_seq})).await;
    assert_eq!(again.body["acknowledged"], json!(0), "a repeated ack changes nothing");

    let listed = client.get(path, Some(OPERATOR_TOKEN)).await;
    assert!(listed.body["commands"][0]["acknowledged_at_ms"].is_i64(), "{}", listed.body);
    assert!(listed.body["commands"][1]["acknowledged_at_ms"].is_null(), "{}", listed.body);
}

#[tokio::test]
async fn reenrolled_device_drops_old_commands() {
    let (_dir, _server, client) = start().await;
    client.enroll("phone-1").await;
    let path = "/v1/operator/devices/phone-1/commands";
    client.post(path, Some(OPERATOR_TOKEN), &json!({"kind": "wipe"})).await;

    let token = client.enroll("phone-1").await;

    let pulled = client.get("/v1/commands?cursor=0", Some(&token)).await;
    assert_eq!(pulled.body["commands"], json!([]));
}

#[tokio::test]
async fn queue_rejects_bad_requests() {
    let (_dir, _server, client) = start().await;
    let token = client.enroll("phone-1").await;

    let unknown_kind = client
        .post(
            "/v1/operator/devices/phone-1/commands",
            Some(OPERATOR_TOKEN),
            &json!({"kind": "format"}),
        )
        .await;
    let unknown_device = client
        .post(
            "/v1/operator/devices/phone-9/commands",
            Some(OPERATOR_TOKEN),
            &json!({"kind": "wipe"}),
        )
        .await;
    let by_device = client
        .post("/v1/operator/devices/phone-1/commands", Some(&token), &json!({"kind": "wipe"}))
        .await;
    let negative = client.get("/v1/commands?cursor=-1", Some(&token)).await;

    assert_eq!(unknown_kind.status, 400, "{}", unknown_kind.body);
    assert_eq!(unknown_device.status, 404, "{}", unknown_device.body);
    assert_eq!(by_device.status, 401, "a device cannot queue commands");
    assert_eq!(negative.status, 400, "{}", negative.body);
}
