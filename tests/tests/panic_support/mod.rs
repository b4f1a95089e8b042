//! Shared setup of the panic alert tests: a reference server, a device with its alert
//! lane, and a listener that records every state change.

#![allow(dead_code)]

pub mod proxy;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use uuid::Uuid;
use vigil_core::alert::{AlertListener, AlertState, AlertStatus};
use vigil_core::{Config, Vigil};
use vigil_server::{RunningServer, ServerConfig};

pub const CODE: &str = "enroll-me";

/// The longest a test waits for a state before it fails, so a lost alert fails the test
/// instead of hanging it. It is not a performance limit.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub async fn start_server(folder: &Path, addr: SocketAddr) -> RunningServer {
    let config = ServerConfig::new(folder.join("soc.db"), CODE).unwrap();
    vigil_server::start(config, addr).await.expect("the reference server must start")
}

/// Returns a loopback address that nothing listens on right now.
pub async fn free_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

pub fn device_config(url: &str) -> Config {
    let mut config = Config::new("device-alert", "guard-alert", url, CODE);
    config.alert_resend_interval_ms = 100;
    config.alert_request_timeout_ms = 2_000;
    config.retry_base_delay_ms = 10;
    config.sync_attempts = 2;
    config
}

/// Opens the device store in `folder` with a recording listener and its alert lane
/// started.
pub fn open_device(folder: &Path, config: Config) -> (Vigil, Arc<Recorder>) {
    let device = Vigil::open(folder.join("device.db"), config).expect("the store must open");
    let recorder = Arc::new(Recorder::default());
    device.set_alert_listener(Some(recorder.clone()));
    device.start_alert_lane(&tokio::runtime::Handle::current());
    (device, recorder)
}

/// An alert listener that keeps every status it is given.
#[derive(Default)]
pub struct Recorder {
    seen: Mutex<Vec<AlertStatus>>,
}

impl AlertListener for Recorder {
    fn on_alert_state(&self, status: AlertStatus) {
        self.seen.lock().unwrap().push(status);
    }
}

impl Recorder {
    /// Returns the states seen for one alert, in order.
    pub fn states(&self, id: Uuid) -> Vec<AlertState> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|status| status.record_id == id).map(|status| status.state).collect()
    }

    /// Waits until the listener saw `state` for `id`, and returns that status.
    pub async fn wait_for(&self, id: Uuid, state: AlertState) -> AlertStatus {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let found = {
                let seen = self.seen.lock().unwrap();
                seen.iter().find(|status| status.record_id == id && status.state == state).cloned()
            };
            if let Some(status) = found {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "alert {id} never reached {state:?}; states seen: {:?}",
                self.states(id)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
