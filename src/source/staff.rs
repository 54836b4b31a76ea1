//! `staff`: employees; each works at one store. `picture` and `password` are never read by the
//! pipeline (see `source::read`), only declared so `generate` builds the full table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub staff_id: u32,
    #[sea_orm(column_type = "String(StringLen::N(45))")]
    pub first_name: String,
    #[sea_orm(column_type = "String(StringLen::N(45))")]
    pub last_name: String,
    #[sea_orm(indexed)]
    pub address_id: u32,
    #[sea_orm(column_type = "Blob", nullable)]
    pub picture: Option<Vec<u8>>,
    #[sea_orm(column_type = "String(StringLen::N(50))", nullable)]
    pub email: Option<String>,
    #[sea_orm(indexed)]
    pub store_id: u32,
    pub active: bool,
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub username: String,
    #[sea_orm(column_type = "String(StringLen::N(40))", nullable)]
    pub password: Option<String>,
    #[sea_orm(column_type = "Timestamp")]
    pub last_update: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::address::Entity",
        from = "Column::AddressId",
        to = "super::address::Column::AddressId",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Address,
    #[sea_orm(
        belongs_to = "super::store::Entity",
        from = "Column::StoreId",
        to = "super::store::Column::StoreId",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Store,
}

impl ActiveModelBehavior for ActiveModel {}
