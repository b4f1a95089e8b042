//! Verification of checkpoint scans.

mod signed;

pub use signed::{
    SIGNED_TAG_PREFIX, TagClaims, TagError, TagKey, TagSigner, decode_public_key, is_signed_tag,
    verify_signed_tag,
};

use crate::location::distance_m;
use crate::model::{CheckinReason, Checkpoint, FixFlag, Location, Verification};

/// Limits applied when verifying a check-in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckinPolicy {
    /// Largest fix accuracy, in metres, that can prove presence at a checkpoint. A fix
    /// vaguer than this cannot tell one checkpoint from the next.
    pub max_accuracy_m: f64,
}

impl Default for CheckinPolicy {
    fn default() -> Self {
        Self { max_accuracy_m: 50.0 }
    }
}

/// The checkpoint a scanned tag resolved to.
#[derive(Debug, Clone, Copy)]
pub enum ScannedCheckpoint<'a> {
    /// No stored site has a checkpoint with the tag.
    Unknown,
    /// The tag belongs to a checkpoint of a site other than the shift's.
    OtherSite {
        /// The site of the checkpoint that carries the tag.
        site_id: &'a str,
        /// The checkpoint.
        checkpoint: &'a Checkpoint,
    },
    /// The tag belongs to a checkpoint of the shift's site, or no site is assigned to the
    /// shift.
    Found(&'a Checkpoint),
}

/// Verifies a scan: the tag must belong to a checkpoint of the shift's site, and the
/// guard's fix must be recent, precise enough and close enough.
///
/// A fix counts as close enough when its accuracy circle overlaps the checkpoint's radius,
/// that is when the distance minus the accuracy is at most the radius.
pub fn verify_checkin(
    scanned: ScannedCheckpoint<'_>,
    location: &Location,
    policy: &CheckinPolicy,
) -> Verification {
    let checkpoint = match scanned {
        ScannedCheckpoint::Unknown => {
            return Verification {
                accepted: false,
                checkpoint_id: None,
                reasons: vec![CheckinReason::UnknownTag],
                tour_ids: Vec::new(),
            };
        }
        ScannedCheckpoint::OtherSite { site_id, checkpoint } => {
            return Verification {
                accepted: false,
                checkpoint_id: Some(checkpoint.id.clone()),
                reasons: vec![CheckinReason::WrongSite { checkpoint_site_id: site_id.to_string() }],
                tour_ids: Vec::new(),
            };
        }
        ScannedCheckpoint::Found(checkpoint) => checkpoint,
    };

    let reasons = location_reasons(checkpoint, location, policy);
    Verification {
        accepted: reasons.is_empty(),
        checkpoint_id: Some(checkpoint.id.clone()),
        reasons,
        tour_ids: Vec::new(),
    }
}

/// Returns the reasons to distrust the guard's position given the flags of the newest fix
/// the device received: a mocked fix, or one that is implausible. A repeated fix time alone
/// says nothing about the position, so `duplicate_time` is no reason.
///
/// The attached fix is the newest trusted one, which may be older than a flagged fix that
/// came after it; these reasons keep a mock provider from hiding behind that older fix.
pub fn location_trust_reasons(newest_flags: &[FixFlag]) -> Vec<CheckinReason> {
    let mut reasons = Vec::new();
    if newest_flags.contains(&FixFlag::Mock) {
        reasons.push(CheckinReason::MockLocation);
    }

    let implausible: Vec<String> = newest_flags
        .iter()
        .filter(|flag| !matches!(flag, FixFlag::Mock | FixFlag::DuplicateTime))
        .map(|flag| flag.code().to_string())
        .collect();
    if !implausible.is_empty() {
        reasons.push(CheckinReason::ImplausibleLocation { flags: implausible });
    }
    reasons
}

fn location_reasons(
    checkpoint: &Checkpoint,
    location: &Location,
    policy: &CheckinPolicy,
) -> Vec<CheckinReason> {
    let Some(fix) = location.fix() else {
        return vec![CheckinReason::NoFix];
    };

    let mut reasons = Vec::new();
    if fix.accuracy_m > policy.max_accuracy_m {
        reasons.push(CheckinReason::FixTooInaccurate {
            accuracy_m: fix.accuracy_m,
            max_accuracy_m: policy.max_accuracy_m,
        });
    }

    let distance = distance_m(fix.position(), checkpoint.position);
    if distance - fix.accuracy_m > checkpoint.radius_m {
        reasons.push(CheckinReason::TooFar {
            distance_m: distance,
            accuracy_m: fix.accuracy_m,
            radius_m: checkpoint.radius_m,
        });
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Fix, FixSource, LatLon, NoFixReason};

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            id: "gate".into(),
            name: "Gate".into(),
            position: LatLon { latitude: 37.8065, longitude: -122.3000 },
            radius_m: 20.0,
            tags: Vec::new(),
        }
    }

    fn at(metres_north: f64, accuracy_m: f64) -> Location {
        Location::Fix(Fix {
            latitude: 37.8065 + metres_north / 111_195.0,
            longitude: -122.3000,
            accuracy_m,
            altitude_m: None,
            speed_mps: None,
            bearing_deg: None,
            source: FixSource::Gnss,
            mock: false,
            fix_time_ms: 0,
        })
    }

    #[test]
    fn close_fix_is_accepted() {
        let gate = checkpoint();
        let verification = verify_checkin(
            ScannedCheckpoint::Found(&gate),
            &at(15.0, 5.0),
            &CheckinPolicy::default(),
        );
        assert!(verification.accepted, "{verification:?}");
        assert_eq!(verification.checkpoint_id.as_deref(), Some("gate"));
    }

    #[test]
    fn far_fix_is_too_far() {
        let gate = checkpoint();
        let verification = verify_checkin(
            ScannedCheckpoint::Found(&gate),
            &at(1000.0, 5.0),
            &CheckinPolicy::default(),
        );
        assert!(!verification.accepted);
        let [CheckinReason::TooFar { distance_m, radius_m, .. }] = verification.reasons[..] else {
            panic!("expected one too_far reason, got {:?}", verification.reasons);
        };
        assert!((distance_m - 1000.0).abs() < 5.0, "distance {distance_m}");
        assert_eq!(radius_m, 20.0);
    }

    #[test]
    fn vague_fix_is_refused() {
        let gate = checkpoint();
        let verification = verify_checkin(
            ScannedCheckpoint::Found(&gate),
            &at(0.0, 80.0),
            &CheckinPolicy::default(),
        );
        assert_eq!(verification.reasons.len(), 1);
        assert_eq!(verification.reasons[0].code(), "fix_too_inaccurate");
    }

    #[test]
    fn flagged_newest_fix_gives_trust_reasons() {
        assert_eq!(location_trust_reasons(&[FixFlag::Mock]), vec![CheckinReason::MockLocation]);
        assert_eq!(
            location_trust_reasons(&[FixFlag::ImplausibleSpeed]),
            vec![CheckinReason::ImplausibleLocation { flags: vec!["implausible_speed".into()] }]
        );
        assert_eq!(
            location_trust_reasons(&[FixFlag::NullIsland, FixFlag::TimeBackwards]),
            vec![CheckinReason::ImplausibleLocation {
                flags: vec!["null_island".into(), "time_backwards".into()]
            }]
        );
        assert!(location_trust_reasons(&[FixFlag::DuplicateTime]).is_empty());
        assert!(location_trust_reasons(&[]).is_empty());
    }

    #[test]
    fn missing_fix_and_unknown_tag_are_refused() {
        let gate = checkpoint();
        let no_fix = Location::NoFix { reason: NoFixReason::Stale };
        let verification =
            verify_checkin(ScannedCheckpoint::Found(&gate), &no_fix, &CheckinPolicy::default());
        assert_eq!(verification.reasons, vec![CheckinReason::NoFix]);

        let unknown =
            verify_checkin(ScannedCheckpoint::Unknown, &at(0.0, 5.0), &CheckinPolicy::default());
        assert_eq!(unknown.reasons, vec![CheckinReason::UnknownTag]);
        assert_eq!(unknown.checkpoint_id, None);
    }
}
