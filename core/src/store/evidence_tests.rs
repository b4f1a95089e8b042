//! The evidence parts the store makes at capture: chain, signature and sealed box.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use super::*;
use crate::crypto::{
    ChainedRecord, DeviceSigningKey, GENESIS_HASH, SocSealingKey, record_hash, verify_chain,
};
use crate::model::{Incident, Location, NoFixReason, RecordBody, Severity};
use crate::protocol::sealing_context;

fn incident(text: &str) -> NewRecord {
    NewRecord {
        id: Uuid::now_v7(),
        device_id: "device-1".into(),
        guard_id: "guard-1".into(),
        shift_id: None,
        captured_at_ms: 1_700_000_000_000,
        location: Location::NoFix { reason: NoFixReason::Unavailable },
        clock: None,
        attachments: Vec::new(),
        body: RecordBody::Incident(Incident {
            category: "intrusion".into(),
            severity: Severity::High,
            text: text.into(),
        }),
    }
}

fn decode_hash(encoded: &str) -> [u8; 32] {
    URL_SAFE_NO_PAD.decode(encoded).unwrap().try_into().unwrap()
}

fn keyed_store(folder: &tempfile::TempDir) -> (Store, Arc<DeviceSigningKey>, SocSealingKey) {
    let store = Store::open(folder.path().join("device.db")).unwrap();
    let key = Arc::new(DeviceSigningKey::generate().unwrap());
    let soc = SocSealingKey::generate().unwrap();
    store.set_signing_key(key.clone());
    store.set_setting(SOC_PUBLIC_KEY, &URL_SAFE_NO_PAD.encode(soc.public_key())).unwrap();
    (store, key, soc)
}

#[test]
fn records_are_chained_signed_and_sealed() {
    let folder = tempfile::tempdir().unwrap();
    let (store, key, soc) = keyed_store(&folder);

    let mut stored = store.append(vec![incident("a"), incident("b")]).unwrap();
    stored.extend(store.append(vec![incident("c")]).unwrap());

    let ids: Vec<_> = stored.iter().map(|record| record.id).collect();
    let queued = store.queued_records(&ids).unwrap();
    assert_eq!(queued.len(), 3);
    assert_eq!(decode_hash(stored[0].prev_hash.as_deref().unwrap()), GENESIS_HASH);
    for (index, entry) in queued.iter().enumerate() {
        let record = &stored[index];
        assert_eq!(entry.seq, record.seq);
        assert_eq!(entry.json.as_bytes(), serde_json::to_vec(record).unwrap(), "canonical bytes");
        let opened = soc.open(entry.sealed.as_ref().unwrap(), &sealing_context(&record.id));
        assert_eq!(opened.unwrap().as_slice(), entry.json.as_bytes());
        if index > 0 {
            let expected = record_hash(queued[index - 1].json.as_bytes());
            assert_eq!(decode_hash(record.prev_hash.as_deref().unwrap()), expected);
        }
    }

    let faults = verify_chain(
        &key.public_key(),
        queued.iter().zip(&stored).map(|(entry, record)| ChainedRecord {
            seq: entry.seq,
            prev_hash: decode_hash(record.prev_hash.as_deref().unwrap()),
            canonical: entry.json.as_bytes(),
            signature: entry.signature.as_deref().unwrap(),
        }),
    );
    assert_eq!(faults, vec![]);
}

#[test]
fn chain_continues_after_reopen() {
    let folder = tempfile::tempdir().unwrap();
    let (store, key, _soc) = keyed_store(&folder);
    let first = store.append(vec![incident("before")]).unwrap().remove(0);
    drop(store);

    let reopened = Store::open(folder.path().join("device.db")).unwrap();
    reopened.set_signing_key(key);
    let second = reopened.append(vec![incident("after")]).unwrap().remove(0);

    let canonical = reopened.queued_records(&[first.id]).unwrap().remove(0).json;
    assert_eq!(second.seq, first.seq + 1);
    assert_eq!(
        decode_hash(second.prev_hash.as_deref().unwrap()),
        record_hash(canonical.as_bytes())
    );
}

#[test]
fn without_keys_records_wait_for_push_time() {
    let folder = tempfile::tempdir().unwrap();
    let store = Store::open(folder.path().join("device.db")).unwrap();

    let record = store.append(vec![incident("early")]).unwrap().remove(0);

    let queued = store.queued_records(&[record.id]).unwrap().remove(0);
    assert!(record.prev_hash.is_some(), "the chain needs no key");
    assert_eq!(queued.signature, None);
    assert_eq!(queued.sealed, None);
    assert_eq!(queued.sealed_record(), None);
}

#[test]
fn failed_append_leaves_chain_untouched() {
    let folder = tempfile::tempdir().unwrap();
    let (store, _key, _soc) = keyed_store(&folder);
    let first = store.append(vec![incident("kept")]).unwrap().remove(0);

    // The second record reuses the first one's id, so the whole batch fails.
    let mut duplicate = incident("duplicate");
    duplicate.id = first.id;
    assert!(store.append(vec![incident("lost with the batch"), duplicate]).is_err());

    let next = store.append(vec![incident("next")]).unwrap().remove(0);
    let canonical = store.queued_records(&[first.id]).unwrap().remove(0).json;
    assert_eq!(next.seq, first.seq + 1, "no seq was used by the failed batch");
    assert_eq!(decode_hash(next.prev_hash.as_deref().unwrap()), record_hash(canonical.as_bytes()));
    assert_eq!(store.sync_counts().unwrap().captured, 2);
}
