//! `source_version`: the `last_update` of each source row of the lookup tables the star folds
//! in (country, city, address, language, inventory) as of the last run. Those rows have no
//! warehouse row of their own to compare with, so `incremental` compares with this to tell a
//! row re-read by the lookback window from one that really changed.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "source_version")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub table_name: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub row_id: i64,
    pub last_update: Option<DateTime>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
