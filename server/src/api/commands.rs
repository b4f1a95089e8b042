//! Commands: the device pulls them by cursor and acknowledges them, and an operator queues
//! and lists them.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use vigil_core::protocol::{
    CommandKind, CommandsAckRequest, CommandsAckResponse, CommandsResponse,
};

use super::auth::Device;
use super::error::ApiError;
use super::operator::Operator;
use super::{AppState, now_ms};
use crate::db::commands::{self, QueuedCommand};
use crate::error::ServerError;

/// The query string of a commands pull.
#[derive(Debug, Deserialize)]
pub(crate) struct CommandsQuery {
    /// The highest `seq` the device applied, or 0 (the default).
    #[serde(default)]
    cursor: i64,
}

/// `GET /v1/commands?cursor=N`: the device's commands after its cursor.
pub(crate) async fn pull(
    State(state): State<AppState>,
    device: Device,
    query: Result<Query<CommandsQuery>, QueryRejection>,
) -> Result<Json<CommandsResponse>, ApiError> {
    let Query(CommandsQuery { cursor }) = query?;
    if cursor < 0 {
        return Err(ApiError::invalid_request(format!(
            "cursor {cursor} is negative; send 0 or the highest seq applied"
        )));
    }

    let device_id = device.device_id;
    let commands =
        state.db.call(move |connection| commands::after(connection, &device_id, cursor)).await?;
    Ok(Json(CommandsResponse { commands, server_time_ms: now_ms() }))
}

/// `POST /v1/commands/ack`: the device applied every command up to `through_seq`.
pub(crate) async fn acknowledge(
    State(state): State<AppState>,
    device: Device,
    body: Result<Json<CommandsAckRequest>, JsonRejection>,
) -> Result<Json<CommandsAckResponse>, ApiError> {
    let Json(CommandsAckRequest { through_seq }) = body?;
    let now = now_ms();
    let device_id = device.device_id.clone();
    let acknowledged = state
        .db
        .call(move |connection| commands::acknowledge(connection, &device_id, through_seq, now))
        .await?;

    tracing::info!(
        device_id = device.device_id,
        through_seq,
        acknowledged,
        "commands acknowledged"
    );
    Ok(Json(CommandsAckResponse { acknowledged, server_time_ms: now_ms() }))
}

/// The body of `POST /v1/operator/devices/{id}/commands`.
#[derive(Debug, Deserialize)]
pub(crate) struct QueueRequest {
    /// The command, such as `wipe`.
    kind: String,
}

/// The reply listing a device's commands.
#[derive(Debug, Serialize)]
pub(crate) struct CommandsList {
    commands: Vec<QueuedCommand>,
}

/// `POST /v1/operator/devices/{id}/commands`: queues a command for the device.
pub(crate) async fn queue(
    _operator: Operator,
    State(state): State<AppState>,
    Path(device_id): Path<String>,
    body: Result<Json<QueueRequest>, JsonRejection>,
) -> Result<Json<QueuedCommand>, ApiError> {
    let Json(QueueRequest { kind }) = body?;
    let kind = parse_kind(&kind)?;
    let now = now_ms();

    let queued =
        state.db.call(move |connection| commands::queue(connection, &device_id, kind, now)).await;
    match queued {
        Ok(command) => Ok(Json(command)),
        Err(ServerError::DeviceNotFound(_)) => Err(ApiError::not_found()),
        Err(error) => Err(error.into()),
    }
}

/// `GET /v1/operator/devices/{id}/commands`: every command queued for the device.
pub(crate) async fn list(
    _operator: Operator,
    State(state): State<AppState>,
    Path(device_id): Path<String>,
) -> Result<Json<CommandsList>, ApiError> {
    let commands = state.db.call(move |connection| commands::list(connection, &device_id)).await?;
    Ok(Json(CommandsList { commands }))
}

/// Parses a command name an operator sent; unknown names are rejected, never queued.
pub(crate) fn parse_kind(kind: &str) -> Result<CommandKind, ApiError> {
    match serde_json::from_value(serde_json::Value::String(kind.to_owned())) {
        Ok(CommandKind::Unknown) | Err(_) => Err(ApiError::invalid_request(format!(
            "unknown command {kind:?}; the supported command is \"wipe\""
        ))),
        Ok(kind) => Ok(kind),
    }
}
