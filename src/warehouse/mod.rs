//! The SQLite star schema: entities, schema creation and the date dimension.

pub mod bulk_read;
pub mod dates;
pub mod entity;
pub mod schema;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, EntityTrait, IntoActiveModel};

use entity::warehouse_meta;

/// Creates whatever is missing (tables, indexes, sync_state rows) and records the schema
/// version; upgrades a warehouse of an earlier version ([`schema::upgrade`]) and refuses one
/// of a version it does not know. Idempotent.
pub async fn prepare<C: ConnectionTrait>(db: &C) -> Result<()> {
    schema::create_all(db).await?;
    let version = warehouse_meta::Entity::find_by_id("schema_version".to_string())
        .one(db)
        .await
        .context("cannot read warehouse_meta")?;
    match version {
        Some(v) if v.value == schema::SCHEMA_VERSION => {}
        Some(v) if schema::UPGRADABLE.contains(&v.value.as_str()) => {
            schema::upgrade(db).await?;
            record_version(db).await?;
        }
        Some(v) => {
            return Err(crate::error::SchemaError::Unknown {
                found: v.value,
                writes: schema::SCHEMA_VERSION,
            }
            .into());
        }
        None => record_version(db).await?,
    }
    crate::sync::state::init(db).await?;
    Ok(())
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
pub async fn init<C: ConnectionTrait>(db: &C, from: NaiveDate, to: NaiveDate) -> Result<u64> {
    prepare(db).await?;
    dates::ensure_range(db, from, to).await
}
