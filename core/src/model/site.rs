use serde::{Deserialize, Serialize};

use super::ScanMethod;

/// A point in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLon {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
}

/// A guarded site with its perimeter, checkpoints and patrol tours, as the SOC assigns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    /// The SOC's id of the site.
    pub id: String,
    /// A display name.
    pub name: String,
    /// The perimeter as a closed or open ring of at least three points.
    pub perimeter: Vec<LatLon>,
    /// The checkpoints of the site.
    pub checkpoints: Vec<Checkpoint>,
    /// The patrol tours of the site.
    pub tours: Vec<Tour>,
    /// The server's revision of this site; a higher number replaces a lower one.
    pub revision: i64,
}

/// A place a guard must visit and prove the visit, by tag or by position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The SOC's id of the checkpoint, unique within its site.
    pub id: String,
    /// A display name.
    pub name: String,
    /// Where the checkpoint is.
    pub position: LatLon,
    /// How close, in metres, a fix must be for a check-in to count.
    pub radius_m: f64,
    /// The tags that identify the checkpoint; empty for a GPS-only checkpoint.
    pub tags: Vec<CheckpointTag>,
}

/// A tag mounted at a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointTag {
    /// How the tag is read.
    pub method: ScanMethod,
    /// The identifier read from the tag: an NFC UID, a QR code's text or a BLE beacon id.
    pub value: String,
    /// For a BLE beacon, the weakest received signal strength, in dBm, that proves the
    /// guard is next to it; `None` accepts any strength.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rssi_dbm: Option<i32>,
}

/// A patrol tour: the checkpoints to visit and how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tour {
    /// The SOC's id of the tour.
    pub id: String,
    /// A display name.
    pub name: String,
    /// The checkpoints of the tour, in visiting order when `ordered` is true.
    pub checkpoint_ids: Vec<String>,
    /// Whether the checkpoints must be visited in the listed order.
    pub ordered: bool,
    /// How often the tour is walked, in minutes: a new round opens every period.
    pub every_minutes: u32,
    /// When rounds open and how fast the checkpoints may be walked; every field is optional.
    #[serde(default)]
    pub timing: TourTiming,
}

/// The schedule and pace of a [`Tour`]. The defaults give back-to-back rounds from the start
/// of the shift, with no limit on the pace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TourTiming {
    /// When the first round opens, in milliseconds since the Unix epoch; later rounds open
    /// every `every_minutes` after it. `None` anchors the rounds at the start of the shift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_round_at_ms: Option<i64>,
    /// How long each round stays open, in minutes, at most `every_minutes`. `None` keeps it
    /// open for the whole period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_minutes: Option<u32>,
    /// Minimum seconds between two scans of the tour; a faster scan is refused as rushing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_seconds_between_scans: Option<u32>,
    /// Most seconds between two scans of the tour within a round; a longer gap marks the
    /// round as late, without refusing the scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds_between_scans: Option<u32>,
}

impl Site {
    /// Returns the checkpoint with this id.
    pub fn checkpoint(&self, id: &str) -> Option<&Checkpoint> {
        self.checkpoints.iter().find(|checkpoint| checkpoint.id == id)
    }
}
