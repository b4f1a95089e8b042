//! Adopting the sealed evidence of a database whose key-encryption key was lost, and
//! delivering it to the SOC after the device's own records.

use std::path::Path;

use super::Vigil;
use crate::error::{Error, Result};
use crate::evidence::rescue_sealed;
use crate::protocol::{PushRequest, SealedRecord};

/// What [`Vigil::adopt_locked_evidence`] found in the locked database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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

impl Vigil {
    /// Copies the undelivered evidence of the database at `locked_path`, whose
    /// key-encryption key is lost (for example after a keystore reset), into this store:
    /// each record's box sealed to the SOC and its original signature, in one durable
    /// transaction. The next syncs deliver them after this device's own records.
    ///
    /// The locked file is only read and is never changed, moved or deleted, so the app
    /// decides when to remove it; [`Vigil::adopted_pending`] returns how many of its
    /// records the SOC has not acknowledged yet. Adopting the same file again is harmless.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if `locked_path` is missing or is this store's own file;
    /// [`Error::Corrupt`] if it is not a Vigil database; [`Error::Storage`] if SQLite
    /// fails.
    pub fn adopt_locked_evidence(&self, locked_path: impl AsRef<Path>) -> Result<AdoptionReport> {
        let locked_path = locked_path.as_ref();
        if is_same_file(locked_path, self.store().path()) {
            return Err(Error::invalid("locked_path", "is this store's own database file"));
        }

        let evidence = rescue_sealed(locked_path)?;
        let source = locked_path.to_string_lossy();
        let newly_adopted = self.store().adopt_records(&evidence.records, &source, self.now_ms())?;

        if evidence.unsealed > 0 {
            tracing::warn!(
                unsealed = evidence.unsealed,
                "records of the locked database have no sealed box and cannot be delivered"
            );
        }
        tracing::info!(
            adopted = evidence.records.len(),
            newly_adopted,
            "adopted the sealed records of a locked database"
        );
        Ok(AdoptionReport {
            adopted: evidence.records.len() as u64,
            newly_adopted,
            unsealed: evidence.unsealed,
        })
    }

    /// Returns how many adopted records the SOC has neither acknowledged nor rejected.
    /// Once it is 0, the locked database they came from holds nothing deliverable.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if SQLite fails.
    pub fn adopted_pending(&self) -> Result<u64> {
        Ok(self.store().adopted_counts()?.pending)
    }

    /// Pushes one batch of adopted records to the rescue endpoint and records the reply.
    /// Returns how many were acknowledged and rejected.
    pub(super) async fn push_adopted(
        &self,
        token: &str,
        batch: &[SealedRecord],
    ) -> Result<(u64, u64)> {
        let ids: Vec<_> = batch.iter().map(|record| record.id).collect();
        let request = PushRequest { records: batch.to_vec() };
        let reply = self.inner.client.push_rescued(token, &request).await?;

        // Only ids this batch contained count, as for the device's own records.
        let acknowledged: Vec<_> = reply.acked.into_iter().filter(|id| ids.contains(id)).collect();
        let rejected: Vec<_> =
            reply.rejected.into_iter().filter(|rejection| ids.contains(&rejection.id)).collect();
        if acknowledged.is_empty() && rejected.is_empty() {
            return Err(Error::Server {
                status: 0,
                message: format!(
                    "the server answered a batch of {} adopted records with no result",
                    ids.len()
                ),
                retry_after_ms: None,
            });
        }

        let counts = (acknowledged.len() as u64, rejected.len() as u64);
        let acked_at_ms = self.now_ms();
        self.blocking(move |vigil| {
            vigil.store().mark_adopted_acknowledged(&acknowledged, acked_at_ms)?;
            for rejection in &rejected {
                tracing::warn!(record = %rejection.id, code = %rejection.code, "the server rejected an adopted record");
                vigil.store().mark_adopted_rejected(
                    rejection.id,
                    &format!("{}: {}", rejection.code, rejection.message),
                )?;
            }
            Ok(())
        })
        .await?;
        Ok(counts)
    }
}

/// Whether two paths name the same file; a path that cannot be resolved names none.
fn is_same_file(first: &Path, second: &Path) -> bool {
    match (first.canonicalize(), second.canonicalize()) {
        (Ok(first), Ok(second)) => first == second,
        _ => false,
    }
}
