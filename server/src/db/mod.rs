//! The server's SQLite database: the writer connection and the queries behind each endpoint.
//!
//! One connection, behind a mutex, serves every request. Requests reach it through
//! [`Database::call`], which runs the work on tokio's blocking thread pool so that SQLite's
//! disk syncs never stall the async worker threads.

pub(crate) mod attachments;
pub(crate) mod chain;
pub(crate) mod commands;
pub(crate) mod devices;
pub(crate) mod records;
pub(crate) mod rescued;
pub(crate) mod schema;
pub(crate) mod site_edits;
pub(crate) mod sites;
pub(crate) mod times;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::ServerError;

/// The writer connection to the server database.
pub(crate) struct Database {
    connection: Mutex<Connection>,
}

impl Database {
    /// Opens the database at `path`, creating it if needed, and upgrades its schema.
    /// This blocks on disk I/O.
    pub(crate) fn open(path: &Path) -> Result<Self, ServerError> {
        let mut connection = Connection::open(path)?;

        schema::apply_pragmas(&connection)?;
        schema::migrate(&mut connection)?;

        Ok(Self { connection: Mutex::new(connection) })
    }

    /// Runs `work` with the connection on the blocking thread pool and returns its result.
    pub(crate) async fn call<T, F>(self: &Arc<Self>, work: F) -> Result<T, ServerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ServerError> + Send + 'static,
    {
        let database = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || work(&mut database.lock()));

        task.await.map_err(|error| ServerError::Task(error.to_string()))?
    }

    /// Locks the connection. A panic in another thread while it held the lock leaves no
    /// half-written transaction behind (dropping a rusqlite transaction rolls it back), so
    /// the poisoned lock is reused.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Decodes a JSON column, reporting a failure as corrupt data.
///
/// The error names only the kind and position of the failure, because serde's message can
/// quote stored values such as incident text, and errors are logged.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    value_name: &str,
    json: &str,
) -> Result<T, ServerError> {
    serde_json::from_str(json).map_err(|error| {
        ServerError::Corrupt(format!(
            "undecodable stored {value_name}: {:?} error at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        ))
    })
}

/// Encodes a value for a JSON column.
pub(crate) fn encode<T: serde::Serialize>(
    value_name: &str,
    value: &T,
) -> Result<String, ServerError> {
    serde_json::to_string(value).map_err(|error| {
        ServerError::Encode(format!("failed to encode {value_name} as JSON: {error}"))
    })
}
