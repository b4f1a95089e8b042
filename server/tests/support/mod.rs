//! A server on 127.0.0.1 with a database in a temporary directory, a small JSON client and
//! record fixtures.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use serde::Serialize;
use serde_json::Value;
use tempfile::TempDir;
use uuid::Uuid;
use vigil_core::SystemClock;
use vigil_core::crypto::DeviceSigningKey;
use vigil_core::evidence::seal_record;
use vigil_core::model::{
    AlertKind, Checkpoint, Fix, FixSource, Incident, LatLon, Location, Record, RecordBody,
    Severity, Site,
};
use vigil_core::protocol::{
    EnrollRequest, EnrollResponse, PanicRequest, PushRequest, SealedRecord,
};
use vigil_core::sync::RequestSigner;
use vigil_server::{RunningServer, ServerConfig};

/// The enrollment code of every test server.
pub const CODE: &str = "test-enrollment-code";

/// A running server and the directory that contains its database.
pub struct TestServer {
    /// Deleted when the test ends.
    pub dir: TempDir,
    /// The running server.
    pub server: RunningServer,
    /// The client for requests.
    pub client: Client,
}

impl TestServer {
    /// Starts a server with `sites` on a free port of 127.0.0.1.
    pub async fn start(sites: Vec<Site>) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let server = start_at(&dir, sites, localhost(0)).await;
        let client = Client::new(server.url());

        Self { dir, server, client }
    }
}

/// Returns the address of `port` on 127.0.0.1.
pub fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Returns the configuration of a server whose database is `server.db` in `dir`.
pub fn config(dir: &TempDir, sites: Vec<Site>) -> ServerConfig {
    ServerConfig {
        database: dir.path().join("server.db"),
        sealing_key: std::sync::Arc::new(
            vigil_server::load_or_create_sealing_key(&vigil_server::sealing_key_path(
                &dir.path().join("server.db"),
            ))
            .unwrap(),
        ),
        enrollment_code: CODE.to_owned(),
        sites,
        tag_keys: Vec::new(),
        operator_token: None,
    }
}

/// Starts a server with the database in `dir` on `addr`.
pub async fn start_at(dir: &TempDir, sites: Vec<Site>, addr: SocketAddr) -> RunningServer {
    vigil_server::start(config(dir, sites), addr).await.expect("start the server")
}

/// An HTTP reply: the status and the body parsed as JSON.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The body, or `Value::Null` when it is empty.
    pub body: Value,
}

impl Reply {
    /// Returns `error.code` of an error reply.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no error code>")
    }

    /// Returns `error.message` of an error reply.
    pub fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("<no error message>")
    }

    /// Parses the body as `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.body.clone())
            .unwrap_or_else(|error| panic!("unexpected reply body {}: {error}", self.body))
    }
}

/// Returns the signing key of a test device, the same one for a device id in every test.
pub fn device_key(device_id: &str) -> Arc<DeviceSigningKey> {
    static KEYS: OnceLock<Mutex<HashMap<String, Arc<DeviceSigningKey>>>> = OnceLock::new();
    let mut keys = KEYS.get_or_init(Default::default).lock().unwrap();
    keys.entry(device_id.to_owned())
        .or_insert_with(|| Arc::new(DeviceSigningKey::generate().expect("generate a key")))
        .clone()
}

/// Returns a device's public key as sent at enrollment.
pub fn encoded_public_key(device_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(device_key(device_id).public_key())
}

/// A JSON client for one server.
pub struct Client {
    base_url: String,
    http: reqwest::Client,
    /// The SOC's sealing public key, from the last enrollment reply.
    soc_public_key: Mutex<Option<Vec<u8>>>,
    /// The device id of every token this client enrolled, to sign its requests with the
    /// device's key as a device does.
    token_devices: Mutex<HashMap<String, String>>,
}

impl Client {
    /// Creates a client for the server at `base_url`.
    pub fn new(base_url: String) -> Self {
        vigil_core::sync::install_default_crypto_provider();
        Self {
            base_url,
            http: reqwest::Client::new(),
            soc_public_key: Mutex::new(None),
            token_devices: Mutex::new(HashMap::new()),
        }
    }

    /// Seals a record as its device does: its JSON, signed with the key of the device it
    /// names and sealed to the SOC's key from the last enrollment.
    pub fn seal(&self, record: &Record) -> SealedRecord {
        self.seal_signed_by(record, &device_key(&record.device_id))
    }

    /// Seals a record and signs it with `key`, whichever device the record names.
    pub fn seal_signed_by(&self, record: &Record, key: &DeviceSigningKey) -> SealedRecord {
        let canonical = serde_json::to_vec(record).expect("encode the record");
        let soc_public_key =
            self.soc_public_key.lock().unwrap().clone().expect("enroll before sealing");
        seal_record(record.id, record.seq, &canonical, key, &soc_public_key).expect("seal")
    }

    /// Returns a push request with these records sealed.
    pub fn push_request(&self, records: &[Record]) -> PushRequest {
        PushRequest { records: records.iter().map(|record| self.seal(record)).collect() }
    }

    /// Returns a panic request with this record sealed.
    pub fn panic_request(&self, record: &Record) -> PanicRequest {
        PanicRequest { record: self.seal(record) }
    }

    /// Sends `body` as JSON to `path` with POST.
    pub async fn post<T: Serialize>(&self, path: &str, token: Option<&str>, body: &T) -> Reply {
        let bytes = serde_json::to_vec(body).expect("encode the request");
        self.post_raw(path, token, Some("application/json"), bytes).await
    }

    /// Sends `body` as it is to `path` with POST.
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = self.http.post(format!("{}{path}", self.base_url));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
            request = self.sign(request, token, "POST", path, &body);
        }
        Self::send(request.body(body)).await
    }

    /// Sends `wire` to `path` with POST and `Content-Encoding: encoding`, signed over
    /// `decoded`: the body as the server's handlers see it after decompression.
    pub async fn post_encoded(
        &self,
        path: &str,
        token: &str,
        encoding: &str,
        decoded: &[u8],
        wire: Vec<u8>,
    ) -> Reply {
        let request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .header("authorization", format!("Bearer {token}"));
        let request = self.sign(request, token, "POST", path, decoded);
        Self::send(request.body(wire)).await
    }

    /// Sends a GET request to `path`, which may include a query string.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.http.get(format!("{}{path}", self.base_url));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
            request = self.sign(request, token, "GET", path, b"");
        }
        Self::send(request).await
    }

    /// Adds the signature headers of the device `token` was enrolled for, signed with its
    /// key; a token this client did not enroll is sent unsigned.
    fn sign(
        &self,
        mut request: reqwest::RequestBuilder,
        token: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> reqwest::RequestBuilder {
        let Some(device_id) = self.token_devices.lock().unwrap().get(token).cloned() else {
            return request;
        };
        let signer =
            RequestSigner::new(device_id.clone(), device_key(&device_id), Arc::new(SystemClock));
        let headers = signer.sign(method, path, body).expect("sign the request");
        for (name, value) in headers.pairs() {
            request = request.header(name, value);
        }
        request
    }

    async fn send(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("send the request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("read the reply");

        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                panic!("reply is not JSON ({error}): {}", String::from_utf8_lossy(&bytes))
            })
        };
        Reply { status, body }
    }

    /// Enrolls `device_id` and returns its token.
    pub async fn enroll(&self, device_id: &str) -> String {
        let request = EnrollRequest {
            device_id: device_id.to_owned(),
            guard_id: "guard-7".to_owned(),
            enrollment_code: CODE.to_owned(),
            public_key: Some(encoded_public_key(device_id)),
        };
        let reply = self.post("/v1/enroll", None, &request).await;
        assert_eq!(reply.status, 200, "enroll failed: {}", reply.body);

        let reply = reply.parse::<EnrollResponse>();
        let soc_public_key = reply.soc_public_key.expect("the server returns its sealing key");
        *self.soc_public_key.lock().unwrap() =
            Some(URL_SAFE_NO_PAD.decode(soc_public_key).expect("base64url"));
        self.token_devices.lock().unwrap().insert(reply.device_token.clone(), device_id.to_owned());
        reply.device_token
    }
}

/// Returns a record of `device_id` with a valid fix.
pub fn record(device_id: &str, seq: u64, body: RecordBody) -> Record {
    Record {
        id: Uuid::now_v7(),
        device_id: device_id.to_owned(),
        guard_id: "guard-7".to_owned(),
        shift_id: None,
        seq,
        captured_at_ms: 1_750_000_000_000 + i64::try_from(seq).expect("small seq") * 1_000,
        location: Location::Fix(fix()),
        clock: None,
        prev_hash: None,
        attachments: Vec::new(),
        body,
    }
}

/// Returns a trusted GNSS fix in central Lyon.
pub fn fix() -> Fix {
    Fix {
        latitude: 45.764043,
        longitude: 4.835659,
        accuracy_m: 8.0,
        altitude_m: None,
        speed_mps: None,
        bearing_deg: None,
        source: FixSource::Gnss,
        mock: false,
        fix_time_ms: 1_750_000_000_000,
    }
}

/// Returns the body of an incident report with `text`.
pub fn incident(text: &str) -> RecordBody {
    RecordBody::Incident(Incident {
        category: "intrusion".to_owned(),
        severity: Severity::High,
        text: text.to_owned(),
    })
}

/// Returns the body of a panic alert.
pub fn panic_alert() -> RecordBody {
    RecordBody::Panic { alert: AlertKind::Panic }
}

/// Returns a site with one GPS-only checkpoint.
pub fn site(id: &str, name: &str) -> Site {
    let corner = |latitude: f64, longitude: f64| LatLon { latitude, longitude };
    Site {
        id: id.to_owned(),
        name: name.to_owned(),
        perimeter: vec![
            corner(45.7640, 4.8350),
            corner(45.7645, 4.8350),
            corner(45.7645, 4.8360),
            corner(45.7640, 4.8360),
        ],
        checkpoints: vec![Checkpoint {
            id: "gate".to_owned(),
            name: "Main gate".to_owned(),
            position: corner(45.7642, 4.8355),
            radius_m: 25.0,
            tags: Vec::new(),
        }],
        tours: Vec::new(),
        revision: 0,
    }
}
