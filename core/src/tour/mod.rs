//! Patrol tours: scheduled rounds, the order and pace of scans, and missed checkpoints.
//!
//! Everything here is pure: [`TourLog`] works on the visits and closed rounds the device
//! has stored, and the `Vigil` facade stores what it decides. That keeps tours working
//! offline and lets a restarted app pick up where it left off.

mod log;
mod schedule;

pub use log::{TourLog, TourProgress};
pub use schedule::{Round, Slot, validate_tour};

#[cfg(test)]
mod tests;
