use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where a location fix came from, as the platform reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixSource {
    /// A satellite receiver (GPS, Galileo, GLONASS, BeiDou).
    Gnss,
    /// Cell towers or Wi-Fi.
    Network,
    /// The platform's fused provider.
    Fused,
    /// A Bluetooth beacon at a known position.
    Beacon,
    /// Entered by hand.
    Manual,
}

/// One location fix with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// Latitude in degrees, WGS 84, from -90 to 90.
    pub latitude: f64,
    /// Longitude in degrees, WGS 84, from -180 to 180.
    pub longitude: f64,
    /// Horizontal accuracy in metres: the radius of 68% confidence, as Android and iOS
    /// report it.
    pub accuracy_m: f64,
    /// Altitude above the WGS 84 ellipsoid in metres, when known.
    pub altitude_m: Option<f64>,
    /// Ground speed in metres per second, when known.
    pub speed_mps: Option<f64>,
    /// Bearing in degrees clockwise from true north, from 0 to 360, when known.
    pub bearing_deg: Option<f64>,
    /// The provider that produced the fix.
    pub source: FixSource,
    /// Whether the platform reports the fix as coming from a mock location provider.
    pub mock: bool,
    /// When the fix was taken, in milliseconds since the Unix epoch, by the receiver's clock.
    pub fix_time_ms: i64,
}

/// Largest accuracy radius accepted, in metres. A fix less precise than this says nothing
/// useful about where a guard is.
const MAX_ACCURACY_M: f64 = 100_000.0;

/// Fastest speed accepted from the platform, in metres per second (Mach 1); anything faster
/// is a sensor error.
const MAX_SPEED_MPS: f64 = 343.0;

impl Fix {
    /// Checks that every value is a number in its valid range.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the first invalid field and its value.
    pub fn validate(&self) -> Result<()> {
        check_range("latitude", self.latitude, -90.0, 90.0)?;
        check_range("longitude", self.longitude, -180.0, 180.0)?;
        check_range("accuracy_m", self.accuracy_m, 0.0, MAX_ACCURACY_M)?;

        if let Some(altitude) = self.altitude_m {
            check_range("altitude_m", altitude, -12_000.0, 100_000.0)?;
        }
        if let Some(speed) = self.speed_mps {
            check_range("speed_mps", speed, 0.0, MAX_SPEED_MPS)?;
        }
        if let Some(bearing) = self.bearing_deg {
            check_range("bearing_deg", bearing, 0.0, 360.0)?;
        }
        Ok(())
    }
}

fn check_range(field: &str, value: f64, min: f64, max: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(Error::invalid(field, format!("{value} is not a finite number")));
    }
    if value < min || value > max {
        return Err(Error::invalid(field, format!("{value} is outside {min}..={max}")));
    }
    Ok(())
}

/// A reason why a fix is kept as evidence but not trusted to place the guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixFlag {
    /// The fix is at latitude 0, longitude 0, which receivers report when they have no
    /// position.
    NullIsland,
    /// The platform marked the fix as coming from a mock location provider.
    Mock,
    /// The fix time is before the GPS epoch (1980-01-06) or far from the device clock.
    ImplausibleTime,
    /// The fix time is earlier than the previous fix's.
    TimeBackwards,
    /// The fix time equals the previous fix's.
    DuplicateTime,
    /// The fix repeats the previous fix exactly (position, accuracy, altitude, speed and
    /// bearing) at a later time: a receiver that stopped updating and re-sends its last
    /// position.
    Frozen,
    /// Reaching this fix from the previous trusted one needs a speed no person or vehicle
    /// on a patrol reaches, even after subtracting both accuracies.
    ImplausibleSpeed,
}

impl FixFlag {
    /// Returns the stable code of the flag, as stored and sent.
    pub fn code(self) -> &'static str {
        match self {
            FixFlag::NullIsland => "null_island",
            FixFlag::Mock => "mock",
            FixFlag::ImplausibleTime => "implausible_time",
            FixFlag::TimeBackwards => "time_backwards",
            FixFlag::DuplicateTime => "duplicate_time",
            FixFlag::Frozen => "frozen",
            FixFlag::ImplausibleSpeed => "implausible_speed",
        }
    }
}

/// Why an event carries no position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoFixReason {
    /// The device has not reported any trusted fix.
    Unavailable,
    /// The last trusted fix is older than the configured maximum age.
    Stale,
}

/// The position attached to a captured event: a fix, or an explicit statement that there is
/// none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Location {
    /// The newest trusted fix, no older than the configured maximum age.
    Fix(Fix),
    /// No fix could be attached.
    NoFix {
        /// Why no fix was attached.
        reason: NoFixReason,
    },
}

impl Location {
    /// Returns the fix, if there is one.
    pub fn fix(&self) -> Option<&Fix> {
        match self {
            Location::Fix(fix) => Some(fix),
            Location::NoFix { .. } => None,
        }
    }
}
