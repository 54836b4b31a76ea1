//! `validate`: compares the source with the warehouse, through the ORM, and reports every
//! difference by natural key.
//!
//! How it works, in one pass over each table:
//!
//! - The source is read in one snapshot ([`crate::db::SourceDb::snapshot`]), the warehouse in one read
//!   transaction, so each side is self-consistent.
//! - Each dimension is streamed from both sides ordered by its natural id and merge-joined
//!   ([`merge::merge_join`]): a source member the warehouse lacks is *missing*; a warehouse
//!   member not flagged deleted that the source lacks is *extra* (members flagged
//!   `is_deleted` are expected: they stay while facts use them); a member on both sides is
//!   compared, every contract column, with the row the loader would write for it (the same
//!   pure transforms, [`crate::star::transform`]), so a changed city, name or price is *stale*,
//!   and so is a member flagged deleted that the source still has.
//! - Bridges are merge-joined by their natural id pairs (the warehouse side resolved through
//!   the dimensions by a left join, so a row pointing at no member is a foreign-key failure).
//! - Facts are merge-joined by `rental_id` / `payment_id`. The expected fact row is built by
//!   the loader's transform with surrogate keys taken from the warehouse's own dimensions, so
//!   a wrong `store_key`, date key, duration or amount is *stale*. While streaming, every
//!   surrogate key is checked against the dimension keys read before (foreign keys), every
//!   date key against `dim_date`, and per-day totals are kept for the window checks.
//! - The window (see [`window`]) is resolved at the end from the latest source rental or
//!   payment date seen, and the per-day totals inside it give the rental count, payment count
//!   and revenue (exact integer cents) of each side.
//!
//! Missing, extra and stale rows are checked over all time, whatever the window: a window
//! only narrows the count and revenue checks. Memory holds a few thousand rows per side of a
//! merge, the dimension key maps, the source's address hierarchy and inventory map (as the
//! loader holds them), per-day totals and the first 20 ids of each check; no query runs per
//! row.
//!
//! Where the time goes: at 100x Sakila nearly all of it is reading the two fact tables, row
//! by row, on both sides. So each side's facts are read off the comparing task, rental then
//! payment, and handed to the merge in bounded batches; the merge only compares:
//!
//! - the source's on a task of their own inside the snapshot ([`read_ahead`]: the snapshot
//!   moves to that task and back), decoded as tuples by position;
//! - the warehouse's on a thread of their own through SeaORM's synchronous build and its
//!   rusqlite driver (`direct`), a read-only connection to the same file that checks it
//!   reads the same state as this run's warehouse transaction. sqlx's SQLite driver copies
//!   every value on its own thread and hands rows over one by one: four times slower.
//!
//! Two build-level choices serve the same reads: SQLite without memory statistics
//! (`.cargo/config.toml`) and mimalloc as the allocator (`main.rs`). `docs/benchmarks-log.md` has
//! the figures.

mod checksum;
mod direct;
mod facts;
pub mod merge;
pub mod read_ahead;
pub mod report;
pub mod window;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{NaiveDate, NaiveDateTime};
use futures::{Stream, TryStreamExt};
use sea_orm::{
    Condition, DatabaseConnection, DatabaseTransaction, EntityTrait, JoinType, QueryOrder,
    QuerySelect, TransactionTrait,
};

pub use report::{Check, CheckKind, Found, Id, MAX_IDS, ValidationReport};
pub use window::{Window, WindowSpec};

use self::merge::{differing_columns, merge_join};
use crate::db::SourceDb;
use crate::error::SchemaError;
use crate::source::language;
use crate::star::Dim;
use crate::star::bridge::{self, Bridge, FilmActor, FilmCategory};
use crate::star::keymap::KeyMap;
use crate::star::{self, Dimension, Fact, Payment, Refs, Rental};
use crate::sync::extract::{self, Geography, Marks, read_error};
use crate::warehouse::entity::warehouse_meta;
use crate::warehouse::schema::SCHEMA_VERSION;

/// How the fact tables are compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Facts {
    /// By fingerprints of blocks of ids, the source's computed by its server; only the rows
    /// of blocks that differ are read and compared (`checksum`). A SQLite source, which
    /// cannot compute them, is compared row by row.
    #[default]
    Checksums,
    /// Every row read from both sides and compared (`--exhaustive`).
    Exhaustive,
}

/// Compares `source` with `warehouse`; the window narrows only the count and revenue checks.
/// An `Err` is a failure to compare (unreachable or unreadable database), not a difference.
pub async fn validate(
    source: &SourceDb,
    warehouse: &DatabaseConnection,
    window: WindowSpec,
) -> Result<ValidationReport> {
    validate_with(source, warehouse, window, Facts::default()).await
}

/// [`validate`], comparing the facts as `facts` says.
pub async fn validate_with(
    source: &SourceDb,
    warehouse: &DatabaseConnection,
    window: WindowSpec,
    facts: Facts,
) -> Result<ValidationReport> {
    let started = Instant::now();
    let facts = match (facts, source.backend()) {
        (Facts::Checksums, sea_orm::DbBackend::MySql) => Facts::Checksums,
        _ => Facts::Exhaustive,
    };
    // The snapshot moves to the task reading the source's facts and back, hence the Option.
    let mut src = Some(source.snapshot().await?);
    let result = compare(&mut src, warehouse, window, facts, started).await;
    // End the snapshot whatever happened: an open MySQL transaction keeps metadata locks
    // (a DROP or ALTER of the source would wait on it) until its connection is reused. (If
    // an error left it with the reading task, dropping it there rolls it back.)
    if let Some(src) = src {
        src.rollback().await.ok();
    }
    result
}

async fn compare(
    src: &mut Option<DatabaseTransaction>,
    warehouse: &DatabaseConnection,
    window: WindowSpec,
    facts: Facts,
    started: Instant,
) -> Result<ValidationReport> {
    let committed = crate::warehouse::backend::Backend::committed(warehouse)?;
    let wh = warehouse
        .begin()
        .await
        .context("cannot start a read transaction on the warehouse")?;
    check_schema(&wh).await?;
    let mut v = Validation::default();
    let step = Instant::now();
    let snapshot = src.as_ref().context("the source snapshot is gone")?;
    v.dimensions(snapshot, &wh).await?;
    tracing::info!(
        "dimensions compared in {:.3} s",
        step.elapsed().as_secs_f64()
    );
    let step = Instant::now();
    v.bridges(snapshot, &wh).await?;
    tracing::info!("bridges compared in {:.3} s", step.elapsed().as_secs_f64());
    // On an error the warehouse transaction is dropped, which rolls it back.
    let wh = match facts {
        Facts::Checksums => v.facts_by_checksum(src, wh, committed).await?,
        Facts::Exhaustive => v.facts(src, wh, committed).await?,
    };
    wh.rollback().await.ok();
    Ok(v.report(window, started))
}

async fn check_schema(wh: &DatabaseTransaction) -> Result<()> {
    let version = warehouse_meta::Entity::find_by_id("schema_version".to_string())
        .one(wh)
        .await
        .map_err(|e| {
            let e = anyhow::Error::from(e);
            crate::error::first_load_in_the_way(&e)
                .unwrap_or_else(|| SchemaError::Missing(e.to_string()).into())
        })?;
    match version {
        Some(v) if v.value == SCHEMA_VERSION => {}
        Some(v) => {
            return Err(SchemaError::Version {
                found: v.value,
                expected: SCHEMA_VERSION,
            }
            .into());
        }
        None => return Err(SchemaError::NoVersion.into()),
    }
    let outdated = crate::warehouse::schema::outdated_star_tables(wh).await?;
    if !outdated.is_empty() {
        return Err(SchemaError::Outdated { tables: outdated }.into());
    }
    Ok(())
}

/// A surrogate key no member has: what a fact's expected key is when the warehouse lacks the
/// member (the fact is then stale, and the member missing).
const UNRESOLVED: i32 = i32::MIN;

/// The members of one warehouse dimension: natural id -> surrogate key, and back.
#[derive(Default)]
struct Members {
    key_of: KeyMap<i32>,
    id_of: KeyMap<u32>,
}

impl Members {
    fn insert(&mut self, id: i32, key: i32) {
        self.key_of.insert(id as u32, key);
        self.id_of.insert(key as u32, id as u32);
    }

    /// The surrogate key of natural id `id`, or [`UNRESOLVED`].
    fn key(&self, id: u32) -> i32 {
        self.key_of.get(id).unwrap_or(UNRESOLVED)
    }

    /// The natural id of the member whose key is `key`, if any.
    fn id(&self, key: i32) -> Option<u32> {
        if key < 0 {
            return None;
        }
        self.id_of.get(key as u32)
    }

    fn has_key(&self, key: i32) -> bool {
        self.id(key).is_some()
    }
}

/// What merging one table found.
struct TableResult {
    table: &'static str,
    /// Rows (bridges, facts) or members (dimensions) in the source.
    source_rows: u64,
    /// Rows in the warehouse; for dimensions, members not flagged deleted.
    warehouse_rows: u64,
    /// Whether the table has columns beyond its natural key (bridges do not).
    compares_columns: bool,
    /// Whether the report shows a count check for it (dimensions and bridges; facts are
    /// counted by the window checks).
    counted: bool,
    missing: Found,
    extra: Found,
    stale: Found,
}

impl TableResult {
    fn new(table: &'static str, compares_columns: bool, counted: bool) -> Self {
        Self {
            table,
            source_rows: 0,
            warehouse_rows: 0,
            compares_columns,
            counted,
            missing: Found::default(),
            extra: Found::default(),
            stale: Found::default(),
        }
    }
}

/// Rows and cents per day (`YYYYMMDD` key), for the window checks.
#[derive(Clone, Default)]
struct DayTotals(BTreeMap<i32, (u64, i64)>);

impl DayTotals {
    fn add(&mut self, day: i32, cents: i64) {
        let e = self.0.entry(day).or_default();
        e.0 += 1;
        e.1 += cents;
    }

    /// Takes back one row added with [`DayTotals::add`].
    fn remove(&mut self, day: i32, cents: i64) {
        if let Some(e) = self.0.get_mut(&day) {
            e.0 -= 1;
            e.1 -= cents;
            if e.0 == 0 {
                self.0.remove(&day);
            }
        }
    }

    fn within(&self, w: &Window) -> (u64, i64) {
        self.0
            .iter()
            .filter(|(day, _)| w.contains_key(**day))
            .fold((0, 0), |(n, c), (_, (dn, dc))| (n + dn, c + dc))
    }
}

/// Fact date keys missing from `dim_date`: the distinct keys, and rows per column.
#[derive(Default)]
struct MissingDates {
    keys: BTreeSet<i32>,
    rows_by_column: BTreeMap<&'static str, u64>,
}

impl MissingDates {
    fn check(&mut self, dates: &HashSet<i32>, column: &'static str, key: i32) {
        if !dates.contains(&key) {
            *self.rows_by_column.entry(column).or_default() += 1;
            self.keys.insert(key);
        }
    }

    fn found(self) -> Found {
        Found {
            count: self.keys.len() as u64,
            ids: self
                .keys
                .iter()
                .take(MAX_IDS)
                .map(|k| Id::One(i64::from(*k)))
                .collect(),
            columns: self.rows_by_column,
        }
    }
}

#[derive(Default)]
struct Validation {
    tables: Vec<TableResult>,
    films: Members,
    actors: Members,
    categories: Members,
    customers: Members,
    stores: Members,
    staff: Members,
    /// Source staff_id -> store_id (a payment's store is its staff member's).
    staff_store: KeyMap<u32>,
    foreign_keys: Vec<(&'static str, Found)>,
    dates: Vec<(&'static str, MissingDates)>,
    rentals: (DayTotals, DayTotals),
    payments: (DayTotals, DayTotals),
    /// The latest rental or payment in the source.
    latest: Option<NaiveDateTime>,
}

fn wh_read_error(table: &str) -> String {
    format!("cannot read warehouse table {table}")
}

/// Every row of warehouse table `E` in `order`, keyed by `id`, as a stream.
async fn warehouse_rows<'a, E: EntityTrait>(
    wh: &'a DatabaseTransaction,
    order: E::Column,
    id: fn(&E::Model) -> i64,
) -> Result<impl Stream<Item = Result<(i64, E::Model)>> + 'a> {
    let table = E::default().table_name();
    Ok(E::find()
        .order_by_asc(order)
        .stream(wh)
        .await
        .with_context(|| wh_read_error(table))?
        .map_err(move |e| anyhow::Error::new(e).context(wh_read_error(table)))
        .map_ok(move |m| (id(&m), m)))
}

/// Merge-joins one dimension: `expected(source row, warehouse key)` is the row the loader
/// would write for the source member under the warehouse's surrogate key.
async fn dimension<E, S>(
    wh: &DatabaseTransaction,
    source: impl Stream<Item = Result<(i64, S)>>,
    mut expected: impl FnMut(&S, i32) -> Result<E::Model>,
) -> Result<(TableResult, Members)>
where
    E: Dim,
{
    let table = E::default().table_name();
    let warehouse = warehouse_rows::<E>(wh, E::natural_col(), |m| i64::from(E::natural(m))).await?;
    let mut t = TableResult::new(table, true, true);
    let mut members = Members::default();
    merge_join(table, source, warehouse, |id, s, w| {
        if s.is_some() {
            t.source_rows += 1;
        }
        if let Some(w) = &w {
            members.insert(E::natural(w), E::key(w));
            if !E::is_deleted(w) {
                t.warehouse_rows += 1;
            }
        }
        match (s, w) {
            (Some(_), None) => t.missing.add(Id::One(id)),
            (None, Some(w)) if !E::is_deleted(&w) => t.extra.add(Id::One(id)),
            (Some(s), Some(w)) => {
                let cols = differing_columns(&expected(&s, E::key(&w))?, &w);
                if !cols.is_empty() {
                    t.stale.add_with_columns(Id::One(id), &cols);
                }
            }
            _ => {}
        }
        Ok(())
    })
    .await?;
    Ok((t, members))
}

/// Merge-joins one bridge by natural id pairs. `warehouse` yields
/// `(first key, second key, first natural id, second natural id)`, the ids `None` when the key
/// points at no member (a foreign-key failure); rows come ordered by the natural ids, so those
/// (NULLs sort first in SQLite) come first.
async fn merge_bridge(
    table: &'static str,
    key_names: (&'static str, &'static str),
    source: impl Stream<Item = Result<((i64, i64), ())>>,
    warehouse: impl Stream<Item = Result<(i32, i32, Option<i32>, Option<i32>)>>,
) -> Result<(TableResult, Found)> {
    let mut t = TableResult::new(table, false, true);
    let mut dangling = Found::default();
    let mut warehouse_rows = 0u64;
    let warehouse = warehouse.try_filter_map(|(ka, kb, a, b)| {
        warehouse_rows += 1;
        let row = match (a, b) {
            (Some(a), Some(b)) => Some(((i64::from(a), i64::from(b)), ())),
            _ => {
                let mut cols = Vec::new();
                if a.is_none() {
                    cols.push(key_names.0);
                }
                if b.is_none() {
                    cols.push(key_names.1);
                }
                let id = format!("{}={ka},{}={kb}", key_names.0, key_names.1);
                dangling.add_with_columns(Id::Text(id), &cols);
                None
            }
        };
        futures::future::ready(Ok(row))
    });
    merge_join(table, source, warehouse, |(a, b), s, w| {
        if s.is_some() {
            t.source_rows += 1;
        }
        match (s, w) {
            (Some(_), None) => t.missing.add(Id::Pair(a, b)),
            (None, Some(_)) => t.extra.add(Id::Pair(a, b)),
            _ => {}
        }
        Ok(())
    })
    .await?;
    t.warehouse_rows = warehouse_rows;
    Ok((t, dangling))
}

impl Validation {
    async fn dimensions(
        &mut self,
        src: &DatabaseTransaction,
        wh: &DatabaseTransaction,
    ) -> Result<()> {
        let refs = Refs {
            geo: Geography::load(src, &mut Marks::default()).await?,
            languages: extract::all::<language::Entity, _>(src)
                .await?
                .into_iter()
                .map(|l| (l.language_id, l.name))
                .collect(),
        };
        self.films = self.dimension::<star::Film>(src, wh, &refs).await?;
        self.actors = self.dimension::<star::Actor>(src, wh, &refs).await?;
        self.categories = self.dimension::<star::Category>(src, wh, &refs).await?;
        self.customers = self.dimension::<star::Customer>(src, wh, &refs).await?;
        self.stores = self.dimension::<star::Store>(src, wh, &refs).await?;
        self.staff = self.dimension::<star::Staff>(src, wh, &refs).await?;
        // Payments are attributed to their staff member's store.
        for s in extract::staff(src, Condition::all()).await? {
            self.staff_store.insert(s.staff_id, s.store_id);
        }
        Ok(())
    }

    /// Compares dimension `D`: every source row, merged by natural id with the warehouse's
    /// members, against the member the loader would make of it under the member's key.
    async fn dimension<D: Dimension>(
        &mut self,
        src: &DatabaseTransaction,
        wh: &DatabaseTransaction,
        refs: &Refs,
    ) -> Result<Members> {
        let rows = D::select()
            .into_model::<D::Row>()
            .stream(src)
            .await
            .with_context(read_error::<D::Source>)?
            .map_err(|e| anyhow::Error::new(e).context(read_error::<D::Source>()))
            .map_ok(|r| (i64::from(D::id(&r)), r));
        let (t, members) =
            dimension::<D::Star, _>(wh, rows, |row, key| D::member(key, row, refs)).await?;
        self.tables.push(t);
        Ok(members)
    }

    async fn bridges(&mut self, src: &DatabaseTransaction, wh: &DatabaseTransaction) -> Result<()> {
        self.bridge::<FilmActor>(src, wh).await?;
        self.bridge::<FilmCategory>(src, wh).await
    }

    /// Merge-joins bridge `B` by natural ids: the source's pairs, and the warehouse's resolved
    /// through its dimensions (a pair whose key resolves to nothing breaks a foreign key).
    async fn bridge<B: Bridge>(
        &mut self,
        src: &DatabaseTransaction,
        wh: &DatabaseTransaction,
    ) -> Result<()> {
        let [film, other] = B::source_ids();
        let source = B::Source::find()
            .select_only()
            .columns([film, other])
            .order_by_asc(film)
            .order_by_asc(other)
            .into_tuple::<(u32, u32)>()
            .stream(src)
            .await
            .with_context(read_error::<B::Source>)?
            .map_err(|e| anyhow::Error::new(e).context(read_error::<B::Source>()))
            .map_ok(|(f, o)| ((i64::from(f), i64::from(o)), ()));
        let [to_film, to_other] = B::star_joins();
        let warehouse = B::Star::find()
            .select_only()
            .columns(B::star_keys())
            .column(bridge::film_id())
            .column(B::other_id())
            .join(JoinType::LeftJoin, to_film)
            .join(JoinType::LeftJoin, to_other)
            .order_by_asc(bridge::film_id())
            .order_by_asc(B::other_id())
            .into_tuple::<(i32, i32, Option<i32>, Option<i32>)>()
            .stream(wh)
            .await
            .with_context(|| wh_read_error(B::star_table()))?
            .map_err(|e| anyhow::Error::new(e).context(wh_read_error(B::star_table())));
        let (t, fk) = merge_bridge(B::star_table(), B::key_names(), source, warehouse).await?;
        self.tables.push(t);
        self.foreign_keys.push((B::star_table(), fk));
        Ok(())
    }

    fn report(self, spec: WindowSpec, started: Instant) -> ValidationReport {
        let latest: Option<NaiveDate> = self.latest.map(|t| t.date());
        let window = spec.resolve(latest);
        let mut checks = Vec::new();
        for t in self.tables.iter().filter(|t| t.counted) {
            checks.push(Check::value(
                CheckKind::Count,
                t.table,
                t.source_rows as i64,
                t.warehouse_rows as i64,
            ));
        }
        let (src_rentals, _) = self.rentals.0.within(&window);
        let (wh_rentals, _) = self.rentals.1.within(&window);
        checks.push(Check::value(
            CheckKind::WindowRentals,
            Rental::star_table(),
            src_rentals as i64,
            wh_rentals as i64,
        ));
        let (src_payments, src_cents) = self.payments.0.within(&window);
        let (wh_payments, wh_cents) = self.payments.1.within(&window);
        checks.push(Check::value(
            CheckKind::WindowPayments,
            Payment::star_table(),
            src_payments as i64,
            wh_payments as i64,
        ));
        checks.push(Check::value(
            CheckKind::WindowRevenueCents,
            Payment::star_table(),
            src_cents,
            wh_cents,
        ));
        for t in self.tables {
            checks.push(Check::rows(CheckKind::Missing, t.table, t.missing));
            checks.push(Check::rows(CheckKind::Extra, t.table, t.extra));
            if t.compares_columns {
                checks.push(Check::rows(CheckKind::Stale, t.table, t.stale));
            }
        }
        for (table, found) in self.foreign_keys {
            checks.push(Check::rows(CheckKind::ForeignKeys, table, found));
        }
        for (table, missing) in self.dates {
            checks.push(Check::rows(
                CheckKind::DatesInDimDate,
                table,
                missing.found(),
            ));
        }
        ValidationReport {
            window,
            checks,
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_totals_sum_inside_the_window_only() {
        let mut d = DayTotals::default();
        d.add(20060207, 100);
        d.add(20060208, 299);
        d.add(20060214, 1);
        d.add(20060214, 2);
        let w = WindowSpec::Days {
            days: 7,
            as_of: None,
        }
        .resolve(NaiveDate::from_ymd_opt(2006, 2, 14));
        assert_eq!(d.within(&w), (3, 302));
        assert_eq!(d.within(&WindowSpec::AllTime.resolve(None)), (4, 402));
    }

    #[test]
    fn members_resolve_keys_and_know_unknown_ones() {
        let mut m = Members::default();
        m.insert(5, 7);
        assert_eq!(m.key(5), 7);
        assert_eq!(m.key(6), UNRESOLVED);
        assert!(m.has_key(7) && !m.has_key(5) && !m.has_key(-1) && !m.has_key(UNRESOLVED));
        assert_eq!((m.id(7), m.id(5), m.id(UNRESOLVED)), (Some(5), None, None));
    }

    #[test]
    fn day_totals_take_back_what_was_added() {
        let mut d = DayTotals::default();
        d.add(20060207, 100);
        d.add(20060207, 5);
        d.remove(20060207, 100);
        d.remove(20060301, 1); // never added: nothing to take back
        assert_eq!(d.0.get(&20060207), Some(&(1, 5)));
        d.remove(20060207, 5);
        assert!(d.0.is_empty());
    }

    #[test]
    fn missing_dates_list_distinct_keys_in_order() {
        let dates: HashSet<i32> = [20050524].into_iter().collect();
        let mut m = MissingDates::default();
        m.check(&dates, "rental_date_key", 20050526);
        m.check(&dates, "rental_date_key", 20050524);
        m.check(&dates, "return_date_key", 20050526);
        m.check(&dates, "rental_date_key", 20050525);
        let f = m.found();
        assert_eq!(f.count, 2);
        assert_eq!(f.ids, vec![Id::One(20050525), Id::One(20050526)]);
        assert_eq!(f.columns["rental_date_key"], 2);
        assert_eq!(f.columns["return_date_key"], 1);
    }
}
