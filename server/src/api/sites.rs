//! Operator edits of sites with conditional requests: `GET` returns the site with its
//! revision as the `ETag`, and `PUT` must send that revision back in `If-Match`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use axum::response::{IntoResponse, Response};
use vigil_core::model::Site;

use super::AppState;
use super::error::ApiError;
use super::operator::Operator;
use crate::db::site_edits::{self, EditOutcome, Precondition};

/// `GET /v1/operator/sites/{id}`: the site, with `ETag: "<revision>"`.
pub(crate) async fn get(
    _operator: Operator,
    State(state): State<AppState>,
    Path(site_id): Path<String>,
) -> Result<Response, ApiError> {
    let site = state.db.call(move |connection| site_edits::get(connection, &site_id)).await?;
    match site {
        Some(site) => Ok(with_etag(site)),
        None => Err(ApiError::not_found()),
    }
}

/// `PUT /v1/operator/sites/{id}`: replaces the site if it still has the revision named in
/// `If-Match`, or creates it with `If-None-Match: *`. Devices receive the change through
/// their assignments cursor.
pub(crate) async fn put(
    _operator: Operator,
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Site>, JsonRejection>,
) -> Result<Response, ApiError> {
    let precondition = precondition(&headers)?;
    let Json(site) = body?;
    if site.id != site_id {
        return Err(ApiError::invalid_request(format!(
            "the body's site id {:?} differs from the path's {site_id:?}",
            site.id
        )));
    }
    site.validate().map_err(|error| ApiError::invalid_request(error.to_string()))?;

    let outcome =
        state.db.call(move |connection| site_edits::put(connection, &site, precondition)).await?;
    match outcome {
        EditOutcome::Stored(site) => {
            tracing::info!(
                site_id = site.id,
                revision = site.revision,
                "an operator edited a site"
            );
            Ok(with_etag(site))
        }
        EditOutcome::Conflict(Some(stored)) => Err(ApiError::revision_conflict(format!(
            "site {site_id:?} is at revision {}, not the one in the request; GET it again and \
             reapply the change",
            stored.revision
        ))),
        EditOutcome::Conflict(None) => Err(ApiError::revision_conflict(format!(
            "site {site_id:?} does not exist; create it with If-None-Match: *"
        ))),
    }
}

/// Reads `If-Match: "<revision>"` or `If-None-Match: *`.
fn precondition(headers: &HeaderMap) -> Result<Precondition, ApiError> {
    if let Some(value) = headers.get(IF_MATCH) {
        let text = value.to_str().unwrap_or_default().trim();
        let revision = text.trim_matches('"').parse::<i64>().map_err(|_| {
            ApiError::invalid_request(format!(
                "If-Match {text:?} is not a site revision; send the ETag of GET, such as \"12\""
            ))
        })?;
        return Ok(Precondition::Revision(revision));
    }
    if headers.get(IF_NONE_MATCH).is_some_and(|value| value.as_bytes() == b"*") {
        return Ok(Precondition::Absent);
    }
    Err(ApiError::precondition_required(
        "send If-Match with the site's ETag to change it, or If-None-Match: * to create it",
    ))
}

fn with_etag(site: Site) -> Response {
    let etag = format!("\"{}\"", site.revision);
    ([(ETAG, etag)], Json(site)).into_response()
}
