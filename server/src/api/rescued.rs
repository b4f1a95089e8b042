//! `POST /v1/records/rescued`: records of another device, delivered by a device that
//! adopted them after that device's local key was lost.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use vigil_core::protocol::{PushRequest, PushResponse};

use super::auth::Device;
use super::error::ApiError;
use super::{AppState, MAX_BATCH_RECORDS, now_ms};
use crate::db::rescued;

/// Stores a batch of rescued records in one transaction and replies after the commit.
/// Each record is stored for the device named in its sealed bytes, not for the device
/// that sends it.
///
/// NOTE: no device clock header is read, because the clock of the device that captured
/// the records is not the sender's, so their capture times are not corrected.
pub(crate) async fn push(
    State(state): State<AppState>,
    device: Device,
    body: Result<Json<PushRequest>, JsonRejection>,
) -> Result<Json<PushResponse>, ApiError> {
    let Json(request) = body?;

    if request.records.len() > MAX_BATCH_RECORDS {
        return Err(ApiError::payload_too_large(format!(
            "the request has {} records; the maximum is {MAX_BATCH_RECORDS} per request",
            request.records.len()
        )));
    }

    let now = now_ms();
    let sealing_key = state.sealing_key.clone();
    let outcome = state
        .db
        .call(move |connection| rescued::push(connection, &sealing_key, &request.records, now))
        .await?;

    tracing::info!(
        sender = device.device_id,
        acked = outcome.acked.len(),
        new = outcome.new_count,
        rejected = outcome.rejected.len(),
        "stored a batch of rescued records"
    );
    for id in &outcome.new_alerts {
        tracing::warn!(record_id = %id, "PANIC ALERT received through a rescued batch");
    }
    for record in &outcome.rejected {
        tracing::debug!(record_id = %record.id, code = record.code, "rejected a rescued record");
    }

    Ok(Json(PushResponse {
        acked: outcome.acked,
        rejected: outcome.rejected,
        server_time_ms: now_ms(),
    }))
}
