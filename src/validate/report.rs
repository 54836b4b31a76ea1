//! What `validate` found: one [`Check`] per comparison, printed as a table or as JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::window::Window;

/// How many ids a check lists (the count is always complete).
pub const MAX_IDS: usize = 20;

/// The kinds of check, in the order the report lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Members (not deleted) of a dimension, or rows of a bridge: source vs warehouse.
    Count,
    /// Rentals whose rental date is in the window.
    WindowRentals,
    /// Payments whose payment date is in the window.
    WindowPayments,
    /// Sum of those payments, in integer cents.
    WindowRevenueCents,
    /// Rows in the source that the warehouse lacks, by natural key.
    Missing,
    /// Rows in the warehouse that the source no longer has (deleted dimension members, which
    /// stay while facts use them, are not extra).
    Extra,
    /// Rows on both sides whose contract columns differ, or members flagged deleted in the
    /// warehouse that the source still has.
    Stale,
    /// Warehouse rows whose surrogate key points at no dimension member.
    ForeignKeys,
    /// Fact date keys that are not in `dim_date` (the ids are the missing date keys).
    DatesInDimDate,
}

impl CheckKind {
    pub fn label(self) -> &'static str {
        match self {
            CheckKind::Count => "count",
            CheckKind::WindowRentals => "rentals in window",
            CheckKind::WindowPayments => "payments in window",
            CheckKind::WindowRevenueCents => "revenue in window (cents)",
            CheckKind::Missing => "missing rows",
            CheckKind::Extra => "extra rows",
            CheckKind::Stale => "stale rows",
            CheckKind::ForeignKeys => "foreign keys",
            CheckKind::DatesInDimDate => "dates in dim_date",
        }
    }
}

/// A row's natural key: an id, an id pair (bridges), or text (a row whose natural key cannot
/// be known, such as a bridge row pointing at no member).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(untagged)]
pub enum Id {
    One(i64),
    Pair(i64, i64),
    Text(String),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::One(i) => write!(f, "{i}"),
            Id::Pair(a, b) => write!(f, "({a},{b})"),
            Id::Text(t) => f.write_str(t),
        }
    }
}

/// Rows found by a row check: the full count, the first [`MAX_IDS`] ids, and for stale rows
/// how many rows differ in each column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub count: u64,
    pub ids: Vec<Id>,
    pub columns: BTreeMap<&'static str, u64>,
}

impl Found {
    pub fn add(&mut self, id: Id) {
        self.count += 1;
        if self.ids.len() < MAX_IDS {
            self.ids.push(id);
        }
    }

    /// Adds a row together with the columns it differs (or fails) in.
    pub fn add_with_columns(&mut self, id: Id, columns: &[&'static str]) {
        self.add(id);
        for c in columns {
            *self.columns.entry(c).or_default() += 1;
        }
    }
}

/// One comparison.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: CheckKind,
    pub table: &'static str,
    pub passed: bool,
    /// The source's value, for value checks (counts, revenue).
    pub source: Option<i64>,
    /// The warehouse's value, for value checks.
    pub warehouse: Option<i64>,
    /// Value checks: |source - warehouse|; row checks: how many rows (or date keys) differ.
    pub differences: u64,
    /// The first [`MAX_IDS`] natural keys found, in key order.
    pub ids: Vec<Id>,
    /// Stale rows: per contract column, how many rows differ in it. Foreign keys and dates:
    /// per key column, how many rows fail.
    pub columns: BTreeMap<&'static str, u64>,
}

impl Check {
    /// A check comparing a source value with a warehouse value.
    pub fn value(check: CheckKind, table: &'static str, source: i64, warehouse: i64) -> Self {
        Check {
            check,
            table,
            passed: source == warehouse,
            source: Some(source),
            warehouse: Some(warehouse),
            differences: source.abs_diff(warehouse),
            ids: Vec::new(),
            columns: BTreeMap::new(),
        }
    }

    /// A check listing rows; it passes when none was found.
    pub fn rows(check: CheckKind, table: &'static str, found: Found) -> Self {
        Check {
            check,
            table,
            passed: found.count == 0,
            source: None,
            warehouse: None,
            differences: found.count,
            ids: found.ids,
            columns: found.columns,
        }
    }
}

/// The outcome of one `validate` run.
#[derive(Clone, Debug)]
pub struct ValidationReport {
    pub window: Window,
    pub checks: Vec<Check>,
    pub seconds: f64,
}

impl ValidationReport {
    /// True when every check agrees.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// The check of `kind` on `table`, if the report has one.
    pub fn check(&self, kind: CheckKind, table: &str) -> Option<&Check> {
        self.checks
            .iter()
            .find(|c| c.check == kind && c.table == table)
    }

    /// One JSON document (pretty-printed): the verdict, the window, a summary, and every check
    /// with its values and listed ids.
    pub fn to_json(&self) -> String {
        let doc = JsonReport {
            passed: self.passed(),
            window: JsonWindow {
                since: self.window.since.map(|d| d.to_string()),
                until: self.window.until.map(|d| d.to_string()),
                latest_source_date: self.window.latest.map(|d| d.to_string()),
                description: self.window.describe(),
            },
            summary: JsonSummary {
                checks: self.checks.len(),
                failed: self.failed().count(),
            },
            seconds: (self.seconds * 1000.0).round() / 1000.0,
            checks: &self.checks,
        };
        serde_json::to_string_pretty(&doc).expect("a report always serialises")
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    passed: bool,
    window: JsonWindow,
    summary: JsonSummary,
    seconds: f64,
    checks: &'a [Check],
}

#[derive(Serialize)]
struct JsonWindow {
    since: Option<String>,
    until: Option<String>,
    latest_source_date: Option<String>,
    description: String,
}

#[derive(Serialize)]
struct JsonSummary {
    checks: usize,
    failed: usize,
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "window: {}", self.window.describe())?;
        writeln!(f)?;
        writeln!(
            f,
            "   {:<26} {:<21} {:>12} {:>12} {:>8}",
            "check", "table", "source", "warehouse", "diff"
        )?;
        let value = |v: Option<i64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        for c in &self.checks {
            writeln!(
                f,
                "{}  {:<26} {:<21} {:>12} {:>12} {:>8}",
                if c.passed { '✔' } else { '✖' },
                c.check.label(),
                c.table,
                value(c.source),
                value(c.warehouse),
                c.differences
            )?;
            if !c.ids.is_empty() {
                let ids: Vec<String> = c.ids.iter().map(Id::to_string).collect();
                let more = if c.differences > c.ids.len() as u64 {
                    format!(" (first {} of {})", c.ids.len(), c.differences)
                } else {
                    String::new()
                };
                let what = if c.check == CheckKind::DatesInDimDate {
                    "date keys"
                } else {
                    "ids"
                };
                writeln!(f, "     {what}{more}: {}", ids.join(", "))?;
            }
            if !c.passed && !c.columns.is_empty() {
                let cols: Vec<String> = c
                    .columns
                    .iter()
                    .map(|(name, n)| format!("{name} ({n})"))
                    .collect();
                let what = match c.check {
                    CheckKind::Stale => "columns",
                    _ => "rows by column",
                };
                writeln!(f, "     {what}: {}", cols.join(", "))?;
            }
        }
        writeln!(f)?;
        let failed = self.failed().count();
        if failed == 0 {
            write!(
                f,
                "✔ source and warehouse agree: {} checks passed in {:.3} s",
                self.checks.len(),
                self.seconds
            )
        } else {
            write!(
                f,
                "✖ {failed} of {} checks found differences ({:.3} s)",
                self.checks.len(),
                self.seconds
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::window::WindowSpec;

    fn report(checks: Vec<Check>) -> ValidationReport {
        ValidationReport {
            window: WindowSpec::AllTime.resolve(None),
            checks,
            seconds: 0.01,
        }
    }

    #[test]
    fn found_keeps_the_count_and_the_first_ids() {
        let mut f = Found::default();
        for i in 0..25 {
            f.add_with_columns(Id::One(i), &["amount_cents"]);
        }
        assert_eq!(f.count, 25);
        assert_eq!(f.ids.len(), MAX_IDS);
        assert_eq!(f.ids[0], Id::One(0));
        assert_eq!(f.columns["amount_cents"], 25);
    }

    #[test]
    fn a_report_passes_only_when_every_check_does() {
        let ok = report(vec![Check::value(CheckKind::Count, "dim_film", 1000, 1000)]);
        assert!(ok.passed());
        assert!(ok.to_string().contains("✔ source and warehouse agree"));
        let mut found = Found::default();
        found.add(Id::One(42));
        let bad = report(vec![
            Check::value(CheckKind::Count, "dim_film", 1000, 1000),
            Check::rows(CheckKind::Missing, "fact_rental", found),
            Check::value(CheckKind::WindowRevenueCents, "fact_payment", 51418, 51417),
        ]);
        assert!(!bad.passed());
        let text = bad.to_string();
        assert!(text.contains("✖  missing rows"), "{text}");
        assert!(text.contains("ids: 42"), "{text}");
        assert!(text.contains("2 of 3 checks found differences"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&bad.to_json()).unwrap();
        assert_eq!(json["passed"], false);
        assert_eq!(json["summary"]["failed"], 2);
        assert_eq!(json["checks"][1]["check"], "missing");
        assert_eq!(json["checks"][1]["ids"][0], 42);
        assert_eq!(json["checks"][2]["differences"], 1);
        assert_eq!(
            bad.check(CheckKind::Missing, "fact_rental")
                .unwrap()
                .differences,
            1
        );
    }

    #[test]
    fn pair_ids_serialise_as_arrays() {
        assert_eq!(serde_json::to_string(&Id::Pair(1, 2)).unwrap(), "[1,2]");
        assert_eq!(Id::Pair(1, 2).to_string(), "(1,2)");
    }
}
