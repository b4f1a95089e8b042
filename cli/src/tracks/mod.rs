//! Recorded tracks: reading GPX and NMEA 0183 files into candidate fixes.
//!
//! A reader keeps what it can use as a [`TrackPoint`] and lists the rest as an
//! [`InputRejection`] with its reason. The NMEA reader never fails on a bad line. A file
//! that cannot be read, is neither GPX nor NMEA, or is GPX that the `gpx` crate rejects
//! is an error.
//!
//! NOTE: the `gpx` crate rejects a whole file for one malformed point, such as a NaN or
//! out-of-range coordinate, or a child element it does not know (a bare `<speed>` in a
//! GPX 1.1 point, for one). Such a GPX file is an error rather than a list of rejected
//! points.

pub mod defects;
pub mod gpx;
pub mod nmea;

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::error::CliError;

/// Horizontal accuracy assumed for a fix whose source gives neither HDOP nor an accuracy,
/// in metres. It is typical of a consumer handheld receiver under open sky.
pub const DEFAULT_ACCURACY_M: f64 = 10.0;

/// Metres of horizontal accuracy per unit of HDOP.
///
/// NOTE: HDOP × 5 m is an estimate. It assumes a user range error of about 5 m, and the
/// true error also depends on the receiver, multipath and corrections.
pub const METRES_PER_HDOP: f64 = 5.0;

/// The file formats a track can be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// GPS Exchange Format 1.0.
    Gpx10,
    /// GPS Exchange Format 1.1.
    Gpx11,
    /// NMEA 0183 sentences, one a line.
    Nmea,
}

impl fmt::Display for Format {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Format::Gpx10 => "GPX 1.0",
            Format::Gpx11 => "GPX 1.1",
            Format::Nmea => "NMEA 0183",
        })
    }
}

/// The position of a point or a rejection in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A GPX track point. Every number counts from 1.
    Point {
        /// The point's position among all track points of the file.
        index: usize,
        /// The track (`<trk>`) it belongs to.
        track: usize,
        /// The segment (`<trkseg>`) within the track.
        segment: usize,
        /// The point within the segment.
        point: usize,
    },
    /// A line of an NMEA file, counting from 1.
    Line {
        /// The line number.
        line: usize,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Point { index, track, segment, point } => {
                write!(formatter, "point {index} (track {track}, segment {segment}, point {point})")
            }
            Origin::Line { line } => write!(formatter, "line {line}"),
        }
    }
}

/// The source of a point's horizontal accuracy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccuracySource {
    /// HDOP × [`METRES_PER_HDOP`].
    Hdop,
    /// [`DEFAULT_ACCURACY_M`], because the source gave no HDOP.
    Default,
}

/// A position read from a track, not yet checked by the core.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackPoint {
    /// The position in the input.
    pub origin: Origin,
    /// The receiver's time of the fix in milliseconds since the Unix epoch; `None` when the
    /// source has none.
    pub time_ms: Option<i64>,
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    /// Horizontal accuracy in metres.
    pub accuracy_m: f64,
    /// The source of `accuracy_m`.
    pub accuracy_source: AccuracySource,
    /// Altitude in metres, when the source gives one.
    pub altitude_m: Option<f64>,
    /// Ground speed in metres per second, when the source gives one.
    pub speed_mps: Option<f64>,
    /// Course over ground in degrees from true north, when the source gives one.
    pub bearing_deg: Option<f64>,
    /// Whether the receiver marked the fix as 2D (no altitude solution).
    pub two_dimensional: bool,
}

impl TrackPoint {
    /// Creates a point at a position with the default accuracy and nothing else known.
    pub fn new(origin: Origin, latitude: f64, longitude: f64) -> Self {
        Self {
            origin,
            time_ms: None,
            latitude,
            longitude,
            accuracy_m: DEFAULT_ACCURACY_M,
            accuracy_source: AccuracySource::Default,
            altitude_m: None,
            speed_mps: None,
            bearing_deg: None,
            two_dimensional: false,
        }
    }

    /// Sets the accuracy from an HDOP value, if there is a usable one.
    pub fn set_hdop(&mut self, hdop: Option<f64>) {
        if let Some(hdop) = hdop.filter(|hdop| hdop.is_finite() && *hdop > 0.0) {
            self.accuracy_m = hdop * METRES_PER_HDOP;
            self.accuracy_source = AccuracySource::Hdop;
        }
    }
}

/// A point or line of the input that could not become a fix.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRejection {
    /// The position in the input.
    pub origin: Origin,
    /// Its time, when one could be read.
    pub time_ms: Option<i64>,
    /// A short, stable reason such as `checksum mismatch`; rejections are grouped by it.
    pub reason: String,
    /// Details of this case, such as the checksums that differ.
    pub detail: Option<String>,
}

impl InputRejection {
    /// Creates a rejection without a time.
    pub fn new(origin: Origin, reason: impl Into<String>, detail: Option<String>) -> Self {
        Self { origin, time_ms: None, reason: reason.into(), detail }
    }
}

/// Everything read from one track file.
#[derive(Debug, Clone)]
pub struct Track {
    /// The detected format.
    pub format: Format,
    /// The candidate fixes, in file order.
    pub points: Vec<TrackPoint>,
    /// Points and lines that could not become candidate fixes, in file order.
    pub rejected: Vec<InputRejection>,
    /// Facts about the input worth showing next to the report, such as ignored waypoints.
    pub notes: Vec<String>,
}

/// Reads a track file, detecting GPX or NMEA from its content.
///
/// # Errors
///
/// [`CliError::Input`] naming the file when it is missing, unreadable, empty, binary,
/// neither GPX nor NMEA, or not well-formed GPX.
pub fn read_track(path: &Path) -> Result<Track, CliError> {
    let bytes = std::fs::read(path).map_err(|error| CliError::input(path, read_problem(&error)))?;
    let text = decode_text(path, &bytes)?;

    let format = detect_format(&text).ok_or_else(|| {
        CliError::input(
            path,
            "is neither GPX (XML with a <gpx> root element) nor NMEA 0183 (lines starting with $)",
        )
    })?;
    warn_on_extension_mismatch(path, format);

    match format {
        DetectedFormat::Gpx => gpx::read(path, &text),
        DetectedFormat::Nmea => Ok(nmea::read(&text)),
    }
}

/// Describes an I/O error of reading a file in plain words.
pub fn read_problem(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "not found".to_string(),
        std::io::ErrorKind::PermissionDenied => "cannot be read: permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "is a directory, not a file".to_string(),
        _ => format!("cannot be read: {error}"),
    }
}

/// Checks that a file is non-empty text and returns it as UTF-8 without a byte-order mark.
pub fn decode_text(path: &Path, bytes: &[u8]) -> Result<String, CliError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(CliError::input(path, "is empty"));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(CliError::input(path, "is a binary file, not UTF-8 text"));
    };
    // A corrupt NMEA line may contain a few NUL bytes, and that line alone is rejected.
    // A file where they are common is binary.
    let control = text.chars().filter(|c| c.is_control() && !c.is_whitespace()).count();
    if control * 10 > text.len() {
        return Err(CliError::input(path, "is a binary file: more than 10% control characters"));
    }
    Ok(text.trim_start_matches('\u{feff}').to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DetectedFormat {
    Gpx,
    Nmea,
}

/// Looks at the content: XML whose root element is `gpx` (with or without a namespace
/// prefix), or lines that start with `$` or `!` after `#` comments and blank lines.
fn detect_format(text: &str) -> Option<DetectedFormat> {
    let start = text.trim_start();
    if start.starts_with('<') {
        return root_element_is_gpx(start).then_some(DetectedFormat::Gpx);
    }

    let first_line =
        text.lines().map(str::trim).find(|line| !line.is_empty() && !line.starts_with('#'))?;
    (first_line.starts_with('$') || first_line.starts_with('!')).then_some(DetectedFormat::Nmea)
}

/// Returns whether the first element after the XML declaration, comments and doctype is
/// `<gpx` or `<prefix:gpx`.
fn root_element_is_gpx(xml: &str) -> bool {
    let mut rest = xml;
    while let Some(position) = rest.find('<') {
        rest = &rest[position + 1..];
        if rest.starts_with('?') || rest.starts_with('!') {
            continue;
        }
        let name: String =
            rest.chars().take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/').collect();
        let local = name.rsplit(':').next().unwrap_or_default();
        return local == "gpx";
    }
    false
}

fn warn_on_extension_mismatch(path: &Path, format: DetectedFormat) {
    let extension = path.extension().and_then(|extension| extension.to_str()).unwrap_or_default();
    let expected = match extension.to_ascii_lowercase().as_str() {
        "gpx" => Some(DetectedFormat::Gpx),
        "nmea" | "nma" | "log" | "txt" => Some(DetectedFormat::Nmea),
        _ => None,
    };
    if expected.is_some_and(|expected| expected != format) {
        tracing::warn!(
            ?format,
            extension,
            "the file's content does not match its extension; reading it by content"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_prefixed_gpx_root() {
        let xml = "<?xml version=\"1.0\"?>\n<!-- c -->\n<ns2:gpx xmlns:ns2=\"x\"></ns2:gpx>";
        assert_eq!(detect_format(xml), Some(DetectedFormat::Gpx));
    }

    #[test]
    fn detects_nmea_after_comments() {
        let text = "# header\r\n\r\n$GPGGA,,,,,,0,,,,M,,M,,*66\r\n";
        assert_eq!(detect_format(text), Some(DetectedFormat::Nmea));
    }

    #[test]
    fn rejects_other_xml_and_text() {
        assert_eq!(detect_format("<kml></kml>"), None);
        assert_eq!(detect_format("hello\n"), None);
    }
}
