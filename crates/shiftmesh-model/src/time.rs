//! Local dates and times, the site's time zone, and the instants derived from them.
//!
//! The document stores local wall-clock values plus one IANA zone per site; instants are derived
//! here with jiff's bundled time-zone database (never the machine's), so every node computes the
//! same instants from the same document.

use std::fmt;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::InputError;

/// The zone used when a site has none recorded and the machine's zone cannot be named.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// A site's time zone: its IANA name and the rules from the bundled database.
#[derive(Clone, Debug)]
pub struct SiteZone {
    name: String,
    tz: TimeZone,
}

impl SiteZone {
    pub fn parse(name: &str) -> Result<SiteZone, InputError> {
        let tz = TimeZone::get(name).map_err(|_| {
            InputError::new(format!(
                "'{name}' is not an IANA time zone (for example Europe/Berlin or America/New_York)"
            ))
        })?;
        Ok(SiteZone {
            name: name.to_owned(),
            tz,
        })
    }

    pub fn utc() -> SiteZone {
        SiteZone {
            name: DEFAULT_TIME_ZONE.to_owned(),
            tz: TimeZone::UTC,
        }
    }

    /// The machine's zone if it has an IANA name that the bundled database knows, else UTC.
    pub fn of_machine() -> SiteZone {
        TimeZone::try_system()
            .ok()
            .and_then(|tz| tz.iana_name().map(str::to_owned))
            .and_then(|name| SiteZone::parse(&name).ok())
            .unwrap_or_else(SiteZone::utc)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// The instant of a local date-time. In a DST gap the later instant is taken and in a fold
    /// the earlier one (RFC 5545's "compatible" rule), so the result is the same everywhere.
    pub fn instant(&self, local: DateTime) -> Timestamp {
        self.resolve(local).0
    }

    /// Whether a local date-time does not exist in this zone (it falls in a DST gap).
    pub fn is_in_gap(&self, local: DateTime) -> bool {
        self.resolve(local).1
    }

    /// The instant of a local date-time (as [`SiteZone::instant`]) and whether it falls in a
    /// gap, from one look-up in the zone's rules.
    pub fn resolve(&self, local: DateTime) -> (Timestamp, bool) {
        let ambiguous = self.tz.to_ambiguous_timestamp(local);
        let in_gap = matches!(ambiguous.offset(), jiff::tz::AmbiguousOffset::Gap { .. });
        // Only date-times at the very ends of jiff's range fail here, and the parsers accept
        // four-digit years only, so the fallback is never taken for a stored value.
        (ambiguous.compatible().unwrap_or(Timestamp::MIN), in_gap)
    }

    /// The local date-time of an instant in this zone.
    pub fn local(&self, instant: Timestamp) -> DateTime {
        instant.to_zoned(self.tz.clone()).datetime()
    }
}

/// A shift's times placed in a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    pub interval: Interval,
    pub start_in_gap: bool,
    pub end_in_gap: bool,
}

/// A half-open interval of instants `[start, end)`: back-to-back shifts do not overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Interval {
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }

    pub fn minutes(&self) -> i64 {
        (self.end.as_second() - self.start.as_second()) / 60
    }
}

/// Parses `YYYY-MM-DD`, strictly.
pub fn parse_date(text: &str) -> Result<Date, InputError> {
    let bad = || InputError::new(format!("'{text}' is not a date of the form YYYY-MM-DD"));
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(bad());
    }
    let year: i16 = digits(&text[0..4]).ok_or_else(bad)?;
    let month: i8 = digits(&text[5..7]).ok_or_else(bad)?;
    let day: i8 = digits(&text[8..10]).ok_or_else(bad)?;
    Date::new(year, month, day).map_err(|_| InputError::new(format!("'{text}' is not a real date")))
}

/// Parses `HH:MM` (00:00 to 23:59), strictly.
pub fn parse_time(text: &str) -> Result<Time, InputError> {
    let bad = || {
        InputError::new(format!(
            "'{text}' is not a time of the form HH:MM (00:00 to 23:59)"
        ))
    };
    let bytes = text.as_bytes();
    if bytes.len() != 5 || bytes[2] != b':' {
        return Err(bad());
    }
    let hour: i8 = digits(&text[0..2]).ok_or_else(bad)?;
    let minute: i8 = digits(&text[3..5]).ok_or_else(bad)?;
    Time::new(hour, minute, 0, 0).map_err(|_| bad())
}

/// Parses `YYYY-MM-DDTHH:MM` (the CLI's DATETIME), strictly.
pub fn parse_datetime(text: &str) -> Result<DateTime, InputError> {
    let (date, time) = text.split_once('T').ok_or_else(|| {
        InputError::new(format!(
            "'{text}' is not a date-time of the form YYYY-MM-DDTHH:MM"
        ))
    })?;
    Ok(parse_date(date)?.to_datetime(parse_time(time)?))
}

/// Parses `YYYY-MM` and returns the first day of that month.
pub fn parse_month(text: &str) -> Result<Date, InputError> {
    parse_date(&format!("{text}-01"))
        .map_err(|_| InputError::new(format!("'{text}' is not a month of the form YYYY-MM")))
}

/// Parses a time as people type it: `HH:MM` or `H:MM` (0:00 to 23:59). Stored values keep the
/// strict [`parse_time`], so one time has one stored form.
pub fn parse_clock(text: &str) -> Result<Time, InputError> {
    match text.split_once(':') {
        Some((hour, _)) if hour.len() == 1 => parse_time(&format!("0{text}")),
        _ => parse_time(text),
    }
    .map_err(|_| InputError::new(format!("'{text}' is not a time like 9:00 or 21:30")))
}

/// Parses a day as people type it: `YYYY-MM-DD`, `today`, `tomorrow`, `yesterday`, or an
/// offset from today in days, weeks or months (`+3d`, `-2d`, `+1w`, `-1m`).
pub fn parse_day(text: &str, today: Date) -> Result<Date, InputError> {
    let bad = || {
        InputError::new(format!(
            "'{text}' is not a day: give YYYY-MM-DD, today, tomorrow, yesterday or an offset like +3d, -1w, +1m"
        ))
    };
    let offset = |span: jiff::Span| today.checked_add(span).map_err(|_| bad());
    match text {
        "today" => return Ok(today),
        "tomorrow" => return offset(jiff::Span::new().days(1)),
        "yesterday" => return offset(jiff::Span::new().days(-1)),
        _ => {}
    }
    let Some(sign) = text
        .strip_prefix('+')
        .map(|_| 1)
        .or(text.strip_prefix('-').map(|_| -1))
    else {
        // A date of the right shape that does not exist (2026-02-30) says so; anything else
        // gets the list of what a day may be.
        return parse_date(text).map_err(|e| {
            if text.len() == 10 && text.as_bytes()[4] == b'-' {
                e
            } else {
                bad()
            }
        });
    };
    // The unit is the last character; slicing by it keeps multi-byte text from splitting.
    let body = &text[1..];
    let Some(unit) = body.chars().last() else {
        return Err(bad());
    };
    let number = &body[..body.len() - unit.len_utf8()];
    let n: i64 = digits(number)
        .filter(|n| *n <= OFFSET_MAX)
        .ok_or_else(bad)?;
    match unit {
        'd' => offset(jiff::Span::new().days(sign * n)),
        'w' => offset(jiff::Span::new().weeks(sign * n)),
        'm' => offset(jiff::Span::new().months(sign * n)),
        _ => Err(bad()),
    }
}

/// The Monday of the week (Monday to Sunday) that holds `day`.
pub fn monday_of(day: Date) -> Date {
    let back = i64::from(day.weekday().to_monday_zero_offset());
    // Only the first days jiff knows have no Monday before them; they are their own.
    day.checked_sub(jiff::Span::new().days(back)).unwrap_or(day)
}

/// The largest offset [`parse_day`] takes, in its unit (days, weeks or months).
const OFFSET_MAX: i64 = 9_999;

/// Parses the start or end of a stretch of time as people type it: a day and a time
/// (`2026-12-20T09:00`, `2026-12-20 9:00`, `tomorrowT9:00`), or a day alone. A day alone means
/// its first moment when it starts a stretch and, when it ends one, the first moment of the next
/// day, so `--from 2026-12-20 --to 2026-12-24` is five whole days.
pub fn parse_moment(text: &str, today: Date, ends: bool) -> Result<DateTime, InputError> {
    match text.split_once(['T', ' ']) {
        Some((day, time)) => Ok(parse_day(day, today)?.to_datetime(parse_clock(time)?)),
        None => {
            let day = parse_day(text, today)?;
            let day = if ends {
                day.tomorrow()
                    .map_err(|_| InputError::new(format!("'{text}' is the last day there is")))?
            } else {
                day
            };
            Ok(day.to_datetime(Time::midnight()))
        }
    }
}

fn digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

pub fn format_time(time: Time) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

pub fn format_datetime(dt: DateTime) -> String {
    format!("{}T{}", dt.date(), format_time(dt.time()))
}

/// The longest span of a shift: an end at or before the start means the next day, so a shift
/// lasts at most 24 hours.
pub const SHIFT_MAX_MINUTES: i64 = 24 * 60;

/// When a shift happens: a local date and a start and end time. Stored as one value
/// (`2026-11-23T09:00/13:00`) so that a merge can never pair one node's start with another's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShiftTime {
    pub date: Date,
    pub start: Time,
    pub end: Time,
}

impl ShiftTime {
    /// Whether the shift ends on the next day (its end is at or before its start).
    pub fn is_overnight(&self) -> bool {
        self.end <= self.start
    }

    pub fn start_local(&self) -> DateTime {
        self.date.to_datetime(self.start)
    }

    pub fn end_local(&self) -> DateTime {
        let end_date = if self.is_overnight() {
            self.date.tomorrow().unwrap_or(self.date)
        } else {
            self.date
        };
        end_date.to_datetime(self.end)
    }

    pub fn interval(&self, zone: &SiteZone) -> Interval {
        self.placed(zone).interval
    }

    /// The shift placed in a zone: its interval, and whether its start or end does not exist
    /// there (a DST gap).
    pub fn placed(&self, zone: &SiteZone) -> Placed {
        let (start, start_in_gap) = zone.resolve(self.start_local());
        let (end, end_in_gap) = zone.resolve(self.end_local());
        Placed {
            interval: Interval { start, end },
            start_in_gap,
            end_in_gap,
        }
    }

    /// The stored form, `YYYY-MM-DDTHH:MM/HH:MM`.
    pub fn encode(&self) -> String {
        format!(
            "{}T{}/{}",
            self.date,
            format_time(self.start),
            format_time(self.end)
        )
    }

    pub fn decode(text: &str) -> Result<ShiftTime, InputError> {
        let (start, end) = text
            .split_once('/')
            .ok_or_else(|| InputError::new(format!("shift time '{text}' has no '/'")))?;
        let start = parse_datetime(start)?;
        Ok(ShiftTime {
            date: start.date(),
            start: start.time(),
            end: parse_time(end)?,
        })
    }
}

impl fmt::Display for ShiftTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}–{}{}",
            self.date,
            format_time(self.start),
            format_time(self.end),
            if self.is_overnight() { " (+1 day)" } else { "" }
        )
    }
}

/// A span of local time `[from, to)`, as availability and leave are written. Stored as one value
/// (`2026-11-24T00:00/2026-11-25T00:00`) for the same reason as [`ShiftTime`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalSpan {
    pub from: DateTime,
    pub to: DateTime,
}

impl LocalSpan {
    pub fn new(from: DateTime, to: DateTime) -> Result<LocalSpan, InputError> {
        if to <= from {
            return Err(InputError::new(format!(
                "the end {} is not after the start {}",
                format_datetime(to),
                format_datetime(from)
            )));
        }
        Ok(LocalSpan { from, to })
    }

    pub fn interval(&self, zone: &SiteZone) -> Interval {
        Interval {
            start: zone.instant(self.from),
            end: zone.instant(self.to),
        }
    }

    pub fn encode(&self) -> String {
        format!(
            "{}/{}",
            format_datetime(self.from),
            format_datetime(self.to)
        )
    }

    pub fn decode(text: &str) -> Result<LocalSpan, InputError> {
        let (from, to) = text
            .split_once('/')
            .ok_or_else(|| InputError::new(format!("span '{text}' has no '/'")))?;
        LocalSpan::new(parse_datetime(from)?, parse_datetime(to)?)
    }
}

impl serde::Serialize for LocalSpan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("from", &format_datetime(self.from))?;
        map.serialize_entry("to", &format_datetime(self.to))?;
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for LocalSpan {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<LocalSpan, D::Error> {
        #[derive(serde::Deserialize)]
        struct Span {
            from: String,
            to: String,
        }
        let span = Span::deserialize(d)?;
        let from = parse_datetime(&span.from).map_err(serde::de::Error::custom)?;
        let to = parse_datetime(&span.to).map_err(serde::de::Error::custom)?;
        LocalSpan::new(from, to).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for LocalSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} – {}",
            format_datetime(self.from),
            format_datetime(self.to)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(date: &str, start: &str, end: &str) -> ShiftTime {
        ShiftTime {
            date: parse_date(date).unwrap(),
            start: parse_time(start).unwrap(),
            end: parse_time(end).unwrap(),
        }
    }

    #[test]
    fn typed_days_times_and_moments_are_relative_to_today() {
        let today = parse_date("2026-12-02").unwrap();
        let day = |t: &str| parse_day(t, today).map(|d| d.to_string());
        assert_eq!(day("today").unwrap(), "2026-12-02");
        assert_eq!(day("tomorrow").unwrap(), "2026-12-03");
        assert_eq!(day("yesterday").unwrap(), "2026-12-01");
        assert_eq!(day("+3d").unwrap(), "2026-12-05");
        assert_eq!(day("-2d").unwrap(), "2026-11-30");
        assert_eq!(day("+1w").unwrap(), "2026-12-09");
        assert_eq!(day("+1m").unwrap(), "2027-01-02");
        assert_eq!(day("2026-12-24").unwrap(), "2026-12-24");
        for bad in [
            "+", "+d", "+3x", "3d", "+99999d", "soon", "-", "+3€", "-é", "+€d",
        ] {
            assert!(day(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_clock("9:00").unwrap(), parse_time("09:00").unwrap());
        assert_eq!(parse_clock("21:30").unwrap(), parse_time("21:30").unwrap());
        assert!(parse_clock("9:0").is_err());
        assert!(parse_clock("24:00").is_err());
        let moment = |t: &str, ends| parse_moment(t, today, ends).map(format_datetime);
        assert_eq!(moment("2026-12-20", false).unwrap(), "2026-12-20T00:00");
        assert_eq!(moment("2026-12-24", true).unwrap(), "2026-12-25T00:00");
        assert_eq!(moment("tomorrowT9:00", false).unwrap(), "2026-12-03T09:00");
        assert_eq!(
            moment("2026-12-20 17:30", true).unwrap(),
            "2026-12-20T17:30"
        );
        assert!(moment("2026-12-20T", false).is_err());
    }

    #[test]
    fn strict_parsers_reject_near_misses() {
        assert!(parse_date("2026-02-29").is_err());
        assert!(parse_date("2028-02-29").is_ok());
        assert!(parse_date("2026-2-01").is_err());
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_time("24:00").is_err());
        assert!(parse_time("9:00").is_err());
        assert!(parse_time("23:59").is_ok());
        assert!(parse_datetime("2026-11-24 09:00").is_err());
        assert!(parse_datetime("2026-11-24T09:00").is_ok());
        assert!(SiteZone::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn back_to_back_shifts_do_not_overlap_but_overnight_ones_reach_the_next_morning() {
        let zone = SiteZone::parse("Europe/Berlin").unwrap();
        let morning = shift("2026-11-23", "06:00", "14:00").interval(&zone);
        let afternoon = shift("2026-11-23", "14:00", "22:00").interval(&zone);
        let night = shift("2026-11-23", "22:00", "06:00").interval(&zone);
        let early = shift("2026-11-24", "05:00", "13:00").interval(&zone);
        assert!(!morning.overlaps(&afternoon));
        assert!(!afternoon.overlaps(&night));
        assert!(night.overlaps(&early));
        assert_eq!(night.minutes(), 8 * 60);
    }

    #[test]
    fn night_shifts_across_dst_changes_last_their_real_length() {
        let zone = SiteZone::parse("Europe/Berlin").unwrap();
        // Clocks go forward at 02:00 on 2026-03-29 and back at 03:00 on 2026-10-25.
        assert_eq!(
            shift("2026-03-28", "22:00", "06:00")
                .interval(&zone)
                .minutes(),
            7 * 60
        );
        assert_eq!(
            shift("2026-10-24", "22:00", "06:00")
                .interval(&zone)
                .minutes(),
            9 * 60
        );
        assert!(zone.is_in_gap(parse_datetime("2026-03-29T02:30").unwrap()));
    }

    #[test]
    fn stored_forms_round_trip() {
        let s = shift("2026-11-23", "22:00", "06:00");
        assert_eq!(s.encode(), "2026-11-23T22:00/06:00");
        assert_eq!(ShiftTime::decode(&s.encode()).unwrap(), s);
        assert!(s.is_overnight());
        let span = LocalSpan::decode("2026-11-24T00:00/2026-11-25T00:00").unwrap();
        assert_eq!(span.encode(), "2026-11-24T00:00/2026-11-25T00:00");
        assert!(LocalSpan::decode("2026-11-25T00:00/2026-11-24T00:00").is_err());
    }
}
