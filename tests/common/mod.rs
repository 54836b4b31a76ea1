//! Shared test support: a private MariaDB database per test (loaded with the real Sakila dump
//! or left empty), a temporary SQLite warehouse, and a canonical dump of a warehouse in which
//! surrogate keys are replaced by natural ids, so two warehouses can be compared row by row.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

/// Server URL without a database, from `SAKILA_TEST_MYSQL_URL`.
pub fn mysql_server_url() -> String {
    std::env::var("SAKILA_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string())
        .trim_end_matches('/')
        .to_string()
}

/// The real Sakila dump folder, from `SAKILA_DUMP_DIR`. The tests that need it are marked
/// `#[ignore = "needs the real Sakila dump ..."]`, so a plain `cargo test` reports them as
/// ignored, never as passed; `cargo test -- --include-ignored` runs them, and then a missing
/// dump fails them with this message.
pub fn dump_dir() -> PathBuf {
    let dir = std::env::var_os("SAKILA_DUMP_DIR").map(PathBuf::from);
    match dir {
        Some(d) if d.join("sakila-schema.sql").exists() && d.join("sakila-data.sql").exists() => d,
        Some(d) => panic!(
            "SAKILA_DUMP_DIR={} holds no sakila-schema.sql and sakila-data.sql (see README, Tests)",
            d.display()
        ),
        None => panic!(
            "this test needs the real Sakila dump: set SAKILA_DUMP_DIR to the folder of \
             sakila-schema.sql and sakila-data.sql (see README, Tests)"
        ),
    }
}

/// The real Sakila dump folder (see [`dump_dir`]).
#[macro_export]
macro_rules! require_dump {
    () => {
        common::dump_dir()
    };
}

/// A database name no other test (or test process) uses.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        nanos % 100_000
    )
}

/// Client arguments (`-h -P -u -p`) for the test server.
fn client_args() -> Vec<String> {
    let url = mysql_server_url();
    let rest = url.split("://").nth(1).unwrap_or("root@127.0.0.1:3306");
    let (auth, host) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let (user, pass) = auth
        .split_once(':')
        .map(|(u, p)| (u, Some(p)))
        .unwrap_or((auth, None));
    let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
    let mut args = vec![
        format!("-h{host}"),
        format!("-P{port}"),
        format!("-u{user}"),
        "--protocol=TCP".into(),
    ];
    if let Some(p) = pass {
        args.push(format!("-p{p}"));
    }
    args
}

/// Runs SQL text through the `mariadb` command-line client (the dump has DELIMITER blocks the
/// driver cannot take).
pub fn mariadb_client(sql: &str) {
    let client = if Command::new("mariadb").arg("--version").output().is_ok() {
        "mariadb"
    } else {
        "mysql"
    };
    let mut child = Command::new(client)
        .args(client_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the mariadb client runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "mariadb client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private database holding the real Sakila; returns its URL.
pub fn load_sakila(dump: &std::path::Path, db: &str) -> String {
    let schema = std::fs::read_to_string(dump.join("sakila-schema.sql")).unwrap();
    let data = std::fs::read_to_string(dump.join("sakila-data.sql")).unwrap();
    mariadb_client(&format!(
        "{}\n{}",
        rename_database(&schema, db),
        rename_database(&data, db)
    ));
    format!("{}/{db}", mysql_server_url())
}

/// Rewrites `sakila` as a whole word (the DROP/CREATE/USE lines and `sakila.x` in views).
fn rename_database(text: &str, db: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < text.len() {
        if text[i..].starts_with("sakila")
            && (i == 0 || !word(bytes[i - 1]))
            && (i + 6 >= bytes.len() || !word(bytes[i + 6]))
        {
            out.push_str(db);
            i += 6;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// An empty private database; returns its URL.
pub fn empty_database(db: &str) -> String {
    mariadb_client(&format!(
        "DROP DATABASE IF EXISTS `{db}`; CREATE DATABASE `{db}`;"
    ));
    format!("{}/{db}", mysql_server_url())
}

/// Drops a test database; never panics (it runs in `Drop`), and gives up after a short lock
/// wait instead of hanging when a failed test left a transaction open on it.
pub fn drop_database(db: &str) {
    let sql = format!("SET SESSION lock_wait_timeout = 20; DROP DATABASE IF EXISTS `{db}`;");
    let client = if Command::new("mariadb").arg("--version").output().is_ok() {
        "mariadb"
    } else {
        "mysql"
    };
    let child = Command::new(client)
        .args(client_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Ok(mut child) = child {
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(sql.as_bytes());
        }
        let _ = child.wait();
    }
}

/// Drops its database when the test ends, passed or failed.
pub struct DbGuard(pub String);
impl Drop for DbGuard {
    fn drop(&mut self) {
        if std::env::var_os("SAKILA_TEST_KEEP_DB").is_none() {
            drop_database(&self.0);
        }
    }
}

/// A private real-Sakila database: (url, guard).
pub fn sakila_db(dump: &std::path::Path, prefix: &str) -> (String, DbGuard) {
    let name = unique_name(prefix);
    let url = load_sakila(dump, &name);
    (url, DbGuard(name))
}

/// A fresh warehouse file in a temporary folder: (url, folder guard).
pub fn temp_warehouse() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("warehouse.db").display());
    (url, dir)
}

/// Which engine a test's warehouse runs on: the tests that matter run on both, through the
/// same code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wh {
    Sqlite,
    Postgres,
}

/// PostgreSQL server URL without a database, from `SAKILA_TEST_POSTGRES_URL`.
pub fn postgres_server_url() -> String {
    std::env::var("SAKILA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
        .trim_end_matches('/')
        .to_string()
}

/// Runs `sql` with `psql` on the database at `url` and returns what it printed, unaligned and
/// trimmed (one value per line): for a test that reads a PostgreSQL warehouse as a user would.
pub fn psql_at(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qtAc", sql])
        .output()
        .expect("psql (postgresql-client) must be installed for the PostgreSQL tests");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `sql` with `psql` on the test server's `postgres` database.
pub fn psql(sql: &str) {
    psql_at(&format!("{}/postgres", postgres_server_url()), sql);
}

/// A test's warehouse, removed when dropped: a temporary folder, or a PostgreSQL database.
pub enum WarehouseGuard {
    Dir(tempfile::TempDir),
    Postgres(String),
}

impl Drop for WarehouseGuard {
    fn drop(&mut self) {
        if let WarehouseGuard::Postgres(db) = self {
            psql(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
        }
    }
}

/// A fresh, empty warehouse on `kind`: (url, guard).
pub fn temp_warehouse_on(kind: Wh) -> (String, WarehouseGuard) {
    match kind {
        Wh::Sqlite => {
            let (url, dir) = temp_warehouse();
            (url, WarehouseGuard::Dir(dir))
        }
        Wh::Postgres => {
            let db = unique_name("sakila_sync_wh");
            psql(&format!("CREATE DATABASE {db}"));
            (
                format!("{}/{db}", postgres_server_url()),
                WarehouseGuard::Postgres(db),
            )
        }
    }
}

/// A plain connection for inspecting or corrupting a database in tests.
pub async fn raw(url: &str) -> DatabaseConnection {
    Database::connect(url).await.unwrap()
}

pub async fn query_strings(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
    .into_iter()
    .map(|r| r.try_get_by_index::<String>(0).unwrap())
    .collect()
}

pub async fn query_i64(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_string(),
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap();
    row.try_get_by_index::<Option<i64>>(0).unwrap().unwrap_or(0)
}

/// Waits (a minute at most) until the server has no transaction open for more than a
/// second. Which tables a run may skip depends on the previous run's horizon, the start of
/// the oldest transaction open anywhere on the server: a test that asserts which tables are
/// skipped calls this before the run whose horizon it relies on, so that another test's
/// transaction does not move that horizon back.
pub async fn await_no_old_transactions(db: &DatabaseConnection) {
    let sql = "SELECT COUNT(*) FROM information_schema.INNODB_TRX \
               WHERE CONVERT_TZ(trx_started, 'SYSTEM', '+00:00') < UTC_TIMESTAMP() - INTERVAL 1 SECOND";
    for _ in 0..300 {
        if query_i64(db, sql).await == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("a transaction stayed open on the test server for over a minute");
}

pub async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Every warehouse table as sorted text rows, surrogate keys replaced by natural ids and
/// soft-deleted dimension members left out, so a full-load and an incremental warehouse
/// compare equal when they hold the same facts. The columns come from each entity, so a
/// column added to the star is compared without touching this.
pub async fn canonical(url: &str) -> BTreeMap<&'static str, Vec<String>> {
    use sakila_sync::warehouse::entity::prelude::*;
    let db = raw(url).await;
    let pg = url.starts_with("postgres");
    let tables = [
        projection(DimDate, pg),
        projection(DimFilm, pg),
        projection(DimActor, pg),
        projection(DimCategory, pg),
        projection(DimCustomer, pg),
        projection(DimStore, pg),
        projection(DimStaff, pg),
        projection(BridgeFilmActor, pg),
        projection(BridgeFilmCategory, pg),
        projection(FactRental, pg),
        projection(FactPayment, pg),
    ];
    let mut out = BTreeMap::new();
    for (name, sql) in tables {
        out.insert(name, query_strings(&db, &sql).await);
    }
    out
}

/// The canonical rows of one table, as one SQL query: every column of the entity, in order,
/// except a dimension's surrogate key; a key pointing at a dimension member replaced by that
/// member's natural id (`film_key` by `film_id`); date keys kept (they are natural).
fn projection<E: sea_orm::EntityTrait>(entity: E, postgres: bool) -> (&'static str, String) {
    use sea_orm::Identity;
    use sea_orm::sea_query::TableRef;
    use sea_orm::{IdenStatic, Iterable, PrimaryKeyToColumn, RelationTrait};
    let table = entity.table_name();
    let keys: Vec<&str> = E::PrimaryKey::iter()
        .map(|k| k.into_column().as_str())
        .collect();
    let mut references = std::collections::HashMap::new();
    for rel in E::Relation::iter() {
        let def = rel.def();
        if def.is_owner {
            continue;
        }
        if let (Identity::Unary(from), Identity::Unary(to), TableRef::Table(name, _)) =
            (&def.from_col, &def.to_col, &def.to_tbl)
        {
            references.insert(from.to_string(), (name.1.to_string(), to.to_string()));
        }
    }
    let soft_deleted = E::Column::iter().any(|c| c.as_str() == "is_deleted");
    let mut columns = Vec::new();
    for column in E::Column::iter().map(|c| c.as_str()) {
        match references.get(column) {
            Some((dim, _)) if dim == "dim_date" => columns.push(format!("t.{column}")),
            Some((dim, key)) => columns.push(format!(
                "(SELECT {} FROM {dim} WHERE {key} = t.{column})",
                key.replace("_key", "_id")
            )),
            None if soft_deleted && keys.contains(&column) => {} // the surrogate key
            None => columns.push(format!("t.{column}")),
        }
    }
    let filter = if soft_deleted {
        " WHERE NOT t.is_deleted"
    } else {
        ""
    };
    // SQLite's quote() and PostgreSQL's quote_nullable() both write NULL apart from 'NULL'.
    let quote = if postgres { "quote_nullable" } else { "quote" };
    let sql = format!(
        "SELECT {} FROM {table} t{filter} ORDER BY 1",
        columns
            .iter()
            .map(|c| format!("{quote}({c})"))
            .collect::<Vec<_>>()
            .join("||'|'||")
    );
    (table, sql)
}

/// Asserts two canonical warehouses are equal, naming the first differing rows per table.
pub fn assert_same_warehouse(
    a: &BTreeMap<&'static str, Vec<String>>,
    b: &BTreeMap<&'static str, Vec<String>>,
) {
    let mut problems = Vec::new();
    for (table, rows_a) in a {
        let rows_b = &b[table];
        if rows_a != rows_b {
            let set_a: std::collections::BTreeSet<_> = rows_a.iter().collect();
            let set_b: std::collections::BTreeSet<_> = rows_b.iter().collect();
            let only_a: Vec<_> = set_a.difference(&set_b).take(3).collect();
            let only_b: Vec<_> = set_b.difference(&set_a).take(3).collect();
            problems.push(format!(
                "{table}: {} vs {} rows; only in first: {only_a:?}; only in second: {only_b:?}",
                rows_a.len(),
                rows_b.len()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "warehouses differ:\n{}",
        problems.join("\n")
    );
}

/// The path of the built `sakila-sync` binary, for CLI tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sakila-sync")
}

/// Runs the CLI with `args`, which must fail as any error does: exit code 2 and one line on
/// stderr. Returns that line.
#[allow(dead_code)] // not every test binary uses it
pub fn cli_error(args: &[&str]) -> String {
    let out = std::process::Command::new(bin())
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    stderr
}

/// A private real Sakila in MariaDB, fully loaded into a fresh warehouse, with a raw
/// connection to play the OLTP application; `incremental` runs with `options`.
pub struct Env {
    pub src_url: String,
    pub wh_url: String,
    pub src: sakila_sync::db::SourceDb,
    pub wh: DatabaseConnection,
    /// Raw connection to the source, to play the OLTP application.
    pub my: DatabaseConnection,
    pub db: DbGuard,
    pub options: sakila_sync::sync::incremental::Options,
    pub kind: Wh,
    _wh: WarehouseGuard,
}

impl Env {
    pub async fn loaded(prefix: &str, options: sakila_sync::sync::incremental::Options) -> Env {
        Env::loaded_on(Wh::Sqlite, prefix, options).await
    }

    /// [`Env::loaded`] with the warehouse on `kind`.
    pub async fn loaded_on(
        kind: Wh,
        prefix: &str,
        options: sakila_sync::sync::incremental::Options,
    ) -> Env {
        use sakila_sync::db::{Role, connect};
        let (src_url, db) = sakila_db(&dump_dir(), prefix);
        let (wh_url, guard) = temp_warehouse_on(kind);
        let src = sakila_sync::db::SourceDb::connect(&src_url).await.unwrap();
        let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
        sakila_sync::sync::full_load::full_load(&src, &wh)
            .await
            .unwrap();
        let my = raw(&src_url).await;
        Env {
            src_url,
            wh_url,
            src,
            wh,
            my,
            db,
            options,
            kind,
            _wh: guard,
        }
    }

    pub async fn sql(&self, sql: &str) {
        exec(&self.my, sql).await;
    }

    pub async fn incremental(&self) -> sakila_sync::sync::run::RunReport {
        sakila_sync::sync::incremental::incremental(&self.src, &self.wh, self.options)
            .await
            .unwrap()
    }

    /// A second connection to the source, for a transaction of its own.
    pub async fn other_connection(&self) -> DatabaseConnection {
        raw(&self.src_url).await
    }

    pub async fn wh_i64(&self, sql: &str) -> i64 {
        query_i64(&raw(&self.wh_url).await, sql).await
    }

    pub async fn wh_strings(&self, sql: &str) -> Vec<String> {
        query_strings(&raw(&self.wh_url).await, sql).await
    }

    /// The contract: the warehouse equals a full-load of the same source into a new file.
    pub async fn assert_equals_full_load(&self) {
        use sakila_sync::db::{Role, connect};
        let (fresh_url, _guard) = temp_warehouse_on(self.kind);
        let fresh = connect(&fresh_url, Role::Warehouse).await.unwrap();
        sakila_sync::sync::full_load::full_load(&self.src, &fresh)
            .await
            .unwrap();
        fresh.close().await.ok();
        assert_same_warehouse(&canonical(&fresh_url).await, &canonical(&self.wh_url).await);
    }
}
