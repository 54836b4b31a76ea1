//! `dim_date`: one row per calendar day, keyed `YYYYMMDD`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dim_date")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub date_key: i32,
    pub full_date: Date,
    pub year: i32,
    pub quarter: i32,
    pub month: i32,
    pub day_of_month: i32,
    /// 1 = Monday .. 7 = Sunday (ISO 8601).
    pub day_of_week: i32,
    pub is_weekend: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
