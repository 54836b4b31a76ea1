//! `dim_category`: one member per source category.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dim_category")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub category_key: i32,
    #[sea_orm(unique)]
    pub category_id: i32,
    pub name: String,
    pub last_update: DateTime,
    pub is_deleted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
