//! The link to the SOC over TLS on 127.0.0.1: certificate pinning, untrusted certificates,
//! and signed requests that the reference server rejects when replayed, tampered with or
//! sent with another device's token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vigil_core::crypto::DeviceSigningKey;
use vigil_core::model::{Incident, Severity};
use vigil_core::protocol::{EnrollRequest, ErrorResponse};
use vigil_core::sync::request_auth::{
    DEVICE_ID_HEADER, SERVER_TIME_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use vigil_core::sync::{RequestSigner, SyncClient, TlsSettings, spki_pins_from_pem};
use vigil_core::{Clock, Config, Error, ManualClock, SystemClock, Vigil};
use vigil_server::{DevCertificate, RunningServer, ServerConfig, ServerTls};

const CODE: &str = "enroll-me";
const HOUR: i64 = 3_600_000;
/// A pin that matches no certificate: the SHA-256 of nothing, in base64.
const UNUSED_PIN: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

fn server_config(folder: &tempfile::TempDir) -> ServerConfig {
    ServerConfig {
        database: folder.path().join("soc.db"),
        sealing_key: Arc::new(
            vigil_server::load_or_create_sealing_key(&vigil_server::sealing_key_path(
                &folder.path().join("soc.db"),
            ))
            .unwrap(),
        ),
        enrollment_code: CODE.into(),
        sites: Vec::new(),
        tag_keys: Vec::new(),
        operator_token: None,
    }
}

/// Starts a TLS server with a new development certificate and returns it with the
/// certificate.
async fn start_tls_server(folder: &tempfile::TempDir) -> (RunningServer, DevCertificate) {
    let certificate = vigil_server::generate_dev_certificate(&["127.0.0.1", "localhost"]).unwrap();
    let tls = ServerTls::from_pem(certificate.chain_pem.as_bytes(), certificate.key_pem.as_bytes())
        .unwrap();
    let server = vigil_server::start_with_tls(
        server_config(folder),
        "127.0.0.1:0".parse().unwrap(),
        Some(tls),
    )
    .await
    .unwrap();
    (server, certificate)
}

fn open_device(folder: &tempfile::TempDir, url: &str, tls: TlsSettings) -> Vigil {
    let mut config = Config::new("device-tls", "guard-tls", url, CODE);
    config.tls = tls;
    config.retry_base_delay_ms = 10;
    config.sync_attempts = 3;
    config.request_timeout_ms = 3_000;
    Vigil::open(folder.path().join("device.db"), config).unwrap()
}

fn log(device: &Vigil) {
    let incident =
        Incident { category: "note".into(), severity: Severity::Low, text: "Gate open".into() };
    device.log_incident(incident).unwrap();
}

/// Returns the pins of the server certificate and of the CA, in that order.
fn pins(certificate: &DevCertificate) -> (String, String) {
    let pins = spki_pins_from_pem(&certificate.chain_pem).unwrap();
    assert_eq!(pins.len(), 2, "the chain holds the server certificate and the CA");
    (pins[0].clone(), pins[1].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_over_tls_with_pin() {
    let (server_folder, device_folder) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (server, certificate) = start_tls_server(&server_folder).await;
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let (server_pin, _) = pins(&certificate);
    let tls = TlsSettings {
        spki_pins: vec![server_pin],
        ca_certificates_pem: Some(certificate.ca_pem.clone()),
    };
    let device = open_device(&device_folder, &server.url(), tls);

    log(&device);
    log(&device);
    let summary = device.sync_now().await.unwrap();

    assert_eq!(summary.acknowledged, 2);
    assert_eq!(summary.counts.pending, 0);
    let on_server = server.store().unwrap().records_for_device("device-tls").unwrap();
    assert_eq!(on_server.len(), 2);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pin_is_rejected_at_once() {
    let (server_folder, device_folder) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (server, certificate) = start_tls_server(&server_folder).await;
    let tls = TlsSettings {
        spki_pins: vec![UNUSED_PIN.into()],
        ca_certificates_pem: Some(certificate.ca_pem.clone()),
    };
    let device = open_device(&device_folder, &server.url(), tls);
    log(&device);

    let started = Instant::now();
    let error = device.sync_now().await.unwrap_err();

    match &error {
        Error::UntrustedServer(reason) => assert!(reason.contains("SPKI pin"), "{reason}"),
        other => panic!("expected UntrustedServer, got {other:?}"),
    }
    // Not retried with backoff: a wrong pin does not heal by waiting.
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(device.store().sync_counts().unwrap().pending, 1, "the record stays queued");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_pin_is_accepted() {
    let (server_folder, device_folder) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (server, certificate) = start_tls_server(&server_folder).await;
    let (_, ca_pin) = pins(&certificate);
    // The primary pin matches nothing, as after the SOC moved to its backup key. The
    // backup pin is the CA's, which the server sends in its chain.
    let tls = TlsSettings {
        spki_pins: vec![UNUSED_PIN.into(), ca_pin],
        ca_certificates_pem: Some(certificate.ca_pem.clone()),
    };
    let device = open_device(&device_folder, &server.url(), tls);
    log(&device);

    let summary = device.sync_now().await.unwrap();

    assert_eq!(summary.acknowledged, 1);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_is_rejected() {
    let (server_folder, device_folder) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (server, certificate) = start_tls_server(&server_folder).await;
    let (server_pin, _) = pins(&certificate);
    let other_ca = vigil_server::generate_dev_certificate(&["127.0.0.1"]).unwrap().ca_pem;

    let cases = [
        ("the built-in roots", TlsSettings::default()),
        (
            "another CA, with the right pin",
            TlsSettings { spki_pins: vec![server_pin], ca_certificates_pem: Some(other_ca) },
        ),
    ];
    for (index, (case, tls)) in cases.into_iter().enumerate() {
        let folder = device_folder.path().join(index.to_string());
        std::fs::create_dir(&folder).unwrap();
        let mut config = Config::new(format!("device-{index}"), "guard-tls", server.url(), CODE);
        config.tls = tls;
        config.retry_base_delay_ms = 10;
        let device = Vigil::open(folder.join("device.db"), config).unwrap();
        log(&device);

        let error = device.sync_now().await.unwrap_err();

        match &error {
            Error::UntrustedServer(reason) => {
                assert!(reason.contains("not signed by a trusted CA"), "{case}: {reason}")
            }
            other => panic!("{case}: expected UntrustedServer, got {other:?}"),
        }
        assert_eq!(device.store().sync_counts().unwrap().pending, 1, "{case}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_need_an_https_url() {
    let folder = tempfile::tempdir().unwrap();
    let mut config = Config::new("device-tls", "guard-tls", "http://127.0.0.1:9", CODE);
    config.tls.spki_pins = vec![UNUSED_PIN.into()];

    let error = Vigil::open(folder.path().join("device.db"), config).unwrap_err();

    assert!(
        matches!(&error, Error::InvalidInput { field, .. } if field == "tls.spki_pins"),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_loopback_only() {
    let folder = tempfile::tempdir().unwrap();

    let result = vigil_server::start(server_config(&folder), "0.0.0.0:0".parse().unwrap()).await;

    let error = result.unwrap_err().to_string();
    assert!(error.contains("--tls-cert"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_device_clock_still_syncs() {
    let (server_folder, device_folder) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (server, certificate) = start_tls_server(&server_folder).await;
    let clock = ManualClock::new(SystemClock.now_ms() - 7 * HOUR);
    let mut config = Config::new("device-clock", "guard-tls", server.url(), CODE);
    config.tls.ca_certificates_pem = Some(certificate.ca_pem.clone());
    config.sync_attempts = 1;
    let device = Vigil::open_with_clock(
        device_folder.path().join("device.db"),
        config,
        Arc::new(clock.clone()),
    )
    .unwrap();
    log(&device);

    // One attempt per step: the rejected timestamp must be corrected within the request.
    let first = device.sync_now().await.unwrap();
    clock.advance(30 * HOUR);
    log(&device);
    let second = device.sync_now().await.unwrap();

    assert_eq!(first.acknowledged, 1);
    assert_eq!(second.acknowledged, 1);
    server.shutdown().await.unwrap();
}

/// A device enrolled with its own key, sending hand-built signed requests.
struct Device {
    id: String,
    token: String,
    signer: RequestSigner,
}

async fn enroll(url: &str, id: &str) -> Device {
    enroll_with_clock(url, id, Arc::new(SystemClock)).await
}

/// Enrolls a device whose signer reads `clock`.
async fn enroll_with_clock(url: &str, id: &str, clock: Arc<dyn Clock>) -> Device {
    let key = Arc::new(DeviceSigningKey::generate().unwrap());
    let request = EnrollRequest {
        device_id: id.into(),
        guard_id: "guard-raw".into(),
        enrollment_code: CODE.into(),
        public_key: Some(URL_SAFE_NO_PAD.encode(key.public_key())),
    };
    let reply =
        SyncClient::new(url, Duration::from_secs(5)).unwrap().enroll(&request).await.unwrap();
    let signer = RequestSigner::new(id, key, clock);
    Device { id: id.into(), token: reply.device_token, signer }
}

const HEARTBEAT: &str = r#"{"location_permission":true,"pending_alerts":0,"sent_at_ms":1}"#;

/// Sends `POST /v1/heartbeat` with `body`, the device's token and `headers`, and returns
/// the status with the error code, if any.
async fn post_heartbeat(
    url: &str,
    token: &str,
    headers: &[(&'static str, String)],
    body: &str,
) -> (u16, Option<String>) {
    vigil_core::sync::install_default_crypto_provider();
    let mut request = reqwest::Client::new()
        .post(format!("{url}/v1/heartbeat"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    let code = serde_json::from_slice::<ErrorResponse>(&body).ok().map(|reply| reply.error.code);
    (status, code)
}

fn signed(device: &Device, body: &str) -> Vec<(&'static str, String)> {
    device.signer.sign("POST", "/v1/heartbeat", body.as_bytes()).unwrap().pairs().to_vec()
}

async fn plain_server(folder: &tempfile::TempDir) -> RunningServer {
    vigil_server::start(server_config(folder), "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_request_replayed_is_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let server = plain_server(&folder).await;
    let device = enroll(&server.url(), "device-a").await;
    let headers = signed(&device, HEARTBEAT);

    let first = post_heartbeat(&server.url(), &device.token, &headers, HEARTBEAT).await;
    let replay = post_heartbeat(&server.url(), &device.token, &headers, HEARTBEAT).await;
    let fresh = signed(&device, HEARTBEAT);
    let retry = post_heartbeat(&server.url(), &device.token, &fresh, HEARTBEAT).await;

    assert_eq!(first, (200, None));
    assert_eq!(replay, (409, Some("replayed".into())));
    assert_eq!(retry, (200, None), "a new nonce is a new request");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_devices_token_is_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let server = plain_server(&folder).await;
    let device_a = enroll(&server.url(), "device-a").await;
    let device_b = enroll(&server.url(), "device-b").await;

    // Device A signs correctly for itself but sends device B's token.
    let as_itself = signed(&device_a, HEARTBEAT);
    let claimed = post_heartbeat(&server.url(), &device_b.token, &as_itself, HEARTBEAT).await;
    // Device A claims to be device B, with B's token, but can only sign with its own key.
    let mut as_b = signed(&device_a, HEARTBEAT);
    as_b.retain(|(name, _)| *name != DEVICE_ID_HEADER);
    as_b.push((DEVICE_ID_HEADER, device_b.id.clone()));
    let forged = post_heartbeat(&server.url(), &device_b.token, &as_b, HEARTBEAT).await;

    assert_eq!(claimed, (401, Some("wrong_device".into())));
    assert_eq!(forged, (401, Some("bad_signature".into())));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_request_is_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let server = plain_server(&folder).await;
    let device = enroll(&server.url(), "device-a").await;
    let headers = signed(&device, HEARTBEAT);
    let tampered_body = HEARTBEAT.replace("\"pending_alerts\":0", "\"pending_alerts\":7");
    let with_timestamp = |timestamp: String| {
        let mut headers = headers.clone();
        headers.retain(|(name, _)| *name != TIMESTAMP_HEADER);
        headers.push((TIMESTAMP_HEADER, timestamp));
        headers
    };
    let timestamp = headers.iter().find(|(name, _)| *name == TIMESTAMP_HEADER).unwrap().1.clone();
    let later: i64 = timestamp.parse::<i64>().unwrap() + 1;

    let body = post_heartbeat(&server.url(), &device.token, &headers, &tampered_body).await;
    let time =
        post_heartbeat(&server.url(), &device.token, &with_timestamp(later.to_string()), HEARTBEAT)
            .await;
    let mut unsigned = headers.clone();
    unsigned.retain(|(name, _)| *name != SIGNATURE_HEADER);
    let missing = post_heartbeat(&server.url(), &device.token, &unsigned, HEARTBEAT).await;

    assert_eq!(body, (401, Some("bad_signature".into())));
    assert_eq!(time, (401, Some("bad_signature".into())));
    assert_eq!(missing, (401, Some("signature_required".into())));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_timestamp_is_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let server = plain_server(&folder).await;
    let behind = Arc::new(ManualClock::new(SystemClock.now_ms() - HOUR));
    let device = enroll_with_clock(&server.url(), "device-a", behind).await;
    let headers = signed(&device, HEARTBEAT);

    vigil_core::sync::install_default_crypto_provider();
    let mut request = reqwest::Client::new()
        .post(format!("{}/v1/heartbeat", server.url()))
        .bearer_auth(&device.token)
        .header("content-type", "application/json")
        .body(HEARTBEAT);
    for (name, value) in &headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();

    assert_eq!(response.status().as_u16(), 403);
    let server_time: i64 =
        response.headers()[SERVER_TIME_HEADER].to_str().unwrap().parse().unwrap();
    assert!((server_time - SystemClock.now_ms()).abs() < 60_000, "server time {server_time}");
    let body = response.bytes().await.unwrap();
    let code = serde_json::from_slice::<ErrorResponse>(&body).unwrap().error.code;
    assert_eq!(code, "clock_skew");
    server.shutdown().await.unwrap();
}
