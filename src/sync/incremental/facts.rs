//! The facts of an incremental run: each table's version diff ([`crate::sync::versions`]),
//! the rows that move with a copy or a staff member, and the writes, overlapped with the
//! diffs where SQLite would otherwise wait.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use chrono::NaiveDate;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{Run, rows_where_in};
use crate::db::table;
use crate::source::inventory;
use crate::star::{Fact, Payment, Rental};
use crate::sync::dims::IN_CHUNK;
use crate::sync::extract::{read_error, wh_read_error};
use crate::sync::load::{Changes, write_changes};
use crate::sync::versions::{
    ChangedMark, FactDiff, as_i64, from_unix, merge_versions, pump, unix_seconds,
};
use crate::warehouse::entity::{dim_date, fact_payment, fact_rental};

/// Facts processed per chunk: memory stays bounded however much changed.
const FACT_CHUNK: usize = 4_000;

impl Run<'_> {
    /// Syncs the facts. Each table's diff scans the committed file on a connection of its own
    /// ([`Run::diff_job`]): the state this run started from, whatever the run writes meanwhile.
    /// SQLite writes on one thread, so its work is done while the diffs scan, where it can be:
    ///
    /// 1. during the rental diff, the set-based moves: the rentals of copies that moved, the
    ///    payments of staff who moved store (warehouse writes only, which change no version);
    /// 2. during the payment diff, the writes of the first [`super::Options::overlap_rows`] changed
    ///    rentals, read from the source before it starts (the diff needs the source
    ///    connection to itself);
    /// 3. then the other changed rentals, the rental deletes, and the payments, in turn.
    pub(super) async fn facts(&mut self, moved_copies: &[u32], moved_staff: &[u32]) -> Result<()> {
        let s = Instant::now();
        let rental_diff = self.diff_job::<Rental>();
        let moves = async {
            let rentals = self.move_rentals(moved_copies).await?;
            let payments = self.move_payments(moved_staff).await?;
            Ok::<_, anyhow::Error>((rentals, payments))
        };
        let ((diff, mark), (moved_rentals, moved_payments)) = tokio::try_join!(rental_diff, moves)?;
        self.apply_mark::<Rental>(mark);
        tracing::debug!(
            "rentals: {} changed, {} gone; {moved_rentals} moved with their copies, \
             {moved_payments} payments with their staff; after {:.3} s",
            diff.changed.len(),
            diff.gone.len(),
            s.elapsed().as_secs_f64()
        );

        let (head, tail) = diff
            .changed
            .split_at(diff.changed.len().min(self.overlap_rows));
        let mut prepared = Vec::new();
        for chunk in head.chunks(FACT_CHUNK) {
            prepared.push(self.prepare::<Rental>(chunk).await?);
        }
        let p = Instant::now();
        let payment_diff = self.diff_job::<Payment>();
        let ((payment_diff, payment_mark), mut done) =
            tokio::try_join!(payment_diff, self.write::<Rental>(prepared))?;
        self.apply_mark::<Payment>(payment_mark);
        tracing::debug!(
            "payments: {} changed, {} gone, after {:.3} s; {} rentals written meanwhile",
            payment_diff.changed.len(),
            payment_diff.gone.len(),
            p.elapsed().as_secs_f64(),
            head.len()
        );
        for chunk in tail.chunks(FACT_CHUNK) {
            let prepared = vec![self.prepare::<Rental>(chunk).await?];
            done += self.write::<Rental>(prepared).await?;
        }
        let deleted = self.delete::<Rental>(&diff.gone).await?;
        self.t.add(
            Rental::star_table(),
            done.inserted,
            done.updated + moved_rentals,
            deleted,
            s,
        );
        tracing::debug!("rentals: written after {:.3} s", s.elapsed().as_secs_f64());
        self.payments(payment_diff, &diff.gone, moved_payments, p)
            .await
    }

    /// A copy moving store (or re-labelled as another film) moves its rentals: film_key and
    /// store_key are the only rental columns that depend on the inventory row, so one
    /// set-based update per copy does it without reading those rentals.
    async fn move_rentals(&self, moved_copies: &[u32]) -> Result<u64> {
        let mut moved_rows = 0;
        for inventory_id in moved_copies {
            let Some((film_id, store_id)) = self.keys.inventory.get(*inventory_id) else {
                continue;
            };
            let film_key = self.keys.film.get(film_id).ok_or_else(|| {
                anyhow!("inventory {inventory_id} holds film {film_id}, which does not exist")
            })?;
            let store_key = self.keys.store.get(store_id).ok_or_else(|| {
                anyhow!("inventory {inventory_id} is in store {store_id}, which does not exist")
            })?;
            moved_rows += fact_rental::Entity::update_many()
                .col_expr(fact_rental::Column::FilmKey, Expr::value(film_key))
                .col_expr(fact_rental::Column::StoreKey, Expr::value(store_key))
                .filter(fact_rental::Column::InventoryId.eq(*inventory_id as i32))
                .filter(
                    Condition::any()
                        .add(fact_rental::Column::FilmKey.ne(film_key))
                        .add(fact_rental::Column::StoreKey.ne(store_key)),
                )
                .exec(self.txn)
                .await
                .context("cannot update fact_rental")?
                .rows_affected;
        }
        Ok(moved_rows)
    }

    /// A staff member moving store moves the store of every payment they took: the only
    /// payment column that depends on the staff row, so one set-based update per member does
    /// it without reading those payments.
    async fn move_payments(&self, moved_staff: &[u32]) -> Result<u64> {
        let mut moved_rows = 0;
        for staff_id in moved_staff {
            let (Some(staff_key), Some(store_id)) = (
                self.keys.staff.get(*staff_id),
                self.keys.staff_store.get(*staff_id),
            ) else {
                continue;
            };
            let store_key = self.keys.store.get(store_id).ok_or_else(|| {
                anyhow!("staff {staff_id} works at store {store_id}, which does not exist")
            })?;
            moved_rows += fact_payment::Entity::update_many()
                .col_expr(fact_payment::Column::StoreKey, Expr::value(store_key))
                .filter(fact_payment::Column::StaffKey.eq(staff_key))
                .filter(fact_payment::Column::StoreKey.ne(store_key))
                .exec(self.txn)
                .await
                .context("cannot update fact_payment")?
                .rows_affected;
        }
        Ok(moved_rows)
    }

    /// Reads the rows `ids` of fact `F` from the source (and the copies they name that are
    /// not known yet), makes their warehouse rows, and reads the warehouse's current rows for
    /// them.
    async fn prepare<F: Fact>(&mut self, ids: &[i64]) -> Result<Prepared<F>> {
        let rows = rows_where_in::<F::Source, _, _>(self.src, F::source_id(), ids).await?;
        let copies: Vec<u32> = rows
            .iter()
            .filter_map(F::copy)
            .filter(|i| self.keys.inventory.get(*i).is_none())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for i in rows_where_in::<inventory::Entity, _, _>(
            self.src,
            inventory::Column::InventoryId,
            &copies,
        )
        .await?
        {
            self.keys
                .inventory
                .insert(i.inventory_id, (i.film_id, i.store_id));
        }
        let fresh = rows
            .iter()
            .map(|r| F::fact(&self.keys, r))
            .collect::<Result<Vec<_>>>()?;
        let mut old = HashMap::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let rows = F::Star::find()
                .filter(F::star_id().is_in(chunk.iter().copied()))
                .all(self.txn)
                .await
                .with_context(wh_read_error::<F::Star>)?;
            old.extend(rows.into_iter().map(|m| (F::id(&m), m)));
        }
        Ok(Prepared { fresh, old })
    }

    /// Writes prepared rows of fact `F`: the dates they need, then each row that is new or
    /// changed. Notes the rows that replaced another under the same id ([`Fact::replaced`]).
    /// Touches only the warehouse.
    async fn write<F: Fact>(&mut self, prepared: Vec<Prepared<F>>) -> Result<Changes> {
        let mut done = Changes::default();
        for Prepared { fresh, old } in prepared {
            self.cover_dates(fresh.iter().flat_map(F::days).flatten())
                .await?;
            self.replaced.extend(fresh.iter().filter_map(|r| {
                let was = old.get(&F::id(r))?;
                F::replaced(was, r).then_some(i64::from(F::id(r)))
            }));
            done += write_changes::<F::Star, _>(self.txn, fresh, |r| old.get(&F::id(r))).await?;
        }
        Ok(done)
    }

    /// Deletes the rows `ids` of fact `F` from the warehouse.
    async fn delete<F: Fact>(&self, ids: &[i64]) -> Result<u64> {
        let mut deleted = 0;
        for chunk in ids.chunks(IN_CHUNK) {
            deleted += F::Star::delete_many()
                .filter(F::star_id().is_in(chunk.iter().copied()))
                .exec(self.txn)
                .await
                .with_context(|| format!("cannot delete from {}", F::star_table()))?
                .rows_affected;
        }
        Ok(deleted)
    }

    /// Syncs payments, given their diff: own changes, payments whose rental was deleted (the
    /// source's FK nulled their `rental_id`, leaving their `last_update` alone), also when the
    /// rental's id was then used again for another rental, and deletes. Payments of staff who
    /// moved store were moved during the rental diff (`moved_rows`).
    async fn payments(
        &mut self,
        diff: FactDiff,
        deleted_rentals: &[i64],
        moved_rows: u64,
        s: Instant,
    ) -> Result<()> {
        let mut ids: BTreeSet<i64> = diff.changed.into_iter().collect();
        let reused = std::mem::take(&mut self.replaced);
        for chunk in deleted_rentals
            .chunks(IN_CHUNK)
            .chain(reused.chunks(IN_CHUNK))
        {
            let orphaned: Vec<i32> = fact_payment::Entity::find()
                .select_only()
                .column(fact_payment::Column::PaymentId)
                .filter(fact_payment::Column::RentalId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(self.txn)
                .await
                .context("cannot read warehouse table fact_payment")?;
            ids.extend(orphaned.into_iter().map(i64::from));
        }
        tracing::debug!(
            "payments: {} to upsert after {:.3} s",
            ids.len(),
            s.elapsed().as_secs_f64()
        );
        let ids: Vec<i64> = ids.into_iter().collect();
        let mut done = Changes::default();
        for chunk in ids.chunks(FACT_CHUNK) {
            let prepared = vec![self.prepare::<Payment>(chunk).await?];
            done += self.write::<Payment>(prepared).await?;
        }
        tracing::debug!(
            "payments: upserted after {:.3} s",
            s.elapsed().as_secs_f64()
        );
        let deleted = self.delete::<Payment>(&diff.gone).await?;
        self.t.add(
            Payment::star_table(),
            done.inserted,
            done.updated + moved_rows,
            deleted,
            s,
        );
        Ok(())
    }

    /// Extends dim_date over `days` before facts pointing at them are written.
    async fn cover_dates(&mut self, days: impl Iterator<Item = NaiveDate>) -> Result<()> {
        let (mut lo, mut hi) = (None::<NaiveDate>, None::<NaiveDate>);
        for d in days {
            lo = Some(lo.map_or(d, |l| Ord::min(l, d)));
            hi = Some(hi.map_or(d, |h| Ord::max(h, d)));
        }
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let s = Instant::now();
            let before = self.cover.added;
            self.cover.cover(self.txn, lo, hi).await?;
            if self.cover.added > before {
                self.t.add(
                    table::<dim_date::Entity>(),
                    self.cover.added - before,
                    0,
                    0,
                    s,
                );
            }
        }
        Ok(())
    }

    /// How a fact table differs from its warehouse copy: one ordered pass over the ids and
    /// `last_update` of both sides, merged. Ids only the source has, or whose `last_update`
    /// differs from the one the warehouse row was loaded from, are changed; ids only the
    /// warehouse has are gone. A row whose `last_update` equals the loaded one but falls in
    /// the lookback window ([`super::Plan::recheck_from`]) may have changed under that same stamp (a
    /// late commit stamped in the same second), so it counts as changed too (re-reading an
    /// unchanged row writes nothing).
    ///
    /// Whatever their timestamps say, back-dated rows and deletes all show up: every row's
    /// version is compared, not only those in a time window. Both sides stream in
    /// primary-key order (the source's clustered index, the warehouse's rowid), so memory holds
    /// only the differences.
    ///
    /// The returned future borrows nothing from the run, so the run's own warehouse writes
    /// can go on while it scans (see [`Run::facts`]); [`Run::apply_mark`] takes its result.
    fn diff_job<F: Fact>(
        &self,
    ) -> impl std::future::Future<Output = Result<(FactDiff, ChangedMark)>> + Send + 'static {
        let quiet = self.is_quiet(F::source_table());
        let src = (F::source_id(), F::source_version());
        let wh = (F::star_id(), F::star_version());
        let sb = self.src.get_database_backend();
        let select = F::Source::find()
            .select_only()
            .column_as(as_i64(sb, Expr::col(src.0)), "id")
            .column_as(unix_seconds(sb, Expr::col(src.1)), "t")
            .order_by_asc(src.0)
            .into_tuple::<(i64, Option<i64>)>();
        // The warehouse side is scanned on a read-only connection of its own, through
        // rusqlite for a SQLite file ([`crate::warehouse::bulk_read`]): about four times
        // cheaper than through sqlx. It reads the last committed state, which is the state this run
        // starts from: the run holds the write lock since it began, so nobody else has
        // committed since. What the run itself writes meanwhile (see `facts`) is not
        // committed, so it is not seen, and none of it changes a version.
        let wb = self.txn.get_database_backend();
        let loaded = Query::select()
            .expr_as(as_i64(wb, Expr::col(wh.0)), "id")
            .expr_as(unix_seconds(wb, Expr::col(wh.1)), "t")
            .from(F::Star::default())
            .to_owned();
        let shared = self.shared_src.clone();
        let (committed, id) = (self.wh_committed.clone(), wh.0);
        let recheck_from = self.plan.recheck_from.map(|t| t.and_utc().timestamp());
        async move {
            if quiet {
                return Ok((FactDiff::default(), ChangedMark::default()));
            }
            let bar = crate::sync::progress::rows(&format!("{} versions", F::source_table()));
            // Both sides are pumped concurrently in batches and merged as batches arrive: the
            // source decoded on its own task, the warehouse read on a thread (or a connection
            // of its own), merged here.
            let (s_tx, s_rx) = tokio::sync::mpsc::channel(4);
            let (w_tx, w_rx) = tokio::sync::mpsc::channel(4);
            let source = tokio::spawn(async move {
                let rows = select
                    .stream(&*shared)
                    .await
                    .with_context(read_error::<F::Source>)?;
                pump(rows, s_tx, read_error::<F::Source>).await
            });
            let source = async {
                source
                    .await
                    .context("the source reader stopped unexpectedly")?
            };
            let warehouse = async {
                committed
                    .scan::<(i64, Option<i64>), _>(loaded, id, |v| v.0, w_tx)
                    .await
                    .with_context(wh_read_error::<F::Star>)
            };
            let (_, _, diff) = tokio::try_join!(
                source,
                warehouse,
                merge_versions(s_rx, w_rx, recheck_from, bar)
            )?;
            Ok(diff)
        }
    }

    /// Records what a fact diff found for the table's watermark.
    fn apply_mark<F: Fact>(&mut self, mark: ChangedMark) {
        let m = self.marks.0.entry(F::source_table()).or_default();
        m.rows += mark.rows;
        m.watermark = Ord::max(m.watermark, from_unix(mark.newest).map(|t| t.naive_utc()));
    }
}

/// Rows of fact `F` made from the source, ready to write, with the warehouse's current rows
/// of the same ids (by id) to write only what changed.
struct Prepared<F: Fact> {
    fresh: Vec<<F::Star as EntityTrait>::Model>,
    old: HashMap<i32, <F::Star as EntityTrait>::Model>,
}
