//! Uploading attachments in resumable pieces, after every record of the outbox.
//!
//! For each attachment not yet uploaded, the device first checks its file whole (see
//! [`Vigil::verify_attachment`]) and offers it to the server. The server replies with how
//! many bytes of the encrypted stream it already has, and the device sends the rest in
//! pieces of at most [`MAX_ATTACHMENT_CHUNK_BYTES`]. An interrupted upload, even one cut by a restart of
//! either side, resumes at the server's offset. The server checks the stream's digest once
//! it has every byte. The record stays `Sent` until then (see
//! [`crate::store::Store::mark_attachment_uploaded`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::time::Instant;
use uuid::Uuid;

use super::Vigil;
use super::attachments::attachment_path;
use super::sync::is_past;
use crate::crypto;
use crate::error::{Error, Result};
use crate::protocol::{
    AttachmentOffer, AttachmentStatus, MAX_ATTACHMENT_CHUNK_BYTES, attachment_key_context,
};
use crate::store::{SOC_PUBLIC_KEY, StoredAttachment, UploadState, decode_soc_public_key};

/// Offers in a row, each followed by a rejected piece, after which an upload gives up
/// until the next sync.
const MAX_OFFERS_WITHOUT_PROGRESS: u32 = 3;

/// Attachments read from the store per page.
const PAGE: usize = 16;

impl Vigil {
    /// Uploads every pending attachment. Returns `false` if the time budget ran out first;
    /// what was not uploaded stays pending and resumes at the next sync.
    ///
    /// A damaged file or an attachment the server rejects is marked as such and skipped,
    /// so one bad file never holds back the others.
    pub(super) async fn upload_attachments(
        &self,
        token: &str,
        deadline: Option<Instant>,
    ) -> Result<bool> {
        loop {
            let page = self.blocking(|vigil| vigil.store().pending_attachments(PAGE)).await?;
            if page.is_empty() {
                return Ok(true);
            }
            for attachment in page {
                if is_past(deadline) {
                    return Ok(false);
                }
                if !self.upload_attachment(token, &attachment, deadline).await? {
                    return Ok(false);
                }
            }
        }
    }

    /// Uploads one attachment. Returns `false` if the time budget ran out first.
    async fn upload_attachment(
        &self,
        token: &str,
        attachment: &StoredAttachment,
        deadline: Option<Instant>,
    ) -> Result<bool> {
        let id = attachment.reference.id;
        let checked = self.blocking(move |vigil| Ok(vigil.verify_attachment(id))).await?;
        if let Err(error) = checked {
            let Error::Corrupt(reason) = &error else {
                return Err(error);
            };
            tracing::error!(attachment = %id, %error, "an attachment file is damaged; it is kept and not uploaded");
            let reason = reason.clone();
            self.blocking(move |vigil| {
                vigil.store().mark_attachment_failed(id, UploadState::Damaged, &reason)
            })
            .await?;
            return Ok(true);
        }

        let offer = self.attachment_offer(attachment).await?;
        let mut status =
            self.retrying(deadline, || self.inner.client.offer_attachment(token, id, &offer)).await;

        let mut offers_without_progress = 0;
        let mut stored_before = 0;
        loop {
            let current = match status {
                Ok(current) => current,
                Err(Error::Server { status: 404 | 409, message, .. })
                    if message.starts_with("offset_mismatch")
                        || message.starts_with("attachment_not_found") =>
                {
                    // The server has another offset than ours, or lost the offer, so offer
                    // again to learn where to resume.
                    offers_without_progress += 1;
                    if offers_without_progress > MAX_OFFERS_WITHOUT_PROGRESS {
                        return Err(Error::Server {
                            status: 0,
                            message: format!(
                                "the server kept rejecting the upload offset: {message}"
                            ),
                            retry_after_ms: None,
                        });
                    }
                    status = self
                        .retrying(deadline, || {
                            self.inner.client.offer_attachment(token, id, &offer)
                        })
                        .await;
                    continue;
                }
                Err(Error::Server { status: code @ (403 | 409 | 413 | 422), message, .. }) => {
                    tracing::warn!(attachment = %id, status = code, "the server rejected an attachment");
                    let reason = format!("HTTP {code}: {message}");
                    self.blocking(move |vigil| {
                        vigil.store().mark_attachment_failed(id, UploadState::Rejected, &reason)
                    })
                    .await?;
                    return Ok(true);
                }
                Err(error) => return Err(error),
            };

            if current.received_bytes > stored_before {
                offers_without_progress = 0;
                stored_before = current.received_bytes;
            }
            if current.complete {
                let uploaded_at_ms = self.now_ms();
                self.blocking(move |vigil| {
                    vigil.store().mark_attachment_uploaded(id, uploaded_at_ms)
                })
                .await?;
                tracing::info!(attachment = %id, bytes = current.sealed_bytes, "attachment uploaded");
                return Ok(true);
            }
            if is_past(deadline) {
                return Ok(false);
            }

            let offset = current.received_bytes;
            let piece = self.blocking(move |vigil| vigil.read_piece(id, offset)).await?;
            status = self
                .retrying(deadline, || {
                    self.inner.client.send_attachment_content(token, id, offset, piece.clone())
                })
                .await
                .and_then(|reply| check_progress(&current, reply));
        }
    }

    async fn attachment_offer(&self, attachment: &StoredAttachment) -> Result<AttachmentOffer> {
        let id = attachment.reference.id;
        let sealed_key = self
            .blocking(move |vigil| {
                let encoded = match vigil.config().soc_public_key.clone() {
                    Some(configured) => Some(configured),
                    None => vigil.store().setting(SOC_PUBLIC_KEY)?,
                };
                let Some(encoded) = encoded else {
                    return Ok(None);
                };
                let soc_key = decode_soc_public_key(&encoded)?;
                let key = vigil.store().attachment_key(id)?;
                let sealed = crypto::seal_to_soc(&soc_key, &key, &attachment_key_context(&id))
                    .map_err(|error| {
                        Error::Corrupt(format!("the stored SOC public key: {error}"))
                    })?;
                Ok(Some(URL_SAFE_NO_PAD.encode(sealed)))
            })
            .await?;
        // NOTE: without a SOC public key (none configured and none sent at enrollment) the
        // key is not sent at all, so the SOC stores the stream but cannot open it.

        let reference = &attachment.reference;
        Ok(AttachmentOffer {
            record_id: attachment.record_id,
            digest: reference.digest.clone(),
            size_bytes: reference.size_bytes,
            sealed_bytes: crypto::sealed_len(reference.size_bytes),
            media_type: reference.media_type.clone(),
            sealed_key,
        })
    }

    /// Reads the piece of an attachment's encrypted file that starts at `offset`.
    fn read_piece(&self, id: Uuid, offset: u64) -> Result<Vec<u8>> {
        let path = attachment_path(&self.store().attachments_dir(), id);
        let damaged = |error: std::io::Error| {
            Error::Corrupt(format!("attachment {id} cannot be read: {error}"))
        };

        let mut file = File::open(path).map_err(damaged)?;
        file.seek(SeekFrom::Start(offset)).map_err(damaged)?;
        let mut piece = Vec::with_capacity(MAX_ATTACHMENT_CHUNK_BYTES);
        file.take(MAX_ATTACHMENT_CHUNK_BYTES as u64).read_to_end(&mut piece).map_err(damaged)?;
        if piece.is_empty() {
            return Err(Error::Corrupt(format!("attachment {id} ends before offset {offset}")));
        }
        Ok(piece)
    }
}

/// Rejects a reply that claims the stream went backwards or past its end, which would make
/// the device send the same bytes forever.
fn check_progress(before: &AttachmentStatus, reply: AttachmentStatus) -> Result<AttachmentStatus> {
    if reply.received_bytes > reply.sealed_bytes || reply.sealed_bytes != before.sealed_bytes {
        return Err(Error::Server {
            status: 0,
            message: format!(
                "the server reported {} of {} bytes of an attachment of {} bytes",
                reply.received_bytes, reply.sealed_bytes, before.sealed_bytes
            ),
            retry_after_ms: None,
        });
    }
    Ok(reply)
}
