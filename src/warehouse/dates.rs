//! Filling `dim_date`: a default range at `init`, and whatever a load needs beyond it.

use anyhow::{Context, Result};
use chrono::NaiveDate;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
};

use super::entity::dim_date;
use crate::star::transform::{date_key, date_row};

pub fn default_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date")
}

pub fn default_end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2030, 12, 31).expect("valid date")
}

/// Makes sure every day of `[from, to]` is in `dim_date`; returns how many rows it added.
/// Cheap when the range is already there (one COUNT).
pub async fn ensure_range<C: ConnectionTrait>(
    db: &C,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<u64> {
    if from > to {
        return Ok(0);
    }
    let days = (to - from).num_days() as u64 + 1;
    let present = dim_date::Entity::find()
        .filter(dim_date::Column::DateKey.between(date_key(from), date_key(to)))
        .count(db)
        .await
        .context("cannot read dim_date")?;
    if present == days {
        return Ok(0);
    }
    insert_days(db, from, to).await
}

/// Inserts every day of `[from, to]` that `dim_date` lacks, 2000 to a statement.
async fn insert_days<C: ConnectionTrait>(db: &C, from: NaiveDate, to: NaiveDate) -> Result<u64> {
    let mut added = 0;
    let mut day = from;
    while day <= to {
        let chunk: Vec<_> = day
            .iter_days()
            .take_while(|d| *d <= to)
            .take(2000)
            .collect();
        day = *chunk.last().expect("non-empty") + chrono::Days::new(1);
        let res = dim_date::Entity::insert_many(
            chunk.into_iter().map(|d| date_row(d).into_active_model()),
        )
        .on_conflict_do_nothing_on([dim_date::Column::DateKey])
        .exec_without_returning(db)
        .await
        .context("cannot fill dim_date")?;
        if let sea_orm::TryInsertResult::Inserted(n) = res {
            added += n;
        }
    }
    Ok(added)
}

/// The first and last day in `dim_date`, if any.
pub async fn range<C: ConnectionTrait>(db: &C) -> Result<Option<(NaiveDate, NaiveDate)>> {
    use sea_orm::QuerySelect;
    let (lo, hi): (Option<NaiveDate>, Option<NaiveDate>) = dim_date::Entity::find()
        .select_only()
        .column_as(dim_date::Column::FullDate.min(), "lo")
        .column_as(dim_date::Column::FullDate.max(), "hi")
        .into_tuple()
        .one(db)
        .await
        .context("cannot read dim_date")?
        .unwrap_or_default();
    Ok(lo.zip(hi))
}

/// Extends `dim_date` so it is one gap-free range covering what it held plus `[from, to]`.
/// Both `full-load` and `incremental` use it, so they leave the same calendar behind; the
/// calendar never shrinks. Returns the rows added and the range `dim_date` now holds.
pub async fn extend_hull<C: ConnectionTrait>(
    db: &C,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(u64, (NaiveDate, NaiveDate))> {
    let (from, to) = match range(db).await? {
        Some((lo, hi)) => (lo.min(from), hi.max(to)),
        None => (from, to),
    };
    Ok((ensure_range(db, from, to).await?, (from, to)))
}

/// Extends `dim_date`, which holds exactly the gap-free range `have`, to also cover
/// `[from, to]`: inserts only the days on either side of `have`, with no read. This is what a
/// load calls batch after batch when its facts run past the calendar (dates before 2000 or
/// after 2030): re-checking the whole calendar each time made that cost grow with the
/// calendar's length, twice the time of the whole load at 100x (issue 20).
pub async fn extend_known<C: ConnectionTrait>(
    db: &C,
    have: (NaiveDate, NaiveDate),
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(u64, (NaiveDate, NaiveDate))> {
    let (lo, hi) = have;
    let mut added = 0;
    if from < lo {
        added += insert_days(db, from, lo.pred_opt().unwrap_or(lo)).await?;
    }
    if to > hi {
        added += insert_days(db, hi.succ_opt().unwrap_or(hi), to).await?;
    }
    Ok((added, (lo.min(from), hi.max(to))))
}
