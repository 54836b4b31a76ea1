//! The dimensions, bridges and inventory of an incremental run: each table's own changes (by
//! stamp, see [`super::changes`]), the members the source gained or lost (by key sets), and
//! the changes that reach a member through another table (a renamed city reaches its
//! customers and stores, a language its films).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use anyhow::{Context, Result};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};

use super::{Run, by_id, rows_where_in};
use crate::source::{address, city, country, inventory, language};
use crate::star::Dim;
use crate::star::bridge::{Bridge, FilmActor, FilmCategory};
use crate::star::{self, Dimension, Lookup, Refs};
use crate::sync::dims;
use crate::sync::extract::{self, Geography, read_error};
use crate::sync::load::{Write, write};
use crate::warehouse::entity::dim_staff;

/// Bridge pairs deleted per statement. SQLite takes no list of row values after `IN`, so each
/// pair is a term of an `OR`, and SQLite parses a chain of terms as deep as it is long (its
/// limit is 1,000).
const PAIRS_PER_DELETE: usize = 200;

impl Run<'_> {
    /// Source ids of a dimension's table, and which of them the warehouse lacks (or has
    /// flagged deleted), and which live warehouse members the source no longer has.
    async fn key_diff<E, D>(&self, pk: E::Column) -> Result<(Vec<u32>, Vec<u32>)>
    where
        E: EntityTrait,
        D: Dim,
    {
        if self.is_quiet(E::default().table_name()) {
            return Ok((Vec::new(), Vec::new()));
        }
        let source: HashSet<u32> = E::find()
            .select_only()
            .column(pk)
            .into_tuple::<u32>()
            .all(self.src)
            .await
            .with_context(read_error::<E>)?
            .into_iter()
            .collect();
        let live = dims::live_ids::<D, _>(self.txn).await?;
        let mut missing: Vec<u32> = source.difference(&live).copied().collect();
        let mut gone: Vec<u32> = live.difference(&source).copied().collect();
        missing.sort_unstable();
        gone.sort_unstable();
        Ok((missing, gone))
    }

    /// The address hierarchy of `address_ids` only: those addresses, their cities and their
    /// countries.
    async fn places(&self, address_ids: &[u32]) -> Result<Geography> {
        let addresses = by_id(
            rows_where_in::<address::Entity, _, _>(
                self.src,
                address::Column::AddressId,
                address_ids,
            )
            .await?,
            |a| a.address_id,
        );
        let city_ids: Vec<u32> = addresses
            .values()
            .map(|a| a.city_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let cities = by_id(
            rows_where_in::<city::Entity, _, _>(self.src, city::Column::CityId, &city_ids).await?,
            |c| c.city_id,
        );
        let country_ids: Vec<u32> = cities
            .values()
            .map(|c| c.country_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let countries = by_id(
            rows_where_in::<country::Entity, _, _>(
                self.src,
                country::Column::CountryId,
                &country_ids,
            )
            .await?,
            |c| c.country_id,
        );
        Ok(Geography {
            countries: countries.into_iter().collect(),
            cities: cities.into_iter().collect(),
            addresses: addresses.into_iter().collect(),
        })
    }

    /// Syncs dimension `D`: the members the source gained or lost (key sets), the rows changed
    /// by stamp ([`Run::own_changes`]), and the rows whose folded lookup row changed
    /// (`changed_lookups`: the ids of the addresses or languages that changed). Returns what
    /// was applied and the source rows read.
    pub(super) async fn dimension<D: Dimension>(
        &mut self,
        changed_lookups: &[u32],
    ) -> Result<(
        dims::Applied<<D::Star as EntityTrait>::Model>,
        BTreeMap<u32, D::Row>,
    )> {
        let s = Instant::now();
        let (missing, gone) = self.key_diff::<D::Source, D::Star>(D::id_column()).await?;
        let own = self
            .own_changes::<D::Source, D::Star>(
                D::source_table(),
                (D::id_column(), D::last_update_column()),
            )
            .await?;
        let wanted: Vec<i64> = own
            .into_iter()
            .chain(missing.iter().map(|&id| i64::from(id)))
            .collect();
        let mut rows = BTreeMap::new();
        for row in self.dimension_rows::<D, _>(D::id_column(), &wanted).await? {
            rows.insert(D::id(&row), row);
        }
        if let Some((_, column)) = D::folds() {
            for row in self.dimension_rows::<D, _>(column, changed_lookups).await? {
                rows.insert(D::id(&row), row);
            }
        }
        let refs = self.refs_for::<D>(rows.values()).await?;
        let members = rows
            .values()
            .map(|row| D::member(0, row, &refs))
            .collect::<Result<Vec<_>>>()?;
        let applied = dims::apply::<D::Star, _>(self.txn, D::keys(&mut self.keys), members).await?;
        let deleted = dims::soft_delete::<D::Star, _>(self.txn, &gone).await?;
        self.t.add(
            D::star_table(),
            applied.inserted,
            applied.updated,
            deleted,
            s,
        );
        Ok((applied, rows))
    }

    /// The source rows of dimension `D` whose `column` is one of `ids`, in chunks.
    async fn dimension_rows<D: Dimension, V: Into<sea_orm::Value> + Copy>(
        &self,
        column: <D::Source as EntityTrait>::Column,
        ids: &[V],
    ) -> Result<Vec<D::Row>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(dims::IN_CHUNK) {
            out.extend(
                D::select()
                    .filter(column.is_in(chunk.iter().copied()))
                    .into_model::<D::Row>()
                    .all(self.src)
                    .await
                    .with_context(read_error::<D::Source>)?,
            );
        }
        Ok(out)
    }

    /// The lookup rows `rows` fold in: all languages (a few), or the places of their
    /// addresses only.
    async fn refs_for<'r, D: Dimension>(
        &self,
        rows: impl Iterator<Item = &'r D::Row>,
    ) -> Result<Refs> {
        let mut refs = Refs::default();
        match D::folds() {
            Some((Lookup::Language, _)) => {
                refs.languages = extract::all::<language::Entity, _>(self.src)
                    .await?
                    .into_iter()
                    .map(|l| (l.language_id, l.name))
                    .collect();
            }
            Some((Lookup::Address, _)) => {
                let ids: BTreeSet<u32> = rows.filter_map(D::folded).collect();
                refs.geo = self.places(&ids.into_iter().collect::<Vec<_>>()).await?;
            }
            None => {}
        }
        Ok(refs)
    }

    /// Returns the staff members whose store changed: their payments move with them.
    pub(super) async fn staff(&mut self) -> Result<Vec<u32>> {
        let (applied, rows) = self.dimension::<star::Staff>(&[]).await?;
        let moved = rows
            .values()
            .filter(|st| {
                applied
                    .previous
                    .get(&(st.staff_id as i32))
                    .is_some_and(|old| old.store_id != st.store_id as i32)
            })
            .map(|st| st.staff_id)
            .collect();
        // Payments resolve their store through the staff member: the current one, from the
        // (now up to date) warehouse.
        let pairs: Vec<(i32, i32)> = dim_staff::Entity::find()
            .select_only()
            .column(dim_staff::Column::StaffId)
            .column(dim_staff::Column::StoreId)
            .into_tuple()
            .all(self.txn)
            .await
            .context("cannot read warehouse table dim_staff")?;
        for (staff_id, store_id) in pairs {
            self.keys
                .staff_store
                .insert(staff_id as u32, store_id as u32);
        }
        Ok(moved)
    }

    /// Bridges are small: compare the whole key sets and apply the difference.
    pub(super) async fn bridges(&mut self) -> Result<()> {
        self.bridge::<FilmActor>().await?;
        self.bridge::<FilmCategory>().await
    }

    async fn bridge<B: Bridge>(&mut self) -> Result<()> {
        if self.is_quiet(B::source_table()) {
            return Ok(());
        }
        let s = Instant::now();
        let source = extract::all::<B::Source, _>(self.src).await?;
        let mut want = BTreeSet::new();
        for row in &source {
            self.marks
                .observe(B::source_table(), Some(B::last_update(row)));
            want.insert(B::keys(&self.keys, row)?);
        }
        self.marks.touch(B::source_table());
        let [first, second] = B::star_keys();
        let have: BTreeSet<(i32, i32)> = B::Star::find()
            .select_only()
            .columns([first, second])
            .into_tuple()
            .all(self.txn)
            .await
            .with_context(|| format!("cannot read warehouse table {}", B::star_table()))?
            .into_iter()
            .collect();
        let add: Vec<_> = want.difference(&have).map(|&pair| B::row(pair)).collect();
        let gone: Vec<(i32, i32)> = have.difference(&want).copied().collect();
        let mut deleted = 0;
        for chunk in gone.chunks(PAIRS_PER_DELETE) {
            let pairs = chunk.iter().fold(Condition::any(), |any, &(a, b)| {
                any.add(first.eq(a).and(second.eq(b)))
            });
            deleted += B::Star::delete_many()
                .filter(pairs)
                .exec(self.txn)
                .await
                .with_context(|| format!("cannot delete from {}", B::star_table()))?
                .rows_affected;
        }
        let inserted = write::<B::Star, _>(self.txn, add, Write::Insert).await?;
        self.t.add(B::star_table(), inserted, 0, deleted, s);
        Ok(())
    }

    /// Reads the inventory copies that changed; returns their ids (their rentals move with them).
    pub(super) async fn inventory(&mut self) -> Result<Vec<u32>> {
        let rows = self
            .changed_lookup::<inventory::Entity>(
                inventory::Column::InventoryId,
                inventory::Column::LastUpdate,
                |i| (i.inventory_id, i.last_update),
            )
            .await?;
        let mut ids = Vec::with_capacity(rows.len());
        for i in rows {
            self.keys
                .inventory
                .insert(i.inventory_id, (i.film_id, i.store_id));
            ids.push(i.inventory_id);
        }
        Ok(ids)
    }
}
