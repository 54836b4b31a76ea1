//! Where the two warehouse backends, SQLite and PostgreSQL, differ: decided in this module and
//! nowhere else.
//!
//! The pipeline is one: the extract, the transform, the upserts, the star's description, the
//! queries of `validate`, `status` and the report are the same SeaORM code on both, each
//! statement built for the connection's backend by the query builder. What cannot be the same
//! is asked of a [`Warehouse`] (where it lives, from its URL) or a [`Backend`] (which server,
//! from a connection), whose answers are below:
//!
//! | what | SQLite | PostgreSQL |
//! |---|---|---|
//! | where it lives ([`Warehouse`]) | a file (or memory) | a database, `?schema=` in it |
//! | one writer ([`Warehouse::writer_lock`]) | `flock` on `<file>.lock` ([`crate::lock`]) | an advisory lock keyed by the schema ([`crate::lock::server`]) |
//! | a second reader of the committed state ([`Backend::committed`]) | the file opened again read-only through rusqlite | another pooled connection in a `REPEATABLE READ, READ ONLY` snapshot |
//! | how a full-load clears the star ([`Backend::bulk_load`]) | drops and recreates it (its readers read the last commit whatever the writer locks) | recreates an empty star without indexes or keys; keeps one that has rows and writes only the rows that differ (a `DROP` would lock its readers out) |
//! | a first load's connection ([`Warehouse::connect_for_full_load`]) | a rollback journal instead of the log (every page written once), holding the file until it commits | the bulk connection, as for any full-load |
//! | datetimes written ([`Backend::datetimes_as_text`]) | as text, formatted by the loader | typed, bound by the driver |
//! | a bulk copy's statements ([`Backend::bulk_insert`]) | multi-row `INSERT ... VALUES` within the bind limit | `INSERT ... SELECT UNNEST($1), UNNEST($2), ...`, one array per column |
//! | the size `status` shows ([`Warehouse::size_and_writer`]) | the file and its log | the schema's tables and indexes |
//! | other tables beside the warehouse's ([`Backend::shares_its_schema`]) | none: a file with tables but no sakila-sync version is refused | allowed, unless one has the name of a warehouse table |
//!
//! The rest are dialect, shared with the MySQL source and so kept beside its code: the
//! connection settings (SQLite's pragmas; PostgreSQL's `search_path`, `application_name` and
//! readers' `lock_timeout`) are connection options in [`crate::db::connect`]; the catalog
//! queries (which tables, which columns) and the bind limit per statement are in
//! [`crate::db`]; two functions whose names differ by server (seconds since the epoch, a
//! 64-bit cast) are `crate::sync::versions::{unix_seconds, as_i64}`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use super::bulk_read::Committed;
use super::schema::BulkLoad;
use crate::config::redact;
use crate::db::{self, Role};
use crate::lock::{self, WriterLock};
use crate::sync::load;

/// Which server a warehouse connection talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of warehouse connection `db` (any connection that is not PostgreSQL's is
    /// taken for SQLite's: `db::connect` opens no other kind of warehouse).
    pub fn of<C: ConnectionTrait>(db: &C) -> Backend {
        Backend::of_driver(db.get_database_backend())
    }

    /// [`Backend::of`] a connection of the driver's `backend`.
    pub fn of_driver(backend: DbBackend) -> Backend {
        match backend {
            DbBackend::Postgres => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    /// How a full-load clears the star before its copy, inside its transaction (carried out
    /// by [`super::schema::recreate_star_for_bulk_load`]).
    ///
    /// SQLite drops and recreates the tables: its readers read the last commit whatever the
    /// writer locks, and it cannot add a foreign key to an existing table, so they are
    /// declared at once (the bulk connection does not enforce them row by row).
    ///
    /// On PostgreSQL `DROP TABLE` locks every reader out until the commit. A star with rows
    /// may have readers, so its tables, indexes and keys are kept and the load writes only
    /// the rows that differ ([`crate::sync::reconcile`]): readers keep seeing the previous
    /// warehouse through MVCC. A star with no rows has nothing to show a reader, so it is
    /// recreated without indexes or foreign keys, which are added once after the copy; so is
    /// a star with a table of another version's shape (its rows cannot be reconciled, and one
    /// table cannot be dropped alone while the others' keys point at it), whose readers wait
    /// for this one run.
    pub async fn bulk_load<C: ConnectionTrait>(self, db: &C) -> Result<BulkLoad> {
        use super::schema::{outdated_star_tables, star_has_rows};
        Ok(match self {
            Backend::Sqlite => BulkLoad::Recreated,
            Backend::Postgres
                if star_has_rows(db).await? && outdated_star_tables(db).await?.is_empty() =>
            {
                BulkLoad::Reconciled
            }
            Backend::Postgres => BulkLoad::RecreatedWithoutKeys,
        })
    }

    /// Whether `init` may create the warehouse's tables beside tables of another program's.
    ///
    /// A SQLite file is the warehouse alone: one that holds tables but no sakila-sync version
    /// is something else (the source's file named by mistake, say), and is refused. A
    /// PostgreSQL warehouse lives in a schema of a database that may be an analytics team's,
    /// beside their tables: those are left alone, and only a table that has the name of one
    /// of the warehouse's is refused (it would be taken for the warehouse's own).
    pub fn shares_its_schema(self) -> bool {
        self == Backend::Postgres
    }

    /// What to do when the warehouse's place holds another program's tables.
    pub fn remedy_for_foreign_tables(self) -> &'static str {
        match self {
            Backend::Sqlite => "name a new file",
            Backend::Postgres => {
                "give the warehouse a schema of its own (?schema=NAME), or move those tables"
            }
        }
    }

    /// Whether the loader writes datetimes as their text: SQLite stores a `DATETIME` as text,
    /// and formatting it in the loader costs less than the driver's way; a server binds the
    /// typed value.
    pub fn datetimes_as_text(self) -> bool {
        self == Backend::Sqlite
    }

    /// The statements that write `models` into `E`'s table in a bulk copy (a full-load's
    /// facts): SQLite's multi-row `INSERT ... VALUES`, as many rows as its bind limit allows
    /// ([`Backend::bulk_rows`]); on PostgreSQL one array per column
    /// ([`crate::sync::load::unnest_statements`]), which the server parses once however many
    /// rows it carries.
    ///
    /// `reconcile`: the rows may be there already ([`load::Write::Reconcile`]).
    pub fn bulk_insert<E: sea_orm::EntityTrait>(
        self,
        models: &[E::Model],
        reconcile: bool,
    ) -> Vec<Statement> {
        let conflict = reconcile.then(load::reconcile_clause::<E>);
        match self {
            Backend::Sqlite => vec![load::insert_statement_on::<E>(
                DbBackend::Sqlite,
                models,
                conflict,
            )],
            Backend::Postgres => load::unnest_statements::<E>(models, conflict.as_ref()),
        }
    }

    /// How many rows of `E` one batch of a bulk copy holds ([`Backend::bulk_insert`]).
    pub fn bulk_rows<E: sea_orm::EntityTrait>(self) -> usize {
        match self {
            Backend::Sqlite => crate::db::rows_per_statement::<E>(DbBackend::Sqlite),
            // Not bound by parameters: big enough that a statement's round trip is small
            // beside its rows, small enough that the batches in flight stay a few MB.
            Backend::Postgres => 16_384,
        }
    }

    /// Where a second reader finds the committed state of the warehouse `db` is connected to
    /// (see [`super::bulk_read`]): the SQLite file, opened again; or another connection of
    /// the same pool. An error for a SQLite database without a file (an in-memory one has no
    /// file another connection could open).
    pub fn committed(db: &DatabaseConnection) -> Result<Committed> {
        match Backend::of(db) {
            Backend::Postgres => Ok(Committed::Server(db.clone())),
            Backend::Sqlite => Some(db.get_sqlite_connection_pool().connect_options())
                .map(|options| options.get_filename().to_path_buf())
                .filter(|path| path.is_file())
                .map(Committed::File)
                .context("the warehouse must be a SQLite file, and this one is not"),
        }
    }
}

/// Where a warehouse lives, from its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warehouse {
    /// A SQLite file.
    File(PathBuf),
    /// A SQLite database in memory: nobody else can open it.
    Memory,
    /// A database on a PostgreSQL server: its URL, the password hidden.
    Server(String),
}

impl Warehouse {
    /// The warehouse at `url` (a `sqlite:` or `postgres:` URL; [`crate::db::connect`] refuses
    /// any other).
    pub fn at(url: &str) -> Warehouse {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Warehouse::Server(redact(url));
        }
        match crate::config::sqlite_file(url) {
            Some(path) => Warehouse::File(path),
            None => Warehouse::Memory,
        }
    }

    /// What messages call it: the file's path, or the URL without its password.
    pub fn name(&self) -> String {
        match self {
            Warehouse::File(path) => path.display().to_string(),
            Warehouse::Memory => "in memory".to_string(),
            Warehouse::Server(url) => url.clone(),
        }
    }

    /// Fails when the warehouse is a file that does not exist: the readers (`validate`,
    /// `status`, `report`) never create one, so a mistyped path is reported instead of
    /// becoming an empty warehouse. A server's database is checked by connecting to it.
    pub fn require_existing(&self) -> Result<()> {
        match self {
            Warehouse::File(path) if !path.is_file() => bail!(
                "the warehouse {} does not exist: run `sakila-sync init` or `sakila-sync \
                 full-load` first",
                path.display()
            ),
            _ => Ok(()),
        }
    }

    /// The connection a `full-load` writes the warehouse at `url` through.
    ///
    /// A SQLite star with no rows (a first load) is written through a rollback journal
    /// ([`Role::FirstLoad`], which says why); SQLite lets a file leave its write-ahead log only
    /// when no other connection has it open, so when one has (a reader), or anything else
    /// stands in the way, the load goes through the log as a reload does
    /// ([`Role::BulkWarehouse`]), which readers read beside. A server's full-load always takes
    /// the bulk connection.
    pub async fn connect_for_full_load(&self, url: &str) -> Result<DatabaseConnection> {
        let bulk = db::connect(url, Role::BulkWarehouse).await?;
        if !matches!(self, Warehouse::File(_)) || super::schema::star_has_rows(&bulk).await? {
            return Ok(bulk);
        }
        bulk.close()
            .await
            .context("cannot close the warehouse's connection")?;
        match db::connect(url, Role::FirstLoad).await {
            Ok(first) => {
                tracing::debug!("a first load: written through a rollback journal");
                Ok(first)
            }
            Err(e) => {
                tracing::debug!("a first load, written through the log: {e:#}");
                db::connect(url, Role::BulkWarehouse).await
            }
        }
    }

    /// After a full-load has committed: puts a SQLite file that a first load wrote through
    /// its rollback journal back on the write-ahead log (opening a writer's connection does),
    /// so that between runs readers never stand in a writer's way. In rollback mode a reader
    /// in the middle of a read would block the next run until it finished; the next run
    /// would switch the file back all the same. A failure only warns: the load is committed.
    pub async fn after_full_load(&self, url: &str) {
        if !matches!(self, Warehouse::File(_)) {
            return;
        }
        match db::connect(url, Role::Warehouse).await {
            Ok(wh) => {
                wh.close().await.ok();
            }
            Err(e) => tracing::warn!(
                "the warehouse stays on its rollback journal until the next run: {e:#}"
            ),
        }
    }

    /// Takes the writer lock of the warehouse at `url` for `command`, waiting up to `wait` for
    /// another writer to finish (see [`crate::lock`]); `None` for a warehouse in memory, which
    /// no other process can open.
    pub async fn writer_lock(
        &self,
        url: &str,
        command: &str,
        wait: Option<Duration>,
    ) -> Result<Option<WriterLock>> {
        match self {
            Warehouse::File(path) => lock::acquire(path, command, wait).map(Some),
            Warehouse::Memory => Ok(None),
            Warehouse::Server(_) => Ok(Some(lock::server::acquire(url, command, wait).await?)),
        }
    }

    /// The warehouse's size in bytes, who holds its writer lock, and whether a first
    /// PostgreSQL full-load holds its tables (then the size is the server's estimate, and
    /// what is committed in them is empty).
    pub async fn size_and_writer(
        &self,
        wh: &DatabaseConnection,
    ) -> Result<(u64, Option<String>, bool)> {
        match self {
            Warehouse::File(path) => {
                let bytes = [path.clone(), wal_of(path)]
                    .iter()
                    .filter_map(|p| std::fs::metadata(p).ok())
                    .map(|m| m.len())
                    .sum();
                Ok((bytes, lock::holder(path), false))
            }
            Warehouse::Memory => Ok((0, None, false)),
            Warehouse::Server(_) => {
                let (bytes, held) = match server_bytes(wh, Size::Exact).await {
                    Err(e) if crate::error::is_lock_timeout(&e) => {
                        (server_bytes(wh, Size::Estimated).await?, true)
                    }
                    other => (other?, false),
                };
                Ok((bytes, lock::server::holder(wh).await?, held))
            }
        }
    }
}

/// The write-ahead log beside SQLite file `path`.
pub fn wal_of(path: &Path) -> PathBuf {
    beside(path, "-wal")
}

/// The rollback journal beside SQLite file `path` (a first load's: [`crate::db::Role::FirstLoad`]).
pub fn journal_of(path: &Path) -> PathBuf {
    beside(path, "-journal")
}

fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// How [`server_bytes`] measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Size {
    /// `pg_total_relation_size`: exact, but it waits for a table's lock.
    Exact,
    /// The pages `pg_class` records for each table and index (as of their last vacuum,
    /// analyze or index build), times 8 KiB: no lock.
    Estimated,
}

/// The bytes of the warehouse's tables (with their indexes) on a PostgreSQL server: only its
/// own, whatever else its schema holds ([`Backend::shares_its_schema`]).
async fn server_bytes(wh: &DatabaseConnection, how: Size) -> Result<u64> {
    use sea_orm::sea_query::JoinType;
    let (c, n, i, t) = (
        Alias::new("c"),
        Alias::new("n"),
        Alias::new("i"),
        Alias::new("t"),
    );
    let size: SimpleExpr = match how {
        Size::Exact => Func::cust(Alias::new("pg_total_relation_size"))
            .arg(Expr::col((c.clone(), Alias::new("oid"))))
            .into(),
        Size::Estimated => Expr::col((c.clone(), Alias::new("relpages")))
            .cast_as(Alias::new("bigint"))
            .mul(8192),
    };
    let kinds: &[&str] = match how {
        Size::Exact => &["r"],
        Size::Estimated => &["r", "i"],
    };
    let own = super::schema::own_tables().await?;
    // A relation counts when it is one of the warehouse's tables, or an index of one.
    let q = Query::select()
        .expr(Func::coalesce([Func::sum(size).into(), Expr::val(0)]).cast_as(Alias::new("bigint")))
        .from_as(Alias::new("pg_class"), c.clone())
        .join_as(
            JoinType::InnerJoin,
            Alias::new("pg_namespace"),
            n.clone(),
            Expr::col((n.clone(), Alias::new("oid")))
                .equals((c.clone(), Alias::new("relnamespace"))),
        )
        .join_as(
            JoinType::LeftJoin,
            Alias::new("pg_index"),
            i.clone(),
            Expr::col((i.clone(), Alias::new("indexrelid"))).equals((c.clone(), Alias::new("oid"))),
        )
        .join_as(
            JoinType::InnerJoin,
            Alias::new("pg_class"),
            t.clone(),
            Expr::col((t.clone(), Alias::new("oid"))).eq(Func::coalesce([
                Expr::col((i, Alias::new("indrelid"))),
                Expr::col((c.clone(), Alias::new("oid"))),
            ])),
        )
        .and_where(
            Expr::col((n, Alias::new("nspname"))).eq(Func::cust(Alias::new("CURRENT_SCHEMA"))),
        )
        .and_where(Expr::col((c, Alias::new("relkind"))).is_in(kinds.iter().copied()))
        .and_where(Expr::col((t, Alias::new("relname"))).is_in(own))
        .to_owned();
    let what = "cannot read the size of the warehouse's tables";
    let row = wh.query_one(&q).await.context(what)?.context(what)?;
    Ok(u64::try_from(row.try_get_by_index::<i64>(0).context(what)?).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_says_where_the_warehouse_lives() {
        assert_eq!(
            Warehouse::at("sqlite://w.db?mode=rwc"),
            Warehouse::File(PathBuf::from("w.db"))
        );
        assert_eq!(Warehouse::at("sqlite::memory:"), Warehouse::Memory);
        assert_eq!(
            Warehouse::at("postgres://me:s3cret@h:5432/dw?schema=a"),
            Warehouse::Server("postgres://me:***@h:5432/dw?schema=a".to_string())
        );
        assert!(matches!(
            Warehouse::at("postgresql://h/dw"),
            Warehouse::Server(_)
        ));
    }

    #[test]
    fn a_reader_refuses_a_file_that_does_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let at = |url: String| Warehouse::at(&url).require_existing();
        let err = at(format!(
            "sqlite://{}/nope.db?mode=rwc",
            dir.path().display()
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("nope.db does not exist: run `sakila-sync init`"),
            "{err}"
        );
        let path = dir.path().join("w.db");
        std::fs::write(&path, b"").unwrap();
        at(format!("sqlite://{}", path.display())).unwrap();
        // A name with a space is written `%20` in the URL, and the driver decodes it.
        let spaced = dir.path().join("a warehouse.db");
        std::fs::write(&spaced, b"").unwrap();
        let escaped = format!("sqlite://{}/a%20warehouse.db", dir.path().display());
        at(escaped.clone()).unwrap();
        std::fs::remove_file(&spaced).unwrap();
        let err = at(escaped).unwrap_err();
        assert!(
            err.to_string().contains("/a warehouse.db does not exist"),
            "{err}"
        );
        at("sqlite::memory:".into()).unwrap();
        at("postgres://h/dw".into()).unwrap();
    }

    #[test]
    fn only_sqlite_is_written_with_text_datetimes() {
        assert!(Backend::Sqlite.datetimes_as_text());
        assert!(!Backend::Postgres.datetimes_as_text());
    }
}
