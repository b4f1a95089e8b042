//! Sync with the SOC server: the HTTP client and the retry policy.

mod attachments;
mod backoff;
pub(crate) mod client;
mod compression;
pub mod request_auth;
mod tls;

pub use backoff::Backoff;
pub use client::SyncClient;
pub use request_auth::RequestSigner;
pub use tls::{TlsSettings, install_default_crypto_provider, spki_pins_from_pem};

use crate::error::Error;

/// Returns whether an error may go away by itself, so the request is worth retrying.
pub(crate) fn is_transient(error: &Error) -> bool {
    match error {
        Error::Offline(_) => true,
        Error::Server { status, .. } => *status == 0 || *status == 429 || *status >= 500,
        _ => false,
    }
}
