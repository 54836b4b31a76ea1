//! The fact tables' version diff: which rows of a fact table are new, changed or gone, from
//! one ordered pass over `(id, last_update)` of the source table and of the fact table.
//!
//! Why a diff and not a timestamp filter: Sakila has no index on `last_update`, so finding the
//! rows stamped since the last run is a full scan of the table anyway, and a filter alone
//! misses deletes and back-dated rows. Comparing every row's version costs that same one scan
//! per side and finds all of them. Both sides arrive in id order, in batches, from their own
//! readers (`pump` on the source, the warehouse's rusqlite reader), so memory holds only the
//! differences. [`super::incremental`] runs the diffs and re-reads what they name.

use anyhow::{Context, Result};
use futures::TryStreamExt;
use sea_orm::DbBackend;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, SimpleExpr};

/// Rows per batch handed from a stream to the merge.
const VERSION_BATCH: usize = 4_096;

/// `(id, last_update as unix seconds)` of a table, in id order.
pub(super) type Versions = Vec<(i64, Option<i64>)>;

/// Drains `rows` into `tx` in batches; stops quietly when the receiver is gone.
pub(super) async fn pump<St>(
    rows: St,
    tx: tokio::sync::mpsc::Sender<Versions>,
    what: fn() -> String,
) -> Result<()>
where
    St: futures::Stream<Item = Result<(i64, Option<i64>), sea_orm::DbErr>> + Unpin,
{
    let mut batches = rows.try_chunks(VERSION_BATCH).map_err(|e| e.1);
    while let Some(batch) = batches.try_next().await.with_context(what)? {
        if tx.send(batch).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// The newest `last_update` among the changed rows, and how many there were.
#[derive(Debug, Default)]
pub(super) struct ChangedMark {
    pub newest: Option<i64>,
    pub rows: u64,
}

/// Merges the source's and the warehouse's versions (both in id order) into a [`FactDiff`]:
/// a row is changed when its version differs, or when it is stamped at or after
/// `recheck_from` (Unix seconds: the start of the lookback window, see
/// [`super::incremental`]), where an equal version proves
/// nothing; those are re-read and compared, and written only if they differ.
pub(super) async fn merge_versions(
    mut source: tokio::sync::mpsc::Receiver<Versions>,
    mut loaded: tokio::sync::mpsc::Receiver<Versions>,
    recheck_from: Option<i64>,
    bar: crate::sync::progress::Rows,
) -> Result<(FactDiff, ChangedMark)> {
    let mut diff = FactDiff::default();
    let mut mark = ChangedMark::default();
    let mut changed = |id: i64, t: Option<i64>, diff: &mut FactDiff| {
        diff.changed.push(id);
        mark.rows += 1;
        mark.newest = Ord::max(mark.newest, t);
    };
    let (mut s_batch, mut w_batch) = (Vec::new().into_iter(), Vec::new().into_iter());
    let mut s_next = next_version(&mut s_batch, &mut source).await;
    let mut w_next = next_version(&mut w_batch, &mut loaded).await;
    let mut compared = 0u64;
    loop {
        compared += 1;
        if compared.is_multiple_of(4096) {
            bar.set_position(compared);
        }
        match (s_next, w_next) {
            (None, None) => break,
            (Some((id, t)), w) if w.is_none_or(|(wid, _)| id < wid) => {
                changed(id, t, &mut diff);
                s_next = next_version(&mut s_batch, &mut source).await;
            }
            (s, Some((wid, _))) if s.is_none_or(|(id, _)| wid < id) => {
                diff.gone.push(wid);
                w_next = next_version(&mut w_batch, &mut loaded).await;
            }
            (Some((id, t)), Some((_, wt))) => {
                let recent = matches!((t, recheck_from), (Some(t), Some(b)) if t >= b);
                if t != wt || t.is_none() || recent {
                    changed(id, t, &mut diff);
                }
                s_next = next_version(&mut s_batch, &mut source).await;
                w_next = next_version(&mut w_batch, &mut loaded).await;
            }
            _ => unreachable!("every pairing of the two heads is matched above"),
        }
    }
    bar.finish_and_clear();
    Ok((diff, mark))
}

/// The next version from the current batch, refilled from `rx` when it runs out.
async fn next_version(
    batch: &mut std::vec::IntoIter<(i64, Option<i64>)>,
    rx: &mut tokio::sync::mpsc::Receiver<Versions>,
) -> Option<(i64, Option<i64>)> {
    loop {
        if let Some(v) = batch.next() {
            return Some(v);
        }
        *batch = rx.recv().await?.into_iter();
    }
}

/// The ids of a fact table to re-read (new or changed) and to delete.
#[derive(Debug, Default)]
pub(super) struct FactDiff {
    pub changed: Vec<i64>,
    pub gone: Vec<i64>,
}

/// `expr` (a DATETIME or TIMESTAMP) as whole seconds since the epoch, UTC, in SQL: the
/// version the fact diffs compare. Public so `examples/orm_floor.rs` times the same query.
pub fn unix_seconds(backend: DbBackend, expr: Expr) -> SimpleExpr {
    match backend {
        DbBackend::MySql => as_i64(backend, Func::cust(Alias::new("UNIX_TIMESTAMP")).arg(expr)),
        // The warehouse's `timestamp` columns hold UTC.
        DbBackend::Postgres => as_i64(
            backend,
            Func::cust(Alias::new("date_part")).args([Expr::val("epoch"), expr]),
        ),
        // unixepoch(), not strftime('%s'): about five times faster over a whole fact table.
        _ => Func::cust(Alias::new("unixepoch")).arg(expr).into(),
    }
}

pub(super) fn from_unix(t: Option<i64>) -> Option<chrono::DateTime<chrono::Utc>> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
}

/// `CAST(expr AS <64-bit signed>)`, so ids of any width and signedness decode as `i64`.
pub fn as_i64(backend: DbBackend, expr: impl Into<Expr>) -> SimpleExpr {
    let ty = match backend {
        DbBackend::MySql => "SIGNED",
        DbBackend::Postgres => "BIGINT",
        _ => "INTEGER",
    };
    expr.into().cast_as(Alias::new(ty))
}

#[cfg(test)]
mod tests {
    use super::merge_versions;

    #[tokio::test]
    async fn versions_merge_into_changed_and_gone_ids() {
        let (s_tx, s_rx) = tokio::sync::mpsc::channel(4);
        let (w_tx, w_rx) = tokio::sync::mpsc::channel(4);
        // Batches split anywhere: the merge follows ids, not batch boundaries.
        s_tx.send(vec![(1, Some(10)), (2, Some(20)), (4, Some(40))])
            .await
            .unwrap();
        s_tx.send(vec![(5, Some(55)), (7, None), (9, Some(90))])
            .await
            .unwrap();
        drop(s_tx);
        w_tx.send(vec![(1, Some(10)), (2, Some(21)), (3, Some(30))])
            .await
            .unwrap();
        w_tx.send(vec![(5, Some(55)), (6, Some(60)), (7, None), (8, Some(1))])
            .await
            .unwrap();
        drop(w_tx);
        let (diff, mark) =
            merge_versions(s_rx, w_rx, Some(50), crate::sync::progress::rows("test"))
                .await
                .unwrap();
        // 1: same version, stamped before the lookback window: unchanged. 2: another
        // version. 4 and 9: new. 5: same version but inside the window, so it may have changed
        // unseen. 7: no version to compare. 3, 6 and 8: deleted.
        assert_eq!(diff.changed, vec![2, 4, 5, 7, 9]);
        assert_eq!(diff.gone, vec![3, 6, 8]);
        assert_eq!((mark.rows, mark.newest), (5, Some(90)));
    }
}
