//! Helpers for the end-to-end tests in `tests/`: a fault-injecting TCP proxy, a seeded
//! random generator, and the worker process of the crash-loop test (`src/bin`).

pub mod chaos;
pub mod crash;
pub mod rng;
