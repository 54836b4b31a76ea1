//! `status`: how far behind the warehouse is, what the last runs did, and whether one is
//! running now.
//!
//! It reads the warehouse only, on a read-only connection, and the source only for the lag
//! (the newest `last_update` of each table): an unreachable source is reported, not fatal,
//! because the question "what does the warehouse hold" is worth answering most when the
//! source is away. It takes no lock and never waits for a writer ([`crate::lock::holder`]
//! tells whether one is running). The last `validate` result is the one `watch
//! --validate-every` recorded ([`record_validate`]); a plain `validate` records nothing.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context, Result};
use chrono::NaiveDateTime;
use sea_orm::sea_query::{Alias, Expr, Func, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use crate::config::redact;
use crate::db::{self, Role};
use crate::sync::run::TableStats;
use crate::warehouse::backend::Warehouse;
use crate::warehouse::entity::{sync_run, sync_state, warehouse_meta};

/// How many runs `status` lists.
pub const RUNS: u64 = 10;

/// The `warehouse_meta` key of the last recorded validate result.
const LAST_VALIDATE: &str = "last_validate";

/// Everything `status` reports; `status --json` prints it as it is.
#[derive(Debug, Serialize)]
pub struct Status {
    pub warehouse: WarehouseInfo,
    pub source: SourceInfo,
    /// Per source table, in the order of [`crate::star::feeds`].
    pub tables: Vec<TableStatus>,
    /// The last [`RUNS`] runs, newest first.
    pub runs: Vec<RunLine>,
    /// The last result `watch --validate-every` recorded.
    pub last_validate: Option<ValidateRecord>,
}

#[derive(Debug, Serialize)]
pub struct WarehouseInfo {
    /// The file, or the server database's URL (password hidden).
    pub path: String,
    /// The file and its write-ahead log, or the tables on the server, in bytes.
    pub bytes: u64,
    pub schema_version: String,
    /// Who holds the writer lock now (`PID 1234, incremental, since ...`), if anyone.
    pub writer: Option<String>,
    /// A first full-load holds the star (PostgreSQL) or the whole file (SQLite) until it
    /// commits: what is committed is an empty star.
    pub first_load: bool,
    /// Whether the runs (and the last validate) could be read: not while a first SQLite
    /// load holds the file.
    pub runs_readable: bool,
}

#[derive(Debug, Serialize)]
pub struct SourceInfo {
    /// The source's URL, password hidden.
    pub url: String,
    pub reachable: bool,
    /// Why it could not be read, in one line.
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TableStatus {
    /// The source table.
    pub table: &'static str,
    /// The newest source `last_update` loaded; `None` before the first load.
    pub watermark: Option<NaiveDateTime>,
    /// The source's newest `last_update` now (`None` when the source is unreachable or the
    /// table empty).
    pub source_newest: Option<NaiveDateTime>,
    /// `source_newest - watermark` in seconds, 0 when in step; `None` when unknown.
    pub lag_seconds: Option<i64>,
    /// The warehouse tables it feeds, with their row counts.
    pub feeds: Vec<Feed>,
}

#[derive(Debug, Serialize)]
pub struct Feed {
    pub table: &'static str,
    pub rows: u64,
}

#[derive(Debug, Serialize)]
pub struct RunLine {
    pub id: i32,
    pub command: String,
    pub started_at: NaiveDateTime,
    /// Until it finished, or until now while it runs.
    pub seconds: f64,
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    /// `running`, `success`, `failed` or `abandoned`.
    pub status: String,
    /// A failed or abandoned run's one-line error.
    pub error: Option<String>,
}

/// What `watch --validate-every` recorded of its last validate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateRecord {
    pub at: NaiveDateTime,
    pub passed: bool,
    pub checks: usize,
    /// `check table` of each failed check.
    pub failed: Vec<String>,
}

/// Reads the status of the warehouse at `warehouse_url` and, when it answers, of the source.
pub async fn status(warehouse_url: &str, source_url: &str) -> Result<Status> {
    let place = Warehouse::at(warehouse_url);
    place.require_existing()?;
    let wh = db::connect(warehouse_url, Role::WarehouseReader).await?;
    let result = read(&wh, place, source_url).await;
    wh.close().await.ok();
    result
}

async fn read(wh: &DatabaseConnection, place: Warehouse, source_url: &str) -> Result<Status> {
    let version = warehouse_meta::Entity::find_by_id("schema_version".to_string())
        .one(wh)
        .await
        .map_err(anyhow::Error::from);
    // A first full-load of a SQLite warehouse holds the whole file until it commits
    // (`db::Role::FirstLoad`): nothing can be read, and what is committed is an empty star.
    let file_held = version.as_ref().is_err_and(crate::error::is_lock_timeout);
    let schema_version = if file_held {
        "unknown".to_string()
    } else {
        version
            .or_else(|e| crate::error::first_load_in_the_way(&e).map_or(Ok(None), Err))?
            .map(|m| m.value)
            .with_context(|| {
                format!(
                    "the warehouse {} was never initialised: run `sakila-sync init` first",
                    place.name()
                )
            })?
    };
    let (bytes, writer, held) = place.size_and_writer(wh).await?;
    let mut first_load = held || file_held;

    let watermarks: BTreeMap<String, Option<NaiveDateTime>> = if file_held {
        BTreeMap::new()
    } else {
        sync_state::Entity::find()
            .all(wh)
            .await
            .context("cannot read warehouse table sync_state")?
            .into_iter()
            .map(|s| (s.table_name, s.watermark))
            .collect()
    };
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let feeds = crate::star::feeds();
    // A first full-load on PostgreSQL holds the star's new tables until it commits; what is
    // committed there is empty (that load only takes a star with no rows), so the counts are
    // zeros, and no table needs to be waited for (again).
    for (_, stars) in &feeds {
        for star in stars {
            if counts.contains_key(star) {
                continue;
            }
            if first_load {
                counts.insert(star, 0);
                continue;
            }
            let n = match db::row_count(wh, star).await {
                Err(e) if crate::error::is_lock_timeout(&e) => {
                    first_load = true;
                    0
                }
                other => other?,
            };
            counts.insert(star, n);
        }
    }

    let (source, newest) = match source_newest(source_url).await {
        Ok(newest) => (
            SourceInfo {
                url: redact(source_url),
                reachable: true,
                error: None,
            },
            newest,
        ),
        Err(e) => (
            SourceInfo {
                url: redact(source_url),
                reachable: false,
                error: Some(db::scrub(&format!("{e:#}"), source_url).replace('\n', " ")),
            },
            BTreeMap::new(),
        ),
    };
    let tables = feeds
        .into_iter()
        .map(|(table, stars)| {
            let watermark = watermarks.get(table).copied().flatten();
            let source_newest = newest.get(table).copied().flatten();
            TableStatus {
                table,
                watermark,
                source_newest,
                lag_seconds: lag(watermark, source_newest, source.reachable),
                feeds: stars
                    .into_iter()
                    .map(|t| Feed {
                        table: t,
                        rows: counts.get(t).copied().unwrap_or_default(),
                    })
                    .collect(),
            }
        })
        .collect();

    let (runs, last_validate) = if file_held {
        (Vec::new(), None)
    } else {
        let runs = sync_run::Entity::find()
            .order_by_desc(sync_run::Column::Id)
            .limit(RUNS)
            .all(wh)
            .await
            .context("cannot read warehouse table sync_run")?
            .into_iter()
            .map(run_line)
            .collect();
        (runs, last_validate(wh).await?)
    };
    Ok(Status {
        warehouse: WarehouseInfo {
            path: place.name(),
            bytes,
            schema_version,
            writer,
            first_load,
            runs_readable: !file_held,
        },
        source,
        tables,
        runs,
        last_validate,
    })
}

/// The last validate result `watch --validate-every` recorded, if any.
pub(crate) async fn last_validate<C: ConnectionTrait>(wh: &C) -> Result<Option<ValidateRecord>> {
    Ok(
        warehouse_meta::Entity::find_by_id(LAST_VALIDATE.to_string())
            .one(wh)
            .await
            .context("cannot read warehouse table warehouse_meta")?
            .and_then(|m| serde_json::from_str(&m.value).ok()),
    )
}

/// How far the warehouse is behind a table: 0 when in step, `None` when it cannot tell.
fn lag(
    watermark: Option<NaiveDateTime>,
    newest: Option<NaiveDateTime>,
    reachable: bool,
) -> Option<i64> {
    match (watermark, newest) {
        (Some(w), Some(n)) => Some((n - w).num_seconds().max(0)),
        // Loaded, and the source table is empty now: nothing to catch up with.
        (Some(_), None) if reachable => Some(0),
        _ => None,
    }
}

/// The newest `last_update` of every source table the star is made from.
async fn source_newest(url: &str) -> Result<BTreeMap<&'static str, Option<NaiveDateTime>>> {
    let source = db::SourceDb::connect(url).await?;
    let src = source.read().await?;
    let mut newest = BTreeMap::new();
    for table in crate::star::source_tables() {
        let q = Query::select()
            .expr_as(
                Func::max(Expr::col(Alias::new("last_update"))),
                Alias::new("t"),
            )
            .from(Alias::new(table))
            .to_owned();
        let what = || format!("cannot read source table {table}");
        let row = src.query_one(&q).await.with_context(what)?;
        let t = match row {
            None => None,
            Some(r) => match r.try_get::<Option<NaiveDateTime>>("", "t") {
                Ok(t) => t,
                Err(_) => r
                    .try_get::<Option<chrono::DateTime<chrono::Utc>>>("", "t")
                    .with_context(what)?
                    .map(|t| t.naive_utc()),
            },
        };
        newest.insert(table, t);
    }
    src.rollback().await.ok();
    source.close().await.ok();
    Ok(newest)
}

pub(crate) fn run_line(r: sync_run::Model) -> RunLine {
    let end = r.finished_at.unwrap_or_else(crate::sync::run::now);
    let tables: BTreeMap<String, TableStats> =
        serde_json::from_str(&r.rows_by_table).unwrap_or_default();
    let sum = |f: fn(&TableStats) -> u64| tables.values().map(f).sum();
    RunLine {
        id: r.id,
        command: r.command,
        started_at: r.started_at,
        seconds: (end - r.started_at).num_milliseconds().max(0) as f64 / 1000.0,
        inserted: sum(|t| t.inserted),
        updated: sum(|t| t.updated),
        deleted: sum(|t| t.deleted),
        status: sea_orm::ActiveEnum::to_value(&r.status),
        error: r.error.map(|e| e.replace('\n', " ")),
    }
}

/// Records the result of a validate for `status` (what `watch --validate-every` does).
pub async fn record_validate<C: ConnectionTrait>(
    wh: &C,
    report: &crate::validate::ValidationReport,
) -> Result<ValidateRecord> {
    use sea_orm::IntoActiveModel;
    let record = ValidateRecord {
        at: crate::sync::run::now(),
        passed: report.passed(),
        checks: report.checks.len(),
        failed: report
            .failed()
            .map(|c| format!("{} {}", c.check.label(), c.table))
            .collect(),
    };
    warehouse_meta::Entity::insert(
        warehouse_meta::Model {
            key: LAST_VALIDATE.into(),
            value: serde_json::to_string(&record).context("cannot record the validate result")?,
        }
        .into_active_model(),
    )
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(warehouse_meta::Column::Key)
            .update_column(warehouse_meta::Column::Value)
            .to_owned(),
    )
    .exec(wh)
    .await
    .context("cannot record the validate result in warehouse_meta")?;
    Ok(record)
}

impl Status {
    /// The whole status as one JSON document (the fields are documented in the README).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a status always serialises")
    }
}

fn when(t: Option<NaiveDateTime>) -> String {
    t.map_or_else(
        || "-".to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn lag_text(seconds: Option<i64>) -> String {
    match seconds {
        None => "-".to_string(),
        Some(0) => "0".to_string(),
        Some(s) => humantime::format_duration(std::time::Duration::from_secs(s as u64)).to_string(),
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.warehouse;
        writeln!(
            f,
            "warehouse  {} ({:.1} MB, schema version {})",
            w.path,
            w.bytes as f64 / 1e6,
            w.schema_version
        )?;
        writeln!(
            f,
            "writer     {}",
            w.writer.as_deref().unwrap_or("none running")
        )?;
        if w.first_load {
            writeln!(
                f,
                "loading    a first full-load holds the warehouse until it commits; what is \
                 committed is an empty star"
            )?;
        }
        match &self.source.error {
            None => writeln!(f, "source     {}", self.source.url)?,
            Some(e) => writeln!(f, "source     {} is unreachable: {e}", self.source.url)?,
        }
        match &self.last_validate {
            None if !w.runs_readable => {
                writeln!(f, "validate   unreadable until the first full-load commits")?
            }
            None => writeln!(
                f,
                "validate   none recorded (watch --validate-every records one)"
            )?,
            Some(v) if v.passed => writeln!(
                f,
                "validate   passed at {} UTC ({} checks)",
                when(Some(v.at)),
                v.checks
            )?,
            Some(v) => writeln!(
                f,
                "validate   FAILED at {} UTC: {} of {} checks ({})",
                when(Some(v.at)),
                v.failed.len(),
                v.checks,
                v.failed.join(", ")
            )?,
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<14} {:<19}  {:>12}  feeds",
            "source table", "watermark (UTC)", "lag"
        )?;
        for t in &self.tables {
            let feeds: Vec<String> = t
                .feeds
                .iter()
                .map(|d| format!("{} ({} rows)", d.table, d.rows))
                .collect();
            writeln!(
                f,
                "{:<14} {:<19}  {:>12}  {}",
                t.table,
                when(t.watermark),
                lag_text(t.lag_seconds),
                feeds.join(", ")
            )?;
        }
        writeln!(f)?;
        if !w.runs_readable {
            return writeln!(f, "runs       unreadable until the first full-load commits");
        }
        if self.runs.is_empty() {
            return writeln!(f, "no runs yet");
        }
        writeln!(
            f,
            "{:>5}  {:<11}  {:<19}  {:>9}  {:>9}  {:>9}  {:>9}  status",
            "run", "command", "started (UTC)", "seconds", "inserted", "updated", "deleted"
        )?;
        for r in &self.runs {
            write!(
                f,
                "{:>5}  {:<11}  {:<19}  {:>9.2}  {:>9}  {:>9}  {:>9}  {}",
                r.id,
                r.command,
                when(Some(r.started_at)),
                r.seconds,
                r.inserted,
                r.updated,
                r.deleted,
                r.status
            )?;
            match &r.error {
                Some(e) => writeln!(f, ": {e}")?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn lag_is_how_far_the_source_is_ahead_and_zero_in_step() {
        let w = Some(t("2026-12-07 10:00:00"));
        assert_eq!(lag(w, Some(t("2026-12-07 10:03:20")), true), Some(200));
        assert_eq!(lag(w, w, true), Some(0));
        // A row stamped before the watermark (a back-dated write) is no lag by stamps.
        assert_eq!(lag(w, Some(t("2026-12-07 09:00:00")), true), Some(0));
        assert_eq!(lag(None, Some(t("2026-12-07 09:00:00")), true), None);
        assert_eq!(lag(w, None, true), Some(0));
        assert_eq!(lag(w, None, false), None);
    }

    #[test]
    fn lags_read_as_durations() {
        assert_eq!(lag_text(None), "-");
        assert_eq!(lag_text(Some(0)), "0");
        assert_eq!(lag_text(Some(200)), "3m 20s");
    }
}
