//! The time window of the count and revenue checks: option validation and date arithmetic,
//! pure and unit-tested.
//!
//! A window is a range of calendar days, both ends inclusive, compared with the stored date of
//! each rental (`rental_date`) and payment (`payment_date`): on the warehouse side through the
//! `YYYYMMDD` keys `rental_date_key` / `payment_date_key`, which the loader derives from the
//! same stored dates.
//!
//! `--days N` counts back from the **latest** source activity, not from today, so the window
//! holds data on a historical database such as Sakila. The latest date is the later of the
//! largest `rental.rental_date` and the largest `payment.payment_date`, so rentals and payments
//! share one window (on Sakila both end on 2006-02-14).

use anyhow::{Result, bail};
use chrono::{Days, NaiveDate};

use crate::star::transform::date_key;

/// What the user asked for, before the source says what its latest date is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WindowSpec {
    /// No window option: every rental and payment.
    #[default]
    AllTime,
    /// The `days` calendar days ending at `as_of`, or at the latest source rental or payment
    /// date when `as_of` is `None`.
    Days { days: u32, as_of: Option<NaiveDate> },
    /// From `since` to `until`, both inclusive; a missing end is open.
    Range {
        since: Option<NaiveDate>,
        until: Option<NaiveDate>,
    },
}

impl WindowSpec {
    /// Checks the command-line options, given as the text the user typed, and builds the spec.
    /// Every error is one line naming the option.
    ///
    /// - `--days N`: N a whole number, at least 1; combines only with `--as-of`.
    /// - `--since` / `--until`: either or both; `since <= until`.
    /// - `--as-of DATE` alone: everything up to DATE (the same as `--until DATE`).
    pub fn from_options(
        days: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
        as_of: Option<&str>,
    ) -> Result<Self> {
        let since = since.map(|s| parse_date("--since", s)).transpose()?;
        let until = until.map(|s| parse_date("--until", s)).transpose()?;
        let as_of = as_of.map(|s| parse_date("--as-of", s)).transpose()?;
        if let Some(days) = days {
            let days = parse_days(days)?;
            if since.is_some() || until.is_some() {
                bail!(
                    "--days cannot be combined with --since or --until (use --as-of DATE to end a --days window on DATE)"
                );
            }
            return Ok(WindowSpec::Days { days, as_of });
        }
        if as_of.is_some() && (since.is_some() || until.is_some()) {
            bail!("--as-of only combines with --days; with --since, give the end as --until");
        }
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            bail!("--since {s} is after --until {u}");
        }
        match (since, until.or(as_of)) {
            (None, None) => Ok(WindowSpec::AllTime),
            (since, until) => Ok(WindowSpec::Range { since, until }),
        }
    }

    /// The window this spec gives when the source's latest rental or payment is on `latest`
    /// (`None`: the source has neither).
    pub fn resolve(self, latest: Option<NaiveDate>) -> Window {
        let (since, until) = match self {
            WindowSpec::AllTime => (None, None),
            WindowSpec::Days { days, as_of } => match as_of.or(latest) {
                // N days ending at `end`, inclusive: end - (N - 1) .. end. A start before the
                // calendar's first day leaves the window open at the start.
                Some(end) => (
                    end.checked_sub_days(Days::new(u64::from(days) - 1)),
                    Some(end),
                ),
                // No rental or payment to count back from: compare everything (there is
                // nothing in the source, so the warehouse must hold nothing either).
                None => (None, None),
            },
            WindowSpec::Range { since, until } => (since, until),
        };
        Window {
            spec: self,
            since,
            until,
            latest,
        }
    }
}

/// A resolved window: the days whose facts the count and revenue checks compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub spec: WindowSpec,
    /// First day, inclusive; `None`: from the beginning.
    pub since: Option<NaiveDate>,
    /// Last day, inclusive; `None`: to the end.
    pub until: Option<NaiveDate>,
    /// The latest rental or payment date in the source (what `--days` counts back from).
    pub latest: Option<NaiveDate>,
}

impl Window {
    /// Whether the day with `YYYYMMDD` key `key` is in the window.
    pub fn contains_key(&self, key: i32) -> bool {
        self.since.is_none_or(|d| key >= date_key(d))
            && self.until.is_none_or(|d| key <= date_key(d))
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.contains_key(date_key(day))
    }

    /// `2006-02-08..2006-02-14`, with `..` for an open end, or `all time`.
    pub fn range_text(&self) -> String {
        match (self.since, self.until) {
            (None, None) => "all time".into(),
            (s, u) => format!(
                "{}..{}",
                s.map(|d| d.to_string()).unwrap_or_default(),
                u.map(|d| d.to_string()).unwrap_or_default()
            ),
        }
    }

    /// The range and how it was chosen, for the report.
    pub fn describe(&self) -> String {
        let range = self.range_text();
        match self.spec {
            WindowSpec::AllTime => "all time (no window option)".into(),
            WindowSpec::Days { days, as_of: None } => match self.latest {
                Some(latest) => format!(
                    "{range}: the {} ending at {latest}, the latest source rental or payment date",
                    plural_days(days)
                ),
                None => format!(
                    "all time: the source has no rental or payment to count --days {days} back from"
                ),
            },
            WindowSpec::Days {
                days,
                as_of: Some(end),
            } => format!("{range}: the {} ending at --as-of {end}", plural_days(days)),
            WindowSpec::Range { since, until } => match (since, until) {
                (Some(_), Some(_)) => format!("{range} (--since/--until)"),
                (Some(s), None) => format!("{range}: from {s} on"),
                (None, Some(u)) => format!("{range}: everything up to {u}"),
                (None, None) => range,
            },
        }
    }
}

fn plural_days(days: u32) -> String {
    if days == 1 {
        "1 day".into()
    } else {
        format!("{days} days")
    }
}

fn parse_days(text: &str) -> Result<u32> {
    match text.trim().parse::<i64>() {
        Ok(n) if n >= 1 && n <= i64::from(u32::MAX) => Ok(n as u32),
        Ok(n) if n < 1 => bail!("--days must be at least 1 (got {n})"),
        _ => bail!(
            "--days must be a whole number of days between 1 and {} (got '{text}')",
            u32::MAX
        ),
    }
}

fn parse_date(option: &str, text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|e| {
        anyhow::anyhow!("{option} '{text}' is not a valid date ({e}); expected YYYY-MM-DD")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn spec(
        days: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
        as_of: Option<&str>,
    ) -> Result<WindowSpec> {
        WindowSpec::from_options(days, since, until, as_of)
    }

    #[test]
    fn days_count_back_from_the_latest_source_date_inclusive() {
        let s = spec(Some("7"), None, None, None).unwrap();
        assert_eq!(
            s,
            WindowSpec::Days {
                days: 7,
                as_of: None
            }
        );
        let w = s.resolve(Some(d("2006-02-14")));
        assert_eq!(
            (w.since, w.until),
            (Some(d("2006-02-08")), Some(d("2006-02-14")))
        );
        assert!(w.contains(d("2006-02-08")) && w.contains(d("2006-02-14")));
        assert!(!w.contains(d("2006-02-07")) && !w.contains(d("2006-02-15")));
        assert_eq!(w.range_text(), "2006-02-08..2006-02-14");
        assert!(
            w.describe().contains("7 days ending at 2006-02-14"),
            "{}",
            w.describe()
        );

        let one = WindowSpec::Days {
            days: 1,
            as_of: None,
        }
        .resolve(Some(d("2006-02-14")));
        assert_eq!(
            (one.since, one.until),
            (Some(d("2006-02-14")), Some(d("2006-02-14")))
        );
        // Across a month and a leap day.
        let w = WindowSpec::Days {
            days: 3,
            as_of: None,
        }
        .resolve(Some(d("2008-03-01")));
        assert_eq!(w.since, Some(d("2008-02-28")));
    }

    #[test]
    fn as_of_moves_the_end_of_a_days_window() {
        let s = spec(Some("2"), None, None, Some("2005-05-25")).unwrap();
        let w = s.resolve(Some(d("2006-02-14")));
        assert_eq!(
            (w.since, w.until),
            (Some(d("2005-05-24")), Some(d("2005-05-25")))
        );
        assert!(w.describe().contains("--as-of 2005-05-25"));
        // Alone, --as-of is everything up to that day.
        let w = spec(None, None, None, Some("2005-05-25"))
            .unwrap()
            .resolve(Some(d("2006-02-14")));
        assert_eq!((w.since, w.until), (None, Some(d("2005-05-25"))));
        assert!(w.contains(d("1999-01-01")) && !w.contains(d("2005-05-26")));
    }

    #[test]
    fn since_and_until_are_inclusive_and_may_be_open() {
        let w = spec(None, Some("2005-06-01"), Some("2005-06-30"), None)
            .unwrap()
            .resolve(Some(d("2006-02-14")));
        assert_eq!(
            (w.since, w.until),
            (Some(d("2005-06-01")), Some(d("2005-06-30")))
        );
        assert!(w.contains(d("2005-06-01")) && w.contains(d("2005-06-30")));
        assert!(!w.contains(d("2005-05-31")) && !w.contains(d("2005-07-01")));
        let w = spec(None, Some("2006-02-14"), None, None)
            .unwrap()
            .resolve(None);
        assert!(w.contains(d("2030-01-01")) && !w.contains(d("2006-02-13")));
        assert_eq!(w.range_text(), "2006-02-14..");
        let same = spec(None, Some("2006-02-14"), Some("2006-02-14"), None).unwrap();
        assert!(same.resolve(None).contains(d("2006-02-14")));
    }

    #[test]
    fn no_option_is_all_time() {
        let w = spec(None, None, None, None)
            .unwrap()
            .resolve(Some(d("2006-02-14")));
        assert_eq!((w.since, w.until), (None, None));
        assert!(w.contains(d("1900-01-01")) && w.contains(d("2100-01-01")));
        assert_eq!(w.range_text(), "all time");
    }

    #[test]
    fn days_without_any_source_fact_fall_back_to_all_time() {
        let w = WindowSpec::Days {
            days: 7,
            as_of: None,
        }
        .resolve(None);
        assert_eq!((w.since, w.until), (None, None));
        assert!(w.describe().contains("no rental or payment"));
        // A window reaching before the calendar's first day stays open at the start.
        let w = WindowSpec::Days {
            days: u32::MAX,
            as_of: None,
        }
        .resolve(Some(d("2006-02-14")));
        assert_eq!(w.until, Some(d("2006-02-14")));
    }

    #[test]
    fn bad_options_are_one_line_errors() {
        let err = |r: Result<WindowSpec>| {
            let e = format!("{:#}", r.unwrap_err());
            assert!(!e.contains('\n'), "{e}");
            e
        };
        assert!(err(spec(Some("0"), None, None, None)).contains("--days must be at least 1"));
        assert!(err(spec(Some("-3"), None, None, None)).contains("--days must be at least 1"));
        assert!(err(spec(Some("seven"), None, None, None)).contains("whole number"));
        assert!(err(spec(Some("1.5"), None, None, None)).contains("whole number"));
        assert!(err(spec(Some("99999999999"), None, None, None)).contains("whole number"));
        assert!(
            err(spec(Some("7"), Some("2006-01-01"), None, None)).contains("cannot be combined")
        );
        assert!(
            err(spec(Some("7"), None, Some("2006-01-01"), None)).contains("cannot be combined")
        );
        assert!(err(spec(None, Some("2006-02-30"), None, None)).contains("--since '2006-02-30'"));
        assert!(err(spec(None, None, Some("yesterday"), None)).contains("--until 'yesterday'"));
        assert!(err(spec(Some("7"), None, None, Some("14/02/2006"))).contains("--as-of"));
        assert!(
            err(spec(None, Some("2006-02-14"), Some("2006-02-01"), None))
                .contains("--since 2006-02-14 is after --until 2006-02-01")
        );
        assert!(
            err(spec(None, Some("2006-02-01"), None, Some("2006-02-14"))).contains("--as-of only")
        );
    }
}
