//! Validation of the sites the SOC assigns, before they are stored.

use std::collections::HashSet;

use super::geofence::check_perimeter;
use crate::error::{Error, Result};
use crate::model::Site;
use crate::tour::validate_tour;

impl Site {
    /// Checks that the site can be used on the device: a non-empty id, a valid perimeter
    /// (or none), checkpoints with valid positions, positive radii and unique ids, and
    /// tours that can be scheduled.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] whose field names the site (and the checkpoint or tour) and
    /// whose reason names the broken rule.
    pub fn validate(&self) -> Result<()> {
        let field = format!("site {:?}", self.id);
        if self.id.trim().is_empty() {
            return Err(Error::invalid("site", "the id is empty"));
        }
        if !self.perimeter.is_empty() {
            check_perimeter(&self.perimeter).map_err(|problem| Error::invalid(&field, problem))?;
        }

        let mut ids = HashSet::new();
        for checkpoint in &self.checkpoints {
            let field = format!("{field} checkpoint {:?}", checkpoint.id);
            if !ids.insert(checkpoint.id.as_str()) {
                return Err(Error::invalid(field, "the id is used twice"));
            }
            let position = checkpoint.position;
            let valid = position.latitude.is_finite()
                && position.longitude.is_finite()
                && position.latitude.abs() <= 90.0
                && position.longitude.abs() <= 180.0;
            if !valid {
                return Err(Error::invalid(
                    field,
                    "the position is not a valid latitude and longitude",
                ));
            }
            if !(checkpoint.radius_m.is_finite() && checkpoint.radius_m > 0.0) {
                return Err(Error::invalid(
                    field,
                    format!("radius_m {} must be a positive number", checkpoint.radius_m),
                ));
            }
        }

        for tour in &self.tours {
            validate_tour(self, tour)?;
        }
        Ok(())
    }
}
