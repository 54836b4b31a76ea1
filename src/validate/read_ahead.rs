//! Reading a big warehouse table on its own task, so that decoding its rows (the costliest
//! part of a SQLite read) runs on another core than the source read and the comparison.

use anyhow::{Context, Result, anyhow};
use futures::channel::mpsc;
use futures::{SinkExt, Stream, StreamExt, TryStreamExt, stream};
use sea_orm::{DatabaseTransaction, EntityTrait, QueryOrder};
use tokio::task::JoinHandle;

/// Rows per batch handed from the reading task to the merge.
const BATCH: usize = 1024;
/// Batches in flight: memory holds at most this many, whatever the table size.
const IN_FLIGHT: usize = 4;

/// A warehouse table being read by another task.
pub struct ReadAhead<M> {
    rows: mpsc::Receiver<Result<Vec<M>>>,
    task: JoinHandle<DatabaseTransaction>,
}

/// Starts reading every row of `E` in `order` inside `wh`, which the task hands back from
/// [`ReadAhead::finish`].
pub fn read_ahead<E>(wh: DatabaseTransaction, order: E::Column) -> ReadAhead<E::Model>
where
    E: EntityTrait,
    E::Model: Send + 'static,
    E::Column: Send + 'static,
{
    let (mut tx, rx) = mpsc::channel::<Result<Vec<E::Model>>>(IN_FLIGHT);
    let table = E::default().table_name();
    let task = tokio::spawn(async move {
        let read = async {
            let mut rows = E::find().order_by_asc(order).stream(&wh).await?;
            let mut batch = Vec::with_capacity(BATCH);
            while let Some(row) = rows.try_next().await? {
                batch.push(row);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if tx.send(Ok(full)).await.is_err() {
                        return Ok(()); // the merge stopped: its error is the one to report
                    }
                }
            }
            if !batch.is_empty() {
                tx.send(Ok(batch)).await.ok();
            }
            Ok::<_, sea_orm::DbErr>(())
        }
        .await;
        if let Err(e) = read {
            let e = anyhow!(e).context(format!("cannot read warehouse table {table}"));
            tx.send(Err(e)).await.ok();
        }
        wh
    });
    ReadAhead { rows: rx, task }
}

impl<M> ReadAhead<M> {
    /// The rows, in order, one at a time.
    pub fn rows(&mut self) -> impl Stream<Item = Result<M>> + '_ {
        (&mut self.rows).flat_map(|batch| match batch {
            Ok(rows) => stream::iter(rows.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::once(async { Err(e) }).right_stream(),
        })
    }

    /// Waits for the reading task and takes the transaction back.
    pub async fn finish(self) -> Result<DatabaseTransaction> {
        drop(self.rows);
        self.task.await.context("the warehouse reading task failed")
    }
}
