//! `full-load`: drop and rebuild the star from one consistent source snapshot, in one
//! warehouse transaction.
//!
//! Dimensions are small and loaded first, which fills the in-memory key maps; the facts are
//! then streamed: a producer decodes and transforms source rows while a consumer writes the
//! previous batch, so the MySQL read and the SQLite write overlap. Secondary indexes are built
//! once at the end, and the foreign keys are checked once, after them
//! ([`schema::check_star_keys`]; the `full-load` command's connection leaves SQLite's per-row
//! checks off, see [`db::Role::BulkWarehouse`]; a first load of a SQLite star writes through a
//! rollback journal, see [`db::Role::FirstLoad`]). If anything fails, the transaction rolls
//! back and the previous warehouse is untouched.
//!
//! On PostgreSQL a star that has rows is not dropped (readers would wait for the commit) but
//! reconciled in place: the same rows, written only where they differ ([`super::reconcile`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use futures::{Stream, TryStreamExt};
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel,
    QueryOrder,
};

use super::extract::{Geography, Marks, all, read_error, unreadable_row};
use super::load::{Write, write};
use super::pipe::{self, DateCover};
use super::run::{RunReport, Tracker};
use super::{progress, run};
use crate::db::{self, SourceDb, table};
use crate::source::{address, city, country, inventory, language};
use crate::star::Keys;
use crate::star::bridge::{Bridge, FilmActor, FilmCategory};
use crate::star::keymap::KeyMap;
use crate::star::{self, Dimension, Fact, Refs};
use crate::warehouse::entity::prelude::*;
use crate::warehouse::entity::source_version;
use crate::warehouse::schema;

/// Runs a full load and returns what it wrote.
pub async fn full_load(source: &SourceDb, warehouse: &DatabaseConnection) -> Result<RunReport> {
    crate::warehouse::prepare(warehouse).await?;
    run::record(warehouse, "full-load", |run_id| {
        load(source, warehouse, run_id)
    })
    .await
}

async fn load(source: &SourceDb, warehouse: &DatabaseConnection, run_id: i32) -> Result<RunReport> {
    let (src, horizon) = super::horizon::snapshot(source).await?;
    let txn = db::warehouse_txn(warehouse).await?;
    let mut t = Tracker::new(run_id, "full-load");
    t.source_clock = Some(run::source_clock(&src).await?);
    t.horizon = horizon;
    // Which source this is, so the next incremental knows its table times apply.
    let times = super::quiet::read(&src).await?;
    let src = Arc::new(src);
    let marks = load_all(&src, &txn, &mut t).await?;
    super::commit(src, txn, &t, &marks, &BTreeMap::new(), times.as_ref()).await
}

/// Rebuilds every star table from the snapshot `src` inside `txn`; returns the watermarks read.
/// Also what `incremental` does on a warehouse that was never loaded.
pub(crate) async fn load_all(
    src_shared: &Arc<DatabaseTransaction>,
    txn: &DatabaseTransaction,
    t: &mut Tracker,
) -> Result<Marks> {
    let src: &DatabaseTransaction = src_shared;
    let mut marks = Marks::default();
    let mut keys = Keys::default();

    let how = schema::recreate_star_for_bulk_load(txn).await?;
    // A PostgreSQL star with rows is made equal to the source in place ([`super::reconcile`]).
    let reconcile = how == schema::BulkLoad::Reconciled;

    let geo = Geography::load(src, &mut marks).await?;
    let mut languages = HashMap::new();
    let mut versions = Vec::new();
    for l in all::<language::Entity, _>(src).await? {
        marks.observe(table::<language::Entity>(), Some(l.last_update));
        versions.push(version::<language::Entity>(l.language_id, l.last_update));
        languages.insert(l.language_id, l.name);
    }
    marks.touch(table::<language::Entity>());
    versions.extend(
        geo.countries
            .values()
            .map(|c| version::<country::Entity>(c.country_id, c.last_update)),
    );
    versions.extend(
        geo.cities
            .values()
            .map(|c| version::<city::Entity>(c.city_id, c.last_update)),
    );
    versions.extend(
        geo.addresses
            .values()
            .map(|a| version::<address::Entity>(a.address_id, a.last_update)),
    );

    // Dimensions: surrogate keys are the members' ordinals in natural-key order (when
    // reconciling, a member keeps its key and a new one gets the next).
    let refs = Refs { languages, geo };
    let mut gone = super::reconcile::Gone::default();
    let r = reconcile;
    gone.film = load_dimension::<star::Film>(src, txn, &refs, &mut keys, &mut marks, t, r).await?;
    gone.actor =
        load_dimension::<star::Actor>(src, txn, &refs, &mut keys, &mut marks, t, r).await?;
    gone.category =
        load_dimension::<star::Category>(src, txn, &refs, &mut keys, &mut marks, t, r).await?;
    gone.store =
        load_dimension::<star::Store>(src, txn, &refs, &mut keys, &mut marks, t, r).await?;
    gone.staff =
        load_dimension::<star::Staff>(src, txn, &refs, &mut keys, &mut marks, t, r).await?;
    gone.customer =
        load_dimension::<star::Customer>(src, txn, &refs, &mut keys, &mut marks, t, r).await?;

    // The geography (every address, at x1000 about 150 MiB) is for the dimensions only.
    drop(refs);

    copy_bridge::<FilmActor>(src, txn, &keys, &mut marks, t, r).await?;
    copy_bridge::<FilmCategory>(src, txn, &keys, &mut marks, t, r).await?;

    // In primary-key order, so SQLite appends to the key's index instead of inserting at
    // random (the geography comes from hash maps): at 100x, 522k rows, 0.62 s -> 0.53 s.
    let s = Instant::now();
    let mode = Write::bulk(reconcile);
    // When reconciling, the ids written per source table: the other rows are deleted.
    let mut seen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    versions.sort_unstable_by(|a, b| (&a.table_name, a.row_id).cmp(&(&b.table_name, b.row_id)));
    if reconcile {
        for v in &versions {
            seen.entry(v.table_name.clone()).or_default().push(v.row_id);
        }
    }
    let mut written = write::<SourceVersion, _>(txn, versions, mode).await?;
    let mut took = s.elapsed();

    // Facts resolve film and store through the inventory copy, held in memory (12 bytes a
    // copy). Its versions are written as they come, in id order: held whole until the end,
    // they were most of a x1000 full-load's memory (4.6M rows, about 500 MiB).
    let mut stream = inventory::Entity::find()
        .order_by_asc(inventory::Column::InventoryId)
        .stream(src)
        .await
        .with_context(read_error::<inventory::Entity>)?;
    let mut versions = Vec::with_capacity(VERSION_BATCH);
    loop {
        let next = stream
            .try_next()
            .await
            .with_context(read_error::<inventory::Entity>)?;
        if let Some(i) = &next {
            marks.observe(table::<inventory::Entity>(), Some(i.last_update));
            keys.inventory
                .insert(i.inventory_id, (i.film_id, i.store_id));
            versions.push(version::<inventory::Entity>(i.inventory_id, i.last_update));
            if reconcile {
                let ids = seen.entry(table::<inventory::Entity>().to_string());
                ids.or_default().push(i.inventory_id.into());
            }
        }
        if versions.len() == VERSION_BATCH || (next.is_none() && !versions.is_empty()) {
            let s = Instant::now();
            let batch = std::mem::replace(&mut versions, Vec::with_capacity(VERSION_BATCH));
            written += write::<SourceVersion, _>(txn, batch, mode).await?;
            took += s.elapsed();
        }
        if next.is_none() {
            break;
        }
    }
    drop(stream);
    marks.touch(table::<inventory::Entity>());
    let s = Instant::now();
    let deleted = if reconcile {
        super::reconcile::delete_unseen_versions(txn, &seen).await?
    } else {
        0
    };
    drop(seen);
    took += s.elapsed();
    let since = Instant::now()
        .checked_sub(took)
        .unwrap_or_else(Instant::now);
    // A reconciled table reports what it wrote: new and changed versions together.
    t.add(table::<SourceVersion>(), written, 0, deleted, since);

    // Facts: the key maps are complete now and shared read-only with the reader task.
    let keys = Arc::new(keys);
    let mut cover = DateCover::default();
    copy_fact::<star::Rental>(src_shared, txn, &keys, &mut cover, &mut marks, t, r).await?;
    copy_fact::<star::Payment>(src_shared, txn, &keys, &mut cover, &mut marks, t, r).await?;
    if cover.added > 0 {
        t.add(table::<DimDate>(), cover.added, 0, 0, Instant::now());
    }
    // No fact or bridge points at the members the source no longer has.
    gone.delete(txn, t).await?;

    schema::finish_bulk_load(txn, how).await?;
    Ok(marks)
}

/// Inventory versions written per batch while the copies are read.
const VERSION_BATCH: usize = 50_000;

/// Deletes every row of `E` when `empty`; returns the rows deleted.
async fn empty_if<E: EntityTrait>(txn: &DatabaseTransaction, empty: bool) -> Result<u64> {
    if !empty {
        return Ok(0);
    }
    Ok(E::delete_many()
        .exec(txn)
        .await
        .with_context(|| format!("cannot empty warehouse table {}", table::<E>()))?
        .rows_affected)
}

/// Copies dimension `D`, streamed (customers can be many): each member's surrogate key is its
/// ordinal in natural-key order. With `reconcile`, into a table that may hold members
/// already: each keeps its key, a new one gets the next, and every row goes in as
/// [`Write::Reconcile`]; returns the keys of the members the source no longer has.
async fn load_dimension<D: Dimension>(
    src: &DatabaseTransaction,
    txn: &DatabaseTransaction,
    refs: &Refs,
    keys: &mut Keys,
    marks: &mut Marks,
    t: &mut Tracker,
    reconcile: bool,
) -> Result<Vec<i32>> {
    let s = Instant::now();
    let before = if reconcile {
        super::dims::key_map::<D::Star, _>(txn).await?
    } else {
        KeyMap::default()
    };
    let rows = D::select()
        .into_model::<D::Row>()
        .stream(src)
        .await
        .with_context(read_error::<D::Source>)?;
    let mut next_key = before.iter().map(|(_, k)| k).max().unwrap_or(0);
    let (mut read, mut kept) = (0, 0);
    let mut last_id = None;
    let mode = if reconcile {
        Write::Reconcile
    } else {
        Write::Insert
    };
    let copied =
        stream_into::<D::Star, _, _, _>(txn, rows, D::star_table(), mode, |row: D::Row| {
            marks.observe(D::source_table(), D::last_update(&row));
            last_id = Some(i64::from(D::id(&row)));
            read += 1;
            let key = match before.get(D::id(&row)) {
                Some(key) => {
                    kept += 1;
                    key
                }
                None => {
                    next_key += 1;
                    next_key
                }
            };
            D::keys(keys).insert(D::id(&row), key);
            D::resolves(keys, &row);
            D::member(key, &row, refs)
        })
        .await;
    let written = match copied {
        Ok(n) => n,
        // A row the driver could not decode is named (the rows before it were transformed).
        Err(e) => {
            return Err(unreadable_row::<D::Source, _>(src, D::id_column(), last_id, e).await);
        }
    };
    marks.touch(D::source_table());
    let inserted = read - kept;
    t.add(
        D::star_table(),
        inserted,
        written.saturating_sub(inserted),
        0,
        s,
    );
    let members = D::keys(keys);
    Ok(before
        .iter()
        .filter(|(id, _)| members.get(*id).is_none())
        .map(|(_, key)| key)
        .collect())
}

/// Copies bridge `B` (it follows its dimensions, whose keys are in `keys`); with `reconcile`,
/// its rows are deleted first.
async fn copy_bridge<B: Bridge>(
    src: &DatabaseTransaction,
    txn: &DatabaseTransaction,
    keys: &Keys,
    marks: &mut Marks,
    t: &mut Tracker,
    reconcile: bool,
) -> Result<()>
where
    <B::Star as EntityTrait>::Model: IntoActiveModel<<B::Star as EntityTrait>::ActiveModel> + Send,
    <B::Star as EntityTrait>::ActiveModel: ActiveModelTrait<Entity = B::Star> + Send,
{
    let s = Instant::now();
    let emptied = empty_if::<B::Star>(txn, reconcile).await?;
    let stream = B::Source::find()
        .stream(src)
        .await
        .with_context(read_error::<B::Source>)?;
    let n = stream_into::<B::Star, _, _, _>(txn, stream, B::star_table(), Write::Insert, |row| {
        marks.observe(B::source_table(), Some(B::last_update(&row)));
        Ok(B::row(B::keys(keys, &row)?))
    })
    .await?;
    marks.touch(B::source_table());
    t.add(B::star_table(), n, 0, emptied, s);
    Ok(())
}

/// Copies fact `F` ([`pipe::copy`]); the dimensions' keys are complete in `keys`. With
/// `reconcile`, into a table that may hold the rows already: the rows the source no longer
/// has are deleted after ([`super::reconcile::delete_unseen`]).
async fn copy_fact<F: Fact>(
    src: &Arc<DatabaseTransaction>,
    txn: &DatabaseTransaction,
    keys: &Arc<Keys>,
    cover: &mut DateCover,
    marks: &mut Marks,
    t: &mut Tracker,
    reconcile: bool,
) -> Result<()> {
    let s = Instant::now();
    let before = if reconcile {
        db::row_count(txn, F::star_table()).await?
    } else {
        0
    };
    let copied = pipe::copy::<F>(src.clone(), txn, keys.clone(), cover, reconcile).await?;
    marks.set(F::source_table(), copied.mark);
    let deleted = if reconcile {
        let all = sea_orm::Condition::all();
        super::reconcile::delete_unseen::<F::Star, _, i32>(txn, all, F::star_id(), &copied.ids)
            .await?
    } else {
        0
    };
    // Every source row was in the warehouse (and stayed) or is new: the rows there before,
    // less those deleted, are the ones kept.
    let inserted = copied.rows - (before - deleted);
    t.add(
        F::star_table(),
        inserted,
        copied.written - inserted,
        deleted,
        s,
    );
    Ok(())
}

/// The version of row `id` of source table `E`, as `source_version` holds it.
fn version<E: EntityTrait>(
    id: u32,
    last_update: chrono::DateTime<chrono::Utc>,
) -> source_version::Model {
    source_version::Model {
        table_name: table::<E>().to_string(),
        row_id: id.into(),
        last_update: Some(last_update.naive_utc()),
    }
}

/// Streams `rows` through `transform` into table `E`: a producer fills batches while a
/// consumer writes the previous one, so reading and writing overlap. Memory holds at most a
/// few batches whatever the table size.
pub async fn stream_into<E, M, S, F>(
    txn: &DatabaseTransaction,
    rows: S,
    label: &str,
    mode: Write,
    mut transform: F,
) -> Result<u64>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel> + Send,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    S: Stream<Item = Result<M, DbErr>>,
    F: FnMut(M) -> Result<E::Model>,
{
    let batch =
        crate::db::rows_per_statement::<E>(sea_orm::ConnectionTrait::get_database_backend(txn)) * 2;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<E::Model>>(2);
    let bar = progress::rows(label);
    let producer = async move {
        let rows = std::pin::pin!(rows);
        let mut batches = rows.try_chunks(batch).map_err(|e| e.1);
        while let Some(rows) = batches
            .try_next()
            .await
            .with_context(|| format!("cannot read the source rows for {label}"))?
        {
            let out = rows
                .into_iter()
                .map(&mut transform)
                .collect::<Result<Vec<_>>>()?;
            if tx.send(out).await.is_err() {
                return Ok(()); // the writer stopped; its error is the one to report
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    let consumer = async {
        let mut n = 0;
        while let Some(b) = rx.recv().await {
            let len = b.len() as u64;
            n += write::<E, _>(txn, b, mode).await?;
            bar.inc(len);
        }
        Ok::<_, anyhow::Error>(n)
    };
    let ((), n) = tokio::try_join!(producer, consumer)?;
    bar.finish_and_clear();
    Ok(n)
}
