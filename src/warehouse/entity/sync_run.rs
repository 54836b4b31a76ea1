//! `sync_run`: one row per run of `full-load` or `incremental`, written before the run starts
//! (status `running`) and finished inside the run's own transaction, so a killed run is
//! visible as `running` and a failed one as `failed` with its error.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_run")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub command: String,
    pub started_at: DateTime,
    pub finished_at: Option<DateTime>,
    /// `running`, `success` or `failed`.
    pub status: String,
    /// Rows written, all tables together.
    pub rows_written: i64,
    /// Per table: rows inserted, updated and deleted, as JSON.
    #[sea_orm(column_type = "Text")]
    pub rows_by_table: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// The source's clock when the run's snapshot began: rows stamped in that second or later
    /// may still change under the same `last_update`, so the next run re-reads them.
    pub source_clock: Option<DateTime>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
