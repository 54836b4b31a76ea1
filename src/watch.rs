//! `watch`: an `incremental` every interval, in one process, until it is stopped.
//!
//! What an unattended sync needs that a cron line does not give: connections kept between
//! cycles, one log line per cycle, and outages ridden out. A failed cycle is logged and
//! retried after a backoff that starts at one second and doubles up to the interval; the
//! connections are dropped and opened again, so a restarted server or a dropped and restored
//! database is picked up. A refusal (a wrong password, a database that is not Sakila) is
//! retried too, since someone may be fixing it, but its log line says it will not pass by
//! itself ([`crate::error::kind`]). When the stop signal comes, a cycle under way is
//! abandoned: its warehouse transaction never commits, so the warehouse stays as the last
//! cycle left it (the next run marks that cycle's `sync_run` row `abandoned`).

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Result;
use sea_orm::DatabaseConnection;

use crate::db::{self, Role, SourceDb};
use crate::error::{ErrorKind, kind};
use crate::lock::WriterLock;
use crate::sync::incremental;
use crate::sync::run::RunReport;
use crate::validate::{self, WindowSpec};

/// How `watch` runs.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// From the start of one cycle to the start of the next.
    pub interval: Duration,
    /// Validate after every Nth successful cycle.
    pub validate_every: Option<u32>,
    /// Abandon a cycle when nothing has moved for this long (see [`crate::sync::progress`]).
    pub idle: Duration,
    pub incremental: incremental::Options,
}

/// What the watch did, when it stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub cycles: u64,
    pub failed: u64,
}

/// The delay before retrying after `failures` failed cycles in a row: 1 s, doubling, at
/// most the interval.
pub fn backoff(failures: u32, interval: Duration) -> Duration {
    let doubled = Duration::from_secs(1).saturating_mul(1 << failures.saturating_sub(1).min(20));
    doubled.min(interval)
}

struct Connections {
    source: SourceDb,
    warehouse: DatabaseConnection,
}

/// Runs cycles until `stop` completes.
pub async fn watch(
    source_url: &str,
    warehouse_url: &str,
    opts: Options,
    lock: Option<&WriterLock>,
    stop: impl Future<Output = ()>,
) -> Summary {
    let mut stop = std::pin::pin!(stop);
    let mut conns: Option<Connections> = None;
    let mut summary = Summary::default();
    let mut failures = 0u32;
    let scrub = |text: String| db::scrub(&db::scrub(&text, source_url), warehouse_url);
    tracing::info!(
        "watching: an incremental every {}{}",
        humantime::format_duration(opts.interval),
        opts.validate_every
            .map(|n| format!(", validate every {n} cycles"))
            .unwrap_or_default()
    );
    loop {
        let started = Instant::now();
        let number = summary.cycles + summary.failed + 1;
        let outcome = tokio::select! {
            () = &mut stop => break,
            r = cycle(&mut conns, source_url, warehouse_url, opts, lock, summary.cycles + 1) => r,
            step = crate::sync::progress::stalled(opts.idle) => Err(anyhow::anyhow!(
                "nothing moved for {} while reading {step}: the source (or the warehouse) \
                 stopped answering; the cycle was rolled back",
                humantime::format_duration(opts.idle)
            )),
        };
        let delay = match outcome {
            Ok(report) => {
                failures = 0;
                summary.cycles += 1;
                let t = report.tables.values();
                let (ins, upd, del) = t.fold((0, 0, 0), |(i, u, d), s| {
                    (i + s.inserted, u + s.updated, d + s.deleted)
                });
                let lag = report
                    .source_clock
                    .map(|c| (crate::sync::run::now() - c).num_milliseconds().max(0) as f64 / 1e3);
                tracing::info!(
                    cycle = number,
                    inserted = ins,
                    updated = upd,
                    deleted = del,
                    seconds = started.elapsed().as_secs_f64(),
                    lag_seconds = lag,
                    "cycle {number}: {ins} inserted, {upd} updated, {del} deleted in {:.2} s; \
                     lag {}",
                    started.elapsed().as_secs_f64(),
                    lag.map_or_else(|| "unknown".to_string(), |l| format!("{l:.1} s"))
                );
                opts.interval.saturating_sub(started.elapsed())
            }
            Err(e) => {
                failures += 1;
                summary.failed += 1;
                if let Some(c) = conns.take() {
                    c.warehouse.close().await.ok();
                    c.source.close().await.ok();
                }
                let delay = backoff(failures, opts.interval);
                let what = match kind(&e) {
                    ErrorKind::Unavailable => "a database is unavailable",
                    ErrorKind::Refused => {
                        "refused: this will not pass by itself, fix the configuration"
                    }
                    ErrorKind::Failed => "failed",
                };
                tracing::error!(
                    cycle = number,
                    retry_in_seconds = delay.as_secs_f64(),
                    "cycle {number} {what}; retrying in {}: {}",
                    humantime::format_duration(delay),
                    scrub(format!("{e:#}")).replace('\n', " ")
                );
                delay
            }
        };
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
    if let Some(c) = conns.take() {
        c.warehouse.close().await.ok();
        c.source.close().await.ok();
    }
    tracing::info!(
        "stopped after {} cycles ({} failed)",
        summary.cycles + summary.failed,
        summary.failed
    );
    summary
}

/// One cycle: connects if need be, runs the incremental, and validates when it is time.
async fn cycle(
    conns: &mut Option<Connections>,
    source_url: &str,
    warehouse_url: &str,
    opts: Options,
    lock: Option<&WriterLock>,
    number: u64,
) -> Result<RunReport> {
    // The lock first: a server's session can end under a long watch, and the lock with it.
    if let Some(lock) = lock {
        lock.hold().await?;
    }
    if conns.is_none() {
        let source = SourceDb::connect(source_url).await?;
        let warehouse = db::connect(warehouse_url, Role::Warehouse).await?;
        *conns = Some(Connections { source, warehouse });
    }
    let c = conns.as_ref().expect("connected above");
    let report = incremental::incremental(&c.source, &c.warehouse, opts.incremental).await?;
    if let Some(n) = opts.validate_every
        && n > 0
        && number.is_multiple_of(u64::from(n))
    {
        let v = validate::validate(&c.source, &c.warehouse, WindowSpec::AllTime).await?;
        let record = crate::status::record_validate(&c.warehouse, &v).await?;
        if record.passed {
            tracing::info!("validate passed ({} checks)", record.checks);
        } else {
            tracing::error!(
                "validate found differences: {} of {} checks failed ({}); run `sakila-sync \
                 validate` for the rows",
                record.failed.len(),
                record.checks,
                record.failed.join(", ")
            );
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_the_interval() {
        let interval = Duration::from_secs(30);
        let delays: Vec<u64> = (1..=7).map(|f| backoff(f, interval).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff(1000, interval), interval);
        assert_eq!(
            backoff(3, Duration::from_millis(1500)),
            Duration::from_millis(1500)
        );
    }
}
