//! Adopting the sealed evidence of a database whose key-encryption key was lost.

use crate::{Vigil, VigilError};

/// The outcome of `adopt_locked_evidence`: counts of the locked database's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct AdoptionReport {
    /// Unacknowledged records with a sealed box, now stored in this store and queued for
    /// the SOC; records adopted by an earlier call are counted again.
    pub adopted: u64,
    /// Of `adopted`, the records this call stored for the first time.
    pub newly_adopted: u64,
    /// Unacknowledged records without a sealed box (captured before the SOC's key was
    /// known), which cannot be delivered without the lost key.
    pub unsealed: u64,
}

impl From<vigil_core::AdoptionReport> for AdoptionReport {
    fn from(report: vigil_core::AdoptionReport) -> Self {
        Self {
            adopted: report.adopted,
            newly_adopted: report.newly_adopted,
            unsealed: report.unsealed,
        }
    }
}

#[uniffi::export]
impl Vigil {
    /// Copies the undelivered evidence of the database at `locked_path`, which no longer
    /// opens because its key-encryption key is lost (for example after a keystore reset,
    /// when `open` fails with `Locked`), into this store. Each record's box sealed to the
    /// SOC and its original signature are stored durably. The next syncs deliver them
    /// after this device's own records, and the SOC stores them as the original device's.
    ///
    /// Open this store at another path and under a new device id, because the SOC keeps the
    /// old device id bound to the old signing key. The locked file is only read: keep it
    /// until `adopted_pending` returns 0. Adopting the same file again is harmless.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `locked_path` is missing or is this store's own file; `Storage` if
    /// it is not a Vigil database or SQLite fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the copy runs on Vigil's runtime in one transaction, which completes
    /// or leaves nothing adopted.
    pub async fn adopt_locked_evidence(
        &self,
        locked_path: String,
    ) -> Result<AdoptionReport, VigilError> {
        self.blocking(move |core| Ok(core.adopt_locked_evidence(&locked_path)?.into())).await
    }

    /// Returns how many adopted records the SOC has neither acknowledged nor rejected.
    /// Once it is 0, the locked database they came from holds nothing more to deliver.
    ///
    /// # Errors
    ///
    /// `Storage` if SQLite fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only reads, on Vigil's runtime.
    pub async fn adopted_pending(&self) -> Result<u64, VigilError> {
        self.blocking(|core| Ok(core.adopted_pending()?)).await
    }
}
