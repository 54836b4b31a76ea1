//! `dim_customer`: a customer with their address, city and country denormalised in.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dim_customer")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub customer_key: i32,
    #[sea_orm(unique)]
    pub customer_id: i32,
    pub store_id: i32,
    pub first_name: String,
    pub last_name: String,
    /// The name as a person writes it, "Mary Smith" (the source keeps names in capitals).
    pub full_name: String,
    pub email: Option<String>,
    pub active: bool,
    pub create_date: DateTime,
    pub address: String,
    pub district: String,
    pub postal_code: Option<String>,
    pub phone: String,
    pub city: String,
    pub country: String,
    pub last_update: Option<DateTime>,
    pub is_deleted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
