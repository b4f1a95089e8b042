//! `GET /v1/assignments?cursor=N`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use vigil_core::protocol::AssignmentsResponse;

use super::auth::Device;
use super::error::ApiError;
use super::{AppState, now_ms};
use crate::db::sites;

/// The query string of an assignments pull.
#[derive(Debug, Deserialize)]
pub(crate) struct AssignmentsQuery {
    /// The cursor of the previous reply, or 0 (the default) on the first pull.
    #[serde(default)]
    cursor: i64,
}

/// Returns the sites changed after the request's cursor. The reference server assigns
/// every site to every enrolled device.
pub(crate) async fn assignments(
    State(state): State<AppState>,
    device: Device,
    query: Result<Query<AssignmentsQuery>, QueryRejection>,
) -> Result<Json<AssignmentsResponse>, ApiError> {
    let Query(AssignmentsQuery { cursor }) = query?;
    if cursor < 0 {
        return Err(ApiError::invalid_request(format!(
            "cursor {cursor} is negative; send 0 or the cursor of the last reply"
        )));
    }

    let (next_cursor, sites) =
        state.db.call(move |connection| sites::changed_after(connection, cursor)).await?;

    tracing::debug!(
        device_id = device.device_id,
        cursor,
        next_cursor,
        sites = sites.len(),
        "sent assignments"
    );
    Ok(Json(AssignmentsResponse {
        cursor: next_cursor,
        sites,
        tag_keys: state.tag_keys.to_vec(),
        server_time_ms: now_ms(),
    }))
}
