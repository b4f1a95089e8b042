use geo::{Contains, LineString, Point, Polygon};

use crate::model::LatLon;

/// Returns whether a point lies strictly inside a perimeter ring. A ring of fewer than three
/// points contains nothing.
///
/// NOTE: the test is planar in degrees, which is exact enough for a site of a few kilometres
/// but wrong for a perimeter that crosses the antimeridian.
pub fn inside_perimeter(perimeter: &[LatLon], point: LatLon) -> bool {
    if perimeter.len() < 3 {
        return false;
    }
    let ring: LineString<f64> =
        perimeter.iter().map(|corner| (corner.longitude, corner.latitude)).collect();
    let polygon = Polygon::new(ring, Vec::new());
    polygon.contains(&Point::new(point.longitude, point.latitude))
}
