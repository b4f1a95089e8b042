//! Operator edits of a site with `If-Match`, and a device that was offline during them,
//! against a real reference server on loopback.

use std::sync::Arc;

use serde_json::Value;
use vigil_core::model::{Checkpoint, LatLon, Site};
use vigil_core::{Config, ManualClock, Vigil};
use vigil_server::{RunningServer, ServerConfig};

const CODE: &str = "enroll-me";
const OPERATOR_TOKEN: &str = "operator-secret-token";

fn site() -> Site {
    Site {
        id: "yard".into(),
        name: "Yard".into(),
        perimeter: Vec::new(),
        checkpoints: vec![Checkpoint {
            id: "pump".into(),
            name: "Pump house".into(),
            position: LatLon { latitude: -23.5500, longitude: -46.6330 },
            radius_m: 25.0,
            tags: Vec::new(),
        }],
        tours: Vec::new(),
        revision: 0,
    }
}

async fn start_server(folder: &tempfile::TempDir) -> RunningServer {
    let config = ServerConfig {
        database: folder.path().join("soc.db"),
        sealing_key: Arc::new(
            vigil_server::load_or_create_sealing_key(&vigil_server::sealing_key_path(
                &folder.path().join("soc.db"),
            ))
            .expect("the SOC sealing key must load"),
        ),
        enrollment_code: CODE.into(),
        sites: vec![site()],
        tag_keys: Vec::new(),
        operator_token: Some(OPERATOR_TOKEN.into()),
    };
    vigil_server::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

/// An operator's HTTP client for the site endpoints.
struct Operator {
    http: reqwest::Client,
    url: String,
}

impl Operator {
    /// Returns the site and its ETag.
    async fn get(&self) -> (Site, String) {
        let response = self.http.get(&self.url).bearer_auth(OPERATOR_TOKEN).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        (serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(), etag)
    }

    /// Sends the site with an optional `If-Match`. Returns the status, the ETag if any and
    /// the JSON body.
    async fn put(&self, site: &Site, if_match: Option<&str>) -> (u16, Option<String>, Value) {
        let mut request = self
            .http
            .put(&self.url)
            .bearer_auth(OPERATOR_TOKEN)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(site).unwrap());
        if let Some(etag) = if_match {
            request = request.header("if-match", etag);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let etag = response.headers().get("etag").map(|value| value.to_str().unwrap().to_owned());
        (status, etag, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
    }
}

#[tokio::test]
async fn offline_device_gets_latest_site_once() {
    let folder = tempfile::tempdir().unwrap();
    let server = start_server(&folder).await;
    let mut config = Config::new("device-sites", "guard-sites", server.url(), CODE);
    config.retry_base_delay_ms = 10;
    let device = Vigil::open_with_clock(
        folder.path().join("device.db"),
        config,
        Arc::new(ManualClock::new(1_764_806_400_000)),
    )
    .unwrap();
    assert_eq!(device.sync_now().await.unwrap().sites_received, 1);
    vigil_core::sync::install_default_crypto_provider();
    let operator = Operator {
        http: reqwest::Client::new(),
        url: format!("{}/v1/operator/sites/yard", server.url()),
    };

    // The device is offline (it does not sync) while two operators edit the same revision.
    let (first_copy, first_etag) = operator.get().await;
    let (second_copy, second_etag) = operator.get().await;
    let renamed = Site { name: "Yard North".into(), ..first_copy };
    let (status, renamed_etag, _) = operator.put(&renamed, Some(&first_etag)).await;
    assert_eq!(status, 200);
    let mut widened = second_copy;
    widened.checkpoints[0].radius_m = 40.0;
    let (status, _, body) = operator.put(&widened, Some(&second_etag)).await;
    assert_eq!(status, 409, "a stale If-Match is a conflict, not an overwrite: {body}");
    assert_eq!(body["error"]["code"], "revision_conflict");
    let (status, _, body) = operator.put(&widened, None).await;
    assert_eq!(status, 428, "{body}");

    // The second operator reloads and reapplies the change on top of the first.
    let (latest, latest_etag) = operator.get().await;
    assert_eq!(Some(latest_etag.clone()), renamed_etag);
    assert_eq!(latest.name, "Yard North");
    let mut widened = latest;
    widened.checkpoints[0].radius_m = 40.0;
    let (status, final_etag, _) = operator.put(&widened, Some(&latest_etag)).await;
    assert_eq!(status, 200);

    // Back online: the device receives the site once, with both changes.
    let summary = device.sync_now().await.unwrap();
    assert_eq!(summary.sites_received, 1);
    let stored = device.store().site("yard").unwrap().unwrap();
    assert_eq!(stored.name, "Yard North");
    assert_eq!(stored.checkpoints[0].radius_m, 40.0);
    assert_eq!(Some(format!("\"{}\"", stored.revision)), final_etag);
    assert_eq!(device.sync_now().await.unwrap().sites_received, 0, "applied once");
}
