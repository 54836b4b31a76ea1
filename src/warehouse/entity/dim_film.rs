//! `dim_film`: one member per source film, with its language name folded in.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dim_film")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub film_key: i32,
    #[sea_orm(unique)]
    pub film_id: i32,
    pub title: String,
    pub release_year: Option<i32>,
    pub language: String,
    pub rating: Option<String>,
    pub length: Option<i32>,
    pub rental_duration: i32,
    pub rental_rate_cents: i64,
    pub replacement_cost_cents: i64,
    pub special_features: Option<String>,
    pub last_update: DateTime,
    pub is_deleted: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
