//! Why a command failed, told apart where the answer changes what to do next.
//!
//! Errors travel as `anyhow::Error`, with the context that makes their one line readable.
//! The failures a caller must recognise are typed ([`NotSakila`], [`SchemaError`],
//! [`MissingMember`]) and keep the message the CLI prints, and [`kind`] sorts any error
//! into an [`ErrorKind`]: a database that is away is worth waiting for, a refusal
//! (a wrong password, a database that is not Sakila, a warehouse of another version) is not
//! until someone changes something.

use sea_orm::{DbErr, RuntimeErr};

/// What a failure calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A database could not be reached, went away, or was busy: the same command may succeed
    /// later, unchanged.
    Unavailable,
    /// The configuration or a database refuses the command (wrong password, missing
    /// privilege, unknown database, not Sakila, a warehouse of another version): it fails
    /// the same way until someone fixes it.
    Refused,
    /// Anything else: the source breaking the star's contract, a failed write.
    Failed,
}

/// The source database lacks Sakila tables, or has them in another shape.
#[derive(Debug, thiserror::Error)]
#[error("the source database is not Sakila: missing or unreadable tables: {}", .tables.join(", "))]
pub struct NotSakila {
    /// Each table lacking, or lacking columns (`"staff (no column email)"`).
    pub tables: Vec<String>,
}

/// A warehouse reader gave up waiting for a lock that a full-load holds until it commits.
///
/// On PostgreSQL, the star's tables when the load recreates them: on a first load (they are
/// empty until it commits), or for tables of another version's shape; a schema upgrade holds
/// one briefly. On SQLite, the whole file during a first load, which writes it through a
/// rollback journal ([`crate::db::Role::FirstLoad`]). Either way what is committed is an empty
/// star.
#[derive(Debug, thiserror::Error)]
#[error(
    "the warehouse is being loaded for the first time (or its tables rebuilt) by another \
     sakila-sync, which holds them until it commits: try again once it has (`sakila-sync \
     status` shows the run)"
)]
pub struct FirstLoad;

/// A SQLite warehouse whose first full-load was killed before it committed: the file holds
/// part of that load, and its journal (`<file>-journal`) the way back. Only a writer may roll
/// it back, and the next one does before anything else; a read-only reader cannot.
#[derive(Debug, thiserror::Error)]
#[error(
    "the warehouse's first full-load was stopped before it committed and left its journal: \
     the next `full-load`, `incremental` or `init` rolls it back (the warehouse is then as \
     it was); until then it cannot be read"
)]
pub struct UnfinishedFirstLoad;

/// Whether `e` is a reader's lock timeout, anywhere in its chain: PostgreSQL's `lock_timeout`
/// (SQLSTATE 55P03), or SQLite's busy timeout (`SQLITE_BUSY` and its extended codes).
pub fn is_lock_timeout(e: &anyhow::Error) -> bool {
    database_codes(e).any(|(code, sqlite)| {
        if sqlite {
            primary(&code) == Some(SQLITE_BUSY)
        } else {
            code == "55P03"
        }
    })
}

/// Whether `e` is a read-only SQLite reader finding a journal it would have to roll back
/// (`SQLITE_READONLY_ROLLBACK`).
pub fn is_unfinished_first_load(e: &anyhow::Error) -> bool {
    database_codes(e).any(|(code, sqlite)| sqlite && code == SQLITE_READONLY_ROLLBACK.to_string())
}

const SQLITE_BUSY: i32 = 5;
const SQLITE_READONLY_ROLLBACK: i32 = 8 | (3 << 8);

/// The primary result code of a SQLite extended result code (sqlx reports the extended one).
fn primary(code: &str) -> Option<i32> {
    code.parse::<i32>().ok().map(|c| c & 0xff)
}

/// The database error codes in `e`'s chain, each with whether SQLite reported it.
fn database_codes(e: &anyhow::Error) -> impl Iterator<Item = (String, bool)> + '_ {
    e.chain().filter_map(|cause| {
        let Some(DbErr::Exec(RuntimeErr::SqlxError(x)) | DbErr::Query(RuntimeErr::SqlxError(x))) =
            cause.downcast_ref::<DbErr>()
        else {
            return None;
        };
        let d = x.as_database_error()?;
        let sqlite = d
            .try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>()
            .is_some();
        d.code().map(|c| (c.into_owned(), sqlite))
    })
}

/// `e`, or what a warehouse reader should be told instead: [`FirstLoad`] for a lock timeout,
/// [`UnfinishedFirstLoad`] for a journal it cannot roll back.
pub fn explain_reader_error(e: anyhow::Error) -> anyhow::Error {
    first_load_in_the_way(&e).unwrap_or(e)
}

/// What a warehouse reader is told when `e` says a first load stands in the way (it holds
/// the warehouse, or a killed one left its journal); `None` when `e` is something else. The
/// readers' first query (the schema version) asks, so that neither is taken for a warehouse
/// that was never initialised.
pub fn first_load_in_the_way(e: &anyhow::Error) -> Option<anyhow::Error> {
    if is_lock_timeout(e) {
        Some(FirstLoad.into())
    } else if is_unfinished_first_load(e) {
        Some(UnfinishedFirstLoad.into())
    } else {
        None
    }
}

/// The warehouse is not one this sakila-sync can read as it is.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the warehouse has no sakila-sync schema ({0}): run `sakila-sync full-load` first")]
    Missing(String),
    #[error("the warehouse has no schema version: run `sakila-sync full-load` first")]
    NoVersion,
    #[error("the warehouse has schema version {found}, this sakila-sync reads version {expected}")]
    Version {
        found: String,
        expected: &'static str,
    },
    #[error(
        "the warehouse tables {} were written by another version of sakila-sync: run \
         `sakila-sync incremental` or `sakila-sync full-load` to rebuild them",
        .tables.join(", ")
    )]
    Outdated { tables: Vec<&'static str> },
    #[error(
        "the warehouse has schema version {found}, this sakila-sync writes version {writes}: use \
         a new warehouse file"
    )]
    Unknown { found: String, writes: &'static str },
    #[error(
        "the warehouse holds tables ({}) but no sakila-sync schema version: it is not a \
         sakila-sync warehouse (or one too old to upgrade); {remedy}",
        list_some(.tables)
    )]
    NotOurs {
        /// The tables in the way.
        tables: Vec<String>,
        /// What to do instead, in the backend's words.
        remedy: &'static str,
    },
}

/// `message` without the line of the PostgreSQL server's own source code that sqlx appends to
/// the server's errors (`permission denied for schema x at line 3655`): it means nothing to a
/// user. Only a trailing ` at line N`, N all digits, is taken off.
pub fn without_server_line(message: &str) -> &str {
    match message.rsplit_once(" at line ") {
        Some((text, line)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => text,
        _ => message,
    }
}

/// The first few of `names`, joined, and how many more there are.
fn list_some(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut list = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        list.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    list
}

/// A source row refers to a member the source does not have (a broken reference the
/// source's foreign keys should have refused).
#[derive(Debug, thiserror::Error)]
#[error("{row} refers to {what} {id}, which {missing}")]
pub struct MissingMember {
    /// The referring row, e.g. `rental 17` or `film_actor`.
    pub row: String,
    /// The kind of member, e.g. `film`.
    pub what: &'static str,
    pub id: u32,
    /// How it is missing, e.g. `does not exist`.
    pub missing: &'static str,
}

/// A database could not be connected to. `kind` was sorted from the driver's error before its
/// message was scrubbed of any password.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConnectFailed {
    pub message: String,
    pub kind: ErrorKind,
}

/// Sorts an error by its causes: the first typed error or database error in its chain.
pub fn kind(e: &anyhow::Error) -> ErrorKind {
    for cause in e.chain() {
        if cause.is::<NotSakila>() || cause.is::<SchemaError>() {
            return ErrorKind::Refused;
        }
        if let Some(c) = cause.downcast_ref::<ConnectFailed>() {
            return c.kind;
        }
        if cause.is::<crate::lock::Locked>() {
            return ErrorKind::Unavailable;
        }
        if cause.is::<MissingMember>() {
            return ErrorKind::Failed;
        }
        if let Some(db) = cause.downcast_ref::<DbErr>() {
            return db_kind(db);
        }
    }
    ErrorKind::Failed
}

/// Whether `e` comes from a full disk: SQLite's `SQLITE_FULL` (13), MySQL's "disk full"
/// (1021) or "table is full" (1114), PostgreSQL's `disk_full` (53100), or the operating
/// system's "no space left on device".
pub fn is_disk_full(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::StorageFull;
        }
        let Some(
            DbErr::Conn(RuntimeErr::SqlxError(s))
            | DbErr::Exec(RuntimeErr::SqlxError(s))
            | DbErr::Query(RuntimeErr::SqlxError(s)),
        ) = cause.downcast_ref::<DbErr>()
        else {
            return false;
        };
        match &**s {
            sea_orm::sqlx::Error::Database(d) => {
                matches!(d.code().as_deref(), Some("13" | "1021" | "1114" | "53100"))
            }
            sea_orm::sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        }
    })
}

/// Sorts a database error by its cause.
pub fn db_kind(e: &DbErr) -> ErrorKind {
    let runtime = match e {
        DbErr::ConnectionAcquire(_) => return ErrorKind::Unavailable,
        DbErr::Conn(r) | DbErr::Exec(r) | DbErr::Query(r) => r,
        _ => return ErrorKind::Failed,
    };
    match runtime {
        RuntimeErr::SqlxError(e) => sqlx_kind(e),
        _ => ErrorKind::Failed,
    }
}

fn sqlx_kind(e: &sea_orm::sqlx::Error) -> ErrorKind {
    use sea_orm::sqlx::Error;
    match e {
        Error::Io(_)
        | Error::Tls(_)
        | Error::Protocol(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => ErrorKind::Unavailable,
        Error::Configuration(_) => ErrorKind::Refused,
        Error::Database(d) => d.code().map_or(ErrorKind::Failed, |c| code_kind(&c)),
        _ => ErrorKind::Failed,
    }
}

/// A server's error code: MySQL/MariaDB numbers, PostgreSQL SQLSTATEs, SQLite result codes.
fn code_kind(code: &str) -> ErrorKind {
    match code {
        // MySQL: access denied (user, database), command or column denied, unknown database,
        // unknown table, privilege needed.
        "1044" | "1045" | "1049" | "1142" | "1143" | "1146" | "1227" | "1698"
        // PostgreSQL: authentication failed, no such database, privilege, undefined table.
        | "28000" | "28P01" | "3D000" | "42501" | "42P01" => ErrorKind::Refused,
        // MySQL: too many connections, lock wait timeout, deadlock, server shutting down,
        // gone away, lost connection.
        "1040" | "1053" | "1205" | "1213" | "2006" | "2013"
        // PostgreSQL: too many connections, shutting down, cannot connect now.
        | "53300" | "57P01" | "57P02" | "57P03"
        // SQLite: busy, locked.
        | "5" | "6" => ErrorKind::Unavailable,
        _ => ErrorKind::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn sqlite_extended_codes_are_read_by_their_primary_code() {
        // SQLITE_BUSY, SQLITE_BUSY_RECOVERY, SQLITE_BUSY_SNAPSHOT; then SQLITE_READONLY_ROLLBACK.
        for code in ["5", "261", "517"] {
            assert_eq!(primary(code), Some(SQLITE_BUSY), "{code}");
        }
        assert_eq!(SQLITE_READONLY_ROLLBACK, 776);
        assert_eq!(primary("776"), Some(8));
        assert_eq!(primary("55P03"), None);
    }

    #[test]
    fn typed_errors_keep_their_one_line_and_are_sorted() {
        let e = anyhow::Error::new(NotSakila {
            tables: vec!["film".into(), "staff (no column email)".into()],
        })
        .context("cannot check the source");
        assert_eq!(kind(&e), ErrorKind::Refused);
        assert_eq!(
            e.root_cause().to_string(),
            "the source database is not Sakila: missing or unreadable tables: film, staff (no column email)"
        );
        let e = anyhow::Error::new(SchemaError::Outdated {
            tables: vec!["dim_customer"],
        });
        assert_eq!(kind(&e), ErrorKind::Refused);
        assert!(
            e.to_string()
                .contains("dim_customer were written by another version")
        );
        let e = anyhow::Error::new(MissingMember {
            row: "rental 7".into(),
            what: "film",
            id: 3,
            missing: "is not in the source or the warehouse",
        });
        assert_eq!(kind(&e), ErrorKind::Failed);
        assert_eq!(
            e.to_string(),
            "rental 7 refers to film 3, which is not in the source or the warehouse"
        );
    }

    #[test]
    fn database_errors_are_sorted_by_their_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let away = DbErr::Conn(RuntimeErr::SqlxError(std::sync::Arc::new(
            sea_orm::sqlx::Error::Io(io),
        )));
        let e = anyhow::Error::new(away).context("cannot connect to the source");
        assert_eq!(kind(&e), ErrorKind::Unavailable);
        let e: anyhow::Result<()> = Err(DbErr::ConnectionAcquire(
            sea_orm::error::ConnAcquireErr::Timeout,
        ))
        .context("cannot read source table film");
        assert_eq!(kind(&e.unwrap_err()), ErrorKind::Unavailable);
        let e = anyhow::Error::new(DbErr::Custom("odd".into()));
        assert_eq!(kind(&e), ErrorKind::Failed);
    }

    #[test]
    fn server_codes_tell_refusals_from_outages() {
        assert_eq!(code_kind("1045"), ErrorKind::Refused);
        assert_eq!(code_kind("1049"), ErrorKind::Refused);
        assert_eq!(code_kind("28P01"), ErrorKind::Refused);
        assert_eq!(code_kind("2013"), ErrorKind::Unavailable);
        assert_eq!(code_kind("5"), ErrorKind::Unavailable);
        assert_eq!(code_kind("1062"), ErrorKind::Failed);
    }
}
