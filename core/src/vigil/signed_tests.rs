//! Signed checkpoint tags through the `Vigil` facade, verified offline on a real store.

use super::tests::{T0, fix_near_gate, open_offline};
use crate::checkin::TagSigner;
use crate::error::Error;
use crate::model::{CheckinReason, RecordBody, ScanMethod};

fn signer_with_stored_key(vigil: &super::Vigil) -> TagSigner {
    let (signer, _) = TagSigner::generate("soc-key-1").unwrap();
    vigil.store().save_tag_keys(&[signer.public_key()]).unwrap();
    signer
}

#[test]
fn genuine_signed_tag_is_accepted() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let signer = signer_with_stored_key(&vigil);
    vigil.start_shift(Some("depot".into())).unwrap();
    vigil.record_fixes(vec![fix_near_gate(2.0, T0)]).unwrap();

    let check_in = vigil.scan_checkpoint(ScanMethod::Qr, &signer.sign("depot", "gate")).unwrap();
    assert!(check_in.verification.accepted, "{:?}", check_in.verification);
    assert_eq!(check_in.verification.checkpoint_id.as_deref(), Some("gate"));
}

#[test]
fn forged_signed_tag_is_refused_and_kept() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    signer_with_stored_key(&vigil);
    let (forger, _) = TagSigner::generate("soc-key-1").unwrap();
    vigil.start_shift(Some("depot".into())).unwrap();
    vigil.record_fixes(vec![fix_near_gate(2.0, T0)]).unwrap();

    let forged = forger.sign("depot", "gate");
    let check_in = vigil.scan_checkpoint(ScanMethod::Qr, &forged).unwrap();
    assert!(!check_in.verification.accepted);
    assert_eq!(
        check_in.verification.reasons,
        vec![CheckinReason::UnverifiedTag { problem: "bad_signature".into() }]
    );

    let (record, _) = vigil.store().record(check_in.record_id).unwrap();
    let RecordBody::CheckpointScan { payload, .. } = record.body else { panic!("{record:?}") };
    assert_eq!(payload, forged, "the forged payload is kept as evidence");
}

#[test]
fn tag_signed_by_unpulled_key_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let (stranger, _) = TagSigner::generate("other-key").unwrap();
    vigil.start_shift(Some("depot".into())).unwrap();

    let check_in = vigil.scan_checkpoint(ScanMethod::Nfc, &stranger.sign("depot", "gate")).unwrap();
    assert_eq!(
        check_in.verification.reasons,
        vec![CheckinReason::UnverifiedTag { problem: "unknown_key".into() }]
    );
}

#[test]
fn genuine_tag_scanned_far_away_is_too_far() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let signer = signer_with_stored_key(&vigil);
    vigil.start_shift(Some("depot".into())).unwrap();
    vigil.record_fixes(vec![fix_near_gate(1_000.0, T0)]).unwrap();

    // A photo of the genuine code, scanned from a desk 1 km away.
    let check_in = vigil.scan_checkpoint(ScanMethod::Qr, &signer.sign("depot", "gate")).unwrap();
    assert!(!check_in.verification.accepted);
    let [CheckinReason::TooFar { distance_m, .. }] = check_in.verification.reasons[..] else {
        panic!("expected too_far, got {:?}", check_in.verification.reasons);
    };
    assert!((distance_m - 1_000.0).abs() < 5.0, "{distance_m}");
}

#[test]
fn bad_payloads_are_input_errors() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let huge = vec![b'a'; 100_000];
    let cases: [(&[u8], &str); 4] = [
        (b"", "must not be empty"),
        (&huge, "over the limit"),
        (b"vigil1.\xff\xfe", "not UTF-8 text: invalid byte at offset 7"),
        (b"tag\0", "NUL"),
    ];
    for (payload, expected) in cases {
        let error = vigil.scan_checkpoint_bytes(ScanMethod::Nfc, payload).unwrap_err();
        let Error::InvalidInput { field, reason } = &error else { panic!("{error:?}") };
        assert_eq!(field, "payload");
        assert!(reason.contains(expected), "{reason}");
    }
    assert_eq!(vigil.store().sync_counts().unwrap().captured, 0, "nothing invalid is stored");
}

#[test]
fn malformed_signed_tag_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    signer_with_stored_key(&vigil);
    let check_in = vigil.scan_checkpoint(ScanMethod::Qr, "vigil1.not-a-tag").unwrap();
    assert_eq!(
        check_in.verification.reasons,
        vec![CheckinReason::UnverifiedTag { problem: "malformed".into() }]
    );
}

#[test]
fn invalid_tag_key_is_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let (vigil, _clock) = open_offline(&folder);
    let key = crate::checkin::TagKey { key_id: "short".into(), public_key: "AAAA".into() };
    let error = vigil.store().save_tag_keys(&[key]).unwrap_err();
    assert!(error.to_string().contains("\"short\""), "{error}");
    assert!(vigil.store().tag_keys().unwrap().is_empty());
}
