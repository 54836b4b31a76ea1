//! Comparing the fact tables: both sides read off the comparing task in bounded batches
//! ([`super::read_ahead`] for the source, [`super::direct`] for the warehouse) and
//! merge-joined by natural id; each row is compared with what the loader would write for its
//! source row, and its keys, dates and per-day totals are checked on the way.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures::TryStreamExt;
use sea_orm::{DatabaseTransaction, EntityTrait, QuerySelect};

use super::merge::{differing_columns, merge_join};
use super::read_ahead::{self, Batches};
use super::{Found, Id, MissingDates, TableResult, Validation, direct, wh_read_error};
use crate::source::{inventory, payment, rental};
use crate::star::keymap::KeyMap;
use crate::star::transform::{PaymentKeys, RentalKeys, datetime_key, payment_row, rental_row};
use crate::star::{Fact, Payment, Rental};
use crate::sync::extract::read_error;
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
        file: PathBuf,
    ) -> Result<DatabaseTransaction> {
        let snapshot = src.take().context("the source snapshot is gone")?;
        // What rentals resolve film and store through, as the loader does.
        let mut copies: KeyMap<(u32, u32)> = KeyMap::default();
        let mut rows = inventory::Entity::find()
            .select_only()
            .columns([
                inventory::Column::InventoryId,
                inventory::Column::FilmId,
                inventory::Column::StoreId,
            ])
            .into_tuple::<(u32, u32, u32)>()
            .stream(&snapshot)
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
        *src = Some(snapshot);

        let dates: HashSet<i32> = dim_date::Entity::find()
            .select_only()
            .column(dim_date::Column::DateKey)
            .into_tuple::<i32>()
            .all(&wh)
            .await
            .with_context(|| wh_read_error(crate::db::table::<dim_date::Entity>()))?
            .into_iter()
            .collect();

        let (src_reader, src_rentals, src_payments) =
            read_ahead::source_facts(src.take().context("the source snapshot is gone")?);
        // The warehouse's facts are read on a connection of their own, which must read the
        // state this transaction reads: both read the newest sync_run row to tell.
        let mark = direct::state_mark(&wh).await?;
        let (wh_reader, wh_rentals, wh_payments) = direct::warehouse_facts(file);
        // Each merge consumes (and drops) its two tables' batches, so that the reading tasks
        // stop at once when one fails.
        let compared = async {
            let step = Instant::now();
            self.rentals(src_rentals, wh_rentals, &copies, &dates)
                .await?;
            tracing::info!(
                "fact_rental compared in {:.3} s",
                step.elapsed().as_secs_f64()
            );
            let step = Instant::now();
            self.payments(src_payments, wh_payments, &dates).await?;
            tracing::info!(
                "fact_payment compared in {:.3} s",
                step.elapsed().as_secs_f64()
            );
            Ok::<_, anyhow::Error>(())
        }
        .await;
        *src = Some(src_reader.finish().await?);
        let read = tokio::task::spawn_blocking(move || wh_reader.finish())
            .await
            .context("the warehouse reading thread failed")??;
        if read != mark {
            bail!(
                "the warehouse changed while it was being validated (a sync run committed \
                 meanwhile); run validate again"
            );
        }
        compared?;
        Ok(wh)
    }

    async fn rentals(
        &mut self,
        mut source: Batches<rental::Model>,
        mut warehouse: Batches<fact_rental::Model>,
        copies: &KeyMap<(u32, u32)>,
        dates: &HashSet<i32>,
    ) -> Result<()> {
        let source = source.rows().map_ok(|r| (i64::from(r.rental_id), r));
        let warehouse = warehouse.rows().map_ok(|r| (i64::from(r.rental_id), r));
        let mut t = TableResult::new(Rental::star_table(), true, false);
        let mut fk = Found::default();
        let mut missing_dates = MissingDates::default();
        let Validation {
            films,
            stores,
            customers,
            staff,
            rentals: (src_days, wh_days),
            latest,
            ..
        } = self;
        merge_join(Rental::star_table(), source, warehouse, |id, s, w| {
            if let Some(r) = &s {
                t.source_rows += 1;
                src_days.add(datetime_key(r.rental_date), 0);
                *latest = (*latest).max(Some(r.rental_date));
            }
            if let Some(f) = &w {
                t.warehouse_rows += 1;
                wh_days.add(f.rental_date_key, 0);
                dangling_keys(
                    &mut fk,
                    id,
                    &[
                        (films.has_key(f.film_key), "film_key"),
                        (stores.has_key(f.store_key), "store_key"),
                        (customers.has_key(f.customer_key), "customer_key"),
                        (staff.has_key(f.staff_key), "staff_key"),
                    ],
                );
                missing_dates.check(dates, "rental_date_key", f.rental_date_key);
                if let Some(k) = f.return_date_key {
                    missing_dates.check(dates, "return_date_key", k);
                }
            }
            match (s, w) {
                (Some(_), None) => t.missing.add(Id::One(id)),
                (None, Some(_)) => t.extra.add(Id::One(id)),
                (Some(r), Some(f)) => {
                    let (film_id, store_id) =
                        copies.get(r.inventory_id).unwrap_or((u32::MAX, u32::MAX));
                    let keys = RentalKeys {
                        film_key: films.key(film_id),
                        store_key: stores.key(store_id),
                        customer_key: customers.key(r.customer_id),
                        staff_key: staff.key(r.staff_id),
                    };
                    let cols = differing_columns(&rental_row(&r, keys)?, &f);
                    if !cols.is_empty() {
                        t.stale.add_with_columns(Id::One(id), &cols);
                    }
                }
                (None, None) => {}
            }
            Ok(())
        })
        .await?;
        self.tables.push(t);
        self.foreign_keys.push((Rental::star_table(), fk));
        self.dates.push((Rental::star_table(), missing_dates));
        Ok(())
    }

    async fn payments(
        &mut self,
        mut source: Batches<payment::Model>,
        mut warehouse: Batches<fact_payment::Model>,
        dates: &HashSet<i32>,
    ) -> Result<()> {
        let source = source.rows().map_ok(|p| (i64::from(p.payment_id), p));
        let warehouse = warehouse.rows().map_ok(|p| (i64::from(p.payment_id), p));
        let mut t = TableResult::new(Payment::star_table(), true, false);
        let mut fk = Found::default();
        let mut missing_dates = MissingDates::default();
        let Validation {
            stores,
            customers,
            staff,
            staff_store,
            payments: (src_days, wh_days),
            latest,
            ..
        } = self;
        merge_join(Payment::star_table(), source, warehouse, |id, s, w| {
            // Both sides are built first: the expected row carries the cents of the source.
            // A source row the loader cannot make (an amount beyond integer cents) fails the
            // comparison with the loader's own error.
            let expected = s
                .as_ref()
                .map(|p| {
                    let store_id = staff_store.get(p.staff_id).unwrap_or(u32::MAX);
                    payment_row(
                        p,
                        PaymentKeys {
                            customer_key: customers.key(p.customer_id),
                            store_key: stores.key(store_id),
                            staff_key: staff.key(p.staff_id),
                        },
                    )
                })
                .transpose()?;
            if let (Some(p), Some(e)) = (&s, &expected) {
                t.source_rows += 1;
                src_days.add(e.payment_date_key, e.amount_cents);
                *latest = (*latest).max(Some(p.payment_date));
            }
            if let Some(f) = &w {
                t.warehouse_rows += 1;
                wh_days.add(f.payment_date_key, f.amount_cents);
                dangling_keys(
                    &mut fk,
                    id,
                    &[
                        (customers.has_key(f.customer_key), "customer_key"),
                        (stores.has_key(f.store_key), "store_key"),
                        (staff.has_key(f.staff_key), "staff_key"),
                    ],
                );
                missing_dates.check(dates, "payment_date_key", f.payment_date_key);
            }
            match (expected, w) {
                (Some(_), None) => t.missing.add(Id::One(id)),
                (None, Some(_)) => t.extra.add(Id::One(id)),
                (Some(e), Some(f)) => {
                    let cols = differing_columns(&e, &f);
                    if !cols.is_empty() {
                        t.stale.add_with_columns(Id::One(id), &cols);
                    }
                }
                (None, None) => {}
            }
            Ok(())
        })
        .await?;
        self.tables.push(t);
        self.foreign_keys.push((Payment::star_table(), fk));
        self.dates.push((Payment::star_table(), missing_dates));
        Ok(())
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
