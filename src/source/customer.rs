//! `customer`: registered at one store, living at one address.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub customer_id: u32,
    #[sea_orm(indexed)]
    pub store_id: u32,
    #[sea_orm(column_type = "String(StringLen::N(45))")]
    pub first_name: String,
    #[sea_orm(column_type = "String(StringLen::N(45))", indexed)]
    pub last_name: String,
    #[sea_orm(column_type = "String(StringLen::N(50))", nullable)]
    pub email: Option<String>,
    #[sea_orm(indexed)]
    pub address_id: u32,
    pub active: bool,
    pub create_date: DateTime,
    #[sea_orm(column_type = "Timestamp", nullable)]
    pub last_update: Option<DateTimeUtc>,
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

impl Related<super::address::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Address.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
