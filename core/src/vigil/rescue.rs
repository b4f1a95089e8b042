//! Adopting the sealed evidence of a database whose key-encryption key was lost, and
//! delivering it to the SOC after the device's own records.

use std::path::Path;

use super::Vigil;
use crate::error::{Error, Result};
use crate::evidence::rescue_sealed;
use crate::protocol::{PushRequest, SealedRecord};

/// The outcome of [`Vigil::adopt_locked_evidence`]: counts of the locked database's records.
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
        let newly_adopted =
            self.store().adopt_records(&evidence.records, &source, self.now_ms())?;

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

/// Returns whether two paths name the same file. A path that cannot be resolved names none.
fn is_same_file(first: &Path, second: &Path) -> bool {
    match (first.canonicalize(), second.canonicalize()) {
        (Ok(first), Ok(second)) => first == second,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use crate::crypto::{PassphraseKek, SocSealingKey};
    use crate::evidence::rescue_sealed;
    use crate::model::{Incident, Severity};
    use crate::{Config, Error, Vigil};

    fn open(
        path: &Path,
        device_id: &str,
        passphrase: &str,
        soc_key: Option<String>,
    ) -> Result<Vigil, Error> {
        let mut config = Config::new(device_id, "guard-1", "http://127.0.0.1:9", "code");
        config.key_encryption_key =
            Some(Arc::new(PassphraseKek::with_iterations(passphrase, 1_000)));
        config.soc_public_key = soc_key;
        Vigil::open(path, config)
    }

    fn incident(text: &str) -> Incident {
        Incident { category: "door".into(), severity: Severity::Low, text: text.into() }
    }

    #[test]
    fn records_without_box_are_counted() {
        let folder = tempfile::tempdir().unwrap();
        let old_path = folder.path().join("old.db");
        let soc = SocSealingKey::generate().unwrap();
        let soc_key = URL_SAFE_NO_PAD.encode(soc.public_key());

        // Captured before the SOC's key was known, then after it.
        let old = open(&old_path, "device-old", "kek A", None).unwrap();
        old.log_incident(incident("before the key")).unwrap();
        drop(old);
        let old = open(&old_path, "device-old", "kek A", Some(soc_key)).unwrap();
        old.log_incident(incident("after the key")).unwrap();
        drop(old);
        let locked = open(&old_path, "device-old", "kek B", None);
        assert!(matches!(locked, Err(Error::Locked(_))), "{locked:?}");

        let fresh = open(&folder.path().join("new.db"), "device-new", "kek B", None).unwrap();
        let report = fresh.adopt_locked_evidence(&old_path).unwrap();

        assert_eq!(report.adopted, 1);
        assert_eq!(report.newly_adopted, 1);
        assert_eq!(report.unsealed, 1);
        assert_eq!(fresh.adopted_pending().unwrap(), 1);
        let batch = fresh.store().adopted_batch(10, usize::MAX).unwrap();
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].seq, 2, "the sealed record keeps its original seq");
    }

    #[test]
    fn rescue_reads_open_store_wal() {
        let folder = tempfile::tempdir().unwrap();
        let old_path = folder.path().join("old.db");
        let soc = SocSealingKey::generate().unwrap();
        let old =
            open(&old_path, "device-old", "kek A", Some(URL_SAFE_NO_PAD.encode(soc.public_key())))
                .unwrap();
        for text in ["one", "two", "three"] {
            old.log_incident(incident(text)).unwrap();
        }

        // The old store is still open, so its records are in the WAL, not checkpointed.
        let rescued = rescue_sealed(&old_path).unwrap();

        let seqs: Vec<u64> = rescued.records.iter().map(|record| record.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(rescued.unsealed, 0);
        old.log_incident(incident("four")).unwrap();
    }

    #[test]
    fn own_or_foreign_file_is_rejected() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("device.db");
        let vigil = open(&path, "device-1", "kek", None).unwrap();
        let not_a_database = folder.path().join("notes.txt");
        std::fs::write(&not_a_database, b"not a database at all, just some text").unwrap();

        let own = vigil.adopt_locked_evidence(&path);
        let missing = vigil.adopt_locked_evidence(folder.path().join("missing.db"));
        let foreign = vigil.adopt_locked_evidence(&not_a_database);

        assert!(
            matches!(&own, Err(Error::InvalidInput { field, .. }) if field == "locked_path"),
            "{own:?}"
        );
        assert!(
            matches!(&missing, Err(Error::InvalidInput { field, .. }) if field == "locked_path"),
            "{missing:?}"
        );
        assert!(matches!(&foreign, Err(Error::Corrupt(_) | Error::Storage(_))), "{foreign:?}");
    }
}
