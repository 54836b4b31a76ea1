//! Opening connections, with every driver setting made through SeaORM's connection options:
//! the MySQL session time zone (UTC, so `TIMESTAMP` columns read as UTC), SQLite pragmas
//! (foreign keys on, WAL, `synchronous=NORMAL`; a first load's rollback journal, see
//! [`Role::FirstLoad`]), and transaction isolation.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    AccessMode, ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    IsolationLevel, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::redact;
use crate::error::{ConnectFailed, ErrorKind};

/// How a connection will be used; it decides the driver settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The OLTP source, read only by the pipeline.
    Source,
    /// The SQLite warehouse.
    Warehouse,
    /// The warehouse for a full-load: like `Warehouse`, except that SQLite does not check
    /// foreign keys row by row. The load writes millions of fact rows whose keys it assigned
    /// itself; six lookups per rental made the copy a third slower (x100: 17.6 s -> 11.8 s
    /// without them). It checks every key once instead, from the indexes, before it commits
    /// (`warehouse::schema::check_star_keys`), so a broken key still fails the run.
    BulkWarehouse,
    /// The first full-load of a SQLite warehouse (its star has no rows), when no other
    /// connection has the file open: like `BulkWarehouse`, with a rollback journal instead of
    /// the write-ahead log. In the log every page is written twice (into the log, then copied
    /// into the file when the run commits: at x100 a 530 MB log and 1.2 s of commit); a
    /// rollback journal keeps only the originals of pages it overwrites, and a first load
    /// writes new pages. Readers cannot read the file while it runs (they are told so, see
    /// [`crate::error::FirstLoad`]), which costs them nothing they could see: the committed
    /// star is empty. See `warehouse::backend::Warehouse::connect_for_full_load`.
    FirstLoad,
    /// The SQLite warehouse, read only (`status`): never created, never written.
    WarehouseReader,
    /// The session that holds a PostgreSQL warehouse's writer lock ([`crate::lock::server`]):
    /// one connection, never recycled, since the lock belongs to that session.
    WriterLock,
    /// A source that `simulate` writes into.
    SourceWriter,
    /// An empty source that `generate` creates and fills. Like `SourceWriter`, except that
    /// SQLite does not enforce foreign keys on it: SQLite cannot add a key to an existing
    /// table, and the store <-> staff key cycle cannot be inserted with immediate checks
    /// (see `generate::schema`). MySQL connections are the same as for `SourceWriter`.
    Generator,
}

impl Role {
    fn describe(self) -> &'static str {
        match self {
            Role::Source | Role::SourceWriter | Role::Generator => "source",
            Role::Warehouse
            | Role::BulkWarehouse
            | Role::FirstLoad
            | Role::WarehouseReader
            | Role::WriterLock => "warehouse",
        }
    }
}

/// Opens `url` for `role` and checks that it answers.
pub async fn connect(url: &str, role: Role) -> Result<DatabaseConnection> {
    connect_named(url, role, "sakila-sync").await
}

/// [`connect`], with the name a PostgreSQL server shows for these sessions
/// (`application_name`, which [`crate::lock::server`] uses to say who holds the lock).
pub async fn connect_named(url: &str, role: Role, name: &str) -> Result<DatabaseConnection> {
    let what = role.describe();
    let scheme = url.split("://").next().unwrap_or_default();
    match (role, scheme) {
        (
            Role::Warehouse | Role::BulkWarehouse | Role::FirstLoad | Role::WarehouseReader,
            "sqlite" | "postgres" | "postgresql",
        )
        | (Role::WriterLock, "postgres" | "postgresql") => {}
        (
            Role::Warehouse
            | Role::BulkWarehouse
            | Role::FirstLoad
            | Role::WarehouseReader
            | Role::WriterLock,
            _,
        ) => {
            bail!(
                "warehouse URL {} is not supported: use sqlite://file.db or \
             postgres://user@host:5432/db",
                redact(url)
            )
        }
        (_, "mysql" | "mariadb" | "sqlite") => {}
        _ => bail!(
            "{what} URL {} is not supported: use mysql://user@host:port/db or sqlite://file.db",
            redact(url)
        ),
    }
    let url = url.replacen("mariadb://", "mysql://", 1);
    // `?schema=` is ours, not the driver's: the warehouse's tables live in that schema.
    let (url, pg_schema) = crate::config::split_schema(&url)?;
    if (url.starts_with("mysql:") || url.starts_with("postgres"))
        && let Err(why) = reach_server(&url).await
    {
        return Err(ConnectFailed {
            message: format!(
                "cannot connect to the {what} database {}: {why}",
                redact(&url)
            ),
            kind: ErrorKind::Unavailable,
        }
        .into());
    }
    if url.starts_with("sqlite:") {
        check_sqlite_path(&url, role)?;
    }
    let mut opt = ConnectOptions::new(url.clone());
    opt.sqlx_logging(std::env::var_os("SAKILA_SYNC_LOG_SQL").is_some())
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .map_sqlx_mysql_opts(|o| o.timezone(Some("+00:00".to_string())));
    if url.starts_with("sqlite:") {
        // One connection: SQLite has one writer, and a run is one transaction anyway.
        opt.max_connections(1).min_connections(1);
        let read_only = matches!(role, Role::Source | Role::WarehouseReader);
        let immutable = role == Role::WarehouseReader
            && crate::config::sqlite_file(&url)
                .is_some_and(|f| crate::warehouse::reads_file_alone(&f));
        let foreign_keys = !matches!(
            role,
            Role::Generator | Role::BulkWarehouse | Role::FirstLoad
        );
        opt.map_sqlx_sqlite_opts(move |o| {
            // A deeper row buffer than sqlx's 50 lets the SQLite worker thread run ahead of a
            // stream's reader instead of waking it for every row (validate reads whole tables:
            // about twice as fast).
            let o = o
                .foreign_keys(foreign_keys)
                .busy_timeout(if role == Role::WarehouseReader {
                    // Only a first load locks a reader out (`Role::FirstLoad`), for all of
                    // its run: say so after a moment rather than wait.
                    Duration::from_millis(READER_LOCK_TIMEOUT_MS.into())
                } else {
                    Duration::from_secs(30)
                })
                .statement_cache_capacity(256)
                .row_buffer_size(1024)
                // Helper threads for SQLite's sorter: a full-load builds twelve secondary
                // indexes over millions of fact rows after the copy (at 100x: 7.6 s -> 5.5 s
                // on two cores). A bigger page cache was tried too: the copy got faster but the
                // index sorts slower and the memory three times larger.
                .pragma("threads", sorter_threads().to_string());
            if read_only {
                o.read_only(true).immutable(immutable)
            } else {
                // An incremental's writes land on random pages of the fact tables and their
                // twelve indexes (a 1% churn at 100x dirties ~48k pages). In SQLite's default
                // 2 MB page cache every index seek re-reads interior pages from the OS and
                // dirty pages spill to the WAL mid-run; 32 MiB keeps the indexes' upper
                // levels and the run's hot pages. At 100x (a slow 2-core machine), eight
                // interleaved pairs: median 10.0 s -> 9.4 s, system time 3.8 s -> 3.2 s, 50 MB
                // more memory; 64 MiB gained no more. The bulk load keeps the default: its
                // index sorts size their runs by the page cache and got slower with more.
                let o = if role == Role::Warehouse {
                    o.pragma("cache_size", WRITER_CACHE_KIB.to_string())
                } else {
                    o
                };
                let o = o.create_if_missing(true);
                if role == Role::FirstLoad {
                    // A rollback journal keeps the original of each page the run overwrites;
                    // pages past the file's old end (all of a first load's) are written once,
                    // straight into the file. `FULL`: the journal is synced before the file
                    // is touched, so a power cut rolls back too.
                    o.journal_mode(SqliteJournalMode::Delete)
                        .synchronous(SqliteSynchronous::Full)
                } else {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                }
            }
        });
    } else if url.starts_with("postgres") {
        // The run's transaction, the scans of the committed state beside it (`bulk_read`)
        // and the writer lock's session (`lock`).
        if role == Role::WriterLock {
            // A session-level advisory lock is the session's: the pool must neither hand
            // the unlock to another connection nor close this one while the command runs
            // (sqlx retires connections after 30 minutes by default; `watch` runs for days).
            opt.max_connections(1)
                .min_connections(1)
                .idle_timeout(None::<Duration>)
                .max_lifetime(None::<Duration>);
        } else {
            opt.max_connections(4);
        }
        let (schema, name) = (pg_schema.clone(), name.to_string());
        let reader = role == Role::WarehouseReader;
        opt.map_sqlx_postgres_opts(move |o| {
            let mut settings = Vec::new();
            // Unqualified names resolve there, and tables are created there.
            if let Some(schema) = &schema {
                settings.push(("search_path", schema.clone()));
            }
            // A first full-load holds its new, empty tables exclusively until it commits
            // (`warehouse::schema::recreate_star_for_bulk_load`): `status`, `validate` and
            // `report` give up on them after a moment and say why, instead of waiting.
            if reader {
                settings.push(("lock_timeout", READER_LOCK_TIMEOUT_MS.to_string()));
            }
            o.application_name(&name).options(settings)
        });
    } else {
        // `simulate --workers N` writes through N connections at once.
        opt.max_connections(if role == Role::SourceWriter { 64 } else { 2 });
    }
    let db = Database::connect(opt)
        .await
        .map_err(|e| ConnectFailed {
            message: driver_message(&e.to_string(), &url),
            kind: crate::error::db_kind(&e),
        })
        .with_context(|| format!("cannot connect to the {what} database {}", redact(&url)))?;
    if let Some(schema) = pg_schema {
        require_schema(&db, &schema, &url)
            .await
            .with_context(|| format!("warehouse {}", redact(&url)))?;
    }
    Ok(db)
}

/// How long a warehouse reader waits for a lock (PostgreSQL's tables, SQLite's file), in
/// milliseconds (see
/// [`crate::error::FirstLoad`]).
const READER_LOCK_TIMEOUT_MS: u32 = 2000;

/// The page cache of a SQLite warehouse's incremental writer, as `cache_size` takes it
/// (negative: KiB): 32 MiB. See [`connect_named`].
const WRITER_CACHE_KIB: i32 = -32 * 1024;

/// Fails unless the PostgreSQL schema `schema` exists: the warehouse lives in it, beside
/// whatever else it holds, and creating schemas is the database owner's decision.
async fn require_schema(db: &DatabaseConnection, schema: &str, url: &str) -> Result<()> {
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
    // `pg_namespace` lists every schema; `information_schema.schemata` only those the role
    // may use, which would make a schema it lacks a grant on look missing.
    let q = Query::select()
        .expr_as(
            Func::cust(Alias::new("has_schema_privilege"))
                .args([Expr::col(Alias::new("nspname")), Expr::val("USAGE")]),
            Alias::new("usable"),
        )
        .from((Alias::new("pg_catalog"), Alias::new("pg_namespace")))
        .and_where(Expr::col(Alias::new("nspname")).eq(schema))
        .to_owned();
    let what = "cannot read the catalog's list of schemas";
    let found = db.query_one(&q).await.context(what)?;
    let Some(row) = found else {
        bail!(
            "the schema {schema} does not exist: create it first (CREATE SCHEMA {schema}), or \
             leave ?schema= out to use public"
        );
    };
    let usable: bool = row.try_get("", "usable").context(what)?;
    // The role is the URL's user (the server's default, the OS user, when it names none).
    let role = url::Url::parse(url)
        .ok()
        .map(|u| u.username().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "<role>".to_string());
    anyhow::ensure!(
        usable,
        "the role {role} may not use the schema {schema}: its owner can allow it (GRANT \
         USAGE, CREATE ON SCHEMA {schema} TO {role}; USAGE alone for the readers)"
    );
    Ok(())
}

/// Names a SQLite file that cannot be opened for `role` before SQLite does, whose message is
/// only "unable to open database file": a source file that does not exist (sources are opened
/// read-only, never created), or a new file in a folder that does not exist.
fn check_sqlite_path(url: &str, role: Role) -> Result<()> {
    let Some(file) = crate::config::sqlite_file(url) else {
        return Ok(());
    };
    let what = role.describe();
    if file.exists() {
        return Ok(());
    }
    if matches!(role, Role::Source | Role::WarehouseReader) {
        bail!("the {what} database file {} does not exist", file.display());
    }
    match file.parent() {
        Some(folder) if !folder.as_os_str().is_empty() && !folder.is_dir() => bail!(
            "cannot create the {what} database {}: the folder {} does not exist",
            file.display(),
            folder.display()
        ),
        _ => Ok(()),
    }
}

/// How long [`reach_server`] waits for the server to accept a connection.
const REACH_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks that the server of a MySQL or PostgreSQL URL accepts connections, and says why not
/// when it does not. sqlx's pool takes a refused connection for a server still starting: it
/// retries until its acquire timeout (30 s here), then reports only "pool timed out". A
/// command-line run against a server that is down should fail at once and say so. The
/// connection opened here is closed at once: it sends and reads nothing.
async fn reach_server(url: &str) -> std::result::Result<(), String> {
    use sea_orm::sqlx::mysql::MySqlConnectOptions;
    use sea_orm::sqlx::postgres::PgConnectOptions;
    use std::path::PathBuf;
    // Where the server listens: a Unix socket, or a host and port. A URL sqlx cannot parse
    // is left to sqlx, whose error names the problem.
    let (server, socket, tcp): (&str, Option<PathBuf>, Option<(String, u16)>) =
        if url.starts_with("mysql:") {
            let Ok(o) = url.parse::<MySqlConnectOptions>() else {
                return Ok(());
            };
            let tcp = (o.get_host().to_string(), o.get_port());
            ("MySQL/MariaDB", o.get_socket().cloned(), Some(tcp))
        } else {
            let Ok(o) = url.parse::<PgConnectOptions>() else {
                return Ok(());
            };
            let in_dir = |dir: &std::path::Path| dir.join(format!(".s.PGSQL.{}", o.get_port()));
            let socket = match o.get_socket() {
                Some(dir) => Some(in_dir(dir)),
                None if o.get_host().starts_with('/') => Some(in_dir(o.get_host().as_ref())),
                None => None,
            };
            let tcp = (o.get_host().to_string(), o.get_port());
            ("PostgreSQL", socket, Some(tcp))
        };
    let (target, attempt) = match (socket, tcp) {
        #[cfg(unix)]
        (Some(socket), _) => (
            format!("socket {}", socket.display()),
            tokio::time::timeout(REACH_TIMEOUT, tokio::net::UnixStream::connect(socket))
                .await
                .map(|r| r.map(drop)),
        ),
        #[cfg(not(unix))]
        (Some(_), _) => return Ok(()),
        (None, Some((host, port))) => (
            format!("{host}:{port}"),
            tokio::time::timeout(
                REACH_TIMEOUT,
                tokio::net::TcpStream::connect((host.as_str(), port)),
            )
            .await
            .map(|r| r.map(drop)),
        ),
        (None, None) => return Ok(()),
    };
    match attempt {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(format!(
            "{target} refused the connection (is the {server} server running?)"
        )),
        Ok(Err(e)) => Err(format!("cannot reach {target}: {e}")),
        Err(_) => Err(format!(
            "{target} did not answer within {} s",
            REACH_TIMEOUT.as_secs()
        )),
    }
}

/// A driver's message as it is shown: without the password (see [`scrub`]), and without the
/// line of the PostgreSQL server's own source code that sqlx appends
/// ([`crate::error::without_server_line`]).
fn driver_message(message: &str, url: &str) -> String {
    crate::error::without_server_line(&scrub(message, url)).to_string()
}

/// Auxiliary threads SQLite may use to sort (one per core, at most four).
fn sorter_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Removes a URL's password from a driver message, in case the driver echoed it (as written
/// in the URL or decoded).
pub fn scrub(message: &str, url: &str) -> String {
    crate::config::password_forms(url)
        .iter()
        .fold(message.to_string(), |m, pw| m.replace(pw.as_str(), "***"))
}

/// The rows of warehouse table `table` (`status`'s counts, a reload's report).
pub async fn row_count<C: sea_orm::ConnectionTrait>(db: &C, table: &str) -> Result<u64> {
    use sea_orm::sea_query::{Alias, Asterisk, Expr, Func, Query};
    let q = Query::select()
        .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"))
        .from(Alias::new(table))
        .to_owned();
    let what = || format!("cannot read warehouse table {table}");
    let row = db.query_one(&q).await.with_context(what)?;
    let n: i64 = row
        .map(|r| r.try_get("", "n"))
        .transpose()
        .with_context(what)?
        .unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The name of table `E`, from its entity: what `sync_state`, the run report and messages call it.
pub fn table<E: sea_orm::EntityTrait>() -> &'static str {
    E::default().table_name()
}

/// Bind parameters one statement may carry on `backend`: MySQL's protocol counts them in 16
/// bits, PostgreSQL's too; SQLite's default `SQLITE_MAX_VARIABLE_NUMBER` is 32,766 since 3.32.
pub fn bind_limit(backend: DbBackend) -> usize {
    match backend {
        DbBackend::MySql | DbBackend::Postgres => 65_535,
        _ => 32_766,
    }
}

/// How many rows of `E` fit in one multi-row statement on `backend`.
pub fn rows_per_statement<E: sea_orm::EntityTrait>(backend: DbBackend) -> usize {
    use sea_orm::Iterable;
    (bind_limit(backend) / E::Column::iter().count()).max(1)
}

/// The tables already in the connected database (its current schema).
pub async fn table_names<C: sea_orm::ConnectionTrait>(db: &C) -> Result<Vec<String>> {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, LikeExpr, Query, SelectStatement};
    let name = Alias::new("name");
    let stmt: SelectStatement = match db.get_database_backend() {
        DbBackend::MySql => Query::select()
            .expr_as(Expr::col(Alias::new("TABLE_NAME")), name.clone())
            .from((Alias::new("information_schema"), Alias::new("TABLES")))
            .and_where(Expr::col(Alias::new("TABLE_SCHEMA")).eq(Func::cust(Alias::new("DATABASE"))))
            .order_by(name.clone(), sea_orm::Order::Asc)
            .to_owned(),
        DbBackend::Postgres => Query::select()
            .expr_as(Expr::col(Alias::new("table_name")), name.clone())
            .from((Alias::new("information_schema"), Alias::new("tables")))
            .and_where(
                Expr::col(Alias::new("table_schema")).eq(Func::cust(Alias::new("CURRENT_SCHEMA"))),
            )
            .order_by(name.clone(), sea_orm::Order::Asc)
            .to_owned(),
        _ => Query::select()
            .column(name.clone())
            .from(Alias::new("sqlite_master"))
            .and_where(Expr::col(Alias::new("type")).eq("table"))
            .and_where(Expr::col(name.clone()).not_like(LikeExpr::new("sqlite\\_%").escape('\\')))
            .order_by(name.clone(), sea_orm::Order::Asc)
            .to_owned(),
    };
    let rows = db
        .query_all(&stmt)
        .await
        .context("cannot list the tables of the target database")?;
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).map_err(Into::into))
        .collect()
}

/// Whether the database `db` is connected to holds any table.
pub async fn has_tables<C: sea_orm::ConnectionTrait>(db: &C) -> Result<bool> {
    Ok(!table_names(db).await?.is_empty())
}

/// The columns of `table` in the database `db` is connected to (its current schema), read
/// from the catalog through the query builder; `None` when there is no such table (or the
/// account may not see it).
pub async fn table_columns<C: sea_orm::ConnectionTrait>(
    db: &C,
    table: &str,
) -> Result<Option<std::collections::BTreeSet<String>>> {
    Ok(Catalog::read(db, &[table]).await?.columns(table).cloned())
}

/// The columns of some tables of the connected database (its current schema), read from the
/// catalog in one query: a run checks the shape of a dozen tables before it starts, and on a
/// server each catalog query is a round trip of a millisecond or two (PostgreSQL's
/// `information_schema.columns` about 2 ms, whether it is asked for one table or twelve).
#[derive(Debug, Default)]
pub struct Catalog(std::collections::BTreeMap<String, std::collections::BTreeSet<String>>);

impl Catalog {
    /// Reads the columns of `tables` (those that exist; names compared as the database
    /// compares them).
    pub async fn read<C: sea_orm::ConnectionTrait>(db: &C, tables: &[&str]) -> Result<Catalog> {
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
        let (t, c) = (Alias::new("t"), Alias::new("c"));
        let names = tables.iter().map(|t| t.to_string());
        let q = match db.get_database_backend() {
            DbBackend::Sqlite => {
                let (m, p) = (Alias::new("m"), Alias::new("p"));
                Query::select()
                    .expr_as(Expr::col((m.clone(), Alias::new("name"))), t)
                    .expr_as(Expr::col((p.clone(), Alias::new("name"))), c)
                    .from_as(Alias::new("sqlite_master"), m.clone())
                    .from_function(
                        Func::cust(Alias::new("pragma_table_info"))
                            .arg(Expr::col((m.clone(), Alias::new("name")))),
                        p,
                    )
                    .and_where(Expr::col((m.clone(), Alias::new("type"))).eq("table"))
                    .and_where(
                        Func::lower(Expr::col((m, Alias::new("name"))))
                            .is_in(names.map(|n| n.to_lowercase())),
                    )
                    .to_owned()
            }
            backend => {
                let current = if backend == DbBackend::MySql {
                    Func::cust(Alias::new("DATABASE"))
                } else {
                    Func::cust(Alias::new("CURRENT_SCHEMA"))
                };
                Query::select()
                    .expr_as(Expr::col(Alias::new("table_name")), t)
                    .expr_as(Expr::col(Alias::new("column_name")), c)
                    .from((Alias::new("information_schema"), Alias::new("columns")))
                    .and_where(Expr::col(Alias::new("table_schema")).eq(current))
                    .and_where(Expr::col(Alias::new("table_name")).is_in(names))
                    .to_owned()
            }
        };
        let what = || {
            format!(
                "cannot read the catalog entries of tables {}",
                tables.join(", ")
            )
        };
        let rows = db.query_all(&q).await.with_context(what)?;
        let mut catalog = Catalog::default();
        for r in rows {
            let table: String = r.try_get("", "t").with_context(what)?;
            let column: String = r.try_get("", "c").with_context(what)?;
            catalog.0.entry(table).or_default().insert(column);
        }
        Ok(catalog)
    }

    /// The columns of `table`; `None` when it does not exist. The name is matched exactly,
    /// else without regard to case, as MySQL's catalog and SQLite compare table names.
    pub fn columns(&self, table: &str) -> Option<&std::collections::BTreeSet<String>> {
        self.0.get(table).or_else(|| {
            self.0
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(table))
                .map(|(_, columns)| columns)
        })
    }
}

/// The source database, opened so that nothing can write to it through this program.
///
/// The connection is private: the only way to a statement is a transaction that the server
/// itself holds read-only. On MySQL every transaction is begun `READ ONLY` (SeaORM issues
/// `SET TRANSACTION READ ONLY` before `START TRANSACTION`), so a write fails with "Cannot
/// execute statement in a READ ONLY transaction" instead of changing the shop's data; there
/// is no autocommit statement to slip one through. A SQLite source file is opened read-only
/// (`SQLITE_OPEN_READONLY`). This is what `SET SESSION TRANSACTION READ ONLY` would give,
/// reached through the ORM (sqlx's MySQL options cannot set session variables); an account
/// with only `SELECT` (and `PROCESS`) is the server's own guarantee on top (README).
pub struct SourceDb {
    db: DatabaseConnection,
}

impl SourceDb {
    /// Opens the source at `url` (MySQL/MariaDB or SQLite) and checks that it answers.
    pub async fn connect(url: &str) -> Result<SourceDb> {
        Ok(SourceDb {
            db: connect(url, Role::Source).await?,
        })
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// A read-only transaction for a few reads that need no snapshot (the catalog, the list
    /// of open transactions, the newest stamps).
    pub async fn read(&self) -> Result<DatabaseTransaction> {
        let txn = match self.backend() {
            DbBackend::Sqlite => self.db.begin().await,
            _ => {
                self.db
                    .begin_with_config(None, Some(AccessMode::ReadOnly))
                    .await
            }
        };
        txn.context("cannot start a read-only transaction on the source database")
    }

    /// Starts the source snapshot: every read of a run sees the same committed state.
    /// MySQL: `REPEATABLE READ, READ ONLY`; SQLite: a deferred transaction (a WAL read
    /// snapshot) on a read-only file.
    pub async fn snapshot(&self) -> Result<DatabaseTransaction> {
        let txn = match self.backend() {
            DbBackend::Sqlite => self.db.begin().await,
            _ => {
                self.db
                    .begin_with_config(
                        Some(IsolationLevel::RepeatableRead),
                        Some(AccessMode::ReadOnly),
                    )
                    .await
            }
        };
        txn.context("cannot start a read snapshot on the source database")
    }

    /// Closes the connections; reads after this fail.
    pub async fn close(self) -> Result<(), sea_orm::DbErr> {
        self.db.close().await
    }
}

/// Starts the warehouse write transaction, taking SQLite's write lock at once so a concurrent
/// run waits (or fails) before reading anything.
pub async fn warehouse_txn(db: &DatabaseConnection) -> Result<DatabaseTransaction> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
    .context("cannot start a transaction on the warehouse")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_that_cannot_be_opened_are_named() {
        let dir = std::env::temp_dir().join(format!("sakila-sync-db-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let existing = dir.join("there.db");
        std::fs::write(&existing, b"").unwrap();
        let url = |p: &std::path::Path| crate::config::sqlite_url(p);

        // A new warehouse in an existing folder, and any existing file: left to SQLite.
        check_sqlite_path(&url(&dir.join("new.db")), Role::Warehouse).unwrap();
        check_sqlite_path(&url(&existing), Role::Source).unwrap();
        check_sqlite_path("sqlite::memory:", Role::Source).unwrap();

        let missing_folder = dir.join("no such folder").join("w.db");
        let err = check_sqlite_path(&url(&missing_folder), Role::Warehouse).unwrap_err();
        assert!(
            err.to_string().contains("the folder")
                && err.to_string().contains("no such folder")
                && err.to_string().ends_with("does not exist"),
            "{err}"
        );
        let err = check_sqlite_path(&url(&dir.join("gone.db")), Role::Source).unwrap_err();
        assert!(
            err.to_string().starts_with("the source database file")
                && err.to_string().contains("gone.db"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn the_incremental_writer_has_a_bigger_page_cache_than_the_bulk_load() {
        use sea_orm::ConnectionTrait;
        use sea_orm::sea_query::{Alias, Func, Query};
        let dir = tempfile::tempdir().unwrap();
        let url = crate::config::sqlite_url(&dir.path().join("w.db"));
        let cache = |db: DatabaseConnection| async move {
            let q = Query::select()
                .column(Alias::new("cache_size"))
                .from_function(Func::cust(Alias::new("pragma_cache_size")), Alias::new("p"))
                .to_owned();
            let row = db.query_one(&q).await.unwrap().unwrap();
            let kib: i64 = row.try_get("", "cache_size").unwrap();
            db.close().await.unwrap();
            kib
        };
        let writer = cache(connect(&url, Role::Warehouse).await.unwrap()).await;
        let bulk = cache(connect(&url, Role::BulkWarehouse).await.unwrap()).await;
        assert_eq!(writer, i64::from(WRITER_CACHE_KIB));
        // SQLite's default (2,000 KiB): the bulk load's index sorts are sized by it.
        assert_eq!(bulk, -2000);
    }

    #[tokio::test]
    async fn the_catalog_lists_the_columns_of_the_tables_asked_for_in_one_read() {
        use sea_orm::ConnectionTrait;
        use sea_orm::sea_query::{Alias, ColumnDef, Table};
        let db = Database::connect("sqlite::memory:").await.unwrap();
        for (table, columns) in [
            ("rental", &["rental_id", "last_update"][..]),
            ("Store", &["store_id"]),
        ] {
            let mut t = Table::create();
            t.table(Alias::new(table));
            for c in columns {
                t.col(ColumnDef::new(Alias::new(*c)).integer());
            }
            db.execute(&t).await.unwrap();
        }
        let catalog = Catalog::read(&db, &["rental", "store", "payment"])
            .await
            .unwrap();
        let names = |t: &str| {
            catalog
                .columns(t)
                .map(|c| c.iter().cloned().collect::<Vec<_>>())
        };
        assert_eq!(
            names("rental"),
            Some(vec!["last_update".into(), "rental_id".into()])
        );
        // Table names compare as SQLite compares them: without regard to case.
        assert_eq!(names("store"), Some(vec!["store_id".into()]));
        assert_eq!(names("payment"), None);
        // Only the tables asked for are read.
        let only = Catalog::read(&db, &["store"]).await.unwrap();
        assert!(only.columns("rental").is_none() && only.columns("Store").is_some());
        assert_eq!(table_columns(&db, "nothing").await.unwrap(), None);
    }

    #[test]
    fn driver_messages_lose_the_password_and_the_servers_source_line() {
        let url = "postgres://etl:hunter2@db:5432/w";
        assert_eq!(
            driver_message("role \"etl\" does not exist at line 768", url),
            "role \"etl\" does not exist"
        );
        assert_eq!(
            driver_message("password hunter2 rejected", url),
            "password *** rejected"
        );
        // Only a trailing line number is the driver's.
        assert_eq!(
            driver_message("see the note at line five", url),
            "see the note at line five"
        );
    }
}
