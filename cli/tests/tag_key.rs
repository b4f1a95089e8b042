//! `vigil tag-key`: keys made and tags signed by the CLI verify in the core; bad input
//! gets a clear error.

mod common;

use common::{stderr, stdout, vigil};
use vigil_core::checkin::{TagError, verify_signed_tag};

#[test]
fn signed_tag_verifies_with_printed_key() {
    let folder = tempfile::tempdir().unwrap();
    let key_file = folder.path().join("soc-1.pk8");
    let key_path = key_file.to_str().unwrap();

    let created = vigil(&["tag-key", "new", "--key-id", "soc-1", "--out", key_path]);
    assert!(created.status.success(), "{}", stderr(&created));
    let public = vigil_cli_public_key(&stdout(&created));
    assert_eq!(public.key_id, "soc-1");

    let signed = vigil(&[
        "tag-key",
        "sign",
        "--key",
        key_path,
        "--key-id",
        "soc-1",
        "--site",
        "depot",
        "--checkpoint",
        "gate",
    ]);
    assert!(signed.status.success(), "{}", stderr(&signed));
    let tag = stdout(&signed).trim().to_string();
    let claims = verify_signed_tag(&tag, std::slice::from_ref(&public)).unwrap();
    assert_eq!(claims.site_id, "depot");
    assert_eq!(claims.checkpoint_id, "gate");

    let other = folder.path().join("other.pk8");
    let other_created =
        vigil(&["tag-key", "new", "--key-id", "soc-1", "--out", other.to_str().unwrap()]);
    let other_public = vigil_cli_public_key(&stdout(&other_created));
    assert_eq!(verify_signed_tag(&tag, &[other_public]), Err(TagError::BadSignature));
}

#[test]
fn existing_key_file_is_not_overwritten() {
    let folder = tempfile::tempdir().unwrap();
    let key_file = folder.path().join("soc-1.pk8");
    std::fs::write(&key_file, b"keep me").unwrap();

    let output =
        vigil(&["tag-key", "new", "--key-id", "soc-1", "--out", key_file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot be created"), "{}", stderr(&output));
    assert_eq!(std::fs::read(&key_file).unwrap(), b"keep me");
}

#[test]
fn invalid_key_file_is_named() {
    let folder = tempfile::tempdir().unwrap();
    let key_file = folder.path().join("junk.pk8");
    std::fs::write(&key_file, b"not a key").unwrap();

    let output = vigil(&[
        "tag-key",
        "sign",
        "--key",
        key_file.to_str().unwrap(),
        "--key-id",
        "k",
        "--site",
        "s",
        "--checkpoint",
        "c",
    ]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("junk.pk8"), "{message}");
    assert!(message.contains("PKCS#8"), "{message}");
}

#[test]
fn malformed_public_key_is_rejected_by_serve() {
    let output = vigil(&["serve", "--enrollment-code", "x", "--tag-key", "soc-1=AAAA"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("expected 32"), "{message}");
}

fn vigil_cli_public_key(printed: &str) -> vigil_core::checkin::TagKey {
    let (key_id, public_key) = printed.trim().split_once('=').expect("KEY_ID=PUBLIC_KEY");
    vigil_core::checkin::TagKey { key_id: key_id.into(), public_key: public_key.into() }
}
