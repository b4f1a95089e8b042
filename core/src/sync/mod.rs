//! Sync with the SOC server: the HTTP client and the retry policy.

mod attachments;
mod backoff;
pub(crate) mod client;

pub use backoff::Backoff;
pub use client::SyncClient;

use crate::error::Error;

/// Returns whether an error may go away by itself, so the request is worth retrying.
pub(crate) fn is_transient(error: &Error) -> bool {
    match error {
        Error::Offline(_) => true,
        Error::Server { status, .. } => *status == 0 || *status == 429 || *status >= 500,
        _ => false,
    }
}
