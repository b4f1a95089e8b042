//! Sync of the outbox and the assignments with the SOC server.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::Vigil;
use crate::error::{Error, Result};
use crate::model::Record;
use crate::protocol::{EnrollRequest, PushRequest};
use crate::store::{QueuedRecord, SyncCounts};
use crate::sync::{Backoff, client::is_unauthorized, is_transient};

pub(super) const DEVICE_TOKEN: &str = "device_token";
const ASSIGNMENTS_CURSOR: &str = crate::store::ASSIGNMENTS_CURSOR;

/// Largest push body the client builds, in bytes of JSON. The reference server accepts
/// 4 MiB; a smaller batch keeps one lost request cheap on a mobile link.
pub(super) const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// Longest wait between two retries of a sync step.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// What one call to [`Vigil::sync_now`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncSummary {
    /// Panic alerts the SOC confirmed.
    pub panics_delivered: u64,
    /// Records the server acknowledged, panic alerts included.
    pub acknowledged: u64,
    /// Records the server refused for good.
    pub rejected: u64,
    /// Sites received from the server.
    pub sites_received: u64,
    /// The store's counts after the sync.
    pub counts: SyncCounts,
}

impl Vigil {
    /// Sends every queued record and pulls new assignments: panic alerts first, one by one
    /// on the panic lane, then the rest of the outbox in batches by priority.
    ///
    /// Each step is retried with exponential backoff when the server is unreachable or
    /// fails; a record leaves the outbox only when the server acknowledges it.
    ///
    /// # Errors
    ///
    /// [`Error::Offline`] or [`Error::Server`] when a step still fails after the configured
    /// attempts, and [`Error::UntrustedServer`] at once, without retries, when the server's
    /// TLS certificate is rejected; everything not acknowledged stays queued.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: each batch is acknowledged in its own transaction after the server's
    /// reply, so cancelling leaves unacknowledged records queued, and a resend is harmless
    /// because the server stores records idempotently.
    pub async fn sync_now(&self) -> Result<SyncSummary> {
        self.sync_until(None).await
    }

    /// Works as [`Vigil::sync_now`] within a time budget, for the platforms' background
    /// schedulers (WorkManager, BGTaskScheduler). Once the budget is spent it starts no
    /// new request and no new retry wait, and returns what it did: records still pending
    /// stay queued for the next sync.
    ///
    /// It returns within `budget` plus at most one request timeout
    /// ([`Config::request_timeout_ms`](crate::Config::request_timeout_ms)), because a
    /// request already sent is allowed to finish so its acknowledgement is not lost.
    ///
    /// # Errors
    ///
    /// As [`Vigil::sync_now`]; a step that fails and has no budget left for a retry
    /// returns its error.
    ///
    /// # Cancel safety
    ///
    /// As [`Vigil::sync_now`].
    pub async fn sync_within(&self, budget: Duration) -> Result<SyncSummary> {
        self.sync_until(Some(Instant::now() + budget)).await
    }

    async fn sync_until(&self, deadline: Option<Instant>) -> Result<SyncSummary> {
        let _one_sync_at_a_time = self.inner.sync_lock.lock().await;
        let mut summary = SyncSummary::default();

        // A panic record stored outside `raise_alert` is on the lane too, but the lane
        // learns of it only when woken.
        // NOTE: when the lane runs, an alert still queued below may be posted by both the
        // lane and this loop. The server stores it once, so the cost is one request.
        self.inner.alerts_wake();
        let token = self.retrying(deadline, || self.device_token()).await?;

        for panic in self.blocking(|vigil| vigil.store().outbox_page(100, Some("panic"))).await? {
            if is_past(deadline) {
                return self.finish(summary, "the time budget ran out").await;
            }
            match self.retrying(deadline, || self.deliver_panic(&panic)).await {
                Ok(_) => {
                    summary.panics_delivered += 1;
                    summary.acknowledged += 1;
                }
                // A rejected alert must not hold up the outbox behind it. It stays queued
                // and goes with the first batch, whose reply records the rejection.
                Err(Error::Server { status: 403 | 409 | 422, .. }) => {
                    tracing::warn!(record = %panic.id, "the server rejected a panic alert on the panic lane; sending it with the outbox");
                }
                Err(error) => return Err(error),
            }
        }

        if !is_past(deadline) {
            summary.sites_received =
                self.retrying(deadline, || self.pull_assignments(&token)).await?;
        }

        if !is_past(deadline)
            && let Some(seq) = self.retrying(deadline, || self.pull_commands(&token)).await?
        {
            self.run_remote_wipe(&token, seq, deadline, &mut summary).await?;
        }

        loop {
            if is_past(deadline) {
                return self.finish(summary, "the time budget ran out").await;
            }
            let batch_size = self.config().batch_size;
            let batch = self
                .blocking(move |vigil| vigil.store().outbox_batch(batch_size, MAX_BATCH_BYTES))
                .await?;
            if batch.is_empty() {
                break;
            }
            let (acknowledged, rejected) =
                self.retrying(deadline, || self.push_batch(&token, &batch)).await?;
            summary.acknowledged += acknowledged;
            summary.rejected += rejected;
        }

        // Records adopted from a locked database go after the device's own.
        loop {
            if is_past(deadline) {
                return self.finish(summary, "the time budget ran out").await;
            }
            let batch_size = self.config().batch_size;
            let batch = self
                .blocking(move |vigil| vigil.store().adopted_batch(batch_size, MAX_BATCH_BYTES))
                .await?;
            if batch.is_empty() {
                break;
            }
            let (acknowledged, rejected) =
                self.retrying(deadline, || self.push_adopted(&token, &batch)).await?;
            summary.acknowledged += acknowledged;
            summary.rejected += rejected;
        }

        // Media goes last, after every record: see `attachment_upload`.
        if !self.upload_attachments(&token, deadline).await? {
            return self.finish(summary, "the time budget ran out").await;
        }

        self.finish(summary, "the outbox is empty").await
    }

    async fn finish(&self, mut summary: SyncSummary, reason: &'static str) -> Result<SyncSummary> {
        summary.counts = self.blocking(|vigil| vigil.store().sync_counts()).await?;
        tracing::info!(
            acknowledged = summary.acknowledged,
            rejected = summary.rejected,
            pending = summary.counts.pending,
            reason,
            "sync finished"
        );
        Ok(summary)
    }

    /// Sends one panic alert on the alert lane's client and records its delivery. Returns
    /// when the SOC stored it, by the server's clock.
    pub(super) async fn deliver_panic(&self, record: &Record) -> Result<i64> {
        // NOTE: the alert lane sends no device clock header, so the server corrects the
        // time of an alert only if it also arrives through a push.
        let reply = self.send_alert(record).await?;
        tracing::info!(record = %record.id, "panic alert delivered");
        Ok(reply.delivered_at_ms)
    }

    /// Returns the stored device token, enrolling the device first if it has none.
    ///
    /// A device enrolled by an earlier version has a token but not the SOC's sealing key;
    /// it enrolls again to receive the key.
    pub(super) async fn device_token(&self) -> Result<String> {
        if let Some(token) = self.blocking(|vigil| vigil.enrolled_token()).await? {
            return Ok(token);
        }

        let _one_enrollment_at_a_time = self.inner.enroll_lock.lock().await;
        if let Some(token) = self.blocking(|vigil| vigil.enrolled_token()).await? {
            return Ok(token);
        }

        let request = EnrollRequest {
            device_id: self.config().device_id.clone(),
            guard_id: self.config().guard_id.clone(),
            enrollment_code: self.config().enrollment_code.clone(),
            public_key: Some(super::device_key::encode_public_key(&self.inner.signing_key)),
        };
        let reply = self.inner.client.enroll(&request).await?;
        let token = reply.device_token.clone();
        let soc_public_key = reply.soc_public_key.clone();
        self.blocking(move |vigil| {
            // The SOC key is stored first: a token without it would let records go out
            // sealed at push time only.
            if let Some(soc_public_key) = &soc_public_key {
                vigil.save_soc_public_key(soc_public_key)?;
            }
            vigil.store().set_setting(DEVICE_TOKEN, &token)
        })
        .await?;

        tracing::info!("device enrolled");
        Ok(reply.device_token)
    }

    async fn pull_assignments(&self, token: &str) -> Result<u64> {
        let cursor = self
            .blocking(|vigil| vigil.store().setting(ASSIGNMENTS_CURSOR))
            .await?
            .and_then(|cursor| cursor.parse::<i64>().ok())
            .unwrap_or(0);

        let before = self.clock_sample();
        let reply = self.inner.client.assignments(token, cursor).await?;
        self.note_server_time(before, self.clock_sample(), reply.server_time_ms).await?;
        let received = reply.sites.len() as u64;
        let mut reply = reply;
        reply.sites.retain(|site| match site.validate() {
            Ok(()) => true,
            Err(error) => {
                // Skipping the site keeps the others usable; the SOC's fix arrives as a
                // newer revision.
                tracing::error!(%error, "ignored an invalid site from the server");
                false
            }
        });
        self.blocking(move |vigil| {
            if !reply.tag_keys.is_empty() {
                vigil.store().save_tag_keys(&reply.tag_keys)?;
            }
            vigil.store().save_sites(&reply.sites, Some(reply.cursor))
        })
        .await?;
        Ok(received)
    }

    /// Pushes one batch and applies the reply. Returns the acknowledged and rejected counts.
    pub(super) async fn push_batch(
        &self,
        token: &str,
        batch: &[QueuedRecord],
    ) -> Result<(u64, u64)> {
        let ids: Vec<_> = batch.iter().map(|record| record.id).collect();
        let sent_ids = ids.clone();
        self.blocking(move |vigil| vigil.store().mark_sent(&sent_ids)).await?;

        let queued = batch.to_vec();
        let records = self.blocking(move |vigil| vigil.sealed_records(&queued)).await?;
        let request = PushRequest { records };
        let before = self.clock_sample();
        let reply = self.inner.client.push_with_clock(token, &request, before.as_ref()).await?;
        self.note_server_time(before, self.clock_sample(), reply.server_time_ms).await?;

        // Only ids this batch contained count: a confused server cannot acknowledge records
        // it was never sent.
        let acknowledged: Vec<_> = reply.acked.into_iter().filter(|id| ids.contains(id)).collect();
        let rejected: Vec<_> =
            reply.rejected.into_iter().filter(|rejection| ids.contains(&rejection.id)).collect();
        if acknowledged.is_empty() && rejected.is_empty() {
            return Err(Error::Server {
                status: 0,
                message: format!(
                    "the server answered a batch of {} records with no result",
                    ids.len()
                ),
                retry_after_ms: None,
            });
        }

        let counts = (acknowledged.len() as u64, rejected.len() as u64);
        let acked_at_ms = self.now_ms();
        self.blocking(move |vigil| {
            vigil.store().mark_acknowledged(&acknowledged, acked_at_ms)?;
            for rejection in &rejected {
                tracing::warn!(record = %rejection.id, code = %rejection.code, "the server rejected a record");
                vigil.store().mark_rejected(rejection.id, &format!("{}: {}", rejection.code, rejection.message))?;
            }
            Ok(())
        })
        .await?;
        Ok(counts)
    }

    /// Runs a sync step, retrying transient failures with backoff. A refused token is
    /// forgotten so that the next attempt enrolls again.
    ///
    /// The wait before a retry is the longer of the backoff delay and the server's
    /// `Retry-After`. A wait that would pass `deadline` or [`MAX_RETRY_DELAY`] is not
    /// started: the step's error is returned and the records stay queued. A network-change
    /// hint ([`Vigil::network_changed`]) ends a wait at once and resets the backoff.
    pub(super) async fn retrying<T, F: Future<Output = Result<T>>>(
        &self,
        deadline: Option<Instant>,
        step: impl Fn() -> F,
    ) -> Result<T> {
        let base = Duration::from_millis(self.config().retry_base_delay_ms);
        let mut backoff = Backoff::new(base, MAX_RETRY_DELAY);
        let mut attempt = 1;

        loop {
            let error = match step().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };

            if is_unauthorized(&error) {
                self.blocking(|vigil| vigil.store().delete_setting(DEVICE_TOKEN)).await?;
            } else if !is_transient(&error) {
                return Err(error);
            }
            if attempt >= self.config().sync_attempts {
                tracing::warn!(%error, attempt, "sync step failed; giving up for now");
                return Err(error);
            }

            let delay = backoff.next_delay().max(retry_after(&error));
            if delay > MAX_RETRY_DELAY || deadline.is_some_and(|end| Instant::now() + delay > end) {
                tracing::info!(%error, attempt, delay_ms = delay.as_millis() as u64, "sync step failed; no time left to wait for a retry");
                return Err(error);
            }

            tracing::info!(%error, attempt, delay_ms = delay.as_millis() as u64, "sync step failed; retrying");
            let network_changed = self.inner.network_changed.notified();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = network_changed => {
                    tracing::info!("the network changed; retrying at once");
                    backoff = Backoff::new(base, MAX_RETRY_DELAY);
                }
            }
            attempt += 1;
        }
    }
}

/// Returns whether the time budget ending at `deadline` is spent.
pub(super) fn is_past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|end| Instant::now() >= end)
}

/// Returns the wait the server asked for in a `Retry-After` header, or zero.
fn retry_after(error: &Error) -> Duration {
    match error {
        Error::Server { retry_after_ms: Some(ms), .. } => Duration::from_millis(*ms),
        _ => Duration::ZERO,
    }
}
