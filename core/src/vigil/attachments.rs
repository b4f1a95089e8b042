//! Attaching files to records: each file is streamed from disk through the chunked
//! encryption of `crypto::encrypt_stream` into the store's attachment folder, with its own
//! random key, and is durable before the record that refers to it is stored.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use uuid::Uuid;
use zeroize::Zeroizing;

use super::Vigil;
use super::capture::check_incident;
use crate::crypto::{self, CryptoError};
use crate::error::{Error, Result};
use crate::model::{AttachmentRef, Incident, Record, RecordBody};
use crate::protocol::attachment_context;
use crate::store::NewAttachment;

/// Maximum number of files attached to one record.
pub const MAX_ATTACHMENTS_PER_RECORD: usize = 20;

/// Maximum length of a media type, in bytes (RFC 6838 allows 127 characters per part).
const MAX_MEDIA_TYPE_BYTES: usize = 255;

/// A file to attach to a record: a photo, audio clip or video the app has saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentFile {
    /// The file to read. Vigil keeps an encrypted copy; the app may delete the original
    /// once the capture call returns.
    pub path: PathBuf,
    /// The media type, such as `image/jpeg`, `audio/mp4` or `video/mp4`.
    pub media_type: String,
}

impl Vigil {
    /// Stores an incident report with files attached, and the current fix.
    ///
    /// Each file is encrypted into the store's attachment folder with its own key and
    /// synced to disk before the record is stored. Memory use stays at two 64 KiB chunks
    /// whatever the file's size. The record refers to each file by the digest of its
    /// encrypted stream. This blocks for as long as the files take to read and write.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an invalid incident, more than
    /// [`MAX_ATTACHMENTS_PER_RECORD`] files, an invalid media type or a file that cannot be
    /// read; [`Error::StorageFull`] if the disk is full; storage errors. On an error
    /// nothing is stored and no encrypted copy is left behind.
    pub fn log_incident_with_attachments(
        &self,
        incident: Incident,
        files: Vec<AttachmentFile>,
    ) -> Result<Record> {
        check_incident(&incident)?;
        if files.len() > MAX_ATTACHMENTS_PER_RECORD {
            return Err(Error::invalid(
                "files",
                format!("{} files is over the limit of {MAX_ATTACHMENTS_PER_RECORD}", files.len()),
            ));
        }
        for file in &files {
            check_media_type(&file.media_type)?;
        }

        let folder = self.store().attachments_dir();
        let mut attachments = Vec::with_capacity(files.len());
        for file in &files {
            match encrypt_file(&folder, file) {
                Ok(attachment) => attachments.push(attachment),
                Err(error) => {
                    remove_files(&folder, &attachments);
                    return Err(error);
                }
            }
        }

        let shift_id = self.active_shift_id()?;
        let record =
            self.new_record(shift_id, self.current_location(), RecordBody::Incident(incident));
        let ids: Vec<_> = attachments.iter().map(|new| new.reference.id).collect();
        let stored = match self.store().append_with_attachments(record, attachments) {
            Ok(stored) => stored,
            Err(error) => {
                for id in ids {
                    let _ = std::fs::remove_file(attachment_path(&folder, id));
                }
                return Err(error);
            }
        };

        tracing::info!(record = %stored.id, attachments = stored.attachments.len(), "incident logged");
        Ok(stored)
    }

    /// Decrypts an attachment into `output` and checks it whole: its length, every
    /// chunk's tag, and the digest its record refers to.
    ///
    /// On an error, `output` may already hold the start of the file; discard it.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if no attachment has this id; [`Error::Corrupt`] if the file is
    /// missing, truncated or changed; [`Error::InvalidState`] if writing `output` fails.
    pub fn read_attachment(&self, id: Uuid, output: impl Write) -> Result<AttachmentRef> {
        let stored = self.store().attachment(id)?;
        let key = self.store().attachment_key(id)?;
        let path = attachment_path(&self.store().attachments_dir(), id);

        let file = File::open(&path).map_err(|error| {
            Error::Corrupt(format!("the file of attachment {id} cannot be opened: {error}"))
        })?;
        let on_disk = file.metadata().map(|metadata| metadata.len()).unwrap_or(0);
        let expected = crypto::sealed_len(stored.reference.size_bytes);
        if on_disk != expected {
            return Err(Error::Corrupt(format!(
                "attachment {id} is {on_disk} bytes on disk, expected {expected}: the file was \
                 truncated or changed"
            )));
        }

        let context = attachment_context(&id);
        let summary =
            crypto::decrypt_stream(&key, &context, file, output).map_err(|error| match error {
                CryptoError::Io(message) => {
                    Error::InvalidState(format!("failed to read attachment {id}: {message}"))
                }
                _ => Error::Corrupt(format!(
                    "attachment {id} failed its integrity check ({error}): the file was changed \
                     or damaged"
                )),
            })?;
        if summary.digest != stored.reference.digest {
            return Err(Error::Corrupt(format!(
                "attachment {id} does not match the digest its record refers to"
            )));
        }
        Ok(stored.reference)
    }

    /// Checks an attachment's file as [`Vigil::read_attachment`] does, without keeping the
    /// plaintext.
    ///
    /// # Errors
    ///
    /// As [`Vigil::read_attachment`].
    pub fn verify_attachment(&self, id: Uuid) -> Result<AttachmentRef> {
        self.read_attachment(id, std::io::sink())
    }
}

/// Removes the `.partial` files that a capture cut short by a crash left in the attachment
/// folder. Their records were never stored, and their keys were never saved.
///
/// NOTE: a `.vgs` file whose capture crashed after the file was renamed but before the
/// record was stored is kept: it cannot be distinguished here from an attachment of a
/// quarantined database, whose rows contain its key.
pub(super) fn remove_partial_files(store: &crate::store::Store) {
    let Ok(entries) = std::fs::read_dir(store.attachments_dir()) else {
        return;
    };
    let mut removed = 0u32;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|extension| extension == "partial")
            && std::fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(removed, "removed attachment files left by an interrupted capture");
    }
}

/// Returns the path of an attachment's encrypted file.
pub(super) fn attachment_path(folder: &Path, id: Uuid) -> PathBuf {
    folder.join(format!("{id}.vgs"))
}

fn check_media_type(media_type: &str) -> Result<()> {
    let valid = media_type.len() <= MAX_MEDIA_TYPE_BYTES
        && media_type
            .split_once('/')
            .is_some_and(|(kind, subtype)| !kind.is_empty() && !subtype.is_empty())
        && media_type.bytes().all(|byte| byte.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(
            "media_type",
            format!(
                "{media_type:?} is not a media type such as image/jpeg (ASCII, type/subtype, \
                 at most {MAX_MEDIA_TYPE_BYTES} bytes)"
            ),
        ))
    }
}

/// Encrypts one file into the attachment folder under a new id and key, and syncs the
/// file and the folder to disk.
fn encrypt_file(folder: &Path, file: &AttachmentFile) -> Result<NewAttachment> {
    let source = File::open(&file.path)
        .map_err(|error| Error::invalid("path", format!("the file cannot be read: {error}")))?;
    if source.metadata().is_ok_and(|metadata| metadata.is_dir()) {
        return Err(Error::invalid("path", "is a folder, not a file"));
    }
    create_folder(folder)?;

    let id = Uuid::now_v7();
    let mut key = Zeroizing::new(vec![0u8; 32]);
    crypto::fill_random(&mut key).map_err(|error| Error::InvalidState(error.to_string()))?;

    let partial = folder.join(format!("{id}.partial"));
    let result = write_encrypted(&key, id, source, &partial);
    let summary = match result {
        Ok(summary) => summary,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };

    let path = attachment_path(folder, id);
    std::fs::rename(&partial, &path).map_err(|error| file_error("store the attachment", error))?;
    sync_folder(folder)?;

    let reference = AttachmentRef {
        id,
        digest: summary.digest,
        size_bytes: summary.plaintext_bytes,
        media_type: file.media_type.clone(),
    };
    Ok(NewAttachment { reference, key })
}

fn write_encrypted(
    key: &[u8],
    id: Uuid,
    source: File,
    partial: &Path,
) -> Result<crypto::StreamSummary> {
    // `encrypt_stream` writes each chunk with its tag in one call, so the file needs no
    // buffer of its own.
    let mut target =
        File::create(partial).map_err(|error| file_error("create the attachment", error))?;

    let summary = crypto::encrypt_stream(key, &attachment_context(&id), source, &mut target)
        .map_err(|error| match error {
            CryptoError::Io(message) => io_message_error(message),
            other => Error::InvalidState(format!("failed to encrypt the attachment: {other}")),
        })?;

    target.sync_all().map_err(|error| file_error("sync the attachment", error))?;
    Ok(summary)
}

fn create_folder(folder: &Path) -> Result<()> {
    if folder.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(folder)
        .map_err(|error| file_error("create the attachment folder", error))?;
    if let Some(parent) = folder.parent() {
        sync_folder(parent)?;
    }
    Ok(())
}

/// Syncs a folder, so that a file created or renamed in it survives a power loss.
fn sync_folder(folder: &Path) -> Result<()> {
    File::open(folder)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| file_error("sync the attachment folder", error))
}

fn remove_files(folder: &Path, attachments: &[NewAttachment]) {
    for attachment in attachments {
        let _ = std::fs::remove_file(attachment_path(folder, attachment.reference.id));
    }
}

fn file_error(action: &str, error: std::io::Error) -> Error {
    if error.kind() == std::io::ErrorKind::StorageFull {
        Error::StorageFull
    } else {
        Error::InvalidState(format!("failed to {action}: {error}"))
    }
}

/// Maps an I/O failure that `encrypt_stream` reported as text. Reading the source and
/// writing the copy both end up here, so a full disk is recognized by its message.
fn io_message_error(message: String) -> Error {
    if message.contains("No space left") {
        Error::StorageFull
    } else {
        Error::InvalidState(format!(
            "failed to copy the file into the attachment folder: {message}"
        ))
    }
}
