//! Helpers for the end-to-end tests in `tests/`: a fault-injecting TCP proxy, a seeded
//! random generator, the worker process of the crash-loop test (`src/bin`), and a request
//! signer with a device's own key.

pub mod chaos;
pub mod crash;
pub mod rng;
pub mod signer;
