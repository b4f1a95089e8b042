//! The operator endpoints: list alerts and acknowledge one, with the operator's token.

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vigil_core::protocol::HeartbeatRequest;

use super::error::ApiError;
use super::{AppState, auth, now_ms};
use crate::error::ServerError;
use crate::store::{StoredAlert, list_alerts};
use crate::supervision::{DEFAULT_SILENT_AFTER_MS, heartbeats_in};
use crate::token::constant_time_eq;

/// Proof that a request carries the operator token.
pub(crate) struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Without a configured token the endpoints do not exist, as far as clients can tell.
        let Some(expected) = &state.operator_token else {
            return Err(ApiError::not_found());
        };
        let token = auth::bearer_token(parts)?;
        if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
            Ok(Operator)
        } else {
            Err(ApiError::unauthorized("the operator token is invalid"))
        }
    }
}

/// One alert as the operator endpoints return it.
#[derive(Debug, Serialize)]
pub(crate) struct AlertView {
    record_id: Uuid,
    device_id: String,
    captured_at_ms: i64,
    delivered_at_ms: i64,
    acknowledged_at_ms: Option<i64>,
    cancelled_at_ms: Option<i64>,
}

impl From<StoredAlert> for AlertView {
    fn from(alert: StoredAlert) -> Self {
        Self {
            record_id: alert.record_id,
            device_id: alert.device_id,
            captured_at_ms: alert.captured_at_ms,
            delivered_at_ms: alert.delivered_at_ms,
            acknowledged_at_ms: alert.acknowledged_at_ms,
            cancelled_at_ms: alert.cancelled_at_ms,
        }
    }
}

/// The reply of `GET /v1/operator/alerts`.
#[derive(Debug, Serialize)]
pub(crate) struct AlertsReply {
    alerts: Vec<AlertView>,
}

/// `GET /v1/operator/alerts`: every stored alert, oldest delivery first.
pub(crate) async fn alerts(
    _operator: Operator,
    State(state): State<AppState>,
) -> Result<Json<AlertsReply>, ApiError> {
    let alerts = state.db.call(|connection| list_alerts(connection)).await?;
    Ok(Json(AlertsReply { alerts: alerts.into_iter().map(AlertView::from).collect() }))
}

/// The reply of `POST /v1/operator/alerts/{id}/ack`.
#[derive(Debug, Serialize)]
pub(crate) struct AcknowledgeReply {
    record_id: Uuid,
    acknowledged_at_ms: i64,
}

/// `POST /v1/operator/alerts/{id}/ack`: records that an operator took the alert. The device
/// learns of it from the reply to its next resend.
pub(crate) async fn acknowledge(
    _operator: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AcknowledgeReply>, ApiError> {
    let record_id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::invalid_request(format!("{id:?} is not an alert id (a UUID)")))?;
    let now = now_ms();
    let acknowledged = state
        .db
        .call(move |connection| crate::operator::acknowledge_in(connection, record_id, now))
        .await;

    match acknowledged {
        Ok(acknowledged_at_ms) => Ok(Json(AcknowledgeReply { record_id, acknowledged_at_ms })),
        Err(ServerError::AlertNotFound(_)) => Err(ApiError::not_found()),
        Err(error) => Err(error.into()),
    }
}

/// The query of `GET /v1/operator/devices`.
#[derive(Debug, Deserialize)]
pub(crate) struct DevicesQuery {
    /// Seconds without a heartbeat after which a device counts as silent.
    silent_after_s: Option<u32>,
}

/// One device and its newest heartbeat, as the operator endpoints return it.
#[derive(Debug, Serialize)]
pub(crate) struct DeviceView {
    device_id: String,
    guard_id: String,
    received_at_ms: i64,
    silent: bool,
    heartbeat: HeartbeatRequest,
}

/// The reply of `GET /v1/operator/devices`.
#[derive(Debug, Serialize)]
pub(crate) struct DevicesReply {
    devices: Vec<DeviceView>,
}

/// `GET /v1/operator/devices?silent_after_s=N`: every device that has sent a heartbeat,
/// oldest heartbeat first, marked silent past the limit (180 s by default).
pub(crate) async fn devices(
    _operator: Operator,
    State(state): State<AppState>,
    Query(query): Query<DevicesQuery>,
) -> Result<Json<DevicesReply>, ApiError> {
    let silent_after_ms =
        query.silent_after_s.map_or(DEFAULT_SILENT_AFTER_MS, |seconds| i64::from(seconds) * 1000);
    let now = now_ms();
    let devices =
        state.db.call(move |connection| heartbeats_in(connection, now, silent_after_ms)).await?;

    let devices = devices
        .into_iter()
        .map(|device| DeviceView {
            device_id: device.device_id,
            guard_id: device.guard_id,
            received_at_ms: device.received_at_ms,
            silent: device.silent,
            heartbeat: device.heartbeat,
        })
        .collect();
    Ok(Json(DevicesReply { devices }))
}
