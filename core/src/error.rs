//! The errors of `vigil-core`.

/// A failed Vigil operation.
///
/// The variants name what the caller can act on. None of them carries incident text,
/// coordinates or key material, so an error can be logged or shown as it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value given by the caller is invalid; nothing was stored.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The name of the rejected field, such as `latitude` or `incident.text`.
        field: String,
        /// Why the value was rejected, with the limit it broke.
        reason: String,
    },

    /// The operation needs a state the device is not in, such as ending a shift that was
    /// never started.
    #[error("{0}")]
    InvalidState(String),

    /// A referenced object does not exist in the local store.
    #[error("{what} not found: {id}")]
    NotFound {
        /// The kind of object, such as `site` or `record`.
        what: &'static str,
        /// The id that was looked up.
        id: String,
    },

    /// The disk is full; the record was not stored. Free space and try again.
    #[error("storage is full; the record was not stored")]
    StorageFull,

    /// The local database failed for another reason.
    #[error("storage failed: {0}")]
    Storage(#[source] rusqlite::Error),

    /// The server could not be reached; records stay queued.
    #[error("server unreachable: {0}")]
    Offline(String),

    /// The server's TLS certificate was rejected: it is not signed by a trusted CA, is
    /// expired or for another host, or matches none of the configured SPKI pins. This is a
    /// configuration error or an interception attempt, so it is not retried; the app must
    /// show it. Records stay queued.
    #[error("server certificate rejected: {0}")]
    UntrustedServer(String),

    /// The server answered with an error or with a reply that could not be understood;
    /// records stay queued.
    #[error("server error (HTTP {status}): {message}")]
    Server {
        /// The HTTP status code, or 0 when the reply itself was malformed.
        status: u16,
        /// The server's error code and message, or why the reply was unreadable.
        message: String,
        /// How long the server asked the device to wait before retrying (its
        /// `Retry-After` header, given in seconds), in milliseconds.
        retry_after_ms: Option<u64>,
    },

    /// The device's local data was wiped, by [`crate::Vigil::wipe`] or by a remote wipe
    /// command from the SOC. Nothing can be captured or sent with this `Vigil`. Opening
    /// the path again starts a fresh installation, which enrolls under a new device id.
    #[error(
        "the device's local data was wiped; open the store again as a new installation under a new device id"
    )]
    Wiped,

    /// A stored value could not be decoded; the database was changed outside Vigil or is
    /// corrupt.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),

    /// The key-encryption key is wrong or missing, so the store's data key cannot be
    /// unwrapped. Nothing on disk was changed; open again with the right key.
    #[error("the store is locked: {0}")]
    Locked(String),
}

/// The result type of `vigil-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput { field: field.into(), reason: reason.into() }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;

        match error.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Error::StorageFull,
            Some(ErrorCode::DatabaseCorrupt) | Some(ErrorCode::NotADatabase) => {
                Error::Corrupt(error.to_string())
            }
            _ => Error::Storage(error),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Error::Corrupt(format!("undecodable stored record: {error}"))
    }
}
