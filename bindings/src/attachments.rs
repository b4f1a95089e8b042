//! Attachments: photos, audio and video stored encrypted with their record and uploaded
//! after every record.

use crate::uuid_text::parse_id;
use crate::{Severity, Vigil, VigilError};

/// A file to attach: the app saved it and may delete it once the capture call returns.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentFile {
    /// The path of the file to read.
    pub path: String,
    /// The media type, such as `image/jpeg`, `audio/mp4` or `video/mp4`.
    pub media_type: String,
}

/// An attachment as its record refers to it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Attachment {
    /// The attachment's id.
    pub id: String,
    /// The digest of its encrypted stream, 64 hex digits.
    pub digest: String,
    /// The size of the original file, in bytes.
    pub size_bytes: u64,
    /// The media type the app gave.
    pub media_type: String,
}

/// A stored incident and its attachments.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AttachedIncident {
    /// The id of the incident record.
    pub record_id: String,
    /// The attachments, in the order given.
    pub attachments: Vec<Attachment>,
}

/// The state of an attachment's upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AttachmentUploadState {
    /// Waiting to be uploaded, or partly uploaded; the next sync resumes it.
    Pending,
    /// Stored whole on the server.
    Uploaded,
    /// The file on the device failed its integrity check; it is kept and not uploaded.
    Damaged,
    /// The server refused it for good.
    Rejected,
}

impl From<&vigil_core::model::AttachmentRef> for Attachment {
    fn from(reference: &vigil_core::model::AttachmentRef) -> Self {
        Self {
            id: reference.id.to_string(),
            digest: reference.digest.clone(),
            size_bytes: reference.size_bytes,
            media_type: reference.media_type.clone(),
        }
    }
}

impl From<vigil_core::store::UploadState> for AttachmentUploadState {
    fn from(state: vigil_core::store::UploadState) -> Self {
        use vigil_core::store::UploadState;

        match state {
            UploadState::Pending => AttachmentUploadState::Pending,
            UploadState::Uploaded => AttachmentUploadState::Uploaded,
            UploadState::Damaged => AttachmentUploadState::Damaged,
            UploadState::Rejected => AttachmentUploadState::Rejected,
        }
    }
}

#[uniffi::export]
impl Vigil {
    /// Stores an incident with files attached, and the current fix. Each file is
    /// encrypted into the store's attachment folder and synced to disk before the record
    /// is stored, streamed so that a long video needs no more memory than a photo. The
    /// record's sync state becomes `Acknowledged` only once every attachment is uploaded.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an invalid incident (as `log_incident`), more than 20 files, an
    /// invalid media type or a file that cannot be read. `StorageFull` if the disk is full.
    /// Nothing is stored on an error.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the work runs to its end on the library's runtime even if the caller
    /// is cancelled, so the incident is stored whole or not at all.
    pub async fn log_incident_with_attachments(
        &self,
        category: String,
        severity: Severity,
        text: String,
        files: Vec<AttachmentFile>,
    ) -> Result<AttachedIncident, VigilError> {
        let incident = vigil_core::model::Incident { category, severity: severity.into(), text };
        let files = files
            .into_iter()
            .map(|file| vigil_core::AttachmentFile {
                path: file.path.into(),
                media_type: file.media_type,
            })
            .collect();
        self.blocking(move |core| {
            let record = core.log_incident_with_attachments(incident, files)?;
            Ok(AttachedIncident {
                record_id: record.id.to_string(),
                attachments: record.attachments.iter().map(Attachment::from).collect(),
            })
        })
        .await
    }

    /// Returns the state of an attachment's upload.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an id that is not a UUID; `NotFound` if no attachment has it.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only reads.
    pub async fn attachment_state(
        &self,
        attachment_id: String,
    ) -> Result<AttachmentUploadState, VigilError> {
        let id = parse_id("attachment_id", &attachment_id)?;
        self.blocking(move |core| Ok(core.store().attachment(id)?.state.into())).await
    }

    /// Decrypts an attachment into a new file at `path`, for display, after checking it
    /// whole. The decrypted copy is the app's to protect and delete.
    ///
    /// # Errors
    ///
    /// `NotFound` if no attachment has this id. `Storage` if the stored file is missing,
    /// truncated or changed, and then the copy at `path` is removed. `InvalidState` if
    /// `path` cannot be written.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the copy is written whole or removed.
    pub async fn export_attachment(
        &self,
        attachment_id: String,
        path: String,
    ) -> Result<(), VigilError> {
        let id = parse_id("attachment_id", &attachment_id)?;
        self.blocking(move |core| {
            let file = std::fs::File::create(&path).map_err(|error| VigilError::InvalidState {
                detail: format!("failed to create the exported file: {error}"),
            })?;
            let mut writer = std::io::BufWriter::new(file);
            let written = core.read_attachment(id, &mut writer).and_then(|reference| {
                use std::io::Write;

                writer.flush().map_err(|error| {
                    vigil_core::Error::InvalidState(format!("failed to write the copy: {error}"))
                })?;
                Ok(reference)
            });
            if let Err(error) = written {
                drop(writer);
                let _ = std::fs::remove_file(&path);
                return Err(error.into());
            }
            Ok(())
        })
        .await
    }
}
