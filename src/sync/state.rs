//! `sync_state`: the per-table watermarks a run leaves behind for the next one.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::NaiveDateTime;
use sea_orm::{ConnectionTrait, EntityTrait};

use super::extract::Marks;
use super::load::{Write, write};
use super::run::now;
use crate::warehouse::entity::sync_state;

/// Creates a row per tracked table with no watermark, keeping existing rows. Idempotent.
pub async fn init<C: ConnectionTrait>(db: &C) -> Result<()> {
    let at = now();
    let rows = crate::star::source_tables().into_iter().map(|t| {
        sea_orm::IntoActiveModel::into_active_model(sync_state::Model {
            table_name: t.to_string(),
            watermark: None,
            rows_read: 0,
            last_run_id: None,
            updated_at: at,
        })
    });
    sync_state::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([sync_state::Column::TableName])
        .exec_without_returning(db)
        .await
        .context("cannot initialise sync_state")?;
    Ok(())
}

/// The watermark of every tracked table (`None`: never loaded).
pub async fn watermarks<C: ConnectionTrait>(
    db: &C,
) -> Result<BTreeMap<String, Option<NaiveDateTime>>> {
    Ok(sync_state::Entity::find()
        .all(db)
        .await
        .context("cannot read sync_state")?
        .into_iter()
        .map(|s| (s.table_name, s.watermark))
        .collect())
}

/// Writes the marks of a run. A table's watermark never moves backwards, and a table whose
/// watermark did not move keeps its row untouched (so a run that found no change writes
/// nothing here either). A full-load passes no `previous` and rewrites every row.
pub async fn advance<C: ConnectionTrait>(
    db: &C,
    marks: &Marks,
    previous: &BTreeMap<String, Option<NaiveDateTime>>,
    run_id: i32,
) -> Result<()> {
    let at = now();
    let rows = marks
        .0
        .iter()
        .filter(|(table, m)| {
            previous.is_empty() || m.watermark > previous.get(**table).copied().flatten()
        })
        .map(|(table, m)| sync_state::Model {
            table_name: table.to_string(),
            watermark: m.watermark.max(previous.get(*table).copied().flatten()),
            rows_read: m.rows as i64,
            last_run_id: Some(run_id),
            updated_at: at,
        })
        .collect();
    write::<sync_state::Entity, _>(db, rows, Write::Upsert).await?;
    Ok(())
}
