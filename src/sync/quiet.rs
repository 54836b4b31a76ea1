//! Quiet tables: source tables no transaction has changed since the previous run's snapshot,
//! which an incremental run can skip without scanning them.
//!
//! Sakila has no index on `last_update`, so finding a fact table's changed rows is a full scan
//! of the table, and so is counting its rows for delete detection: about 2 s for the two fact
//! tables at 100x Sakila, however little changed. The server knows better: InnoDB keeps, per
//! table, the time of the last transaction that modified it (`information_schema.TABLES.
//! UPDATE_TIME`; MariaDB records the transaction's start time, MySQL its commit time, and
//! foreign-key cascades count as modifications of the child table).
//!
//! A table is quiet when that time is older than the previous run's horizon less the
//! lookback ([`super::horizon`]). Every transaction the previous snapshot missed started at
//! or after that horizon, and the time it records (its start on MariaDB, its commit on MySQL)
//! is at or after its start; later commits only overwrite it with times of their own, which
//! are later than the horizon too. So a table whose time is older than the horizon was
//! changed only by transactions the previous snapshot saw, and is exactly as the warehouse
//! last loaded it. Without a horizon (the previous run could not list the source's open
//! transactions) no table is quiet. The check is conservative everywhere else:
//!
//! - an unknown time (`NULL`: the server restarted, or evicted the table from its dictionary
//!   cache, since the last change) is not quiet;
//! - the time is read after this run's snapshot is established, so a commit the snapshot sees
//!   has already set it;
//! - MySQL 8 caches `UPDATE_TIME` for up to a day unless `information_schema_stats_expiry` is
//!   0, so there the check is used only with that setting; other backends (SQLite sources)
//!   have no such record and every table is scanned;
//! - the previous run must have read the same source: each run records in `warehouse_meta` an
//!   identity of the source schema (its name and its tables' creation times), and tables are
//!   skipped only when it is unchanged, so pointing the warehouse at another database (or a
//!   reloaded one) scans everything once.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use chrono::NaiveDateTime;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QuerySelect};

use crate::source::language;
use crate::warehouse::entity::warehouse_meta;

/// The `warehouse_meta` key of the source identity recorded by the last successful run.
const IDENTITY_KEY: &str = "source_identity";

/// Whether a table last changed at `update_time` is quiet for a run whose previous snapshot
/// had the horizon `horizon`.
pub fn is_quiet(
    update_time: Option<NaiveDateTime>,
    horizon: NaiveDateTime,
    lookback: chrono::Duration,
) -> bool {
    update_time
        .is_some_and(|changed| changed < super::incremental::lookback_start(horizon, lookback))
}

/// What the server records of the source's tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableTimes {
    /// The schema's name and its tables' creation times: which database this is.
    pub identity: String,
    /// Each table and when a transaction last changed it (`None`: unknown).
    pub changed: Vec<(String, Option<NaiveDateTime>)>,
}

impl TableTimes {
    /// The tables a run can skip, given what the previous successful run recorded.
    pub fn quiet(
        &self,
        previous_identity: Option<&str>,
        horizon: NaiveDateTime,
        lookback: chrono::Duration,
    ) -> BTreeSet<String> {
        if previous_identity != Some(self.identity.as_str()) {
            return BTreeSet::new();
        }
        self.changed
            .iter()
            .filter(|(_, changed)| is_quiet(*changed, horizon, lookback))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// Reads the source's table times inside the run's snapshot `src`; `None` where the server
/// keeps no live record of them.
pub async fn read<C: ConnectionTrait>(src: &C) -> Result<Option<TableTimes>> {
    if src.get_database_backend() != DbBackend::MySql {
        return Ok(None);
    }
    if !update_times_are_live(src).await {
        tracing::debug!("the source caches UPDATE_TIME: every table is scanned");
        return Ok(None);
    }
    // Establish the snapshot first (InnoDB takes it at the first consistent read): a commit
    // the snapshot sees has then recorded its time before it is read below.
    language::Entity::find()
        .limit(1)
        .all(src)
        .await
        .context("cannot read source table language")?;
    let stmt = Query::select()
        .expr(Func::cust(Alias::new("DATABASE")))
        .expr(Expr::col(Alias::new("TABLE_NAME")))
        .expr(Expr::col(Alias::new("CREATE_TIME")))
        .expr(Expr::col(Alias::new("UPDATE_TIME")))
        .from((Alias::new("information_schema"), Alias::new("TABLES")))
        .and_where(Expr::col(Alias::new("TABLE_SCHEMA")).eq(Func::cust(Alias::new("DATABASE"))))
        .order_by(Alias::new("TABLE_NAME"), sea_orm::Order::Asc)
        .to_owned();
    let rows = src
        .query_all(&stmt)
        .await
        .context("cannot read the source's table metadata")?;
    let mut identity = String::new();
    let mut changed = Vec::with_capacity(rows.len());
    for row in rows {
        let schema: String = row.try_get_by_index(0)?;
        let name: String = row.try_get_by_index(1)?;
        let created: Option<NaiveDateTime> = row.try_get_by_index(2)?;
        if identity.is_empty() {
            identity.push_str(&schema);
        }
        identity.push_str(&format!(
            " {name}@{}",
            created.map_or("?".into(), |t| t.to_string())
        ));
        changed.push((name, row.try_get_by_index(3)?));
    }
    Ok(Some(TableTimes { identity, changed }))
}

/// The source identity the last successful run recorded.
pub async fn previous_identity<C: ConnectionTrait>(wh: &C) -> Result<Option<String>> {
    Ok(warehouse_meta::Entity::find_by_id(IDENTITY_KEY.to_string())
        .one(wh)
        .await
        .context("cannot read warehouse_meta")?
        .map(|m| m.value))
}

/// Records (inside the run's transaction) which source this run read, or forgets it when the
/// source keeps no table times.
pub async fn record_identity<C: ConnectionTrait>(wh: &C, times: Option<&TableTimes>) -> Result<()> {
    match times {
        Some(t) => {
            warehouse_meta::Entity::insert(sea_orm::IntoActiveModel::into_active_model(
                warehouse_meta::Model {
                    key: IDENTITY_KEY.to_string(),
                    value: t.identity.clone(),
                },
            ))
            .on_conflict(
                OnConflict::column(warehouse_meta::Column::Key)
                    .update_column(warehouse_meta::Column::Value)
                    .to_owned(),
            )
            .exec_without_returning(wh)
            .await
        }
        None => warehouse_meta::Entity::delete_by_id(IDENTITY_KEY.to_string())
            .exec(wh)
            .await
            .map(|r| r.rows_affected),
    }
    .context("cannot write warehouse_meta")?;
    Ok(())
}

/// MariaDB reads `UPDATE_TIME` from the storage engine on every query; MySQL 8 does only with
/// `information_schema_stats_expiry = 0`. Anything unreadable counts as cached.
async fn update_times_are_live<C: ConnectionTrait>(src: &C) -> bool {
    let version = Query::select()
        .expr(Func::cust(Alias::new("VERSION")))
        .to_owned();
    let Ok(Some(row)) = src.query_one(&version).await else {
        return false;
    };
    let Ok(version) = row.try_get_by_index::<String>(0) else {
        return false;
    };
    if version.contains("MariaDB") {
        return true;
    }
    let expiry = Query::select()
        .expr(Expr::col(Alias::new("VARIABLE_VALUE")))
        .from((
            Alias::new("performance_schema"),
            Alias::new("session_variables"),
        ))
        .and_where(Expr::col(Alias::new("VARIABLE_NAME")).eq("information_schema_stats_expiry"))
        .to_owned();
    match src.query_one(&expiry).await {
        Ok(Some(row)) => row
            .try_get_by_index::<String>(0)
            .is_ok_and(|v| v.trim() == "0"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_quiet;
    use chrono::{Duration, NaiveDateTime};

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn tables_are_skipped_only_for_the_source_the_previous_run_read() {
        let times = super::TableTimes {
            identity: "sakila rental@2026-11-30 02:00:00".into(),
            changed: vec![
                ("film".into(), Some(t("2026-11-30 08:00:00"))),
                ("rental".into(), Some(t("2026-11-30 09:59:00"))),
            ],
        };
        let clock = t("2026-11-30 10:00:00");
        let five = Duration::minutes(5);
        let same = times.quiet(Some("sakila rental@2026-11-30 02:00:00"), clock, five);
        assert_eq!(
            same.into_iter().collect::<Vec<_>>(),
            vec!["film".to_string()]
        );
        assert!(
            times
                .quiet(Some("other rental@2026-11-30 02:00:00"), clock, five)
                .is_empty()
        );
        assert!(times.quiet(None, clock, five).is_empty());
    }

    #[test]
    fn a_table_is_quiet_only_when_its_last_change_is_older_than_the_horizon() {
        let five = Duration::minutes(5);
        let horizon = t("2026-11-30 10:00:00");
        assert!(is_quiet(Some(t("2026-11-30 09:54:58")), horizon, five));
        // A transaction that started within the lookback may have committed after the
        // previous snapshot.
        assert!(!is_quiet(Some(t("2026-11-30 09:54:59")), horizon, five));
        assert!(!is_quiet(Some(t("2026-11-30 10:00:01")), horizon, five));
        // Unknown last change (server restarted): scan.
        assert!(!is_quiet(None, horizon, five));
    }

    #[test]
    fn a_long_transaction_that_commits_late_keeps_its_tables_scanned() {
        // The case: transaction B started at 09:00 and was still open when the
        // previous run took its snapshot at 10:00 (so that run's horizon is 09:00). B then
        // commits, and MariaDB records B's start, 09:00, as the table's last change, hiding
        // the short transaction A that committed at 10:01. Against the clock (10:00) the table
        // would look quiet; against the horizon it is not.
        let five = Duration::minutes(5);
        let b_started = t("2026-11-30 09:00:00");
        assert!(is_quiet(Some(b_started), t("2026-11-30 10:00:00"), five));
        assert!(!is_quiet(Some(b_started), b_started, five));
    }
}
