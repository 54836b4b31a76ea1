//! The star schema's warehouse: entities, schema creation, the date dimension, and where its
//! backends differ ([`backend`]).

pub mod backend;
pub mod bulk_read;
pub mod dates;
pub mod entity;
pub mod schema;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use sea_orm::{
    ConnectionTrait, EntityName, EntityTrait, IntoActiveModel, TransactionSession, TransactionTrait,
};

use entity::warehouse_meta;

/// Whether a reader of the warehouse file `path` may read the file alone, as immutable:
/// no writer holds the lock ([`crate::lock::holder`]), the write-ahead log holds nothing
/// (the last writer checkpointed it when it closed) and there is no rollback journal (a
/// first load killed before it committed leaves one: the file then holds part of that load,
/// which SQLite must not be told to trust). Then SQLite needs no shared-memory index beside
/// it, so `validate` and `status` create no file and work in a read-only folder. Otherwise
/// they read the log too, through its index, as any WAL reader does.
///
/// A writer that starts while such a reader reads is seen: `validate` checks at its end that
/// the newest run is the one it started with, and asks to run it again if not.
pub fn reads_file_alone(path: &std::path::Path) -> bool {
    let empty = |p: std::path::PathBuf| std::fs::metadata(p).map_or(true, |m| m.len() == 0);
    empty(backend::wal_of(path))
        && empty(backend::journal_of(path))
        && crate::lock::holder(path).is_none()
}

/// Makes the warehouse one this sakila-sync writes, in one transaction: reads its schema
/// version before any DDL; creates a new warehouse; upgrades one of an earlier version through
/// each migration ([`schema::migrate`]); refuses one it does not know (a newer sakila-sync's,
/// or tables without a version); then creates whatever is missing (tables, indexes,
/// sync_state rows). Idempotent; on any error nothing has changed.
pub async fn prepare<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<()> {
    let txn = db
        .begin()
        .await
        .context("cannot start a transaction on the warehouse")?;
    let current = match schema_version(&txn).await? {
        Some(v) if v == schema::SCHEMA_VERSION => true,
        Some(v) if schema::UPGRADABLE.contains(&v.as_str()) => {
            schema::migrate(&txn, &v).await?;
            tracing::info!(
                "warehouse upgraded from schema version {v} to {}",
                schema::SCHEMA_VERSION
            );
            false
        }
        Some(v) => {
            return Err(crate::error::SchemaError::Unknown {
                found: v,
                writes: schema::SCHEMA_VERSION,
            }
            .into());
        }
        None => {
            // Tables without a version are another program's: refused where they are in the
            // warehouse's way ([`backend::Backend::shares_its_schema`]).
            let tables = crate::db::table_names(&txn).await?;
            let ours = schema::own_tables().await?;
            let (clashing, others): (Vec<String>, Vec<String>) =
                tables.into_iter().partition(|t| ours.contains(&t.as_str()));
            let backend = backend::Backend::of(&txn);
            if !clashing.is_empty() || (!others.is_empty() && !backend.shares_its_schema()) {
                return Err(crate::error::SchemaError::NotOurs {
                    tables: if clashing.is_empty() {
                        others
                    } else {
                        clashing
                    },
                    remedy: backend.remedy_for_foreign_tables(),
                }
                .into());
            }
            false
        }
    };
    schema::create_all(&txn).await?;
    if !current {
        record_version(&txn).await?;
    }
    crate::sync::state::init(&txn).await?;
    txn.commit()
        .await
        .context("cannot commit the warehouse's schema")?;
    Ok(())
}

/// The warehouse's schema version; `None` when it has none (a new file, or not ours).
async fn schema_version<C: ConnectionTrait>(db: &C) -> Result<Option<String>> {
    let meta = warehouse_meta::Entity.table_name();
    if crate::db::table_columns(db, meta).await?.is_none() {
        return Ok(None);
    }
    Ok(
        warehouse_meta::Entity::find_by_id("schema_version".to_string())
            .one(db)
            .await
            .context("cannot read warehouse_meta")?
            .map(|v| v.value),
    )
}

async fn record_version<C: ConnectionTrait>(db: &C) -> Result<()> {
    warehouse_meta::Entity::insert(
        warehouse_meta::Model {
            key: "schema_version".into(),
            value: schema::SCHEMA_VERSION.into(),
        }
        .into_active_model(),
    )
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(warehouse_meta::Column::Key)
            .update_column(warehouse_meta::Column::Value)
            .to_owned(),
    )
    .exec(db)
    .await
    .context("cannot record the schema version")?;
    Ok(())
}

/// `init`: the schema, the default date range, sync_state. Returns the dim_date rows added.
pub async fn init<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<u64> {
    prepare(db).await?;
    // The calendar stays one gap-free range (what loads extend, see `dates::extend_known`).
    Ok(dates::extend_hull(db, from, to).await?.0)
}
