//! Creating and rebuilding the warehouse schema from the entities (no SQL written by hand).
//!
//! Foreign keys come from the entities' `belongs_to` relations and are enforced by SQLite
//! (`foreign_keys=ON`) on every connection but a full-load's, which checks them all at once
//! before it commits ([`check_star_keys`]). Secondary indexes are separate so a full-load can
//! build them after its bulk insert, which is several times faster than maintaining them row
//! by row.

use anyhow::{Context, Result, bail};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, Table};
use sea_orm::{
    ConnectionTrait, EntityName, EntityTrait, IdenStatic, Identity, Iterable, RelationTrait,
    Schema, TransactionSession, TransactionTrait,
};

use super::backend::Backend;
use super::entity::prelude::*;

/// Bumped whenever a table or column of the run's own records changes (`sync_state`,
/// `sync_run`, `warehouse_meta`, `source_version`): what a warehouse remembers and cannot
/// derive again. The star's tables are derived from the source, so their shape is not
/// versioned: a star table whose columns differ from its entity's is rebuilt by the next run
/// ([`outdated_star_tables`]).
///
/// - 1: the star, `sync_state`, `sync_run`, `warehouse_meta`, `source_version`.
/// - 2: `sync_run.source_horizon` and `sync_run.note` (and `sync_run.source_clock`, which
///   some version-1 warehouses lack). [`migrate`] brings a version-1 warehouse here.
pub const SCHEMA_VERSION: &str = "2";

/// The schema versions [`migrate`] knows how to bring to [`SCHEMA_VERSION`].
pub const UPGRADABLE: &[&str] = &["1"];

/// Brings a warehouse of schema version `from` (one of [`UPGRADABLE`]) to [`SCHEMA_VERSION`],
/// one migration after another, inside the caller's transaction.
pub async fn migrate<C: ConnectionTrait>(db: &C, from: &str) -> Result<()> {
    let mut version = from.to_string();
    while version != SCHEMA_VERSION {
        version = match version.as_str() {
            // 1 -> 2: sync_run.source_horizon and sync_run.note (and sync_run.source_clock,
            // which some version-1 warehouses lack), all nullable.
            "1" => {
                add_missing_columns(db, SyncRun).await?;
                "2".to_string()
            }
            other => bail!("no migration from warehouse schema version {other}"),
        };
    }
    Ok(())
}

/// Adds the (nullable) columns of `entity` that its table lacks.
async fn add_missing_columns<C: ConnectionTrait, E: EntityTrait>(db: &C, entity: E) -> Result<()> {
    let what = || format!("cannot upgrade warehouse table {}", entity.table_name());
    let have = crate::db::table_columns(db, entity.table_name())
        .await?
        .unwrap_or_default();
    let schema = Schema::new(db.get_database_backend());
    for column in E::Column::iter() {
        if have.iter().any(|name| name == column.as_str()) {
            continue;
        }
        let stmt = Table::alter()
            .table(entity)
            .add_column(schema.get_column_def::<E>(column))
            .to_owned();
        db.execute(&stmt).await.with_context(what)?;
        tracing::info!(
            "warehouse upgraded: added {}.{}",
            entity.table_name(),
            column.as_str()
        );
    }
    Ok(())
}

async fn create_table<C: ConnectionTrait, E: EntityTrait>(db: &C, entity: E) -> Result<()> {
    let mut stmt = Schema::new(db.get_database_backend()).create_table_from_entity(entity);
    stmt.if_not_exists();
    db.execute(&stmt)
        .await
        .with_context(|| format!("cannot create warehouse table {}", entity.table_name()))?;
    Ok(())
}

async fn create_indexes<C: ConnectionTrait, E: EntityTrait>(db: &C, entity: E) -> Result<()> {
    for mut idx in Schema::new(db.get_database_backend()).create_index_from_entity(entity) {
        idx.if_not_exists();
        db.execute(&idx)
            .await
            .with_context(|| format!("cannot index warehouse table {}", entity.table_name()))?;
    }
    Ok(())
}

async fn create_current_indexes<C: ConnectionTrait, E: EntityTrait>(
    (db, outdated): (&C, &Vec<&'static str>),
    entity: E,
) -> Result<()> {
    if outdated.contains(&entity.table_name()) {
        return Ok(());
    }
    create_indexes(db, entity).await
}

async fn drop_table<C: ConnectionTrait, E: EntityTrait>(db: &C, entity: E) -> Result<()> {
    let stmt = Table::drop().table(entity).if_exists().to_owned();
    db.execute(&stmt)
        .await
        .with_context(|| format!("cannot drop warehouse table {}", entity.table_name()))?;
    Ok(())
}

/// Calls `$f(db, Entity)` for every table of the star (dimensions, bridges, facts), parents
/// first; `rev` gives children first (the order to drop them in).
macro_rules! for_star_tables {
    ($f:ident, $db:expr) => {{
        $f($db, DimFilm).await?;
        $f($db, DimActor).await?;
        $f($db, DimCategory).await?;
        $f($db, DimCustomer).await?;
        $f($db, DimStore).await?;
        $f($db, DimStaff).await?;
        $f($db, BridgeFilmActor).await?;
        $f($db, BridgeFilmCategory).await?;
        $f($db, FactRental).await?;
        $f($db, FactPayment).await?;
        $f($db, SourceVersion).await?;
    }};
    (rev $f:ident, $db:expr) => {{
        $f($db, SourceVersion).await?;
        $f($db, FactPayment).await?;
        $f($db, FactRental).await?;
        $f($db, BridgeFilmCategory).await?;
        $f($db, BridgeFilmActor).await?;
        $f($db, DimStaff).await?;
        $f($db, DimStore).await?;
        $f($db, DimCustomer).await?;
        $f($db, DimCategory).await?;
        $f($db, DimActor).await?;
        $f($db, DimFilm).await?;
    }};
}

/// Creates every missing table and index. Idempotent.
pub async fn create_all<C: ConnectionTrait>(db: &C) -> Result<()> {
    create_table(db, DimDate).await?;
    create_indexes(db, DimDate).await?;
    for_star_tables!(create_table, db);
    // A table of another version's shape may lack an indexed column: the next run rebuilds
    // it, indexes included.
    let outdated = outdated_star_tables(db).await?;
    for_star_tables!(create_current_indexes, (db, &outdated));
    create_table(db, SyncState).await?;
    create_table(db, SyncRun).await?;
    create_table(db, WarehouseMeta).await?;
    Ok(())
}

/// The names of the tables [`create_all`] creates: the warehouse's own, and no others.
pub async fn own_tables() -> Result<Vec<&'static str>> {
    let mut names = vec![
        DimDate.table_name(),
        SyncState.table_name(),
        SyncRun.table_name(),
        WarehouseMeta.table_name(),
    ];
    for_star_tables!(note_name, &mut names);
    Ok(names)
}

/// How [`recreate_star_for_bulk_load`] emptied the star, and so what [`finish_bulk_load`]
/// must build after the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkLoad {
    /// Tables recreated without secondary indexes; foreign keys declared but not enforced on
    /// the bulk connection (SQLite, `foreign_keys=OFF`).
    Recreated,
    /// Tables recreated without secondary indexes and without foreign keys (PostgreSQL, a
    /// star with no rows, or one with a table of another version's shape): both are added
    /// once after the copy, as a bulk load should.
    RecreatedWithoutKeys,
    /// Tables, rows, indexes and foreign keys kept (PostgreSQL, a star with rows that readers
    /// may be reading): the load writes only what differs ([`crate::sync::reconcile`]).
    Reconciled,
}

/// Empties the star tables for a bulk load, inside the caller's transaction, as the backend
/// plans it ([`Backend::bulk_load`], which says why), or keeps them to be reconciled
/// (creating any that is missing); `dim_date` and the sync tables are kept.
pub async fn recreate_star_for_bulk_load<C: ConnectionTrait>(db: &C) -> Result<BulkLoad> {
    let how = Backend::of(db).bulk_load(db).await?;
    match how {
        BulkLoad::Recreated => {
            for_star_tables!(rev drop_table, db);
            for_star_tables!(create_table, db);
        }
        BulkLoad::RecreatedWithoutKeys => {
            for_star_tables!(rev drop_table, db);
            for_star_tables!(create_table_without_keys, db);
        }
        BulkLoad::Reconciled => for_star_tables!(create_table, db),
    }
    Ok(how)
}

/// Whether any table of the star exists and has a row.
pub(crate) async fn star_has_rows<C: ConnectionTrait>(db: &C) -> Result<bool> {
    let tables = crate::db::table_names(db).await?;
    let mut loaded = false;
    for_star_tables!(note_if_loaded, (db, &tables, &mut loaded));
    Ok(loaded)
}

/// Sets `loaded` when `entity`'s table exists and has a row.
async fn note_if_loaded<C: ConnectionTrait, E: EntityTrait>(
    (db, tables, loaded): (&C, &Vec<String>, &mut bool),
    entity: E,
) -> Result<()> {
    if *loaded || !tables.iter().any(|t| t == entity.table_name()) {
        return Ok(());
    }
    let any = Query::select()
        .expr(Expr::val(1))
        .from(entity)
        .limit(1)
        .to_owned();
    *loaded = db
        .query_one(&any)
        .await
        .with_context(|| format!("cannot read warehouse table {}", entity.table_name()))?
        .is_some();
    Ok(())
}

/// Creates `entity`'s table with its columns and primary key only; [`add_foreign_keys`]
/// declares its foreign keys later.
async fn create_table_without_keys<C: ConnectionTrait, E: EntityTrait>(
    db: &C,
    entity: E,
) -> Result<()> {
    let full = Schema::new(db.get_database_backend()).create_table_from_entity(entity);
    let mut stmt = Table::create();
    stmt.table(entity).if_not_exists();
    for column in full.get_columns() {
        stmt.col(column.clone());
    }
    for index in full.get_indexes() {
        stmt.index(&mut index.clone());
    }
    db.execute(&stmt)
        .await
        .with_context(|| format!("cannot create warehouse table {}", entity.table_name()))?;
    Ok(())
}

/// Declares `entity`'s foreign keys on its existing table; the server checks each over all
/// rows at once.
async fn add_foreign_keys<C: ConnectionTrait, E: EntityTrait>(db: &C, entity: E) -> Result<()> {
    let full = Schema::new(db.get_database_backend()).create_table_from_entity(entity);
    for key in full.get_foreign_key_create_stmts() {
        db.execute(key).await.with_context(|| {
            format!(
                "cannot add the foreign keys of warehouse table {}",
                entity.table_name()
            )
        })?;
    }
    Ok(())
}

/// After a bulk load's copy: builds the star's secondary indexes and makes sure every foreign
/// key holds, naming the offending value when one does not ([`check_star_keys`]).
///
/// After [`BulkLoad::RecreatedWithoutKeys`] the keys are declared now, and PostgreSQL checks
/// each over all rows as it adds it; only when that fails does [`check_star_keys`] run (in a
/// savepoint, since the failed statement spoils it) to say which value is missing. Checking
/// first as well would read every fact twice (at 100x, 2.4 s of the load's 30). After
/// [`BulkLoad::Reconciled`] the server has checked the keys of every row written as it went
/// in, and the rows left alone were checked when they were: nothing is left to check.
pub async fn finish_bulk_load<C>(db: &C, how: BulkLoad) -> Result<()>
where
    C: ConnectionTrait + TransactionTrait,
{
    let s = std::time::Instant::now();
    for_star_tables!(create_indexes, db);
    tracing::info!("indexes built in {:.3} s", s.elapsed().as_secs_f64());
    let s = std::time::Instant::now();
    if how == BulkLoad::RecreatedWithoutKeys {
        let savepoint = db.begin().await.context("cannot start a savepoint")?;
        let added = async {
            for_star_tables!(add_foreign_keys, &savepoint);
            Ok::<_, anyhow::Error>(())
        }
        .await;
        match added {
            Ok(()) => savepoint
                .commit()
                .await
                .context("cannot release a savepoint")?,
            Err(e) => {
                savepoint.rollback().await.ok();
                check_star_keys(db).await?;
                return Err(e);
            }
        }
    } else if how == BulkLoad::Recreated {
        check_star_keys(db).await?;
    }
    tracing::info!("foreign keys checked in {:.3} s", s.elapsed().as_secs_f64());
    Ok(())
}

/// The star tables whose columns differ from their entity's: written by another version of
/// sakila-sync (a column added to a dimension, say). `incremental` rebuilds the star when any
/// is, as a `full-load` would; `validate` refuses to compare them. A table that does not
/// exist is not listed ([`create_all`] creates it).
pub async fn outdated_star_tables<C: ConnectionTrait>(db: &C) -> Result<Vec<&'static str>> {
    let mut names = Vec::new();
    for_star_tables!(note_name, &mut names);
    let catalog = crate::db::Catalog::read(db, &names).await?;
    let mut outdated = Vec::new();
    for_star_tables!(note_if_outdated, (&catalog, &mut outdated));
    Ok(outdated)
}

async fn note_name<E: EntityTrait>(names: &mut Vec<&'static str>, entity: E) -> Result<()> {
    names.push(entity.table_name());
    Ok(())
}

async fn note_if_outdated<E: EntityTrait>(
    (catalog, outdated): (&crate::db::Catalog, &mut Vec<&'static str>),
    entity: E,
) -> Result<()> {
    let Some(have) = catalog.columns(entity.table_name()) else {
        return Ok(());
    };
    let want: std::collections::BTreeSet<String> =
        E::Column::iter().map(|c| c.as_str().to_string()).collect();
    if *have != want {
        outdated.push(entity.table_name());
    }
    Ok(())
}

/// Checks every foreign key of the star tables: for each `belongs_to` relation, one query for
/// a distinct value of the key column (read from the column's index) that the referenced
/// table lacks. What SQLite's per-row checks would have refused, row by row, fails here at
/// once; a full-load runs it after building the indexes, inside its transaction, so a broken
/// key rolls the whole load back. At 100x the twelve keys take about half a second; checking
/// them row by row during the copy cost six seconds.
pub async fn check_star_keys<C: ConnectionTrait>(db: &C) -> Result<()> {
    for_star_tables!(check_keys, db);
    Ok(())
}

async fn check_keys<C: ConnectionTrait, E: EntityTrait>(db: &C, entity: E) -> Result<()> {
    for rel in E::Relation::iter() {
        let def = rel.def();
        // The relations that become foreign keys in `create_table_from_entity`: `belongs_to`
        // (whose definition says `is_owner: false`).
        if def.is_owner || def.skip_fk {
            continue;
        }
        let (Identity::Unary(from), Identity::Unary(to)) = (&def.from_col, &def.to_col) else {
            bail!(
                "{}: only single-column foreign keys are checked",
                entity.table_name()
            );
        };
        let (keys, key) = (Alias::new("used"), Alias::new("k"));
        let used = Query::select()
            .distinct()
            // As BIGINT: PostgreSQL's keys are INTEGER, which does not decode as an i64.
            .expr_as(
                Expr::col(from.clone()).cast_as(Alias::new("BIGINT")),
                key.clone(),
            )
            .from(def.from_tbl.clone())
            .and_where(Expr::col(from.clone()).is_not_null())
            .to_owned();
        let referenced = Query::select()
            .expr(Expr::val(1))
            .from(def.to_tbl.clone())
            .and_where(Expr::col(to.clone()).eq(Expr::col((keys.clone(), key.clone()))))
            .to_owned();
        let orphan = Query::select()
            .column((keys.clone(), key.clone()))
            .from_subquery(used, keys.clone())
            .and_where(Expr::exists(referenced).not())
            .limit(1)
            .to_owned();
        let what = || {
            format!(
                "cannot check the foreign key {}.{}",
                entity.table_name(),
                from
            )
        };
        if let Some(row) = db.query_one(&orphan).await.with_context(what)? {
            let value: i64 = row.try_get("", "k").with_context(what)?;
            bail!(
                "{}.{} holds {value}, which {} does not have (a foreign key would refuse it)",
                entity.table_name(),
                from,
                table_ref_name(&def.to_tbl)
            );
        }
    }
    Ok(())
}

fn table_ref_name(t: &sea_orm::sea_query::TableRef) -> String {
    match t {
        sea_orm::sea_query::TableRef::Table(name, _) => name.1.to_string(),
        other => format!("{other:?}"),
    }
}
