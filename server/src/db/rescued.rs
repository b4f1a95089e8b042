//! Storing records rescued from a device whose local key was lost: each record is stored
//! for the device named inside its sealed bytes, with the same checks as a normal push.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::Connection;
use vigil_core::crypto::SocSealingKey;
use vigil_core::model::Record;
use vigil_core::protocol::{SealedRecord, sealing_context};

use super::chain;
use super::records::{self, PushOutcome, Rejection};
use crate::error::ServerError;

/// Stores a batch of rescued records in one transaction. Each box is opened to read the
/// device id from the canonical bytes, and the record is then pushed as that device's:
/// its signature is verified with that device's registered key and its place in that
/// device's chain is checked. A record naming a device with no registered key is rejected
/// with `bad_signature`, and an unopenable box with `tampered`.
pub(crate) fn push(
    connection: &mut Connection,
    sealing_key: &SocSealingKey,
    records: &[SealedRecord],
    now_ms: i64,
) -> Result<PushOutcome, ServerError> {
    let transaction = connection.transaction()?;
    let mut outcome = PushOutcome::default();

    for sealed in records {
        let device_id = match sealed_device_id(sealing_key, sealed) {
            Ok(device_id) => device_id,
            Err(rejection) => {
                reject(&mut outcome, rejection, sealed);
                continue;
            }
        };
        if chain::device_public_key(&transaction, &device_id)?.is_none() {
            reject(&mut outcome, Rejection::BadSignature, sealed);
            continue;
        }

        let one = records::push_in(
            &transaction,
            &device_id,
            sealing_key,
            std::slice::from_ref(sealed),
            now_ms,
        )?;
        merge(&mut outcome, one);
    }

    transaction.commit()?;
    Ok(outcome)
}

/// Opens a box only to read the device id inside it; [`records::push_in`] checks the rest.
fn sealed_device_id(
    sealing_key: &SocSealingKey,
    sealed: &SealedRecord,
) -> Result<String, Rejection> {
    let box_bytes = URL_SAFE_NO_PAD.decode(&sealed.sealed).map_err(|_| Rejection::Tampered)?;
    let canonical = sealing_key
        .open(&box_bytes, &sealing_context(&sealed.id))
        .map_err(|_| Rejection::Tampered)?;
    let record: Record = serde_json::from_slice(&canonical).map_err(|error| {
        Rejection::InvalidRecord(format!("the sealed bytes are not a record: {error}"))
    })?;
    Ok(record.device_id)
}

/// Adds a rejection, keeping each id in only one of the two lists, as a normal push does.
fn reject(outcome: &mut PushOutcome, rejection: Rejection, sealed: &SealedRecord) {
    outcome.acked.retain(|id| *id != sealed.id);
    outcome.records.retain(|record| record.id != sealed.id);
    if !outcome.rejected.iter().any(|rejected| rejected.id == sealed.id) {
        outcome.rejected.push(rejection.into_rejected(sealed.id));
    }
}

/// Adds the outcome of one record's push to the batch's.
fn merge(outcome: &mut PushOutcome, one: PushOutcome) {
    for rejected in one.rejected {
        outcome.acked.retain(|id| *id != rejected.id);
        outcome.records.retain(|record| record.id != rejected.id);
        if !outcome.rejected.iter().any(|known| known.id == rejected.id) {
            outcome.rejected.push(rejected);
        }
    }
    for id in one.acked {
        if !outcome.rejected.iter().any(|rejected| rejected.id == id)
            && !outcome.acked.contains(&id)
        {
            outcome.acked.push(id);
        }
    }
    outcome.records.extend(one.records);
    outcome.new_count += one.new_count;
    outcome.new_alerts.extend(one.new_alerts);
}
