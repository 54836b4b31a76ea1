//! `sync_state`: per source table, how far the warehouse has read it. Kept in the warehouse
//! (as dlt does) so it commits atomically with the data it describes.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_state")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub table_name: String,
    /// Largest source `last_update` loaded (the source's clock); NULL before the first load.
    pub watermark: Option<DateTime>,
    /// Source rows the last run that advanced this table read from it.
    pub rows_read: i64,
    /// `sync_run.id` of the run that last advanced this row.
    pub last_run_id: Option<i32>,
    pub updated_at: DateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
