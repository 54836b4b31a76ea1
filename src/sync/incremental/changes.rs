//! Own changes by stamp: the rows of a table stamped after its watermark or within the
//! lookback window, compared with the version the warehouse holds (`source_version`, or the
//! dimension's own `last_update`).

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use chrono::NaiveDateTime;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{Candidate, Run, rows_where_in, since_condition};
use crate::sync::dims::IN_CHUNK;
use crate::sync::extract::read_error;
use crate::sync::load::{Write, write};
use crate::sync::versions::as_i64;
use crate::warehouse::entity::source_version;

/// Above this many lookback candidates, a lookup table's versions are read whole.
const BULK_VERSIONS: usize = 20_000;

impl Run<'_> {
    /// `source_version` of `table`: all of it, or the rows of the ids in `chunk`.
    async fn versions(
        &self,
        table: &str,
        chunk: Option<&[Candidate]>,
    ) -> Result<HashMap<i64, Option<NaiveDateTime>>> {
        let mut q = source_version::Entity::find()
            .select_only()
            .columns([
                source_version::Column::RowId,
                source_version::Column::LastUpdate,
            ])
            .filter(source_version::Column::TableName.eq(table));
        if let Some(chunk) = chunk {
            q = q.filter(source_version::Column::RowId.is_in(chunk.iter().map(|(id, _)| *id)));
        }
        Ok(q.into_tuple::<(i64, Option<NaiveDateTime>)>()
            .all(self.txn)
            .await
            .context("cannot read warehouse table source_version")?
            .into_iter()
            .collect())
    }

    /// Rows of a lookup table (no warehouse row of its own) changed since its watermark or
    /// stamped within the lookback window; records the versions that moved.
    ///
    /// Every candidate is read, even one whose `last_update` `source_version` already holds:
    /// inside the window an equal stamp proves nothing ([`super::Plan::recheck_from`]). What the rows
    /// derive (customers, stores, films, rentals) is compared before it is written, so a
    /// candidate that did not change costs a read, not a write.
    pub(super) async fn changed_lookup<E>(
        &mut self,
        pk: E::Column,
        last_update: E::Column,
        version: impl Fn(&E::Model) -> (u32, chrono::DateTime<chrono::Utc>),
    ) -> Result<Vec<E::Model>>
    where
        E: EntityTrait,
    {
        let table = crate::db::table::<E>();
        let candidates = self.changed_ids::<E>(pk, last_update, table).await?;
        // Bulk-loaded tables share one timestamp, so the lookback can make every row a
        // candidate: then one read of the table's versions beats thousands of IN lists.
        let whole_table = if candidates.len() > BULK_VERSIONS {
            Some(self.versions(table, None).await?)
        } else {
            None
        };
        let mut moved = HashSet::new();
        for chunk in candidates.chunks(IN_CHUNK) {
            let fetched;
            let known = match &whole_table {
                Some(all) => all,
                None => {
                    fetched = self.versions(table, Some(chunk)).await?;
                    &fetched
                }
            };
            moved.extend(chunk.iter().filter_map(|(id, lu)| {
                let lu = lu.map(|t| t.naive_utc());
                (known.get(id) != Some(&lu)).then_some(*id)
            }));
        }
        // Read (and re-derive what depends on) the rows whose version moved and the ones
        // stamped where an equal version proves nothing. In the usual window those are all
        // the candidates; read whole (no horizon, see `Missed::Unknown`), the others are
        // known unchanged and are not fetched.
        let ids = self.worth_reading(&candidates, |id, _| moved.contains(&id));
        let rows = rows_where_in::<E, _, _>(self.src, pk, &ids).await?;
        let versions = rows
            .iter()
            .map(&version)
            .filter(|(id, _)| moved.contains(&i64::from(*id)))
            .map(|(id, lu)| source_version::Model {
                table_name: table.to_string(),
                row_id: id.into(),
                last_update: Some(lu.naive_utc()),
            })
            .collect();
        write::<source_version::Entity, _>(self.txn, versions, Write::Upsert).await?;
        Ok(rows)
    }

    /// The candidates to read again: those `moved` says changed, and every one stamped at or
    /// after [`super::Plan::recheck_from`] (or not stamped), where an equal version proves nothing.
    fn worth_reading(
        &self,
        candidates: &[Candidate],
        moved: impl Fn(i64, Option<chrono::NaiveDateTime>) -> bool,
    ) -> Vec<i64> {
        candidates
            .iter()
            .filter(|(id, lu)| {
                let lu = lu.map(|t| t.naive_utc());
                moved(*id, lu)
                    || match (lu, self.plan.recheck_from) {
                        (Some(t), Some(from)) => t >= from,
                        _ => true,
                    }
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Ids of the rows of dimension table `E` changed since its watermark or stamped within
    /// the lookback window. Inside the window an equal stamp proves nothing
    /// ([`super::Plan::recheck_from`]), so every candidate is read again and compared with its
    /// warehouse row: one that did not change costs a read, not a write.
    pub(super) async fn own_changes<E, D>(
        &mut self,
        table: &'static str,
        src: (E::Column, E::Column),
    ) -> Result<Vec<i64>>
    where
        E: EntityTrait,
        D: crate::star::Dim,
    {
        let candidates = self.changed_ids::<E>(src.0, src.1, table).await?;
        if self.since(table) != super::Since::All {
            return Ok(candidates.into_iter().map(|(id, _)| id).collect());
        }
        // Read whole (no horizon): compare each stamp with the member's, so that only the
        // members that changed are read and re-derived.
        let loaded = crate::sync::dims::versions::<D, _>(self.txn).await?;
        Ok(self.worth_reading(&candidates, |id, lu| {
            i32::try_from(id).map_or(true, |id| loaded.get(&id) != Some(&lu))
        }))
    }

    /// Ids (and last_update) of the rows of `E` in its window (see [`super::window`]); their stamps
    /// go into the table's watermark mark.
    async fn changed_ids<E>(
        &mut self,
        pk: E::Column,
        last_update: E::Column,
        table: &'static str,
    ) -> Result<Vec<Candidate>>
    where
        E: EntityTrait,
    {
        // Every table gets a mark, quiet or not (see `Marks::touch`).
        self.marks.touch(table);
        if self.is_quiet(table) {
            return Ok(Vec::new());
        }
        let rows: Vec<Candidate> = E::find()
            .select_only()
            .column_as(as_i64(self.src.get_database_backend(), Expr::col(pk)), "id")
            .column(last_update)
            .filter(since_condition(last_update, self.since(table)))
            .into_tuple()
            .all(self.src)
            .await
            .with_context(read_error::<E>)?;
        for (_, lu) in &rows {
            self.marks.observe(table, *lu);
        }
        Ok(rows)
    }
}
