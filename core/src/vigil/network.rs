//! Hints from the app about the network.

use super::Vigil;

impl Vigil {
    /// Tells Vigil that the network changed, for example from no connection to Wi-Fi. A
    /// sync waiting to retry tries again at once, with its backoff reset.
    ///
    /// Returns whether a sync was running. When none was, the app should call
    /// [`Vigil::sync_now`] itself if it wants an attempt.
    pub fn network_changed(&self) -> bool {
        // A sync holds this lock for its whole run, so a free lock means none is running.
        let running = self.inner.sync_lock.try_lock().is_err();
        self.inner.network_changed.notify_waiters();
        running
    }
}
