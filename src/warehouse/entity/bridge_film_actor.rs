//! `bridge_film_actor`: the many-to-many cast of each film, by surrogate keys.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bridge_film_actor")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub film_key: i32,
    #[sea_orm(primary_key, auto_increment = false, indexed)]
    pub actor_key: i32,
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
        belongs_to = "super::dim_actor::Entity",
        from = "Column::ActorKey",
        to = "super::dim_actor::Column::ActorKey"
    )]
    Actor,
}

impl ActiveModelBehavior for ActiveModel {}
