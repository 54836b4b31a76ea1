//! `report`: one self-contained HTML page of what the warehouse holds, for people who do not
//! write SQL: headline figures, revenue per month and store, top categories, films and
//! actors, countries, days of the week, inventory use, and how fresh the data is.
//!
//! Why it is shaped like this:
//! - **The warehouse only.** The report answers from the star schema (on a read-only
//!   connection, like `status`), never from the source: it is what a BI tool would see, and
//!   it works while the source is away. Its freshness section says how old that data is.
//! - **One file, offline.** CSS in a `<style>`, charts as inline SVG drawn by `plotters`'
//!   SVG backend (text stays `<text>` in a generic font family; no font is loaded), no
//!   script, no link to anything: the file can be mailed, archived or opened on a plane.
//!   Every chart is followed by a table of its numbers, for screen readers and copying.
//! - **Three layers.** [`query`] asks the warehouse (SeaORM queries only, the same on SQLite
//!   and PostgreSQL) and returns plain rows; this module assembles them into a [`Report`],
//!   plain data; [`html`] and [`chart`] turn a `Report` into text without touching a
//!   database, so the page is unit-tested without one.
//! - **Money is integer cents** end to end, shown by [`dollars`]; shares and
//!   averages are computed in integers too ([`percent`], [`two_decimals`]).
//! - **The window** is `validate`'s ([`WindowSpec`]), resolved against the latest rental or
//!   payment date *in the warehouse*, and compared with the facts' `YYYYMMDD` date keys.
//! - **Soft-deleted dimension members are kept.** A member flagged `is_deleted` (gone from
//!   the source) stays in the warehouse while facts use it, and the rentals and payments
//!   that point at it happened: leaving them out would make the report's revenue disagree
//!   with `validate`'s and with the source's history. Such members are marked "(deleted)".

pub mod chart;
pub mod html;
pub mod query;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, NaiveDateTime};
use sea_orm::DatabaseConnection;

use crate::db::{self, Role};
use crate::status::{RunLine, ValidateRecord};
use crate::validate::{Window, WindowSpec};
use crate::warehouse::backend::Warehouse;
use crate::warehouse::entity::{sync_state, warehouse_meta};
use sea_orm::EntityTrait;

pub use query::Ranked;

/// How many entries the top lists show.
pub const TOP: u64 = 10;
/// How many countries the country table shows.
pub const TOP_COUNTRIES: usize = 15;
/// How many runs the freshness section lists.
pub const RUNS: u64 = 5;

/// What [`write_report`] wrote, for the caller to print.
#[derive(Clone, Debug)]
pub struct Summary {
    pub path: PathBuf,
    pub window: Window,
    /// The window as the page states it.
    pub window_text: String,
    /// `false`: the warehouse holds no fact yet (the page says to run `full-load`).
    pub loaded: bool,
    pub revenue_cents: i64,
    pub rentals: i64,
}

/// Everything the page shows: plain data, built from the warehouse by `read` and turned
/// into HTML by [`html::render`].
#[derive(Debug)]
pub struct Report {
    /// When the report was made (UTC).
    pub generated_at: NaiveDateTime,
    /// The warehouse file, or its URL with the password hidden.
    pub warehouse: String,
    pub window: Window,
    pub window_text: String,
    /// Whether the warehouse holds any rental or payment at all.
    pub loaded: bool,
    pub headline: Headline,
    /// Per store of the staff member who took the payment, the revenue of each month with
    /// payments; `months` are those months, ascending, as [`month_index`]es.
    pub monthly: Vec<StoreSeries>,
    pub months: Vec<i32>,
    /// Revenue by the store of the staff member who took the payment (`fact_payment.store_key`).
    pub by_staff_store: Vec<(String, i64)>,
    /// Revenue by the store of the rented copy (`fact_rental.store_key` of the paid rental),
    /// with "no rental" for payments without one.
    pub by_copy_store: Vec<(String, i64)>,
    pub top_categories: Vec<Ranked>,
    pub top_films: Vec<Ranked>,
    pub top_actors: Vec<Ranked>,
    /// The [`TOP_COUNTRIES`] countries with the most revenue.
    pub countries: Vec<CountryLine>,
    /// How many countries have revenue in the window.
    pub countries_with_revenue: usize,
    /// Distinct customers who rented in the window (the denominator of the customer shares).
    pub renting_customers: i64,
    /// Rentals per day of the week, Monday first.
    pub weekdays: [i64; 7],
    pub inventory: Vec<InventoryLine>,
    pub freshness: Freshness,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headline {
    pub revenue_cents: i64,
    pub payments: i64,
    /// Distinct customers with a payment in the window.
    pub paying_customers: i64,
    pub rentals: i64,
    /// Rentals with a return date.
    pub returned: i64,
    /// Returned rentals with a duration, and their whole days summed.
    pub timed: i64,
    pub days: i64,
    /// Returned rentals kept longer than the film's `rental_duration` days.
    pub late: i64,
    /// Rentals with no return date.
    pub still_out: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSeries {
    pub store: String,
    /// (month index, cents), ascending, months with payments only.
    pub points: Vec<(i32, i64)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountryLine {
    pub country: String,
    pub cents: i64,
    /// Distinct customers of the country who rented in the window.
    pub customers: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryLine {
    pub store: String,
    /// Copies of the store with a rental in the window.
    pub rented: i64,
    /// Copies of the store with a rental ever (the copies the warehouse knows).
    pub known: i64,
}

#[derive(Debug)]
pub struct Freshness {
    /// The last run that committed: its command and when it finished.
    pub last_success: Option<RunLine>,
    pub last_success_finished: Option<NaiveDateTime>,
    /// The last [`RUNS`] runs, newest first.
    pub runs: Vec<RunLine>,
    pub tables: Vec<sync_state::Model>,
    pub last_validate: Option<ValidateRecord>,
}

/// Reads the warehouse at `warehouse_url` (read-only) and writes the report for `window` to
/// `out`, replacing it. `out` is checked first, so an unwritable path fails before any query.
pub async fn write_report(warehouse_url: &str, window: WindowSpec, out: &Path) -> Result<Summary> {
    let created = check_writable(out)?;
    let result = async {
        let report = build(warehouse_url, window).await?;
        write_page(&report, out)
    }
    .await;
    if result.is_err() && created {
        // Leave nothing behind that looks like a report.
        std::fs::remove_file(out).ok();
    }
    result
}

/// Writes the page of `report` to `out`, replacing it.
pub fn write_page(report: &Report, out: &Path) -> Result<Summary> {
    let page = html::render(report)?;
    std::fs::write(out, page)
        .with_context(|| format!("cannot write the report to {}", out.display()))?;
    Ok(Summary {
        path: out.to_path_buf(),
        window: report.window,
        window_text: report.window_text.clone(),
        loaded: report.loaded,
        revenue_cents: report.headline.revenue_cents,
        rentals: report.headline.rentals,
    })
}

/// Fails, naming the path, when `out` cannot be written; `Ok(true)` when checking created it.
fn check_writable(out: &Path) -> Result<bool> {
    if out.is_dir() {
        bail!("--out {} is a folder, not a file", out.display());
    }
    let existed = out.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(out)
        .with_context(|| format!("cannot write the report to {}", out.display()))?;
    Ok(!existed)
}

/// Reads everything the page shows from the warehouse at `warehouse_url`.
pub async fn build(warehouse_url: &str, window: WindowSpec) -> Result<Report> {
    let place = Warehouse::at(warehouse_url);
    place.require_existing()?;
    let place = place.name();
    let wh = db::connect(warehouse_url, Role::WarehouseReader).await?;
    let result = read(&wh, place, window).await;
    wh.close().await.ok();
    result
}

async fn read(wh: &DatabaseConnection, place: String, spec: WindowSpec) -> Result<Report> {
    warehouse_meta::Entity::find_by_id("schema_version".to_string())
        .one(wh)
        .await
        .map_err(anyhow::Error::from)
        .or_else(|e| crate::error::first_load_in_the_way(&e).map_or(Ok(None), Err))?
        .with_context(|| {
            format!("the warehouse {place} was never initialised: run `sakila-sync init` first")
        })?;
    let latest = query::latest_key(wh).await?.and_then(key_date);
    let window = spec.resolve(latest);
    let w = &window;

    let pay = query::payment_totals(wh, w).await?;
    let rent = query::rental_totals(wh, w).await?;
    let headline = Headline {
        revenue_cents: pay.cents.unwrap_or(0),
        payments: pay.payments,
        paying_customers: pay.customers,
        rentals: rent.rentals,
        returned: rent.returned,
        timed: rent.timed,
        days: rent.days.unwrap_or(0),
        late: query::late_returns(wh, w).await?,
        still_out: rent.rentals - rent.returned,
    };

    let stores = query::stores(wh).await?;
    let store_name = |key: i32| -> String {
        stores
            .iter()
            .find(|s| s.store_key == key)
            .map_or_else(|| format!("store key {key}"), store_label)
    };

    let monthly_rows = query::revenue_by_month(wh, w).await?;
    let mut months: Vec<i32> = monthly_rows
        .iter()
        .map(|r| month_index(r.year, r.month))
        .collect();
    months.sort_unstable();
    months.dedup();
    let mut keys: Vec<i32> = monthly_rows.iter().map(|r| r.store_key).collect();
    keys.sort_unstable();
    keys.dedup();
    let monthly: Vec<StoreSeries> = keys
        .iter()
        .map(|&k| StoreSeries {
            store: store_name(k),
            points: monthly_rows
                .iter()
                .filter(|r| r.store_key == k)
                .map(|r| (month_index(r.year, r.month), r.cents))
                .collect(),
        })
        .collect();
    let by_staff_store = monthly
        .iter()
        .map(|s| (s.store.clone(), s.points.iter().map(|p| p.1).sum()))
        .collect();
    let mut copy_stores = query::revenue_by_copy_store(wh, w).await?;
    // "no rental" last: backends sort NULL apart (SQLite first, PostgreSQL last).
    copy_stores.sort_by_key(|r| (r.store_key.is_none(), r.store_key));
    let by_copy_store = copy_stores
        .into_iter()
        .map(|r| {
            let name = r
                .store_key
                .map_or_else(|| "no rental".to_string(), store_name);
            (name, r.cents)
        })
        .collect();

    let revenue = query::revenue_by_country(wh, w).await?;
    let customers = query::renting_customers_by_country(wh, w).await?;
    let renting_customers = customers.iter().map(|c| c.customers).sum();
    let countries_with_revenue = revenue.len();
    let countries = top_countries(
        revenue.into_iter().map(|r| (r.country, r.cents)).collect(),
        &customers
            .into_iter()
            .map(|c| (c.country, c.customers))
            .collect::<Vec<_>>(),
        TOP_COUNTRIES,
    );

    let known = query::copies_rented(wh, None).await?;
    let rented = query::copies_rented(wh, Some(w)).await?;
    let inventory = known
        .iter()
        .map(|k| InventoryLine {
            store: store_name(k.store_key),
            rented: rented
                .iter()
                .find(|r| r.store_key == k.store_key)
                .map_or(0, |r| r.copies),
            known: k.copies,
        })
        .collect();

    let last = query::last_success(wh).await?;
    let freshness = Freshness {
        last_success_finished: last.as_ref().and_then(|r| r.finished_at),
        last_success: last.map(crate::status::run_line),
        runs: query::runs(wh, RUNS)
            .await?
            .into_iter()
            .map(crate::status::run_line)
            .collect(),
        tables: query::sync_states(wh).await?,
        last_validate: crate::status::last_validate(wh).await?,
    };

    Ok(Report {
        generated_at: crate::sync::run::now(),
        warehouse: place,
        window_text: describe(&window),
        window,
        loaded: latest.is_some(),
        headline,
        monthly,
        months,
        by_staff_store,
        by_copy_store,
        top_categories: query::top_categories(wh, w, TOP).await?,
        top_films: query::top_films(wh, w, TOP).await?,
        top_actors: query::top_actors(wh, w, TOP).await?,
        countries,
        countries_with_revenue,
        renting_customers,
        weekdays: query::rentals_by_weekday(wh, w).await?,
        inventory,
        freshness,
    })
}

fn store_label(s: &query::StoreRow) -> String {
    let deleted = if s.is_deleted { " (deleted)" } else { "" };
    format!("Store {} ({}, {}){deleted}", s.store_id, s.city, s.country)
}

/// The `n` countries with the most revenue (ties by name, bytewise), with their renting
/// customers.
fn top_countries(
    mut revenue: Vec<(String, i64)>,
    customers: &[(String, i64)],
    n: usize,
) -> Vec<CountryLine> {
    revenue.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    revenue
        .into_iter()
        .take(n)
        .map(|(country, cents)| CountryLine {
            customers: customers.iter().find(|c| c.0 == country).map_or(0, |c| c.1),
            country,
            cents,
        })
        .collect()
}

/// The window as the page states it: [`Window::describe`], except that `--days` counts back
/// from the latest date in the warehouse, not the source.
pub fn describe(w: &Window) -> String {
    match (w.spec, w.latest) {
        (WindowSpec::Days { days, as_of: None }, Some(latest)) => format!(
            "{}: the {days} day{} ending at {latest}, the latest rental or payment date in the warehouse",
            w.range_text(),
            if days == 1 { "" } else { "s" }
        ),
        (WindowSpec::Days { days, as_of: None }, None) => format!(
            "all time: the warehouse has no rental or payment to count --days {days} back from"
        ),
        _ => w.describe(),
    }
}

/// The day of a `YYYYMMDD` key.
pub fn key_date(key: i32) -> Option<NaiveDate> {
    let key = u32::try_from(key).ok()?;
    NaiveDate::from_ymd_opt((key / 10_000) as i32, key / 100 % 100, key % 100)
}

/// Months counted from year 0: consecutive months have consecutive indexes.
pub fn month_index(year: i32, month: i32) -> i32 {
    year * 12 + (month - 1)
}

/// `2005-07` for a [`month_index`].
pub fn month_text(index: i32) -> String {
    format!("{}-{:02}", index.div_euclid(12), index.rem_euclid(12) + 1)
}

/// Splits ascending month indexes into runs of consecutive months, so that a chart draws
/// one line per run and never bridges months with no data.
pub fn month_runs(months: &[i32]) -> Vec<Vec<i32>> {
    let mut runs: Vec<Vec<i32>> = Vec::new();
    for &m in months {
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(|&last| last + 1 == m) => run.push(m),
            _ => runs.push(vec![m]),
        }
    }
    runs
}

/// `part` of `whole` as a percentage with one decimal, rounded half up, in integers:
/// `percent(1, 3)` is `33.3%`; `-` when `whole` is 0.
pub fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "-".into();
    }
    let tenths = (i128::from(part) * 1000 + i128::from(whole) / 2) / i128::from(whole);
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// `total / n` with two decimals, rounded half up, in integers: `two_decimals(7, 2)` is `3.50`;
/// `-` when `n` is 0.
pub fn two_decimals(total: i64, n: i64) -> String {
    if n <= 0 {
        return "-".into();
    }
    let hundredths = (i128::from(total) * 100 + i128::from(n) / 2) / i128::from(n);
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// Cents as dollars with thousands separators: `$67,416.51`, `-$0.50`.
pub fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}${}.{:02}", grouped(abs / 100), abs % 100)
}

/// A count with thousands separators: `16,044`.
pub fn thousands(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", grouped(n.unsigned_abs()))
}

/// `n`'s digits in groups of three: `16,044`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_split_into_runs_of_consecutive_months() {
        let m = |y, mo| month_index(y, mo);
        // The real Sakila: May..August 2005, then February 2006.
        let months = [m(2005, 5), m(2005, 6), m(2005, 7), m(2005, 8), m(2006, 2)];
        assert_eq!(
            month_runs(&months),
            vec![months[..4].to_vec(), vec![m(2006, 2)]]
        );
        // December to January is consecutive.
        assert_eq!(month_runs(&[m(2005, 12), m(2006, 1)]).len(), 1);
        assert_eq!(month_runs(&[m(2005, 1), m(2005, 3)]).len(), 2);
        assert!(month_runs(&[]).is_empty());
        assert_eq!(month_text(m(2005, 12)), "2005-12");
        assert_eq!(month_text(m(2006, 1)), "2006-01");
    }

    #[test]
    fn dollars_group_thousands() {
        assert_eq!(dollars(6741651), "$67,416.51");
        assert_eq!(dollars(99), "$0.99");
        assert_eq!(dollars(100000), "$1,000.00");
        assert_eq!(dollars(123456789), "$1,234,567.89");
        // A refund larger than the sales: the sign goes before the dollar sign, never
        // between it and the first group.
        assert_eq!(dollars(-12345), "-$123.45");
        assert_eq!(dollars(-123456), "-$1,234.56");
        assert_eq!(dollars(-50), "-$0.50");
        assert_eq!(dollars(i64::MIN), "-$92,233,720,368,547,758.08");
    }

    #[test]
    fn shares_and_averages_are_integer_arithmetic() {
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(2, 3), "66.7%");
        assert_eq!(percent(0, 5), "0.0%");
        assert_eq!(percent(5, 5), "100.0%");
        assert_eq!(percent(1, 0), "-");
        assert_eq!(two_decimals(7, 2), "3.50");
        assert_eq!(two_decimals(2, 3), "0.67");
        assert_eq!(two_decimals(1, 0), "-");
        assert_eq!(thousands(16044), "16,044");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(-1234), "-1,234");
    }

    #[test]
    fn date_keys_read_back_as_days() {
        assert_eq!(key_date(20060214), NaiveDate::from_ymd_opt(2006, 2, 14));
        assert_eq!(key_date(20061301), None);
        assert_eq!(key_date(-1), None);
    }

    #[test]
    fn days_count_back_from_the_warehouse() {
        let latest = NaiveDate::from_ymd_opt(2006, 2, 14);
        let w = WindowSpec::Days {
            days: 7,
            as_of: None,
        }
        .resolve(latest);
        assert_eq!(
            describe(&w),
            "2006-02-08..2006-02-14: the 7 days ending at 2006-02-14, the latest rental or \
             payment date in the warehouse"
        );
        let w = WindowSpec::Days {
            days: 7,
            as_of: None,
        }
        .resolve(None);
        assert!(describe(&w).contains("the warehouse has no rental"));
        assert_eq!(
            describe(&WindowSpec::AllTime.resolve(latest)),
            "all time (no window option)"
        );
    }

    #[test]
    fn countries_rank_by_revenue_then_name() {
        let lines = top_countries(
            vec![("B".into(), 5), ("A".into(), 5), ("C".into(), 9)],
            &[("A".into(), 2)],
            2,
        );
        assert_eq!(
            lines,
            vec![
                CountryLine {
                    country: "C".into(),
                    cents: 9,
                    customers: 0
                },
                CountryLine {
                    country: "A".into(),
                    cents: 5,
                    customers: 2
                },
            ]
        );
    }
}
