//! `sakila_sync_generated`: one row saying that `generate` made this database, with what.
//!
//! `simulate` deletes rentals and payments, renames cities and moves staff: it writes only into
//! a database that has this table, so that a source URL pointing at a shop's real database is
//! never rewritten by a mistyped command. The Sakila check and the pipeline read only the
//! Sakila tables, so the extra table changes nothing else.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sakila_sync_generated")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub scale: i32,
    /// The seed, as text: a `u64` does not fit every database's integer.
    pub seed: String,
    pub generated_at: DateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
