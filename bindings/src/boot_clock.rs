//! A monotonic clock with a boot id supplied by the app, for platforms where the library
//! cannot read one itself.

use std::sync::Arc;

use crate::keys::{KeyStore, PlatformKek};
use crate::{Vigil, VigilConfig, VigilError, runtime};

/// One reading of the phone's monotonic clock.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BootClockReading {
    /// A value that changes at every boot of the phone and stays the same until the next.
    pub boot_id: String,
    /// Milliseconds since that boot, counting time asleep.
    pub since_boot_ms: i64,
}

/// The phone's monotonic clock and boot id, as the app reads them. On Android the library
/// reads `CLOCK_BOOTTIME` and the kernel's boot id itself; on iOS the app provides them,
/// for example from `mach_continuous_time` and the kernel boot time.
#[uniffi::export(with_foreign)]
pub trait BootClockSource: Send + Sync {
    /// Returns the current reading, or null when the platform cannot tell; records
    /// captured then carry no reading and their times are not corrected.
    fn reading(&self) -> Option<BootClockReading>;
}

struct ForeignBootClock(Arc<dyn BootClockSource>);

impl vigil_core::time::MonotonicClock for ForeignBootClock {
    fn reading(&self) -> Option<vigil_core::time::ClockReading> {
        let reading = self.0.reading()?;
        Some(vigil_core::time::ClockReading {
            boot_id: reading.boot_id,
            since_boot_ms: reading.since_boot_ms,
            gnss_time_ms: None,
        })
    }
}

#[uniffi::export]
impl Vigil {
    /// Opens (or creates) the device store at `path`, as `open` with the same `key_store`,
    /// with the app's monotonic clock in place of the library's own. Every record then
    /// carries the app's reading, from which its capture time is corrected against the
    /// SOC's clock.
    ///
    /// # Errors
    ///
    /// As `open`.
    #[uniffi::constructor(default(key_store = None))]
    pub fn open_with_boot_clock(
        path: String,
        config: VigilConfig,
        clock: Arc<dyn BootClockSource>,
        key_store: Option<Arc<dyn KeyStore>>,
    ) -> Result<Arc<Self>, VigilError> {
        let mut config: vigil_core::Config = config.into();
        config.key_encryption_key = key_store.map(|store| {
            Arc::new(PlatformKek(store)) as Arc<dyn vigil_core::crypto::KeyEncryptionKey>
        });
        let core = vigil_core::Vigil::open_with_clocks(
            path,
            config,
            Arc::new(vigil_core::SystemClock),
            Arc::new(ForeignBootClock(clock)),
        )?;
        core.start_alert_lane(runtime().handle());
        Ok(Arc::new(Self { core }))
    }
}
