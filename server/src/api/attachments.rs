//! `PUT /v1/attachments/{id}` and `POST /v1/attachments/{id}/content`: resumable uploads
//! of attachments' encrypted streams.
//!
//! The server cannot decrypt a stream, so it checks what it can without the key: the
//! stream's length against the announced size, and its digest (SHA-256 over the header and
//! chunk tags) once every byte is stored. The database row records how many bytes of the
//! file are durable. Bytes past that point, from a write cut by a crash, are cut off
//! before the next write. A replayed or out-of-order piece changes nothing.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;
use vigil_core::crypto::{sealed_len, stream_digest};
use vigil_core::protocol::{AttachmentOffer, AttachmentStatus, MAX_ATTACHMENT_CHUNK_BYTES};

use super::auth::Device;
use super::error::ApiError;
use super::{AppState, now_ms};
use crate::db::attachments::{self, AttachmentRow, OfferOutcome};
use crate::error::ServerError;

/// Maximum length of a sealed key, in base64url characters. A sealed 32-byte key is 84 bytes
/// (112 characters); the margin leaves room for a later format.
const MAX_SEALED_KEY_CHARS: usize = 1024;

/// Maximum length of a media type, in bytes.
const MAX_MEDIA_TYPE_BYTES: usize = 255;

/// The query of `POST /v1/attachments/{id}/content`.
#[derive(Debug, Deserialize)]
pub(crate) struct ContentQuery {
    /// The position in the stream where the body starts, in bytes.
    offset: u64,
}

/// Stores an attachment's offer, or finds the one stored, and replies with how much of
/// the stream the server has.
pub(crate) async fn offer(
    State(state): State<AppState>,
    device: Device,
    id: Result<UrlPath<Uuid>, PathRejection>,
    body: Result<Json<AttachmentOffer>, JsonRejection>,
) -> Result<Json<AttachmentStatus>, ApiError> {
    let id = attachment_id(id)?;
    let Json(offer) = body?;
    check_offer(&offer)?;

    let device_id = device.device_id.clone();
    let outcome = state
        .db
        .call(move |connection| attachments::offer(connection, &device_id, id, &offer))
        .await?;
    match outcome {
        OfferOutcome::Accepted(row) => Ok(Json(status(id, &row))),
        OfferOutcome::Conflict(reason) => {
            Err(ApiError::new(StatusCode::CONFLICT, "attachment_conflict", reason))
        }
    }
}

/// Appends one piece of an attachment's stream at `offset`, and checks the digest when the
/// stream is whole. Replies after the piece is synced to disk.
pub(crate) async fn content(
    State(state): State<AppState>,
    device: Device,
    id: Result<UrlPath<Uuid>, PathRejection>,
    query: Result<Query<ContentQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Json<AttachmentStatus>, ApiError> {
    let id = attachment_id(id)?;
    let Query(ContentQuery { offset }) = query?;
    if body.len() > MAX_ATTACHMENT_CHUNK_BYTES {
        return Err(ApiError::payload_too_large(format!(
            "the piece is {} bytes; the maximum is {MAX_ATTACHMENT_CHUNK_BYTES}",
            body.len()
        )));
    }

    // One write at a time, so two copies of the same piece never interleave.
    let _one_write_at_a_time = state.attachment_writes.lock().await;
    let row = state.db.call(move |connection| attachments::find(connection, id)).await?;
    let Some(row) = row.filter(|row| row.device_id == device.device_id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "attachment_not_found",
            "no attachment with this id was offered by this device; send PUT \
             /v1/attachments/{id} first",
        ));
    };

    let end = offset.saturating_add(body.len() as u64);
    if row.completed_at_ms.is_some() || end <= row.received_bytes {
        return Ok(Json(status(id, &row)));
    }
    if offset != row.received_bytes {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "offset_mismatch",
            format!(
                "the server has {} bytes of this attachment; send the piece that starts there",
                row.received_bytes
            ),
        ));
    }
    if end > row.offer.sealed_bytes {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_attachment",
            format!("the piece ends at {end}, past the stream's {} bytes", row.offer.sealed_bytes),
        ));
    }

    let path = attachment_file(&state.attachments_dir, id);
    let whole = end == row.offer.sealed_bytes;
    let received = row.received_bytes;
    let digest = blocking(move || write_piece(&path, received, &body, whole)).await?;

    match digest {
        Some(digest) if digest != row.offer.digest => {
            let path = attachment_file(&state.attachments_dir, id);
            blocking(move || truncate(&path)).await?;
            state
                .db
                .call(move |connection| attachments::set_received(connection, id, 0, None))
                .await?;
            tracing::warn!(attachment_id = %id, "an attachment's digest did not match; it must be sent again");
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "digest_mismatch",
                "the stream's digest does not match the offer; the stored bytes were discarded",
            ))
        }
        _ => {
            let completed_at_ms = whole.then(now_ms);
            state
                .db
                .call(move |connection| {
                    attachments::set_received(connection, id, end, completed_at_ms)
                })
                .await?;
            if whole {
                tracing::info!(attachment_id = %id, bytes = end, "stored an attachment");
            }
            let row = AttachmentRow { received_bytes: end, completed_at_ms, ..row };
            Ok(Json(status(id, &row)))
        }
    }
}

/// Returns the path of an attachment's stream in the attachment folder.
pub(crate) fn attachment_file(folder: &Path, id: Uuid) -> PathBuf {
    folder.join(format!("{id}.vgs"))
}

fn attachment_id(id: Result<UrlPath<Uuid>, PathRejection>) -> Result<Uuid, ApiError> {
    id.map(|UrlPath(id)| id)
        .map_err(|_| ApiError::invalid_request("the attachment id in the path is not a UUID"))
}

fn check_offer(offer: &AttachmentOffer) -> Result<(), ApiError> {
    let digest_ok = offer.digest.len() == 64
        && offer.digest.bytes().all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if !digest_ok {
        return Err(ApiError::invalid_request("digest must be 64 lowercase hex digits"));
    }
    if offer.sealed_bytes != sealed_len(offer.size_bytes) {
        return Err(ApiError::invalid_request(format!(
            "sealed_bytes is {}, but a stream of {} bytes is {} bytes long",
            offer.sealed_bytes,
            offer.size_bytes,
            sealed_len(offer.size_bytes)
        )));
    }
    if offer.media_type.is_empty() || offer.media_type.len() > MAX_MEDIA_TYPE_BYTES {
        return Err(ApiError::invalid_request(format!(
            "media_type must have 1 to {MAX_MEDIA_TYPE_BYTES} bytes"
        )));
    }
    if offer.sealed_key.as_ref().is_some_and(|key| key.len() > MAX_SEALED_KEY_CHARS) {
        return Err(ApiError::invalid_request(format!(
            "sealed_key is longer than {MAX_SEALED_KEY_CHARS} characters"
        )));
    }
    Ok(())
}

fn status(id: Uuid, row: &AttachmentRow) -> AttachmentStatus {
    AttachmentStatus {
        id,
        received_bytes: row.received_bytes,
        sealed_bytes: row.offer.sealed_bytes,
        complete: row.completed_at_ms.is_some(),
        server_time_ms: now_ms(),
    }
}

/// Writes `piece` at `offset`, after cutting off any bytes past `offset` that a crashed
/// write left behind, and syncs the file. Returns the stream's digest when it is `whole`.
fn write_piece(
    path: &Path,
    offset: u64,
    piece: &[u8],
    whole: bool,
) -> Result<Option<String>, ServerError> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(file_error)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(file_error)?;
    file.set_len(offset).map_err(file_error)?;
    file.seek(SeekFrom::Start(offset)).map_err(file_error)?;
    file.write_all(piece).map_err(file_error)?;
    file.sync_data().map_err(file_error)?;
    if offset == 0 {
        // The file is new: sync its folder so the entry survives a power loss.
        if let Some(folder) = path.parent() {
            std::fs::File::open(folder).and_then(|handle| handle.sync_all()).map_err(file_error)?;
        }
    }

    if !whole {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0)).map_err(file_error)?;
    let reader = std::io::BufReader::with_capacity(256 * 1024, file);
    let digest = stream_digest(reader).map_err(|error| {
        ServerError::Corrupt(format!("the stored stream is unreadable: {error}"))
    })?;
    Ok(Some(digest))
}

fn truncate(path: &Path) -> Result<(), ServerError> {
    let file = std::fs::OpenOptions::new().write(true).open(path).map_err(file_error)?;
    file.set_len(0).map_err(file_error)?;
    file.sync_data().map_err(file_error)
}

fn file_error(error: std::io::Error) -> ServerError {
    ServerError::Attachment(error)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ServerError> + Send + 'static,
) -> Result<T, ServerError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| ServerError::Task(error.to_string()))?
}
