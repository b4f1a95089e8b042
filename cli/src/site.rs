//! Sites built from GeoJSON (RFC 7946) feature collections.
//!
//! The perimeter is one polygon feature: the one named with `--perimeter-id`, else the
//! largest feature with a `building` property, else the largest polygon. Its corners and
//! every Point feature become GPS-only checkpoints with a [`CHECKPOINT_RADIUS_M`] radius,
//! all in one unordered tour.

use std::path::Path;
use std::str::FromStr;

use geo::{ChamberlainDuquetteArea, LineString, Polygon};
use geojson::{Feature, GeoJson, GeometryValue, Position};
use vigil_core::model::{Checkpoint, LatLon, Site, Tour};

use crate::error::CliError;
use crate::tracks::{decode_text, read_problem};

/// Radius of every checkpoint built from GeoJSON, in metres.
pub const CHECKPOINT_RADIUS_M: f64 = 25.0;

/// How often the tour of a GeoJSON site is walked, in minutes.
const TOUR_EVERY_MINUTES: u32 = 60;

/// Builds a site from a GeoJSON file.
///
/// # Errors
///
/// [`CliError::Input`] naming the file when it cannot be read, is not GeoJSON, has no
/// usable polygon, has no feature with `perimeter_id`, or has an invalid coordinate.
pub fn load(path: &Path, perimeter_id: Option<&str>) -> Result<Site, CliError> {
    let bytes = std::fs::read(path).map_err(|error| CliError::input(path, read_problem(&error)))?;
    let text = decode_text(path, &bytes)?;
    let geojson = GeoJson::from_str(&text)
        .map_err(|error| CliError::input(path, format!("is not valid GeoJSON: {error}")))?;

    let features = match geojson {
        GeoJson::FeatureCollection(collection) => collection.features,
        GeoJson::Feature(feature) => vec![feature],
        GeoJson::Geometry(_) => {
            return Err(CliError::input(
                path,
                "is a bare geometry; a site needs a Feature or FeatureCollection",
            ));
        }
    };

    let mut polygons = Vec::new();
    let mut points = Vec::new();
    for (index, feature) in features.iter().enumerate() {
        let id = feature_id(feature, index);
        let Some(geometry) = &feature.geometry else { continue };
        match &geometry.value {
            GeometryValue::Polygon { coordinates } => {
                let ring = ring(path, &id, coordinates.first())?;
                polygons.push(Candidate { id, feature, ring });
            }
            GeometryValue::MultiPolygon { coordinates } => {
                // The largest part stands for the feature.
                let mut best: Option<Vec<LatLon>> = None;
                for polygon in coordinates {
                    let part = ring(path, &id, polygon.first())?;
                    if best.as_ref().is_none_or(|best| area_m2(&part) > area_m2(best)) {
                        best = Some(part);
                    }
                }
                if let Some(ring) = best {
                    polygons.push(Candidate { id, feature, ring });
                }
            }
            GeometryValue::Point { coordinates } => {
                let position = lat_lon(path, &id, coordinates)?;
                points.push((id, feature, position));
            }
            _ => {}
        }
    }

    let perimeter = choose_perimeter(path, polygons, perimeter_id)?;
    Ok(build_site(perimeter, points))
}

struct Candidate<'a> {
    id: String,
    feature: &'a Feature,
    ring: Vec<LatLon>,
}

fn choose_perimeter<'a>(
    path: &Path,
    polygons: Vec<Candidate<'a>>,
    requested: Option<&str>,
) -> Result<Candidate<'a>, CliError> {
    if let Some(requested) = requested {
        let known: Vec<String> = polygons.iter().map(|candidate| candidate.id.clone()).collect();
        return polygons.into_iter().find(|candidate| candidate.id == requested).ok_or_else(|| {
            let listed: Vec<&str> = known.iter().take(10).map(String::as_str).collect();
            CliError::input(
                path,
                format!(
                    "has no polygon feature with id {requested:?}; polygon ids include {}",
                    listed.join(", ")
                ),
            )
        });
    }

    let is_building = |candidate: &Candidate<'_>| property(candidate.feature, "building").is_some();
    let largest = |candidates: Vec<Candidate<'a>>| {
        candidates.into_iter().max_by(|a, b| area_m2(&a.ring).total_cmp(&area_m2(&b.ring)))
    };
    let (buildings, others): (Vec<_>, Vec<_>) = polygons.into_iter().partition(is_building);
    largest(buildings).or_else(|| largest(others)).ok_or_else(|| {
        CliError::input(path, "has no Polygon feature to use as the site's perimeter")
    })
}

fn build_site(perimeter: Candidate<'_>, points: Vec<(String, &Feature, LatLon)>) -> Site {
    let site_name = label(perimeter.feature).unwrap_or_else(|| perimeter.id.clone());

    let mut checkpoints: Vec<Checkpoint> = Vec::new();
    let mut corners = perimeter.ring.clone();
    if corners.len() > 1 && corners.first() == corners.last() {
        corners.pop();
    }
    for (number, corner) in corners.iter().enumerate() {
        checkpoints.push(gps_checkpoint(
            format!("{}#corner{}", perimeter.id, number + 1),
            format!("{site_name}, corner {}", number + 1),
            *corner,
        ));
    }
    for (id, feature, position) in points {
        let name = label(feature).unwrap_or_else(|| id.clone());
        checkpoints.push(gps_checkpoint(id, name, position));
    }

    // Ids must be unique within a site; a repeated feature id gets a suffix.
    for index in 1..checkpoints.len() {
        let mut suffix = 2;
        let base = checkpoints[index].id.clone();
        while checkpoints[..index].iter().any(|earlier| earlier.id == checkpoints[index].id) {
            checkpoints[index].id = format!("{base}~{suffix}");
            suffix += 1;
        }
    }

    let tour = Tour {
        id: "all-checkpoints".to_string(),
        name: "All checkpoints".to_string(),
        checkpoint_ids: checkpoints.iter().map(|checkpoint| checkpoint.id.clone()).collect(),
        ordered: false,
        every_minutes: TOUR_EVERY_MINUTES,
        timing: Default::default(),
    };
    Site {
        id: perimeter.id,
        name: site_name,
        perimeter: perimeter.ring,
        checkpoints,
        tours: vec![tour],
        revision: 1,
    }
}

fn gps_checkpoint(id: String, name: String, position: LatLon) -> Checkpoint {
    Checkpoint { id, name, position, radius_m: CHECKPOINT_RADIUS_M, tags: Vec::new() }
}

/// Returns the feature's id, an `osm_id`, `@id` or `id` property, or `feature/N`.
fn feature_id(feature: &Feature, index: usize) -> String {
    match &feature.id {
        Some(geojson::feature::Id::String(id)) => id.clone(),
        Some(geojson::feature::Id::Number(number)) => number.to_string(),
        None => ["osm_id", "@id", "id"]
            .iter()
            .find_map(|key| property(feature, key))
            .unwrap_or_else(|| format!("feature/{}", index + 1)),
    }
}

/// Returns a name for a feature: its `name`, else its first OpenStreetMap tag of a kind a
/// guard would recognise, such as `barrier=gate`.
fn label(feature: &Feature) -> Option<String> {
    if let Some(name) = property(feature, "name") {
        return Some(name);
    }
    [
        "barrier",
        "amenity",
        "building",
        "highway",
        "entrance",
        "man_made",
        "emergency",
        "landuse",
        "leisure",
    ]
    .iter()
    .find_map(|key| property(feature, key).map(|value| format!("{key}={value}")))
}

fn property(feature: &Feature, key: &str) -> Option<String> {
    match feature.properties.as_ref()?.get(key)? {
        serde_json::Value::String(value) => Some(value.clone()),
        serde_json::Value::Number(value) => Some(value.to_string()),
        _ => None,
    }
}

fn ring(path: &Path, id: &str, positions: Option<&Vec<Position>>) -> Result<Vec<LatLon>, CliError> {
    let positions = positions
        .ok_or_else(|| CliError::input(path, format!("feature {id} is a polygon without rings")))?;
    let ring = positions
        .iter()
        .map(|position| lat_lon(path, id, position))
        .collect::<Result<Vec<_>, _>>()?;
    if ring.len() < 4 {
        return Err(CliError::input(
            path,
            format!(
                "feature {id} has a ring of {} positions; GeoJSON needs at least 4",
                ring.len()
            ),
        ));
    }
    Ok(ring)
}

fn lat_lon(path: &Path, id: &str, position: &Position) -> Result<LatLon, CliError> {
    let values = position.as_slice();
    let (Some(&longitude), Some(&latitude)) = (values.first(), values.get(1)) else {
        return Err(CliError::input(
            path,
            format!("feature {id} has a position with fewer than 2 numbers"),
        ));
    };
    let valid = latitude.is_finite()
        && longitude.is_finite()
        && latitude.abs() <= 90.0
        && longitude.abs() <= 180.0;
    if !valid {
        return Err(CliError::input(
            path,
            format!(
                "feature {id} has an invalid position: longitude {longitude}, latitude {latitude}"
            ),
        ));
    }
    Ok(LatLon { latitude, longitude })
}

/// Returns the area of a ring in square metres, on a spherical Earth.
fn area_m2(ring: &[LatLon]) -> f64 {
    let line: LineString<f64> =
        ring.iter().map(|point| (point.longitude, point.latitude)).collect();
    Polygon::new(line, Vec::new()).chamberlain_duquette_unsigned_area()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    const COLLECTION: &str = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","id":"way/1","properties":{"building":"yes","name":"Small"},
       "geometry":{"type":"Polygon","coordinates":[[[0,0],[0.0001,0],[0.0001,0.0001],[0,0]]]}},
      {"type":"Feature","id":"way/2","properties":{"building":"yes","name":"Big"},
       "geometry":{"type":"Polygon","coordinates":[[[0,0],[0.001,0],[0.001,0.001],[0,0.001],[0,0]]]}},
      {"type":"Feature","id":"way/3","properties":{"landuse":"grass"},
       "geometry":{"type":"Polygon","coordinates":[[[0,0],[0.01,0],[0.01,0.01],[0,0]]]}},
      {"type":"Feature","id":"node/9","properties":{"barrier":"gate"},
       "geometry":{"type":"Point","coordinates":[0.0005,0.0005]}}
    ]}"#;

    #[test]
    fn largest_building_is_the_perimeter() {
        let file = write(COLLECTION);
        let site = load(file.path(), None).unwrap();
        assert_eq!(site.id, "way/2");
        assert_eq!(site.name, "Big");
        let ids: Vec<&str> = site.checkpoints.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            ["way/2#corner1", "way/2#corner2", "way/2#corner3", "way/2#corner4", "node/9"]
        );
        assert_eq!(site.checkpoints[4].name, "barrier=gate");
        assert_eq!(site.tours[0].checkpoint_ids.len(), 5);
    }

    #[test]
    fn perimeter_id_picks_the_feature() {
        let file = write(COLLECTION);
        assert_eq!(load(file.path(), Some("way/3")).unwrap().id, "way/3");
        let error = load(file.path(), Some("way/404")).unwrap_err().to_string();
        assert!(error.contains("no polygon feature with id \"way/404\""), "{error}");
    }

    #[test]
    fn invalid_position_names_the_feature() {
        let file = write(
            r#"{"type":"Feature","id":"n1","properties":{},"geometry":{"type":"Point","coordinates":[200,0]}}"#,
        );
        let error = load(file.path(), None).unwrap_err().to_string();
        assert!(error.contains("feature n1 has an invalid position"), "{error}");
    }
}
