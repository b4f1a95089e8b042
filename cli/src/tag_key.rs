//! `vigil tag-key`: the SOC's Ed25519 keys for signed checkpoint tags.
//!
//! The secret key stays with the SOC in a PKCS#8 v2 file; `vigil serve` only needs the
//! public key, given as `KEY_ID=PUBLIC_KEY`.

use std::io::Write as _;
use std::path::Path;

use vigil_core::checkin::{TagKey, TagSigner, decode_public_key};

use crate::error::CliError;

/// Generates a key pair, writes the secret PKCS#8 v2 document to `out` (readable by the
/// owner only, never overwriting a file) and returns the public key.
///
/// # Errors
///
/// [`CliError::Input`] when `out` exists or cannot be written; [`CliError::Other`] when
/// the random number generator fails.
pub fn generate(key_id: &str, out: &Path) -> Result<TagKey, CliError> {
    check_key_id(key_id)?;
    let (signer, pkcs8) = TagSigner::generate(key_id).map_err(CliError::Other)?;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(out).map_err(|error| {
        CliError::input(out, format!("cannot be created ({error}); choose a new file name"))
    })?;
    file.write_all(&pkcs8)
        .and_then(|()| file.sync_all())
        .map_err(|error| CliError::input(out, format!("could not be written: {error}")))?;
    Ok(signer.public_key())
}

/// Returns the signed tag text for a checkpoint, signed with the PKCS#8 key in `key`.
///
/// # Errors
///
/// [`CliError::Input`] when the key file cannot be read or is not an Ed25519 PKCS#8 v2
/// key; [`CliError::Other`] for an empty id.
pub fn sign(
    key: &Path,
    key_id: &str,
    site_id: &str,
    checkpoint_id: &str,
) -> Result<String, CliError> {
    check_key_id(key_id)?;
    for (name, value) in [("--site", site_id), ("--checkpoint", checkpoint_id)] {
        if value.trim().is_empty() || value.len() > 128 {
            return Err(CliError::Other(format!("{name} must be 1 to 128 bytes")));
        }
    }
    let pkcs8 = std::fs::read(key)
        .map_err(|error| CliError::input(key, format!("cannot be read: {error}")))?;
    let signer =
        TagSigner::from_pkcs8(key_id, &pkcs8).map_err(|problem| CliError::input(key, problem))?;
    Ok(signer.sign(site_id, checkpoint_id))
}

/// Parses a public key given as `KEY_ID=PUBLIC_KEY`, as `vigil tag-key new` prints it.
///
/// # Errors
///
/// A message naming the problem, for clap to show.
pub fn parse_public(text: &str) -> Result<TagKey, String> {
    let (key_id, public_key) =
        text.split_once('=').ok_or_else(|| format!("{text:?} is not KEY_ID=PUBLIC_KEY"))?;
    if key_id.trim().is_empty() {
        return Err("the key id before '=' is empty".to_string());
    }
    decode_public_key(public_key)
        .map_err(|problem| format!("public key of {key_id:?}: {problem}"))?;
    Ok(TagKey { key_id: key_id.to_string(), public_key: public_key.to_string() })
}

fn check_key_id(key_id: &str) -> Result<(), CliError> {
    if key_id.trim().is_empty() || key_id.len() > 128 || key_id.contains('=') {
        return Err(CliError::Other("--key-id must be 1 to 128 bytes without '='".to_string()));
    }
    Ok(())
}
