//! GPX 1.0 and 1.1 tracks, read with the `gpx` crate.
//!
//! Every track point becomes a [`TrackPoint`], in file order, keeping its time, elevation,
//! HDOP and (GPX 1.0 only) speed. Waypoints and routes are planned places, not recorded
//! fixes, so they are counted in the notes and not replayed.
//!
//! NOTE: `gpx` 0.10 skips everything inside `<extensions>`. Apple's `hAcc` and `vAcc` and
//! the GPX 1.1 speed and course extensions are therefore lost, and such points get the
//! default accuracy.

use std::path::Path;

use gpx::errors::GpxError;
use gpx::{Gpx, GpxVersion, Waypoint};
use time::OffsetDateTime;

use super::{Format, InputRejection, Origin, Track, TrackPoint};
use crate::error::CliError;

/// Parses GPX text.
///
/// # Errors
///
/// [`CliError::Input`] when the `gpx` crate cannot parse the file, for example for
/// malformed XML or a coordinate that is NaN or out of range.
pub fn read(path: &Path, text: &str) -> Result<Track, CliError> {
    let mut notes = Vec::new();
    let mut source = text.to_string();
    let mut parsed = gpx::read(source.as_bytes());

    if let Err(GpxError::InvalidElementLacksAttribute("version", "gpx")) = parsed {
        // GPX requires the attribute, but some writers leave it out. The namespace names
        // the version, so add the attribute and parse again.
        let (patched, version) = with_version_attribute(&source).ok_or_else(|| {
            CliError::input(path, "is not valid GPX: the root element has no version")
        })?;
        notes.push(format!(
            "the <gpx> root element has no version attribute; read as GPX {version} from its namespace"
        ));
        source = patched;
        parsed = gpx::read(source.as_bytes());
    }

    if matches!(&parsed, Err(GpxError::InvalidChildElement(child, "waypoint")) if child == "course")
    {
        // GPX 1.0 allows <course> in a point, but the gpx crate 0.10 rejects it, so the
        // elements are cut out and the file parsed again.
        notes.push(
            "the GPX 1.0 <course> values were dropped: the gpx crate 0.10 cannot read them"
                .to_string(),
        );
        source = without_element(&source, "course");
        parsed = gpx::read(source.as_bytes());
    }

    let parsed =
        parsed.map_err(|error| CliError::input(path, format!("is not valid GPX: {error}")))?;
    Ok(convert(parsed, text, notes))
}

/// Removes every `<name>…</name>` element written without a namespace prefix.
fn without_element(text: &str, name: &str) -> String {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut kept = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let Some(length) = rest[start..].find(&close) else { break };
        kept.push_str(&rest[..start]);
        rest = &rest[start + length + close.len()..];
    }
    kept.push_str(rest);
    kept
}

fn convert(parsed: Gpx, text: &str, mut notes: Vec<String>) -> Track {
    let format = match parsed.version {
        GpxVersion::Gpx10 => Format::Gpx10,
        _ => Format::Gpx11,
    };
    let mut points = Vec::new();
    let mut rejected = Vec::new();
    let mut index = 0;

    for (track_number, track) in parsed.tracks.iter().enumerate() {
        for (segment_number, segment) in track.segments.iter().enumerate() {
            if segment.points.is_empty() {
                notes.push(format!(
                    "track {}, segment {} is empty",
                    track_number + 1,
                    segment_number + 1
                ));
            }
            for (point_number, waypoint) in segment.points.iter().enumerate() {
                index += 1;
                let origin = Origin::Point {
                    index,
                    track: track_number + 1,
                    segment: segment_number + 1,
                    point: point_number + 1,
                };
                match track_point(origin, waypoint) {
                    Ok(point) => points.push(point),
                    Err(rejection) => rejected.push(rejection),
                }
            }
        }
    }

    if !parsed.waypoints.is_empty() {
        notes.push(format!(
            "{} waypoints (<wpt>) are planned places, not recorded fixes, and were not replayed",
            parsed.waypoints.len()
        ));
    }
    let route_points: usize = parsed.routes.iter().map(|route| route.points.len()).sum();
    if route_points > 0 {
        notes.push(format!(
            "{route_points} route points (<rtept>) are planned, not recorded, and were not replayed"
        ));
    }
    if text.contains("<hAcc>") || text.contains(":hAcc>") {
        notes.push(
            "the file has Apple hAcc accuracies, but the gpx crate 0.10 skips <extensions>, \
             so the default accuracy was used"
                .to_string(),
        );
    } else if text.contains("extensions>") {
        notes.push("the gpx crate 0.10 skips <extensions>; their values were not read".to_string());
    }

    Track { format, points, rejected, notes }
}

fn track_point(origin: Origin, waypoint: &Waypoint) -> Result<TrackPoint, InputRejection> {
    let time_ms = waypoint.time.map(|time| unix_ms(OffsetDateTime::from(time)));

    if waypoint.fix == Some(gpx::Fix::None) {
        let mut rejection =
            InputRejection::new(origin, "no fix", Some("<fix>none</fix>".to_string()));
        rejection.time_ms = time_ms;
        return Err(rejection);
    }

    let position = waypoint.point();
    let mut point = TrackPoint::new(origin, position.y(), position.x());
    point.time_ms = time_ms;
    point.altitude_m = waypoint.elevation;
    point.speed_mps = waypoint.speed;
    point.set_hdop(waypoint.hdop);
    point.two_dimensional = waypoint.fix == Some(gpx::Fix::TwoDimensional);
    Ok(point)
}

/// Converts a time to whole milliseconds since the Unix epoch, rounding down, so a time
/// before 1970 stays before the instant it names.
fn unix_ms(time: OffsetDateTime) -> i64 {
    let ms = time.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

/// Adds `version="…"` to the root element, taking the version from the GPX namespace
/// (`…/GPX/1/0` or `…/GPX/1/1`; 1.1 when neither appears). Returns `None` when no root
/// element is found.
fn with_version_attribute(text: &str) -> Option<(String, &'static str)> {
    let version = if text.contains("topografix.com/GPX/1/0") { "1.0" } else { "1.1" };

    let mut offset = 0;
    while let Some(found) = text[offset..].find('<') {
        let start = offset + found + 1;
        let rest = &text[start..];
        if rest.starts_with('?') || rest.starts_with('!') {
            offset = start;
            continue;
        }
        let name_length = rest.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
        let insert_at = start + name_length;
        let patched = format!("{} version=\"{version}\"{}", &text[..insert_at], &text[insert_at..]);
        return Some((patched, version));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_added_to_prefixed_root() {
        let text = "<?xml version=\"1.0\"?>\n<ns2:gpx xmlns:ns2=\"http://www.topografix.com/GPX/1/1\"></ns2:gpx>";
        let (patched, version) = with_version_attribute(text).unwrap();
        assert_eq!(version, "1.1");
        assert!(patched.contains("<ns2:gpx version=\"1.1\" xmlns:ns2"), "{patched}");
        assert!(gpx::read(patched.as_bytes()).is_ok());
    }

    #[test]
    fn gpx10_course_is_dropped() {
        let text = r#"<gpx version="1.0"><trk><trkseg>
            <trkpt lat="1.5" lon="2.5"><time>2020-01-01T00:00:00Z</time><course>12.5</course><speed>1.2</speed></trkpt>
        </trkseg></trk></gpx>"#;
        let track = read(Path::new("t.gpx"), text).unwrap();
        assert_eq!(track.points.len(), 1);
        assert_eq!(track.points[0].speed_mps, Some(1.2));
        assert!(track.notes[0].contains("<course>"), "{:?}", track.notes);
    }

    #[test]
    fn times_before_1970_round_down() {
        let time = OffsetDateTime::from_unix_timestamp_nanos(-1_500_000).unwrap();
        assert_eq!(unix_ms(time), -2);
    }

    #[test]
    fn point_without_time_is_kept_untimed() {
        let text = r#"<gpx version="1.0"><trk><trkseg>
            <trkpt lat="1.5" lon="2.5"><hdop>2</hdop></trkpt>
            <trkpt lat="1.5" lon="2.5"><fix>none</fix></trkpt>
        </trkseg></trk></gpx>"#;
        let track = read(Path::new("t.gpx"), text).unwrap();
        assert_eq!(track.points.len(), 1);
        assert_eq!(track.points[0].time_ms, None);
        assert_eq!(track.points[0].accuracy_m, 10.0);
        assert_eq!(track.rejected[0].reason, "no fix");
    }
}
