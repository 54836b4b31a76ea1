//! `address`: street addresses of customers, staff and stores.
//!
//! MySQL 8 also has a NOT NULL `location` GEOMETRY column; it is left out on purpose: the
//! warehouse does not use it, and MariaDB does not create it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "address")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub address_id: u32,
    #[sea_orm(column_type = "String(StringLen::N(50))")]
    pub address: String,
    #[sea_orm(column_type = "String(StringLen::N(50))", nullable)]
    pub address2: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(20))")]
    pub district: String,
    #[sea_orm(indexed)]
    pub city_id: u32,
    #[sea_orm(column_type = "String(StringLen::N(10))", nullable)]
    pub postal_code: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(20))")]
    pub phone: String,
    #[sea_orm(column_type = "Timestamp")]
    pub last_update: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::city::Entity",
        from = "Column::CityId",
        to = "super::city::Column::CityId",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    City,
}

impl Related<super::city::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::City.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
