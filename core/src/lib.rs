//! `vigil-core`: the shared core of Vigil's guard apps.
//!
//! It captures a guard's shift offline into a local SQLite store, checks locations and
//! checkpoint scans, and syncs every record to the Security Operations Center (SOC) when the
//! network allows. It knows nothing about UniFFI: `vigil-ffi` wraps it for Kotlin and Swift.
//!
//! Start with [`Vigil`]: open it on a file path with a [`Config`], capture records with its
//! methods, and call [`Vigil::sync_now`] when the network is back.

pub mod alert;
pub mod checkin;
pub mod clock;
pub mod crypto;
pub mod error;
pub mod evidence;
pub mod location;
pub mod model;
pub mod protocol;
pub mod store;
pub mod sync;
pub mod time;
pub mod tour;
mod vigil;
pub mod wording;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use vigil::REMOTE_WIPE_FLUSH_BUDGET;
pub use vigil::{
    AdoptionReport, CheckIn, Config, DEFAULT_RETENTION_MS, FixOutcome, MAX_CATEGORY_BYTES,
    MAX_INCIDENT_TEXT_BYTES, MAX_SCAN_PAYLOAD_BYTES, PanicOutcome, ProtectionState, ShiftReport,
    SyncSummary, Vigil,
};
pub use vigil::{AttachmentFile, MAX_ATTACHMENTS_PER_RECORD};
pub use vigil::{
    HeartbeatPolicy, MOTION_THRESHOLD_MPS2, ManDownListener, ManDownPolicy, ManDownStage,
};
