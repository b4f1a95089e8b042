//! Signed checkpoint tags end to end: the reference server hands out the SOC's public key
//! with the assignments, and the device verifies tags offline against it.

use std::sync::Arc;

use vigil_core::checkin::TagSigner;
use vigil_core::model::{
    CheckinReason, Checkpoint, Fix, FixSource, LatLon, ScanMethod, Site, Tour,
};
use vigil_core::{Config, ManualClock, Vigil};
use vigil_server::ServerConfig;

const CODE: &str = "signed-tags-code";
const PUMP: LatLon = LatLon { latitude: -23.5500, longitude: -46.6330 };

fn site() -> Site {
    Site {
        id: "yard".into(),
        name: "Yard".into(),
        perimeter: Vec::new(),
        checkpoints: vec![Checkpoint {
            id: "pump".into(),
            name: "Pump house".into(),
            position: PUMP,
            radius_m: 25.0,
            tags: Vec::new(),
        }],
        tours: vec![Tour {
            id: "round".into(),
            name: "Round".into(),
            checkpoint_ids: vec!["pump".into()],
            ordered: true,
            every_minutes: 30,
            timing: Default::default(),
        }],
        revision: 1,
    }
}

fn fix(metres_north: f64, time_ms: i64) -> Fix {
    Fix {
        latitude: PUMP.latitude + metres_north / 111_195.0,
        longitude: PUMP.longitude,
        accuracy_m: 5.0,
        altitude_m: None,
        speed_mps: None,
        bearing_deg: None,
        source: FixSource::Gnss,
        mock: false,
        fix_time_ms: time_ms,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_verifies_tags_with_pulled_key() {
    let server_folder = tempfile::tempdir().unwrap();
    let device_folder = tempfile::tempdir().unwrap();
    let (signer, _) = TagSigner::generate("soc-2026").unwrap();
    let config = ServerConfig {
        sites: vec![site()],
        tag_keys: vec![signer.public_key()],
        ..ServerConfig::new(server_folder.path().join("soc.db"), CODE).unwrap()
    };
    let server = vigil_server::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();

    let now = 1_764_806_400_000;
    let clock = ManualClock::new(now);
    let mut device_config = Config::new("device-signed", "guard-1", server.url(), CODE);
    device_config.sync_attempts = 2;
    device_config.retry_base_delay_ms = 10;
    let device = Vigil::open_with_clock(
        device_folder.path().join("device.db"),
        device_config,
        Arc::new(clock.clone()),
    )
    .unwrap();
    device.sync_now().await.unwrap();
    assert_eq!(device.store().tag_keys().unwrap(), vec![signer.public_key()]);
    server.shutdown().await.unwrap();

    // Offline from here on.
    device.start_shift(Some("yard".into())).unwrap();
    device.record_fixes(vec![fix(3.0, now)]).unwrap();
    let genuine = device.scan_checkpoint(ScanMethod::Qr, &signer.sign("yard", "pump")).unwrap();
    assert!(genuine.verification.accepted, "{:?}", genuine.verification);
    assert_eq!(genuine.verification.tour_ids, vec!["round".to_string()]);

    let (forger, _) = TagSigner::generate("soc-2026").unwrap();
    let forged = device.scan_checkpoint(ScanMethod::Qr, &forger.sign("yard", "pump")).unwrap();
    assert_eq!(
        forged.verification.reasons,
        vec![CheckinReason::UnverifiedTag { problem: "bad_signature".into() }]
    );

    clock.advance(120_000);
    device.record_fixes(vec![fix(1_000.0, now + 120_000)]).unwrap();
    let copied = device.scan_checkpoint(ScanMethod::Qr, &signer.sign("yard", "pump")).unwrap();
    let codes: Vec<&str> = copied.verification.reasons.iter().map(CheckinReason::code).collect();
    assert_eq!(codes, ["too_far"], "a genuine code scanned 1 km away");
}
