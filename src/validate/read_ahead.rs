//! Reading the source's fact tables on a task of their own, so that decoding MySQL rows runs
//! on another core than the comparison: the task reads `rental` then `payment` inside the
//! source snapshot, hands the rows over in batches through a bounded channel per table (memory
//! holds a few batches whatever the table size), and hands the snapshot back when done
//! ([`Reader::finish`]). Rows are read as tuples of every column, named in the query and
//! decoded by position (cheaper than sqlx looking each column up by name). (The warehouse's side is read by
//! `super::direct`.)

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, NaiveDateTime, Utc};
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::{SinkExt, Stream, StreamExt, TryStreamExt, stream};
use rust_decimal::Decimal;
use sea_orm::{DatabaseTransaction, DbErr, EntityTrait, QueryOrder, QuerySelect, TryGetableMany};
use tokio::task::JoinHandle;

use crate::source::{payment, rental};
use crate::star::{Fact, Payment, Rental};
use crate::sync::extract::unreadable_row;

/// Rows per batch handed from a reading task to the merge.
const BATCH: usize = 1024;
/// Batches in flight per table: memory holds at most this many, whatever the table size.
const IN_FLIGHT: usize = 4;
/// The rows of one table, read by a [`Reader`]'s task.
pub struct Batches<T> {
    rx: mpsc::Receiver<Result<Vec<T>>>,
}

impl<T> Batches<T> {
    /// The batches a reading task or thread sends into `rx`.
    pub(super) fn new(rx: mpsc::Receiver<Result<Vec<T>>>) -> Self {
        Self { rx }
    }

    /// The rows, in order, one at a time.
    pub fn rows(&mut self) -> impl Stream<Item = Result<T>> + '_ {
        (&mut self.rx).flat_map(|batch| match batch {
            Ok(rows) => stream::iter(rows.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::once(async { Err(e) }).right_stream(),
        })
    }
}

/// A task reading two tables of one transaction, one after the other.
pub struct Reader {
    task: JoinHandle<DatabaseTransaction>,
}

impl Reader {
    /// Waits for the task and takes the transaction back. Drop (or read to the end) both
    /// tables' [`Batches`] first: the task waits while a channel is full.
    pub async fn finish(self) -> Result<DatabaseTransaction> {
        self.task.await.context("a reading task failed")
    }
}

type Sender<T> = mpsc::Sender<Result<Vec<T>>>;

/// Sends the rows of `rows` into `tx` in batches, and an error (with `context`) if reading
/// fails. Returns whether to go on reading: no error, and the merge still listens.
async fn pump<F: Fact>(
    src: &DatabaseTransaction,
    rows: Result<impl Stream<Item = Result<SourceRow<F>, DbErr>>, DbErr>,
    tx: &mut Sender<SourceRow<F>>,
) -> bool {
    let mut last_id = None;
    let read = async {
        let rows = std::pin::pin!(rows?);
        let mut batches = rows.try_chunks(BATCH);
        loop {
            let batch = match batches.try_next().await {
                Ok(Some(batch)) => batch,
                Ok(None) => return Ok(true),
                Err(e) => {
                    // Rows read before the failure came with it: the bad one follows them.
                    last_id = e.0.last().and_then(F::fact_id).or(last_id);
                    return Err(e.1);
                }
            };
            last_id = batch.last().and_then(F::fact_id).or(last_id);
            if tx.send(Ok(batch)).await.is_err() {
                return Ok(false); // the merge stopped: its error is the one to report
            }
        }
    };
    match read.await {
        Ok(go_on) => go_on,
        Err(e) => {
            let e = unreadable_row::<F::Source, _>(src, F::source_id(), last_id, e).await;
            tx.send(Err(e)).await.ok();
            false
        }
    }
}

/// A source row of fact `F`.
type SourceRow<F> = <<F as Fact>::Source as EntityTrait>::Model;

/// Starts a task that reads two tables inside `txn`, `first` then `second`, each into its own
/// [`Batches`]. The second is not read when reading the first fails or the merge stops.
fn spawn_reader<A, B, FA, FB>(
    txn: DatabaseTransaction,
    first: FA,
    second: FB,
) -> (Reader, Batches<A>, Batches<B>)
where
    A: Send + 'static,
    B: Send + 'static,
    FA: for<'a> FnOnce(&'a DatabaseTransaction, &'a mut Sender<A>) -> BoxFuture<'a, bool>
        + Send
        + 'static,
    FB: for<'a> FnOnce(&'a DatabaseTransaction, &'a mut Sender<B>) -> BoxFuture<'a, bool>
        + Send
        + 'static,
{
    let (mut tx_a, rx_a) = mpsc::channel(IN_FLIGHT);
    let (mut tx_b, rx_b) = mpsc::channel(IN_FLIGHT);
    let task = tokio::spawn(async move {
        if first(&txn, &mut tx_a).await {
            drop(tx_a);
            second(&txn, &mut tx_b).await;
        } else {
            tx_b.send(Err(anyhow!("not read: reading the table before it failed")))
                .await
                .ok();
        }
        txn
    });
    (Reader { task }, Batches::new(rx_a), Batches::new(rx_b))
}

/// Every row of source table `E` in `order`: the `columns`, selected by name and decoded by
/// position as the tuple `T`, made the model by `model`.
async fn source_rows<'a, E, T>(
    src: &'a DatabaseTransaction,
    order: E::Column,
    columns: &[E::Column],
    model: fn(T) -> E::Model,
) -> Result<impl Stream<Item = Result<E::Model, DbErr>> + 'a, DbErr>
where
    E: EntityTrait,
    T: TryGetableMany + Send + 'static,
{
    Ok(E::find()
        .select_only()
        .columns(columns.iter().copied())
        .order_by_asc(order)
        .into_tuple::<T>()
        .stream(src)
        .await?
        .map_ok(model))
}

/// A source `rental` row: the columns of [`RENTAL_COLUMNS`], in that order.
type RentalTuple = (
    i32,
    NaiveDateTime,
    u32,
    u32,
    Option<NaiveDateTime>,
    u32,
    DateTime<Utc>,
);

const RENTAL_COLUMNS: [rental::Column; 7] = [
    rental::Column::RentalId,
    rental::Column::RentalDate,
    rental::Column::InventoryId,
    rental::Column::CustomerId,
    rental::Column::ReturnDate,
    rental::Column::StaffId,
    rental::Column::LastUpdate,
];

fn rental_model(t: RentalTuple) -> rental::Model {
    let (rental_id, rental_date, inventory_id, customer_id, return_date, staff_id, last_update) = t;
    rental::Model {
        rental_id,
        rental_date,
        inventory_id,
        customer_id,
        return_date,
        staff_id,
        last_update,
    }
}

/// A source `payment` row: the columns of [`PAYMENT_COLUMNS`], in that order.
type PaymentTuple = (
    u32,
    u32,
    u32,
    Option<i32>,
    Decimal,
    NaiveDateTime,
    Option<DateTime<Utc>>,
);

const PAYMENT_COLUMNS: [payment::Column; 7] = [
    payment::Column::PaymentId,
    payment::Column::CustomerId,
    payment::Column::StaffId,
    payment::Column::RentalId,
    payment::Column::Amount,
    payment::Column::PaymentDate,
    payment::Column::LastUpdate,
];

fn payment_model(t: PaymentTuple) -> payment::Model {
    let (payment_id, customer_id, staff_id, rental_id, amount, payment_date, last_update) = t;
    payment::Model {
        payment_id,
        customer_id,
        staff_id,
        rental_id,
        amount,
        payment_date,
        last_update,
    }
}

/// Starts reading `rental` then `payment` inside the source snapshot `src`, each by its id.
pub fn source_facts(
    src: DatabaseTransaction,
) -> (Reader, Batches<rental::Model>, Batches<payment::Model>) {
    fn rentals<'a>(
        src: &'a DatabaseTransaction,
        tx: &'a mut Sender<rental::Model>,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let rows = source_rows::<rental::Entity, RentalTuple>(
                src,
                Rental::source_id(),
                &RENTAL_COLUMNS,
                rental_model,
            );
            pump::<Rental>(src, rows.await, tx).await
        })
    }
    fn payments<'a>(
        src: &'a DatabaseTransaction,
        tx: &'a mut Sender<payment::Model>,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let rows = source_rows::<payment::Entity, PaymentTuple>(
                src,
                Payment::source_id(),
                &PAYMENT_COLUMNS,
                payment_model,
            );
            pump::<Payment>(src, rows.await, tx).await
        })
    }
    spawn_reader(src, rentals, payments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{IdenStatic, Iterable};

    /// Every column is read, once: a column added to the entity must be added here too.
    #[test]
    fn the_column_lists_name_every_column_once() {
        let mut listed: Vec<_> = RENTAL_COLUMNS.iter().map(|c| c.as_str()).collect();
        let mut all: Vec<_> = rental::Column::iter().map(|c| c.as_str()).collect();
        listed.sort();
        all.sort();
        assert_eq!(listed, all);
        let mut listed: Vec<_> = PAYMENT_COLUMNS.iter().map(|c| c.as_str()).collect();
        let mut all: Vec<_> = payment::Column::iter().map(|c| c.as_str()).collect();
        listed.sort();
        all.sort();
        assert_eq!(listed, all);
    }
}
