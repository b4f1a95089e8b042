//! The attachments table: what each device announced, and how much of each encrypted
//! stream is stored in the attachment folder.

use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;
use vigil_core::protocol::AttachmentOffer;

use crate::error::ServerError;

/// An attachment as the server tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttachmentRow {
    /// The device that offered it.
    pub(crate) device_id: String,
    /// The device's offer.
    pub(crate) offer: AttachmentOffer,
    /// Bytes of the stream stored, from its start.
    pub(crate) received_bytes: u64,
    /// When the last byte arrived and the digest matched; `None` until then.
    pub(crate) completed_at_ms: Option<i64>,
}

/// The outcome of an offer.
pub(crate) enum OfferOutcome {
    /// The attachment is known (or now stored) with this offer.
    Accepted(AttachmentRow),
    /// Another device owns this id, or the same id was offered with other content.
    Conflict(&'static str),
}

/// Stores an offer, or returns the attachment already stored under its id.
pub(crate) fn offer(
    connection: &mut Connection,
    device_id: &str,
    id: Uuid,
    offer: &AttachmentOffer,
) -> Result<OfferOutcome, ServerError> {
    let transaction = connection.transaction()?;
    if let Some(existing) = find(&transaction, id)? {
        if existing.device_id != device_id {
            return Ok(OfferOutcome::Conflict("another device uses this attachment id"));
        }
        let same = existing.offer.record_id == offer.record_id
            && existing.offer.digest == offer.digest
            && existing.offer.sealed_bytes == offer.sealed_bytes
            && existing.offer.size_bytes == offer.size_bytes;
        if !same {
            return Ok(OfferOutcome::Conflict(
                "this attachment id was offered before with another digest or size",
            ));
        }
        // A key sealed later (after the SOC's key became known) is kept.
        if existing.offer.sealed_key.is_none() && offer.sealed_key.is_some() {
            transaction.execute(
                "UPDATE attachments SET sealed_key = ?2 WHERE id = ?1",
                params![id.to_string(), offer.sealed_key],
            )?;
        }
        let row = find(&transaction, id)?.unwrap_or(existing);
        transaction.commit()?;
        return Ok(OfferOutcome::Accepted(row));
    }

    transaction.execute(
        "INSERT INTO attachments
            (id, device_id, record_id, digest, size_bytes, sealed_bytes, media_type, sealed_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id.to_string(),
            device_id,
            offer.record_id.to_string(),
            offer.digest,
            to_sql(offer.size_bytes),
            to_sql(offer.sealed_bytes),
            offer.media_type,
            offer.sealed_key,
        ],
    )?;
    let row = find(&transaction, id)?
        .ok_or_else(|| ServerError::Corrupt(format!("attachment {id} vanished after insert")))?;
    transaction.commit()?;
    Ok(OfferOutcome::Accepted(row))
}

/// Returns the attachment stored under `id`.
pub(crate) fn find(
    connection: &Connection,
    id: Uuid,
) -> Result<Option<AttachmentRow>, ServerError> {
    let row = connection
        .query_row(
            "SELECT device_id, record_id, digest, size_bytes, sealed_bytes, media_type,
                    sealed_key, received_bytes, completed_at_ms
             FROM attachments WHERE id = ?1",
            [id.to_string()],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, i64>(7)?,
                    row.get::<_, Option<i64>>(8)?,
                ))
            },
        )
        .optional()?;
    let Some((device_id, record_id, digest, size, sealed, media_type, sealed_key, received, done)) =
        row
    else {
        return Ok(None);
    };

    let record_id = Uuid::parse_str(&record_id)
        .map_err(|error| ServerError::Corrupt(format!("stored attachment record id: {error}")))?;
    Ok(Some(AttachmentRow {
        device_id,
        offer: AttachmentOffer {
            record_id,
            digest,
            size_bytes: from_sql(size),
            sealed_bytes: from_sql(sealed),
            media_type,
            sealed_key,
        },
        received_bytes: from_sql(received),
        completed_at_ms: done,
    }))
}

/// Records how many bytes of the stream are durably in its file, and whether it is
/// complete.
pub(crate) fn set_received(
    connection: &Connection,
    id: Uuid,
    received_bytes: u64,
    completed_at_ms: Option<i64>,
) -> Result<(), ServerError> {
    connection.execute(
        "UPDATE attachments SET received_bytes = ?2, completed_at_ms = ?3 WHERE id = ?1",
        params![id.to_string(), to_sql(received_bytes), completed_at_ms],
    )?;
    Ok(())
}

fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_sql(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
