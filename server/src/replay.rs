//! The nonces of recent signed requests, so that a captured request sent again is rejected.

use std::collections::HashMap;
use std::sync::Mutex;

use vigil_core::sync::request_auth::REQUEST_WINDOW_MS;

/// How often expired nonces are dropped, in milliseconds of the server's clock.
const PRUNE_INTERVAL_MS: i64 = 10_000;

/// The nonces seen within the request window, per device.
///
/// NOTE: the cache lives in memory, so a request captured less than
/// [`REQUEST_WINDOW_MS`] before a server restart can be replayed once after it. It contains
/// about one entry per signed request of the last two windows, and only enrolled devices
/// can add to it.
#[derive(Debug, Default)]
pub(crate) struct NonceCache {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When each `(device_id, nonce)` may be forgotten, in milliseconds of the server's
    /// clock.
    expiries: HashMap<(String, String), i64>,
    last_prune_ms: i64,
}

impl NonceCache {
    /// Records a nonce; returns `false` if the device already used it within the window.
    /// `timestamp_ms` is the request's timestamp, already checked to be within the window.
    pub(crate) fn insert(
        &self,
        device_id: &str,
        nonce: &str,
        timestamp_ms: i64,
        now_ms: i64,
    ) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if now_ms - state.last_prune_ms >= PRUNE_INTERVAL_MS {
            state.expiries.retain(|_, expiry| *expiry > now_ms);
            state.last_prune_ms = now_ms;
        }

        // Once the timestamp has left the window, the timestamp check rejects the request,
        // so the nonce is no longer needed.
        let expiry = timestamp_ms.max(now_ms) + REQUEST_WINDOW_MS;
        let key = (device_id.to_owned(), nonce.to_owned());
        match state.expiries.get(&key) {
            Some(known) if *known > now_ms => false,
            _ => {
                state.expiries.insert(key, expiry);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_cache_rejects_a_reused_nonce() {
        let cache = NonceCache::default();

        assert!(cache.insert("device-1", "nonce-a", 1_000, 1_000));
        assert!(!cache.insert("device-1", "nonce-a", 1_000, 2_000));
    }

    #[test]
    fn nonce_cache_keeps_devices_apart() {
        let cache = NonceCache::default();

        assert!(cache.insert("device-1", "nonce-a", 1_000, 1_000));
        assert!(cache.insert("device-2", "nonce-a", 1_000, 1_000));
    }

    #[test]
    fn nonce_cache_forgets_expired_nonces() {
        let cache = NonceCache::default();
        assert!(cache.insert("device-1", "nonce-a", 1_000, 1_000));

        let later = 1_000 + REQUEST_WINDOW_MS + PRUNE_INTERVAL_MS;
        assert!(cache.insert("device-1", "nonce-a", later, later));
        assert_eq!(cache.state.lock().unwrap().expiries.len(), 1);
    }
}
