//! The lone-worker check-in timer as the apps see it.

use std::sync::Arc;

use vigil_core::alert::lone_worker as core_lone;

/// The durations of a check-in timer, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct LoneWorkerPolicy {
    /// Time between two check-ins.
    pub interval_ms: u64,
    /// How long before the deadline the guard is warned; less than `interval_ms`.
    pub warning_ms: u64,
    /// Time after the deadline before the `MISSED_CHECK_IN` alert is raised.
    pub grace_ms: u64,
}

/// What the platform knows of the device's protection state, sent with each heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ProtectionState {
    /// Whether the app may read the location.
    pub location_permission: bool,
    /// The battery charge in percent (0 to 100), if the platform reports it.
    #[uniffi(default = None)]
    pub battery_percent: Option<u8>,
}

impl From<ProtectionState> for vigil_core::ProtectionState {
    fn from(state: ProtectionState) -> Self {
        Self {
            location_permission: state.location_permission,
            battery_percent: state.battery_percent,
        }
    }
}

/// How often the library sends heartbeats, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct HeartbeatPolicy {
    /// The interval while no alert is active. Keep it well within the SOC's silence limit
    /// (180 s on the reference server by default).
    #[uniffi(default = 60000)]
    pub interval_ms: u64,
    /// The interval while an alert is active and not yet acknowledged or cancelled.
    #[uniffi(default = 15000)]
    pub alert_interval_ms: u64,
}

impl From<HeartbeatPolicy> for vigil_core::HeartbeatPolicy {
    fn from(policy: HeartbeatPolicy) -> Self {
        Self { interval_ms: policy.interval_ms, alert_interval_ms: policy.alert_interval_ms }
    }
}

/// The stage of a check-in timer within one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LoneWorkerStage {
    /// Before the warning.
    Running,
    /// The warning was given; the deadline has not passed.
    Warning,
    /// The deadline passed; the grace period runs.
    Grace,
    /// The grace period ended and the alert was raised; a check-in starts a new interval.
    Alerted,
}

/// A check-in timer as the app shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct LoneWorkerStatus {
    /// The timer's durations.
    pub policy: LoneWorkerPolicy,
    /// The current stage.
    pub stage: LoneWorkerStage,
    /// Milliseconds until the check-in deadline; negative once it has passed.
    pub until_deadline_ms: i64,
}

/// Receives every stage change of the check-in timer and every check-in. Vigil calls it
/// on its own threads: switch to the UI thread before touching views, and return quickly.
#[uniffi::export(with_foreign)]
pub trait LoneWorkerListener: Send + Sync {
    /// Called once for each stage the timer enters, and after each check-in.
    fn on_lone_worker(&self, status: LoneWorkerStatus);
}

/// A clock that only moves forward, such as Android's `SystemClock.elapsedRealtime()`.
#[uniffi::export(with_foreign)]
pub trait MonotonicClock: Send + Sync {
    /// Returns the milliseconds elapsed since the clock's origin.
    fn elapsed_ms(&self) -> u64;
}

pub(crate) struct ForeignLoneWorkerListener(pub(crate) Arc<dyn LoneWorkerListener>);

impl core_lone::LoneWorkerListener for ForeignLoneWorkerListener {
    fn on_lone_worker(&self, status: core_lone::LoneWorkerStatus) {
        self.0.on_lone_worker(status.into());
    }
}

pub(crate) struct ForeignMonotonicClock(pub(crate) Arc<dyn MonotonicClock>);

impl core_lone::MonotonicClock for ForeignMonotonicClock {
    fn elapsed_ms(&self) -> u64 {
        self.0.elapsed_ms()
    }
}

impl From<LoneWorkerPolicy> for core_lone::LoneWorkerPolicy {
    fn from(policy: LoneWorkerPolicy) -> Self {
        Self {
            interval_ms: policy.interval_ms,
            warning_ms: policy.warning_ms,
            grace_ms: policy.grace_ms,
        }
    }
}

impl From<core_lone::LoneWorkerPolicy> for LoneWorkerPolicy {
    fn from(policy: core_lone::LoneWorkerPolicy) -> Self {
        Self {
            interval_ms: policy.interval_ms,
            warning_ms: policy.warning_ms,
            grace_ms: policy.grace_ms,
        }
    }
}

impl From<core_lone::LoneWorkerStatus> for LoneWorkerStatus {
    fn from(status: core_lone::LoneWorkerStatus) -> Self {
        let stage = match status.stage {
            core_lone::LoneWorkerStage::Running => LoneWorkerStage::Running,
            core_lone::LoneWorkerStage::Warning => LoneWorkerStage::Warning,
            core_lone::LoneWorkerStage::Grace => LoneWorkerStage::Grace,
            core_lone::LoneWorkerStage::Alerted => LoneWorkerStage::Alerted,
        };
        Self { policy: status.policy.into(), stage, until_deadline_ms: status.until_deadline_ms }
    }
}

/// The durations of the no-motion (man-down) detector, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ManDownPolicy {
    /// Time without motion before the guard is warned.
    pub still_after_ms: u64,
    /// Time from the warning to the `MAN_DOWN` alert, unless the guard moves.
    pub warning_ms: u64,
}

/// The stage of the no-motion detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ManDownStage {
    /// Motion was seen recently.
    Moving,
    /// No motion for `still_after_ms`: warn the guard.
    Warning,
    /// No motion through the warning: the `MAN_DOWN` alert was raised.
    Alerted,
}

/// Receives every stage change of the no-motion detector. Vigil calls it on its own
/// threads: switch to the UI thread before touching views, and return quickly.
#[uniffi::export(with_foreign)]
pub trait ManDownListener: Send + Sync {
    /// Called once for each stage the detector enters.
    fn on_man_down(&self, stage: ManDownStage);
}

pub(crate) struct ForeignManDownListener(pub(crate) Arc<dyn ManDownListener>);

impl vigil_core::ManDownListener for ForeignManDownListener {
    fn on_man_down(&self, stage: vigil_core::ManDownStage) {
        self.0.on_man_down(stage.into());
    }
}

impl From<vigil_core::ManDownStage> for ManDownStage {
    fn from(stage: vigil_core::ManDownStage) -> Self {
        match stage {
            vigil_core::ManDownStage::Moving => ManDownStage::Moving,
            vigil_core::ManDownStage::Warning => ManDownStage::Warning,
            vigil_core::ManDownStage::Alerted => ManDownStage::Alerted,
        }
    }
}
