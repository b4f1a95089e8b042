//! A simplified track for upload: fewer points, within a stated distance of the original.

use geo::{Distance, Euclidean, Line, LineString, Point, SimplifyIdx};

use crate::model::LatLon;

/// Mean metres per degree of latitude.
const METRES_PER_DEGREE: f64 = 111_195.0;

/// A track reduced with the Ramer–Douglas–Peucker algorithm.
#[derive(Debug, Clone, PartialEq)]
pub struct SimplifiedTrack {
    /// The kept points, in track order; always the first and the last.
    pub points: Vec<LatLon>,
    /// The positions in the original track of the kept points.
    pub kept_indices: Vec<usize>,
    /// The largest distance, in metres, from an original point to the simplified track,
    /// measured on the result; at most the tolerance asked for.
    pub max_deviation_m: f64,
}

/// Simplifies a track so that no original point is farther than `tolerance_m` metres from
/// the result, with `geo`'s Ramer–Douglas–Peucker algorithm on a plane tangent at the
/// first point. Non-finite points are dropped first.
///
/// NOTE: the tangent plane is exact to well under 1% of the tolerance for a patrol of a
/// few kilometres; a track spanning hundreds of kilometres is measured less exactly.
pub fn simplify_track(track: &[LatLon], tolerance_m: f64) -> SimplifiedTrack {
    let finite: Vec<LatLon> = track
        .iter()
        .copied()
        .filter(|point| point.latitude.is_finite() && point.longitude.is_finite())
        .collect();
    let Some(&reference) = finite.first() else {
        return SimplifiedTrack {
            points: Vec::new(),
            kept_indices: Vec::new(),
            max_deviation_m: 0.0,
        };
    };
    let tolerance_m = if tolerance_m.is_finite() { tolerance_m.max(0.0) } else { 0.0 };

    let plane: LineString<f64> =
        finite.iter().map(|point| local_metres(reference, *point)).collect();
    let kept_indices = plane.simplify_idx(tolerance_m);
    let max_deviation_m = max_deviation(&plane, &kept_indices);

    SimplifiedTrack {
        points: kept_indices.iter().map(|&index| finite[index]).collect(),
        kept_indices,
        max_deviation_m,
    }
}

/// Returns the largest distance from a point of `plane` to the segment of kept points
/// that spans it.
fn max_deviation(plane: &LineString<f64>, kept: &[usize]) -> f64 {
    let mut worst: f64 = 0.0;
    for pair in kept.windows(2) {
        let segment = Line::new(plane.0[pair[0]], plane.0[pair[1]]);
        for coord in &plane.0[pair[0]..=pair[1]] {
            worst = worst.max(Euclidean.distance(&Point::from(*coord), &segment));
        }
    }
    worst
}

/// Returns `point` in metres east and north of `reference`, with longitudes unwrapped.
fn local_metres(reference: LatLon, point: LatLon) -> (f64, f64) {
    let delta_longitude = (point.longitude - reference.longitude + 180.0).rem_euclid(360.0) - 180.0;
    let east = delta_longitude * METRES_PER_DEGREE * reference.latitude.to_radians().cos();
    (east, (point.latitude - reference.latitude) * METRES_PER_DEGREE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(east: f64, north: f64) -> LatLon {
        LatLon { latitude: 45.5 + north / METRES_PER_DEGREE, longitude: -73.56 + east / 77_900.0 }
    }

    #[test]
    fn straight_walk_keeps_its_ends() {
        let track: Vec<LatLon> = (0..100).map(|second| at(1.4 * second as f64, 0.0)).collect();
        let simple = simplify_track(&track, 2.0);
        assert_eq!(simple.kept_indices, vec![0, 99]);
        assert!(simple.max_deviation_m < 0.01, "{}", simple.max_deviation_m);
    }

    #[test]
    fn corner_is_kept_and_error_bounded() {
        let mut track: Vec<LatLon> = (0..50).map(|step| at(2.0 * step as f64, 0.0)).collect();
        track.extend((1..50).map(|step| at(98.0, 2.0 * step as f64)));
        let wobbly: Vec<LatLon> = track
            .iter()
            .enumerate()
            .map(|(index, point)| {
                let wobble = if index % 2 == 0 { 1.0 } else { -1.0 } / METRES_PER_DEGREE;
                LatLon { latitude: point.latitude + wobble, longitude: point.longitude }
            })
            .collect();

        let simple = simplify_track(&wobbly, 3.0);
        assert!(simple.kept_indices.contains(&49), "{:?}", simple.kept_indices);
        assert!(simple.points.len() < 10, "{}", simple.points.len());
        assert!(simple.max_deviation_m <= 3.0, "{}", simple.max_deviation_m);
        assert!(simple.max_deviation_m > 0.5, "the wobble is measured: {}", simple.max_deviation_m);
    }

    #[test]
    fn bad_input_gives_empty_or_finite_result() {
        assert!(simplify_track(&[], 5.0).points.is_empty());
        let nan = LatLon { latitude: f64::NAN, longitude: 0.0 };
        let simple = simplify_track(&[nan, at(0.0, 0.0), at(10.0, 0.0)], f64::NAN);
        assert_eq!(simple.points.len(), 2);
        assert_eq!(simple.max_deviation_m, 0.0);
    }
}
