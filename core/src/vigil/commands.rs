//! Commands pulled from the SOC by cursor, and wiping the device's local data.

use std::time::Duration;

use tokio::time::Instant;

use super::Vigil;
use super::sync::{MAX_BATCH_BYTES, SyncSummary};
use crate::error::{Error, Result};
use crate::protocol::CommandKind;

/// The time a remote wipe spends sending the outbox before it deletes everything anyway.
pub const REMOTE_WIPE_FLUSH_BUDGET: Duration = Duration::from_secs(10);

impl Vigil {
    /// Deletes the device's local data: the database with every record, the outbox, the
    /// sync token and the device's signing key, its WAL, its `.key` file, databases moved
    /// aside as corrupt, and the attachments folder next to the database. Every later call on this `Vigil`
    /// (and its clones) fails with [`Error::Wiped`]. Opening the path again starts a fresh
    /// installation, which enrolls under a new device id.
    ///
    /// Records still in the outbox are lost with the rest. A panic alert the SOC has not
    /// confirmed makes the wipe fail unless `force` is true, because an undelivered alert
    /// is the one thing a guard must never lose by mistake.
    ///
    /// NOTE: the key-encryption key that the platform keystore holds is the shell's to
    /// delete.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidState`] if an alert is undelivered and `force` is false, or if a file
    /// could not be deleted (call again); [`Error::Wiped`] if the data is already gone.
    pub fn wipe(&self, force: bool) -> Result<()> {
        self.store().ensure_not_wiped()?;
        if !force {
            self.store().ensure_open()?;
            let undelivered = self.store().undelivered_alerts()?;
            if undelivered > 0 {
                return Err(Error::InvalidState(format!(
                    "{undelivered} panic alert(s) have not reached the SOC; sync first, or \
                     wipe with force to delete them"
                )));
            }
        }

        self.store().wipe()
    }

    /// Pulls the SOC's commands after the stored cursor and applies them in order. Returns
    /// the sequence number of a wipe command once it is accepted, which stops the pull:
    /// the caller then runs [`Vigil::run_remote_wipe`].
    pub(super) async fn pull_commands(&self, token: &str) -> Result<Option<i64>> {
        let cursor = self.blocking(|vigil| vigil.store().commands_cursor()).await?;
        let reply = match self.inner.client.commands(token, cursor).await {
            Ok(reply) => reply,
            // A server older than the commands endpoint has no commands to send, and its
            // sync must keep working.
            Err(Error::Server { status: 404, .. }) => {
                tracing::debug!("the server has no commands endpoint");
                return Ok(None);
            }
            Err(error) => return Err(error),
        };

        let mut applied = None;
        for command in reply.commands.into_iter().filter(|command| command.seq > cursor) {
            let seq = command.seq;
            match command.kind {
                CommandKind::Wipe => {
                    self.blocking(move |vigil| vigil.store().accept_wipe(seq)).await?;
                    tracing::warn!(seq, "the SOC ordered a remote wipe");
                    return Ok(Some(seq));
                }
                CommandKind::Unknown => {
                    tracing::warn!(seq, "skipped a command this version does not know");
                    self.blocking(move |vigil| vigil.store().skip_command(seq)).await?;
                    applied = Some(seq);
                }
            }
        }

        if let Some(seq) = applied {
            // NOTE: a lost acknowledgement is not resent; the operator then sees the
            // command as not acknowledged although the device skipped it.
            if let Err(error) = self.inner.client.acknowledge_commands(token, seq).await {
                tracing::warn!(%error, seq, "failed to acknowledge commands");
            }
        }
        Ok(None)
    }

    /// Finishes an accepted remote wipe: sends the outbox for at most
    /// [`REMOTE_WIPE_FLUSH_BUDGET`] (or until `deadline`), acknowledges the command, then
    /// wipes whatever is left. Always ends in [`Error::Wiped`] unless the wipe itself fails.
    pub(super) async fn run_remote_wipe(
        &self,
        token: &str,
        seq: i64,
        deadline: Option<Instant>,
        summary: &mut SyncSummary,
    ) -> Result<()> {
        let flush_end = Instant::now() + REMOTE_WIPE_FLUSH_BUDGET;
        let deadline = deadline.map_or(flush_end, |end| end.min(flush_end));

        while Instant::now() < deadline {
            let batch_size = self.config().batch_size;
            let batch = self
                .blocking(move |vigil| vigil.store().outbox_batch(batch_size, MAX_BATCH_BYTES))
                .await?;
            if batch.is_empty() {
                break;
            }
            match self.retrying(Some(deadline), || self.push_batch(token, &batch)).await {
                Ok((acknowledged, rejected)) => {
                    summary.acknowledged += acknowledged;
                    summary.rejected += rejected;
                }
                Err(error) => {
                    tracing::warn!(%error, "failed to send the outbox before the remote wipe");
                    break;
                }
            }
        }

        let left = self.blocking(|vigil| vigil.store().sync_counts()).await?.pending;
        if let Err(error) = self.inner.client.acknowledge_commands(token, seq).await {
            tracing::warn!(%error, seq, "failed to acknowledge the remote wipe; wiping anyway");
        }
        tracing::warn!(seq, unsent_records = left, "wiping the device on the SOC's command");
        self.blocking(|vigil| vigil.store().wipe()).await?;
        Err(Error::Wiped)
    }

    /// Finishes a remote wipe that a restart interrupted, before the store is used.
    pub(super) fn finish_interrupted_wipe(store: &crate::store::Store) -> Result<()> {
        if let Some(seq) = store.pending_wipe()? {
            tracing::warn!(seq, "finishing a remote wipe interrupted by a restart");
            store.wipe()?;
            return Err(Error::Wiped);
        }
        Ok(())
    }
}
