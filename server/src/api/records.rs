//! `POST /v1/records` and `POST /v1/panic`.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::HeaderMap;
use vigil_core::protocol::DEVICE_CLOCK_HEADER;
use vigil_core::protocol::{
    PanicRequest, PanicResponse, PushRequest, PushResponse, RejectedRecord,
};
use vigil_core::time::DeviceClockSample;

use super::auth::Device;
use super::error::ApiError;
use super::{AppState, MAX_BATCH_RECORDS, now_ms};
use crate::db::records::{self, PanicOutcome};
use crate::db::times;

/// Reads the device's clocks from the [`DEVICE_CLOCK_HEADER`] header, if sent.
fn device_clock(headers: &HeaderMap) -> Result<Option<DeviceClockSample>, ApiError> {
    let Some(value) = headers.get(DEVICE_CLOCK_HEADER) else {
        return Ok(None);
    };
    let sample =
        value.to_str().ok().and_then(|text| serde_json::from_str(text).ok()).ok_or_else(|| {
            ApiError::invalid_request(format!(
                "the {DEVICE_CLOCK_HEADER} header is not the JSON of a device clock sample"
            ))
        })?;
    Ok(Some(sample))
}

/// Stores a batch of records in one transaction and replies after the commit.
pub(crate) async fn push(
    State(state): State<AppState>,
    device: Device,
    headers: HeaderMap,
    body: Result<Json<PushRequest>, JsonRejection>,
) -> Result<Json<PushResponse>, ApiError> {
    let Json(request) = body?;
    let clock = device_clock(&headers)?;

    if request.records.len() > MAX_BATCH_RECORDS {
        return Err(ApiError::payload_too_large(format!(
            "the request has {} records; the maximum is {MAX_BATCH_RECORDS} per request",
            request.records.len()
        )));
    }

    let now = now_ms();
    let device_id = device.device_id.clone();
    let sealing_key = state.sealing_key.clone();
    let outcome = state
        .db
        .call(move |connection| {
            let Some(sample) = clock else {
                return records::push(connection, &device_id, &sealing_key, &request.records, now);
            };
            // One transaction, so the corrected times cost no extra disk sync.
            let transaction = connection.transaction()?;
            let outcome =
                records::push_in(&transaction, &device_id, &sealing_key, &request.records, now)?;
            times::store_corrections(&transaction, &outcome.records, &sample, now)?;
            transaction.commit()?;
            Ok(outcome)
        })
        .await?;

    tracing::debug!(
        device_id = device.device_id,
        acked = outcome.acked.len(),
        new = outcome.new_count,
        rejected = outcome.rejected.len(),
        "stored a batch of records"
    );
    for id in &outcome.new_alerts {
        tracing::warn!(record_id = %id, "PANIC ALERT received through the outbox");
    }
    log_rejections(&outcome.rejected);

    Ok(Json(PushResponse {
        acked: outcome.acked,
        rejected: outcome.rejected,
        server_time_ms: now_ms(),
    }))
}

/// Logs one `info` line per batch with rejections, so a device that resends many bad
/// records does not flood the log, and each rejected record at `debug`.
fn log_rejections(rejected: &[RejectedRecord]) {
    let Some(first) = rejected.first() else {
        return;
    };

    tracing::info!(
        rejected = rejected.len(),
        first_record_id = %first.id,
        first_code = first.code,
        "rejected records of a batch"
    );
    for record in rejected {
        tracing::debug!(record_id = %record.id, code = record.code, "rejected a record");
    }
}

/// Stores a panic alert and its record at once and replies after the commit. A resend of
/// the same record returns the time of the first delivery.
pub(crate) async fn panic(
    State(state): State<AppState>,
    device: Device,
    body: Result<Json<PanicRequest>, JsonRejection>,
) -> Result<Json<PanicResponse>, ApiError> {
    let Json(PanicRequest { record }) = body?;

    let id = record.id;
    let now = now_ms();
    let sealing_key = state.sealing_key.clone();
    let outcome = state
        .db
        .call(move |connection| {
            records::store_panic(connection, &device.device_id, &sealing_key, &record, now)
        })
        .await?;

    match outcome {
        PanicOutcome::Delivered { delivered_at_ms, acknowledged_at_ms, first } => {
            if first {
                tracing::warn!(record_id = %id, "PANIC ALERT received");
            } else {
                tracing::info!(record_id = %id, "panic alert received again");
            }
            Ok(Json(PanicResponse {
                id,
                delivered_at_ms,
                acknowledged_at_ms,
                server_time_ms: now_ms(),
            }))
        }
        PanicOutcome::Rejected(rejection) => Err(ApiError::rejected_record(&rejection)),
    }
}
