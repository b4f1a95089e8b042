//! The error that crosses the FFI.
//!
//! No field is called `message`: Kotlin exceptions already have one, and UniFFI 0.32
//! generates an ambiguous second one for it.

/// Why a Vigil call failed. Each variant names something the app can act on; none carries
/// incident text, coordinates or key material.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum VigilError {
    /// A value passed by the app is invalid; nothing was stored. Fix the field and retry.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The rejected field, such as `latitude` or `incident.text`.
        field: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The call needs another state, such as ending a shift that was never started.
    #[error("{detail}")]
    InvalidState {
        /// What state was expected.
        detail: String,
    },
    /// A referenced object, such as a site or a record, is not stored on the device.
    #[error("{what} not found: {id}")]
    NotFound {
        /// The kind of object.
        what: String,
        /// The id that was looked up.
        id: String,
    },
    /// The disk is full; the record was not stored. Ask the guard to free space.
    #[error("storage is full; the record was not stored")]
    StorageFull,
    /// The local database failed or is corrupt.
    #[error("storage failed: {detail}")]
    Storage {
        /// What failed.
        detail: String,
    },
    /// The SOC server could not be reached; everything stays queued. Retry later.
    #[error("server unreachable: {detail}")]
    Offline {
        /// The network error.
        detail: String,
    },
    /// The SOC server's TLS certificate was rejected: not signed by a trusted CA, expired,
    /// for another host, or matching none of `VigilConfig.spki_pins`. Waiting does not fix
    /// it, so it is not retried: show it, because it is a configuration error or an
    /// interception attempt. Everything stays queued.
    #[error("server certificate rejected: {detail}")]
    UntrustedServer {
        /// The reason the certificate was rejected.
        detail: String,
    },
    /// The SOC server replied with an error or an unreadable reply; everything stays
    /// queued.
    #[error("server error (HTTP {status}): {detail}")]
    Server {
        /// The HTTP status, or 0 for an unreadable reply.
        status: u16,
        /// The server's error code and message.
        detail: String,
    },
    /// The key-encryption key given to open the store is wrong or missing, or the platform
    /// keystore refused to use it. Nothing on disk was changed; open again with the right
    /// key.
    #[error("the store is locked: {detail}")]
    Locked {
        /// The store or key that could not be unlocked, and why.
        detail: String,
    },
    /// The device's local data was wiped, locally or by the SOC's remote wipe command.
    /// Close this device object; opening the store again starts a fresh, empty device.
    #[error("the device's local data was wiped")]
    Wiped,
    /// A bug in Vigil; please report it with the message.
    #[error("internal error: {detail}")]
    Internal {
        /// What failed.
        detail: String,
    },
}

impl From<vigil_core::Error> for VigilError {
    fn from(error: vigil_core::Error) -> Self {
        use vigil_core::Error;

        match error {
            Error::InvalidInput { field, reason } => VigilError::InvalidInput { field, reason },
            Error::InvalidState(message) => VigilError::InvalidState { detail: message },
            Error::NotFound { what, id } => VigilError::NotFound { what: what.to_string(), id },
            Error::StorageFull => VigilError::StorageFull,
            error @ (Error::Storage(_) | Error::Corrupt(_)) => {
                tracing::error!(%error, "storage failure");
                VigilError::Storage { detail: error.to_string() }
            }
            Error::Locked(detail) => VigilError::Locked { detail },
            Error::Wiped => VigilError::Wiped,
            Error::Offline(message) => VigilError::Offline { detail: message },
            Error::UntrustedServer(reason) => {
                tracing::warn!(%reason, "the SOC server's certificate was rejected");
                VigilError::UntrustedServer { detail: reason }
            }
            Error::Server { status, message, .. } => VigilError::Server { status, detail: message },
        }
    }
}

impl From<tokio::task::JoinError> for VigilError {
    fn from(error: tokio::task::JoinError) -> Self {
        tracing::error!(%error, "a Vigil task failed");
        VigilError::Internal { detail: error.to_string() }
    }
}
