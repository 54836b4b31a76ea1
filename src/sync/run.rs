//! Run bookkeeping: per-table statistics, the `sync_run` row, and the summary printed at the end.
//!
//! The `sync_run` row is inserted (status `running`) before the run's transaction starts and
//! marked `success` inside it, so success commits atomically with the data; a failure is
//! recorded after the rollback. A run whose process was killed stays `running` until the next
//! run starts and marks it `abandoned`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::{NaiveDateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, NotSet};
use serde::Serialize;

use crate::warehouse::entity::sync_run::{self, RunStatus};

/// What a run did to one warehouse table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TableStats {
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    #[serde(skip)]
    pub millis: u128,
}

impl TableStats {
    pub fn written(&self) -> u64 {
        self.inserted + self.updated + self.deleted
    }
}

/// The outcome of a `full-load` or `incremental` run.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub run_id: i32,
    /// The source's clock at the start of the run's snapshot.
    pub source_clock: Option<NaiveDateTime>,
    /// See [`super::horizon`].
    pub horizon: super::horizon::Horizon,
    pub command: &'static str,
    pub tables: BTreeMap<&'static str, TableStats>,
    /// Source tables `incremental` skipped: unchanged since the previous run.
    pub quiet: BTreeSet<String>,
    pub seconds: f64,
}

impl RunReport {
    pub fn rows_written(&self) -> u64 {
        self.tables.values().map(TableStats::written).sum()
    }

    pub fn table(&self, name: &str) -> TableStats {
        self.tables.get(name).cloned().unwrap_or_default()
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<22} {:>10} {:>10} {:>10} {:>8} {:>12}",
            "table", "inserted", "updated", "deleted", "seconds", "rows/s"
        )?;
        for (name, s) in &self.tables {
            let secs = s.millis as f64 / 1000.0;
            let rate = rows_per_second(s.written(), s.millis);
            writeln!(
                f,
                "{:<22} {:>10} {:>10} {:>10} {:>8.3} {:>12}",
                name, s.inserted, s.updated, s.deleted, secs, rate
            )?;
        }
        write!(
            f,
            "{} run #{} finished in {:.3} s: {} rows written",
            self.command,
            self.run_id,
            self.seconds,
            self.rows_written()
        )
    }
}

/// Rows per second, or `-` when the step was too short (under 10 ms) or wrote nothing for a
/// rate to mean anything.
fn rows_per_second(rows: u64, millis: u128) -> String {
    if millis < 10 || rows == 0 {
        return "-".to_string();
    }
    format!("{:.0}", rows as f64 * 1000.0 / millis as f64)
}

/// Collects statistics while a run goes.
pub struct Tracker {
    pub run_id: i32,
    pub source_clock: Option<NaiveDateTime>,
    pub horizon: super::horizon::Horizon,
    pub command: &'static str,
    pub quiet: BTreeSet<String>,
    started: Instant,
    tables: BTreeMap<&'static str, TableStats>,
}

impl Tracker {
    pub fn new(run_id: i32, command: &'static str) -> Self {
        Self {
            run_id,
            source_clock: None,
            horizon: Default::default(),
            command,
            quiet: BTreeSet::new(),
            started: Instant::now(),
            tables: BTreeMap::new(),
        }
    }

    /// Adds to the statistics of `table`.
    pub fn add(
        &mut self,
        table: &'static str,
        inserted: u64,
        updated: u64,
        deleted: u64,
        since: Instant,
    ) {
        let s = self.tables.entry(table).or_default();
        s.inserted += inserted;
        s.updated += updated;
        s.deleted += deleted;
        s.millis += since.elapsed().as_millis();
    }

    pub fn report(&self) -> RunReport {
        RunReport {
            run_id: self.run_id,
            source_clock: self.source_clock,
            horizon: self.horizon.clone(),
            command: self.command,
            tables: self.tables.clone(),
            quiet: self.quiet.clone(),
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }
}

pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// Runs `body` as a recorded run: a `running` row first, `failed` with the error if `body`
/// fails (its transaction has rolled back by then). `body` marks success itself, inside its
/// transaction, with [`finish`].
pub async fn record<C, F, Fut>(db: &C, command: &str, body: F) -> Result<RunReport>
where
    C: ConnectionTrait,
    F: FnOnce(i32) -> Fut,
    Fut: std::future::Future<Output = Result<RunReport>>,
{
    let run_id = start(db, command).await?;
    match body(run_id).await {
        Ok(report) => Ok(report),
        Err(e) => {
            if let Err(e2) = fail(db, run_id, &e).await {
                tracing::warn!("{e2:#}");
            }
            Err(e)
        }
    }
}

/// Inserts the `running` row of a new run; returns its id.
pub async fn start<C: ConnectionTrait>(db: &C, command: &str) -> Result<i32> {
    let row = sync_run::ActiveModel {
        id: NotSet,
        command: Set(command.to_string()),
        started_at: Set(now()),
        finished_at: Set(None),
        status: Set(RunStatus::Running),
        rows_written: Set(0),
        rows_by_table: Set("{}".into()),
        error: Set(None),
        source_clock: Set(None),
        source_horizon: Set(None),
        note: Set(None),
    }
    .insert(db)
    .await
    .context("cannot record the run in sync_run")?;
    abandon_earlier(db, row.id).await?;
    Ok(row.id)
}

/// Marks `abandoned` the earlier runs still `running`: their process ended (killed, or the
/// machine stopped) before it could record an outcome; their transaction never committed, so
/// they changed nothing. A live run cannot be among them: it holds the warehouse's write lock
/// from its first statement to its commit, and the insert before this waited for that lock.
/// (Between its own `running` row and its transaction a run holds no lock, for a few
/// milliseconds; should it be marked here, its end overwrites the mark.)
async fn abandon_earlier<C: ConnectionTrait>(db: &C, run_id: i32) -> Result<()> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    let done = sync_run::Entity::update_many()
        .col_expr(sync_run::Column::Status, Expr::value(RunStatus::Abandoned))
        .col_expr(
            sync_run::Column::Error,
            Expr::value(
                "the process ended before the run finished (killed or stopped); \
                 its changes were rolled back",
            ),
        )
        .filter(sync_run::Column::Status.eq(RunStatus::Running))
        .filter(sync_run::Column::Id.lt(run_id))
        .exec(db)
        .await
        .context("cannot record abandoned runs in sync_run")?;
    if done.rows_affected > 0 {
        tracing::warn!(
            "{} earlier run(s) had been left `running` by a process that ended; marked `abandoned`",
            done.rows_affected
        );
    }
    Ok(())
}

/// Marks `interrupted` the runs still `running`: called by a process that holds the writer
/// lock after a signal stopped its run, whose transaction rolled back.
pub async fn mark_interrupted<C: ConnectionTrait>(db: &C, signal: &str) -> Result<u64> {
    let why = format!("interrupted by {signal}; its changes were rolled back");
    mark_unfinished(db, RunStatus::Interrupted, &why).await
}

/// Gives the runs still `running` the outcome `status` and the error `why`: called by a
/// process that holds the writer lock after it abandoned its run (rolled back).
pub async fn mark_unfinished<C: ConnectionTrait>(
    db: &C,
    status: RunStatus,
    why: &str,
) -> Result<u64> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    let done = sync_run::Entity::update_many()
        .col_expr(sync_run::Column::Status, Expr::value(status))
        .col_expr(sync_run::Column::FinishedAt, Expr::value(now()))
        .col_expr(
            sync_run::Column::Error,
            Expr::value(crate::config::hide_passwords(why)),
        )
        .filter(sync_run::Column::Status.eq(RunStatus::Running))
        .exec(db)
        .await
        .context("cannot record the abandoned run in sync_run")?;
    Ok(done.rows_affected)
}

/// Marks the run a success; call inside the run's transaction, just before commit.
pub async fn finish<C: ConnectionTrait>(db: &C, report: &RunReport) -> Result<()> {
    let rows_by_table = serde_json::to_string(&report.tables).expect("stats serialise");
    sync_run::ActiveModel {
        id: Set(report.run_id),
        finished_at: Set(Some(now())),
        status: Set(RunStatus::Success),
        rows_written: Set(report.rows_written() as i64),
        rows_by_table: Set(rows_by_table),
        source_clock: Set(report.source_clock),
        source_horizon: Set(report.horizon.at),
        note: Set(report.horizon.note.clone()),
        ..Default::default()
    }
    .update(db)
    .await
    .context("cannot record the run's end in sync_run")?;
    Ok(())
}

/// What the last successful run recorded of its source snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, sea_orm::DerivePartialModel)]
#[sea_orm(entity = "sync_run::Entity")]
pub struct PreviousSnapshot {
    /// The source's clock when its snapshot began.
    pub source_clock: Option<NaiveDateTime>,
    /// Its horizon (see [`super::horizon`]); `None` if the source did not tell.
    pub source_horizon: Option<NaiveDateTime>,
}

/// The snapshot of the last successful run, if any run succeeded.
pub async fn previous_snapshot<C: ConnectionTrait>(db: &C) -> Result<Option<PreviousSnapshot>> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
    sync_run::Entity::find()
        .filter(sync_run::Column::Status.eq(RunStatus::Success))
        .order_by_desc(sync_run::Column::Id)
        .limit(1)
        .into_partial_model::<PreviousSnapshot>()
        .one(db)
        .await
        .context("cannot read sync_run")
}

/// The source database's current time (UTC: the session time zone is UTC).
pub async fn source_clock<C: ConnectionTrait>(db: &C) -> Result<NaiveDateTime> {
    use sea_orm::sea_query::{Expr, Query};
    let q = Query::select()
        .expr_as(
            Expr::current_timestamp(),
            sea_orm::sea_query::Alias::new("now"),
        )
        .to_owned();
    let row = db
        .query_one(&q)
        .await
        .context("cannot read the source clock")?
        .context("the source returned no clock")?;
    if let Ok(t) = row.try_get::<NaiveDateTime>("", "now") {
        return Ok(t);
    }
    let t: chrono::DateTime<chrono::Utc> = row
        .try_get("", "now")
        .context("cannot read the source clock")?;
    Ok(t.naive_utc())
}

/// Records a failed run (after its transaction rolled back).
pub async fn fail<C: ConnectionTrait>(db: &C, run_id: i32, error: &anyhow::Error) -> Result<()> {
    sync_run::Entity::update(sync_run::ActiveModel {
        id: Set(run_id),
        finished_at: Set(Some(now())),
        status: Set(RunStatus::Failed),
        error: Set(Some(crate::config::hide_passwords(&format!("{error:#}")))),
        ..Default::default()
    })
    .exec(db)
    .await
    .context("cannot record the run's failure in sync_run")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::rows_per_second;

    #[test]
    fn a_rate_is_printed_only_where_it_means_something() {
        assert_eq!(rows_per_second(1000, 0), "-");
        assert_eq!(rows_per_second(1000, 9), "-");
        assert_eq!(rows_per_second(0, 500), "-");
        assert_eq!(rows_per_second(1000, 500), "2000");
    }
}
