//! `vigil-ffi`: the UniFFI bindings of `vigil-core` for the Kotlin and Swift apps.
//!
//! This crate only converts types and forwards calls. The library owns one tokio runtime;
//! every async method runs its work there, so the apps may await it from any coroutine or
//! task. A panic inside Vigil reaches the app as an error, never as a crash.

mod alerts;
mod attachments;
mod boot_clock;
mod error;
mod keys;
mod lifecycle;
mod lone_worker;
mod rescue;
mod schedule;
mod storage;
mod time;
mod types;
mod wipe;

use std::sync::{Arc, OnceLock};

use tokio::runtime::Runtime;
use uuid_text::parse_record_id;

pub use alerts::{AlertKind, AlertListener, AlertState, AlertStatus, LocationRequester, SmsSender};
pub use attachments::{AttachedIncident, Attachment, AttachmentFile, AttachmentUploadState};
pub use boot_clock::{BootClockReading, BootClockSource};
pub use error::VigilError;
pub use keys::{KeyStore, KeyStoreError, passphrase_key_store};
pub use lone_worker::{
    HeartbeatPolicy, LoneWorkerListener, LoneWorkerPolicy, LoneWorkerStage, LoneWorkerStatus,
    ManDownListener, ManDownPolicy, ManDownStage, MonotonicClock, ProtectionState,
};
pub use storage::QuarantinedDatabase;
pub use time::{ClockOffset, CorrectedTime, TimeFlag};
pub use types::*;

uniffi::setup_scaffolding!();

/// Returns the version of the Vigil core library.
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Returns the project's text for a refused check-in reason, in the language of a BCP 47
/// tag (`en`, `es`, `pt-BR`; other languages get English). An unknown code gets a generic
/// "refused" text.
#[uniffi::export]
pub fn checkin_reason_text(reason: CheckinReason, language_tag: String) -> String {
    let language = vigil_core::wording::Language::from_tag(&language_tag);
    let params: Vec<(String, String)> = reason.params.into_iter().collect();
    vigil_core::wording::reason_text(&reason.code, &params, language)
}

/// Returns the SPKI pins of the certificates in a PEM text, in file order: the standard
/// base64 SHA-256 of each certificate's SubjectPublicKeyInfo, the form
/// `VigilConfig.spki_pins` takes.
///
/// # Errors
///
/// `InvalidInput` if the text contains no certificate or an invalid one.
#[uniffi::export]
pub fn spki_pins_from_pem(pem: String) -> Result<Vec<String>, VigilError> {
    Ok(vigil_core::sync::spki_pins_from_pem(&pem)?)
}

/// Simplifies a track for upload with the Ramer–Douglas–Peucker algorithm: no original
/// point is farther than `tolerance_m` metres from the result. Non-finite points are
/// dropped; an empty track gives an empty result.
#[uniffi::export]
pub fn simplify_track(points: Vec<LatLon>, tolerance_m: f64) -> SimplifiedTrack {
    let points: Vec<vigil_core::model::LatLon> = points.into_iter().map(Into::into).collect();
    vigil_core::location::simplify_track(&points, tolerance_m).into()
}

/// The device's link to its SOC and the limits it applies.
#[derive(Debug, Clone, uniffi::Record)]
pub struct VigilConfig {
    /// The device's id, stable for the installation.
    pub device_id: String,
    /// The guard signed in on the device.
    pub guard_id: String,
    /// The SOC server's base URL.
    pub server_url: String,
    /// The code the SOC issued to enroll this device.
    pub enrollment_code: String,
    /// SHA-256 hashes of the SOC certificates' SubjectPublicKeyInfo, in standard base64
    /// (44 characters), usually a primary and a backup. When set, the server's chain must
    /// both validate and contain a pinned key, and `server_url` must be https. Empty turns
    /// pinning off. [`spki_pins_from_pem`] computes them from a certificate.
    #[uniffi(default = [])]
    pub spki_pins: Vec<String>,
    /// PEM certificates of the CAs to trust in place of the built-in Mozilla roots, for
    /// private deployments and tests; `null` trusts the built-in roots.
    #[uniffi(default = None)]
    pub ca_certificates_pem: Option<String>,
    /// Oldest age of a fix attached to an event, in milliseconds; older means "no fix".
    #[uniffi(default = 30000)]
    pub max_fix_age_ms: i64,
    /// Attempts per sync step before `sync_now` gives up.
    #[uniffi(default = 4)]
    pub sync_attempts: u32,
    /// First retry delay in milliseconds, doubled with jitter on each retry.
    #[uniffi(default = 500)]
    pub retry_base_delay_ms: u64,
    /// Time limit of one HTTP request, in milliseconds.
    #[uniffi(default = 15000)]
    pub request_timeout_ms: u64,
    /// Fixed interval between two sends of an alert that no operator has acknowledged
    /// yet, in milliseconds.
    #[uniffi(default = 2000)]
    pub alert_resend_interval_ms: u64,
    /// Time limit of one alert request, in milliseconds.
    #[uniffi(default = 5000)]
    pub alert_request_timeout_ms: u64,
    /// Distance, in metres, from the last stored fix past which a trusted fix is stored;
    /// 0 stores every fix. Flagged fixes are always stored.
    #[uniffi(default = 5.0)]
    pub storage_min_distance_m: f64,
    /// Maximum time, in milliseconds, between stored fixes while the guard is not moving.
    #[uniffi(default = 30000)]
    pub storage_max_interval_ms: i64,
    /// Change of heading, in degrees (above 0, at most 180), past which a trusted fix is
    /// stored, so corners stay on the track.
    #[uniffi(default = 30.0)]
    pub storage_min_heading_change_deg: f64,
    /// Time after which an alert the SOC has not stored is also sent by SMS, in
    /// milliseconds.
    #[uniffi(default = 30000)]
    pub sms_fallback_after_ms: u64,
    /// The SOC's number for SMS fallback messages, in E.164 form; `null` turns the
    /// fallback off.
    #[uniffi(default = None)]
    pub sms_fallback_number: Option<String>,
    /// Whether the SMS fallback also places a call to that number (never for duress).
    #[uniffi(default = false)]
    pub sms_fallback_call: bool,
    /// How long a record is kept on the device after the SOC acknowledged it, in
    /// milliseconds (default 7 days); then it is purged. Records the SOC does not have are
    /// never purged.
    #[uniffi(default = 604800000)]
    pub retention_ms: u64,
    /// The SOC's X25519 sealing public key (32 bytes, base64url without padding) when the
    /// app is provisioned with it. It then replaces the key of the enrollment reply, and
    /// `null` takes the key from the reply. An invalid key fails with `InvalidInput`.
    #[uniffi(default = None)]
    pub soc_public_key: Option<String>,
}

impl From<VigilConfig> for vigil_core::Config {
    fn from(config: VigilConfig) -> Self {
        let mut core = vigil_core::Config::new(
            config.device_id,
            config.guard_id,
            config.server_url,
            config.enrollment_code,
        );
        core.tls = vigil_core::sync::TlsSettings {
            spki_pins: config.spki_pins,
            ca_certificates_pem: config.ca_certificates_pem,
        };
        core.max_fix_age_ms = config.max_fix_age_ms;
        core.sync_attempts = config.sync_attempts;
        core.retry_base_delay_ms = config.retry_base_delay_ms;
        core.request_timeout_ms = config.request_timeout_ms;
        core.alert_resend_interval_ms = config.alert_resend_interval_ms;
        core.alert_request_timeout_ms = config.alert_request_timeout_ms;
        core.storage_rate = vigil_core::location::StorageRate {
            min_distance_m: config.storage_min_distance_m,
            max_interval_ms: config.storage_max_interval_ms,
            min_heading_change_deg: config.storage_min_heading_change_deg,
        };
        core.sms_fallback_after_ms = config.sms_fallback_after_ms;
        core.sms_fallback_number = config.sms_fallback_number;
        core.sms_fallback_call = config.sms_fallback_call;
        core.retention_ms = config.retention_ms;
        core.soc_public_key = config.soc_public_key;
        core
    }
}

/// The library's one runtime: two worker threads are plenty for sync, and SQLite work runs
/// on its blocking pool.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vigil")
            .enable_all()
            .build()
            .expect("failed to start the Vigil runtime threads")
    })
}

/// A guard's device: the local store, location state and sync with the SOC.
///
/// Every capture method returns once the record is durable on disk. All async methods are
/// cancel-safe: the work runs to completion on Vigil's runtime even if the caller's
/// coroutine or task is cancelled, so nothing is left half-written.
#[derive(uniffi::Object)]
pub struct Vigil {
    core: vigil_core::Vigil,
}

#[uniffi::export]
impl Vigil {
    /// Opens (or creates) the store at `path`, a file in the app's private storage, and
    /// starts the alert lane, which resends every alert a previous run left unfinished.
    ///
    /// `key_store` contains the key-encryption key that wraps the store's data key: the
    /// Android Keystore or iOS Keychain in the apps, `passphrase_key_store` in tests. Without
    /// it, the key is kept in the file `<path>.key` beside the store, which protects a copy
    /// of the store file alone, not a stolen phone.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an invalid configuration; `Locked` if `key_store` cannot unwrap
    /// the store's data key (nothing on disk is changed); `Storage` if the file cannot be
    /// opened or was written by a newer version (the file is left untouched). A file that
    /// SQLite finds corrupt is moved aside instead and a fresh store opened: see
    /// `quarantined_at_open`.
    #[uniffi::constructor(default(key_store = None))]
    pub fn open(
        path: String,
        config: VigilConfig,
        key_store: Option<Arc<dyn KeyStore>>,
    ) -> Result<Arc<Self>, VigilError> {
        let mut config: vigil_core::Config = config.into();
        config.key_encryption_key = key_store.map(|store| {
            Arc::new(keys::PlatformKek(store)) as Arc<dyn vigil_core::crypto::KeyEncryptionKey>
        });
        let core = vigil_core::Vigil::open(path, config)?;
        core.start_alert_lane(runtime().handle());
        Ok(Arc::new(Self { core }))
    }

    /// Starts a shift, at a site pulled from the SOC if given. Returns the shift id.
    ///
    /// # Errors
    ///
    /// `InvalidState` if a shift is active; `NotFound` for an unknown site.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the work runs to completion on Vigil's runtime even if the caller
    /// is cancelled, and the record is stored in one transaction or not at all.
    pub async fn start_shift(&self, site_id: Option<String>) -> Result<String, VigilError> {
        self.blocking(move |core| Ok(core.start_shift(site_id)?.id.to_string())).await
    }

    /// Ends the active shift. Returns the id of the end record.
    ///
    /// # Errors
    ///
    /// `InvalidState` if no shift is active.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: as `start_shift`.
    pub async fn end_shift(&self) -> Result<String, VigilError> {
        self.blocking(|core| Ok(core.end_shift()?.id.to_string())).await
    }

    /// Checks and stores a batch of fixes in one transaction. Invalid fixes are returned as
    /// `Rejected` and not stored; implausible ones are stored with flags.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: as `start_shift`; the batch is stored whole or not at all.
    pub async fn record_fixes(&self, fixes: Vec<Fix>) -> Result<Vec<FixOutcome>, VigilError> {
        let fixes = fixes.into_iter().map(Into::into).collect();
        self.blocking(move |core| {
            Ok(core.record_fixes(fixes)?.into_iter().map(FixOutcome::from).collect())
        })
        .await
    }

    /// Stores an incident with the current fix. Returns the record id.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an empty or oversized category (64 bytes) or text (16 KiB).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: as `start_shift`.
    pub async fn log_incident(
        &self,
        category: String,
        severity: Severity,
        text: String,
    ) -> Result<String, VigilError> {
        let incident = vigil_core::model::Incident { category, severity: severity.into(), text };
        self.blocking(move |core| Ok(core.log_incident(incident)?.id.to_string())).await
    }

    /// Verifies and stores a checkpoint scan; a refused scan is stored too. For `Gps` the
    /// payload is the checkpoint id. A QR or NFC payload starting with `vigil1.` is a tag
    /// signed by the SOC and is verified offline against the keys pulled by `sync_now`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an empty or oversized payload (4 KiB).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: as `start_shift`.
    pub async fn scan_checkpoint(
        &self,
        method: ScanMethod,
        payload: String,
    ) -> Result<CheckIn, VigilError> {
        self.blocking(move |core| Ok(core.scan_checkpoint(method.into(), &payload)?.into())).await
    }

    /// Verifies and stores a BLE beacon sighting as a checkpoint scan, with its received
    /// signal strength in dBm. A beacon tag with a minimum strength counts only when
    /// received at least that strongly; otherwise the scan is refused as `weak_signal`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an empty or oversized beacon id, or a strength outside
    /// -127..=20 dBm.
    pub async fn scan_beacon(
        &self,
        beacon_id: String,
        rssi_dbm: i32,
    ) -> Result<CheckIn, VigilError> {
        self.blocking(move |core| Ok(core.scan_beacon(&beacon_id, rssi_dbm)?.into())).await
    }

    /// Verifies and stores a checkpoint scan whose payload arrived as bytes, such as an NFC
    /// NDEF record's payload. Vigil tags, signed or not, are UTF-8 text, so pass text
    /// payloads (QR codes) to `scan_checkpoint` and raw bytes here.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a payload that is empty, over 4 KiB or not UTF-8 (the reason
    /// names the offset of the first invalid byte).
    pub async fn scan_checkpoint_bytes(
        &self,
        method: ScanMethod,
        payload: Vec<u8>,
    ) -> Result<CheckIn, VigilError> {
        self.blocking(move |core| Ok(core.scan_checkpoint_bytes(method.into(), &payload)?.into()))
            .await
    }

    /// Stores a panic alert durably, then sends it at once ahead of everything else. If it
    /// cannot be delivered now, the alert lane resends it until an operator acknowledges
    /// it, and it stays first in the outbox.
    ///
    /// # Errors
    ///
    /// Storage errors only; a failed send gives `delivered_at_ms = null`.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the alert is stored before it is sent, and both run to completion
    /// on Vigil's runtime even if the caller is cancelled.
    pub async fn raise_panic(&self) -> Result<PanicOutcome, VigilError> {
        let core = self.core.clone();
        let outcome = runtime().spawn(async move { core.raise_panic_and_send().await }).await??;
        Ok(PanicOutcome {
            record_id: outcome.record_id.to_string(),
            delivered_at_ms: outcome.delivered_at_ms,
        })
    }

    /// Stores an alert of `kind` durably with the best current fix and sends it at once on
    /// the alert lane, then again every `alert_resend_interval_ms` until an operator
    /// acknowledges it. Returns once the alert is on disk, in state `Stored`; the listener
    /// reports the later states.
    ///
    /// # Errors
    ///
    /// Storage errors only: an alert needs no shift, no fix and no network.
    pub async fn raise_alert(&self, kind: AlertKind) -> Result<AlertStatus, VigilError> {
        self.blocking(move |core| Ok(core.raise_alert(kind.into())?.1.into())).await
    }

    /// Returns the current state of an alert.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a malformed id; `NotFound` if no alert has this id.
    pub async fn alert_status(&self, record_id: String) -> Result<AlertStatus, VigilError> {
        let id = parse_record_id(&record_id)?;
        self.blocking(move |core| Ok(core.alert_status(id)?.into())).await
    }

    /// Sets the guard's cancel PIN and duress PIN (4 to 8 digits each, different),
    /// replacing earlier ones. Only salted hashes are stored.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an invalid or repeated PIN.
    pub async fn set_alert_pins(
        &self,
        cancel_pin: String,
        duress_pin: String,
    ) -> Result<(), VigilError> {
        self.blocking(move |core| Ok(core.set_alert_pins(&cancel_pin, &duress_pin)?)).await
    }

    /// Cancels an alert with the guard's PIN and returns its new status, `Cancelled`.
    ///
    /// The cancel reaches the SOC as an event; the alert is never deleted there. The
    /// duress PIN gives exactly the same result and listener calls, but tells the SOC
    /// silently that the guard is under duress. Show both the same way.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a wrong PIN (field `pin`); `InvalidState` if no PIN is set or the
    /// alert is cancelled already; `NotFound` for an unknown alert.
    pub async fn cancel_alert(
        &self,
        record_id: String,
        pin: String,
    ) -> Result<AlertStatus, VigilError> {
        let id = parse_record_id(&record_id)?;
        self.blocking(move |core| Ok(core.cancel_alert(id, &pin)?.into())).await
    }

    /// Sets the listener notified of every alert state change, replacing any earlier one;
    /// `null` removes it.
    pub fn set_alert_listener(&self, listener: Option<Arc<dyn AlertListener>>) {
        let adapter = listener.map(|listener| {
            Arc::new(alerts::ForeignListener(listener)) as Arc<dyn vigil_core::alert::AlertListener>
        });
        self.core.set_alert_listener(adapter);
    }

    /// Sets the platform's location service, from which Vigil requests high-accuracy fixes while
    /// an alert is active; `null` removes it.
    pub fn set_location_requester(&self, requester: Option<Arc<dyn LocationRequester>>) {
        let adapter = requester.map(|requester| {
            Arc::new(alerts::ForeignLocation(requester))
                as Arc<dyn vigil_core::alert::LocationRequester>
        });
        self.core.set_location_requester(adapter);
    }

    /// Sets the platform's SMS and phone service, which Vigil uses to send an alert by SMS
    /// when the SOC has not stored it within `sms_fallback_after_ms`; `null` removes it.
    pub fn set_sms_sender(&self, sender: Option<Arc<dyn SmsSender>>) {
        let adapter = sender.map(|sender| {
            Arc::new(alerts::ForeignSms(sender)) as Arc<dyn vigil_core::alert::SmsSender>
        });
        self.core.set_sms_sender(adapter);
    }

    /// Starts the lone-worker check-in timer, replacing a running one: the guard must
    /// confirm with `confirm_lone_worker` within `interval_ms`, is warned `warning_ms`
    /// before the deadline, and a `MISSED_CHECK_IN` alert is raised `grace_ms` after it.
    /// The timer survives app restarts.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero interval or a warning not shorter than the interval.
    pub async fn start_lone_worker(
        &self,
        policy: LoneWorkerPolicy,
    ) -> Result<LoneWorkerStatus, VigilError> {
        self.blocking(move |core| Ok(core.start_lone_worker(policy.into())?.into())).await
    }

    /// Records the guard's check-in: a new interval starts now.
    ///
    /// # Errors
    ///
    /// `InvalidState` if no timer runs.
    pub async fn confirm_lone_worker(&self) -> Result<LoneWorkerStatus, VigilError> {
        self.blocking(|core| Ok(core.confirm_lone_worker()?.into())).await
    }

    /// Stops the lone-worker check-in timer; stopping a stopped timer does nothing.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub async fn stop_lone_worker(&self) -> Result<(), VigilError> {
        self.blocking(|core| Ok(core.stop_lone_worker()?)).await
    }

    /// Returns the check-in timer's status, or `null` when no timer runs.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub async fn lone_worker_status(&self) -> Result<Option<LoneWorkerStatus>, VigilError> {
        self.blocking(|core| Ok(core.lone_worker_status()?.map(Into::into))).await
    }

    /// Sends a heartbeat with `state`, the age of the newest trusted fix and the number of
    /// alerts not yet stored by the SOC. Call it at a fixed interval, well within the
    /// SOC's silence limit (180 s on the reference server by default).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a battery over 100 %; `Offline` or `Server` when the send
    /// fails. A failed heartbeat is not queued, because the next one replaces it.
    pub async fn send_heartbeat(&self, state: ProtectionState) -> Result<(), VigilError> {
        let core = self.core.clone();
        runtime().spawn(async move { core.send_heartbeat(state.into()).await }).await??;
        Ok(())
    }

    /// Sets the protection state that scheduled heartbeats carry. A changed state is sent
    /// at once when heartbeats run. Call it whenever the location permission or the
    /// battery changes.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a battery over 100 %.
    pub fn set_protection_state(&self, state: ProtectionState) -> Result<(), VigilError> {
        Ok(self.core.set_protection_state(state.into())?)
    }

    /// Starts sending heartbeats on the library's runtime with `policy`, replacing a
    /// running schedule. The first one goes once `set_protection_state` has been called.
    /// Nothing is sent while paused. Heartbeats stop with `stop_heartbeats` or `close`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero interval.
    pub fn start_heartbeats(&self, policy: HeartbeatPolicy) -> Result<(), VigilError> {
        Ok(self.core.start_heartbeats(runtime().handle(), policy.into())?)
    }

    /// Stops the scheduled heartbeats; stopping when none run does nothing.
    pub fn stop_heartbeats(&self) {
        self.core.stop_heartbeats();
    }

    /// Starts the no-motion (man-down) detector, counting from now: after `still_after_ms`
    /// without motion the listener gets `WARNING`, and after `warning_ms` more a `MAN_DOWN`
    /// alert is raised.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero `still_after_ms`.
    pub fn start_man_down(&self, policy: ManDownPolicy) -> Result<(), VigilError> {
        let policy = vigil_core::ManDownPolicy {
            still_after_ms: policy.still_after_ms,
            warning_ms: policy.warning_ms,
        };
        Ok(self.core.start_man_down(policy)?)
    }

    /// Stops the no-motion detector, also for later runs.
    ///
    /// # Errors
    ///
    /// Storage errors; then the detector still runs.
    pub fn stop_man_down(&self) -> Result<(), VigilError> {
        Ok(self.core.stop_man_down()?)
    }

    /// Reports the platform's motion signal: `true` for motion, which restarts the still
    /// period and ends a warning; `false` ("still") changes nothing.
    pub fn record_motion(&self, moving: bool) {
        self.core.record_motion(moving);
    }

    /// Reports one accelerometer sample in m/s² (gravity included); a magnitude more than
    /// 1 m/s² away from standard gravity counts as motion.
    pub fn record_acceleration(&self, x: f64, y: f64, z: f64) {
        self.core.record_acceleration(x, y, z);
    }

    /// Returns the no-motion detector's stage, or `null` when it is stopped.
    pub fn man_down_stage(&self) -> Option<ManDownStage> {
        self.core.man_down_stage().map(Into::into)
    }

    /// Sets the listener notified of every no-motion detector stage change; `null` removes it.
    pub fn set_man_down_listener(&self, listener: Option<Arc<dyn ManDownListener>>) {
        let adapter = listener.map(|listener| {
            Arc::new(lone_worker::ForeignManDownListener(listener))
                as Arc<dyn vigil_core::ManDownListener>
        });
        self.core.set_man_down_listener(adapter);
    }

    /// Sets the listener notified of every check-in timer stage change; `null` removes it.
    pub fn set_lone_worker_listener(&self, listener: Option<Arc<dyn LoneWorkerListener>>) {
        let adapter = listener.map(|listener| {
            Arc::new(lone_worker::ForeignLoneWorkerListener(listener))
                as Arc<dyn vigil_core::alert::lone_worker::LoneWorkerListener>
        });
        self.core.set_lone_worker_listener(adapter);
    }

    /// Replaces the monotonic clock of the check-in timer, such as with Android's
    /// `SystemClock.elapsedRealtime()`; the default counts from when the library opened.
    pub fn set_monotonic_clock(&self, clock: Arc<dyn MonotonicClock>) {
        self.core.set_monotonic_clock(Arc::new(lone_worker::ForeignMonotonicClock(clock)));
    }

    /// Sends the outbox (panic alerts first) and pulls new assignments, retrying with
    /// backoff.
    ///
    /// # Errors
    ///
    /// `Offline` or `Server` when the SOC stays unreachable or failing, and
    /// `UntrustedServer` at once, without retries, when its TLS certificate is rejected.
    /// In every case the records stay queued, so nothing is lost.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the sync runs to completion on Vigil's runtime, and a record leaves
    /// the outbox only in the transaction that stores its acknowledgement.
    pub async fn sync_now(&self) -> Result<SyncSummary, VigilError> {
        let core = self.core.clone();
        let summary = runtime().spawn(async move { core.sync_now().await }).await??;
        Ok(summary.into())
    }

    /// Counts records by sync state: what is pending, synced and refused.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only reads, on Vigil's runtime.
    pub async fn pending(&self) -> Result<SyncCounts, VigilError> {
        self.blocking(|core| Ok(core.store().sync_counts()?.into())).await
    }

    /// Returns the sync state of one record.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a malformed id; `NotFound` for an unknown one.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only reads, on Vigil's runtime.
    pub async fn record_state(&self, record_id: String) -> Result<RecordSyncState, VigilError> {
        let id = parse_record_id(&record_id)?;
        self.blocking(move |core| Ok(core.store().record(id)?.1.into())).await
    }

    /// Builds the report of the active shift, or of the latest one.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only reads, on Vigil's runtime.
    pub async fn shift_report(&self) -> Result<ShiftReport, VigilError> {
        self.blocking(|core| Ok(core.shift_report()?.into())).await
    }

    /// Records every tour round of the active shift whose window has closed and returns the
    /// new rounds, with their missed checkpoints, for the app to show. Recording fixes,
    /// scanning and ending the shift do this too; call it from a periodic timer so rounds
    /// close on time while the guard does neither. Works offline.
    ///
    /// # Errors
    ///
    /// `Storage` if the rounds could not be stored; none was.
    pub async fn check_tours(&self) -> Result<Vec<TourRound>, VigilError> {
        self.blocking(|core| Ok(core.check_tours()?.into_iter().map(TourRound::from).collect()))
            .await
    }

    /// Returns where each tour of the active shift stands now: the open round, visited and
    /// remaining checkpoints, and closed rounds. Empty when no shift with tours is active.
    pub async fn tour_progress(&self) -> Result<Vec<TourProgress>, VigilError> {
        self.blocking(|core| {
            Ok(core.tour_progress()?.into_iter().map(TourProgress::from).collect())
        })
        .await
    }

    /// Returns the sites pulled from the SOC.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it only reads, on Vigil's runtime.
    pub async fn sites(&self) -> Result<Vec<Site>, VigilError> {
        self.blocking(|core| Ok(core.store().sites()?.into_iter().map(Site::from).collect())).await
    }
}

impl Vigil {
    /// Runs blocking store work on the runtime's blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&vigil_core::Vigil) -> Result<T, VigilError> + Send + 'static,
    ) -> Result<T, VigilError> {
        let core = self.core.clone();
        runtime()
            .spawn_blocking(move || {
                core.store().ensure_open()?;
                work(&core)
            })
            .await?
    }
}

mod uuid_text {
    use crate::VigilError;

    /// Parses an id passed by the app for the argument `field`.
    pub(crate) fn parse_id(field: &str, text: &str) -> Result<uuid::Uuid, VigilError> {
        uuid::Uuid::parse_str(text).map_err(|error| VigilError::InvalidInput {
            field: field.into(),
            reason: format!("{text:?} is not a UUID: {error}"),
        })
    }

    /// Parses a record id passed by the app.
    pub(crate) fn parse_record_id(text: &str) -> Result<uuid::Uuid, VigilError> {
        uuid::Uuid::parse_str(text).map_err(|error| VigilError::InvalidInput {
            field: "record_id".into(),
            reason: format!("{text:?} is not a UUID: {error}"),
        })
    }
}
