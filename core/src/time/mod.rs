//! Trusted time: what a record carries besides the phone's wall clock, and how the true
//! time of its capture is worked out later.
//!
//! The wall clock can be set hours wrong or changed mid-shift. The monotonic clock since
//! boot cannot be set, but restarts at each boot. So each record stores a
//! [`ClockReading`] (the boot's id and the milliseconds since that boot), and each push
//! carries a [`DeviceClockSample`] taken just before sending. The server, whose clock is
//! trusted, then computes the capture time as its own time minus the monotonic time that
//! passed since the capture ([`correct`]). Records from an earlier boot cannot be placed
//! that way; they get the device's claim shifted by the current clock offset and a
//! [`TimeFlag::Rebooted`] flag.

mod boot;
mod correction;

pub use boot::{BootClock, ManualMonotonic, MonotonicClock};
pub use correction::{ClockOffset, CorrectedTime, TimeFlag, correct};

use serde::{Deserialize, Serialize};

/// The monotonic clock and GNSS time at a record's capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockReading {
    /// An id that changes at every boot of the device (`/proc/sys/kernel/random/boot_id`
    /// on Linux and Android).
    pub boot_id: String,
    /// Milliseconds since that boot, counting time asleep (`CLOCK_BOOTTIME`).
    pub since_boot_ms: i64,
    /// The time a GNSS receiver reported with the record's fix, in milliseconds since the
    /// Unix epoch, when the record is a fix from GNSS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gnss_time_ms: Option<i64>,
}

/// The device's clocks at one moment, sent with a push so the server can place the
/// records' monotonic readings on its own clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceClockSample {
    /// The current boot's id.
    pub boot_id: String,
    /// Milliseconds since that boot.
    pub since_boot_ms: i64,
    /// The device's wall clock, in milliseconds since the Unix epoch.
    pub wall_ms: i64,
}
