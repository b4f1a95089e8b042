use std::time::Duration;

/// Exponential backoff with full jitter: attempt `n` waits a random time between half and
/// all of `base * 2^n`, capped at `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Creates a backoff that starts at `base` and never waits longer than `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { base, max, attempt: 0 }
    }

    /// Returns the delay before the next attempt and counts the attempt.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(16));
        let ceiling = self.base.saturating_mul(factor).min(self.max);
        self.attempt += 1;

        // Half fixed, half random, so that retries from many devices spread out but never
        // come back at once.
        let random = (uuid::Uuid::new_v4().as_u128() % 1_000) as u32;
        ceiling / 2 + (ceiling / 2) * random / 1_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..8).map(|_| backoff.next_delay()).collect();

        assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100));
        assert!(delays[2] >= Duration::from_millis(200), "{delays:?}");
        for delay in &delays {
            assert!(*delay <= Duration::from_secs(1), "{delays:?}");
        }
        assert!(delays[7] >= Duration::from_millis(500), "{delays:?}");
    }
}
