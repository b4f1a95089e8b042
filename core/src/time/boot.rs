//! Sources of monotonic time with a boot id.

use std::sync::{Arc, Mutex};

use super::ClockReading;

/// A monotonic clock that keeps counting while the device sleeps, and the id of the
/// current boot.
///
/// [`BootClock`] reads them on Linux and Android. On iOS the app provides them
/// (`mach_continuous_time` and the kernel boot time) through the bindings'
/// `Vigil.openWithBootClock`. An iOS device opened with `Vigil.open` has no reading, so its
/// records' times are not corrected.
pub trait MonotonicClock: Send + Sync {
    /// Returns the boot id and the milliseconds since boot, or `None` when the platform
    /// cannot tell.
    fn reading(&self) -> Option<ClockReading>;
}

/// The Linux and Android monotonic clock: `CLOCK_BOOTTIME` and the kernel's boot id.
#[derive(Debug, Default)]
pub struct BootClock {
    boot_id: std::sync::OnceLock<Option<String>>,
}

impl BootClock {
    /// Creates a clock; the boot id is read at the first reading.
    pub fn new() -> Self {
        Self::default()
    }
}

impl MonotonicClock for BootClock {
    fn reading(&self) -> Option<ClockReading> {
        let boot_id = self.boot_id.get_or_init(read_boot_id).clone()?;
        let since_boot_ms = boot_time_ms()?;
        Some(ClockReading { boot_id, since_boot_ms, gnss_time_ms: None })
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn read_boot_id() -> Option<String> {
    match std::fs::read_to_string("/proc/sys/kernel/random/boot_id") {
        Ok(text) => Some(text.trim().to_owned()),
        Err(error) => {
            tracing::warn!(%error, "cannot read the boot id; records carry no monotonic time");
            None
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn read_boot_id() -> Option<String> {
    None
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn boot_time_ms() -> Option<i64> {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) };
    if status != 0 {
        return None;
    }
    Some(now.tv_sec as i64 * 1_000 + now.tv_nsec as i64 / 1_000_000)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn boot_time_ms() -> Option<i64> {
    None
}

/// A monotonic clock that moves only when a caller moves it, for tests and replays; it can
/// simulate a reboot.
#[derive(Debug, Clone)]
pub struct ManualMonotonic {
    state: Arc<Mutex<(String, i64)>>,
}

impl ManualMonotonic {
    /// Creates a clock in boot `boot_id`, `since_boot_ms` after it started.
    pub fn new(boot_id: impl Into<String>, since_boot_ms: i64) -> Self {
        Self { state: Arc::new(Mutex::new((boot_id.into(), since_boot_ms))) }
    }

    /// Moves the clock forward by `delta_ms`.
    pub fn advance(&self, delta_ms: i64) {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).1 += delta_ms;
    }

    /// Simulates a reboot: a new boot id, and `since_boot_ms` since it.
    pub fn reboot(&self, boot_id: impl Into<String>, since_boot_ms: i64) {
        *self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            (boot_id.into(), since_boot_ms);
    }
}

impl MonotonicClock for ManualMonotonic {
    fn reading(&self) -> Option<ClockReading> {
        let (boot_id, since_boot_ms) =
            self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        Some(ClockReading { boot_id, since_boot_ms, gnss_time_ms: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn boot_clock_reads_this_boot() {
        let clock = BootClock::new();
        let first = clock.reading().expect("Linux has a boot id and CLOCK_BOOTTIME");
        let second = clock.reading().unwrap();

        assert_eq!(first.boot_id.len(), 36, "a UUID: {}", first.boot_id);
        assert_eq!(first.boot_id, second.boot_id);
        assert!(first.since_boot_ms > 0);
        assert!(second.since_boot_ms >= first.since_boot_ms, "monotonic");
    }
}
