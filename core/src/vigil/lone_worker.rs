//! The lone-worker check-in timer of a device: its saved state, its listener, and the
//! `MissedCheckIn` alert it raises. The alert lane calls [`Vigil::tick_lone_worker`] and
//! wakes again when the next stage is due.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::alert::lone_worker::{
    BootMark, InstantClock, LoneWorkerListener, LoneWorkerPolicy, LoneWorkerStage,
    LoneWorkerStatus, LoneWorkerTimer, MonotonicClock, SavedTimer,
};
use crate::error::{Error, Result};
use crate::model::AlertKind;

use super::Vigil;

/// The setting that stores the running timer, as JSON.
const LONE_WORKER: &str = "lone_worker_timer";

/// The timer's parts that live as long as the [`Vigil`] does.
pub(super) struct LoneWorkerSlot {
    /// The running timer; `None` when stopped or not yet read from the store.
    timer: Option<LoneWorkerTimer>,
    /// Whether the saved timer was read from the store in this run.
    loaded: bool,
    clock: Arc<dyn MonotonicClock>,
    listener: Option<Arc<dyn LoneWorkerListener>>,
}

impl Default for LoneWorkerSlot {
    fn default() -> Self {
        Self {
            timer: None,
            loaded: false,
            clock: Arc::new(InstantClock::default()),
            listener: None,
        }
    }
}

impl Vigil {
    /// Starts the check-in timer with `policy`, replacing a running one: the guard must
    /// confirm within `interval_ms`. The stages advance only while the alert lane runs
    /// ([`Vigil::start_alert_lane`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an invalid policy; storage errors.
    pub fn start_lone_worker(&self, policy: LoneWorkerPolicy) -> Result<LoneWorkerStatus> {
        policy.validate()?;
        let status = {
            let mut slot = self.lone_worker_slot();
            let now = slot.clock.elapsed_ms();
            let mut timer = LoneWorkerTimer::start(policy, now, self.now_ms());
            timer.saved.boot = self.boot_mark();
            self.save_lone_worker(&timer.saved)?;
            slot.timer = Some(timer);
            slot.loaded = true;
            timer.status(now)
        };
        tracing::info!(interval_ms = policy.interval_ms, "lone-worker timer started");
        self.publish_lone_worker(status);
        self.inner.alerts_wake();
        Ok(status)
    }

    /// Records the guard's check-in: a new interval starts now, also after a missed one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if no timer runs; storage errors.
    pub fn confirm_lone_worker(&self) -> Result<LoneWorkerStatus> {
        let status = {
            let mut slot = self.lone_worker_slot();
            self.load_lone_worker(&mut slot)?;
            let Some(running) = slot.timer else {
                return Err(Error::InvalidState("no lone-worker timer is running".into()));
            };
            let now = slot.clock.elapsed_ms();
            let mut timer = LoneWorkerTimer::start(running.saved.policy, now, self.now_ms());
            timer.saved.boot = self.boot_mark();
            self.save_lone_worker(&timer.saved)?;
            slot.timer = Some(timer);
            timer.status(now)
        };
        tracing::info!("lone-worker check-in confirmed");
        self.publish_lone_worker(status);
        self.inner.alerts_wake();
        Ok(status)
    }

    /// Stops the check-in timer; stopping a stopped timer does nothing.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn stop_lone_worker(&self) -> Result<()> {
        let mut slot = self.lone_worker_slot();
        self.store().delete_setting(LONE_WORKER)?;
        slot.timer = None;
        slot.loaded = true;
        tracing::info!("lone-worker timer stopped");
        Ok(())
    }

    /// Returns the check-in timer's status, or `None` when no timer runs.
    ///
    /// # Errors
    ///
    /// Storage errors, and [`Error::Corrupt`] if the saved timer cannot be read.
    pub fn lone_worker_status(&self) -> Result<Option<LoneWorkerStatus>> {
        let mut slot = self.lone_worker_slot();
        self.load_lone_worker(&mut slot)?;
        let now = slot.clock.elapsed_ms();
        Ok(slot.timer.map(|timer| timer.status(now)))
    }

    /// Sets the listener notified of every stage change and check-in; `None` removes it.
    pub fn set_lone_worker_listener(&self, listener: Option<Arc<dyn LoneWorkerListener>>) {
        self.lone_worker_slot().listener = listener;
    }

    /// Replaces the monotonic clock of the check-in timer, for tests or a platform source
    /// such as Android's `SystemClock.elapsedRealtime`. A running timer keeps its time left.
    pub fn set_monotonic_clock(&self, clock: Arc<dyn MonotonicClock>) {
        let mut slot = self.lone_worker_slot();
        let (old, new) = (slot.clock.elapsed_ms(), clock.elapsed_ms());
        if let Some(timer) = &mut slot.timer {
            let stage = timer.saved.stage;
            timer.advance(stage, old, self.now_ms());
            *timer = LoneWorkerTimer::resume(timer.saved, new, timer.saved.saved_at_wall_ms);
        }
        slot.clock = clock;
        self.man_down_slot().rebase(old, new);
        drop(slot);
        self.inner.alerts_wake();
    }

    /// Moves the timer through every stage that is due, raising the `MissedCheckIn` alert
    /// when the grace period ends. Returns the milliseconds until the next stage change,
    /// or `None` when nothing is due.
    ///
    /// NOTE: the alert is raised before the `Alerted` stage is saved, so an app killed
    /// between the two raises a second alert after restart rather than none.
    pub(super) fn tick_lone_worker(&self) -> Result<Option<u64>> {
        loop {
            let (status, raise) = {
                let mut slot = self.lone_worker_slot();
                self.load_lone_worker(&mut slot)?;
                let now = slot.clock.elapsed_ms();
                let Some(timer) = &mut slot.timer else {
                    return Ok(None);
                };
                let due = timer.due_stage(now);
                if due == timer.saved.stage {
                    return Ok(timer.next_change_in_ms(now));
                }

                let next = next_stage(timer.saved.stage);
                if next == LoneWorkerStage::Alerted {
                    self.raise_alert(AlertKind::MissedCheckIn)?;
                }
                timer.advance(next, now, self.now_ms());
                timer.saved.boot = self.boot_mark();
                let saved = timer.saved;
                let status = timer.status(now);
                self.save_lone_worker(&saved)?;
                (status, next == LoneWorkerStage::Alerted)
            };
            if raise {
                tracing::warn!("lone-worker check-in missed; alert raised");
            }
            self.publish_lone_worker(status);
        }
    }

    /// Returns the time of the check-in timer's monotonic clock, which the no-motion
    /// detector shares.
    pub(super) fn monotonic_ms(&self) -> u64 {
        self.lone_worker_slot().clock.elapsed_ms()
    }

    fn lone_worker_slot(&self) -> MutexGuard<'_, LoneWorkerSlot> {
        self.inner.alerts.lone_worker.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn load_lone_worker(&self, slot: &mut LoneWorkerSlot) -> Result<()> {
        if slot.loaded {
            return Ok(());
        }
        if let Some(text) = self.store().setting(LONE_WORKER)? {
            let saved: SavedTimer = serde_json::from_str(&text)
                .map_err(|error| Error::Corrupt(format!("saved lone-worker timer: {error}")))?;
            let (now, wall) = (slot.clock.elapsed_ms(), self.now_ms());
            slot.timer =
                Some(LoneWorkerTimer::resume_with_boot(saved, now, wall, self.boot_mark()));
        }
        slot.loaded = true;
        Ok(())
    }

    /// Returns the device's boot clock reading, if the platform has one.
    pub(super) fn boot_mark(&self) -> Option<BootMark> {
        let reading = crate::time::MonotonicClock::reading(self.inner.monotonic.as_ref())?;
        Some(BootMark::new(&reading.boot_id, reading.since_boot_ms))
    }

    fn save_lone_worker(&self, saved: &SavedTimer) -> Result<()> {
        let text = serde_json::to_string(saved)
            .map_err(|error| Error::InvalidState(format!("failed to encode the timer: {error}")))?;
        self.store().set_setting(LONE_WORKER, &text)
    }

    fn publish_lone_worker(&self, status: LoneWorkerStatus) {
        let Some(listener) = self.lone_worker_slot().listener.clone() else {
            return;
        };
        let call = std::panic::catch_unwind(AssertUnwindSafe(|| listener.on_lone_worker(status)));
        if call.is_err() {
            tracing::error!("the lone-worker listener panicked; the timer goes on");
        }
    }
}

fn next_stage(stage: LoneWorkerStage) -> LoneWorkerStage {
    match stage {
        LoneWorkerStage::Running => LoneWorkerStage::Warning,
        LoneWorkerStage::Warning => LoneWorkerStage::Grace,
        LoneWorkerStage::Grace | LoneWorkerStage::Alerted => LoneWorkerStage::Alerted,
    }
}

/// The timer slot of the alert lane.
pub(super) type Slot = Mutex<LoneWorkerSlot>;
