//! `fact_payment`: one row per source payment, money in integer cents. The store is the store
//! of the staff member who took the payment.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "fact_payment")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub payment_id: i32,
    #[sea_orm(indexed)]
    pub payment_date_key: i32,
    pub payment_date: DateTime,
    #[sea_orm(indexed)]
    pub customer_key: i32,
    #[sea_orm(indexed)]
    pub store_key: i32,
    #[sea_orm(indexed)]
    pub staff_key: i32,
    #[sea_orm(indexed)]
    pub rental_id: Option<i32>,
    pub amount_cents: i64,
    /// The source row's `last_update` (UTC): lets `incremental` skip re-read rows that did
    /// not change.
    pub source_last_update: Option<DateTime>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::dim_date::Entity",
        from = "Column::PaymentDateKey",
        to = "super::dim_date::Column::DateKey"
    )]
    PaymentDate,
    #[sea_orm(
        belongs_to = "super::dim_customer::Entity",
        from = "Column::CustomerKey",
        to = "super::dim_customer::Column::CustomerKey"
    )]
    Customer,
    #[sea_orm(
        belongs_to = "super::dim_store::Entity",
        from = "Column::StoreKey",
        to = "super::dim_store::Column::StoreKey"
    )]
    Store,
    #[sea_orm(
        belongs_to = "super::dim_staff::Entity",
        from = "Column::StaffKey",
        to = "super::dim_staff::Column::StaffKey"
    )]
    Staff,
}

impl ActiveModelBehavior for ActiveModel {}
