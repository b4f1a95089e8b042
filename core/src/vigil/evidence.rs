//! The wire form of stored records: the sealed boxes and signatures made at capture.

use uuid::Uuid;

use super::Vigil;
use crate::error::{Error, Result};
use crate::evidence::seal_record;
use crate::protocol::SealedRecord;
use crate::store::{QueuedRecord, SOC_PUBLIC_KEY, decode_soc_public_key};

impl Vigil {
    /// Returns the wire form of queued records: the sealed box and signature stored at
    /// capture, sent as they are.
    ///
    /// NOTE: a record stored before the SOC's public key was known (or before this
    /// version) is sealed and signed here from its stored bytes, at every push, and the
    /// box is not stored.
    pub(super) fn sealed_records(&self, queued: &[QueuedRecord]) -> Result<Vec<SealedRecord>> {
        let mut soc_public_key = None;
        let mut sealed = Vec::with_capacity(queued.len());

        for record in queued {
            if let Some(stored) = record.sealed_record() {
                sealed.push(stored);
                continue;
            }

            if soc_public_key.is_none() {
                soc_public_key = Some(self.soc_public_key()?);
            }
            let key = soc_public_key.as_ref().expect("set just above");
            sealed.push(seal_record(
                record.id,
                record.seq,
                record.json.as_bytes(),
                &self.inner.signing_key,
                key,
            )?);
        }
        Ok(sealed)
    }

    /// Returns the wire form of the stored records with these ids, in the order given.
    pub(super) fn sealed_records_by_id(&self, ids: &[Uuid]) -> Result<Vec<SealedRecord>> {
        let queued = self.store().queued_records(ids)?;
        self.sealed_records(&queued)
    }

    /// Stores the SOC's sealing public key from an enrollment reply; records captured from
    /// then on are sealed to it at capture. A key from the configuration takes precedence.
    pub(super) fn save_soc_public_key(&self, encoded: &str) -> Result<()> {
        decode_soc_public_key(encoded)?;
        if let Some(configured) = &self.config().soc_public_key {
            if configured != encoded {
                tracing::warn!(
                    "the enrollment reply carries another SOC sealing key than the \
                     configured one; records stay sealed to the configured key"
                );
            }
            return Ok(());
        }
        self.store().set_setting(SOC_PUBLIC_KEY, encoded)
    }

    /// Returns the device token if the device is enrolled and has the SOC's sealing key.
    pub(super) fn enrolled_token(&self) -> Result<Option<String>> {
        if self.store().setting(SOC_PUBLIC_KEY)?.is_none() {
            return Ok(None);
        }
        self.store().setting(super::sync::DEVICE_TOKEN)
    }

    fn soc_public_key(&self) -> Result<[u8; 32]> {
        let Some(encoded) = self.store().setting(SOC_PUBLIC_KEY)? else {
            return Err(Error::InvalidState(
                "the SOC's sealing key is unknown; enroll with a server that returns \
                 soc_public_key"
                    .into(),
            ));
        };
        decode_soc_public_key(&encoded)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use crate::crypto::SocSealingKey;
    use crate::model::{Incident, Severity};
    use crate::protocol::sealing_context;
    use crate::{Config, Error, Vigil};

    fn config(soc_public_key: Option<String>) -> Config {
        let mut config = Config::new("device-1", "guard-1", "http://127.0.0.1:9", "code");
        config.soc_public_key = soc_public_key;
        config
    }

    #[test]
    fn configured_key_seals_before_enrollment() {
        let folder = tempfile::tempdir().unwrap();
        let soc = SocSealingKey::generate().unwrap();
        let encoded = URL_SAFE_NO_PAD.encode(soc.public_key());
        let vigil = Vigil::open(folder.path().join("device.db"), config(Some(encoded))).unwrap();

        let incident =
            Incident { category: "intrusion".into(), severity: Severity::High, text: "x".into() };
        let record = vigil.log_incident(incident).unwrap();

        let queued = vigil.store().queued_records(&[record.id]).unwrap().remove(0);
        let sealed = queued.sealed.expect("sealed at capture");
        let opened = soc.open(&sealed, &sealing_context(&record.id)).unwrap();
        assert_eq!(opened.as_slice(), queued.json.as_bytes());
    }

    #[test]
    fn unusable_configured_keys_are_invalid_input() {
        let folder = tempfile::tempdir().unwrap();
        let low_order = URL_SAFE_NO_PAD.encode([0u8; 32]);

        for key in ["not-a-key".to_owned(), low_order] {
            let result = Vigil::open(folder.path().join("device.db"), config(Some(key.clone())));
            assert!(
                matches!(&result, Err(Error::InvalidInput { field, .. }) if field == "soc_public_key"),
                "{key}: {result:?}"
            );
        }
    }
}
