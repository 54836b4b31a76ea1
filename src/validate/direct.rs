//! Reading the warehouse's fact tables on a thread of their own, through SeaORM's rusqlite
//! driver ([`crate::warehouse::bulk_read`], which says why), so that the merge only compares.
//!
//! That reader is a second, read-only connection to the warehouse file, so it reads its own
//! snapshot. Inside it, it first reads the newest `sync_run` row; `validate` compares that
//! with the one it read in its own transaction. Every committed change of the warehouse
//! changes that row (a run's start inserts it, its end updates it), so equal rows mean both
//! read the same state. If a run committed in between, `validate` fails with a clear error
//! instead of reporting differences that are not there.

use std::path::PathBuf;
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use futures::SinkExt;
use futures::channel::mpsc;
use sea_orm::sea_query::{Order, Query};
use sea_orm::{DbErr, EntityTrait};
use sea_orm_sync::{ConnectionTrait, DatabaseTransaction, TryGetableMany};

use super::read_ahead::Batches;
use crate::star::{Fact, Payment, Rental};
use crate::warehouse::bulk_read::{self, Committed};
use crate::warehouse::entity::{fact_payment, fact_rental, sync_run};

/// Pages in flight per table: memory holds at most this many, whatever the table size.
const IN_FLIGHT: usize = 2;

/// The newest `sync_run` row as `(id, status)`: which committed state a transaction reads.
pub type StateMark = Option<(i32, String)>;

/// The state mark inside a transaction of either driver: the same query, built once.
fn state_mark_query() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .columns([sync_run::Column::Id, sync_run::Column::Status])
        .from(sync_run::Entity)
        .order_by(sync_run::Column::Id, Order::Desc)
        .limit(1)
        .to_owned()
}

/// Reads the state mark through sqlx, inside `validate`'s own warehouse transaction.
pub async fn state_mark<C: sea_orm::ConnectionTrait>(wh: &C) -> Result<StateMark> {
    let row = wh
        .query_one(&state_mark_query())
        .await
        .context("cannot read warehouse table sync_run")?;
    row.map(|r| r.try_get_many_by_index::<(i32, String)>())
        .transpose()
        .context("cannot read warehouse table sync_run")
}

/// The warehouse's reader: awaited to learn the state it read, or why it stopped.
pub enum DirectReader {
    /// A thread reading a SQLite file through rusqlite.
    Thread(JoinHandle<Result<StateMark>>),
    /// A task reading a server's snapshot through another connection of the pool.
    Task(tokio::task::JoinHandle<Result<StateMark>>),
}

impl DirectReader {
    /// Waits for the reader; returns the state mark it read. Drop (or read to the end) both
    /// tables' [`Batches`] first: the reader waits while a channel is full.
    pub async fn finish(self) -> Result<StateMark> {
        match self {
            DirectReader::Thread(thread) => tokio::task::spawn_blocking(move || thread.join())
                .await
                .context("the warehouse reading thread failed")?
                .map_err(|_| anyhow!("the warehouse reading thread panicked"))?,
            DirectReader::Task(task) => task
                .await
                .map_err(|_| anyhow!("the warehouse reading task stopped unexpectedly"))?,
        }
    }
}

type Sender<T> = mpsc::Sender<Result<Vec<T>>>;

/// Starts reading `fact_rental` then `fact_payment` of the warehouse's committed state, each
/// by its natural id, inside one read transaction of a connection of their own: a read-only
/// rusqlite connection to a SQLite file, or a read-only snapshot on a server.
pub fn warehouse_facts(
    committed: Committed,
) -> (
    DirectReader,
    Batches<fact_rental::Model>,
    Batches<fact_payment::Model>,
) {
    let (tx_r, rx_r) = mpsc::channel(IN_FLIGHT);
    let (tx_p, rx_p) = mpsc::channel(IN_FLIGHT);
    let reader = match committed {
        Committed::File(path) => {
            DirectReader::Thread(std::thread::spawn(move || file_facts(path, tx_r, tx_p)))
        }
        Committed::Server(db) => DirectReader::Task(tokio::spawn(server_facts(db, tx_r, tx_p))),
    };
    (reader, Batches::new(rx_r), Batches::new(rx_p))
}

/// Both fact tables of a SQLite file, on the calling thread.
fn file_facts(
    path: PathBuf,
    mut tx_r: Sender<fact_rental::Model>,
    mut tx_p: Sender<fact_payment::Model>,
) -> Result<StateMark> {
    let (txn, mark) = match open(&path) {
        Ok(opened) => opened,
        Err(e) => {
            let msg = format!("{e:#}");
            futures::executor::block_on(tx_r.send(Err(anyhow!(msg.clone())))).ok();
            futures::executor::block_on(tx_p.send(Err(anyhow!(msg)))).ok();
            return Err(e);
        }
    };
    let go_on = pages::<fact_rental::Entity>(
        &txn,
        Rental::star_id(),
        |r| i64::from(Rental::id(r)),
        &mut tx_r,
    );
    drop(tx_r);
    if go_on {
        pages::<fact_payment::Entity>(
            &txn,
            Payment::star_id(),
            |p| i64::from(Payment::id(p)),
            &mut tx_p,
        );
    } else {
        futures::executor::block_on(
            tx_p.send(Err(anyhow!("not read: reading the table before it failed"))),
        )
        .ok();
    }
    txn.rollback().ok();
    Ok(mark)
}

/// Both fact tables of a server warehouse, in one read-only snapshot.
async fn server_facts(
    db: sea_orm::DatabaseConnection,
    mut tx_r: Sender<fact_rental::Model>,
    mut tx_p: Sender<fact_payment::Model>,
) -> Result<StateMark> {
    let opened = async {
        let txn = bulk_read::snapshot(&db).await?;
        let mark = state_mark(&txn).await?;
        Ok::<_, anyhow::Error>((txn, mark))
    }
    .await;
    let (txn, mark) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            let msg = format!("{e:#}");
            tx_r.send(Err(anyhow!(msg.clone()))).await.ok();
            tx_p.send(Err(anyhow!(msg))).await.ok();
            return Err(e);
        }
    };
    let go_on = server_pages::<fact_rental::Entity>(&txn, Rental::star_id(), &mut tx_r).await;
    drop(tx_r);
    if go_on {
        server_pages::<fact_payment::Entity>(&txn, Payment::star_id(), &mut tx_p).await;
    } else {
        tx_p.send(Err(anyhow!("not read: reading the table before it failed")))
            .await
            .ok();
    }
    txn.rollback().await.ok();
    Ok(mark)
}

/// [`pages`] on a server: every column of `E`, decoded by position, datetimes typed.
async fn server_pages<E: EntityTrait>(
    txn: &sea_orm::DatabaseTransaction,
    id: E::Column,
    tx: &mut Sender<E::Model>,
) -> bool
where
    E::Model: Send + Positional,
{
    let select = positional_select::<E>();
    let id_name = sea_orm::IdenStatic::as_str(&id);
    let mut after = None;
    loop {
        let q = bulk_read::page_query(&select, id, after);
        let read = async {
            let rows = sea_orm::ConnectionTrait::query_all(txn, &q).await?;
            let last = rows
                .last()
                .map(|row| {
                    row.try_get::<i64>("", id_name)
                        .or_else(|_| row.try_get::<i32>("", id_name).map(i64::from))
                })
                .transpose()?;
            let mut models = Vec::with_capacity(rows.len());
            for row in rows {
                let raw =
                    row.try_get_many_by_index::<<E::Model as Positional>::Raw<NaiveDateTime>>()?;
                models.push(E::Model::from_raw(raw)?);
            }
            Ok::<_, DbErr>((models, last))
        }
        .await;
        match read {
            Ok((models, last)) => {
                let full = models.len() as u64 == bulk_read::PAGE;
                after = last.or(after);
                if models.is_empty() {
                    return true;
                }
                if tx.send(Ok(models)).await.is_err() {
                    return false;
                }
                if !full {
                    return true;
                }
            }
            Err(e) => {
                let table = E::default().table_name().to_string();
                let e = anyhow!(e).context(format!("cannot read warehouse table {table}"));
                tx.send(Err(e)).await.ok();
                return false;
            }
        }
    }
}

/// Opens `path` read-only and starts the read transaction; returns it with the state mark
/// read first inside it (which also fixes its snapshot).
fn open(path: &std::path::Path) -> Result<(DatabaseTransaction, StateMark)> {
    let txn = bulk_read::open(path, true)?;
    let mark = txn
        .query_one(&state_mark_query())
        .context("cannot read warehouse table sync_run")?
        .map(|r| r.try_get_many_by_index::<(i32, String)>())
        .transpose()
        .context("cannot read warehouse table sync_run")?;
    Ok((txn, mark))
}

/// Every column of `E`, in the order its [`Positional::Raw`] tuple decodes them.
fn positional_select<E: EntityTrait>() -> sea_orm::sea_query::SelectStatement
where
    E::Model: Positional,
{
    Query::select()
        .columns(<E::Model as Positional>::COLUMNS.iter().copied())
        .from(E::default())
        .to_owned()
}

/// Sends every row of table `E` into `tx`, page by page in `id` order, every column in the
/// entity's column order, decoded by position. Returns whether to go on reading: no error,
/// and the merge still listens.
fn pages<E>(
    txn: &DatabaseTransaction,
    id: E::Column,
    id_of: fn(&E::Model) -> i64,
    tx: &mut Sender<E::Model>,
) -> bool
where
    E: EntityTrait,
    E::Model: Positional,
{
    let select = positional_select::<E>();
    let mut listening = true;
    let read = bulk_read::pages(
        txn,
        &select,
        id,
        |row| {
            let raw = row.try_get_many_by_index::<<E::Model as Positional>::Raw<String>>()?;
            E::Model::from_raw(raw).map_err(|e: DbErr| anyhow!(e))
        },
        id_of,
        |rows| {
            listening = futures::executor::block_on(tx.send(Ok(rows))).is_ok();
            listening
        },
    );
    match read {
        Ok(()) => listening, // not listening: the merge stopped, its error is the one to report
        Err(e) => {
            let table = E::default().table_name().to_string();
            let e = e.context(format!("cannot read warehouse table {table}"));
            futures::executor::block_on(tx.send(Err(e))).ok();
            false
        }
    }
}

/// A warehouse fact model decoded by position from a tuple of its columns, which costs much
/// less per row than looking each column up by name. Its datetimes are `D`: text on SQLite,
/// which stores them so and whose text is parsed here ([`parse_datetime`]: the loader's
/// `YYYY-MM-DD HH:MM:SS` directly, much cheaper than trying chrono format strings one after
/// another); typed on a server. The result is the same model.
pub trait Positional: Sized {
    /// The entity's columns, in the order [`Positional::Raw`] decodes them: the query names
    /// them in this order, so the entity's own field order does not matter.
    type Column: 'static + Copy + sea_orm::sea_query::IntoColumnRef;
    const COLUMNS: &'static [Self::Column];
    /// The row as a tuple of the columns of [`Positional::COLUMNS`], datetimes as `D`.
    type Raw<D: DateValue>: TryGetableMany + sea_orm::TryGetableMany;
    /// The model, its datetimes read.
    fn from_raw<D: DateValue>(raw: Self::Raw<D>) -> Result<Self, DbErr>;
}

/// How a datetime column arrives: as SQLite's text, or as the server's typed value.
pub trait DateValue: sea_orm_sync::TryGetable + sea_orm::TryGetable {
    fn datetime(self, column: &str) -> Result<NaiveDateTime, DbErr>;
}

impl DateValue for String {
    fn datetime(self, column: &str) -> Result<NaiveDateTime, DbErr> {
        parse_datetime(&self)
            .ok_or_else(|| DbErr::Type(format!("column {column}: {self:?} is not a datetime")))
    }
}

impl DateValue for NaiveDateTime {
    fn datetime(self, _: &str) -> Result<NaiveDateTime, DbErr> {
        Ok(self)
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

fn opt_datetime<D: DateValue>(
    column: &str,
    value: Option<D>,
) -> Result<Option<NaiveDateTime>, DbErr> {
    value.map(|v| v.datetime(column)).transpose()
}

/// A `fact_rental` row as read (by position, in the order of its `COLUMNS`), its datetimes as
/// `D`.
pub type RawRental<D> = (
    i32,         // rental_id
    i32,         // rental_date_key
    Option<i32>, // return_date_key
    D,           // rental_date
    Option<D>,   // return_date
    i32,         // inventory_id
    i32,         // film_key
    i32,         // store_key
    i32,         // customer_key
    i32,         // staff_key
    Option<i32>, // rental_duration_days
    Option<D>,   // source_last_update
);

impl Positional for fact_rental::Model {
    type Column = fact_rental::Column;
    const COLUMNS: &'static [fact_rental::Column] = {
        use fact_rental::Column as C;
        &[
            C::RentalId,
            C::RentalDateKey,
            C::ReturnDateKey,
            C::RentalDate,
            C::ReturnDate,
            C::InventoryId,
            C::FilmKey,
            C::StoreKey,
            C::CustomerKey,
            C::StaffKey,
            C::RentalDurationDays,
            C::SourceLastUpdate,
        ]
    };
    type Raw<D: DateValue> = RawRental<D>;
    fn from_raw<D: DateValue>(r: RawRental<D>) -> Result<Self, DbErr> {
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
            rental_date: rental_date.datetime("rental_date")?,
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

/// A `fact_payment` row as read (by position, in the order of its `COLUMNS`), its datetimes
/// as `D`.
pub type RawPayment<D> = (
    i32,         // payment_id
    i32,         // payment_date_key
    D,           // payment_date
    i32,         // customer_key
    i32,         // store_key
    i32,         // staff_key
    Option<i32>, // rental_id
    i64,         // amount_cents
    Option<D>,   // source_last_update
);

impl Positional for fact_payment::Model {
    type Column = fact_payment::Column;
    const COLUMNS: &'static [fact_payment::Column] = {
        use fact_payment::Column as C;
        &[
            C::PaymentId,
            C::PaymentDateKey,
            C::PaymentDate,
            C::CustomerKey,
            C::StoreKey,
            C::StaffKey,
            C::RentalId,
            C::AmountCents,
            C::SourceLastUpdate,
        ]
    };
    type Raw<D: DateValue> = RawPayment<D>;
    fn from_raw<D: DateValue>(p: RawPayment<D>) -> Result<Self, DbErr> {
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
            payment_date: payment_date.datetime("payment_date")?,
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
    #[test]
    fn the_columns_read_are_every_column_of_the_entity() {
        use super::Positional;
        use crate::warehouse::entity::{fact_payment, fact_rental};
        use sea_orm::{IdenStatic, Iterable};
        fn names<C: IdenStatic>(cols: impl IntoIterator<Item = C>) -> Vec<&'static str> {
            let mut v: Vec<_> = cols.into_iter().map(|c| c.as_str()).collect();
            v.sort_unstable();
            v
        }
        assert_eq!(
            names(fact_rental::Model::COLUMNS.iter().copied()),
            names(fact_rental::Column::iter())
        );
        assert_eq!(
            names(fact_payment::Model::COLUMNS.iter().copied()),
            names(fact_payment::Column::iter())
        );
    }

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

#[cfg(test)]
mod reader_tests {
    use futures::TryStreamExt;
    use sea_orm::{EntityTrait, IntoActiveModel};

    use super::*;
    use crate::db::{self, Role};

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn rental(id: i32) -> fact_rental::Model {
        let returned = id % 2 == 0;
        fact_rental::Model {
            rental_id: id,
            rental_date_key: 20050524,
            return_date_key: returned.then_some(20050526),
            rental_date: at("2005-05-24 22:53:30"),
            return_date: returned.then(|| at("2005-05-26 22:04:30")),
            inventory_id: id,
            film_key: 1,
            store_key: 1,
            customer_key: 1,
            staff_key: 1,
            rental_duration_days: returned.then_some(1),
            source_last_update: Some(at("2006-02-15 21:30:53")),
        }
    }

    /// Every row comes back once, in id order, across page boundaries, with its values; the
    /// state mark is the one `validate`'s own transaction reads, and a run committed in
    /// between changes it.
    #[tokio::test(flavor = "multi_thread")]
    async fn reads_every_page_in_order_and_marks_the_state_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warehouse.db");
        let url = format!("sqlite://{}", path.display());
        // Foreign keys off: the fact rows point at no dimension member.
        let wh = db::connect(&url, Role::BulkWarehouse).await.unwrap();
        crate::warehouse::schema::create_all(&wh).await.unwrap();
        let run = crate::sync::run::start(&wh, "test").await.unwrap();
        // Two full pages and three rows more, ids with gaps.
        let ids: Vec<i32> = (1..=bulk_read::PAGE as i32 * 2 + 3)
            .map(|i| i * 3)
            .collect();
        for chunk in ids.chunks(1_000) {
            fact_rental::Entity::insert_many(chunk.iter().map(|i| rental(*i).into_active_model()))
                .exec(&wh)
                .await
                .unwrap();
        }
        let mark = state_mark(&wh).await.unwrap();
        assert_eq!(mark, Some((run, "running".to_string())));

        let (reader, mut rentals, mut payments) = warehouse_facts(Committed::File(path.clone()));
        let read: Vec<fact_rental::Model> = rentals.rows().try_collect().await.unwrap();
        let none: Vec<fact_payment::Model> = payments.rows().try_collect().await.unwrap();
        let seen = reader.finish().await.unwrap();
        assert_eq!(read.iter().map(|r| r.rental_id).collect::<Vec<_>>(), ids);
        assert_eq!(read[0], rental(3));
        assert_eq!(read[1], rental(6));
        assert!(none.is_empty());
        assert_eq!(seen, mark);

        crate::sync::run::start(&wh, "test").await.unwrap();
        let (reader, rentals, payments) = warehouse_facts(Committed::File(path));
        drop((rentals, payments)); // the merge stops at once: the thread still ends
        let seen = reader.finish().await.unwrap();
        assert_ne!(seen, mark);
        assert_eq!(seen, Some((run + 1, "running".to_string())));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_missing_file_is_an_error_on_both_tables() {
        let dir = tempfile::tempdir().unwrap();
        let (reader, mut rentals, mut payments) =
            warehouse_facts(Committed::File(dir.path().join("nope.db")));
        let r = rentals.rows().try_collect::<Vec<_>>().await.unwrap_err();
        let p = payments.rows().try_collect::<Vec<_>>().await.unwrap_err();
        assert!(
            format!("{r:#}").contains("cannot read the warehouse"),
            "{r:#}"
        );
        assert!(
            format!("{p:#}").contains("cannot read the warehouse"),
            "{p:#}"
        );
        assert!(reader.finish().await.is_err());
    }
}
