//! The heartbeat task: the core sends the device's protection state at a fixed interval,
//! faster while an alert is active, so that the SOC notices a device that goes silent.
//! The shell only supplies the protection state, through [`Vigil::set_protection_state`].

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::heartbeat::ProtectionState;
use super::{Inner, Vigil};
use crate::alert::AlertState;
use crate::error::{Error, Result};

/// How often the core sends heartbeats, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatPolicy {
    /// The interval while no alert is active. Keep it well within the SOC's silence limit
    /// (180 s on the reference server by default).
    pub interval_ms: u64,
    /// The interval while an alert is active (stored, sent or delivered, not yet
    /// acknowledged or cancelled).
    pub alert_interval_ms: u64,
}

impl Default for HeartbeatPolicy {
    /// Returns one heartbeat a minute, and one every 15 s during an alert.
    fn default() -> Self {
        Self { interval_ms: 60_000, alert_interval_ms: 15_000 }
    }
}

impl HeartbeatPolicy {
    fn validate(&self) -> Result<()> {
        if self.interval_ms == 0 {
            return Err(Error::invalid("interval_ms", "must be positive"));
        }
        if self.alert_interval_ms == 0 {
            return Err(Error::invalid("alert_interval_ms", "must be positive"));
        }
        Ok(())
    }
}

/// The heartbeat task's parts that live as long as the [`Vigil`] does.
#[derive(Default)]
pub(super) struct HeartbeatSlot {
    /// The protection state the shell supplied last; no heartbeat is sent before it does.
    state: Mutex<Option<ProtectionState>>,
    /// Wakes the task when the state changes, so the SOC learns of the change at once.
    changed: Arc<Notify>,
    task: Mutex<Option<AbortHandle>>,
}

impl Drop for HeartbeatSlot {
    fn drop(&mut self) {
        let task = self.task.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(task) = task.take() {
            task.abort();
        }
    }
}

impl Vigil {
    /// Sets the protection state that scheduled heartbeats carry. A changed state is sent
    /// at once when the heartbeat task runs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a battery over 100 %.
    pub fn set_protection_state(&self, state: ProtectionState) -> Result<()> {
        state.validate()?;
        let slot = &self.inner.heartbeats;
        let changed = {
            let mut current = lock(&slot.state);
            let changed = *current != Some(state);
            *current = Some(state);
            changed
        };
        if changed {
            slot.changed.notify_one();
        }
        Ok(())
    }

    /// Starts the heartbeat task on `runtime` with `policy`, replacing a running one. It
    /// sends the first heartbeat once the shell has set the protection state.
    ///
    /// The task sends nothing while Vigil is paused ([`Vigil::pause`]), and stops with
    /// [`Vigil::stop_heartbeats`] or when the last clone of this `Vigil` is dropped. A
    /// failed heartbeat is not resent, because the next one replaces it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a zero interval.
    pub fn start_heartbeats(
        &self,
        runtime: &tokio::runtime::Handle,
        policy: HeartbeatPolicy,
    ) -> Result<()> {
        policy.validate()?;
        let slot = &self.inner.heartbeats;
        let mut task = lock(&slot.task);
        if let Some(running) = task.take() {
            running.abort();
        }
        let run = run_heartbeats(Arc::downgrade(&self.inner), slot.changed.clone(), policy);
        *task = Some(runtime.spawn(run).abort_handle());
        tracing::info!(
            interval_ms = policy.interval_ms,
            alert_interval_ms = policy.alert_interval_ms,
            "heartbeats started"
        );
        Ok(())
    }

    /// Stops the heartbeat task; stopping a stopped task does nothing.
    pub fn stop_heartbeats(&self) {
        if let Some(task) = lock(&self.inner.heartbeats.task).take() {
            task.abort();
            tracing::info!("heartbeats stopped");
        }
    }

    /// Returns whether an alert is active, which makes heartbeats faster.
    async fn alerting(&self) -> Result<bool> {
        let active = self.blocking(|vigil| vigil.store().active_alerts()).await?;
        Ok(active.iter().any(|(_, status)| {
            matches!(status.state, AlertState::Stored | AlertState::Sent | AlertState::Delivered)
        }))
    }
}

/// The heartbeat task's loop. It wakes at least every `alert_interval_ms` to check for an
/// active alert, and keeps a reference to the `Vigil` only during a round, so dropping the app's last
/// clone ends it.
async fn run_heartbeats(vigil: Weak<Inner>, changed: Arc<Notify>, policy: HeartbeatPolicy) {
    let interval = Duration::from_millis(policy.interval_ms);
    let alert_interval = Duration::from_millis(policy.alert_interval_ms);
    let check_every = interval.min(alert_interval);
    let mut last_sent: Option<Instant> = None;
    let mut failures: u32 = 0;

    loop {
        let Some(inner) = vigil.upgrade() else {
            return;
        };
        let vigil_now = Vigil { inner };
        let state = *lock(&vigil_now.inner.heartbeats.state);

        if let Some(state) = state
            && !vigil_now.is_paused()
        {
            let alerting = vigil_now.alerting().await.unwrap_or_else(|error| {
                tracing::warn!(%error, "failed to read the active alerts for the heartbeat");
                false
            });
            let due_after = if alerting { alert_interval } else { interval };
            if last_sent.is_none_or(|sent| sent.elapsed() >= due_after) {
                last_sent = Some(Instant::now());
                match vigil_now.send_heartbeat(state).await {
                    Ok(()) => {
                        if failures > 0 {
                            tracing::info!(failures, "heartbeats get through again");
                        }
                        failures = 0;
                    }
                    Err(error) => {
                        failures += 1;
                        // Logged at warn on the 1st, 2nd, 4th, 8th... failure in a row.
                        if failures.is_power_of_two() {
                            tracing::warn!(%error, failures, "heartbeat failed");
                        } else {
                            tracing::debug!(%error, failures, "heartbeat failed");
                        }
                    }
                }
            }
        }
        drop(vigil_now);

        let next_check = Instant::now() + check_every;
        tokio::select! {
            () = tokio::time::sleep_until(next_check) => {}
            () = changed.notified() => {
                // A new state is news for the SOC: send it at the next round.
                last_sent = None;
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
