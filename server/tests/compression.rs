//! Gzip-compressed push bodies over real HTTP on loopback.

mod support;

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use support::{TestServer, incident, record};
use vigil_core::protocol::PushResponse;
use vigil_server::MAX_BODY_BYTES;

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

/// Posts `wire` to `/v1/records` with the given `Content-Encoding`, signed over `decoded`.
/// Returns the status and the JSON reply.
async fn post_encoded(
    test: &TestServer,
    token: &str,
    encoding: &str,
    decoded: &[u8],
    wire: Vec<u8>,
) -> (u16, serde_json::Value) {
    let reply = test.client.post_encoded("/v1/records", token, encoding, decoded, wire).await;
    (reply.status, reply.body)
}

#[tokio::test]
async fn gzip_push_is_stored() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    let records: Vec<_> = (1..=20)
        .map(|seq| record("phone-1", seq, incident("Door open at the loading bay")))
        .collect();
    let json = serde_json::to_vec(&test.client.push_request(&records)).unwrap();

    let (status, body) = post_encoded(&test, &token, "gzip", &json, gzip(&json)).await;

    assert_eq!(status, 200, "{body}");
    let reply: PushResponse = serde_json::from_value(body).unwrap();
    assert_eq!(reply.acked.len(), 20);
    let stored = test.server.store().unwrap().records_for_device("phone-1").unwrap();
    assert_eq!(stored, records);
}

#[tokio::test]
async fn gzip_bomb_is_413() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;
    // 64 MiB of spaces, which gzip shrinks to under 256 KiB, as the assert checks.
    let bomb = gzip(&vec![b' '; 16 * MAX_BODY_BYTES]);
    assert!(bomb.len() < MAX_BODY_BYTES / 16);

    let (status, body) = post_encoded(&test, &token, "gzip", b"", bomb).await;

    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn invalid_gzip_is_400() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;

    let (status, body) =
        post_encoded(&test, &token, "gzip", b"", b"{\"records\":[]}".to_vec()).await;

    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
}

#[tokio::test]
async fn unknown_encoding_is_415() {
    let test = TestServer::start(Vec::new()).await;
    let token = test.client.enroll("phone-1").await;

    let (status, body) = post_encoded(&test, &token, "br", b"", b"{\"records\":[]}".to_vec()).await;

    assert_eq!(status, 415, "{body}");
    assert_eq!(body["error"]["code"], "unsupported_encoding");
}
