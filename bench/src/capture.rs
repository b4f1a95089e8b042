//! Durable capture of an incident against a bare durable SQLite insert: Vigil encrypts,
//! chains and signs every record, and seals it to the SOC once the SOC's key is known.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::{Connection, params};
use vigil_core::crypto::{PassphraseKek, SocSealingKey};
use vigil_core::model::{Incident, Severity};
use vigil_core::store::SOC_PUBLIC_KEY;
use vigil_core::{Config, Vigil};

/// Incidents captured per round, by each side.
const INCIDENTS: usize = 1_000;

const TEXT: &str = "Side door of warehouse B found open at the end of the round; no sign of \
                    forced entry, lights on in the office, door closed and locked, supervisor told.";

pub fn run(rounds: usize) {
    let mut vigil_rates = Vec::new();
    let mut sealed_rates = Vec::new();
    let mut bare_rates = Vec::new();
    let mut ratios = Vec::new();
    let mut sealed_ratios = Vec::new();

    for _ in 0..rounds {
        let bare = bare_insert_rate();
        let vigil = vigil_capture_rate(false);
        let sealed = vigil_capture_rate(true);
        bare_rates.push(bare);
        vigil_rates.push(vigil);
        sealed_rates.push(sealed);
        ratios.push(vigil / bare);
        sealed_ratios.push(sealed / bare);
    }

    println!("capture: {INCIDENTS} incidents per round, {rounds} rounds, medians");
    println!(
        "  bare rusqlite insert (WAL, synchronous=FULL, 1 row/txn): {:>8.0} /s",
        crate::median(bare_rates)
    );
    println!(
        "  Vigil log_incident, encrypted + chained + signed, no SOC key: {:>8.0} /s",
        crate::median(vigil_rates)
    );
    println!(
        "  Vigil log_incident, encrypted + chained + signed + sealed:    {:>8.0} /s",
        crate::median(sealed_rates)
    );
    println!(
        "  ratio without sealing / bare (median of per-round ratios):    {:>8.2}x",
        crate::median(ratios)
    );
    println!(
        "  ratio with sealing / bare (median of per-round ratios):       {:>8.2}x",
        crate::median(sealed_ratios)
    );
}

fn bare_insert_rate() -> f64 {
    let folder = tempfile::tempdir().expect("failed to create a temp folder");
    let connection =
        Connection::open(folder.path().join("bare.db")).expect("failed to open SQLite");
    connection.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())).unwrap();
    connection.pragma_update(None, "synchronous", "FULL").unwrap();
    connection
        .execute_batch(
            "CREATE TABLE incidents (id TEXT PRIMARY KEY, captured_at_ms INTEGER, body TEXT)",
        )
        .unwrap();

    let started = Instant::now();
    for index in 0..INCIDENTS {
        let body = serde_json::json!({ "category": "intrusion", "severity": "high", "text": TEXT });
        connection
            .execute(
                "INSERT INTO incidents (id, captured_at_ms, body) VALUES (?1, ?2, ?3)",
                params![uuid::Uuid::now_v7().to_string(), index as i64, body.to_string()],
            )
            .unwrap();
    }
    INCIDENTS as f64 / started.elapsed().as_secs_f64()
}

/// Captures incidents through Vigil; with `sealed`, the SOC's key is stored first, as an
/// enrollment does, so every record is also sealed at capture.
fn vigil_capture_rate(sealed: bool) -> f64 {
    let folder = tempfile::tempdir().expect("failed to create a temp folder");
    let mut config = Config::new("bench-device", "bench-guard", "http://127.0.0.1:9", "code");
    // The record bodies are encrypted at rest; the PBKDF2 of the passphrase runs once, at
    // open, outside the timed loop.
    config.key_encryption_key = Some(Arc::new(PassphraseKek::new("bench passphrase")));
    let vigil = Vigil::open(folder.path().join("device.db"), config).expect("failed to open Vigil");
    if sealed {
        let soc = SocSealingKey::generate().expect("failed to generate a SOC key");
        let encoded = URL_SAFE_NO_PAD.encode(soc.public_key());
        vigil.store().set_setting(SOC_PUBLIC_KEY, &encoded).expect("failed to store the SOC key");
    }

    let started = Instant::now();
    for _ in 0..INCIDENTS {
        let incident =
            Incident { category: "intrusion".into(), severity: Severity::High, text: TEXT.into() };
        vigil.log_incident(incident).unwrap();
    }
    INCIDENTS as f64 / started.elapsed().as_secs_f64()
}
