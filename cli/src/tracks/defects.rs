//! Defects of a track that are not about single fixes: time gaps, 2D fixes, missing
//! elevations and repeated positions. The replay lists them as notes, because none of them
//! makes a fix untrustworthy on its own.

use super::{Track, TrackPoint};

/// How many of the longest gaps a note names.
const GAPS_NAMED: usize = 3;

/// Returns one note per kind of defect found, each with a count and examples.
pub fn describe(track: &Track) -> Vec<String> {
    let mut notes = Vec::new();
    notes.extend(gaps_note(&track.points));

    let two_dimensional = track.points.iter().filter(|point| point.two_dimensional).count();
    if two_dimensional > 0 {
        notes.push(format!(
            "{two_dimensional} fixes are 2D (no altitude solution, usually from 3 satellites), \
             so their position is less reliable"
        ));
    }

    let without_elevation = track.points.iter().filter(|point| point.altitude_m.is_none()).count();
    if without_elevation > 0 && without_elevation < track.points.len() {
        notes.push(format!("{without_elevation} points have no elevation"));
    }

    let repeated = track
        .points
        .windows(2)
        .filter(|pair| {
            pair[0].latitude == pair[1].latitude && pair[0].longitude == pair[1].longitude
        })
        .count();
    if repeated > 0 {
        notes.push(format!("{repeated} points repeat the position of the point before them"));
    }
    notes
}

/// Returns a note on the time gaps: intervals of at least twice the median interval and at
/// least 2 s, between consecutive timed points whose time moves forward.
fn gaps_note(points: &[TrackPoint]) -> Option<String> {
    let timed: Vec<&TrackPoint> = points.iter().filter(|point| point.time_ms.is_some()).collect();
    let mut intervals: Vec<(i64, &TrackPoint)> = timed
        .windows(2)
        .filter_map(|pair| {
            let step = pair[1].time_ms? - pair[0].time_ms?;
            (step > 0).then_some((step, pair[0]))
        })
        .collect();
    if intervals.len() < 2 {
        return None;
    }

    let mut steps: Vec<i64> = intervals.iter().map(|(step, _)| *step).collect();
    steps.sort_unstable();
    let median = steps[steps.len() / 2];
    let threshold = (2 * median).max(2_000);

    intervals.retain(|(step, _)| *step >= threshold);
    if intervals.is_empty() {
        return None;
    }
    intervals.sort_by(|a, b| b.0.cmp(&a.0));
    let longest: Vec<String> = intervals
        .iter()
        .take(GAPS_NAMED)
        .map(|(step, point)| format!("{} s after {}", seconds(*step), point.origin))
        .collect();
    Some(format!(
        "{} time gaps of at least {} s (twice the median interval of {} s); longest: {}",
        intervals.len(),
        seconds(threshold),
        seconds(median),
        longest.join("; ")
    ))
}

fn seconds(milliseconds: i64) -> String {
    let value = milliseconds as f64 / 1000.0;
    if value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracks::{Format, Origin};

    fn point(index: usize, time_s: i64, latitude: f64) -> TrackPoint {
        let origin = Origin::Line { line: index };
        let mut point = TrackPoint::new(origin, latitude, 5.0);
        point.time_ms = Some(time_s * 1000);
        point.altitude_m = Some(10.0);
        point
    }

    fn track(points: Vec<TrackPoint>) -> Track {
        Track { format: Format::Nmea, points, rejected: Vec::new(), notes: Vec::new() }
    }

    #[test]
    fn missing_second_is_a_gap() {
        let times = [0, 1, 2, 4, 5, 6];
        let points = times.iter().enumerate().map(|(i, t)| point(i, *t, 50.0 + i as f64)).collect();
        let notes = describe(&track(points));
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].starts_with("1 time gaps of at least 2 s"), "{notes:?}");
        assert!(notes[0].contains("2 s after line 2"), "{notes:?}");
    }

    #[test]
    fn regular_track_has_no_note() {
        let points = (0..10).map(|i| point(i, i as i64 * 12, 50.0 + i as f64)).collect();
        assert!(describe(&track(points)).is_empty());
    }

    #[test]
    fn repeats_elevation_and_2d_are_counted() {
        let mut points: Vec<TrackPoint> = (0..4).map(|i| point(i, i as i64, 50.0)).collect();
        points[1].altitude_m = None;
        points[2].two_dimensional = true;
        let notes = describe(&track(points));
        assert!(notes.iter().any(|note| note.starts_with("1 fixes are 2D")), "{notes:?}");
        assert!(notes.iter().any(|note| note == "1 points have no elevation"), "{notes:?}");
        assert!(notes.iter().any(|note| note.starts_with("3 points repeat")), "{notes:?}");
    }
}
