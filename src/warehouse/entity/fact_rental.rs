//! `fact_rental`: one row per source rental. Film and store come from the rented copy
//! (inventory), dates are `YYYYMMDD` keys into `dim_date`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "fact_rental")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub rental_id: i32,
    #[sea_orm(indexed)]
    pub rental_date_key: i32,
    #[sea_orm(indexed)]
    pub return_date_key: Option<i32>,
    pub rental_date: DateTime,
    pub return_date: Option<DateTime>,
    /// Indexed: an inventory copy moving store re-keys its rentals by this column.
    #[sea_orm(indexed)]
    pub inventory_id: i32,
    #[sea_orm(indexed)]
    pub film_key: i32,
    #[sea_orm(indexed)]
    pub store_key: i32,
    #[sea_orm(indexed)]
    pub customer_key: i32,
    #[sea_orm(indexed)]
    pub staff_key: i32,
    /// Whole days from rental to return, truncated; NULL while the copy is out.
    pub rental_duration_days: Option<i32>,
    /// The source row's `last_update` (UTC): lets `incremental` skip re-read rows that did
    /// not change.
    pub source_last_update: Option<DateTime>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::dim_date::Entity",
        from = "Column::RentalDateKey",
        to = "super::dim_date::Column::DateKey"
    )]
    RentalDate,
    #[sea_orm(
        belongs_to = "super::dim_date::Entity",
        from = "Column::ReturnDateKey",
        to = "super::dim_date::Column::DateKey"
    )]
    ReturnDate,
    #[sea_orm(
        belongs_to = "super::dim_film::Entity",
        from = "Column::FilmKey",
        to = "super::dim_film::Column::FilmKey"
    )]
    Film,
    #[sea_orm(
        belongs_to = "super::dim_store::Entity",
        from = "Column::StoreKey",
        to = "super::dim_store::Column::StoreKey"
    )]
    Store,
    #[sea_orm(
        belongs_to = "super::dim_customer::Entity",
        from = "Column::CustomerKey",
        to = "super::dim_customer::Column::CustomerKey"
    )]
    Customer,
    #[sea_orm(
        belongs_to = "super::dim_staff::Entity",
        from = "Column::StaffKey",
        to = "super::dim_staff::Column::StaffKey"
    )]
    Staff,
}

impl ActiveModelBehavior for ActiveModel {}
