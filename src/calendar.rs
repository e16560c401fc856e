//! The working calendar (MISSION §5), sans-IO: Monday–Friday 09:00–18:30 Asia/Almaty, minus
//! the public holidays of the Republic of Kazakhstan, plus weekend days the government moved
//! into working days. Per-year rules come from `config/calendar/YYYY.toml` (each names its
//! source). Time is always an argument (`jiff::Timestamp`, UTC); the zone is applied inside.
//!
//! Arithmetic counts working time only: "2 working hours" from Friday 17:30 ends Monday
//! 10:00. A **working day** of an SLA is one full day's working time (9 h 30 min), so "3
//! working days" from Monday 12:00 ends Thursday 12:00 when nothing intervenes. The close
//! instant belongs to the day it closes (18:29 + 1 min = 18:30 today; 18:30 + 1 min = 09:01 on
//! the next working day). A year without a file is an error naming the file, never a guess.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("no working calendar for {year}: add config/calendar/{year}.toml")]
    YearMissing { year: i16 },
    #[error("{file}: {why}")]
    BadFile { file: PathBuf, why: String },
    #[error("time zone {0} is unknown")]
    TimeZone(String),
    #[error("date arithmetic out of range")]
    Range,
}

/// One year's exceptions to the Monday–Friday week.
#[derive(Debug, Clone, Default)]
pub struct YearRules {
    /// Days off on weekdays: public holidays and days moved off by decree.
    pub holidays: BTreeSet<Date>,
    /// Saturdays or Sundays made working days by decree.
    pub working_weekends: BTreeSet<Date>,
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: i16,
    source: String,
    holidays: Vec<String>,
    #[serde(default)]
    working_weekends: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct WorkCalendar {
    tz: TimeZone,
    open: Time,
    close: Time,
    years: BTreeMap<i16, YearRules>,
}

impl fmt::Display for WorkCalendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let years: Vec<String> = self.years.keys().map(i16::to_string).collect();
        write!(
            f,
            "{}–{} {} ({})",
            self.open,
            self.close,
            self.tz.iana_name().unwrap_or("?"),
            years.join(", ")
        )
    }
}

impl WorkCalendar {
    /// Mon–Fri 09:00–18:30 Asia/Almaty (UTC+5) with the given years' rules.
    pub fn kazakhstan(years: BTreeMap<i16, YearRules>) -> Result<WorkCalendar, CalendarError> {
        Ok(WorkCalendar {
            tz: TimeZone::get("Asia/Almaty")
                .map_err(|_| CalendarError::TimeZone("Asia/Almaty".into()))?,
            open: Time::constant(9, 0, 0, 0),
            close: Time::constant(18, 30, 0, 0),
            years,
        })
    }

    /// Load every `YYYY.toml` in `dir`; all problems of all files are reported together.
    pub fn load_dir(dir: &Path) -> Result<WorkCalendar, Vec<CalendarError>> {
        let mut errors = Vec::new();
        let mut years = BTreeMap::new();
        let entries = std::fs::read_dir(dir).map_err(|e| {
            vec![CalendarError::BadFile {
                file: dir.to_path_buf(),
                why: format!("cannot read: {e}"),
            }]
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().and_then(|x| x.to_str()) == Some("toml"))
            .collect();
        files.sort();
        for file in files {
            match parse_year(&file) {
                Ok((year, rules)) => {
                    years.insert(year, rules);
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        WorkCalendar::kazakhstan(years).map_err(|e| vec![e])
    }

    pub fn years(&self) -> impl Iterator<Item = i16> + '_ {
        self.years.keys().copied()
    }

    fn length_of_day(&self) -> Duration {
        let open = self.open.to_datetime(Date::constant(2000, 1, 1));
        let close = self.close.to_datetime(Date::constant(2000, 1, 1));
        Duration::try_from(open.duration_until(close)).unwrap_or(Duration::ZERO)
    }

    /// The length of a working day (9 h 30 min): the unit of "N working days".
    pub fn working_day(&self) -> Duration {
        self.length_of_day()
    }

    pub fn is_working_day(&self, date: Date) -> Result<bool, CalendarError> {
        let rules = self
            .years
            .get(&date.year())
            .ok_or(CalendarError::YearMissing { year: date.year() })?;
        if rules.working_weekends.contains(&date) {
            return Ok(true);
        }
        if rules.holidays.contains(&date) {
            return Ok(false);
        }
        Ok(!matches!(
            date.weekday(),
            Weekday::Saturday | Weekday::Sunday
        ))
    }

    fn at(&self, date: Date, time: Time) -> Result<Timestamp, CalendarError> {
        date.to_datetime(time)
            .to_zoned(self.tz.clone())
            .map(|z| z.timestamp())
            .map_err(|_| CalendarError::Range)
    }

    fn local(&self, t: Timestamp) -> (Date, Time) {
        let z = t.to_zoned(self.tz.clone());
        (z.date(), z.time())
    }

    /// Inside working hours (the opening instant included, the closing instant excluded).
    pub fn is_working_time(&self, t: Timestamp) -> Result<bool, CalendarError> {
        let (date, time) = self.local(t);
        Ok(self.is_working_day(date)? && time >= self.open && time < self.close)
    }

    /// The first working day on or after `date`.
    fn working_day_from(&self, mut date: Date) -> Result<Date, CalendarError> {
        for _ in 0..400 {
            if self.is_working_day(date)? {
                return Ok(date);
            }
            date = date.tomorrow().map_err(|_| CalendarError::Range)?;
        }
        Err(CalendarError::Range)
    }

    /// The start of working time at or after `t`, and the close of that working day. The start
    /// is `t` itself exactly when `t` is working time.
    pub fn next_working_period(
        &self,
        t: Timestamp,
    ) -> Result<(Timestamp, Timestamp), CalendarError> {
        let (date, time) = self.local(t);
        if self.is_working_day(date)? && time < self.close {
            let start = if time < self.open {
                self.at(date, self.open)?
            } else {
                t
            };
            return Ok((start, self.at(date, self.close)?));
        }
        let next = self.working_day_from(date.tomorrow().map_err(|_| CalendarError::Range)?)?;
        Ok((self.at(next, self.open)?, self.at(next, self.close)?))
    }

    /// `t` plus `amount` of working time.
    pub fn add_working(&self, t: Timestamp, amount: Duration) -> Result<Timestamp, CalendarError> {
        let mut remaining = amount;
        let mut cursor = t;
        for _ in 0..4000 {
            let (start, close) = self.next_working_period(cursor)?;
            let available =
                Duration::try_from(start.duration_until(close)).unwrap_or(Duration::ZERO);
            if remaining <= available {
                let step =
                    jiff::SignedDuration::try_from(remaining).map_err(|_| CalendarError::Range)?;
                return start.checked_add(step).map_err(|_| CalendarError::Range);
            }
            remaining -= available;
            cursor = close;
        }
        Err(CalendarError::Range)
    }

    /// `t` plus `days` working days (each the working time of one full day).
    pub fn add_working_days(&self, t: Timestamp, days: u32) -> Result<Timestamp, CalendarError> {
        self.add_working(t, self.working_day() * days)
    }

    /// Working time between `a` and `b` (zero when `b` is not after `a`).
    pub fn working_time_between(
        &self,
        a: Timestamp,
        b: Timestamp,
    ) -> Result<Duration, CalendarError> {
        let mut total = Duration::ZERO;
        let mut cursor = a;
        for _ in 0..4000 {
            if cursor >= b {
                return Ok(total);
            }
            let (start, close) = self.next_working_period(cursor)?;
            if start >= b {
                return Ok(total);
            }
            let end = close.min(b);
            total += Duration::try_from(start.duration_until(end)).unwrap_or(Duration::ZERO);
            cursor = close;
        }
        Err(CalendarError::Range)
    }
}

fn parse_year(file: &Path) -> Result<(i16, YearRules), CalendarError> {
    let bad = |why: String| CalendarError::BadFile {
        file: file.to_path_buf(),
        why,
    };
    let text = std::fs::read_to_string(file).map_err(|e| bad(format!("cannot read: {e}")))?;
    let raw: RawYear = toml::from_str(&text).map_err(|e| bad(e.message().to_string()))?;
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if stem != raw.year.to_string() {
        return Err(bad(format!(
            "year = {} but the file is named {stem}.toml",
            raw.year
        )));
    }
    let mut rules = YearRules {
        source: raw.source,
        ..Default::default()
    };
    for (list, target, what) in [
        (&raw.holidays, &mut rules.holidays, "holidays"),
        (
            &raw.working_weekends,
            &mut rules.working_weekends,
            "working_weekends",
        ),
    ] {
        for d in list {
            let date: Date = d
                .parse()
                .map_err(|_| bad(format!("{what}: \"{d}\" is not a date (YYYY-MM-DD)")))?;
            if date.year() != raw.year {
                return Err(bad(format!("{what}: {d} is not in {}", raw.year)));
            }
            target.insert(date);
        }
    }
    for d in &rules.working_weekends {
        if !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
            return Err(bad(format!(
                "working_weekends: {d} is a {:?}, not a weekend day",
                d.weekday()
            )));
        }
    }
    Ok((raw.year, rules))
}

/// Helpers for tests that need the bundled calendar and Astana wall-clock times.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn cal() -> WorkCalendar {
        WorkCalendar::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("config/calendar"))
            .unwrap()
    }

    /// Local Astana wall-clock time (`2026-11-23T12:00`) to a timestamp.
    pub fn t(s: &str) -> Timestamp {
        let dt: jiff::civil::DateTime = s.parse().unwrap();
        dt.to_zoned(TimeZone::get("Asia/Almaty").unwrap())
            .unwrap()
            .timestamp()
    }

    /// A timestamp as Astana wall-clock time.
    pub fn local(ts: Timestamp) -> String {
        ts.to_zoned(TimeZone::get("Asia/Almaty").unwrap())
            .datetime()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{cal, local, t};
    use super::*;
    use proptest::prelude::*;

    const H: Duration = Duration::from_secs(3600);
    const M: Duration = Duration::from_secs(60);

    #[test]
    fn almaty_is_utc_plus_five() {
        assert_eq!(t("2026-06-01T09:00").to_string(), "2026-06-01T04:00:00Z");
    }

    #[test]
    fn weekends_holidays_and_moved_days() {
        let c = cal();
        assert!(c.is_working_day(Date::constant(2026, 11, 23)).unwrap()); // Monday
        assert!(!c.is_working_day(Date::constant(2026, 11, 21)).unwrap()); // Saturday
        assert!(!c.is_working_day(Date::constant(2026, 12, 16)).unwrap()); // Independence Day
        assert!(!c.is_working_day(Date::constant(2026, 3, 23)).unwrap()); // Nauryz
        assert!(!c.is_working_day(Date::constant(2026, 3, 9)).unwrap()); // 8 March on a Sunday moves to Monday
    }

    #[test]
    fn a_moved_day_off_and_a_worked_sunday() {
        let c = cal();
        assert!(!c.is_working_day(Date::constant(2025, 1, 3)).unwrap()); // Friday, moved off
        assert!(c.is_working_day(Date::constant(2025, 1, 5)).unwrap()); // Sunday, worked

        // Saturday noon + 1 h: the next working time is the worked Sunday's opening.
        assert_eq!(
            local(c.add_working(t("2025-01-04T12:00"), H).unwrap()),
            "2025-01-05T10:00:00"
        );
    }

    #[test]
    fn the_1830_edge_belongs_to_today() {
        let c = cal();
        assert_eq!(
            local(c.add_working(t("2026-11-23T18:29"), M).unwrap()),
            "2026-11-23T18:30:00"
        );
        assert_eq!(
            local(c.add_working(t("2026-11-23T18:30"), M).unwrap()),
            "2026-11-24T09:01:00"
        );
        assert!(c.is_working_time(t("2026-11-23T09:00")).unwrap());
        assert!(!c.is_working_time(t("2026-11-23T18:30")).unwrap());
    }

    #[test]
    fn across_nights_and_weekends() {
        let c = cal();
        // Friday 17:30 + 2 h: 1 h on Friday, 1 h on Monday.
        assert_eq!(
            local(c.add_working(t("2026-11-27T17:30"), 2 * H).unwrap()),
            "2026-11-30T10:00:00"
        );
        // Saturday night counts from Monday's opening.
        assert_eq!(
            local(c.add_working(t("2026-11-28T23:00"), 2 * H).unwrap()),
            "2026-11-30T11:00:00"
        );
        // Before opening counts from 09:00.
        assert_eq!(
            local(c.add_working(t("2026-11-24T06:00"), 30 * M).unwrap()),
            "2026-11-24T09:30:00"
        );
    }

    #[test]
    fn across_holidays_and_the_new_year() {
        let c = cal();
        // Tuesday 15 December 2026 17:00 + 4 h: 1.5 h that day, 16 Dec is a holiday, 2.5 h on 17 Dec.
        assert_eq!(
            local(c.add_working(t("2026-12-15T17:00"), 4 * H).unwrap()),
            "2026-12-17T11:30:00"
        );
        // 31 December 2026 (Thursday) 18:00 + 1 h: 30 min that day; 1 January 2027 is a
        // holiday, 2–3 the weekend, and 2 January's day off moves to Monday 4 January.
        assert_eq!(
            local(c.add_working(t("2026-12-31T18:00"), H).unwrap()),
            "2027-01-05T09:30:00"
        );
    }

    #[test]
    fn working_days_are_full_days_of_working_time() {
        let c = cal();
        assert_eq!(c.working_day(), Duration::from_secs(9 * 3600 + 1800));
        assert_eq!(
            local(c.add_working_days(t("2026-11-23T12:00"), 3).unwrap()),
            "2026-11-26T12:00:00"
        );
        assert_eq!(
            local(c.add_working_days(t("2026-11-27T12:00"), 1).unwrap()),
            "2026-11-30T12:00:00"
        );
    }

    #[test]
    fn working_time_between_counts_only_open_hours() {
        let c = cal();
        let d = c
            .working_time_between(t("2026-11-27T17:30"), t("2026-11-30T10:00"))
            .unwrap();
        assert_eq!(d, 2 * H);
        assert_eq!(
            c.working_time_between(t("2026-11-28T10:00"), t("2026-11-29T10:00"))
                .unwrap(),
            Duration::ZERO
        );
        assert_eq!(
            c.working_time_between(t("2026-11-30T10:00"), t("2026-11-27T10:00"))
                .unwrap(),
            Duration::ZERO
        );
    }

    #[test]
    fn a_year_without_a_file_is_an_error_naming_it() {
        let c = cal();
        let err = c.add_working(t("2031-03-03T10:00"), H).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no working calendar for 2031: add config/calendar/2031.toml"
        );
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("2026.toml"),
            "year = 2026\nsource = \"x\"\nholidays = [\"2026-13-01\"]\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("2027.toml"),
            "year = 2026\nsource = \"x\"\nholidays = []\n",
        )
        .unwrap();
        let errs = WorkCalendar::load_dir(dir.path()).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            text[0].ends_with("2026.toml: holidays: \"2026-13-01\" is not a date (YYYY-MM-DD)"),
            "{text:?}"
        );
        assert!(
            text[1].ends_with("2027.toml: year = 2026 but the file is named 2027.toml"),
            "{text:?}"
        );
    }

    proptest! {
        /// A deadline never lands outside working time, except exactly at a day's close.
        #[test]
        fn deadlines_land_in_working_time(start_min in 0i64..(2 * 365 * 24 * 60), minutes in 1u64..(60 * 200)) {
            let c = cal();
            let start = t("2025-01-01T00:00").checked_add(jiff::SignedDuration::from_mins(start_min)).unwrap();
            let end = c.add_working(start, Duration::from_secs(minutes * 60)).unwrap();
            let z = end.to_zoned(TimeZone::get("Asia/Almaty").unwrap());
            prop_assert!(c.is_working_time(end).unwrap() || z.time() == Time::constant(18, 30, 0, 0), "{}", z);
            prop_assert_eq!(c.working_time_between(start, end).unwrap(), Duration::from_secs(minutes * 60));
        }
    }
}
