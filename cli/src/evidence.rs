//! `vigil export` fetches a device's records from a SOC server as evidence, and
//! `vigil verify` checks such a file offline, without the server.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use vigil_core::evidence::{EvidenceExport, verify_export};

use crate::error::CliError;

/// The origin of the public key that `vigil verify` checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// The key given with `--public-key`, obtained independently of the file.
    Given,
    /// The key inside the file itself, which proves only that the file is self-consistent.
    File,
}

/// The result of `vigil verify`.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    /// The device the export is for.
    pub device_id: String,
    /// How many records the file lists.
    pub records: usize,
    /// The highest sequence number listed, 0 when there are none.
    pub highest_seq: u64,
    /// The origin of the key.
    pub key_source: KeySource,
    /// Every fault found, one sentence each, with its seq.
    pub faults: Vec<String>,
}

impl VerifyReport {
    /// Formats the report for a terminal.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "device {}: {} records, highest seq {}",
            self.device_id, self.records, self.highest_seq
        );
        if self.key_source == KeySource::File {
            let _ = writeln!(
                text,
                "NOTE: checked against the public key inside the file, which proves only that \
                 the file is self-consistent; pass --public-key with the key registered at \
                 enrollment to prove the records came from the device"
            );
        }
        if self.faults.is_empty() {
            let _ = writeln!(text, "OK: every record is signed, unchanged, in order, none missing");
        }
        for fault in &self.faults {
            let _ = writeln!(text, "FAULT {fault}");
        }
        text
    }
}

/// Verifies an exported record set, against `public_key` (base64url) when given, else
/// against the key in the file.
///
/// # Errors
///
/// [`CliError::Input`] if the file is unreadable, is not an export, or a key is invalid.
pub fn verify(file: &Path, public_key: Option<&str>) -> Result<VerifyReport, CliError> {
    let input = |problem: String| CliError::Input { path: file.to_path_buf(), problem };

    let bytes = std::fs::read(file).map_err(|error| input(error.to_string()))?;
    let export: EvidenceExport = serde_json::from_slice(&bytes)
        .map_err(|error| input(format!("not an evidence export: {error}")))?;

    let (encoded, key_source) = match public_key {
        Some(key) => (key, KeySource::Given),
        None => (export.public_key.as_str(), KeySource::File),
    };
    let key = URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()
        .filter(|key| key.len() == 32)
        .ok_or_else(|| input("the public key is not 32 bytes in base64url".to_owned()))?;

    let faults = verify_export(&export, &key).iter().map(ToString::to_string).collect();
    Ok(VerifyReport {
        device_id: export.device_id.clone(),
        records: export.records.len(),
        highest_seq: export.records.iter().map(|record| record.seq).max().unwrap_or(0),
        key_source,
        faults,
    })
}

/// Fetches a device's evidence export from a server's operator endpoint and returns it as
/// pretty-printed JSON.
///
/// # Errors
///
/// [`CliError::Other`] if the request fails or the server replies with an error.
pub async fn export(
    server: &str,
    operator_token: &str,
    device_id: &str,
) -> Result<String, CliError> {
    let failed = |problem: String| CliError::Other(format!("exporting {device_id}: {problem}"));
    let mut url = reqwest::Url::parse(server)
        .map_err(|error| failed(format!("invalid --server URL {server:?}: {error}")))?;
    url.path_segments_mut()
        .map_err(|()| failed(format!("invalid --server URL {server:?}")))?
        .pop_if_empty()
        .extend(["v1", "operator", "devices", device_id, "export"]);

    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(operator_token)
        .send()
        .await
        .map_err(|error| failed(error.without_url().to_string()))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|error| failed(error.to_string()))?;
    if !status.is_success() {
        return Err(failed(format!(
            "the server replied {status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }

    let export: EvidenceExport = serde_json::from_slice(&body)
        .map_err(|error| failed(format!("the reply is not an evidence export: {error}")))?;
    serde_json::to_string_pretty(&export).map_err(|error| failed(error.to_string()))
}
