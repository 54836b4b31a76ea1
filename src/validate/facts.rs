//! Comparing the fact tables, two ways:
//!
//! - by fingerprints ([`super::checksum`], the default on a MySQL source): the warehouse's
//!   rows are read once for the checks each row gets and for their blocks' sums; only the rows
//!   of blocks whose sums differ from the source's are read from both sides and compared;
//! - row by row (`--exhaustive`, and any SQLite source): both sides read off the comparing
//!   task in bounded batches ([`super::read_ahead`] for the source, [`super::direct`] for the
//!   warehouse) and merge-joined by natural id.
//!
//! Either way a compared row is checked against what the loader would write for its source
//! row, and every warehouse row's keys, dates and per-day totals are checked; the report is
//! the same.

use crate::warehouse::bulk_read::Committed;
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::NaiveDateTime;
use futures::TryStreamExt;
use sea_orm::sea_query::Expr;
use sea_orm::{DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::checksum::{self, Fingerprint, Naturals, SUB, Sum, TOP, WarehouseSums};
use super::merge::{differing_columns, merge_join};
use super::read_ahead::{self, Batches};
use super::{DayTotals, Found, Id, MissingDates, TableResult, Validation, direct, wh_read_error};
use crate::source::{inventory, payment, rental};
use crate::star::keymap::KeyMap;
use crate::star::transform::{PaymentKeys, RentalKeys, payment_row, rental_row};
use crate::star::{Fact, Payment, Rental};
use crate::sync::extract::{read_error, unreadable_row};
use crate::warehouse::entity::{dim_date, fact_payment, fact_rental};

impl Validation {
    /// Compares the facts. The source snapshot moves to a reading task ([`read_ahead`]) and
    /// back into `src` (also when comparing fails, if the task hands it back); the warehouse's
    /// facts are read from `file` on a connection of their own ([`direct`]), checked to read
    /// the state `wh` reads. Returns `wh`.
    pub(super) async fn facts(
        &mut self,
        src: &mut Option<DatabaseTransaction>,
        wh: DatabaseTransaction,
        committed: Committed,
    ) -> Result<DatabaseTransaction> {
        let snapshot = src.take().context("the source snapshot is gone")?;
        let looked = lookups(&snapshot, &wh).await;
        *src = Some(snapshot);
        let (copies, dates) = looked?;

        let (src_reader, src_rentals, src_payments) =
            read_ahead::source_facts(src.take().context("the source snapshot is gone")?);
        // The warehouse's facts are read on a connection of their own, which must read the
        // state this transaction reads: both read the newest sync_run row to tell.
        let mark = direct::state_mark(&wh).await?;
        let (wh_reader, wh_rentals, wh_payments) = direct::warehouse_facts(committed);
        // Each merge consumes (and drops) its two tables' batches, so that the reading tasks
        // stop at once when one fails.
        let compared = async {
            let step = Instant::now();
            self.merge::<Rental>(src_rentals, wh_rentals, &copies, &dates)
                .await?;
            tracing::info!(
                "fact_rental compared in {:.3} s",
                step.elapsed().as_secs_f64()
            );
            let step = Instant::now();
            self.merge::<Payment>(src_payments, wh_payments, &copies, &dates)
                .await?;
            tracing::info!(
                "fact_payment compared in {:.3} s",
                step.elapsed().as_secs_f64()
            );
            Ok::<_, anyhow::Error>(())
        }
        .await;
        *src = Some(src_reader.finish().await?);
        same_state(wh_reader, mark).await?;
        compared?;
        Ok(wh)
    }

    /// Compares the facts by fingerprints ([`checksum`]): the source's server sums blocks of
    /// ids on a task holding the snapshot while the warehouse's facts are read (on a thread,
    /// [`direct`]) for the checks every row gets and for the same sums; then only the rows of
    /// the blocks that differ are read from both sides and compared. Returns `wh`.
    pub(super) async fn facts_by_checksum(
        &mut self,
        src: &mut Option<DatabaseTransaction>,
        wh: DatabaseTransaction,
        committed: Committed,
    ) -> Result<DatabaseTransaction> {
        let snapshot = src.take().context("the source snapshot is gone")?;
        let looked = lookups(&snapshot, &wh).await;
        let step = Instant::now();
        let sums = tokio::spawn(async move {
            let rentals = checksum::source_sums::<Rental>(&snapshot, TOP, None).await;
            let payments = match &rentals {
                Ok(_) => checksum::source_sums::<Payment>(&snapshot, TOP, None).await,
                Err(_) => Ok(BTreeMap::new()),
            };
            (snapshot, rentals, payments)
        });
        let mark = direct::state_mark(&wh).await;
        let (wh_reader, mut wh_rentals, mut wh_payments) = direct::warehouse_facts(committed);
        let summed = async {
            let (copies, dates) = looked.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
            let r = self.sum::<Rental>(&mut wh_rentals, copies, dates).await?;
            let p = self.sum::<Payment>(&mut wh_payments, copies, dates).await?;
            Ok::<_, anyhow::Error>((r, p))
        }
        .await;
        drop((wh_rentals, wh_payments));
        let (snapshot, src_rentals, src_payments) =
            sums.await.context("the source's checksum task failed")?;
        *src = Some(snapshot);
        same_state(wh_reader, mark?).await?;
        let (copies, _) = looked?;
        let (wh_rentals, wh_payments) = summed?;
        let (src_rentals, src_payments) = (src_rentals?, src_payments?);
        tracing::info!(
            "fact fingerprints summed on both sides in {:.3} s",
            step.elapsed().as_secs_f64()
        );
        let snapshot = src.as_ref().context("the source snapshot is gone")?;
        let step = Instant::now();
        self.by_blocks::<Rental>(snapshot, &wh, &src_rentals, &wh_rentals, &copies)
            .await?;
        self.by_blocks::<Payment>(snapshot, &wh, &src_payments, &wh_payments, &copies)
            .await?;
        tracing::info!(
            "differing fact blocks compared in {:.3} s",
            step.elapsed().as_secs_f64()
        );
        Ok(wh)
    }

    /// Every warehouse row of fact `F`: the checks each row gets, and its block's fingerprint.
    async fn sum<F: Compared>(
        &mut self,
        warehouse: &mut Batches<StarModel<F>>,
        copies: &KeyMap<(u32, u32)>,
        dates: &HashSet<i32>,
    ) -> Result<WarehouseSums> {
        let mut sums = WarehouseSums::default();
        let mut t = TableResult::new(F::star_table(), true, false);
        let mut checks = RowChecks::default();
        let mut buf = Vec::with_capacity(128);
        let Parts {
            n,
            lookups,
            wh_days,
            ..
        } = self.parts::<F>(copies);
        let rows = warehouse.rows();
        let mut rows = std::pin::pin!(rows);
        let mut order = Order::default();
        while let Some(f) = rows.try_next().await? {
            let id = i64::from(F::id(&f));
            order.check(F::star_table(), id)?;
            t.warehouse_rows += 1;
            F::check(&mut checks, &n, dates, wh_days, &f);
            let crc = checksum::crc::<F>(&f, &n, &mut buf);
            // What the text leaves out must be what the loader makes of the rest.
            let consistent = F::source_of(&f, &n)
                .is_some_and(|r| F::expected(&n, &lookups, &r).is_ok_and(|e| e == f));
            sums.add(id, crc, consistent, F::when(&f));
        }
        self.tables.push(t);
        checks.record(self, F::star_table());
        Ok(sums)
    }

    /// The rows of fact `F` in the blocks whose fingerprints differ, read from both sides and
    /// compared; the source's count, per-day totals and latest date from the rest.
    async fn by_blocks<F: Compared>(
        &mut self,
        src: &DatabaseTransaction,
        wh: &DatabaseTransaction,
        source: &BTreeMap<i64, Sum>,
        warehouse: &WarehouseSums,
        copies: &KeyMap<(u32, u32)>,
    ) -> Result<()> {
        let blocks = checksum::differing(source, warehouse, |b| {
            checksum::source_sums::<F>(src, SUB, Some(checksum::ids_of(b, TOP)))
        })
        .await?;
        tracing::info!(
            "{}: {} of {} blocks of {SUB} ids differ; their rows are compared",
            F::star_table(),
            blocks.len(),
            warehouse.sub.len()
        );
        let mut latest = matched_latest(warehouse, &blocks);
        let Parts {
            n,
            lookups,
            tables,
            src_days,
            wh_days,
            latest: latest_of_all,
        } = self.parts::<F>(copies);
        // The blocks that matched hold the same rows on both sides.
        *src_days = wh_days.clone();
        let t = tables
            .iter_mut()
            .find(|t| t.table == F::star_table())
            .context("the fact table was summed first")?;
        t.source_rows = checksum::rows(source) as u64;
        for b in blocks {
            let (lo, hi) = checksum::ids_of(b, SUB);
            let s = fetch_source::<F>(src, lo, hi).await?;
            let w = fetch_warehouse::<F>(wh, lo, hi).await?;
            merge_sorted(s, w, |id, s, w| {
                let expected = s
                    .as_ref()
                    .map(|r| F::expected(&n, &lookups, r))
                    .transpose()?;
                if let Some(e) = &expected {
                    let (day, cents) = F::day(e);
                    src_days.add(day, cents);
                    latest = latest.max(Some(F::when(e)));
                }
                if let Some(f) = &w {
                    let (day, cents) = F::day(f);
                    src_days.remove(day, cents);
                }
                compare(t, id, expected, w);
                Ok(())
            })?;
        }
        *latest_of_all = (*latest_of_all).max(latest);
        Ok(())
    }

    /// Merge-joins fact `F` row by row: every source row against the row the loader would
    /// write for it, every warehouse row checked on the way.
    async fn merge<F: Compared>(
        &mut self,
        mut source: Batches<SourceModel<F>>,
        mut warehouse: Batches<StarModel<F>>,
        copies: &KeyMap<(u32, u32)>,
        dates: &HashSet<i32>,
    ) -> Result<()> {
        use futures::StreamExt;
        let source = source.rows().map(|r| {
            let r = r?;
            let id = F::fact_id(&r).context("a source fact without an id")?;
            Ok((id, r))
        });
        let warehouse = warehouse.rows().map_ok(|f| (i64::from(F::id(&f)), f));
        let mut t = TableResult::new(F::star_table(), true, false);
        let mut checks = RowChecks::default();
        let Parts {
            n,
            lookups,
            src_days,
            wh_days,
            latest,
            ..
        } = self.parts::<F>(copies);
        merge_join(F::star_table(), source, warehouse, |id, s, w| {
            // A source row the loader cannot make (an amount beyond integer cents) fails the
            // comparison with the loader's own error.
            let expected = s
                .as_ref()
                .map(|r| F::expected(&n, &lookups, r))
                .transpose()?;
            if let Some(e) = &expected {
                t.source_rows += 1;
                let (day, cents) = F::day(e);
                src_days.add(day, cents);
                *latest = (*latest).max(Some(F::when(e)));
            }
            if let Some(f) = &w {
                t.warehouse_rows += 1;
                F::check(&mut checks, &n, dates, wh_days, f);
            }
            compare(&mut t, id, expected, w);
            Ok(())
        })
        .await?;
        self.tables.push(t);
        checks.record(self, F::star_table());
        Ok(())
    }
}

/// The parts of a [`Validation`] that comparing fact `F` reads and fills, borrowed apart.
struct Parts<'a> {
    n: Naturals<'a>,
    lookups: Lookups<'a>,
    tables: &'a mut Vec<TableResult>,
    /// `F`'s per-day totals, source and warehouse.
    src_days: &'a mut DayTotals,
    wh_days: &'a mut DayTotals,
    latest: &'a mut Option<NaiveDateTime>,
}

impl Validation {
    fn parts<'a, F: Compared>(&'a mut self, copies: &'a KeyMap<(u32, u32)>) -> Parts<'a> {
        let Validation {
            films,
            stores,
            customers,
            staff,
            staff_store,
            tables,
            rentals,
            payments,
            latest,
            ..
        } = self;
        let (src_days, wh_days) = F::totals(rentals, payments);
        Parts {
            n: Naturals {
                films,
                stores,
                customers,
                staff,
            },
            lookups: Lookups {
                copies,
                staff_store,
            },
            tables,
            src_days,
            wh_days,
            latest,
        }
    }
}

/// What both ways of comparing read first: the inventory copies rentals resolve their film
/// and store through (as the loader does), and the days of `dim_date`.
async fn lookups(
    src: &DatabaseTransaction,
    wh: &DatabaseTransaction,
) -> Result<(KeyMap<(u32, u32)>, HashSet<i32>)> {
    let mut copies: KeyMap<(u32, u32)> = KeyMap::default();
    let mut rows = inventory::Entity::find()
        .select_only()
        .columns([
            inventory::Column::InventoryId,
            inventory::Column::FilmId,
            inventory::Column::StoreId,
        ])
        .into_tuple::<(u32, u32, u32)>()
        .stream(src)
        .await
        .with_context(read_error::<inventory::Entity>)?;
    while let Some((id, film_id, store_id)) = rows
        .try_next()
        .await
        .with_context(read_error::<inventory::Entity>)?
    {
        copies.insert(id, (film_id, store_id));
    }
    drop(rows);
    let dates: HashSet<i32> = dim_date::Entity::find()
        .select_only()
        .column(dim_date::Column::DateKey)
        .into_tuple::<i32>()
        .all(wh)
        .await
        .with_context(|| wh_read_error(crate::db::table::<dim_date::Entity>()))?
        .into_iter()
        .collect();
    Ok((copies, dates))
}

/// Waits for the warehouse's reading thread and fails if it read another state than `mark`.
async fn same_state(reader: direct::DirectReader, mark: direct::StateMark) -> Result<()> {
    let read = reader.finish().await?;
    if read != mark {
        bail!(
            "the warehouse changed while it was being validated (a sync run committed \
             meanwhile); run validate again"
        );
    }
    Ok(())
}

/// The checks every warehouse fact row gets, however the rows are compared: its keys point
/// at members, its date keys are in `dim_date`; and its day is counted.
#[derive(Default)]
struct RowChecks {
    foreign_keys: Found,
    dates: MissingDates,
}

impl RowChecks {
    fn rental(
        &mut self,
        n: &Naturals,
        dates: &HashSet<i32>,
        days: &mut DayTotals,
        f: &fact_rental::Model,
    ) {
        days.add(f.rental_date_key, 0);
        dangling_keys(
            &mut self.foreign_keys,
            f.rental_id.into(),
            &[
                (n.films.has_key(f.film_key), "film_key"),
                (n.stores.has_key(f.store_key), "store_key"),
                (n.customers.has_key(f.customer_key), "customer_key"),
                (n.staff.has_key(f.staff_key), "staff_key"),
            ],
        );
        self.dates
            .check(dates, "rental_date_key", f.rental_date_key);
        if let Some(k) = f.return_date_key {
            self.dates.check(dates, "return_date_key", k);
        }
    }

    fn payment(
        &mut self,
        n: &Naturals,
        dates: &HashSet<i32>,
        days: &mut DayTotals,
        f: &fact_payment::Model,
    ) {
        days.add(f.payment_date_key, f.amount_cents);
        dangling_keys(
            &mut self.foreign_keys,
            f.payment_id.into(),
            &[
                (n.customers.has_key(f.customer_key), "customer_key"),
                (n.stores.has_key(f.store_key), "store_key"),
                (n.staff.has_key(f.staff_key), "staff_key"),
            ],
        );
        self.dates
            .check(dates, "payment_date_key", f.payment_date_key);
    }

    fn record(self, v: &mut Validation, table: &'static str) {
        v.foreign_keys.push((table, self.foreign_keys));
        v.dates.push((table, self.dates));
    }
}

/// What rows are resolved through besides the dimensions, as the loader resolves them.
struct Lookups<'a> {
    /// inventory_id -> (film_id, store_id)
    copies: &'a KeyMap<(u32, u32)>,
    /// staff_id -> store_id
    staff_store: &'a KeyMap<u32>,
}

/// What comparing a fact by blocks needs of it, besides its fingerprint.
trait Compared: Fingerprint {
    /// The checks every warehouse row gets; its day counted in `days`.
    fn check(
        checks: &mut RowChecks,
        n: &Naturals,
        dates: &HashSet<i32>,
        days: &mut DayTotals,
        row: &StarModel<Self>,
    );
    /// The warehouse row the loader would write for source row `row`.
    fn expected(n: &Naturals, l: &Lookups, row: &SourceModel<Self>) -> Result<StarModel<Self>>;
    /// The day key and the cents a row adds to the per-day totals.
    fn day(row: &StarModel<Self>) -> (i32, i64);
    /// This fact's (source, warehouse) per-day totals.
    fn totals<'a>(
        rentals: &'a mut (DayTotals, DayTotals),
        payments: &'a mut (DayTotals, DayTotals),
    ) -> &'a mut (DayTotals, DayTotals);
}

impl Compared for Rental {
    fn check(
        checks: &mut RowChecks,
        n: &Naturals,
        dates: &HashSet<i32>,
        days: &mut DayTotals,
        row: &fact_rental::Model,
    ) {
        checks.rental(n, dates, days, row);
    }
    fn expected(n: &Naturals, l: &Lookups, r: &rental::Model) -> Result<fact_rental::Model> {
        expected_rental(n, l.copies, r)
    }
    fn day(r: &fact_rental::Model) -> (i32, i64) {
        (r.rental_date_key, 0)
    }
    fn totals<'a>(
        rentals: &'a mut (DayTotals, DayTotals),
        _: &'a mut (DayTotals, DayTotals),
    ) -> &'a mut (DayTotals, DayTotals) {
        rentals
    }
}

impl Compared for Payment {
    fn check(
        checks: &mut RowChecks,
        n: &Naturals,
        dates: &HashSet<i32>,
        days: &mut DayTotals,
        row: &fact_payment::Model,
    ) {
        checks.payment(n, dates, days, row);
    }
    fn expected(n: &Naturals, l: &Lookups, p: &payment::Model) -> Result<fact_payment::Model> {
        expected_payment(n, l.staff_store, p)
    }
    fn day(p: &fact_payment::Model) -> (i32, i64) {
        (p.payment_date_key, p.amount_cents)
    }
    fn totals<'a>(
        _: &'a mut (DayTotals, DayTotals),
        payments: &'a mut (DayTotals, DayTotals),
    ) -> &'a mut (DayTotals, DayTotals) {
        payments
    }
}

/// The rental the loader would write for source row `r`, its keys the warehouse's members'.
fn expected_rental(
    n: &Naturals,
    copies: &KeyMap<(u32, u32)>,
    r: &rental::Model,
) -> Result<fact_rental::Model> {
    let (film_id, store_id) = copies.get(r.inventory_id).unwrap_or((u32::MAX, u32::MAX));
    let keys = RentalKeys {
        film_key: n.films.key(film_id),
        store_key: n.stores.key(store_id),
        customer_key: n.customers.key(r.customer_id),
        staff_key: n.staff.key(r.staff_id),
    };
    rental_row(r, keys)
}

/// The payment the loader would write for source row `p` (its store is its staff member's).
fn expected_payment(
    n: &Naturals,
    staff_store: &KeyMap<u32>,
    p: &payment::Model,
) -> Result<fact_payment::Model> {
    let store_id = staff_store.get(p.staff_id).unwrap_or(u32::MAX);
    payment_row(
        p,
        PaymentKeys {
            customer_key: n.customers.key(p.customer_id),
            store_key: n.stores.key(store_id),
            staff_key: n.staff.key(p.staff_id),
        },
    )
}

/// Records what one id's rows say: missing, extra, or stale with the columns that differ.
fn compare<M: sea_orm::ModelTrait + PartialEq>(
    t: &mut TableResult,
    id: i64,
    expected: Option<M>,
    actual: Option<M>,
) {
    match (expected, actual) {
        (Some(_), None) => t.missing.add(Id::One(id)),
        (None, Some(_)) => t.extra.add(Id::One(id)),
        (Some(e), Some(a)) => {
            let cols = differing_columns(&e, &a);
            if !cols.is_empty() {
                t.stale.add_with_columns(Id::One(id), &cols);
            }
        }
        (None, None) => {}
    }
}

/// Records fact `id` as a foreign-key failure naming each key column whose value is no
/// member's key (`keys`: whether the key resolves, and the column).
fn dangling_keys(fk: &mut Found, id: i64, keys: &[(bool, &'static str)]) {
    let bad: Vec<&'static str> = keys.iter().filter(|(ok, _)| !ok).map(|(_, c)| *c).collect();
    if !bad.is_empty() {
        fk.add_with_columns(Id::One(id), &bad);
    }
}

/// Fails when ids do not come strictly ascending (a warehouse without its primary key).
#[derive(Default)]
struct Order(Option<i64>);

impl Order {
    fn check(&mut self, table: &str, id: i64) -> Result<()> {
        if self.0.is_some_and(|last| last >= id) {
            bail!("warehouse table {table} is not in {id} order: its primary key is broken");
        }
        self.0 = Some(id);
        Ok(())
    }
}

/// The latest date of the warehouse rows in sub-blocks that matched the source: the same
/// rows, so the same dates.
fn matched_latest(warehouse: &WarehouseSums, differing: &[i64]) -> Option<NaiveDateTime> {
    warehouse
        .sub
        .iter()
        .filter(|(b, _)| differing.binary_search(b).is_err())
        .filter_map(|(_, s)| s.latest)
        .max()
}

/// The source rows of fact `F` with ids in `[lo, hi]`, in id order; a row the driver cannot
/// read is named.
async fn fetch_source<F: Fact>(
    src: &DatabaseTransaction,
    lo: i64,
    hi: i64,
) -> Result<Vec<(i64, SourceModel<F>)>> {
    use sea_orm::sea_query::ExprTrait;
    let id = Expr::col((F::Source::default(), F::source_id()));
    let rows = F::Source::find()
        .filter(id.between(lo, hi))
        .order_by_asc(F::source_id())
        .all(src)
        .await;
    match rows {
        Ok(rows) => rows
            .into_iter()
            .map(|r| {
                let id = F::fact_id(&r).context("a source fact without an id")?;
                Ok((id, r))
            })
            .collect(),
        Err(e) => Err(unreadable_row::<F::Source, _>(src, F::source_id(), Some(lo - 1), e).await),
    }
}

/// The warehouse rows of fact `F` with ids in `[lo, hi]`, in id order.
async fn fetch_warehouse<F: Fact>(
    wh: &DatabaseTransaction,
    lo: i64,
    hi: i64,
) -> Result<Vec<(i64, StarModel<F>)>> {
    use sea_orm::sea_query::ExprTrait;
    let id = Expr::col((F::Star::default(), F::star_id()));
    let rows = F::Star::find()
        .filter(id.between(lo, hi))
        .order_by_asc(F::star_id())
        .all(wh)
        .await
        .with_context(|| wh_read_error(F::star_table()))?;
    Ok(rows
        .into_iter()
        .map(|r| (i64::from(F::id(&r)), r))
        .collect())
}

type SourceModel<F> = <<F as Fact>::Source as EntityTrait>::Model;
type StarModel<F> = <<F as Fact>::Star as EntityTrait>::Model;

/// Walks two lists sorted by id and calls `each` once per id, with the rows each side has.
fn merge_sorted<S, W>(
    source: Vec<(i64, S)>,
    warehouse: Vec<(i64, W)>,
    mut each: impl FnMut(i64, Option<S>, Option<W>) -> Result<()>,
) -> Result<()> {
    let mut s = source.into_iter().peekable();
    let mut w = warehouse.into_iter().peekable();
    loop {
        let next = match (s.peek(), w.peek()) {
            (None, None) => return Ok(()),
            (Some((a, _)), Some((b, _))) => (*a).min(*b),
            (Some((a, _)), None) => *a,
            (None, Some((b, _))) => *b,
        };
        let sr = s.next_if(|(id, _)| *id == next).map(|(_, r)| r);
        let wr = w.next_if(|(id, _)| *id == next).map(|(_, r)| r);
        each(next, sr, wr)?;
    }
}
