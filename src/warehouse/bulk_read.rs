//! Whole-table reads of the warehouse file through SeaORM's synchronous build and its
//! rusqlite driver, for the scans that read every fact row: `validate`'s comparison and the
//! incremental's version diff.
//!
//! Why a second driver: sqlx's SQLite driver steps on a thread of its own, copies every value
//! of every row out (one or two allocations per column) and hands each row over through a
//! channel. For a scan of 1.6M rows that costs about four times what the same query-builder
//! query costs through rusqlite, which reads on the calling thread (`docs/benchmarks-log.md`,
//! `examples/orm_floor.rs`). Every write, and every other read, stays on sqlx.
//!
//! How it keeps to the project's rules and limits:
//! - queries are built with sea-query from the entities' own columns, no SQL text;
//! - the connection is opened read-only (`?mode=ro`), which needs no pragma;
//! - rows are read in pages by primary key (`WHERE id > last ORDER BY id LIMIT n`), because
//!   the sync driver collects a whole result before returning it: memory holds a page.
//!
//! A second connection reads its own snapshot: the last committed state of the file. Each
//! caller says why that is the state it wants ([`crate::validate`] checks it; the incremental
//! holds the write lock, so it is the state the run started from, and what the run has written
//! to the scanned table so far changes no version).
//!
//! A PostgreSQL warehouse has no file and no second driver: [`Committed::Server`] reads the
//! same pages through another connection of the pool, in a `REPEATABLE READ, READ ONLY`
//! transaction, which is that server's snapshot of the committed state.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sea_orm::DatabaseConnection;
use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, Order, SelectStatement};
use sea_orm_sync::{Database, DatabaseTransaction, QueryResult, TransactionTrait};

/// Rows per page (and per batch handed on).
pub const PAGE: u64 = 8_192;

/// Where a second reader finds the warehouse's last committed state.
#[derive(Clone, Debug)]
pub enum Committed {
    /// A SQLite file, opened again read-only through rusqlite and read on a thread.
    File(PathBuf),
    /// A database server: another connection of the same pool, in a read-only snapshot.
    Server(DatabaseConnection),
}

impl Committed {
    /// Reads the rows of `select` page by page in `id` order (see [`pages`]), each decoded by
    /// position as a `T`, and sends each page into `tx`; stops early, without error, when the
    /// receiver is gone.
    pub async fn scan<T, C>(
        self,
        select: SelectStatement,
        id: C,
        id_of: fn(&T) -> i64,
        tx: tokio::sync::mpsc::Sender<Vec<T>>,
    ) -> Result<()>
    where
        T: sea_orm::TryGetableMany + sea_orm_sync::TryGetableMany + Send + 'static,
        C: IntoColumnRef + Copy + Send + 'static,
    {
        match self {
            Committed::File(file) => tokio::task::spawn_blocking(move || {
                let txn = open(&file, false)?;
                pages(
                    &txn,
                    &select,
                    id,
                    |row| Ok(row.try_get_many_by_index::<T>()?),
                    id_of,
                    |batch| tx.blocking_send(batch).is_ok(),
                )
            })
            .await
            .context("the warehouse reader stopped unexpectedly")?,
            Committed::Server(db) => {
                let txn = snapshot(&db).await?;
                let mut after: Option<i64> = None;
                loop {
                    let q = page_query(&select, id, after);
                    let rows = sea_orm::ConnectionTrait::query_all(&txn, &q)
                        .await?
                        .into_iter()
                        .map(|row| Ok(row.try_get_many_by_index::<T>()?))
                        .collect::<Result<Vec<T>>>()?;
                    let full = rows.len() as u64 == PAGE;
                    after = rows.last().map(id_of).or(after);
                    if rows.is_empty() || tx.send(rows).await.is_err() || !full {
                        break;
                    }
                }
                txn.rollback().await.ok();
                Ok(())
            }
        }
    }
}

/// A read-only snapshot of a server warehouse's committed state, on a connection of its own.
pub async fn snapshot(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction> {
    use sea_orm::{AccessMode, IsolationLevel, TransactionTrait};
    db.begin_with_config(
        Some(IsolationLevel::RepeatableRead),
        Some(AccessMode::ReadOnly),
    )
    .await
    .context("cannot start a read snapshot on the warehouse")
}

/// `select` restricted to the page after id `after`, in `id` order.
pub fn page_query<C: IntoColumnRef + Copy>(
    select: &SelectStatement,
    id: C,
    after: Option<i64>,
) -> SelectStatement {
    let mut q = select.clone();
    q.order_by(id, Order::Asc).limit(PAGE);
    if let Some(after) = after {
        q.and_where(Expr::col(id).gt(after));
    }
    q
}

/// Opens `path` read-only and starts a read transaction: every page read in it sees one
/// snapshot, fixed by its first read. `alone`: read the file as immutable when nothing else
/// holds the warehouse ([`super::reads_file_alone`]), for readers that must create no file
/// (`validate`); a run's own scans pass `false`, since the run writes meanwhile.
pub fn open(path: &Path, alone: bool) -> Result<DatabaseTransaction> {
    let what = || format!("cannot read the warehouse {}", path.display());
    // From the root: SeaORM parses the URL first, and in `sqlite://file:dir/x.db` it reads
    // `file:dir` as a host and a port (the default `sqlite://analytics.db` is relative).
    let path = std::path::absolute(path).with_context(what)?;
    let db = Database::connect(read_only_url(&path, alone)).with_context(what)?;
    db.begin().with_context(what)
}

/// The URL that opens `path` read-only: an SQLite `file:` URI, so that any file name works;
/// immutable when nothing but the file holds the warehouse ([`super::reads_file_alone`]).
fn read_only_url(path: &Path, alone: bool) -> String {
    let immutable = if alone && super::reads_file_alone(path) {
        "&immutable=1"
    } else {
        ""
    };
    format!(
        "sqlite://file:{}?mode=ro{immutable}",
        crate::config::escape_path(path)
    )
}

/// Reads the rows of `select` (one table's columns; no order, limit or condition on `id`)
/// page by page in `id` order, decodes each with `decode`, and hands each page to `send`.
/// Stops early, without error, when `send` returns false (the receiver is gone). `id_of`
/// gives a decoded row's `id`, where the next page starts.
pub fn pages<T, C>(
    txn: &DatabaseTransaction,
    select: &SelectStatement,
    id: C,
    decode: impl Fn(QueryResult) -> Result<T>,
    id_of: impl Fn(&T) -> i64,
    mut send: impl FnMut(Vec<T>) -> bool,
) -> Result<()>
where
    C: IntoColumnRef + Copy,
{
    use sea_orm_sync::ConnectionTrait;
    let mut after: Option<i64> = None;
    loop {
        let q = page_query(select, id, after);
        let rows = txn
            .query_all(&q)?
            .into_iter()
            .map(&decode)
            .collect::<Result<Vec<T>>>()?;
        let full = rows.len() as u64 == PAGE;
        after = rows.last().map(&id_of).or(after);
        if !rows.is_empty() && !send(rows) {
            return Ok(());
        }
        if !full {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::Query;
    use sea_orm::{ConnectionTrait, Schema};

    use super::*;
    use crate::db::{self, Role};
    use crate::warehouse::entity::sync_run;

    /// A warehouse at `url` holding an empty `sync_run` table.
    async fn warehouse_with_sync_run(url: &str) -> sea_orm::DatabaseConnection {
        let wh = db::connect(url, Role::Warehouse).await.unwrap();
        let backend = wh.get_database_backend();
        wh.execute(&Schema::new(backend).create_table_from_entity(sync_run::Entity))
            .await
            .unwrap();
        wh
    }

    /// Whether `txn` reads `sync_run` (empty) through the sync driver.
    fn reads_no_run(txn: &DatabaseTransaction) -> bool {
        let select = Query::select()
            .column(sync_run::Column::Id)
            .from(sync_run::Entity)
            .to_owned();
        sea_orm_sync::ConnectionTrait::query_all(txn, &select)
            .unwrap()
            .is_empty()
    }

    /// A path relative to the working directory opens (the default warehouse URL is one).
    #[tokio::test(flavor = "multi_thread")]
    async fn opens_a_path_relative_to_the_working_directory() {
        let dir = tempfile::Builder::new()
            .prefix("bulk-read-relative")
            .tempdir_in(".")
            .unwrap();
        let relative = Path::new(dir.path().file_name().unwrap()).join("w.db");
        assert!(relative.is_relative());
        let wh = warehouse_with_sync_run(&format!("sqlite://{}", relative.display())).await;
        let Committed::File(file) = crate::warehouse::backend::Backend::committed(&wh).unwrap()
        else {
            panic!("a SQLite warehouse is read from its file");
        };
        assert!(reads_no_run(&open(&file, false).unwrap()));
    }

    /// Any file name opens, and only for reading.
    #[tokio::test(flavor = "multi_thread")]
    async fn opens_awkward_file_names_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a dir?#%20x:é").join("ware house.db");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let wh = warehouse_with_sync_run(&crate::config::sqlite_url(&path)).await;
        assert!(
            matches!(crate::warehouse::backend::Backend::committed(&wh).unwrap(), Committed::File(f) if f == path)
        );

        let txn = open(&path, false).unwrap();
        assert!(reads_no_run(&txn));
        let insert = Query::insert()
            .into_table(sync_run::Entity)
            .columns([sync_run::Column::Command])
            .values_panic(["x".into()])
            .to_owned();
        let err = sea_orm_sync::ConnectionTrait::execute(&txn, &insert)
            .unwrap_err()
            .to_string();
        assert!(err.contains("readonly"), "{err}");
    }
}
