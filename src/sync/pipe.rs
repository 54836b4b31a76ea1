//! The bulk copy of a fact table, on two cores: a producer task streams the source rows,
//! transforms them and builds each batch's statements in the warehouse backend's bulk form
//! ([`Backend::bulk_insert`]: multi-row INSERTs on SQLite, one array per column on
//! PostgreSQL), while the caller extends `dim_date` when a batch needs it and executes the
//! statements, so MySQL decoding, statement building and the warehouse's own work all
//! overlap. At most a few batches are in flight: memory stays bounded whatever the table
//! size.

use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use futures::TryStreamExt;
use sea_orm::{ConnectionTrait, DatabaseTransaction, EntityTrait, QueryOrder, Statement};

use super::extract::Mark;
use super::progress;
use crate::star::{Fact, Keys};
use crate::warehouse::backend::Backend;
use crate::warehouse::dates;

struct Batch {
    stmts: Vec<Statement>,
    rows: u64,
    days: Option<(NaiveDate, NaiveDate)>,
}

/// Keeps `dim_date` covering every day a written fact points at, with one in-memory range
/// check per batch and a write only when a batch falls outside the calendar. The calendar is
/// read once, checked gap-free ([`dates::extend_hull`]); from then on only the days beyond
/// it are inserted ([`dates::extend_known`]).
#[derive(Default)]
pub struct DateCover {
    range: Option<(NaiveDate, NaiveDate)>,
    pub added: u64,
}

impl DateCover {
    pub async fn cover<C: ConnectionTrait>(
        &mut self,
        db: &C,
        lo: NaiveDate,
        hi: NaiveDate,
    ) -> Result<()> {
        if let Some((a, b)) = self.range
            && a <= lo
            && hi <= b
        {
            return Ok(());
        }
        let (added, range) = match self.range {
            Some(have) => dates::extend_known(db, have, lo, hi).await?,
            None => dates::extend_hull(db, lo, hi).await?,
        };
        self.added += added;
        self.range = Some(range);
        Ok(())
    }
}

/// What [`copy`] did.
pub struct Copied {
    /// The source's rows.
    pub rows: u64,
    /// The rows the warehouse wrote: all of them, or when reconciling those it did not hold
    /// as they are.
    pub written: u64,
    /// The source table's mark.
    pub mark: Mark,
    /// When reconciling, the source's ids, ascending: the rows the table must hold
    /// ([`super::reconcile::delete_unseen`] deletes the others). 4 bytes a row.
    pub ids: Vec<i32>,
}

/// Copies every row of fact `F` from the snapshot `src` into the warehouse inside `txn`, in id
/// order, as plain inserts or, with `reconcile`, into a table that may hold the rows already
/// ([`super::load::Write::Reconcile`]).
pub async fn copy<F: Fact>(
    src: Arc<DatabaseTransaction>,
    txn: &DatabaseTransaction,
    keys: Arc<Keys>,
    cover: &mut DateCover,
    reconcile: bool,
) -> Result<Copied> {
    let backend = Backend::of(txn);
    let per_statement = backend.bulk_rows::<F::Star>();
    let select = F::Source::find().order_by_asc(F::source_id());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(3);
    let label = F::star_table();
    let producer = tokio::spawn(async move {
        let mut mark = Mark::default();
        let mut ids = Vec::new();
        let mut last_id: Option<i64> = None;
        let mut chunks = select
            .stream(&*src)
            .await
            .with_context(|| format!("cannot read the source rows for {label}"))?
            .try_chunks(per_statement);
        loop {
            let rows = match chunks.try_next().await {
                Ok(Some(rows)) => rows,
                Ok(None) => break,
                Err(e) => {
                    // Rows read before the failure came with it: the bad one follows them.
                    last_id = e.0.last().and_then(|r| F::fact_id(r)).or(last_id);
                    drop(chunks);
                    return Err(super::extract::unreadable_row::<F::Source, _>(
                        &*src,
                        F::source_id(),
                        last_id,
                        e.1,
                    )
                    .await);
                }
            };
            last_id = rows.last().and_then(|r| F::fact_id(r)).or(last_id);
            let mut days: Option<(NaiveDate, NaiveDate)> = None;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                mark.observe(F::last_update(row).map(|t| t.naive_utc()));
                let o = F::fact(&keys, row)?;
                if reconcile {
                    ids.push(F::id(&o));
                }
                for d in F::days(&o).into_iter().flatten() {
                    days = Some(days.map_or((d, d), |(a, b)| (a.min(d), b.max(d))));
                }
                out.push(o);
            }
            let batch = Batch {
                stmts: backend.bulk_insert::<F::Star>(&out, reconcile),
                rows: out.len() as u64,
                days,
            };
            if tx.send(batch).await.is_err() {
                break; // the writer stopped; its error is the one to report
            }
        }
        Ok::<_, anyhow::Error>((mark, ids))
    });
    let bar = progress::rows(label);
    let (mut rows, mut written) = (0, 0);
    let consumed: Result<()> = async {
        while let Some(batch) = rx.recv().await {
            if let Some((lo, hi)) = batch.days {
                cover.cover(txn, lo, hi).await?;
            }
            for stmt in batch.stmts {
                written += txn
                    .execute_raw(stmt)
                    .await
                    .with_context(|| format!("cannot write to warehouse table {label}"))?
                    .rows_affected();
            }
            rows += batch.rows;
            bar.inc(batch.rows);
        }
        Ok(())
    }
    .await;
    drop(rx);
    let mark = producer
        .await
        .context("the source reader stopped unexpectedly")?;
    consumed?;
    let (mark, ids) = mark?;
    bar.finish_and_clear();
    Ok(Copied {
        rows,
        written,
        mark,
        ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::entity::dim_date;
    use sea_orm::PaginatorTrait;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Batches past the calendar add exactly the days beyond it, batch after batch, and the
    /// calendar stays one gap-free range; a batch inside it writes nothing.
    #[tokio::test]
    async fn a_load_past_the_calendar_adds_only_the_new_days() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        crate::warehouse::schema::create_all(&db).await.unwrap();
        dates::extend_hull(&db, day(2000, 1, 1), day(2030, 12, 31))
            .await
            .unwrap();
        let mut cover = DateCover::default();
        cover
            .cover(&db, day(2010, 1, 1), day(2010, 2, 1))
            .await
            .unwrap();
        assert_eq!(cover.added, 0);
        cover
            .cover(&db, day(2030, 12, 1), day(2031, 1, 10))
            .await
            .unwrap();
        assert_eq!(cover.added, 10);
        cover
            .cover(&db, day(2031, 1, 5), day(2031, 1, 20))
            .await
            .unwrap();
        assert_eq!(cover.added, 20);
        cover
            .cover(&db, day(1999, 12, 30), day(1999, 12, 30))
            .await
            .unwrap();
        assert_eq!(cover.added, 22);
        let days = dim_date::Entity::find().count(&db).await.unwrap();
        let span = (day(2031, 1, 20) - day(1999, 12, 30)).num_days() as u64 + 1;
        assert_eq!(days, span, "one gap-free range");
        assert_eq!(
            dates::range(&db).await.unwrap(),
            Some((day(1999, 12, 30), day(2031, 1, 20)))
        );
    }
}
