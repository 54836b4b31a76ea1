//! The writer lock of a warehouse on a PostgreSQL server: a session-level advisory lock,
//! taken by a connection of its own that lives as long as the command.
//!
//! Why an advisory lock: like `flock` on a file, the server releases it when the session
//! ends in any way (a killed process's connection is closed by the kernel, the server sees
//! it go), so a crashed run never leaves the warehouse locked. Its key is derived from the
//! warehouse's schema, so two warehouses in two schemas of one database do not exclude each
//! other. The session's `application_name` says who holds it (PID, command, since when),
//! which a refused writer and `status` read from `pg_stat_activity`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, JoinType, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::{Locked, WriterLock};
use crate::db::{self, Role};
use std::sync::atomic::{AtomicBool, Ordering};

/// The session holding the lock; the lock goes with it.
#[derive(Debug)]
pub struct ServerLock {
    db: DatabaseConnection,
    key: i64,
    /// The warehouse's URL, redacted, for [`Locked`].
    warehouse: String,
}

impl ServerLock {
    /// Makes sure the lock is still this process's. The session that holds it can end while
    /// the process goes on (the server restarted, an administrator terminated it, the
    /// connection dropped, `idle_session_timeout`), and the lock ends with it: a `watch` that
    /// went on writing would then share the warehouse with the next writer. The pool opens a
    /// new session for the check; on it the lock is taken again, unless another writer has
    /// taken it meanwhile ([`Locked`]).
    pub async fn hold(&self) -> Result<()> {
        if self.is_mine().await? {
            return Ok(());
        }
        if try_lock(&self.db, self.key).await? {
            tracing::warn!(
                "the session holding the warehouse's writer lock had ended (a server restart, \
                 a terminated session?); the lock is taken again"
            );
            return Ok(());
        }
        let holder = holder_of(&self.db, self.key)
            .await?
            .unwrap_or_else(|| "a session that is ending".to_string());
        Err(Locked {
            warehouse: self.warehouse.clone(),
            holder,
        }
        .into())
    }

    /// Unlocks, then ends the session. Ending the session alone (as dropping this does, or a
    /// killed process) releases the lock too, but only once the server's backend has finished
    /// exiting, a moment after the client has gone: a writer started right after would be
    /// refused by a holder that no longer exists.
    pub async fn release(self) {
        // An unlock on a session that does not hold the lock (it ended under this process,
        // and another writer has it now) would make the server warn.
        if self.is_mine().await.unwrap_or(false) {
            let unlock = Query::select()
                .expr(Func::cust(Alias::new("pg_advisory_unlock")).arg(self.key))
                .to_owned();
            if let Err(e) = self.db.query_one(&unlock).await {
                tracing::debug!("cannot unlock the warehouse's writer lock (closing instead): {e}");
            }
        }
        self.db.close().await.ok();
        TAKEN.store(false, Ordering::SeqCst);
    }

    /// Whether this process's session holds the lock now.
    async fn is_mine(&self) -> Result<bool> {
        let (l, pid) = (Alias::new("l"), Alias::new("pid"));
        let mine = held(&l, self.key)
            .expr(Expr::val(1))
            .and_where(Expr::col((l.clone(), pid)).eq(Func::cust(Alias::new("pg_backend_pid"))))
            .to_owned();
        let what = "cannot check the warehouse's writer lock";
        Ok(self.db.query_one(&mine).await.context(what)?.is_some())
    }
}

/// How long a refused writer keeps trying when the lock's holder has already gone from the
/// server's list of sessions: its backend is exiting, and the lock goes with it.
const VANISHING: Duration = Duration::from_secs(5);

/// Takes the lock of the warehouse at `url` for `command`: fails at once with [`Locked`] if
/// another session holds it, or with `wait`, tries again until it is free or `wait` has
/// passed.
pub async fn acquire(url: &str, command: &str, wait: Option<Duration>) -> Result<WriterLock> {
    let since = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC");
    let me = format!("PID {}, {command}, since {since}", std::process::id());
    let db = db::connect_named(url, Role::WriterLock, &me).await?;
    let key = key(&db).await?;
    let deadline = wait.map(|w| Instant::now().checked_add(w));
    let vanishing_until = Instant::now() + VANISHING;
    let mut announced = false;
    loop {
        if try_lock(&db, key).await? {
            let warehouse = crate::config::redact(url);
            TAKEN.store(true, Ordering::SeqCst);
            return Ok(WriterLock::Server(ServerLock { db, key, warehouse }));
        }
        let holder = match holder_of(&db, key).await? {
            Some(holder) => holder,
            // Held by a session that is ending (a writer that just finished or was killed).
            None if Instant::now() < vanishing_until => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            None => "a session that is ending".to_string(),
        };
        match deadline {
            Some(d) if d.is_none_or(|d| Instant::now() < d) => {
                if !announced {
                    tracing::info!("waiting for the warehouse's other writer ({holder})");
                    announced = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => {
                db.close().await.ok();
                return Err(Locked {
                    warehouse: crate::config::redact(url),
                    holder,
                }
                .into());
            }
        }
    }
}

/// Whether this process took a server warehouse's writer lock (and has not let it go): its
/// runs then check, just before they commit, that the lock is still its own
/// ([`still_ours`]). A process that took none (a library caller, a test) is not checked.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Fails unless a session of this process still holds the writer lock of the warehouse `db`
/// is connected to, when this process took it. The lock's session can end under a run (an
/// administrator's `pg_terminate_backend`, `idle_session_timeout`) while the run's own
/// connection goes on, and a writer started meanwhile may be writing beside it: asked on the
/// run's own connection just before its commit, such a run rolls back instead.
pub async fn still_ours<C: ConnectionTrait>(db: &C) -> Result<()> {
    if !TAKEN.load(Ordering::SeqCst) {
        return Ok(());
    }
    let key = key(db).await?;
    let (l, a) = (Alias::new("l"), Alias::new("a"));
    let ours = held(&l, key)
        .expr(Expr::val(1))
        .join_as(
            JoinType::InnerJoin,
            Alias::new("pg_stat_activity"),
            a.clone(),
            Expr::col((a.clone(), Alias::new("pid"))).equals((l.clone(), Alias::new("pid"))),
        )
        .and_where(
            Expr::col((a, Alias::new("application_name")))
                .like(format!("PID {}, %", std::process::id())),
        )
        .to_owned();
    let found = db
        .query_one(&ours)
        .await
        .context("cannot check the warehouse's writer lock")?;
    anyhow::ensure!(
        found.is_some(),
        "the warehouse's writer lock was lost during the run (its session ended: a terminated \
         session, a dropped connection?), so another writer may have started: the run was \
         rolled back; run it again"
    );
    Ok(())
}

/// Who holds the lock of the warehouse `db` is connected to (`PID 1234, incremental, since
/// ...`), read from the server's list of sessions without touching the lock.
pub async fn holder(db: &DatabaseConnection) -> Result<Option<String>> {
    let key = key(db).await?;
    holder_of(db, key).await
}

async fn holder_of(db: &DatabaseConnection, key: i64) -> Result<Option<String>> {
    let (l, a, d) = (Alias::new("l"), Alias::new("a"), Alias::new("d"));
    let q = held(&l, key)
        .column((a.clone(), Alias::new("application_name")))
        .join_as(
            JoinType::InnerJoin,
            Alias::new("pg_stat_activity"),
            a.clone(),
            Expr::col((a.clone(), Alias::new("pid"))).equals((l.clone(), Alias::new("pid"))),
        )
        .join_as(
            JoinType::InnerJoin,
            Alias::new("pg_database"),
            d.clone(),
            Expr::col((d.clone(), Alias::new("oid"))).equals((l.clone(), Alias::new("database"))),
        )
        .and_where(
            Expr::col((d.clone(), Alias::new("datname")))
                .eq(Func::cust(Alias::new("current_database"))),
        )
        .to_owned();
    let row = db
        .query_one(&q)
        .await
        .context("cannot read who holds the warehouse's writer lock")?;
    Ok(row
        .map(|r| r.try_get_by_index::<Option<String>>(0))
        .transpose()?
        .flatten()
        .map(|name| {
            if name.is_empty() {
                "a session that does not say who it is".to_string()
            } else {
                name
            }
        }))
}

/// The granted advisory lock on `key`, as `pg_locks` (aliased `l`) lists it: a 31-bit key's
/// high half (`classid`) is 0, its low half `objid`. Selects nothing yet: the caller adds the
/// columns it wants.
fn held(l: &Alias, key: i64) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .from_as(Alias::new("pg_locks"), l.clone())
        .and_where(Expr::col((l.clone(), Alias::new("locktype"))).eq("advisory"))
        .and_where(Expr::col((l.clone(), Alias::new("granted"))).eq(true))
        .and_where(
            Expr::col((l.clone(), Alias::new("classid")))
                .cast_as(Alias::new("bigint"))
                .eq(0),
        )
        .and_where(
            Expr::col((l.clone(), Alias::new("objid")))
                .cast_as(Alias::new("bigint"))
                .eq(key),
        )
        .limit(1)
        .to_owned()
}

/// Takes the lock on `key` for `db`'s session if it is free (`pg_try_advisory_lock`).
async fn try_lock(db: &DatabaseConnection, key: i64) -> Result<bool> {
    let taken = Query::select()
        .expr(Func::cust(Alias::new("pg_try_advisory_lock")).arg(key))
        .to_owned();
    let row = db
        .query_one(&taken)
        .await
        .context("cannot take the warehouse's writer lock")?
        .context("the server did not answer the lock request")?;
    Ok(row.try_get_by_index::<bool>(0)?)
}

/// The lock's key: a 31-bit hash of the warehouse's schema, so that the key's high half (the
/// lock's `classid`) is 0.
async fn key<C: ConnectionTrait>(db: &C) -> Result<i64> {
    let q = Query::select()
        .expr(Func::cust(Alias::new("CURRENT_SCHEMA")))
        .to_owned();
    let schema: String = db
        .query_one(&q)
        .await
        .context("cannot read the warehouse's schema")?
        .context("the server did not name the current schema")?
        .try_get_by_index(0)?;
    Ok(key_of(&schema))
}

/// The lock key of the warehouse in `schema`.
pub fn key_of(schema: &str) -> i64 {
    i64::from(crc32fast::hash(format!("sakila-sync warehouse {schema}").as_bytes()) >> 1)
}
