//! `POST /v1/heartbeat`.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use rusqlite::params;
use vigil_core::protocol::{HeartbeatRequest, HeartbeatResponse};

use super::auth::Device;
use super::error::ApiError;
use super::{AppState, now_ms};
use crate::db::encode;

/// Stores the device's newest heartbeat, replacing the previous one.
pub(crate) async fn heartbeat(
    State(state): State<AppState>,
    device: Device,
    body: Result<Json<HeartbeatRequest>, JsonRejection>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    let Json(request) = body?;
    if request.battery_percent.is_some_and(|percent| percent > 100) {
        return Err(ApiError::invalid_request("battery_percent must be 0 to 100"));
    }

    let now = now_ms();
    let content = encode("heartbeat", &request)?;
    state
        .db
        .call(move |connection| {
            connection.execute(
                "INSERT INTO heartbeats (device_id, received_at_ms, content) VALUES (?1, ?2, ?3)
                 ON CONFLICT (device_id) DO UPDATE SET
                     received_at_ms = excluded.received_at_ms,
                     content = excluded.content",
                params![device.device_id, now, content],
            )?;
            Ok(())
        })
        .await?;

    tracing::debug!("heartbeat received");
    Ok(Json(HeartbeatResponse { server_time_ms: now }))
}
