//! NMEA 0183 logs, read with the `nmea` crate.
//!
//! A receiver sends several sentences for one fix: RMC has the date, position, status,
//! speed and course; GGA the position, fix quality, HDOP and altitude; GLL and GNS repeat
//! the position. The sentences of one fix form an epoch, which ends when the time of day
//! changes or a sentence type repeats. Each epoch becomes at most one [`TrackPoint`].
//!
//! Lines that are not sentences are rejected one by one with the reason: a wrong or missing
//! checksum, a truncated sentence, two sentences glued on one line, corrupt characters, or
//! fields the crate cannot parse. `#` comment lines, blank lines and proprietary `$P…`
//! sentences are skipped, and CRLF line endings are accepted.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveTime, Timelike};
use nmea::sentences::FixType;
use nmea::sentences::rmc::RmcStatusOfFix;
use nmea::{ParseResult, SentenceType};

use super::{Format, InputRejection, Origin, Track, TrackPoint};

/// Metres per second in one knot.
const MPS_PER_KNOT: f64 = 1852.0 / 3600.0;

/// Parses the lines of an NMEA log. Every line that is not a usable sentence is rejected
/// with its reason; nothing fails the whole file.
pub fn read(text: &str) -> Track {
    let mut reader = Reader::default();
    for (number, line) in text.split('\n').enumerate() {
        reader.line(number + 1, line.trim_end_matches('\r'));
    }
    reader.finish()
}

#[derive(Default)]
struct Reader {
    points: Vec<TrackPoint>,
    rejected: Vec<InputRejection>,
    epoch: Option<Epoch>,
    /// The newest UTC date seen in an RMC or ZDA sentence, with the time of day it came with.
    last_date: Option<(NaiveDate, NaiveTime)>,
    comments: usize,
    ignored: BTreeMap<String, usize>,
    altitude_dropped: usize,
}

/// The sentences of one fix.
struct Epoch {
    line: usize,
    time: Option<NaiveTime>,
    /// The sentence types merged so far, in arrival order.
    types: Vec<SentenceType>,
    date: Option<NaiveDate>,
    position: Option<(f64, f64)>,
    /// Whether a sentence reports the fix as void (RMC status V, GGA quality 0, GLL status V).
    void: bool,
    hdop: Option<f32>,
    altitude_msl: Option<f32>,
    geoid_separation: Option<f32>,
    speed_knots: Option<f32>,
    course_deg: Option<f32>,
}

impl Epoch {
    fn new(line: usize, time: Option<NaiveTime>) -> Self {
        Self {
            line,
            time,
            types: Vec::new(),
            date: None,
            position: None,
            void: false,
            hdop: None,
            altitude_msl: None,
            geoid_separation: None,
            speed_knots: None,
            course_deg: None,
        }
    }

    /// Sets the position if no sentence of the epoch has set one yet. RMC, the
    /// recommended minimum sentence, replaces it instead.
    fn offer_position(&mut self, latitude: Option<f64>, longitude: Option<f64>) {
        if let (None, Some(latitude), Some(longitude)) = (self.position, latitude, longitude) {
            self.position = Some((latitude, longitude));
        }
    }
}

impl Reader {
    fn line(&mut self, number: usize, line: &str) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        if trimmed.starts_with('#') {
            self.comments += 1;
            return;
        }

        if trimmed.starts_with("$P") && !trimmed[1..].contains('$') {
            // Proprietary sentences ($P + maker code) carry no standard fix data, and their
            // checksum is up to the maker.
            self.ignore("proprietary");
            return;
        }
        let origin = Origin::Line { line: number };
        if let Err((reason, detail)) = check_framing(trimmed) {
            self.rejected.push(InputRejection::new(origin, reason, Some(detail)));
            return;
        }

        match nmea::parse_str(trimmed) {
            Ok(parsed) => self.sentence(number, parsed),
            Err(nmea::Error::Unsupported(kind))
            | Err(nmea::Error::WrongSentenceHeader { found: kind, .. }) => {
                self.ignore(kind.as_str())
            }
            Err(nmea::Error::DisabledSentence) => self.ignore("disabled"),
            Err(error) => {
                let detail = Some(format!("the nmea crate cannot parse it: {error}"));
                self.rejected.push(InputRejection::new(origin, "unparsable sentence", detail));
            }
        }
    }

    fn ignore(&mut self, kind: &str) {
        *self.ignored.entry(kind.to_string()).or_default() += 1;
    }

    fn sentence(&mut self, line: usize, parsed: ParseResult) {
        match parsed {
            ParseResult::RMC(rmc) => {
                let epoch = self.epoch_for(line, SentenceType::RMC, rmc.fix_time);
                epoch.date = epoch.date.or(rmc.fix_date);
                epoch.void |= rmc.status_of_fix == RmcStatusOfFix::Invalid;
                epoch.position = rmc.lat.zip(rmc.lon).or(epoch.position);
                epoch.speed_knots = rmc.speed_over_ground;
                epoch.course_deg = rmc.true_course;
            }
            ParseResult::GGA(gga) => {
                let epoch = self.epoch_for(line, SentenceType::GGA, gga.fix_time);
                epoch.void |= gga.fix_type.is_none_or(|fix| fix == FixType::Invalid);
                epoch.offer_position(gga.latitude, gga.longitude);
                epoch.hdop = gga.hdop;
                epoch.altitude_msl = gga.altitude;
                epoch.geoid_separation = gga.geoid_separation;
            }
            ParseResult::GNS(gns) => {
                let epoch = self.epoch_for(line, SentenceType::GNS, gns.fix_time);
                epoch.offer_position(gns.lat, gns.lon);
                epoch.hdop = epoch.hdop.or(gns.hdop);
                epoch.altitude_msl = epoch.altitude_msl.or(gns.alt);
                epoch.geoid_separation = epoch.geoid_separation.or(gns.geoid_separation);
            }
            ParseResult::GLL(gll) => {
                let epoch = self.epoch_for(line, SentenceType::GLL, gll.fix_time);
                epoch.void |= !gll.valid;
                epoch.offer_position(gll.latitude, gll.longitude);
            }
            ParseResult::ZDA(zda) => {
                let date = zda.utc_date();
                let epoch = self.epoch_for(line, SentenceType::ZDA, zda.utc_time);
                epoch.date = epoch.date.or(date);
            }
            other => self.ignore(SentenceType::from(&other).as_str()),
        }
    }

    /// Returns the open epoch if the sentence belongs to it, else closes it and opens a new
    /// one.
    fn epoch_for(
        &mut self,
        line: usize,
        kind: SentenceType,
        time: Option<NaiveTime>,
    ) -> &mut Epoch {
        let belongs = self
            .epoch
            .as_ref()
            .is_some_and(|epoch| epoch.time == time && !epoch.types.contains(&kind));
        if !belongs {
            self.close_epoch();
            self.epoch = Some(Epoch::new(line, time));
        }
        let epoch = self.epoch.get_or_insert_with(|| Epoch::new(line, time));
        epoch.types.push(kind);
        epoch
    }

    fn close_epoch(&mut self) {
        let Some(epoch) = self.epoch.take() else {
            return;
        };
        let origin = Origin::Line { line: epoch.line };

        if let (Some(date), Some(time)) = (epoch.date, epoch.time) {
            self.last_date = Some((date, time));
        }

        let Some((latitude, longitude)) = epoch.position else {
            let reason = if epoch.void { "void fix" } else { "no position" };
            let detail = format!("{} without a position", sentence_list(&epoch.types));
            self.rejected.push(InputRejection::new(origin, reason, Some(detail)));
            return;
        };

        let Some(time) = epoch.time else {
            self.rejected.push(InputRejection::new(origin, "missing timestamp", None));
            return;
        };
        let time_ms = self
            .date_for(&epoch, time)
            .map(|date| date.and_time(time).and_utc().timestamp_millis());

        // A void fix at 0,0 is what a receiver without a position reports; it goes on to
        // the core, whose null-island check records it. A void fix elsewhere could pass for
        // a real position, so it stops here.
        let null_island = latitude == 0.0 && longitude == 0.0;
        if epoch.void && !null_island {
            let detail = Some(format!("{} reports the fix as void", sentence_list(&epoch.types)));
            let mut rejection = InputRejection::new(origin, "void fix", detail);
            rejection.time_ms = time_ms;
            self.rejected.push(rejection);
            return;
        }

        let Some(time_ms) = time_ms else {
            let detail =
                Some(format!("time of day {time} and no date in an RMC or ZDA sentence so far"));
            self.rejected.push(InputRejection::new(origin, "missing date", detail));
            return;
        };

        let mut point = TrackPoint::new(origin, latitude, longitude);
        point.time_ms = Some(time_ms);
        point.set_hdop(epoch.hdop.map(f64::from));
        point.speed_mps = epoch.speed_knots.map(|knots| f64::from(knots) * MPS_PER_KNOT);
        point.bearing_deg = epoch.course_deg.map(f64::from);
        // GGA gives the altitude above mean sea level; the ellipsoid height the core stores
        // needs the geoid separation too.
        match (epoch.altitude_msl, epoch.geoid_separation) {
            (Some(altitude), Some(separation)) => {
                point.altitude_m = Some(f64::from(altitude + separation))
            }
            (Some(_), None) => self.altitude_dropped += 1,
            _ => {}
        }
        self.points.push(point);
    }

    /// Returns the epoch's own date, or else the last date seen, moved to the next day when
    /// the time of day wrapped past midnight since then.
    fn date_for(&self, epoch: &Epoch, time: NaiveTime) -> Option<NaiveDate> {
        if epoch.date.is_some() {
            return epoch.date;
        }
        let (date, date_time) = self.last_date?;
        let wrapped =
            date_time.num_seconds_from_midnight() > time.num_seconds_from_midnight() + 12 * 3600;
        if wrapped { date.succ_opt() } else { Some(date) }
    }

    fn finish(mut self) -> Track {
        self.close_epoch();

        let mut notes = Vec::new();
        if self.comments > 0 {
            notes.push(format!("{} comment lines (#) skipped", self.comments));
        }
        if !self.ignored.is_empty() {
            let list: Vec<String> =
                self.ignored.iter().map(|(kind, count)| format!("{kind} {count}")).collect();
            notes.push(format!("sentences without fix data, not used: {}", list.join(", ")));
        }
        if self.altitude_dropped > 0 {
            notes.push(format!(
                "{} fixes have a GGA altitude but no geoid separation, so their ellipsoid height is unknown and was left out",
                self.altitude_dropped
            ));
        }
        Track { format: Format::Nmea, points: self.points, rejected: self.rejected, notes }
    }
}

/// Checks the frame `$…*hh` of one line: one sentence, a two-digit checksum at the end,
/// printable ASCII only, and a checksum that matches. Returns the reason and detail of a
/// rejection.
fn check_framing(line: &str) -> Result<(), (&'static str, String)> {
    if !line.starts_with('$') {
        return Err(("truncated sentence", "the line does not start with $".to_string()));
    }
    if let Some(position) = line[1..].find('$') {
        return Err((
            "glued sentences",
            format!("a second sentence starts at column {}", position + 2),
        ));
    }
    if let Some(position) = line.find(|c: char| !(c.is_ascii_graphic() || c == ' ')) {
        return Err((
            "corrupt characters",
            format!("a control or non-ASCII character at column {}", position + 1),
        ));
    }
    let Some(star) = line.rfind('*') else {
        // The nmea crate needs the checksum; in practice a line without one was cut off.
        return Err((
            "missing checksum",
            "no *hh at the end; the line may be truncated".to_string(),
        ));
    };
    let checksum = &line[star + 1..];
    if checksum.len() != 2 || !checksum.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err((
            "truncated sentence",
            format!("{checksum:?} after the last * is not a two-digit checksum"),
        ));
    }
    let body = &line[1..star];
    if body.contains('*') {
        return Err(("glued sentences", "more than one * in the line".to_string()));
    }

    // NMEA 0183 checksum: XOR of every byte between $ and *.
    let calculated = body.bytes().fold(0u8, |sum, byte| sum ^ byte);
    let found = u8::from_str_radix(checksum, 16).unwrap_or_default();
    if calculated != found {
        return Err((
            "checksum mismatch",
            format!("calculated {calculated:02X}, found {found:02X}"),
        ));
    }
    Ok(())
}

fn sentence_list(types: &[SentenceType]) -> String {
    let names: Vec<&str> = types.iter().map(|kind| kind.as_str()).collect();
    names.join("+")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GGA: &str = "$GPGGA,105154.408,5050.4121,N,00420.8268,E,1,04,2.25,109.0,M,,M,,0000*77";
    const RMC: &str = "$GPRMC,105154.408,A,5050.4121,N,00420.8268,E,0.30,348.36,120319,,,A*63";

    #[test]
    fn gga_and_rmc_make_one_fix() {
        let track = read(&format!("# comment\r\n{GGA}\r\n{RMC}\r\n"));
        assert!(track.rejected.is_empty(), "{:?}", track.rejected);
        assert_eq!(track.points.len(), 1);
        let point = &track.points[0];
        assert_eq!(point.origin, Origin::Line { line: 2 });
        assert!((point.accuracy_m - 11.25).abs() < 1e-6, "{}", point.accuracy_m);
        assert!((point.latitude - 50.840_201_666).abs() < 1e-6);
        // 2019-03-12T10:51:54.408Z
        assert_eq!(point.time_ms, Some(1_552_387_914_408));
        assert_eq!(point.altitude_m, None);
    }

    #[test]
    fn bad_lines_are_rejected_with_reasons() {
        let wrong_checksum = RMC.replace("*63", "*64");
        let glued = format!("$GPGSA,A,1,,,,,,,,,,,,,,,*1E{RMC}");
        let text =
            format!("{wrong_checksum}\n{glued}\n$GPRMC,000346.03,A,4808\0\0\n$GPN,00000.0000,E\n");
        let track = read(&text);
        let reasons: Vec<&str> = track.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            ["checksum mismatch", "glued sentences", "corrupt characters", "missing checksum"]
        );
        assert!(track.points.is_empty());
    }

    #[test]
    fn void_fix_at_null_island_is_kept() {
        let text = "$GPRMC,235948.00,V,0000.0000,N,00000.0000,E,,,161206,,,N*45\n";
        let track = read(text);
        assert_eq!(track.points.len(), 1, "{:?}", track.rejected);
        assert_eq!((track.points[0].latitude, track.points[0].longitude), (0.0, 0.0));
    }

    #[test]
    fn fix_without_any_date_is_rejected() {
        let track = read(&format!("{GGA}\n"));
        assert_eq!(track.rejected.len(), 1);
        assert_eq!(track.rejected[0].reason, "missing date");
    }
}
