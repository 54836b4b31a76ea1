//! Named points where a test can stop a run, to kill it exactly there.
//!
//! A test that kills a run after a sleep cannot tell whether the kill landed before the run
//! began, in the middle, or after it committed. With `SAKILA_SYNC_PAUSE_AT=<point>` in its
//! environment, a run that reaches that point prints `paused at <point>` on stderr and waits
//! for ever (or `SAKILA_SYNC_PAUSE_FOR` seconds); the test waits for that line, then kills the
//! process, knowing where it stood.
//! Without the variable a point costs one environment lookup per run.

/// The points, in the order a run reaches them.
pub const POINTS: &[&str] = &[
    // incremental: the dimensions and bridges are written, the facts not yet (the warehouse
    // transaction holds uncommitted writes).
    "incremental:dimensions-written",
    // full-load and incremental: everything is written, sync_state advanced and the run
    // marked a success, inside the transaction; the commit is next.
    "run:before-commit",
];

/// Stops here for ever if the environment asks for `point` (see the module doc).
pub async fn reached(point: &'static str) {
    debug_assert!(POINTS.contains(&point), "unknown failpoint {point}");
    if std::env::var("SAKILA_SYNC_PAUSE_AT").is_ok_and(|p| p == point) {
        eprintln!("paused at {point}");
        // `SAKILA_SYNC_PAUSE_FOR=<seconds>` ends the pause: for a test that changes the world
        // around a paused run, then lets it go on.
        match std::env::var("SAKILA_SYNC_PAUSE_FOR")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        {
            Some(secs) => tokio::time::sleep(std::time::Duration::from_secs(secs)).await,
            None => std::future::pending::<()>().await,
        }
    }
}
