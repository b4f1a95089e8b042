//! Helpers for the end-to-end tests in `tests/`: a fault-injecting TCP proxy and a seeded
//! random generator.

pub mod chaos;
pub mod rng;
