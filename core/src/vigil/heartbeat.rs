//! The heartbeat: the device's protection state, sent so that the SOC notices a device
//! that goes silent.

use super::Vigil;
use crate::alert::AlertState;
use crate::error::Result;
use crate::protocol::HeartbeatRequest;

/// What the shell knows of the device's protection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtectionState {
    /// Whether the app may read the location.
    pub location_permission: bool,
    /// The battery charge in percent (0 to 100), if the platform reports it.
    pub battery_percent: Option<u8>,
}

impl ProtectionState {
    /// Checks that the battery charge is a percentage.
    pub(super) fn validate(&self) -> Result<()> {
        if self.battery_percent.is_some_and(|percent| percent > 100) {
            return Err(crate::Error::invalid("battery_percent", "must be 0 to 100"));
        }
        Ok(())
    }
}

impl Vigil {
    /// Sends a heartbeat with `state`, the age of the newest trusted fix and the number of
    /// alerts the SOC has not yet stored. [`Vigil::start_heartbeats`] calls it at a fixed
    /// interval, and an app may also call it directly.
    ///
    /// # Errors
    ///
    /// [`crate::Error::InvalidInput`] for a battery over 100 %; [`crate::Error::Offline`]
    /// or [`crate::Error::Server`] when the send fails. A failed heartbeat is not queued,
    /// because the next one replaces it.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: it stores nothing but the device token at enrollment.
    pub async fn send_heartbeat(&self, state: ProtectionState) -> Result<()> {
        state.validate()?;

        let now_ms = self.now_ms();
        let last_fix_age_ms =
            self.current_location().fix().map(|fix| (now_ms - fix.fix_time_ms).max(0));
        let active = self.blocking(|vigil| vigil.store().active_alerts()).await?;
        let pending = active
            .iter()
            .filter(|(_, status)| matches!(status.state, AlertState::Stored | AlertState::Sent))
            .count();
        let request = HeartbeatRequest {
            location_permission: state.location_permission,
            battery_percent: state.battery_percent,
            last_fix_age_ms,
            pending_alerts: u32::try_from(pending).unwrap_or(u32::MAX),
            sent_at_ms: now_ms,
        };

        let token = self.device_token().await?;
        self.inner.client.heartbeat(&token, &request).await?;
        tracing::debug!("heartbeat sent");
        Ok(())
    }
}
