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

/// What the watchdog watches: a count that every moving step bumps, and the step under way.
pub struct Activity {
    ticks: AtomicU64,
    step: Mutex<String>,
}

/// The process's activity, which the steps report to.
static ACTIVITY: Activity = Activity::new();

impl Activity {
    pub const fn new() -> Self {
        Self {
            ticks: AtomicU64::new(0),
            step: Mutex::new(String::new()),
        }
    }

    fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
    }

    fn begin(&self, label: &str) {
        self.tick();
        let mut step = self.step.lock().unwrap_or_else(|e| e.into_inner());
        step.clear();
        step.push_str(label);
    }

    /// Completes when nothing has moved for `limit`, with the step it stopped in.
    pub async fn stalled(&self, limit: Duration) -> String {
        let check = (limit / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut seen = self.ticks.load(Ordering::Relaxed);
        let mut since = Instant::now();
        loop {
            tokio::time::sleep(check).await;
            let now = self.ticks.load(Ordering::Relaxed);
            if now != seen {
                seen = now;
                since = Instant::now();
            } else if since.elapsed() >= limit {
                let step = self.step.lock().unwrap_or_else(|e| e.into_inner()).clone();
                return if step.is_empty() {
                    "starting".to_string()
                } else {
                    step
                };
            }
        }
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

/// The rows of one step: a spinner on a terminal, and a tick for the watchdog either way.
pub struct Rows {
    bar: ProgressBar,
}

impl Rows {
    pub fn inc(&self, rows: u64) {
        ACTIVITY.tick();
        self.bar.inc(rows);
    }

    pub fn set_position(&self, rows: u64) {
        ACTIVITY.tick();
        self.bar.set_position(rows);
    }

    pub fn finish_and_clear(&self) {
        ACTIVITY.tick();
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
    ACTIVITY.begin(label);
}

/// Completes when no step of this process has moved for `limit`, with the step it stopped
/// in. Race a run against it; a run that keeps moving never sees it complete.
pub async fn stalled(limit: Duration) -> String {
    ACTIVITY.stalled(limit).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_watchdog_fires_only_when_nothing_moves() {
        // An activity of its own: other tests move the process's.
        let activity = Activity::new();
        activity.begin("fact_rental");
        let moving = async {
            for _ in 0..20 {
                activity.tick();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            () = moving => {}
            step = activity.stalled(Duration::from_millis(200)) => panic!("fired while moving: {step}"),
        }
        activity.begin("rental versions");
        let step = tokio::time::timeout(
            Duration::from_secs(5),
            activity.stalled(Duration::from_millis(200)),
        )
        .await
        .expect("fires once nothing moves");
        assert_eq!(step, "rental versions");
    }
}
