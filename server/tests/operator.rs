//! The operator endpoints over real HTTP on loopback.

mod support;

use serde_json::json;
use support::{Client, localhost, panic_alert, record};
use vigil_server::{RunningServer, ServerConfig};

const OPERATOR_TOKEN: &str = "operator-secret-token";

async fn start(operator_token: Option<&str>) -> (tempfile::TempDir, RunningServer, Client) {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        operator_token: operator_token.map(str::to_owned),
        ..support::config(&dir, Vec::new())
    };
    let server = vigil_server::start(config, localhost(0)).await.unwrap();
    let client = Client::new(server.url());
    (dir, server, client)
}

#[tokio::test]
async fn operator_acknowledges_an_alert() {
    let (_dir, _server, client) = start(Some(OPERATOR_TOKEN)).await;
    let token = client.enroll("phone-1").await;
    let alert = record("phone-1", 1, panic_alert());
    let request = client.panic_request(&alert);
    assert_eq!(client.post("/v1/panic", Some(&token), &request).await.status, 200);

    let listed = client.get("/v1/operator/alerts", Some(OPERATOR_TOKEN)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["alerts"][0]["record_id"], json!(alert.id));
    assert_eq!(listed.body["alerts"][0]["acknowledged_at_ms"], json!(null));

    let path = format!("/v1/operator/alerts/{}/ack", alert.id);
    let acknowledged = client.post(&path, Some(OPERATOR_TOKEN), &json!({})).await;
    assert_eq!(acknowledged.status, 200, "{}", acknowledged.body);
    let first_time = acknowledged.body["acknowledged_at_ms"].as_i64().unwrap();

    // The device learns of it from the reply to its next resend; a second ack keeps the time.
    let resent = client.post("/v1/panic", Some(&token), &request).await;
    assert_eq!(resent.body["acknowledged_at_ms"].as_i64(), Some(first_time));
    let again = client.post(&path, Some(OPERATOR_TOKEN), &json!({})).await;
    assert_eq!(again.body["acknowledged_at_ms"].as_i64(), Some(first_time));
}

#[tokio::test]
async fn operator_endpoints_need_the_operator_token() {
    let (_dir, _server, client) = start(Some(OPERATOR_TOKEN)).await;
    let device_token = client.enroll("phone-1").await;

    let missing = client.get("/v1/operator/alerts", None).await;
    assert_eq!(missing.status, 401);
    let device = client.get("/v1/operator/alerts", Some(&device_token)).await;
    assert_eq!(device.status, 401, "a device token is not an operator token");
    assert_eq!(device.error_code(), "unauthorized");
}

#[tokio::test]
async fn operator_errors_name_the_problem() {
    let (_dir, _server, client) = start(Some(OPERATOR_TOKEN)).await;

    let unknown = format!("/v1/operator/alerts/{}/ack", uuid::Uuid::now_v7());
    let reply = client.post(&unknown, Some(OPERATOR_TOKEN), &json!({})).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error_code(), "not_found");

    let malformed =
        client.post("/v1/operator/alerts/42/ack", Some(OPERATOR_TOKEN), &json!({})).await;
    assert_eq!(malformed.status, 400);
    assert!(malformed.error_message().contains("42"), "{}", malformed.error_message());
}

#[tokio::test]
async fn operator_endpoints_are_off_without_a_token() {
    let (_dir, _server, client) = start(None).await;
    let reply = client.get("/v1/operator/alerts", Some(OPERATOR_TOKEN)).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error_code(), "not_found");
}

#[tokio::test]
async fn operator_lists_silent_devices() {
    let (_dir, _server, client) = start(Some(OPERATOR_TOKEN)).await;
    let token = client.enroll("phone-1").await;
    let heartbeat = json!({
        "location_permission": true,
        "battery_percent": 80,
        "pending_alerts": 0,
        "sent_at_ms": 1_764_806_400_000_i64,
    });
    let sent = client.post("/v1/heartbeat", Some(&token), &heartbeat).await;
    assert_eq!(sent.status, 200, "{}", sent.body);

    let fresh = client.get("/v1/operator/devices", Some(OPERATOR_TOKEN)).await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(fresh.body["devices"][0]["device_id"], json!("phone-1"));
    assert_eq!(fresh.body["devices"][0]["silent"], json!(false));

    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let silent = client.get("/v1/operator/devices?silent_after_s=1", Some(OPERATOR_TOKEN)).await;
    assert_eq!(silent.body["devices"][0]["silent"], json!(true), "{}", silent.body);
}
