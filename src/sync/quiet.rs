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
//! A table is quiet when that time is older than the previous run's snapshot clock minus the
//! lookback. Under the assumption the lookback window already makes (a transaction commits
//! within the lookback of starting), every transaction that changed a quiet table committed
//! before the previous snapshot, which saw it; so the table is exactly as the warehouse last
//! loaded it. The check is conservative everywhere else:
//!
//! - an unknown time (`NULL`: the server restarted, or evicted the table from its dictionary
//!   cache, since the last change) is not quiet;
//! - the time is read after this run's snapshot is established, so a commit the snapshot sees
//!   has already set it;
//! - MySQL 8 caches `UPDATE_TIME` for up to a day unless `information_schema_stats_expiry` is
//!   0, so there the check is used only with that setting; other backends (SQLite sources)
//!   have no such record and every table is scanned.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use chrono::NaiveDateTime;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Query};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QuerySelect};

use crate::source::language;

/// Whether a table last changed at `update_time` is quiet for a run whose previous snapshot
/// read the source clock at `previous_clock`.
pub fn is_quiet(
    update_time: Option<NaiveDateTime>,
    previous_clock: Option<NaiveDateTime>,
    lookback: chrono::Duration,
) -> bool {
    match (update_time, previous_clock) {
        // One second of slack: both are whole seconds of the server's clock.
        (Some(changed), Some(clock)) => changed < clock - lookback - chrono::Duration::seconds(1),
        _ => false,
    }
}

/// The quiet tables of the source, read inside the run's snapshot `src`.
pub async fn tables<C: ConnectionTrait>(
    src: &C,
    previous_clock: Option<NaiveDateTime>,
    lookback: chrono::Duration,
) -> Result<BTreeSet<String>> {
    if previous_clock.is_none() || src.get_database_backend() != DbBackend::MySql {
        return Ok(BTreeSet::new());
    }
    if !update_times_are_live(src).await {
        tracing::debug!("the source caches UPDATE_TIME: every table is scanned");
        return Ok(BTreeSet::new());
    }
    // Establish the snapshot first (InnoDB takes it at the first consistent read): a commit
    // the snapshot sees has then recorded its time before it is read below.
    language::Entity::find()
        .limit(1)
        .all(src)
        .await
        .context("cannot read source table language")?;
    let stmt = Query::select()
        .expr(Expr::col(Alias::new("TABLE_NAME")))
        .expr(Expr::col(Alias::new("UPDATE_TIME")))
        .from((Alias::new("information_schema"), Alias::new("TABLES")))
        .and_where(Expr::col(Alias::new("TABLE_SCHEMA")).eq(Func::cust(Alias::new("DATABASE"))))
        .to_owned();
    let rows = src
        .query_all(&stmt)
        .await
        .context("cannot read the source's table metadata")?;
    let mut quiet = BTreeSet::new();
    for row in rows {
        let name: String = row.try_get_by_index(0)?;
        let changed: Option<NaiveDateTime> = row.try_get_by_index(1)?;
        if is_quiet(changed, previous_clock, lookback) {
            quiet.insert(name);
        }
    }
    Ok(quiet)
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
    fn a_table_is_quiet_only_when_its_last_change_is_older_than_the_lookback() {
        let five = Duration::minutes(5);
        let clock = Some(t("2026-11-30 10:00:00"));
        assert!(is_quiet(Some(t("2026-11-30 09:54:58")), clock, five));
        // A transaction that started within the lookback may have committed after the
        // previous snapshot.
        assert!(!is_quiet(Some(t("2026-11-30 09:54:59")), clock, five));
        assert!(!is_quiet(Some(t("2026-11-30 10:00:01")), clock, five));
        // Unknown last change (server restarted), or no previous snapshot: scan.
        assert!(!is_quiet(None, clock, five));
        assert!(!is_quiet(Some(t("2006-02-15 05:09:17")), None, five));
    }
}
