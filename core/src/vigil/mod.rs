//! [`Vigil`]: the device-side API that the apps use.

mod alert_cancel;
mod alert_lane;
mod at_rest;
mod attachment_upload;
mod attachments;
mod capture;
mod commands;
mod config;
mod device_key;
mod evidence;
mod heartbeat;
mod heartbeat_task;
mod lifecycle;
mod lone_worker;
mod man_down;
mod network;
mod report;
mod rescue;
mod saved_time;
mod sms_fallback;
mod storage;
mod sync;
mod time;
mod tours;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::location::{FenceTracker, FixChecker, StorageFilter};
use crate::store::{QuarantinedDatabase, Store};
use crate::sync::{RequestSigner, SyncClient};
use crate::time::{BootClock, MonotonicClock};

pub use attachments::{AttachmentFile, MAX_ATTACHMENTS_PER_RECORD};
pub use capture::{
    CheckIn, FixOutcome, MAX_CATEGORY_BYTES, MAX_INCIDENT_TEXT_BYTES, MAX_SCAN_PAYLOAD_BYTES,
    PanicOutcome,
};
pub use commands::REMOTE_WIPE_FLUSH_BUDGET;
pub use config::{Config, DEFAULT_RETENTION_MS};
pub use heartbeat::ProtectionState;
pub use heartbeat_task::HeartbeatPolicy;
pub use man_down::{MOTION_THRESHOLD_MPS2, ManDownListener, ManDownPolicy, ManDownStage};
pub use report::ShiftReport;
pub use rescue::AdoptionReport;
pub use sync::SyncSummary;

/// A guard's device: its local store, its location state and its link to the SOC.
///
/// Capture methods (`start_shift`, `record_fixes`, `log_incident`, ...) block until the
/// record is durable on disk. Call them off the UI thread. `Vigil` is cheap to clone, and
/// clones share one store.
#[derive(Clone)]
pub struct Vigil {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: Config,
    clock: Arc<dyn Clock>,
    fixes: Mutex<FixChecker>,
    storage: Mutex<StorageFilter>,
    tours: Mutex<tours::TourTimer>,
    fence: Mutex<Option<FenceTracker>>,
    client: SyncClient,
    sync_lock: tokio::sync::Mutex<()>,
    /// Held while enrolling, so that the alert lane and sync never enroll twice at once,
    /// which would make the server replace the first token.
    enroll_lock: tokio::sync::Mutex<()>,
    alerts: alert_lane::AlertLane,
    quarantined: Option<QuarantinedDatabase>,
    network_changed: tokio::sync::Notify,
    monotonic: Arc<dyn MonotonicClock>,
    /// The latest clock offset written to disk, so repeats within its precision are not.
    clock_offset: Mutex<Option<crate::time::ClockOffset>>,
    /// Signs every record, every request after enrollment and the SMS fallback messages;
    /// its public key is sent at enrollment.
    signing_key: Arc<crate::crypto::DeviceSigningKey>,
    heartbeats: heartbeat_task::HeartbeatSlot,
}

impl std::fmt::Debug for Vigil {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Vigil").field("store", &self.inner.store).finish_non_exhaustive()
    }
}

impl Vigil {
    /// Opens (or creates) the device store at `path` with the system clock.
    ///
    /// A database that SQLite finds corrupt is moved aside and a fresh one is created; see
    /// [`Vigil::quarantined_at_open`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an invalid configuration; storage errors as
    /// [`Store::open_with_key`]; [`Error::Wiped`] once, when it finishes a remote wipe that
    /// a restart interrupted (the next open starts a fresh device).
    pub fn open(path: impl AsRef<Path>, config: Config) -> Result<Self> {
        Self::open_with_clock(path, config, Arc::new(SystemClock))
    }

    /// Opens the device store with another clock, for replays and tests.
    ///
    /// # Errors
    ///
    /// As [`Vigil::open`].
    pub fn open_with_clock(
        path: impl AsRef<Path>,
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        Self::open_with_clocks(path, config, clock, Arc::new(BootClock::new()))
    }

    /// Opens the device store with another wall clock and monotonic clock: on iOS the app
    /// provides the monotonic clock, and tests simulate reboots with
    /// [`crate::time::ManualMonotonic`].
    ///
    /// # Errors
    ///
    /// As [`Vigil::open`].
    pub fn open_with_clocks(
        path: impl AsRef<Path>,
        config: Config,
        clock: Arc<dyn Clock>,
        monotonic: Arc<dyn MonotonicClock>,
    ) -> Result<Self> {
        config.validate()?;
        let request_timeout = Duration::from_millis(config.request_timeout_ms);
        let client = SyncClient::with_tls(&config.server_url, request_timeout, &config.tls)?;
        let alert_timeout = Duration::from_millis(config.alert_request_timeout_ms);
        let alert_client = SyncClient::with_tls(&config.server_url, alert_timeout, &config.tls)?;

        let kek = match &config.key_encryption_key {
            Some(kek) => kek.clone(),
            None => at_rest::key_file_kek(path.as_ref())?,
        };
        let (store, quarantined) = Store::open_or_quarantine(path, kek, clock.now_ms())?;
        Self::finish_interrupted_wipe(&store)?;
        let signing_key = Arc::new(device_key::load_or_create(&store)?);
        store.set_signing_key(signing_key.clone());
        at_rest::purge_at_open(&store, &config, clock.now_ms());
        if let Some(soc_public_key) = &config.soc_public_key {
            store.set_setting(crate::store::SOC_PUBLIC_KEY, soc_public_key)?;
        }
        let signer = Arc::new(RequestSigner::new(
            config.device_id.clone(),
            signing_key.clone(),
            clock.clone(),
        ));
        let client = client.with_signer(signer.clone());
        let alerts = alert_lane::AlertLane::new(alert_client.with_signer(signer));
        attachments::remove_partial_files(&store);
        let fixes = Mutex::new(FixChecker::new(config.plausibility));
        let storage = Mutex::new(StorageFilter::new(config.storage_rate));

        tracing::info!(path = %store.path().display(), "opened the device store");
        let inner = Inner {
            store,
            config,
            clock,
            fixes,
            storage,
            tours: Default::default(),
            fence: Default::default(),
            client,
            sync_lock: Default::default(),
            enroll_lock: Default::default(),
            alerts,
            quarantined,
            network_changed: Default::default(),
            monotonic,
            clock_offset: Mutex::new(None),
            signing_key,
            heartbeats: Default::default(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Returns the local store, for reading.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Returns the configuration the device was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    fn fix_checker(&self) -> MutexGuard<'_, FixChecker> {
        self.inner.fixes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn storage_filter(&self) -> MutexGuard<'_, StorageFilter> {
        self.inner.storage.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs blocking store work on tokio's blocking pool, off the async worker threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Vigil) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let vigil = self.clone();
        tokio::task::spawn_blocking(move || {
            vigil.store().ensure_open()?;
            work(&vigil)
        })
        .await
        .map_err(|error| Error::InvalidState(format!("a storage task failed: {error}")))?
    }
}

#[cfg(test)]
mod attachment_tests;
#[cfg(test)]
mod lone_worker_tests;
#[cfg(test)]
mod man_down_tests;
#[cfg(test)]
mod signed_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tour_tests;
#[cfg(test)]
mod wipe_tests;
