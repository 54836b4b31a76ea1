//! `film_category`: the category of each film (becomes `bridge_film_category`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "film_category")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub film_id: u32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub category_id: u32,
    #[sea_orm(column_type = "Timestamp")]
    pub last_update: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::film::Entity",
        from = "Column::FilmId",
        to = "super::film::Column::FilmId",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Film,
    #[sea_orm(
        belongs_to = "super::category::Entity",
        from = "Column::CategoryId",
        to = "super::category::Column::CategoryId",
        on_update = "Cascade",
        on_delete = "Restrict"
    )]
    Category,
}

impl ActiveModelBehavior for ActiveModel {}
