//! `dim_store`: a store with its address, city and country denormalised in.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dim_store")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub store_key: i32,
    #[sea_orm(unique)]
    pub store_id: i32,
    pub manager_staff_id: i32,
    pub address: String,
    pub district: String,
    pub postal_code: Option<String>,
    pub city: String,
    pub country: String,
    pub last_update: DateTime,
    pub is_deleted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
