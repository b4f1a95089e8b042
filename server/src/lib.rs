//! `vigil-server`: the reference SOC sync server for Vigil devices.
//!
//! It enrolls devices, stores the records they push (idempotently, by record id), takes
//! panic alerts on a separate fast path and hands out site assignments. Everything is kept
//! in one SQLite database. `docs/protocol.md` describes the HTTP API.
//!
//! [`start`] runs the server on the caller's tokio runtime and returns a [`RunningServer`]
//! handle, which tests and the demo use in-process. [`serve`] runs it until Ctrl-C.
//! [`ServerStore`] reads the database for inspection.

mod api;
mod attachment_store;
mod commands;
mod db;
mod dev_cert;
mod error;
mod operator;
mod replay;
mod run;
mod sealing_key;
mod sms;
mod store;
mod supervision;
mod tls;
mod token;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use vigil_core::checkin::TagKey;
use vigil_core::crypto::SocSealingKey;
use vigil_core::model::Site;

pub use api::{MAX_BATCH_RECORDS, MAX_BODY_BYTES};
pub use attachment_store::ServerAttachment;
pub use commands::queue_command;
pub use db::commands::QueuedCommand;
pub use dev_cert::{DevCertificate, generate_dev_certificate};
pub use error::ServerError;
pub use operator::acknowledge_alert;
pub use run::{RunningServer, SHUTDOWN_GRACE, serve, serve_with_tls, start, start_with_tls};
pub use sealing_key::{load_or_create_sealing_key, sealing_key_path};
pub use sms::VerifiedSms;
pub use store::{DuplicateSeq, RecordTime, ServerStore, StoredAlert};
pub use supervision::{DEFAULT_SILENT_AFTER_MS, DeviceHeartbeat};
pub use tls::ServerTls;

/// The settings of a server.
#[derive(Clone)]
pub struct ServerConfig {
    /// The SQLite database file, created if missing.
    pub database: PathBuf,
    /// The code a device must send to enroll. It must not be empty.
    pub enrollment_code: String,
    /// The sites every enrolled device is assigned. At start, each one is inserted, or
    /// replaced when its content changed. Stored sites missing from this list are kept.
    pub sites: Vec<Site>,
    /// The public keys of the SOC's checkpoint tag signers, sent to devices with every
    /// assignments pull so they can verify signed tags offline.
    pub tag_keys: Vec<TagKey>,
    /// The bearer token of the operator endpoints (`/v1/operator/...`); `None` turns them
    /// off. Anyone holding it can read and acknowledge every alert.
    pub operator_token: Option<String>,
    /// The SOC's X25519 sealing key: devices seal every record to its public key, which
    /// they receive at enrollment. Replacing it makes boxes sealed to the old key
    /// undeliverable.
    pub sealing_key: Arc<SocSealingKey>,
}

impl ServerConfig {
    /// Returns a configuration for `database` with no sites, tag keys or operator token,
    /// and the sealing key kept next to the database ([`sealing_key_path`]), created on
    /// first use.
    ///
    /// # Errors
    ///
    /// As [`load_or_create_sealing_key`].
    pub fn new(
        database: impl Into<PathBuf>,
        enrollment_code: impl Into<String>,
    ) -> Result<Self, ServerError> {
        let database = database.into();
        let sealing_key = load_or_create_sealing_key(&sealing_key_path(&database))?;
        Ok(Self {
            database,
            enrollment_code: enrollment_code.into(),
            sites: Vec::new(),
            tag_keys: Vec::new(),
            operator_token: None,
            sealing_key: Arc::new(sealing_key),
        })
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ServerConfig")
            .field("database", &self.database)
            .field("enrollment_code", &"<redacted>")
            .field("sites", &self.sites.len())
            .field("tag_keys", &self.tag_keys.len())
            .field("operator_token", &self.operator_token.as_ref().map(|_| "<redacted>"))
            .field("sealing_key", &self.sealing_key)
            .finish()
    }
}
