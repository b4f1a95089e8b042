//! `vigil rescue` adopts the sealed records of a device store whose key-encryption key is
//! lost into a new store, and delivers them to a SOC server.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use vigil_core::{Config, Vigil};

use crate::error::CliError;

/// The options of `vigil rescue`.
#[derive(Debug)]
pub struct RescueOptions {
    /// The store that no longer opens.
    pub locked: PathBuf,
    /// The new store that adopts the records; created if missing.
    pub database: PathBuf,
    /// The SOC server's base URL.
    pub server: String,
    /// The new store's device id, which must differ from the locked store's.
    pub device: String,
    /// The guard id the new store enrolls with.
    pub guard: String,
    /// The enrollment code of the server.
    pub enrollment_code: String,
    /// The passphrase file of the new store; without it, a key file next to the database.
    pub passphrase_file: Option<PathBuf>,
}

/// The result of `vigil rescue`.
#[derive(Debug, Serialize)]
pub struct RescueReport {
    /// Unacknowledged records of the locked store with a sealed box.
    pub adopted: u64,
    /// Unacknowledged records without a sealed box, which cannot be delivered.
    pub unsealed: u64,
    /// Adopted records the server acknowledged, in this run or an earlier one.
    pub acknowledged: u64,
    /// Adopted records the server rejected, in this run or an earlier one.
    pub rejected: u64,
    /// Adopted records still to be delivered.
    pub pending: u64,
}

impl RescueReport {
    /// Formats the report for a terminal.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "adopted {} sealed records: {} acknowledged, {} rejected, {} pending",
            self.adopted, self.acknowledged, self.rejected, self.pending
        );
        if self.unsealed > 0 {
            let _ = writeln!(
                text,
                "{} records have no sealed box and cannot be delivered without the lost key",
                self.unsealed
            );
        }
        if self.pending > 0 {
            let _ = writeln!(text, "run the command again to deliver the pending records");
        }
        text
    }
}

/// Opens the new store, adopts the locked store's sealed records and syncs.
///
/// # Errors
///
/// [`CliError::Core`] if a store cannot be opened or read, or the sync fails; adopted
/// records stay queued in the new store then.
pub async fn run(options: RescueOptions) -> Result<RescueReport, CliError> {
    let core = |context: &str| {
        let context = context.to_owned();
        move |source| CliError::Core { context, source }
    };

    let mut config =
        Config::new(&options.device, &options.guard, &options.server, &options.enrollment_code);
    if let Some(path) = &options.passphrase_file {
        config.key_encryption_key =
            Some(crate::passphrase::key_encryption_key(Some(path.as_path()))?);
    }
    let device = Vigil::open(&options.database, config).map_err(core("opening the new store"))?;

    let adoption =
        device.adopt_locked_evidence(&options.locked).map_err(core("reading the locked store"))?;
    device.sync_now().await.map_err(core("sending the adopted records"))?;
    let counts = device.store().adopted_counts().map_err(core("counting the adopted records"))?;

    Ok(RescueReport {
        adopted: adoption.adopted,
        unsealed: adoption.unsealed,
        acknowledged: counts.acknowledged,
        rejected: counts.rejected,
        pending: counts.pending,
    })
}
