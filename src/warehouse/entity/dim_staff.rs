//! `dim_staff`: an employee and the store they work at (no picture, no password).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dim_staff")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub staff_key: i32,
    #[sea_orm(unique)]
    pub staff_id: i32,
    pub store_id: i32,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub username: String,
    pub active: bool,
    pub last_update: DateTime,
    pub is_deleted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
