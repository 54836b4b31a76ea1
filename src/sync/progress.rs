//! Progress: bars on a terminal (never in logs, pipes or CI), and the tick every long step
//! gives as it moves, which the idle watchdog ([`stalled`]) reads.
//!
//! A source that stops answering mid-run (a stalled network, a table locked by another
//! session) would otherwise hold the run, and the warehouse's write lock, for ever: no driver
//! setting bounds how long a read may wait. Every step that reads or writes rows in bulk
//! reports its rows here; when nothing has moved for the idle limit, the run is abandoned
//! (rolled back) with a line naming the step it stopped in.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Rows moved so far by every step: the watchdog only looks for a change.
static TICKS: AtomicU64 = AtomicU64::new(0);
/// The step under way, for the watchdog's message.
static STEP: Mutex<String> = Mutex::new(String::new());

/// The rows of one step: a spinner on a terminal, and a tick for the watchdog either way.
pub struct Rows {
    bar: ProgressBar,
}

impl Rows {
    pub fn inc(&self, rows: u64) {
        TICKS.fetch_add(1, Ordering::Relaxed);
        self.bar.inc(rows);
    }

    pub fn set_position(&self, rows: u64) {
        TICKS.fetch_add(1, Ordering::Relaxed);
        self.bar.set_position(rows);
    }

    pub fn finish_and_clear(&self) {
        TICKS.fetch_add(1, Ordering::Relaxed);
        self.bar.finish_and_clear();
    }
}

/// Starts the step `label` (a table, or what is done to it): a spinner counting its rows,
/// hidden when stderr is not a terminal.
pub fn rows(label: &str) -> Rows {
    step(label);
    if !std::io::stderr().is_terminal() {
        return Rows {
            bar: ProgressBar::hidden(),
        };
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix:<22} {human_pos:>10} rows  {per_sec:>14}  {elapsed}",
        )
        .expect("valid template"),
    );
    bar.set_prefix(label.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    Rows { bar }
}

/// Notes that the step `label` has begun (also a tick).
pub fn step(label: &str) {
    TICKS.fetch_add(1, Ordering::Relaxed);
    let mut step = STEP.lock().unwrap_or_else(|e| e.into_inner());
    step.clear();
    step.push_str(label);
}

/// Completes when no step has moved for `limit`, with the step it stopped in. Race a run
/// against it; a run that keeps moving never sees it complete.
pub async fn stalled(limit: Duration) -> String {
    let check = (limit / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut seen = TICKS.load(Ordering::Relaxed);
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(check).await;
        let now = TICKS.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            since = Instant::now();
        } else if since.elapsed() >= limit {
            let step = STEP.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return if step.is_empty() {
                "starting".to_string()
            } else {
                step
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_watchdog_fires_only_when_nothing_moves() {
        let rows = rows("fact_rental");
        let moving = async {
            for _ in 0..20 {
                rows.inc(1);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            () = moving => {}
            step = stalled(Duration::from_millis(200)) => panic!("fired while moving: {step}"),
        }
        step("rental versions");
        let step =
            tokio::time::timeout(Duration::from_secs(5), stalled(Duration::from_millis(200)))
                .await
                .expect("fires once nothing moves");
        assert_eq!(step, "rental versions");
    }
}
