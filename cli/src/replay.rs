//! `vigil replay`: a recorded track played through the core as a phone would.
//!
//! The device clock is a [`ManualClock`] that follows the fix times, so every plausibility
//! check uses the track's own times. Fixes go to [`Vigil::record_fixes`] in batches. With a
//! site, a GPS check-in is made the first time a trusted fix reaches each checkpoint. No
//! server is involved, so every record stays pending.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use vigil_core::location::distance_m;
use vigil_core::model::{Fix, FixSource, LatLon, ScanMethod, Site};
use vigil_core::wording::Language;
use vigil_core::{Clock, Config, FixOutcome, ManualClock, SystemClock, Vigil};

use crate::error::{CliError, Context as _};
use crate::report::{Group, Grouper, ShiftSummary, field, write_groups};
use crate::tracks::{self, AccuracySource, Format, Track, TrackPoint};

/// The GPS epoch, 1980-01-06T00:00:00Z, in milliseconds since the Unix epoch. The replay
/// clock never takes a fix time before it.
const GPS_EPOCH_MS: i64 = 315_964_800_000;

/// Distance from every checkpoint, in metres, beyond which the report notes that the track
/// is not at the site.
const FAR_FROM_SITE_M: f64 = 1000.0;

/// Fixes per call to [`Vigil::record_fixes`]; a phone delivers a few seconds' worth at once.
const BATCH_SIZE: usize = 10;

/// Options of a replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The GPX or NMEA file.
    pub track: PathBuf,
    /// A GeoJSON file to build the site from.
    pub site: Option<PathBuf>,
    /// The id of the GeoJSON polygon feature to use as the perimeter.
    pub perimeter_id: Option<String>,
    /// The file holding the passphrase of the device store; `None` for a random one.
    pub passphrase_file: Option<PathBuf>,
    /// The language of refusal texts.
    pub language: Language,
}

/// A summary of the input.
#[derive(Debug, Clone, Serialize)]
pub struct InputSummary {
    /// The track file.
    pub file: String,
    /// The format detected from its content.
    pub format: Format,
    /// Points (GPX) or epochs (NMEA) that carried a position.
    pub positions: usize,
    /// Fixes passed to the core.
    pub fixes_offered: usize,
    /// Trusted fixes the core checked but did not store, because they added nothing to
    /// the track at its default storage rate (5 m, 30 s, 30°).
    pub fixes_skipped: usize,
    /// Fixes whose accuracy is HDOP × 5 m, an estimate.
    pub accuracy_from_hdop: usize,
    /// Fixes that got the default accuracy of a handheld receiver.
    pub accuracy_default: usize,
    /// Facts about the input, such as ignored waypoints or unread extensions.
    pub notes: Vec<String>,
}

/// The outcome of a replay.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// The summary of the input.
    pub input: InputSummary,
    /// Points and lines that did not become stored fixes, by reason.
    pub rejected: Vec<Group>,
    /// Stored fixes the core flagged, by flag code.
    pub flagged: Vec<Group>,
    /// The shift as the device stored it.
    pub shift: ShiftSummary,
}

impl ReplayReport {
    /// Formats the report as text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let input = &self.input;
        let _ = writeln!(out, "Replay of {} ({})", input.file, input.format);
        field(&mut out, "positions read", input.positions);
        field(&mut out, "fixes offered", input.fixes_offered);
        field(&mut out, "fixes checked, not stored", input.fixes_skipped);
        let accuracy = format!(
            "{} from HDOP × {} m (an estimate), {} at the {} m default",
            input.accuracy_from_hdop,
            tracks::METRES_PER_HDOP,
            input.accuracy_default,
            tracks::DEFAULT_ACCURACY_M
        );
        field(&mut out, "accuracy", accuracy);
        for note in &input.notes {
            let _ = writeln!(out, "  note: {note}");
        }

        out.push('\n');
        write_groups(&mut out, "Rejected", &self.rejected);
        out.push('\n');
        write_groups(&mut out, "Flagged by the core", &self.flagged);
        out.push('\n');
        self.shift.write_text(&mut out, false);
        out
    }
}

/// Replays a track and returns the report.
///
/// # Errors
///
/// [`CliError::Input`] for an unreadable or invalid track or site file; [`CliError::Core`]
/// if the device store fails.
pub fn run(options: &ReplayOptions) -> Result<ReplayReport, CliError> {
    let track = tracks::read_track(&options.track)?;
    let site = match &options.site {
        Some(path) => Some(crate::site::load(path, options.perimeter_id.as_deref())?),
        None => None,
    };
    tracing::info!(format = %track.format, points = track.points.len(), "track read");

    let folder = tempfile::tempdir().map_err(|error| {
        CliError::Other(format!("failed to create a temporary folder: {error}"))
    })?;
    let clock = ManualClock::new(start_time(&track));
    // The replay never syncs, so the server address is never contacted.
    let mut config = Config::new("replay-device", "replay-guard", "http://127.0.0.1:9", "replay");
    config.key_encryption_key =
        Some(crate::passphrase::key_encryption_key(options.passphrase_file.as_deref())?);
    let vigil =
        Vigil::open_with_clock(folder.path().join("device.db"), config, Arc::new(clock.clone()))
            .context("opening the device store")?;

    if let Some(site) = &site {
        vigil.store().save_sites(std::slice::from_ref(site), None).context("storing the site")?;
    }
    vigil.start_shift(site.as_ref().map(|site| site.id.clone())).context("starting the shift")?;

    let mut player = Player::new(&vigil, &clock, site.as_ref());
    for rejection in &track.rejected {
        player.rejected.add(
            &rejection.reason,
            rejection.origin,
            rejection.time_ms,
            rejection.detail.clone(),
        );
    }
    let corroborated = corroborated_times(&track.points);
    for (point, corroborated) in track.points.iter().zip(corroborated) {
        player.offer(point, corroborated)?;
    }
    player.flush()?;

    vigil.end_shift().context("ending the shift")?;
    let shift = ShiftSummary::collect(&vigil, options.language)?;

    let input = InputSummary {
        file: options.track.display().to_string(),
        format: track.format,
        positions: track.points.len(),
        fixes_offered: player.offered,
        fixes_skipped: player.skipped,
        accuracy_from_hdop: count_accuracy(&track, AccuracySource::Hdop),
        accuracy_default: count_accuracy(&track, AccuracySource::Default),
        notes: track
            .notes
            .iter()
            .cloned()
            .chain(tracks::defects::describe(&track))
            .chain(site.as_ref().and_then(|site| distance_note(&track, site)))
            .collect(),
    };
    Ok(ReplayReport {
        input,
        rejected: player.rejected.finish(),
        flagged: player.flagged.finish(),
        shift,
    })
}

/// Returns the first confirmed fix time on or after the GPS epoch, or the system time when
/// the track has none, so the shift starts when the track does.
fn start_time(track: &Track) -> i64 {
    track
        .points
        .iter()
        .zip(corroborated_times(&track.points))
        .filter(|(_, corroborated)| *corroborated)
        .filter_map(|(point, _)| point.time_ms)
        .find(|time| *time >= GPS_EPOCH_MS)
        .unwrap_or_else(|| SystemClock.now_ms())
}

/// Returns a note when the track never comes within [`FAR_FROM_SITE_M`] of any
/// checkpoint, which usually means the site and the track are of different places.
fn distance_note(track: &Track, site: &Site) -> Option<String> {
    let nearest_m = track
        .points
        .iter()
        .flat_map(|point| {
            let position = LatLon { latitude: point.latitude, longitude: point.longitude };
            site.checkpoints.iter().map(move |checkpoint| distance_m(position, checkpoint.position))
        })
        .min_by(f64::total_cmp)?;
    (nearest_m > FAR_FROM_SITE_M).then(|| {
        format!(
            "the track comes no closer than {:.1} km to any checkpoint of the site, so none can be reached",
            nearest_m / 1000.0
        )
    })
}

/// Maximum time, in milliseconds, between a fix and a neighbour that confirms its time.
const CORROBORATION_MS: i64 = 10 * 60 * 1000;

/// Returns, for each point, whether the timed point before or after it is within
/// [`CORROBORATION_MS`] of it, so that its time can be believed enough to set the clock.
fn corroborated_times(points: &[TrackPoint]) -> Vec<bool> {
    let times: Vec<Option<i64>> = points.iter().map(|point| point.time_ms).collect();
    let near = |a: Option<i64>, b: Option<i64>| match (a, b) {
        (Some(a), Some(b)) => a.abs_diff(b) <= CORROBORATION_MS as u64,
        _ => false,
    };
    (0..times.len())
        .map(|index| {
            let before = index.checked_sub(1).and_then(|previous| times[previous]);
            let after = times.get(index + 1).copied().flatten();
            near(times[index], before) || near(times[index], after)
        })
        .collect()
}

fn count_accuracy(track: &Track, source: AccuracySource) -> usize {
    track
        .points
        .iter()
        .filter(|point| point.time_ms.is_some() && point.accuracy_source == source)
        .count()
}

/// Feeds fixes to the core in batches and makes the GPS check-ins.
struct Player<'a> {
    vigil: &'a Vigil,
    clock: &'a ManualClock,
    site: Option<&'a Site>,
    /// Checkpoints not yet scanned, in the site's order.
    unscanned: Vec<String>,
    /// The batch's points, each with whether its time may move the device clock.
    batch: Vec<(&'a TrackPoint, bool)>,
    offered: usize,
    skipped: usize,
    rejected: Grouper,
    flagged: Grouper,
}

impl<'a> Player<'a> {
    fn new(vigil: &'a Vigil, clock: &'a ManualClock, site: Option<&'a Site>) -> Self {
        let unscanned = site
            .map(|site| site.checkpoints.iter().map(|c| c.id.clone()).collect())
            .unwrap_or_default();
        Self {
            vigil,
            clock,
            site,
            unscanned,
            batch: Vec::new(),
            offered: 0,
            skipped: 0,
            rejected: Grouper::default(),
            flagged: Grouper::default(),
        }
    }

    fn offer(&mut self, point: &'a TrackPoint, corroborated: bool) -> Result<(), CliError> {
        if point.time_ms.is_none() {
            self.rejected.add("missing timestamp", point.origin, None, None);
            return Ok(());
        }
        self.batch.push((point, corroborated));

        let reached = self.reached_checkpoint(point);
        if reached.is_some() || self.batch.len() >= BATCH_SIZE {
            let trusted = self.flush()?;
            if let (Some(checkpoint), true) = (reached, trusted) {
                self.check_in(&checkpoint)?;
            }
        }
        Ok(())
    }

    /// Records the batch. Returns whether the last fix of the batch was trusted, so that a
    /// check-in right after it is made at that fix.
    fn flush(&mut self) -> Result<bool, CliError> {
        if self.batch.is_empty() {
            return Ok(false);
        }
        let batch = std::mem::take(&mut self.batch);

        // The phone delivers the batch when its newest fix arrives, so the device clock
        // reads the latest plausible fix time. It never goes back, and a lone time that no
        // neighbouring fix confirms (such as one fix dated 2099) does not move it.
        for (point, corroborated) in &batch {
            let time = point.time_ms.unwrap_or_default();
            if *corroborated && time >= GPS_EPOCH_MS && time >= self.clock.now_ms() {
                self.clock.set(time);
            }
        }

        let fixes: Vec<Fix> = batch.iter().map(|(point, _)| to_fix(point)).collect();
        self.offered += fixes.len();
        let outcomes = self.vigil.record_fixes(fixes).context("storing fixes")?;

        let mut last_trusted = false;
        for ((point, _), outcome) in batch.iter().zip(outcomes) {
            last_trusted = false;
            match outcome {
                FixOutcome::Stored { flags, .. } if flags.is_empty() => last_trusted = true,
                FixOutcome::Skipped => {
                    self.skipped += 1;
                    last_trusted = true;
                }
                FixOutcome::Stored { flags, .. } => {
                    let codes: Vec<&str> = flags.iter().map(|flag| flag.code()).collect();
                    for flag in &flags {
                        let detail =
                            (flags.len() > 1).then(|| format!("flags {}", codes.join(", ")));
                        self.flagged.add(flag.code(), point.origin, point.time_ms, detail);
                    }
                }
                FixOutcome::Rejected { field, reason } => {
                    self.rejected.add(
                        &format!("invalid {field}"),
                        point.origin,
                        point.time_ms,
                        Some(reason),
                    );
                }
            }
        }
        Ok(last_trusted)
    }

    /// Returns the first unscanned checkpoint whose radius the point's accuracy circle
    /// reaches.
    fn reached_checkpoint(&self, point: &TrackPoint) -> Option<String> {
        let site = self.site?;
        let position = LatLon { latitude: point.latitude, longitude: point.longitude };
        self.unscanned
            .iter()
            .filter_map(|id| site.checkpoint(id))
            .find(|checkpoint| {
                let distance = distance_m(position, checkpoint.position);
                distance - point.accuracy_m <= checkpoint.radius_m
            })
            .map(|checkpoint| checkpoint.id.clone())
    }

    fn check_in(&mut self, checkpoint: &str) -> Result<(), CliError> {
        let check_in = self
            .vigil
            .scan_checkpoint(ScanMethod::Gps, checkpoint)
            .context("checking in at a checkpoint")?;
        tracing::debug!(accepted = check_in.verification.accepted, "GPS check-in");
        self.unscanned.retain(|id| id != checkpoint);
        Ok(())
    }
}

fn to_fix(point: &TrackPoint) -> Fix {
    Fix {
        latitude: point.latitude,
        longitude: point.longitude,
        accuracy_m: point.accuracy_m,
        altitude_m: point.altitude_m,
        speed_mps: point.speed_mps,
        bearing_deg: point.bearing_deg,
        source: FixSource::Gnss,
        mock: false,
        fix_time_ms: point.time_ms.unwrap_or_default(),
    }
}
