//! What `incremental` needs to know about each dimension table, so one generic routine can
//! upsert changed members and soft-delete vanished ones for all six.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::load::write_changes;
use crate::star::Dim;
use crate::star::keymap::KeyMap;

/// Ids per `IN (...)` list: well under MySQL's and SQLite's bind limits.
pub const IN_CHUNK: usize = 5_000;

fn table<D: EntityTrait>() -> &'static str {
    D::default().table_name()
}

/// natural id -> surrogate key of every member, deleted ones included.
pub async fn key_map<D, C>(db: &C) -> Result<KeyMap<i32>>
where
    D: Dim,
    C: ConnectionTrait,
{
    let pairs: Vec<(i32, i32)> = D::find()
        .select_only()
        .column(D::natural_col())
        .column(D::key_col())
        .into_tuple()
        .all(db)
        .await
        .with_context(|| format!("cannot read warehouse table {}", table::<D>()))?;
    let mut map = KeyMap::default();
    for (natural, key) in pairs {
        map.insert(natural as u32, key);
    }
    Ok(map)
}

/// natural id -> the source `last_update` each member was made from.
pub async fn versions<D, C>(db: &C) -> Result<HashMap<i32, Option<chrono::NaiveDateTime>>>
where
    D: Dim,
    C: ConnectionTrait,
{
    let pairs: Vec<(i32, Option<chrono::NaiveDateTime>)> = D::find()
        .select_only()
        .column(D::natural_col())
        .column(D::last_update_col())
        .into_tuple()
        .all(db)
        .await
        .with_context(|| format!("cannot read warehouse table {}", table::<D>()))?;
    Ok(pairs.into_iter().collect())
}

/// Natural ids of the members not flagged deleted.
pub async fn live_ids<D, C>(db: &C) -> Result<HashSet<u32>>
where
    D: Dim,
    C: ConnectionTrait,
{
    let ids: Vec<i32> = D::find()
        .select_only()
        .column(D::natural_col())
        .filter(D::deleted_col().eq(false))
        .into_tuple()
        .all(db)
        .await
        .with_context(|| format!("cannot read warehouse table {}", table::<D>()))?;
    Ok(ids.into_iter().map(|i| i as u32).collect())
}

/// What [`apply`] did: counts, and the rows as they were before (to spot moves).
pub struct Applied<M> {
    pub inserted: u64,
    pub updated: u64,
    pub previous: HashMap<i32, M>,
}

/// Upserts freshly derived members: an existing member keeps its surrogate key and only the
/// columns that differ are written ([`write_changes`]); a new one gets the next key.
pub async fn apply<D, C>(
    db: &C,
    keys: &mut KeyMap<i32>,
    rows: Vec<D::Model>,
) -> Result<Applied<D::Model>>
where
    D: Dim,
    C: ConnectionTrait,
{
    let mut previous = HashMap::new();
    let ids: Vec<i32> = rows.iter().map(D::natural).collect();
    for chunk in ids.chunks(IN_CHUNK) {
        for m in D::find()
            .filter(D::natural_col().is_in(chunk.iter().copied()))
            .all(db)
            .await
            .with_context(|| format!("cannot read warehouse table {}", table::<D>()))?
        {
            previous.insert(D::natural(&m), m);
        }
    }
    let mut next_key = keys.iter().map(|(_, k)| k).max().unwrap_or(0);
    let mut rows = rows;
    for row in &mut rows {
        match previous.get(&D::natural(row)) {
            Some(old) => D::set_key(row, D::key(old)),
            None => {
                next_key += 1;
                D::set_key(row, next_key);
                keys.insert(D::natural(row) as u32, next_key);
            }
        }
    }
    let done = write_changes::<D, _>(db, rows, |r| previous.get(&D::natural(r))).await?;
    Ok(Applied {
        inserted: done.inserted,
        updated: done.updated,
        previous,
    })
}

/// Flags members as deleted (they stay: facts may still point at them).
pub async fn soft_delete<D, C>(db: &C, ids: &[u32]) -> Result<u64>
where
    D: Dim,
    C: ConnectionTrait,
{
    let mut n = 0;
    for chunk in ids.chunks(IN_CHUNK) {
        n += D::update_many()
            .col_expr(D::deleted_col(), Expr::value(true))
            .filter(D::natural_col().is_in(chunk.iter().map(|i| *i as i32)))
            .exec(db)
            .await
            .with_context(|| format!("cannot update warehouse table {}", table::<D>()))?
            .rows_affected;
    }
    Ok(n)
}
