//! The demo's patrol: a walk along the fence at walking pace with simulated GPS error,
//! and the scans, incidents and panic alert along the way.

use std::time::Instant;

use vigil_core::model::{Fix, FixSource, Incident, Severity, Site};
use vigil_core::{Clock, ManualClock, PanicOutcome, Vigil};
use vigil_server::RunningServer;

use super::site::{grid_position, local};
use crate::error::{CliError, Context as _};

/// Mean walking speed of the patrol, in metres per second.
const WALKING_SPEED_MPS: f64 = 1.4;

/// Steady-state standard deviation of the simulated receiver error in each axis, in
/// metres; well inside the reported accuracy of 4 to 10 m.
const NOISE_SIGMA_M: f64 = 2.0;

/// How much of the receiver error carries over from one second to the next.
const NOISE_CORRELATION: f64 = 0.95;

/// Fixes per call to [`Vigil::record_fixes`].
const BATCH_SIZE: usize = 10;

/// How far away, in metres, the guard scans a photo of the car park's QR code.
const TOO_FAR_DISTANCE_M: f64 = 55.0;

/// The patrol path: 8 m inside the fence, counter-clockwise from the south-west corner.
const PATH: [(f64, f64); 6] =
    [(8.0, 8.0), (212.0, 8.0), (212.0, 132.0), (120.0, 150.0), (8.0, 132.0), (8.0, 8.0)];

/// The guard's true positions along [`PATH`], one a second of walking.
pub struct Walk {
    truth: Vec<(f64, f64)>,
}

impl Walk {
    /// Walks [`PATH`] once at about [`WALKING_SPEED_MPS`].
    pub fn generate(random: &mut SplitMix64) -> Self {
        let mut truth = vec![PATH[0]];
        let mut leg = 0;
        let mut position = PATH[0];

        while leg + 1 < PATH.len() {
            // Walk one second along the path, turning the corners.
            let mut remaining = WALKING_SPEED_MPS + 0.1 * random.gaussian();
            while remaining > 0.0 && leg + 1 < PATH.len() {
                let target = PATH[leg + 1];
                let (dx, dy) = (target.0 - position.0, target.1 - position.1);
                let length = dx.hypot(dy);
                if length <= remaining {
                    position = target;
                    remaining -= length;
                    leg += 1;
                } else {
                    position = (
                        position.0 + dx / length * remaining,
                        position.1 + dy / length * remaining,
                    );
                    remaining = 0.0;
                }
            }
            truth.push(position);
        }
        Self { truth }
    }

    /// Returns the index of the position nearest to a point, among those at or after `from`.
    fn nearest(&self, from: usize, point: (f64, f64)) -> usize {
        let distance =
            |index: usize| (self.truth[index].0 - point.0).hypot(self.truth[index].1 - point.1);
        (from..self.truth.len())
            .min_by(|a, b| distance(*a).total_cmp(&distance(*b)))
            .unwrap_or(from)
    }

    /// Returns the first index at or after `from` within `distance_m` of a point.
    fn first_within(&self, from: usize, point: (f64, f64), distance_m: f64) -> usize {
        (from..self.truth.len())
            .find(|index| {
                (self.truth[*index].0 - point.0).hypot(self.truth[*index].1 - point.1) <= distance_m
            })
            .unwrap_or(from)
    }
}

/// The panic alert of the patrol.
#[derive(Debug, Clone)]
pub struct PanicSent {
    /// The core's outcome: the record id and the server's delivery time.
    pub outcome: PanicOutcome,
    /// Wall time from raising the alert until the server confirmed it, in milliseconds;
    /// `None` if the fast path failed.
    pub delivery_ms: Option<u64>,
}

/// Plays the walk, the scans, the incidents and the panic alert.
pub struct Patrol<'a> {
    vigil: &'a Vigil,
    clock: &'a ManualClock,
    walk: Walk,
    random: SplitMix64,
    /// The index in the walk of the next position to record.
    next: usize,
    /// The receiver time of the next fix, in milliseconds since the Unix epoch.
    next_fix_ms: i64,
    /// The receiver's current position error, in metres east and north.
    error: (f64, f64),
    /// The running server, until the outage starts.
    server: Option<RunningServer>,
}

impl<'a> Patrol<'a> {
    /// Creates a patrol that starts one second after the device clock's current time and
    /// stops `server` when the outage begins.
    pub fn new(
        vigil: &'a Vigil,
        clock: &'a ManualClock,
        walk: Walk,
        random: SplitMix64,
        server: RunningServer,
    ) -> Self {
        let next_fix_ms = clock.now_ms() + 1000;
        Self {
            vigil,
            clock,
            walk,
            random,
            next: 0,
            next_fix_ms,
            error: (0.0, 0.0),
            server: Some(server),
        }
    }

    /// Plays the whole patrol. The server is stopped halfway, after the panic alert and a
    /// sync, and the rest is captured offline.
    pub async fn play(&mut self, site: &Site) -> Result<PanicSent, CliError> {
        self.walk_to_checkpoint(site, "cp-gate")?;
        self.scan(site, "cp-gate")?;

        self.walk_to_checkpoint(site, "cp-dock")?;
        self.scan(site, "cp-dock")?;
        self.stand(40)?;
        self.incident(
            "unsecured_access",
            Severity::Medium,
            "Roller door 3 at the loading dock was unlocked; locked it.",
        )?;

        // The fuel store is passed without a scan, so the report shows it as missed.
        self.walk_to_checkpoint(site, "cp-server")?;
        self.scan(site, "cp-server")?;

        let sent = Instant::now();
        let outcome = self.vigil.raise_panic_and_send().await.context("raising the panic alert")?;
        let delivery_ms = outcome
            .delivered_at_ms
            .map(|_| u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX));
        let panic = PanicSent { outcome, delivery_ms };
        self.vigil.sync_now().await.context("syncing before the outage")?;

        if let Some(server) = self.server.take() {
            server.shutdown().await.context("stopping the server for the outage")?;
        }
        tracing::info!("server stopped; capture goes on offline");

        // A photo of the car park's QR code, scanned from afar, is refused as too far.
        let park = grid_position(site, "cp-park");
        self.walk_to(self.walk.first_within(self.next, park, TOO_FAR_DISTANCE_M))?;
        self.scan(site, "cp-park")?;
        self.walk_to_checkpoint(site, "cp-park")?;
        self.scan(site, "cp-park")?;
        self.stand(30)?;
        self.incident("maintenance", Severity::Low, "Floodlight above the car park exit is out.")?;

        self.walk_to_checkpoint(site, "cp-fence")?;
        self.scan(site, "cp-fence")?;
        self.walk_to(self.walk.truth.len() - 1)?;
        Ok(panic)
    }

    fn walk_to_checkpoint(&mut self, site: &Site, checkpoint_id: &str) -> Result<(), CliError> {
        let index = self.walk.nearest(self.next, grid_position(site, checkpoint_id));
        self.walk_to(index)
    }

    /// Records the fixes of every position up to and including `index`.
    fn walk_to(&mut self, index: usize) -> Result<(), CliError> {
        let positions: Vec<(f64, f64)> =
            self.walk.truth.get(self.next..=index).unwrap_or_default().to_vec();
        self.next = self.next.max(index + 1);
        self.record(&positions)
    }

    /// Records `seconds` fixes at the guard's current position.
    fn stand(&mut self, seconds: usize) -> Result<(), CliError> {
        let position = self.walk.truth[self.next.saturating_sub(1)];
        self.record(&vec![position; seconds])
    }

    /// Records one fix a second at these true positions, in batches, each delivered when its
    /// newest fix is 300 ms old.
    fn record(&mut self, positions: &[(f64, f64)]) -> Result<(), CliError> {
        for chunk in positions.chunks(BATCH_SIZE) {
            let batch: Vec<Fix> = chunk.iter().map(|position| self.fix_at(*position)).collect();
            self.clock.set(self.next_fix_ms - 1000 + 300);
            self.vigil.record_fixes(batch).context("storing fixes")?;
        }
        Ok(())
    }

    fn fix_at(&mut self, (east, north): (f64, f64)) -> Fix {
        let random = &mut self.random;
        // Receiver error drifts slowly rather than jumping each second: an AR(1) process
        // whose steady-state standard deviation is NOISE_SIGMA_M in each axis.
        let keep = NOISE_CORRELATION;
        let innovation = NOISE_SIGMA_M * (1.0 - keep * keep).sqrt();
        self.error.0 = keep * self.error.0 + innovation * random.gaussian();
        self.error.1 = keep * self.error.1 + innovation * random.gaussian();
        let noisy = local(east + self.error.0, north + self.error.1);
        let fix = Fix {
            latitude: noisy.latitude,
            longitude: noisy.longitude,
            accuracy_m: 4.0 + 6.0 * random.unit(),
            altitude_m: Some(12.0 + random.gaussian()),
            speed_mps: None,
            bearing_deg: None,
            source: FixSource::Gnss,
            mock: false,
            fix_time_ms: self.next_fix_ms,
        };
        self.next_fix_ms += 1000;
        fix
    }

    /// Scans the checkpoint's tag half a second after the newest fix.
    fn scan(&self, site: &Site, checkpoint_id: &str) -> Result<(), CliError> {
        let tag = site
            .checkpoint(checkpoint_id)
            .and_then(|checkpoint| checkpoint.tags.first())
            .ok_or_else(|| {
                CliError::Check(format!("checkpoint {checkpoint_id} of the demo site has no tag"))
            })?;
        self.clock.set(self.next_fix_ms - 1000 + 500);
        self.vigil.scan_checkpoint(tag.method, &tag.value).context("scanning a checkpoint")?;
        Ok(())
    }

    fn incident(&self, category: &str, severity: Severity, text: &str) -> Result<(), CliError> {
        let incident =
            Incident { category: category.to_string(), severity, text: text.to_string() };
        self.vigil.log_incident(incident).context("logging an incident")?;
        Ok(())
    }
}

/// SplitMix64, a small seeded generator; the demo only needs repeatable noise.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Returns a number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Returns a standard normal number (Box–Muller).
    fn gaussian(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_is_a_loop_at_walking_pace() {
        let walk = Walk::generate(&mut SplitMix64(7));
        let seconds = walk.truth.len() as f64;
        // The path is about 660 m long.
        assert!((420.0..520.0).contains(&seconds), "{seconds} s");
        assert_eq!(walk.truth.last(), Some(&PATH[0]));
    }
}
