//! The horizon of a run's snapshot: a time at or before the start of every transaction that
//! the snapshot cannot see, however long it stays open.
//!
//! `incremental` finds changed dimension and lookup rows by their `last_update` stamp, and
//! skips tables whose `information_schema.TABLES.UPDATE_TIME` says no transaction touched
//! them. Both are sound only if the run knows how far back a transaction its previous
//! snapshot missed can have stamped a row. A transaction that started long before that
//! snapshot and committed after it stamps its rows (and, on MariaDB, sets `UPDATE_TIME`) at
//! its own start time, not at its commit. A fixed lookback ("transactions commit within five
//! minutes") is an assumption nobody can check; the server can answer exactly instead.
//!
//! InnoDB lists every open transaction, read-only ones included, with the time it started
//! (`information_schema.INNODB_TRX.trx_started`; MySQL 8 and MariaDB alike, readable with the
//! `PROCESS` privilege). A run reads, **before** its snapshot is taken, the server's clock and
//! the oldest start in that list; the earlier of the two is the run's horizon. Any
//! transaction that commits after the snapshot was either open then (it is in the list, so it
//! started at or after the oldest start) or started later (after the clock was read). Its
//! statements stamp rows with times at or after its start, and the `UPDATE_TIME` it leaves is
//! its start (MariaDB) or its commit (MySQL): at or after the horizon either way.
//!
//! The next run therefore re-reads what is stamped from the previous horizon on, and treats a
//! table as quiet only if its `UPDATE_TIME` is older than that horizon. The lookback stays, as
//! a margin below the horizon for stamps that do not come from the server's statement clock:
//! an application that computes `last_update` itself, a statement that waited for a lock
//! before its transaction began, a replica applying its primary's timestamps.
//!
//! Where the server does not list its transactions (no `PROCESS` privilege, a SQLite source),
//! the run records no horizon and says why; the next run then falls back to what is safe
//! without one (see [`super::incremental`]).

use anyhow::{Context, Result};
use chrono::NaiveDateTime;
use sea_orm::sea_query::{Alias, Expr, Func, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend};

use crate::db::SourceDb;

/// What a run learnt about the transactions its snapshot cannot see.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Horizon {
    /// Every transaction the snapshot misses started at or after this (source clock, UTC);
    /// `None` when the server could not tell.
    pub at: Option<NaiveDateTime>,
    /// Why there is no horizon, in one line (for `-v` and the run's `sync_run` row).
    pub note: Option<String>,
}

/// The oldest open transaction, as listed by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The server's clock when it listed its transactions (UTC).
    pub now: NaiveDateTime,
    /// The start of the oldest of them (UTC), if any is open.
    pub oldest: Option<NaiveDateTime>,
}

impl Listing {
    /// The earlier of the clock and the oldest start: no transaction that was open at the
    /// listing, or that started after it, began before this.
    pub fn horizon(&self) -> NaiveDateTime {
        self.oldest.map_or(self.now, |o| o.min(self.now))
    }
}

/// Reads the horizon, then starts the run's source snapshot: in that order, so that a
/// transaction the snapshot misses was open at the listing or started after it.
pub async fn snapshot(source: &SourceDb) -> Result<(DatabaseTransaction, Horizon)> {
    let horizon = read(source).await;
    match &horizon.note {
        Some(note) => tracing::info!(
            "{note}: the next incremental reads every dimension and lookup row and skips no table"
        ),
        None => tracing::debug!("snapshot horizon: {:?}", horizon.at),
    }
    let txn = source.snapshot().await?;
    Ok((txn, horizon))
}

/// The horizon of a snapshot taken right after this call.
async fn read(source: &SourceDb) -> Horizon {
    if source.backend() != DbBackend::MySql {
        return Horizon {
            at: None,
            note: Some("a SQLite source does not list its open transactions".into()),
        };
    }
    let listing = match source.read().await {
        Ok(txn) => {
            let listing = list(&txn).await;
            txn.rollback().await.ok();
            listing
        }
        Err(e) => Err(e),
    };
    match listing {
        Ok(listing) => {
            if let Some(oldest) = listing.oldest {
                let age = listing.now - oldest;
                if age > chrono::Duration::minutes(1) {
                    tracing::info!(
                        "the oldest open source transaction started {} s ago ({oldest} UTC): \
                         rows stamped since then are read again, and tables it may write are scanned",
                        age.num_seconds()
                    );
                }
            }
            Horizon {
                at: Some(listing.horizon()),
                note: None,
            }
        }
        Err(e) => Horizon {
            at: None,
            note: Some(format!(
                "cannot list the source's open transactions (information_schema.INNODB_TRX \
                 needs the PROCESS privilege): {}",
                first_line(&format!("{e:#}"))
            )),
        },
    }
}

/// The server's clock and the oldest open InnoDB transaction, in one statement (the list and
/// the clock are read together, so no transaction can start unseen between the two).
pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Listing> {
    // `trx_started` is in the server's system time zone, unlike `NOW()` and `UPDATE_TIME`,
    // which follow the session's (UTC here): convert it.
    let started = Func::cust(Alias::new("CONVERT_TZ"))
        .arg(Expr::col(Alias::new("trx_started")))
        .arg("SYSTEM")
        .arg("+00:00");
    let q = Query::select()
        .expr_as(Expr::current_timestamp(), Alias::new("now"))
        .expr_as(Func::min(started), Alias::new("oldest"))
        .from((Alias::new("information_schema"), Alias::new("INNODB_TRX")))
        .to_owned();
    let row = db
        .query_one(&q)
        .await
        .context("cannot read information_schema.INNODB_TRX")?
        .context("information_schema.INNODB_TRX returned no row")?;
    Ok(Listing {
        now: row
            .try_get("", "now")
            .context("cannot read the source clock")?,
        oldest: row
            .try_get("", "oldest")
            .context("cannot read information_schema.INNODB_TRX")?,
    })
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::Listing;
    use chrono::NaiveDateTime;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn the_horizon_is_the_earlier_of_the_clock_and_the_oldest_open_transaction() {
        let now = t("2026-12-06 10:00:00");
        assert_eq!(Listing { now, oldest: None }.horizon(), now);
        let old = t("2026-12-06 08:12:00");
        assert_eq!(
            Listing {
                now,
                oldest: Some(old)
            }
            .horizon(),
            old
        );
        // A transaction listed as starting after the clock (the clock is read first, in the
        // same statement) does not move the horizon past the clock.
        let later = t("2026-12-06 10:00:01");
        assert_eq!(
            Listing {
                now,
                oldest: Some(later)
            }
            .horizon(),
            now
        );
    }
}
