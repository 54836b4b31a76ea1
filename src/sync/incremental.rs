//! `incremental`: load only what changed, and end exactly where a `full-load` of the same
//! source state would (surrogate key values aside).
//!
//! A timestamp filter alone cannot promise that, so a run builds a change plan per table:
//!
//! 0. **Quiet tables** (see [`super::quiet`]): a source table no transaction has changed since
//!    the previous run's snapshot is skipped outright.
//! 1. **Own changes** of the dimensions and lookup tables: rows stamped after the table's
//!    watermark, or within the lookback window of the previous run's snapshot (late commits
//!    with older timestamps are re-read; see [`window`]). Every candidate is read, even one
//!    whose `last_update` the warehouse already holds: inside the window an equal stamp proves
//!    nothing ([`Run::recheck_from`]). Re-read rows are compared with their warehouse row, so
//!    the overlap costs reads, not writes.
//! 2. **Facts** are compared row by row, by version: one ordered pass over `(id,
//!    last_update)` of the source table and of the fact table, merged ([`super::versions`]),
//!    gives the new, changed and deleted ids at once, whatever their timestamps (a back-dated
//!    insert and a delete that leave the row count unchanged included); rows stamped within
//!    the lookback window count as changed even under the loaded version, as in step 1. It
//!    costs one scan of each side, the same as finding changes by an unindexed `last_update`
//!    and counting rows.
//! 3. **Derived changes**: a changed country reaches its cities, addresses, then customers and
//!    stores; a changed language reaches its films; a staff member moving store reaches every
//!    payment they took; an inventory copy moving reaches its rentals.
//! 4. **Deletes** of dimensions and bridges: key sets are compared (they are small). Deleting
//!    a rental nulls `payment.rental_id` without touching the payment's `last_update`:
//!    payments pointing at deleted rentals are re-read.
//!
//! Everything runs in one warehouse transaction that also advances `sync_state`: a killed run
//! leaves the previous state, and the next run converges.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use chrono::{NaiveDate, NaiveDateTime, Timelike};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Value,
};

use super::bridge::{Bridge, FilmActor, FilmCategory};
use super::dims::{self, Dim, IN_CHUNK};
use super::extract::{Marks, read_error};
use super::load::{Changes, Write, write, write_changes};
use super::run::{RunReport, Tracker};
use super::transform::{
    Place, actor_row, category_row, customer_row, film_row, payment_row, place, rental_row,
    staff_row, store_row,
};
use super::versions::{
    ChangedMark, FactDiff, as_i64, from_unix, merge_versions, pump, unix_seconds,
};
use super::{Keys, full_load, run, state};
use crate::db;
use crate::source::{
    actor, address, category, city, country, customer, film, inventory, language, payment, rental,
    staff, store,
};
use crate::warehouse::bulk_read;
use crate::warehouse::entity::{
    dim_actor, dim_category, dim_customer, dim_film, dim_staff, dim_store, fact_payment,
    fact_rental, source_version,
};

/// How far before each watermark a run looks again.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub lookback: chrono::Duration,
    /// How many changed rentals are read from the source before the payment diff and
    /// written while it runs (see `Run::facts`); the rest are read and written after it,
    /// chunk by chunk. Memory holds them twice (the new row and the warehouse's): about
    /// 15 MB for the default 50,000.
    pub overlap_rows: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            lookback: chrono::Duration::minutes(5),
            overlap_rows: 50_000,
        }
    }
}

/// Bridge pairs deleted per statement. SQLite takes no list of row values after `IN`, so each
/// pair is a term of an `OR`, and SQLite parses a chain of terms as deep as it is long (its
/// limit is 1,000).
const PAIRS_PER_DELETE: usize = 200;

/// Facts processed per chunk: memory stays bounded however much changed.
const FACT_CHUNK: usize = 4_000;
/// Above this many lookback candidates, a lookup table's versions are read whole.
const BULK_VERSIONS: usize = 20_000;

/// Runs an incremental sync and returns what it wrote.
pub async fn incremental(
    source: &DatabaseConnection,
    warehouse: &DatabaseConnection,
    opts: Options,
) -> Result<RunReport> {
    crate::warehouse::prepare(warehouse).await?;
    run::record(warehouse, "incremental", |run_id| {
        sync(source, warehouse, run_id, opts)
    })
    .await
}

async fn sync(
    source: &DatabaseConnection,
    warehouse: &DatabaseConnection,
    run_id: i32,
    opts: Options,
) -> Result<RunReport> {
    let src = std::sync::Arc::new(db::source_snapshot(source).await?);
    let txn = db::warehouse_txn(warehouse).await?;
    let mut t = Tracker::new(run_id, "incremental");
    t.source_clock = Some(run::source_clock(&*src).await?);
    let stable_before = run::last_source_clock(&txn)
        .await?
        .map(|c| c.with_nanosecond(0).unwrap_or(c));
    // A row whose stamp the warehouse already holds may still have changed if that stamp is
    // inside the lookback window: a transaction that stamped its change in the same second as
    // the loaded version, and committed after the previous snapshot, leaves the stamp as it
    // was. Only rows stamped before the window are known unchanged by their stamp.
    let recheck_from = stable_before.map(|c| lookback_start(c, opts.lookback));
    let previous = state::watermarks(&txn).await?;
    let times = super::quiet::read(&*src).await?;

    let marks = if previous.values().all(Option::is_none) {
        // Never loaded (right after `init`): everything is new, so load it the fast way.
        full_load::load_all(&src, &txn, &mut t).await?
    } else {
        let since: HashMap<String, Since> = previous
            .iter()
            .map(|(table, w)| (table.clone(), window(*w, stable_before, opts.lookback)))
            .collect();
        let previous_identity = super::quiet::previous_identity(&txn).await?;
        let quiet = times
            .as_ref()
            .map(|t| t.quiet(previous_identity.as_deref(), stable_before, opts.lookback))
            .unwrap_or_default();
        if !quiet.is_empty() {
            tracing::info!(
                "unchanged since the last run, not scanned: {}",
                quiet.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        t.quiet = quiet.clone();
        let mut run = Run {
            cover: Default::default(),
            quiet,
            recheck_from,
            src: &src,
            shared_src: src.clone(),
            txn: &txn,
            wh_file: bulk_read::file_of(warehouse)?,
            since,
            marks: Marks::default(),
            t: &mut t,
            keys: Keys::default(),
            overlap_rows: opts.overlap_rows,
        };
        run.all().await?;
        run.marks
    };

    super::commit(src, txn, &t, &marks, &previous, times.as_ref()).await
}

struct Run<'a> {
    /// What dim_date covers, checked once per chunk of facts without a query.
    cover: super::pipe::DateCover,
    /// Source tables no transaction changed since the last run (see [`super::quiet`]).
    quiet: BTreeSet<String>,
    /// Rows stamped before this whose stamp the warehouse holds are unchanged (the start of
    /// the lookback window); from it on, equal stamps prove nothing and rows are compared.
    recheck_from: Option<NaiveDateTime>,
    src: &'a DatabaseTransaction,
    /// The same snapshot, for readers on their own task.
    shared_src: std::sync::Arc<DatabaseTransaction>,
    txn: &'a DatabaseTransaction,
    /// The warehouse file, which the fact diffs scan on a read-only connection of their own
    /// (see [`Run::diff_job`]).
    wh_file: std::path::PathBuf,
    since: HashMap<String, Since>,
    marks: Marks,
    t: &'a mut Tracker,
    keys: Keys,
    /// See [`Options::overlap_rows`].
    overlap_rows: usize,
}

/// Which rows of a table a run reads again, by `last_update`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Since {
    /// Never loaded: every row.
    All,
    /// `last_update > t`: newer than anything loaded so far.
    After(NaiveDateTime),
    /// `last_update >= t`: the lookback window.
    From(NaiveDateTime),
}

/// The rows a run must read again: everything stamped after the table's watermark, plus
/// everything stamped within `lookback` of the previous run's snapshot (`clock`).
///
/// A row the previous run could not see committed after its snapshot; a transaction that
/// commits within `lookback` of stamping its rows therefore stamped them at or after
/// `clock - lookback`. Anchoring the window to the snapshot rather than to the watermark
/// matters for tables that are quiet or bulk-loaded: their watermark can be years old and
/// shared by every row (Sakila's catalogue, a restored dump), and a window below it would
/// re-read the whole table on every run. Without a recorded clock (a warehouse from an older
/// version), the window is the one below the watermark.
fn window(
    watermark: Option<NaiveDateTime>,
    clock: Option<NaiveDateTime>,
    lookback: chrono::Duration,
) -> Since {
    let Some(w) = watermark else {
        return Since::All;
    };
    let Some(clock) = clock else {
        return Since::From(w - lookback);
    };
    let start = lookback_start(clock, lookback);
    if w < start {
        Since::After(w)
    } else {
        Since::From(start)
    }
}

/// Where the lookback window of a run whose previous snapshot read the source clock at
/// `clock` begins, with one second of slack (stamps and the clock are whole seconds). Rows a
/// transaction stamped before it were committed before that snapshot, under the lookback's
/// assumption (a transaction commits within `lookback` of stamping its rows).
pub(super) fn lookback_start(clock: NaiveDateTime, lookback: chrono::Duration) -> NaiveDateTime {
    clock - lookback - chrono::Duration::seconds(1)
}

/// The condition on `last_update` that selects what [`Since`] says.
fn since_condition<C: ColumnTrait>(last_update: C, since: Since) -> Condition {
    match since {
        Since::All => Condition::all(),
        Since::After(t) => Condition::all().add(last_update.gt(t.and_utc())),
        Since::From(t) => Condition::all().add(last_update.gte(t.and_utc())),
    }
}

/// A lookback candidate: a row id and its `last_update`.
type Candidate = (i64, Option<chrono::DateTime<chrono::Utc>>);

/// Rows of `E` whose `col` is in `ids`, in chunks.
async fn rows_where_in<E, V, C>(db: &C, col: E::Column, ids: &[V]) -> Result<Vec<E::Model>>
where
    E: EntityTrait,
    V: Into<Value> + Copy,
    C: ConnectionTrait,
{
    let mut out = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        out.extend(
            E::find()
                .filter(col.is_in(chunk.iter().copied()))
                .all(db)
                .await
                .with_context(read_error::<E>)?,
        );
    }
    Ok(out)
}

/// Merges rows into a map by id (the same row found through two paths counts once).
fn by_id<M, K: Ord>(rows: impl IntoIterator<Item = M>, id: impl Fn(&M) -> K) -> BTreeMap<K, M> {
    rows.into_iter().map(|m| (id(&m), m)).collect()
}

impl Run<'_> {
    fn is_quiet(&self, table: &str) -> bool {
        self.quiet.contains(table)
    }

    fn since(&self, table: &str) -> Since {
        self.since.get(table).copied().unwrap_or(Since::All)
    }

    async fn all(&mut self) -> Result<()> {
        let s = Instant::now();
        // The address hierarchy: what changed, directly or through its parent.
        let countries = self
            .changed_lookup::<country::Entity>(
                "country",
                country::Column::CountryId,
                country::Column::LastUpdate,
                |c| (c.country_id, c.last_update),
            )
            .await?;
        let country_ids: Vec<u32> = countries.iter().map(|c| c.country_id).collect();
        let mut cities = by_id(
            self.changed_lookup::<city::Entity>(
                "city",
                city::Column::CityId,
                city::Column::LastUpdate,
                |c| (c.city_id, c.last_update),
            )
            .await?,
            |c| c.city_id,
        );
        cities.extend(by_id(
            rows_where_in::<city::Entity, _, _>(self.src, city::Column::CountryId, &country_ids)
                .await?,
            |c| c.city_id,
        ));
        let city_ids: Vec<u32> = cities.keys().copied().collect();
        let mut addresses = by_id(
            self.changed_lookup::<address::Entity>(
                "address",
                address::Column::AddressId,
                address::Column::LastUpdate,
                |a| (a.address_id, a.last_update),
            )
            .await?,
            |a| a.address_id,
        );
        addresses.extend(by_id(
            rows_where_in::<address::Entity, _, _>(self.src, address::Column::CityId, &city_ids)
                .await?,
            |a| a.address_id,
        ));
        let moved_addresses: Vec<u32> = addresses.keys().copied().collect();

        let languages = self
            .changed_lookup::<language::Entity>(
                "language",
                language::Column::LanguageId,
                language::Column::LastUpdate,
                |l| (l.language_id, l.last_update),
            )
            .await?;
        let renamed_languages: Vec<u32> = languages.iter().map(|l| l.language_id).collect();
        tracing::info!(
            "geography and languages read in {:.3} s",
            s.elapsed().as_secs_f64()
        );

        self.keys.film = dims::key_map::<dim_film::Entity, _>(self.txn).await?;
        self.keys.actor = dims::key_map::<dim_actor::Entity, _>(self.txn).await?;
        self.keys.category = dims::key_map::<dim_category::Entity, _>(self.txn).await?;
        self.keys.customer = dims::key_map::<dim_customer::Entity, _>(self.txn).await?;
        self.keys.store = dims::key_map::<dim_store::Entity, _>(self.txn).await?;
        self.keys.staff = dims::key_map::<dim_staff::Entity, _>(self.txn).await?;

        self.films(&renamed_languages).await?;
        self.actors().await?;
        self.categories().await?;
        self.customers(&moved_addresses).await?;
        self.stores(&moved_addresses).await?;
        let moved_staff = self.staff().await?;
        self.bridges().await?;
        let moved_copies = self.inventory().await?;
        self.facts(&moved_copies, &moved_staff).await
    }

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

    async fn films(&mut self, renamed_languages: &[u32]) -> Result<()> {
        let s = Instant::now();
        let (missing, gone) = self
            .key_diff::<film::Entity, dim_film::Entity>(film::Column::FilmId)
            .await?;
        let own = self
            .own_changes::<film::Entity>("film", (film::Column::FilmId, film::Column::LastUpdate))
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
        let names: HashMap<u32, String> = super::extract::all::<language::Entity, _>(self.src)
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

    async fn actors(&mut self) -> Result<()> {
        let s = Instant::now();
        let (missing, gone) = self
            .key_diff::<actor::Entity, dim_actor::Entity>(actor::Column::ActorId)
            .await?;
        let own = self
            .own_changes::<actor::Entity>(
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

    async fn categories(&mut self) -> Result<()> {
        let s = Instant::now();
        let (missing, gone) = self
            .key_diff::<category::Entity, dim_category::Entity>(category::Column::CategoryId)
            .await?;
        let own = self
            .own_changes::<category::Entity>(
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

    async fn customers(&mut self, moved_addresses: &[u32]) -> Result<()> {
        let s = Instant::now();
        let (missing, gone) = self
            .key_diff::<customer::Entity, dim_customer::Entity>(customer::Column::CustomerId)
            .await?;
        let own = self
            .own_changes::<customer::Entity>(
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

    async fn stores(&mut self, moved_addresses: &[u32]) -> Result<()> {
        let s = Instant::now();
        let (missing, gone) = self
            .key_diff::<store::Entity, dim_store::Entity>(store::Column::StoreId)
            .await?;
        let own = self
            .own_changes::<store::Entity>(
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
    async fn staff(&mut self) -> Result<Vec<u32>> {
        let s = Instant::now();
        let (missing, gone) = self
            .key_diff::<staff::Entity, dim_staff::Entity>(staff::Column::StaffId)
            .await?;
        let own = self
            .own_changes::<staff::Entity>(
                "staff",
                (staff::Column::StaffId, staff::Column::LastUpdate),
            )
            .await?;
        let wanted = own.into_iter().chain(missing.iter().map(|i| i64::from(*i)));
        let rows = super::extract::staff(
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
    async fn bridges(&mut self) -> Result<()> {
        self.bridge::<FilmActor>().await?;
        self.bridge::<FilmCategory>().await
    }

    async fn bridge<B: Bridge>(&mut self) -> Result<()> {
        if self.is_quiet(B::source_table()) {
            return Ok(());
        }
        let s = Instant::now();
        let source = super::extract::all::<B::Source, _>(self.src).await?;
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
    async fn inventory(&mut self) -> Result<Vec<u32>> {
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
    /// inside the window an equal stamp proves nothing ([`Run::recheck_from`]). What the rows
    /// derive (customers, stores, films, rentals) is compared before it is written, so a
    /// candidate that did not change costs a read, not a write.
    async fn changed_lookup<E>(
        &mut self,
        table: &'static str,
        pk: E::Column,
        last_update: E::Column,
        version: impl Fn(&E::Model) -> (u32, chrono::DateTime<chrono::Utc>),
    ) -> Result<Vec<E::Model>>
    where
        E: EntityTrait,
    {
        let candidates = self.changed_ids::<E>(pk, last_update, table).await?;
        let ids: Vec<i64> = candidates.iter().map(|(id, _)| *id).collect();
        let rows = rows_where_in::<E, _, _>(self.src, pk, &ids).await?;
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

    /// Ids of the rows of dimension table `E` changed since its watermark or stamped within
    /// the lookback window. Inside the window an equal stamp proves nothing
    /// ([`Run::recheck_from`]), so every candidate is read again and compared with its
    /// warehouse row: one that did not change costs a read, not a write.
    async fn own_changes<E>(
        &mut self,
        table: &'static str,
        src: (E::Column, E::Column),
    ) -> Result<Vec<i64>>
    where
        E: EntityTrait,
    {
        let candidates = self.changed_ids::<E>(src.0, src.1, table).await?;
        Ok(candidates.into_iter().map(|(id, _)| id).collect())
    }

    /// Ids (and last_update) of the rows of `E` in its window (see [`window`]); their stamps
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

    /// Syncs the facts. Each table's diff scans the committed file on a connection of its own
    /// ([`Run::diff_job`]): the state this run started from, whatever the run writes meanwhile.
    /// SQLite writes on one thread, so its work is done while the diffs scan, where it can be:
    ///
    /// 1. during the rental diff, the set-based moves: the rentals of copies that moved, the
    ///    payments of staff who moved store (warehouse writes only, which change no version);
    /// 2. during the payment diff, the writes of the first [`Options::overlap_rows`] changed
    ///    rentals, read from the source before it starts (the diff needs the source
    ///    connection to itself);
    /// 3. then the other changed rentals, the rental deletes, and the payments, in turn.
    async fn facts(&mut self, moved_copies: &[u32], moved_staff: &[u32]) -> Result<()> {
        let s = Instant::now();
        let rental_diff = self.diff_job::<rental::Entity, fact_rental::Entity>(
            "rental",
            (rental::Column::RentalId, rental::Column::LastUpdate),
            (
                fact_rental::Column::RentalId,
                fact_rental::Column::SourceLastUpdate,
            ),
        );
        let moves = async {
            let rentals = self.move_rentals(moved_copies).await?;
            let payments = self.move_payments(moved_staff).await?;
            Ok::<_, anyhow::Error>((rentals, payments))
        };
        let ((diff, mark), (moved_rentals, moved_payments)) = tokio::try_join!(rental_diff, moves)?;
        self.apply_mark("rental", mark);
        tracing::debug!(
            "rentals: {} changed, {} gone; {moved_rentals} moved with their copies, \
             {moved_payments} payments with their staff; after {:.3} s",
            diff.changed.len(),
            diff.gone.len(),
            s.elapsed().as_secs_f64()
        );

        let (head, tail) = diff
            .changed
            .split_at(diff.changed.len().min(self.overlap_rows));
        let mut prepared = Vec::new();
        for chunk in head.chunks(FACT_CHUNK) {
            prepared.push(self.prepare_rentals(chunk).await?);
        }
        let p = Instant::now();
        let payment_diff = self.diff_job::<payment::Entity, fact_payment::Entity>(
            "payment",
            (payment::Column::PaymentId, payment::Column::LastUpdate),
            (
                fact_payment::Column::PaymentId,
                fact_payment::Column::SourceLastUpdate,
            ),
        );
        let ((payment_diff, payment_mark), mut done) =
            tokio::try_join!(payment_diff, self.write_rentals(prepared))?;
        self.apply_mark("payment", payment_mark);
        tracing::debug!(
            "payments: {} changed, {} gone, after {:.3} s; {} rentals written meanwhile",
            payment_diff.changed.len(),
            payment_diff.gone.len(),
            p.elapsed().as_secs_f64(),
            head.len()
        );
        for chunk in tail.chunks(FACT_CHUNK) {
            let prepared = vec![self.prepare_rentals(chunk).await?];
            done += self.write_rentals(prepared).await?;
        }
        let mut deleted = 0;
        for chunk in diff.gone.chunks(IN_CHUNK) {
            deleted += fact_rental::Entity::delete_many()
                .filter(fact_rental::Column::RentalId.is_in(chunk.iter().copied()))
                .exec(self.txn)
                .await
                .context("cannot delete from fact_rental")?
                .rows_affected;
        }
        self.t.add(
            "fact_rental",
            done.inserted,
            done.updated + moved_rentals,
            deleted,
            s,
        );
        tracing::debug!("rentals: written after {:.3} s", s.elapsed().as_secs_f64());
        self.payments(payment_diff, &diff.gone, moved_payments, p)
            .await
    }

    /// A copy moving store (or re-labelled as another film) moves its rentals: film_key and
    /// store_key are the only rental columns that depend on the inventory row, so one
    /// set-based update per copy does it without reading those rentals.
    async fn move_rentals(&self, moved_copies: &[u32]) -> Result<u64> {
        let mut moved_rows = 0;
        for inventory_id in moved_copies {
            let Some((film_id, store_id)) = self.keys.inventory.get(*inventory_id) else {
                continue;
            };
            let film_key = self.keys.film.get(film_id).ok_or_else(|| {
                anyhow!("inventory {inventory_id} holds film {film_id}, which does not exist")
            })?;
            let store_key = self.keys.store.get(store_id).ok_or_else(|| {
                anyhow!("inventory {inventory_id} is in store {store_id}, which does not exist")
            })?;
            moved_rows += fact_rental::Entity::update_many()
                .col_expr(fact_rental::Column::FilmKey, Expr::value(film_key))
                .col_expr(fact_rental::Column::StoreKey, Expr::value(store_key))
                .filter(fact_rental::Column::InventoryId.eq(*inventory_id as i32))
                .filter(
                    Condition::any()
                        .add(fact_rental::Column::FilmKey.ne(film_key))
                        .add(fact_rental::Column::StoreKey.ne(store_key)),
                )
                .exec(self.txn)
                .await
                .context("cannot update fact_rental")?
                .rows_affected;
        }
        Ok(moved_rows)
    }

    /// A staff member moving store moves the store of every payment they took: the only
    /// payment column that depends on the staff row, so one set-based update per member does
    /// it without reading those payments.
    async fn move_payments(&self, moved_staff: &[u32]) -> Result<u64> {
        let mut moved_rows = 0;
        for staff_id in moved_staff {
            let (Some(staff_key), Some(store_id)) = (
                self.keys.staff.get(*staff_id),
                self.keys.staff_store.get(*staff_id),
            ) else {
                continue;
            };
            let store_key = self.keys.store.get(store_id).ok_or_else(|| {
                anyhow!("staff {staff_id} works at store {store_id}, which does not exist")
            })?;
            moved_rows += fact_payment::Entity::update_many()
                .col_expr(fact_payment::Column::StoreKey, Expr::value(store_key))
                .filter(fact_payment::Column::StaffKey.eq(staff_key))
                .filter(fact_payment::Column::StoreKey.ne(store_key))
                .exec(self.txn)
                .await
                .context("cannot update fact_payment")?
                .rows_affected;
        }
        Ok(moved_rows)
    }

    /// Reads the rentals `ids` from the source (and the copies they name that are not known
    /// yet), makes their warehouse rows, and reads the warehouse's current rows for them.
    async fn prepare_rentals(&mut self, ids: &[i64]) -> Result<Prepared<fact_rental::Model>> {
        let rows =
            rows_where_in::<rental::Entity, _, _>(self.src, rental::Column::RentalId, ids).await?;
        let copies: Vec<u32> = rows
            .iter()
            .map(|r| r.inventory_id)
            .filter(|i| self.keys.inventory.get(*i).is_none())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for i in rows_where_in::<inventory::Entity, _, _>(
            self.src,
            inventory::Column::InventoryId,
            &copies,
        )
        .await?
        {
            self.keys
                .inventory
                .insert(i.inventory_id, (i.film_id, i.store_id));
        }
        let mut fresh = Vec::with_capacity(rows.len());
        for r in &rows {
            fresh.push(rental_row(r, self.keys.rental(r)?));
        }
        let old = by_id(
            rows_where_in::<fact_rental::Entity, _, _>(
                self.txn,
                fact_rental::Column::RentalId,
                ids,
            )
            .await?,
            |r| r.rental_id,
        )
        .into_iter()
        .collect();
        Ok(Prepared { fresh, old })
    }

    /// Writes prepared rentals: the dates they need, then each row that is new or changed.
    /// Touches only the warehouse.
    async fn write_rentals(
        &mut self,
        prepared: Vec<Prepared<fact_rental::Model>>,
    ) -> Result<Changes> {
        let mut done = Changes::default();
        for Prepared { fresh, old } in prepared {
            let days = fresh
                .iter()
                .flat_map(|r| [Some(r.rental_date.date()), r.return_date.map(|d| d.date())])
                .flatten();
            self.cover_dates(days).await?;
            done +=
                write_changes::<fact_rental::Entity, _>(self.txn, fresh, |r| old.get(&r.rental_id))
                    .await?;
        }
        Ok(done)
    }

    /// Syncs payments, given their diff: own changes, payments whose rental was deleted (the
    /// source's FK nulled their `rental_id`), and deletes. Payments of staff who moved store
    /// were moved during the rental diff (`moved_rows`).
    async fn payments(
        &mut self,
        diff: FactDiff,
        deleted_rentals: &[i64],
        moved_rows: u64,
        s: Instant,
    ) -> Result<()> {
        let mut ids: BTreeSet<i64> = diff.changed.into_iter().collect();
        for chunk in deleted_rentals.chunks(IN_CHUNK) {
            let orphaned: Vec<i32> = fact_payment::Entity::find()
                .select_only()
                .column(fact_payment::Column::PaymentId)
                .filter(fact_payment::Column::RentalId.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(self.txn)
                .await
                .context("cannot read warehouse table fact_payment")?;
            ids.extend(orphaned.into_iter().map(i64::from));
        }
        tracing::debug!(
            "payments: {} to upsert after {:.3} s",
            ids.len(),
            s.elapsed().as_secs_f64()
        );
        let (ins, upd) = self
            .upsert_payments(&ids.into_iter().collect::<Vec<_>>())
            .await?;
        tracing::debug!(
            "payments: upserted after {:.3} s",
            s.elapsed().as_secs_f64()
        );
        let mut deleted = 0;
        for chunk in diff.gone.chunks(IN_CHUNK) {
            deleted += fact_payment::Entity::delete_many()
                .filter(fact_payment::Column::PaymentId.is_in(chunk.iter().copied()))
                .exec(self.txn)
                .await
                .context("cannot delete from fact_payment")?
                .rows_affected;
        }
        self.t
            .add("fact_payment", ins, upd + moved_rows, deleted, s);
        Ok(())
    }

    async fn upsert_payments(&mut self, ids: &[i64]) -> Result<(u64, u64)> {
        let (mut ins, mut upd) = (0, 0);
        for chunk in ids.chunks(FACT_CHUNK) {
            let rows =
                rows_where_in::<payment::Entity, _, _>(self.src, payment::Column::PaymentId, chunk)
                    .await?;
            let mut fresh = Vec::with_capacity(rows.len());
            for p in &rows {
                fresh.push(payment_row(p, self.keys.payment(p)?));
            }
            let old: HashMap<i32, fact_payment::Model> = by_id(
                rows_where_in::<fact_payment::Entity, _, _>(
                    self.txn,
                    fact_payment::Column::PaymentId,
                    chunk,
                )
                .await?,
                |p| p.payment_id,
            )
            .into_iter()
            .collect();
            self.cover_dates(fresh.iter().map(|p| p.payment_date.date()))
                .await?;
            let done = write_changes::<fact_payment::Entity, _>(self.txn, fresh, |p| {
                old.get(&p.payment_id)
            })
            .await?;
            ins += done.inserted;
            upd += done.updated;
        }
        Ok((ins, upd))
    }

    /// Extends dim_date over `days` before facts pointing at them are written.
    async fn cover_dates(&mut self, days: impl Iterator<Item = NaiveDate>) -> Result<()> {
        let (mut lo, mut hi) = (None::<NaiveDate>, None::<NaiveDate>);
        for d in days {
            lo = Some(lo.map_or(d, |l| Ord::min(l, d)));
            hi = Some(hi.map_or(d, |h| Ord::max(h, d)));
        }
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let s = Instant::now();
            let before = self.cover.added;
            self.cover.cover(self.txn, lo, hi).await?;
            if self.cover.added > before {
                self.t.add("dim_date", self.cover.added - before, 0, 0, s);
            }
        }
        Ok(())
    }

    /// How a fact table differs from its warehouse copy: one ordered pass over the ids and
    /// `last_update` of both sides, merged. Ids only the source has, or whose `last_update`
    /// differs from the one the warehouse row was loaded from, are changed; ids only the
    /// warehouse has are gone. A row whose `last_update` equals the loaded one but falls in
    /// the lookback window ([`Run::recheck_from`]) may have changed under that same stamp (a
    /// late commit stamped in the same second), so it counts as changed too (re-reading an
    /// unchanged row writes nothing).
    ///
    /// Whatever their timestamps say, back-dated rows and deletes all show up: every row's
    /// version is compared, not only those in a time window. Both sides stream in
    /// primary-key order (the source's clustered index, the warehouse's rowid), so memory holds
    /// only the differences.
    ///
    /// The returned future borrows nothing from the run, so the run's own warehouse writes
    /// can go on while it scans (see [`Run::facts`]); [`Run::apply_mark`] takes its result.
    fn diff_job<S, W>(
        &self,
        table: &'static str,
        src: (S::Column, S::Column),
        wh: (W::Column, W::Column),
    ) -> impl std::future::Future<Output = Result<(FactDiff, ChangedMark)>> + Send + 'static
    where
        S: EntityTrait,
        W: EntityTrait,
    {
        let quiet = self.is_quiet(table);
        let sb = self.src.get_database_backend();
        let select = S::find()
            .select_only()
            .column_as(as_i64(sb, Expr::col(src.0)), "id")
            .column_as(unix_seconds(sb, Expr::col(src.1)), "t")
            .order_by_asc(src.0)
            .into_tuple::<(i64, Option<i64>)>();
        // The warehouse side is scanned on a read-only connection of its own, through
        // rusqlite ([`crate::warehouse::bulk_read`]): about four times cheaper than through
        // sqlx. It reads the last committed state of the file, which is the state this run
        // starts from: the run holds the write lock since it began, so nobody else has
        // committed since. What the run itself writes meanwhile (see `facts`) is not
        // committed, so it is not seen, and none of it changes a version.
        let wb = self.txn.get_database_backend();
        let loaded = Query::select()
            .expr_as(as_i64(wb, Expr::col(wh.0)), "id")
            .expr_as(unix_seconds(wb, Expr::col(wh.1)), "t")
            .from(W::default())
            .to_owned();
        let shared = self.shared_src.clone();
        let (file, id) = (self.wh_file.clone(), wh.0);
        let recheck_from = self.recheck_from.map(|t| t.and_utc().timestamp());
        async move {
            if quiet {
                return Ok((FactDiff::default(), ChangedMark::default()));
            }
            // Both sides are pumped concurrently in batches and merged as batches arrive: the
            // source decoded on its own task, the warehouse read on a thread, merged here.
            let (s_tx, s_rx) = tokio::sync::mpsc::channel(4);
            let (w_tx, w_rx) = tokio::sync::mpsc::channel(4);
            let source = tokio::spawn(async move {
                let rows = select
                    .stream(&*shared)
                    .await
                    .with_context(read_error::<S>)?;
                pump(rows, s_tx, read_error::<S>).await
            });
            let source = async {
                source
                    .await
                    .context("the source reader stopped unexpectedly")?
            };
            let warehouse = tokio::task::spawn_blocking(move || {
                let txn = bulk_read::open(&file)?;
                bulk_read::pages(
                    &txn,
                    &loaded,
                    id,
                    |row| Ok(row.try_get_many_by_index::<(i64, Option<i64>)>()?),
                    |v| v.0,
                    |batch| w_tx.blocking_send(batch).is_ok(),
                )
                .with_context(read_error::<W>)
            });
            let warehouse = async {
                warehouse
                    .await
                    .context("the warehouse reader stopped unexpectedly")?
            };
            let (_, _, diff) =
                tokio::try_join!(source, warehouse, merge_versions(s_rx, w_rx, recheck_from))?;
            Ok(diff)
        }
    }

    /// Records what a fact diff found for the table's watermark.
    fn apply_mark(&mut self, table: &'static str, mark: ChangedMark) {
        let m = self.marks.0.entry(table).or_default();
        m.rows += mark.rows;
        m.watermark = Ord::max(m.watermark, from_unix(mark.newest).map(|t| t.naive_utc()));
    }
}

/// Fact rows made from the source, ready to write, with the warehouse's current rows of the
/// same ids (by id) to write only what changed.
struct Prepared<M> {
    fresh: Vec<M>,
    old: HashMap<i32, M>,
}

#[cfg(test)]
mod tests {
    use super::{Since, window};
    use chrono::{Duration, NaiveDateTime};

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn the_window_is_anchored_to_the_previous_snapshot() {
        let five = Duration::minutes(5);
        let clock = Some(t("2026-11-30 10:00:00"));
        // Never loaded: everything.
        assert_eq!(window(None, clock, five), Since::All);
        // A quiet or bulk-loaded table: only rows newer than anything loaded, not the
        // thousands that share an old watermark.
        let old = t("2006-02-15 05:09:17");
        assert_eq!(window(Some(old), clock, five), Since::After(old));
        // A busy table: everything within the lookback of the snapshot (one second of slack).
        let recent = t("2026-11-30 09:59:58");
        assert_eq!(
            window(Some(recent), clock, five),
            Since::From(t("2026-11-30 09:54:59"))
        );
        // Stamps from the future still fall in the window.
        let ahead = t("2026-12-01 00:00:00");
        assert_eq!(
            window(Some(ahead), clock, five),
            Since::From(t("2026-11-30 09:54:59"))
        );
        // No recorded clock (an older warehouse): the window below the watermark.
        assert_eq!(
            window(Some(old), None, five),
            Since::From(t("2006-02-15 05:04:17"))
        );
    }
}
