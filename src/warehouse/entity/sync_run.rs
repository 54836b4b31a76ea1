//! `sync_run`: one row per run of `full-load` or `incremental`, written before the run starts
//! (status `running`) and finished inside the run's own transaction, so a killed run is
//! visible as `running` (until the next run marks it `abandoned`) and a failed one as
//! `failed` with its error.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_run")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub command: String,
    pub started_at: DateTime,
    pub finished_at: Option<DateTime>,
    pub status: RunStatus,
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
    /// Every source transaction this run's snapshot could not see started at or after this
    /// (see `sync::horizon`): the next run re-reads rows stamped from it on. `NULL` when the
    /// source does not list its open transactions (`note` says why).
    pub source_horizon: Option<DateTime>,
    /// What the run could not do as usual and what it did instead, in one line.
    #[sea_orm(column_type = "Text", nullable)]
    pub note: Option<String>,
}

/// What became of a run. Stored as its lower-case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum RunStatus {
    /// Started and not finished: under way, or its process died (see `Abandoned`).
    #[sea_orm(string_value = "running")]
    Running,
    /// Committed.
    #[sea_orm(string_value = "success")]
    Success,
    /// Ended with an error and rolled back; `error` says why.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Its process ended without recording an outcome (killed, or the machine stopped); the
    /// next run marks it so. Its transaction never committed.
    #[sea_orm(string_value = "abandoned")]
    Abandoned,
    /// Stopped by SIGINT or SIGTERM; its transaction rolled back.
    #[sea_orm(string_value = "interrupted")]
    Interrupted,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
