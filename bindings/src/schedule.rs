//! Sync under the platforms' background schedulers and network hints.

use std::time::Duration;

use crate::{SyncSummary, Vigil, VigilError, runtime};

#[uniffi::export]
impl Vigil {
    /// Syncs as `sync_now` does, within a time budget in milliseconds, for WorkManager and
    /// BGTaskScheduler. Once the budget is spent it starts no new request and returns;
    /// records still pending (`counts.pending`) stay queued for the next sync. It returns
    /// within the budget plus at most one request timeout, because a request already
    /// sent may finish so that its acknowledgement is not lost.
    ///
    /// # Errors
    ///
    /// `Offline` or `Server` when a step fails and no budget is left to retry it, and
    /// `UntrustedServer` at once when the SOC's TLS certificate is rejected; nothing is
    /// lost.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the sync runs on Vigil's runtime, and a record leaves the outbox only
    /// in the transaction that stores the server's acknowledgement.
    pub async fn sync_within(&self, budget_ms: u64) -> Result<SyncSummary, VigilError> {
        let core = self.core.clone();
        let budget = Duration::from_millis(budget_ms);
        let summary = runtime().spawn(async move { core.sync_within(budget).await }).await??;
        Ok(summary.into())
    }

    /// Tells Vigil that the network changed, for example from no connection to Wi-Fi. A
    /// sync waiting to retry tries again at once; when no sync is running, one starts in
    /// the background. Returns at once.
    pub fn network_changed(&self) {
        if self.core.network_changed() {
            return;
        }
        let core = self.core.clone();
        runtime().spawn(async move {
            if let Err(error) = core.sync_now().await {
                tracing::info!(%error, "the sync after a network change failed; records stay queued");
            }
        });
    }
}
