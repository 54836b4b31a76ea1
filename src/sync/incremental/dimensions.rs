//! The dimensions, bridges and inventory of an incremental run: each table's own changes (by
//! stamp, see [`super::changes`]), the members the source gained or lost (by key sets), and
//! the changes that reach a member through another table (a renamed city reaches its
//! customers and stores, a language its films).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};

use super::{Run, by_id, rows_where_in};
use crate::source::{
    actor, address, category, city, country, customer, film, inventory, language, staff, store,
};
use crate::sync::bridge::{Bridge, FilmActor, FilmCategory};
use crate::sync::dims::{self, Dim};
use crate::sync::extract::{self, read_error};
use crate::sync::load::{Write, write};
use crate::sync::transform::{
    Place, actor_row, category_row, customer_row, film_row, place, staff_row, store_row,
};
use crate::warehouse::entity::{
    dim_actor, dim_category, dim_customer, dim_film, dim_staff, dim_store,
};

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

    pub(super) async fn films(&mut self, renamed_languages: &[u32]) -> Result<()> {
        let s = Instant::now();
        let (missing, gone) = self
            .key_diff::<film::Entity, dim_film::Entity>(film::Column::FilmId)
            .await?;
        let own = self
            .own_changes::<film::Entity, dim_film::Entity>(
                "film",
                (film::Column::FilmId, film::Column::LastUpdate),
            )
            .await?;
        let mut rows = by_id(
            rows_where_in::<film::Entity, _, _>(self.src, film::Column::FilmId, &own).await?,
            |f| f.film_id,
        );
        rows.extend(by_id(
            rows_where_in::<film::Entity, _, _>(
                self.src,
                film::Column::LanguageId,
                renamed_languages,
            )
            .await?,
            |f| f.film_id,
        ));
        rows.extend(by_id(
            rows_where_in::<film::Entity, _, _>(self.src, film::Column::FilmId, &missing).await?,
            |f| f.film_id,
        ));
        let names: HashMap<u32, String> = extract::all::<language::Entity, _>(self.src)
            .await?
            .into_iter()
            .map(|l| (l.language_id, l.name))
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for f in rows.values() {
            let lang = names.get(&f.language_id).ok_or_else(|| {
                anyhow!(
                    "film {} refers to language {}, which does not exist",
                    f.film_id,
                    f.language_id
                )
            })?;
            out.push(film_row(0, f, lang));
        }
        let a = dims::apply::<dim_film::Entity, _>(self.txn, &mut self.keys.film, out).await?;
        let d = dims::soft_delete::<dim_film::Entity, _>(self.txn, &gone).await?;
        self.t.add("dim_film", a.inserted, a.updated, d, s);
        Ok(())
    }

    pub(super) async fn actors(&mut self) -> Result<()> {
        let s = Instant::now();
        let (missing, gone) = self
            .key_diff::<actor::Entity, dim_actor::Entity>(actor::Column::ActorId)
            .await?;
        let own = self
            .own_changes::<actor::Entity, dim_actor::Entity>(
                "actor",
                (actor::Column::ActorId, actor::Column::LastUpdate),
            )
            .await?;
        let mut rows = by_id(
            rows_where_in::<actor::Entity, _, _>(self.src, actor::Column::ActorId, &own).await?,
            |a| a.actor_id,
        );
        rows.extend(by_id(
            rows_where_in::<actor::Entity, _, _>(self.src, actor::Column::ActorId, &missing)
                .await?,
            |a| a.actor_id,
        ));
        let out = rows.values().map(|a| actor_row(0, a)).collect();
        let a = dims::apply::<dim_actor::Entity, _>(self.txn, &mut self.keys.actor, out).await?;
        let d = dims::soft_delete::<dim_actor::Entity, _>(self.txn, &gone).await?;
        self.t.add("dim_actor", a.inserted, a.updated, d, s);
        Ok(())
    }

    pub(super) async fn categories(&mut self) -> Result<()> {
        let s = Instant::now();
        let (missing, gone) = self
            .key_diff::<category::Entity, dim_category::Entity>(category::Column::CategoryId)
            .await?;
        let own = self
            .own_changes::<category::Entity, dim_category::Entity>(
                "category",
                (category::Column::CategoryId, category::Column::LastUpdate),
            )
            .await?;
        let mut rows = by_id(
            rows_where_in::<category::Entity, _, _>(self.src, category::Column::CategoryId, &own)
                .await?,
            |c| c.category_id,
        );
        rows.extend(by_id(
            rows_where_in::<category::Entity, _, _>(
                self.src,
                category::Column::CategoryId,
                &missing,
            )
            .await?,
            |c| c.category_id,
        ));
        let out = rows.values().map(|c| category_row(0, c)).collect();
        let a =
            dims::apply::<dim_category::Entity, _>(self.txn, &mut self.keys.category, out).await?;
        let d = dims::soft_delete::<dim_category::Entity, _>(self.txn, &gone).await?;
        self.t.add("dim_category", a.inserted, a.updated, d, s);
        Ok(())
    }

    /// Resolved places of `address_ids`, reading only those addresses, cities and countries.
    async fn places(&self, address_ids: &[u32]) -> Result<HashMap<u32, Place>> {
        let addresses = rows_where_in::<address::Entity, _, _>(
            self.src,
            address::Column::AddressId,
            address_ids,
        )
        .await?;
        let city_ids: Vec<u32> = addresses
            .iter()
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
        let mut out = HashMap::new();
        for a in &addresses {
            let c = cities.get(&a.city_id).ok_or_else(|| {
                anyhow!(
                    "source city {} (of address {}) does not exist",
                    a.city_id,
                    a.address_id
                )
            })?;
            let k = countries.get(&c.country_id).ok_or_else(|| {
                anyhow!(
                    "source country {} (of city {}) does not exist",
                    c.country_id,
                    c.city_id
                )
            })?;
            out.insert(a.address_id, place(a, c, k));
        }
        Ok(out)
    }

    pub(super) async fn customers(&mut self, moved_addresses: &[u32]) -> Result<()> {
        let s = Instant::now();
        let (missing, gone) = self
            .key_diff::<customer::Entity, dim_customer::Entity>(customer::Column::CustomerId)
            .await?;
        let own = self
            .own_changes::<customer::Entity, dim_customer::Entity>(
                "customer",
                (customer::Column::CustomerId, customer::Column::LastUpdate),
            )
            .await?;
        let mut rows = by_id(
            rows_where_in::<customer::Entity, _, _>(self.src, customer::Column::CustomerId, &own)
                .await?,
            |c| c.customer_id,
        );
        rows.extend(by_id(
            rows_where_in::<customer::Entity, _, _>(
                self.src,
                customer::Column::AddressId,
                moved_addresses,
            )
            .await?,
            |c| c.customer_id,
        ));
        rows.extend(by_id(
            rows_where_in::<customer::Entity, _, _>(
                self.src,
                customer::Column::CustomerId,
                &missing,
            )
            .await?,
            |c| c.customer_id,
        ));
        let address_ids: Vec<u32> = rows
            .values()
            .map(|c| c.address_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let places = self.places(&address_ids).await?;
        let mut out = Vec::with_capacity(rows.len());
        for c in rows.values() {
            let p = places.get(&c.address_id).ok_or_else(|| {
                anyhow!(
                    "customer {} refers to address {}, which does not exist",
                    c.customer_id,
                    c.address_id
                )
            })?;
            out.push(customer_row(0, c, p));
        }
        let a =
            dims::apply::<dim_customer::Entity, _>(self.txn, &mut self.keys.customer, out).await?;
        let d = dims::soft_delete::<dim_customer::Entity, _>(self.txn, &gone).await?;
        self.t.add("dim_customer", a.inserted, a.updated, d, s);
        Ok(())
    }

    pub(super) async fn stores(&mut self, moved_addresses: &[u32]) -> Result<()> {
        let s = Instant::now();
        let (missing, gone) = self
            .key_diff::<store::Entity, dim_store::Entity>(store::Column::StoreId)
            .await?;
        let own = self
            .own_changes::<store::Entity, dim_store::Entity>(
                "store",
                (store::Column::StoreId, store::Column::LastUpdate),
            )
            .await?;
        let mut rows = by_id(
            rows_where_in::<store::Entity, _, _>(self.src, store::Column::StoreId, &own).await?,
            |st| st.store_id,
        );
        rows.extend(by_id(
            rows_where_in::<store::Entity, _, _>(
                self.src,
                store::Column::AddressId,
                moved_addresses,
            )
            .await?,
            |st| st.store_id,
        ));
        rows.extend(by_id(
            rows_where_in::<store::Entity, _, _>(self.src, store::Column::StoreId, &missing)
                .await?,
            |st| st.store_id,
        ));
        let address_ids: Vec<u32> = rows
            .values()
            .map(|st| st.address_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let places = self.places(&address_ids).await?;
        let mut out = Vec::with_capacity(rows.len());
        for st in rows.values() {
            let p = places.get(&st.address_id).ok_or_else(|| {
                anyhow!(
                    "store {} refers to address {}, which does not exist",
                    st.store_id,
                    st.address_id
                )
            })?;
            out.push(store_row(0, st, p));
        }
        let a = dims::apply::<dim_store::Entity, _>(self.txn, &mut self.keys.store, out).await?;
        let d = dims::soft_delete::<dim_store::Entity, _>(self.txn, &gone).await?;
        self.t.add("dim_store", a.inserted, a.updated, d, s);
        Ok(())
    }

    /// Returns the staff members whose store changed: their payments move with them.
    pub(super) async fn staff(&mut self) -> Result<Vec<u32>> {
        let s = Instant::now();
        let (missing, gone) = self
            .key_diff::<staff::Entity, dim_staff::Entity>(staff::Column::StaffId)
            .await?;
        let own = self
            .own_changes::<staff::Entity, dim_staff::Entity>(
                "staff",
                (staff::Column::StaffId, staff::Column::LastUpdate),
            )
            .await?;
        let wanted = own.into_iter().chain(missing.iter().map(|i| i64::from(*i)));
        let rows = extract::staff(
            self.src,
            Condition::all().add(staff::Column::StaffId.is_in(wanted)),
        )
        .await?;
        let out: Vec<_> = rows.iter().map(|st| staff_row(0, st)).collect();
        let a = dims::apply::<dim_staff::Entity, _>(self.txn, &mut self.keys.staff, out).await?;
        let moved = rows
            .iter()
            .filter(|st| {
                a.previous
                    .get(&(st.staff_id as i32))
                    .is_some_and(|old| old.store_id != st.store_id as i32)
            })
            .map(|st| st.staff_id)
            .collect();
        let d = dims::soft_delete::<dim_staff::Entity, _>(self.txn, &gone).await?;
        self.t.add("dim_staff", a.inserted, a.updated, d, s);
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
                "inventory",
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
