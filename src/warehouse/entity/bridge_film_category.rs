//! `bridge_film_category`: the categories of each film, by surrogate keys.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bridge_film_category")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub film_key: i32,
    #[sea_orm(primary_key, auto_increment = false, indexed)]
    pub category_key: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::dim_film::Entity",
        from = "Column::FilmKey",
        to = "super::dim_film::Column::FilmKey"
    )]
    Film,
    #[sea_orm(
        belongs_to = "super::dim_category::Entity",
        from = "Column::CategoryKey",
        to = "super::dim_category::Column::CategoryKey"
    )]
    Category,
}

impl ActiveModelBehavior for ActiveModel {}
