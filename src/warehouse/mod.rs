//! The SQLite star schema: entities, schema creation and the date dimension.

pub mod bulk_read;
pub mod dates;
pub mod entity;
pub mod schema;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, EntityTrait, IntoActiveModel};

use entity::warehouse_meta;

/// Creates whatever is missing (tables, indexes, sync_state rows) and records the schema
/// version; refuses a warehouse made by another schema version. Idempotent.
pub async fn prepare<C: ConnectionTrait>(db: &C) -> Result<()> {
    schema::create_all(db).await?;
    let version = warehouse_meta::Entity::find_by_id("schema_version".to_string())
        .one(db)
        .await
        .context("cannot read warehouse_meta")?;
    match version {
        Some(v) if v.value != schema::SCHEMA_VERSION => bail!(
            "the warehouse has schema version {}, this sakila-sync writes version {}: use a new warehouse file",
            v.value,
            schema::SCHEMA_VERSION
        ),
        Some(_) => {}
        None => {
            warehouse_meta::Entity::insert(
                warehouse_meta::Model {
                    key: "schema_version".into(),
                    value: schema::SCHEMA_VERSION.into(),
                }
                .into_active_model(),
            )
            .on_conflict_do_nothing_on([warehouse_meta::Column::Key])
            .exec(db)
            .await
            .context("cannot record the schema version")?;
        }
    }
    crate::sync::state::init(db).await?;
    Ok(())
}

/// `init`: the schema, the default date range, sync_state. Returns the dim_date rows added.
pub async fn init<C: ConnectionTrait>(db: &C, from: NaiveDate, to: NaiveDate) -> Result<u64> {
    prepare(db).await?;
    dates::ensure_range(db, from, to).await
}
