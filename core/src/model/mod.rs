//! The records a guard's device captures and the assignments it receives.

mod attachment;
mod fix;
mod record;
mod site;
mod tour;

pub use attachment::AttachmentRef;
pub use fix::{Fix, FixFlag, FixSource, Location, NoFixReason};
pub use record::{
    AlertKind, CheckinReason, Incident, Record, RecordBody, ScanMethod, Severity, Verification,
};
pub use site::{Checkpoint, CheckpointTag, LatLon, Site, Tour, TourTiming};
pub use tour::{RoundClosedBy, RoundStatus, TourRound, TourVisit};
