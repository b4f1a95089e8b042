//! The alert lane: the task that sends panic alerts, apart from sync.
//!
//! An alert is sent as soon as it is stored, then again at a fixed interval until an
//! operator acknowledges it. The lane never takes the sync lock, never waits for an outbox
//! batch and has its own HTTP client, so an upload in progress does not hold it up, and
//! the sync backoff does not apply to it. Opening the store and starting the lane resumes
//! every alert that a previous run stored but did not finish.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, broadcast};
use tokio::task::{AbortHandle, JoinSet};
use uuid::Uuid;

use super::sync::DEVICE_TOKEN;
use super::{Inner, Vigil};
use crate::alert::{AlertListener, AlertState, AlertStatus, LocationRequester, SmsSender};
use crate::error::Result;
use crate::model::{AlertKind, Record, RecordBody};
use crate::protocol::{PanicRequest, PanicResponse, PushRequest};
use crate::store::AlertTransition;
use crate::sync::SyncClient;
use crate::sync::client::is_unauthorized;

/// Most cancel events pushed in one request.
const CANCEL_PAGE: usize = 50;

/// Send outcomes buffered for a slow receiver; one that falls further behind reads the
/// alert's state from the store instead.
const ATTEMPTS_BUFFER: usize = 256;

/// The alert lane's parts that live as long as the [`Vigil`] does.
pub(super) struct AlertLane {
    /// The lane's own HTTP client, with the shorter alert time limit.
    client: SyncClient,
    /// Wakes the lane when an alert is stored.
    wake: Arc<Notify>,
    /// The app's listener, if it set one.
    listener: Mutex<Option<Arc<dyn AlertListener>>>,
    /// The shell's location service, if it set one.
    location: Mutex<Option<Arc<dyn LocationRequester>>>,
    /// The shell's SMS and phone service, if it set one.
    pub(super) sms_sender: Mutex<Option<Arc<dyn SmsSender>>>,
    /// The lone-worker check-in timer.
    pub(super) lone_worker: super::lone_worker::Slot,
    /// The no-motion detector.
    pub(super) man_down: Mutex<super::man_down::ManDownSlot>,
    /// The running lane task, if it was started.
    task: Mutex<Option<AbortHandle>>,
    /// Held from a state change until the listener has been told of it, so that the
    /// listener receives the states of an alert in order.
    publish_order: Mutex<()>,
    /// The outcome of every finished send: the alert's id and its delivery time, `None`
    /// when the attempt failed. [`Vigil::raise_panic_and_send`] waits on it.
    attempts: broadcast::Sender<SendAttempt>,
}

/// The outcome of one send of an alert by the lane.
#[derive(Debug, Clone, Copy)]
pub(super) struct SendAttempt {
    pub(super) id: Uuid,
    /// When the SOC stored the alert, by its clock; `None` when the send failed.
    pub(super) delivered_at_ms: Option<i64>,
}

impl AlertLane {
    /// Creates the lane's parts around its own client.
    pub(super) fn new(client: SyncClient) -> Self {
        Self {
            client,
            wake: Arc::new(Notify::new()),
            listener: Mutex::new(None),
            location: Mutex::new(None),
            sms_sender: Mutex::new(None),
            lone_worker: Default::default(),
            man_down: Default::default(),
            task: Mutex::new(None),
            publish_order: Mutex::new(()),
            attempts: broadcast::channel(ATTEMPTS_BUFFER).0,
        }
    }

    /// Returns a receiver of the outcome of every send that finishes from now on.
    pub(super) fn subscribe_attempts(&self) -> broadcast::Receiver<SendAttempt> {
        self.attempts.subscribe()
    }

    /// Returns whether the lane task runs.
    pub(super) fn is_running(&self) -> bool {
        let task = self.task.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        task.as_ref().is_some_and(|running| !running.is_finished())
    }
}

impl Inner {
    /// Wakes the alert lane, or makes its next wait return at once.
    pub(super) fn alerts_wake(&self) {
        self.alerts.wake.notify_one();
    }
}

impl AlertLane {
    pub(super) fn lock_publish_order(&self) -> std::sync::MutexGuard<'_, ()> {
        self.publish_order.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for AlertLane {
    fn drop(&mut self) {
        let task = self.task.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(task) = task.take() {
            task.abort();
        }
    }
}

impl Vigil {
    /// Stores an alert of `kind` durably with the best current fix, tells the listener,
    /// and wakes the alert lane to send it at once.
    ///
    /// The alert is on disk when this returns, so it goes out after a restart even if the
    /// app is killed right away. Without a started lane it waits for
    /// [`Vigil::start_alert_lane`] or the next [`Vigil::sync_now`].
    ///
    /// # Errors
    ///
    /// Storage errors only: an alert needs no shift, no fix and no enrollment.
    pub fn raise_alert(&self, kind: AlertKind) -> Result<(Record, AlertStatus)> {
        self.store().ensure_not_wiped()?;
        // An alert must be stored even if the shift lookup fails, so that error is ignored.
        let shift_id = self.active_shift_id().ok().flatten();
        let body = RecordBody::Panic { alert: kind };
        let record = self.new_record(shift_id, self.current_location(), body);
        let in_order = self.inner.alerts.lock_publish_order();
        let (stored, status) = self.store().append_alert(record)?;
        self.publish_alert(status.clone());
        drop(in_order);

        if kind == AlertKind::Duress {
            // Logs can be read on the phone, so a duress alert leaves no trace there.
            tracing::debug!(record = %stored.id, "alert raised");
        } else {
            tracing::warn!(record = %stored.id, kind = kind.code(), "alert raised");
        }
        self.inner.alerts_wake();
        Ok((stored, status))
    }

    /// Returns the current state of an alert.
    ///
    /// # Errors
    ///
    /// [`crate::Error::NotFound`] if no alert has this record id; storage errors.
    pub fn alert_status(&self, record_id: Uuid) -> Result<AlertStatus> {
        self.store().alert(record_id)
    }

    /// Sets the listener notified of every alert state change, replacing any earlier one;
    /// `None` removes it.
    pub fn set_alert_listener(&self, listener: Option<Arc<dyn AlertListener>>) {
        *self.inner.alerts.listener.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            listener;
    }

    /// Sets the shell's location service, from which Vigil requests high-accuracy fixes while an
    /// alert is active; `None` removes it.
    pub fn set_location_requester(&self, requester: Option<Arc<dyn LocationRequester>>) {
        *self.inner.alerts.location.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            requester;
        self.inner.alerts_wake();
    }

    /// Starts the alert lane on `runtime`, unless it runs already. It first sends every
    /// alert a previous run left undelivered or unacknowledged.
    ///
    /// The lane stops when the last clone of this `Vigil` is dropped.
    pub fn start_alert_lane(&self, runtime: &tokio::runtime::Handle) {
        let mut task =
            self.inner.alerts.task.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if task.as_ref().is_some_and(|running| !running.is_finished()) {
            return;
        }

        let lane =
            runtime.spawn(run_lane(Arc::downgrade(&self.inner), self.inner.alerts.wake.clone()));
        *task = Some(lane.abort_handle());
        tracing::info!("alert lane started");
    }

    /// Sends one alert on the alert lane's client and applies the SOC's reply to its state.
    /// Returns the reply.
    pub(super) async fn send_alert(&self, record: &Record) -> Result<PanicResponse> {
        let id = record.id;

        // Recording "sent" costs a disk sync, so it runs beside the request instead of
        // before it; both finish before the delivery is recorded.
        let sent = self.advance_alert(id, AlertTransition::Sent);
        let post = async {
            // The token first: enrolling stores the SOC key that an alert raised before
            // the first enrollment is sealed to here.
            let token = self.device_token().await?;
            let sealed = self.blocking(move |vigil| vigil.sealed_records_by_id(&[id])).await?;
            let Some(sealed) = sealed.into_iter().next() else {
                return Err(crate::Error::NotFound { what: "record", id: id.to_string() });
            };
            self.inner.alerts.client.panic(&token, &PanicRequest { record: sealed }).await
        };
        let (sent, reply) = tokio::join!(sent, post);
        sent?;
        let reply = reply?;

        let delivered_at_ms = reply.delivered_at_ms;
        self.advance_alert(id, AlertTransition::Delivered { delivered_at_ms }).await?;
        if let Some(acknowledged_at_ms) = reply.acknowledged_at_ms {
            self.advance_alert(id, AlertTransition::Acknowledged { acknowledged_at_ms }).await?;
        }
        Ok(reply)
    }

    /// Waits for the lane's first finished send of alert `id`, and returns when the SOC
    /// stored it. `attempts` must have been subscribed before the alert was stored, so that
    /// no outcome is missed.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Offline`] when the send failed or none finished within the
    /// enrollment and alert time limits; the lane keeps resending the alert.
    pub(super) async fn first_lane_attempt(
        &self,
        id: Uuid,
        mut attempts: broadcast::Receiver<SendAttempt>,
    ) -> Result<i64> {
        let config = self.config();
        let limit = Duration::from_millis(
            config.request_timeout_ms.saturating_add(config.alert_request_timeout_ms),
        );
        let outcome = tokio::time::timeout(limit, async {
            loop {
                match attempts.recv().await {
                    Ok(attempt) if attempt.id == id => return attempt.delivered_at_ms,
                    Ok(_) => {}
                    // The outcome may be among the skipped messages, so read it from the store.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let status = self.blocking(move |vigil| vigil.store().alert(id)).await;
                        let delivered = status.ok().and_then(|status| status.delivered_at_ms);
                        if let Some(delivered_at_ms) = delivered {
                            return Some(delivered_at_ms);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .await;

        match outcome {
            Ok(Some(delivered_at_ms)) => Ok(delivered_at_ms),
            Ok(None) => Err(crate::Error::Offline(
                "the first send of the alert failed; the alert lane resends it".into(),
            )),
            Err(_) => Err(crate::Error::Offline(format!(
                "no send of the alert finished within {} ms; the alert lane resends it",
                limit.as_millis()
            ))),
        }
    }

    /// Applies a transition durably and notifies the listener if the state changed.
    async fn advance_alert(&self, id: Uuid, transition: AlertTransition) -> Result<()> {
        let now_ms = self.now_ms();
        self.blocking(move |vigil| {
            let _in_order = vigil.inner.alerts.lock_publish_order();
            if let Some(status) = vigil.store().advance_alert(id, transition, now_ms)? {
                tracing::info!(record = %id, state = status.state.code(), "alert state changed");
                vigil.publish_alert(status);
            }
            Ok(())
        })
        .await
    }

    /// Tells the listener of a state change, except for duress alerts, which stay silent on
    /// the phone. A panicking listener is logged, not propagated, so the lane keeps running.
    pub(super) fn publish_alert(&self, status: AlertStatus) {
        if status.kind == AlertKind::Duress {
            return;
        }
        let listener = self
            .inner
            .alerts
            .listener
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let Some(listener) = listener else {
            return;
        };

        let record = status.record_id;
        let call = std::panic::catch_unwind(AssertUnwindSafe(|| listener.on_alert_state(status)));
        if call.is_err() {
            tracing::error!(%record, "the alert listener panicked; the alert lane goes on");
        }
    }
}

/// The result of one send task of the lane.
enum SendResult {
    /// An alert send, started at `started`.
    Alert { id: Uuid, started: Instant, result: Result<PanicResponse> },
    /// A push of cancel events; `Ok(true)` when more are queued.
    Cancels(Result<bool>),
    /// A push of the newest queued fix while an alert is active.
    LocationUpdate(Result<()>),
}

/// The lane's loop. Each alert is sent when it is due: at once when the lane first sees
/// it, then one resend interval after the start of its previous attempt. Sends run as
/// their own tasks, so a slow request for one alert never holds up a new one. The loop
/// holds the `Vigil` only while it reads the store, so dropping the app's last clone ends
/// it, and with it the sends in progress.
async fn run_lane(vigil: Weak<Inner>, wake: Arc<Notify>) {
    let mut due: HashMap<Uuid, Instant> = HashMap::new();
    let mut attempts: HashMap<Uuid, u32> = HashMap::new();
    let mut in_flight: HashSet<Uuid> = HashSet::new();
    let mut cancels_in_flight = false;
    let mut cancels_due = Instant::now();
    let mut sends: JoinSet<SendResult> = JoinSet::new();
    let mut high_accuracy: Option<bool> = None;
    let mut update_in_flight = false;
    let mut update_due = Instant::now();
    let mut sms = super::sms_fallback::SmsFallback::default();

    loop {
        let Some(inner) = vigil.upgrade() else {
            return;
        };
        let vigil_now = Vigil { inner };
        let interval = Duration::from_millis(vigil_now.config().alert_resend_interval_ms);
        let now = Instant::now();

        let active = match vigil_now.blocking(|vigil| vigil.store().active_alerts()).await {
            Ok(active) => active,
            Err(error) => {
                tracing::error!(%error, "failed to read the active alerts; retrying");
                Vec::new()
            }
        };
        due.retain(|id, _| active.iter().any(|(record, _)| record.id == *id));
        let alerting = active.iter().any(|(_, status)| status.state != AlertState::Cancelled);
        request_high_accuracy(&vigil_now, alerting, &mut high_accuracy);
        if alerting && !update_in_flight && update_due <= now {
            update_in_flight = true;
            let vigil = vigil_now.clone();
            sends.spawn(
                async move { SendResult::LocationUpdate(send_location_update(&vigil).await) },
            );
        }
        attempts.retain(|id, _| due.contains_key(id));
        let sms_due = sms.poll(&vigil_now, &active, now).await;
        let man_down_due = match vigil_now.blocking(|vigil| vigil.tick_man_down()).await {
            Ok(next) => next.map(|in_ms| now + Duration::from_millis(in_ms)),
            Err(error) => {
                tracing::error!(%error, "failed to check the man-down detector; retrying");
                Some(now + interval)
            }
        };
        let lone_worker_due = match vigil_now.blocking(|vigil| vigil.tick_lone_worker()).await {
            Ok(next) => next.map(|in_ms| now + Duration::from_millis(in_ms)),
            Err(error) => {
                tracing::error!(%error, "failed to check the lone-worker timer; retrying");
                Some(now + interval)
            }
        };

        for (record, _) in active {
            let id = record.id;
            let when = *due.entry(id).or_insert(now);
            if when > now || in_flight.contains(&id) {
                continue;
            }
            in_flight.insert(id);
            let vigil = vigil_now.clone();
            sends.spawn(async move {
                let started = Instant::now();
                let result = vigil.send_alert(&record).await;
                let delivered_at_ms = result.as_ref().ok().map(|reply| reply.delivered_at_ms);
                // Usually no caller waits on this alert, so a send without receivers is expected.
                let _ = vigil.inner.alerts.attempts.send(SendAttempt { id, delivered_at_ms });
                SendResult::Alert { id, started, result }
            });
        }
        if !cancels_in_flight && cancels_due <= now {
            cancels_in_flight = true;
            let vigil = vigil_now.clone();
            sends.spawn(async move { SendResult::Cancels(send_cancel_events(&vigil).await) });
        }
        drop(vigil_now);

        let next_due = due
            .iter()
            .filter(|(id, _)| !in_flight.contains(*id))
            .map(|(_, when)| *when)
            .chain((!cancels_in_flight).then_some(cancels_due).filter(|when| *when > now))
            .chain((alerting && !update_in_flight).then_some(update_due))
            .chain(sms_due)
            .chain(lone_worker_due)
            .chain(man_down_due)
            .min();
        tokio::select! {
            () = wake.notified() => {
                // A wake may come from a new cancel event too.
                if !cancels_in_flight {
                    cancels_due = Instant::now();
                }
            }
            () = sleep_until(next_due) => {}
            Some(joined) = sends.join_next(), if !sends.is_empty() => {
                match joined {
                    Ok(SendResult::Alert { id, started, result }) => {
                        in_flight.remove(&id);
                        due.insert(id, started + interval);
                        let attempt = attempts.entry(id).or_default();
                        *attempt += 1;
                        if let Err(error) = result {
                            log_send_failure(id, *attempt, &error);
                            delete_rejected_token(&vigil, &error).await;
                        }
                    }
                    Ok(SendResult::LocationUpdate(result)) => {
                        update_in_flight = false;
                        update_due = Instant::now() + interval;
                        if let Err(error) = result {
                            tracing::debug!(%error, "alert location update failed; resending");
                        }
                    }
                    Ok(SendResult::Cancels(result)) => {
                        cancels_in_flight = false;
                        let more = result.unwrap_or_else(|error| {
                            tracing::warn!(%error, "failed to send alert cancel events; resending");
                            true
                        });
                        cancels_due = if more { Instant::now() + interval } else { far_future() };
                    }
                    Err(error) => {
                        // The task's alert stays in `in_flight` until the next wake, so it
                        // is not lost: clear everything and let the next round resend.
                        tracing::error!(%error, "an alert send task failed; resending");
                        in_flight.clear();
                        cancels_in_flight = false;
                        update_in_flight = false;
                    }
                }
            }
        }
    }
}

/// Sleeps until `when`, or forever when there is nothing due.
async fn sleep_until(when: Option<Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(when.into()).await,
        None => std::future::pending().await,
    }
}

/// A time far enough ahead to mean "not due", without overflowing `Instant`.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Logs the 1st, 2nd, 4th, 8th... failed attempt of an alert at warn, so that a long
/// outage does not flood the log.
fn log_send_failure(id: Uuid, attempt: u32, error: &crate::Error) {
    if attempt.is_power_of_two() {
        tracing::warn!(record = %id, %error, attempt, "alert send failed; resending");
    } else {
        tracing::debug!(record = %id, %error, attempt, "alert send failed; resending");
    }
}

/// Forgets a device token the server refused, so that the next attempt enrolls again.
async fn delete_rejected_token(vigil: &Weak<Inner>, error: &crate::Error) {
    if !is_unauthorized(error) {
        return;
    }
    let Some(inner) = vigil.upgrade() else {
        return;
    };
    let vigil = Vigil { inner };
    let forget = vigil.blocking(|vigil| vigil.store().delete_setting(DEVICE_TOKEN));
    if let Err(error) = forget.await {
        tracing::error!(%error, "failed to delete the rejected device token");
    }
}

/// Pushes the queued alert cancel events, up to a page at a time. Returns whether any are
/// still queued.
async fn send_cancel_events(vigil: &Vigil) -> Result<bool> {
    let events = vigil
        .blocking(|vigil| vigil.store().outbox_page(CANCEL_PAGE, Some("alert_cancel")))
        .await?;
    if events.is_empty() {
        return Ok(false);
    }

    let token = vigil.device_token().await?;
    let ids: Vec<Uuid> = events.iter().map(|event| event.id).collect();
    let request = PushRequest {
        records: vigil.blocking(move |vigil| vigil.sealed_records_by_id(&ids)).await?,
    };
    let reply = vigil.inner.alerts.client.push(&token, &request).await?;

    let acknowledged_at_ms = vigil.now_ms();
    let acknowledged: Vec<Uuid> = reply
        .acked
        .into_iter()
        .filter(|id| request.records.iter().any(|record| record.id == *id))
        .collect();
    let rejected: Vec<_> = reply
        .rejected
        .into_iter()
        .filter(|rejection| request.records.iter().any(|record| record.id == rejection.id))
        .collect();
    let done = acknowledged.len() + rejected.len();
    vigil
        .blocking(move |vigil| {
            vigil.store().mark_acknowledged(&acknowledged, acknowledged_at_ms)?;
            for rejection in &rejected {
                tracing::warn!(record = %rejection.id, code = %rejection.code, "the server rejected an alert cancel event");
                let reason = format!("{}: {}", rejection.code, rejection.message);
                vigil.store().mark_rejected(rejection.id, &reason)?;
            }
            Ok(())
        })
        .await?;
    tracing::info!(done, "alert cancel events sent");
    Ok(done < request.records.len())
}

/// Tells the shell's location service when the wanted mode changes. `last` is the mode
/// last requested, `None` before the first request.
fn request_high_accuracy(vigil: &Vigil, wanted: bool, last: &mut Option<bool>) {
    if *last == Some(wanted) || (last.is_none() && !wanted) {
        return;
    }
    let requester =
        vigil.inner.alerts.location.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
    let Some(requester) = requester else {
        return;
    };
    let call = std::panic::catch_unwind(AssertUnwindSafe(|| requester.set_high_accuracy(wanted)));
    if call.is_err() {
        tracing::error!("the location requester panicked; the alert lane goes on");
    }
    *last = Some(wanted);
}

/// Pushes the newest queued fix on the alert lane, so that the SOC follows the guard while
/// an alert is active even when the outbox holds a backlog. Older queued fixes wait for
/// sync.
async fn send_location_update(vigil: &Vigil) -> Result<()> {
    let Some(fix) = vigil.blocking(|vigil| vigil.store().newest_queued_fix()).await? else {
        return Ok(());
    };
    let token = vigil.device_token().await?;
    let id = fix.id;
    let records = vigil.blocking(move |vigil| vigil.sealed_records_by_id(&[id])).await?;
    let reply = vigil.inner.alerts.client.push(&token, &PushRequest { records }).await?;
    if reply.acked.contains(&id) {
        let acknowledged_at_ms = vigil.now_ms();
        vigil
            .blocking(move |vigil| vigil.store().mark_acknowledged(&[id], acknowledged_at_ms))
            .await?;
    }
    Ok(())
}
