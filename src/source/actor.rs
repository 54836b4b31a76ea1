//! `actor`: the people who appear in films.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "actor")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub actor_id: u32,
    #[sea_orm(column_type = "String(StringLen::N(45))")]
    pub first_name: String,
    #[sea_orm(column_type = "String(StringLen::N(45))", indexed)]
    pub last_name: String,
    #[sea_orm(column_type = "Timestamp")]
    pub last_update: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
