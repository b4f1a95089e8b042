//! The errors of starting, running and inspecting the server.

use std::net::SocketAddr;

/// A failed server operation. HTTP clients never see it directly: a request that hits one
/// gets a `500 internal` reply, and the error is logged.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration cannot be used, so nothing was started.
    #[error("invalid server configuration: {0}")]
    InvalidConfig(String),

    /// The listening socket could not be bound, for example because the port is in use.
    #[error("failed to bind {addr}: {source}")]
    Bind {
        /// The address that was requested.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The HTTP server stopped with an I/O error.
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),

    /// Waiting for Ctrl-C failed, so the server was stopped at once.
    #[error("failed to listen for Ctrl-C: {0}")]
    Signal(#[source] std::io::Error),

    /// SQLite failed.
    #[error("database failed: {0}")]
    Database(#[from] rusqlite::Error),

    /// The database file was written by a newer server version.
    #[error(
        "the database has schema version {found}, newer than this server's {supported}; \
         run a newer vigil-server"
    )]
    SchemaTooNew {
        /// The `user_version` found in the file.
        found: i64,
        /// The newest schema version this build supports.
        supported: i64,
    },

    /// A stored value could not be decoded, because the database was changed outside the
    /// server or is corrupt.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),

    /// A value could not be encoded as JSON for storage.
    #[error("{0}")]
    Encode(String),

    /// No stored alert has this record id.
    #[error("alert {0} not found; list the stored alerts to find its id")]
    AlertNotFound(uuid::Uuid),

    /// An SMS fallback message that is malformed, names no enrolled device with a key, or
    /// has a signature that does not match.
    #[error("SMS alert rejected: {0}")]
    SmsRejected(#[source] vigil_core::alert::sms::SmsError),

    /// No device enrolled with this id.
    #[error("device {0:?} not found; it must enroll before it can receive commands")]
    DeviceNotFound(String),
    /// Reading or writing an attachment file failed.
    #[error("attachment file I/O failed: {0}")]
    Attachment(#[source] std::io::Error),

    /// A database task on the blocking thread pool panicked or was cancelled.
    #[error("a database task failed: {0}")]
    Task(String),
}
