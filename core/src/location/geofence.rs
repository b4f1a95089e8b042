use geo::{Area, Contains, LineString, Point, Polygon, Validation};

use crate::model::LatLon;

/// Returns whether a point lies strictly inside a perimeter ring. A ring of fewer than three
/// points, or with a non-finite coordinate, contains nothing.
///
/// Longitudes are unwrapped around the ring's first corner, so a perimeter that crosses
/// the antimeridian (180°) works as it does anywhere else.
///
/// NOTE: the test is planar in degrees, exact enough for a site of a few kilometres; a
/// perimeter that encloses a pole is not supported.
pub fn inside_perimeter(perimeter: &[LatLon], point: LatLon) -> bool {
    let Some(first) = perimeter.first() else {
        return false;
    };
    // A NaN corner keeps geo from closing the ring, and its containment test then panics.
    let finite = |corner: &LatLon| corner.latitude.is_finite() && corner.longitude.is_finite();
    if perimeter.len() < 3 || !perimeter.iter().all(finite) || !finite(&point) {
        return false;
    }
    let polygon = planar_polygon(perimeter, first.longitude);
    let point = Point::new(unwrap_longitude(point.longitude, first.longitude), point.latitude);
    polygon.contains(&point)
}

/// Checks that a perimeter is a usable polygon: at least three distinct corners with valid
/// coordinates, a non-zero area and no self-intersection.
///
/// # Errors
///
/// A message naming the problem and, where there is one, the corner's index.
pub fn check_perimeter(perimeter: &[LatLon]) -> Result<(), String> {
    for (index, corner) in perimeter.iter().enumerate() {
        let valid_latitude = corner.latitude.is_finite() && corner.latitude.abs() <= 90.0;
        let valid_longitude = corner.longitude.is_finite() && corner.longitude.abs() <= 180.0;
        if !valid_latitude || !valid_longitude {
            return Err(format!(
                "corner {index} ({}, {}) is not a valid latitude and longitude",
                corner.latitude, corner.longitude
            ));
        }
    }
    let Some(first) = perimeter.first() else {
        return Err("the perimeter has no corners".to_string());
    };

    let polygon = planar_polygon(perimeter, first.longitude);
    if let Err(problem) = polygon.check_validation() {
        return Err(format!("the perimeter's {problem}"));
    }
    if polygon.unsigned_area() == 0.0 {
        return Err("the perimeter has zero area (its corners are on one line)".to_string());
    }
    Ok(())
}

/// Builds the perimeter as a planar polygon in degrees, with longitudes unwrapped around
/// `reference_longitude`.
fn planar_polygon(perimeter: &[LatLon], reference_longitude: f64) -> Polygon<f64> {
    let ring: LineString<f64> = perimeter
        .iter()
        .map(|corner| (unwrap_longitude(corner.longitude, reference_longitude), corner.latitude))
        .collect();
    Polygon::new(ring, Vec::new())
}

/// Returns `longitude` shifted by a multiple of 360° to lie within 180° of `reference`.
fn unwrap_longitude(longitude: f64, reference: f64) -> f64 {
    reference + (longitude - reference + 180.0).rem_euclid(360.0) - 180.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corner(latitude: f64, longitude: f64) -> LatLon {
        LatLon { latitude, longitude }
    }

    #[test]
    fn antimeridian_perimeter_contains_its_inside() {
        // A small square on Taveuni, Fiji, straddling 180°.
        let square = [
            corner(-16.80, 179.99),
            corner(-16.80, -179.99),
            corner(-16.82, -179.99),
            corner(-16.82, 179.99),
        ];
        assert!(inside_perimeter(&square, corner(-16.81, 179.995)));
        assert!(inside_perimeter(&square, corner(-16.81, -179.995)));
        assert!(!inside_perimeter(&square, corner(-16.81, 0.0)));
        assert!(!inside_perimeter(&square, corner(-16.81, 179.9)));
        assert!(check_perimeter(&square).is_ok());
    }

    #[test]
    fn near_pole_perimeter_works() {
        let square =
            [corner(89.90, 10.0), corner(89.90, 10.5), corner(89.91, 10.5), corner(89.91, 10.0)];
        assert!(inside_perimeter(&square, corner(89.905, 10.25)));
        assert!(!inside_perimeter(&square, corner(89.905, 11.0)));
    }

    #[test]
    fn bad_perimeters_are_named() {
        let bow_tie =
            [corner(0.0, 0.0), corner(0.001, 0.001), corner(0.0, 0.001), corner(0.001, 0.0)];
        let error = check_perimeter(&bow_tie).unwrap_err();
        assert!(error.contains("self-intersection"), "{error}");

        let line = [corner(1.0, 1.0), corner(1.001, 1.0), corner(1.002, 1.0)];
        let error = check_perimeter(&line).unwrap_err();
        assert!(error.contains("area") || error.contains("distinct"), "{error}");

        let two = [corner(1.0, 1.0), corner(1.001, 1.0)];
        assert!(check_perimeter(&two).unwrap_err().contains("3 distinct"));

        let nan = [corner(f64::NAN, 1.0), corner(1.001, 1.0), corner(1.0, 1.001)];
        assert!(check_perimeter(&nan).unwrap_err().contains("corner 0"));
        assert!(!inside_perimeter(&nan, corner(1.0, 1.0)));
        let square =
            [corner(1.0, 1.0), corner(1.001, 1.0), corner(1.001, 1.001), corner(1.0, 1.001)];
        assert!(!inside_perimeter(&square, corner(f64::NAN, 1.0005)));
        assert!(check_perimeter(&[]).is_err());
    }
}
