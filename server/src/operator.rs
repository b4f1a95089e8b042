//! What an SOC operator does to stored alerts from the server machine.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use crate::db::schema;
use crate::error::ServerError;

/// Records that an operator took the alert `record_id`, in the server database at
/// `database`, and returns the acknowledgement time in milliseconds since the Unix epoch.
/// Acknowledging an alert again keeps and returns the first time.
///
/// The device learns of it from the reply to its next resend of the alert. This may run
/// while a server writes to the same file.
///
/// A server started with an operator token also offers this as
/// `POST /v1/operator/alerts/{id}/ack`.
///
/// # Errors
///
/// [`ServerError::AlertNotFound`] if no alert has this id; [`ServerError::Database`] if the
/// file cannot be opened or written; [`ServerError::Corrupt`] if no server of this version
/// has created its schema.
pub fn acknowledge_alert(
    database: impl AsRef<Path>,
    record_id: Uuid,
    now_ms: i64,
) -> Result<i64, ServerError> {
    let mut connection = open_writer(database.as_ref())?;
    acknowledge_in(&mut connection, record_id, now_ms)
}

/// Works as [`acknowledge_alert`] on an open connection to the server database.
pub(crate) fn acknowledge_in(
    connection: &mut Connection,
    record_id: Uuid,
    now_ms: i64,
) -> Result<i64, ServerError> {
    let transaction = connection.transaction()?;
    let id = record_id.to_string();

    let existing: Option<Option<i64>> = transaction
        .query_row("SELECT acknowledged_at_ms FROM alerts WHERE record_id = ?1", [&id], |row| {
            row.get(0)
        })
        .optional()?;
    let acknowledged_at_ms = match existing {
        None => return Err(ServerError::AlertNotFound(record_id)),
        Some(Some(first)) => first,
        Some(None) => {
            transaction.execute(
                "UPDATE alerts SET acknowledged_at_ms = ?2 WHERE record_id = ?1",
                params![id, now_ms],
            )?;
            now_ms
        }
    };

    transaction.commit()?;
    tracing::info!(%record_id, "alert acknowledged by an operator");
    Ok(acknowledged_at_ms)
}

pub(crate) fn open_writer(path: &Path) -> Result<Connection, ServerError> {
    let connection = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    schema::apply_pragmas(&connection)?;

    let version = schema::version(&connection)?;
    if version != schema::latest_version() {
        return Err(ServerError::Corrupt(format!(
            "{} has schema version {version}, expected {}; start the server on it first",
            path.display(),
            schema::latest_version()
        )));
    }
    Ok(connection)
}
