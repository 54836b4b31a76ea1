//! The pipeline: extract (source reads) -> transform (pure functions) -> load (batched writes),
//! for a `full-load` or an `incremental` run. Each run is one warehouse transaction that also
//! advances `sync_state` and finishes its `sync_run` row, so it commits whole or not at all.

pub mod dims;
pub mod extract;
pub mod full_load;
pub mod horizon;
pub mod incremental;
pub mod load;
pub mod pipe;
pub mod progress;
pub mod quiet;
pub mod reconcile;
pub mod run;
pub mod state;
pub mod versions;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::NaiveDateTime;
use sea_orm::DatabaseTransaction;

use extract::Marks;
use run::{RunReport, Tracker};

/// Ends a run, full-load or incremental alike: advances `sync_state` past `previous`, records
/// which source was read (for [`quiet`]) and marks the `sync_run` row a success, all inside
/// the warehouse transaction, then commits it and releases the source snapshot.
async fn commit(
    src: Arc<DatabaseTransaction>,
    txn: DatabaseTransaction,
    t: &Tracker,
    marks: &Marks,
    previous: &BTreeMap<String, Option<NaiveDateTime>>,
    times: Option<&quiet::TableTimes>,
) -> Result<RunReport> {
    state::advance(&txn, marks, previous, t.run_id).await?;
    quiet::record_identity(&txn, times).await?;
    run::finish(&txn, &t.report()).await?;
    crate::failpoint::reached("run:before-commit").await;
    crate::lock::still_held(&txn).await?;
    let s = std::time::Instant::now();
    txn.commit()
        .await
        .context("cannot commit the warehouse transaction")?;
    tracing::debug!("committed in {:.3} s", s.elapsed().as_secs_f64());
    if let Ok(src) = Arc::try_unwrap(src) {
        src.rollback().await.ok();
    }
    Ok(t.report())
}
