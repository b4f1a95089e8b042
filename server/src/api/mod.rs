//! The HTTP API: routes, handlers, authentication and error replies.
//!
//! Every endpoint lives under `/v1`. `docs/protocol.md` describes them for client authors.

mod assignments;
pub(crate) mod attachments;
mod auth;
mod commands;
mod compression;
mod enroll;
mod error;
mod evidence;
mod heartbeat;
mod operator;
mod records;
mod request_auth;
mod rescued;
mod sites;

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use serde::Serialize;
use vigil_core::Clock;
use vigil_core::checkin::TagKey;
use vigil_core::protocol::PROTOCOL_VERSION;
use vigil_core::sync::request_auth::SERVER_TIME_HEADER;

use crate::db::Database;
use error::{ApiError, ErrorLog};

/// Maximum number of records in one `POST /v1/records` request. A larger batch is
/// rejected whole with `413 payload_too_large`.
pub const MAX_BATCH_RECORDS: usize = 1_000;

/// The largest request body accepted, in bytes. A larger body is rejected with
/// `413 payload_too_large` before it is parsed.
///
/// NOTE: this leaves about 4 KiB per record in a full batch. The protocol sets no limit on
/// incident text, so a device with long reports must send smaller batches.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The state shared by every handler.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The writer connection.
    pub(crate) db: Arc<Database>,
    /// The code a device must send to enroll.
    pub(crate) enrollment_code: Arc<str>,
    /// The public keys of the checkpoint tag signers.
    pub(crate) tag_keys: Arc<[TagKey]>,
    /// The operator endpoints' bearer token; `None` turns them off.
    pub(crate) operator_token: Option<Arc<str>>,
    /// The SOC's key that opens the records devices seal to it.
    pub(crate) sealing_key: Arc<vigil_core::crypto::SocSealingKey>,
    /// The nonces of recent signed requests.
    pub(crate) nonces: Arc<crate::replay::NonceCache>,
    /// The folder of the attachments' encrypted streams.
    pub(crate) attachments_dir: Arc<std::path::Path>,
    /// Held while a piece of an attachment is written.
    pub(crate) attachment_writes: Arc<tokio::sync::Mutex<()>>,
}

/// Builds the router with every endpoint, the body limit and the request log.
pub(crate) fn router(state: AppState) -> Router {
    // Every endpoint that takes a device token checks the request signature first.
    let signed = middleware::from_fn_with_state(state.clone(), request_auth::authenticate_device);

    Router::new()
        .route("/v1/enroll", post(enroll::enroll))
        .route("/v1/records", post(records::push).route_layer(signed.clone()))
        .route("/v1/records/rescued", post(rescued::push).route_layer(signed.clone()))
        .route("/v1/panic", post(records::panic).route_layer(signed.clone()))
        .route("/v1/assignments", get(assignments::assignments).route_layer(signed.clone()))
        .route("/v1/heartbeat", post(heartbeat::heartbeat).route_layer(signed.clone()))
        .route("/v1/attachments/{id}", put(attachments::offer).route_layer(signed.clone()))
        .route(
            "/v1/attachments/{id}/content",
            post(attachments::content).route_layer(signed.clone()),
        )
        .route("/v1/health", get(health))
        .route("/v1/operator/alerts", get(operator::alerts))
        .route("/v1/operator/alerts/{id}/ack", post(operator::acknowledge))
        .route("/v1/operator/devices", get(operator::devices))
        .route("/v1/operator/devices/{id}/chain", get(evidence::chain))
        .route("/v1/operator/devices/{id}/export", get(evidence::export))
        .route("/v1/commands", get(commands::pull).route_layer(signed.clone()))
        .route("/v1/commands/ack", post(commands::acknowledge).route_layer(signed))
        .route("/v1/operator/sites/{id}", get(sites::get).put(sites::put))
        .route("/v1/operator/devices/{id}/commands", post(commands::queue).get(commands::list))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(compression::decompress_request))
        .layer(middleware::from_fn(log_request))
        .layer(middleware::map_response(add_server_time))
        .with_state(state)
}

/// Returns the server's wall-clock time in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    vigil_core::SystemClock.now_ms()
}

/// The reply to `GET /v1/health`.
#[derive(Debug, Serialize)]
struct HealthResponse {
    /// Always `ok`, because a server that cannot reach its database replies `500 internal`.
    status: &'static str,
    /// The newest protocol version the server speaks.
    protocol_version: u32,
    /// The server's clock, in milliseconds since the Unix epoch.
    server_time_ms: i64,
}

/// Checks that the database can run a query. Needs no token, so load balancers can call it.
async fn health(State(state): State<AppState>) -> Result<Json<HealthResponse>, ApiError> {
    state
        .db
        .call(|connection| Ok(connection.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?))
        .await?;

    Ok(Json(HealthResponse {
        status: "ok",
        protocol_version: PROTOCOL_VERSION,
        server_time_ms: now_ms(),
    }))
}

/// Adds the server's clock to every reply, so that a device can sign its next request with
/// a timestamp inside the window even when its own clock is wrong.
async fn add_server_time(mut response: Response) -> Response {
    let value = axum::http::HeaderValue::from(now_ms());
    response.headers_mut().insert(SERVER_TIME_HEADER, value);
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Logs every request: errors at `error` (5xx) or `info` (4xx) with their code and a
/// description that is safe to log, and successes at `debug`. The query string is left out.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();

    let response = next.run(request).await;

    let status = response.status().as_u16();
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match response.extensions().get::<ErrorLog>() {
        Some(error) if response.status().is_server_error() => tracing::error!(
            %method, path, status, code = error.code, error = error.detail, elapsed_ms,
            "request failed"
        ),
        Some(error) => tracing::info!(
            %method, path, status, code = error.code, reason = error.detail, elapsed_ms,
            "request rejected"
        ),
        None => tracing::debug!(%method, path, status, elapsed_ms, "request handled"),
    }
    response
}
