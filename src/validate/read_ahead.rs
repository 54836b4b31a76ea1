//! Reading the fact tables on their own tasks, so that decoding rows (the costliest part of
//! validate) runs on other cores than the comparison: one task reads the source's `rental`
//! then `payment` inside the source snapshot, another the warehouse's `fact_rental` then
//! `fact_payment` inside its read transaction. Each hands its rows over in batches through a
//! bounded channel per table, so memory holds a few batches whatever the table size, and
//! hands its transaction back when done ([`Reader::finish`]).
//!
//! Rows are read as tuples of every column, which sqlx decodes by position instead of
//! looking each column up by name. On a SQLite warehouse the datetimes are read as text and
//! parsed here ([`parse_datetime`]): sqlx tries up to three chrono format strings per value,
//! which was the largest single cost of reading a fact row. The result is the same
//! `NaiveDateTime`.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures::FutureExt;
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::{SinkExt, Stream, StreamExt, TryStreamExt, stream};
use rust_decimal::Decimal;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryOrder, TryGetableMany,
};
use tokio::task::JoinHandle;

use crate::source::{payment, rental};
use crate::sync::extract::read_error;
use crate::warehouse::entity::{fact_payment, fact_rental};

/// A warehouse model that can also be read with its datetimes as text (SQLite stores them so).
pub trait TextDates: Sized {
    /// The row with every datetime column as `String`: a tuple of every column in the
    /// entity's column order (`E::find()` selects them so), decoded by position.
    type Raw: TryGetableMany + Send;
    /// The model, its datetimes parsed as sqlx would parse them.
    fn from_raw(raw: Self::Raw) -> Result<Self, DbErr>;
}

/// Rows per batch handed from a reading task to the merge.
const BATCH: usize = 1024;
/// Batches in flight per table: memory holds at most this many, whatever the table size.
const IN_FLIGHT: usize = 4;
/// How long the warehouse reader leaves sqlx's SQLite thread alone once it has taken every
/// row that thread had ready (see [`pump`]).
const REFILL: Duration = Duration::from_millis(1);

/// The rows of one table, read by a [`Reader`]'s task.
pub struct Batches<T> {
    rx: mpsc::Receiver<Result<Vec<T>>>,
}

impl<T> Batches<T> {
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
///
/// `burst` is for sqlx's SQLite thread, which hands rows over one at a time through a bounded
/// channel, waking the reader (or being woken by it) for each row when the two run in step:
/// futex calls and context switches cost more than decoding the row. So the reader takes
/// only rows that are ready, without waiting; when none is, it sleeps a moment (not
/// registering a wake-up) while that thread fills the channel, then takes them in one burst.
async fn pump<T>(
    rows: Result<impl Stream<Item = Result<T, DbErr>>, DbErr>,
    tx: &mut Sender<T>,
    context: &str,
    burst: bool,
) -> bool {
    let read = async {
        let mut rows = std::pin::pin!(rows?);
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let row = if burst {
                match rows.try_next().now_or_never() {
                    Some(row) => row?,
                    None => {
                        tokio::time::sleep(REFILL).await;
                        continue;
                    }
                }
            } else {
                rows.try_next().await?
            };
            let Some(row) = row else { break };
            batch.push(row);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if tx.send(Ok(full)).await.is_err() {
                    return Ok(false); // the merge stopped: its error is the one to report
                }
            }
        }
        Ok::<_, DbErr>(batch.is_empty() || tx.send(Ok(batch)).await.is_ok())
    };
    match read.await {
        Ok(go_on) => go_on,
        Err(e) => {
            tx.send(Err(anyhow!(e).context(context.to_string())))
                .await
                .ok();
            false
        }
    }
}

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
    (Reader { task }, Batches { rx: rx_a }, Batches { rx: rx_b })
}

/// Every row of warehouse fact table `E` in `order`.
async fn warehouse_rows<E>(
    wh: &DatabaseTransaction,
    order: E::Column,
) -> Result<impl Stream<Item = Result<E::Model, DbErr>> + '_, DbErr>
where
    E: EntityTrait,
    E::Model: TextDates,
{
    Ok(if wh.get_database_backend() == DbBackend::Sqlite {
        E::find()
            .order_by_asc(order)
            .into_tuple::<<E::Model as TextDates>::Raw>()
            .stream(wh)
            .await?
            .map(|raw| raw.and_then(<E::Model as TextDates>::from_raw))
            .left_stream()
    } else {
        E::find()
            .order_by_asc(order)
            .stream(wh)
            .await?
            .right_stream()
    })
}

/// Starts reading `fact_rental` then `fact_payment` inside `wh`, each by its natural id.
pub fn warehouse_facts(
    wh: DatabaseTransaction,
) -> (
    Reader,
    Batches<fact_rental::Model>,
    Batches<fact_payment::Model>,
) {
    fn rentals<'a>(
        wh: &'a DatabaseTransaction,
        tx: &'a mut Sender<fact_rental::Model>,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let rows = warehouse_rows::<fact_rental::Entity>(wh, fact_rental::Column::RentalId);
            pump(
                rows.await,
                tx,
                "cannot read warehouse table fact_rental",
                true,
            )
            .await
        })
    }
    fn payments<'a>(
        wh: &'a DatabaseTransaction,
        tx: &'a mut Sender<fact_payment::Model>,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let rows = warehouse_rows::<fact_payment::Entity>(wh, fact_payment::Column::PaymentId);
            pump(
                rows.await,
                tx,
                "cannot read warehouse table fact_payment",
                true,
            )
            .await
        })
    }
    spawn_reader(wh, rentals, payments)
}

/// Every row of source table `E` in `order`, read as the tuple `T` of every column in the
/// entity's column order (what `E::find()` selects) and made the model by `model`.
async fn source_rows<E, T>(
    src: &DatabaseTransaction,
    order: E::Column,
    model: fn(T) -> E::Model,
) -> Result<impl Stream<Item = Result<E::Model, DbErr>> + '_, DbErr>
where
    E: EntityTrait,
    T: TryGetableMany + Send + 'static,
{
    Ok(E::find()
        .order_by_asc(order)
        .into_tuple::<T>()
        .stream(src)
        .await?
        .map_ok(model))
}

/// A source `rental` row, every column in `rental::Model` order.
type RentalTuple = (
    i32,
    NaiveDateTime,
    u32,
    u32,
    Option<NaiveDateTime>,
    u32,
    DateTime<Utc>,
);

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

/// A source `payment` row, every column in `payment::Model` order.
type PaymentTuple = (
    u32,
    u32,
    u32,
    Option<i32>,
    Decimal,
    NaiveDateTime,
    Option<DateTime<Utc>>,
);

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
                rental::Column::RentalId,
                rental_model,
            );
            pump(rows.await, tx, &read_error::<rental::Entity>(), false).await
        })
    }
    fn payments<'a>(
        src: &'a DatabaseTransaction,
        tx: &'a mut Sender<payment::Model>,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let rows = source_rows::<payment::Entity, PaymentTuple>(
                src,
                payment::Column::PaymentId,
                payment_model,
            );
            pump(rows.await, tx, &read_error::<payment::Entity>(), false).await
        })
    }
    spawn_reader(src, rentals, payments)
}

/// Parses a datetime SQLite holds as text, with the result sqlx's `NaiveDateTime` decoding
/// gives: `YYYY-MM-DD HH:MM:SS` (what the loader writes) directly, anything else by sqlx's
/// own list of formats.
pub fn parse_datetime(value: &str) -> Option<NaiveDateTime> {
    let b = value.as_bytes();
    if b.len() == 19
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b' ' || b[10] == b'T')
        && b[13] == b':'
        && b[16] == b':'
    {
        let n = |from: usize, to: usize| -> Option<u32> {
            b[from..to].iter().try_fold(0u32, |v, c| {
                c.is_ascii_digit().then(|| v * 10 + u32::from(c - b'0'))
            })
        };
        if let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) =
            (n(0, 4), n(5, 7), n(8, 10), n(11, 13), n(14, 16), n(17, 19))
        {
            return NaiveDate::from_ymd_opt(y as i32, mo, d)?.and_hms_opt(h, mi, s);
        }
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(value) {
        return Some(dt.naive_local());
    }
    const FORMATS: [&str; 12] = [
        "%F %T%.f",
        "%F %R",
        "%F %RZ",
        "%F %R%:z",
        "%F %T%.fZ",
        "%F %T%.f%:z",
        "%FT%R",
        "%FT%RZ",
        "%FT%R%:z",
        "%FT%T%.f",
        "%FT%T%.fZ",
        "%FT%T%.f%:z",
    ];
    FORMATS.iter().find_map(|f| {
        DateTime::parse_from_str(value, f)
            .map(|dt| dt.naive_local())
            .or_else(|_| NaiveDateTime::parse_from_str(value, f))
            .ok()
    })
}

fn datetime(column: &str, value: &str) -> Result<NaiveDateTime, DbErr> {
    parse_datetime(value)
        .ok_or_else(|| DbErr::Type(format!("column {column}: {value:?} is not a datetime")))
}

fn opt_datetime(column: &str, value: Option<String>) -> Result<Option<NaiveDateTime>, DbErr> {
    value.map(|v| datetime(column, &v)).transpose()
}

/// A `fact_rental` row as read (by position, in column order), its datetimes as text.
pub type RawRental = (
    i32,            // rental_id
    i32,            // rental_date_key
    Option<i32>,    // return_date_key
    String,         // rental_date
    Option<String>, // return_date
    i32,            // inventory_id
    i32,            // film_key
    i32,            // store_key
    i32,            // customer_key
    i32,            // staff_key
    Option<i32>,    // rental_duration_days
    Option<String>, // source_last_update
);

impl TextDates for fact_rental::Model {
    type Raw = RawRental;
    fn from_raw(r: RawRental) -> Result<Self, DbErr> {
        let (
            rental_id,
            rental_date_key,
            return_date_key,
            rental_date,
            return_date,
            inventory_id,
            film_key,
            store_key,
            customer_key,
            staff_key,
            rental_duration_days,
            source_last_update,
        ) = r;
        Ok(Self {
            rental_id,
            rental_date_key,
            return_date_key,
            rental_date: datetime("rental_date", &rental_date)?,
            return_date: opt_datetime("return_date", return_date)?,
            inventory_id,
            film_key,
            store_key,
            customer_key,
            staff_key,
            rental_duration_days,
            source_last_update: opt_datetime("source_last_update", source_last_update)?,
        })
    }
}

/// A `fact_payment` row as read (by position, in column order), its datetimes as text.
pub type RawPayment = (
    i32,            // payment_id
    i32,            // payment_date_key
    String,         // payment_date
    i32,            // customer_key
    i32,            // store_key
    i32,            // staff_key
    Option<i32>,    // rental_id
    i64,            // amount_cents
    Option<String>, // source_last_update
);

impl TextDates for fact_payment::Model {
    type Raw = RawPayment;
    fn from_raw(p: RawPayment) -> Result<Self, DbErr> {
        let (
            payment_id,
            payment_date_key,
            payment_date,
            customer_key,
            store_key,
            staff_key,
            rental_id,
            amount_cents,
            source_last_update,
        ) = p;
        Ok(Self {
            payment_id,
            payment_date_key,
            payment_date: datetime("payment_date", &payment_date)?,
            customer_key,
            store_key,
            staff_key,
            rental_id,
            amount_cents,
            source_last_update: opt_datetime("source_last_update", source_last_update)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_as_sqlx_parses_them() {
        let dt = |s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        assert_eq!(
            parse_datetime("2005-05-24 22:53:30"),
            Some(dt("2005-05-24 22:53:30"))
        );
        assert_eq!(
            parse_datetime("2005-05-24T22:53:30"),
            Some(dt("2005-05-24 22:53:30"))
        );
        assert_eq!(
            parse_datetime("2005-05-24 22:53:30.25"),
            Some(dt("2005-05-24 22:53:30.25"))
        );
        assert_eq!(
            parse_datetime("2005-05-24 22:53"),
            Some(dt("2005-05-24 22:53:00"))
        );
        assert_eq!(
            parse_datetime("2005-05-24T22:53:30+02:00"),
            Some(dt("2005-05-24 22:53:30"))
        );
        assert_eq!(parse_datetime("2005-02-30 22:53:30"), None);
        assert_eq!(parse_datetime("2005-05-24 2a:53:30"), None);
        assert_eq!(parse_datetime("not a date"), None);
    }
}
