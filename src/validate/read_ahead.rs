//! Reading a big warehouse table on its own task, so that decoding its rows (the costliest
//! part of a SQLite read) runs on another core than the source read and the comparison.
//!
//! On a SQLite warehouse the fact tables are read with their datetimes as text and parsed
//! here ([`parse_datetime`]): sqlx tries up to three chrono format strings per value, which
//! was the largest single cost of reading a fact row. The result is the same `NaiveDateTime`.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use futures::FutureExt;
use futures::channel::mpsc;
use futures::{SinkExt, Stream, StreamExt, TryStreamExt, stream};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryOrder, TryGetableMany,
};
use tokio::task::JoinHandle;

use crate::warehouse::entity::{fact_payment, fact_rental};

/// A warehouse model that can also be read with its datetimes as text (SQLite stores them so).
pub trait TextDates: Sized {
    /// The row with every datetime column as `String`: a tuple of every column in the
    /// entity's column order (`E::find()` selects them so), decoded by position.
    type Raw: TryGetableMany + Send;
    /// The model, its datetimes parsed as sqlx would parse them.
    fn from_raw(raw: Self::Raw) -> Result<Self, DbErr>;
}

/// Rows per batch handed from the reading task to the merge.
const BATCH: usize = 1024;
/// Batches in flight: memory holds at most this many, whatever the table size.
const IN_FLIGHT: usize = 4;
/// How long the reader leaves sqlx's SQLite thread alone once it has taken every row that
/// thread had ready (see [`read_ahead`]).
const REFILL: Duration = Duration::from_millis(1);

/// A warehouse table being read by another task.
pub struct ReadAhead<M> {
    rows: mpsc::Receiver<Result<Vec<M>>>,
    task: JoinHandle<DatabaseTransaction>,
}

/// Starts reading every row of `E` in `order` inside `wh`, which the task hands back from
/// [`ReadAhead::finish`].
pub fn read_ahead<E>(wh: DatabaseTransaction, order: E::Column) -> ReadAhead<E::Model>
where
    E: EntityTrait,
    E::Model: TextDates + Send + 'static,
    E::Column: Send + 'static,
{
    let (mut tx, rx) = mpsc::channel::<Result<Vec<E::Model>>>(IN_FLIGHT);
    let table = E::default().table_name();
    let task = tokio::spawn(async move {
        let read = async {
            let mut rows = if wh.get_database_backend() == DbBackend::Sqlite {
                E::find()
                    .order_by_asc(order)
                    .into_tuple::<<E::Model as TextDates>::Raw>()
                    .stream(&wh)
                    .await?
                    .map(|raw| raw.and_then(<E::Model as TextDates>::from_raw))
                    .left_stream()
            } else {
                E::find()
                    .order_by_asc(order)
                    .stream(&wh)
                    .await?
                    .right_stream()
            };
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                // sqlx's SQLite thread hands rows over one at a time through a bounded
                // channel, waking the reader (or being woken by it) for each row when the two
                // run in step: futex calls and context switches cost more than decoding the
                // row. So the reader takes only rows that are ready, without waiting; when
                // none is, it sleeps a moment (not registering a wake-up) while that thread
                // fills the channel, then takes them in one burst.
                let row = match rows.try_next().now_or_never() {
                    Some(row) => row?,
                    None => {
                        tokio::time::sleep(REFILL).await;
                        continue;
                    }
                };
                let Some(row) = row else { break };
                batch.push(row);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if tx.send(Ok(full)).await.is_err() {
                        return Ok(()); // the merge stopped: its error is the one to report
                    }
                }
            }
            if !batch.is_empty() {
                tx.send(Ok(batch)).await.ok();
            }
            Ok::<_, sea_orm::DbErr>(())
        }
        .await;
        if let Err(e) = read {
            let e = anyhow!(e).context(format!("cannot read warehouse table {table}"));
            tx.send(Err(e)).await.ok();
        }
        wh
    });
    ReadAhead { rows: rx, task }
}

impl<M> ReadAhead<M> {
    /// The rows, in order, one at a time.
    pub fn rows(&mut self) -> impl Stream<Item = Result<M>> + '_ {
        (&mut self.rows).flat_map(|batch| match batch {
            Ok(rows) => stream::iter(rows.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::once(async { Err(e) }).right_stream(),
        })
    }

    /// Waits for the reading task and takes the transaction back.
    pub async fn finish(self) -> Result<DatabaseTransaction> {
        drop(self.rows);
        self.task.await.context("the warehouse reading task failed")
    }
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
