//! The operator's evidence endpoints: a device's chain state and its records exported for
//! offline verification with `vigil verify`.

use axum::Json;
use axum::extract::{Path, State};
use vigil_core::evidence::{ChainReport, EvidenceExport};

use super::AppState;
use super::error::ApiError;
use super::operator::Operator;
use crate::db::chain;

/// `GET /v1/operator/devices/{id}/chain`: the highest seq stored, the missing seq ranges
/// and the device's fault log.
pub(crate) async fn chain(
    _operator: Operator,
    State(state): State<AppState>,
    Path(device_id): Path<String>,
) -> Result<Json<ChainReport>, ApiError> {
    let report = state.db.call(move |connection| chain::report(connection, &device_id)).await?;
    report.map(Json).ok_or_else(ApiError::unknown_device)
}

/// `GET /v1/operator/devices/{id}/export`: the device's public key and every stored
/// record's seq, canonical bytes and signature, by seq.
pub(crate) async fn export(
    _operator: Operator,
    State(state): State<AppState>,
    Path(device_id): Path<String>,
) -> Result<Json<EvidenceExport>, ApiError> {
    let export = state.db.call(move |connection| chain::export(connection, &device_id)).await?;
    export.map(Json).ok_or_else(ApiError::unknown_device)
}
