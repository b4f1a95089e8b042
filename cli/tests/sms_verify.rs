//! `vigil sms-verify`: the SOC checks an SMS fallback alert against the enrolled devices.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{stderr, stdout, vigil};
use vigil_core::alert::SmsSender;
use vigil_core::{Config, Vigil};
use vigil_server::ServerConfig;

#[derive(Default)]
struct FakeSms {
    texts: Mutex<Vec<String>>,
}

impl SmsSender for FakeSms {
    fn send_sms(&self, _number: String, text: String) {
        self.texts.lock().unwrap().push(text);
    }

    fn place_call(&self, _number: String) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_verify_accepts_genuine_rejects_tampered() {
    let folder = tempfile::tempdir().unwrap();
    let database = folder.path().join("soc.db");
    let config = ServerConfig::new(database.clone(), "code").unwrap();
    let server = vigil_server::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut device_config = Config::new("phone-9", "guard-9", server.url(), "code");
    device_config.alert_resend_interval_ms = 100;
    device_config.sms_fallback_after_ms = 100;
    device_config.sms_fallback_number = Some("+15550100".into());
    let device = Vigil::open(folder.path().join("device.db"), device_config).unwrap();
    let sms = Arc::new(FakeSms::default());
    device.set_sms_sender(Some(sms.clone()));
    device.sync_now().await.unwrap();
    server.shutdown().await.unwrap();

    device.start_alert_lane(&tokio::runtime::Handle::current());
    device.raise_panic().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let text = loop {
        if let Some(text) = sms.texts.lock().unwrap().first().cloned() {
            break text;
        }
        assert!(tokio::time::Instant::now() < deadline, "no SMS was requested");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let database = database.to_str().unwrap();

    let genuine = vigil(&["sms-verify", "--database", database, &text]);
    assert!(genuine.status.success(), "{}", stderr(&genuine));
    let printed = stdout(&genuine);
    assert!(printed.contains("panic alert from device phone-9 (guard guard-9)"), "{printed}");

    let tampered = text.replacen(" P ", " M ", 1);
    let rejected = vigil(&["sms-verify", "--database", database, &tampered]);
    assert!(!rejected.status.success());
    assert!(stderr(&rejected).contains("signature"), "{}", stderr(&rejected));
}
