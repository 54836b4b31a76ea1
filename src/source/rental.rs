//! `rental`: one copy rented by one customer; `return_date` is NULL while it is out.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rental")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub rental_id: i32,
    pub rental_date: DateTime,
    #[sea_orm(indexed)]
    pub inventory_id: u32,
    #[sea_orm(indexed)]
    pub customer_id: u32,
    pub return_date: Option<DateTime>,
    #[sea_orm(indexed)]
    pub staff_id: u32,
    #[sea_orm(column_type = "Timestamp")]
    pub last_update: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::inventory::Entity",
        from = "Column::InventoryId",
        to = "super::inventory::Column::InventoryId",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Inventory,
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "Column::CustomerId",
        to = "super::customer::Column::CustomerId",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Customer,
    #[sea_orm(
        belongs_to = "super::staff::Entity",
        from = "Column::StaffId",
        to = "super::staff::Column::StaffId",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Staff,
}

impl ActiveModelBehavior for ActiveModel {}
