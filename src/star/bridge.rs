//! The star's two bridges, film↔actor and film↔category, described once.
//!
//! Both are a source table of `(film_id, other_id)` pairs and a warehouse table of
//! `(film_key, other_key)` pairs. The full-load copies them, the incremental compares the whole
//! key sets (bridges are small) and `validate` merge-joins them by natural ids. All three read
//! the pairs through this one description, so that the two bridges cannot drift apart.

use anyhow::Result;
use chrono::{DateTime, Utc};
use sea_orm::{EntityName, EntityTrait, IdenStatic, RelationDef, RelationTrait};

use super::Keys;
use crate::source::{film_actor, film_category};
use crate::warehouse::entity::{
    bridge_film_actor, bridge_film_category, dim_actor, dim_category, dim_film,
};

/// One bridge: its source table, its warehouse table, and how a source pair becomes a
/// warehouse pair.
pub trait Bridge {
    /// The source table, e.g. `film_actor`.
    type Source: EntityTrait;
    /// The warehouse table, e.g. `bridge_film_actor`.
    type Star: EntityTrait;
    /// The dimension of the second key, e.g. `dim_actor`.
    type Other: EntityTrait;

    /// The source table's name, as `sync_state` and the quiet-table check know it.
    fn source_table() -> &'static str {
        Self::Source::default().table_name()
    }
    /// The warehouse table's name.
    fn star_table() -> &'static str {
        Self::Star::default().table_name()
    }
    /// The warehouse key columns' names, for reports.
    fn key_names() -> (&'static str, &'static str) {
        let [first, second] = Self::star_keys();
        (first.as_str(), second.as_str())
    }

    /// The natural ids of a pair in the source: film, then the other member.
    fn source_ids() -> [<Self::Source as EntityTrait>::Column; 2];
    /// The surrogate keys of a pair in the warehouse, in the same order.
    fn star_keys() -> [<Self::Star as EntityTrait>::Column; 2];
    /// The joins from the warehouse pair to its two dimensions.
    fn star_joins() -> [RelationDef; 2];
    /// The other dimension's natural id (the film's is `dim_film::FilmId`).
    fn other_id() -> <Self::Other as EntityTrait>::Column;
    /// When the source row last changed.
    fn last_update(row: &<Self::Source as EntityTrait>::Model) -> DateTime<Utc>;
    /// The surrogate keys of a source row, or an error naming the member that is missing.
    fn keys(keys: &Keys, row: &<Self::Source as EntityTrait>::Model) -> Result<(i32, i32)>;
    /// The warehouse row of a pair of keys.
    fn row(pair: (i32, i32)) -> <Self::Star as EntityTrait>::Model;
}

/// The cast of each film.
pub struct FilmActor;

impl Bridge for FilmActor {
    type Source = film_actor::Entity;
    type Star = bridge_film_actor::Entity;
    type Other = dim_actor::Entity;

    fn source_ids() -> [film_actor::Column; 2] {
        [film_actor::Column::FilmId, film_actor::Column::ActorId]
    }
    fn star_keys() -> [bridge_film_actor::Column; 2] {
        [
            bridge_film_actor::Column::FilmKey,
            bridge_film_actor::Column::ActorKey,
        ]
    }
    fn star_joins() -> [RelationDef; 2] {
        [
            bridge_film_actor::Relation::Film.def(),
            bridge_film_actor::Relation::Actor.def(),
        ]
    }
    fn other_id() -> dim_actor::Column {
        dim_actor::Column::ActorId
    }
    fn last_update(row: &film_actor::Model) -> DateTime<Utc> {
        row.last_update
    }
    fn keys(keys: &Keys, row: &film_actor::Model) -> Result<(i32, i32)> {
        keys.film_actor(row)
    }
    fn row((film_key, actor_key): (i32, i32)) -> bridge_film_actor::Model {
        bridge_film_actor::Model {
            film_key,
            actor_key,
        }
    }
}

/// The categories of each film.
pub struct FilmCategory;

impl Bridge for FilmCategory {
    type Source = film_category::Entity;
    type Star = bridge_film_category::Entity;
    type Other = dim_category::Entity;

    fn source_ids() -> [film_category::Column; 2] {
        [
            film_category::Column::FilmId,
            film_category::Column::CategoryId,
        ]
    }
    fn star_keys() -> [bridge_film_category::Column; 2] {
        [
            bridge_film_category::Column::FilmKey,
            bridge_film_category::Column::CategoryKey,
        ]
    }
    fn star_joins() -> [RelationDef; 2] {
        [
            bridge_film_category::Relation::Film.def(),
            bridge_film_category::Relation::Category.def(),
        ]
    }
    fn other_id() -> dim_category::Column {
        dim_category::Column::CategoryId
    }
    fn last_update(row: &film_category::Model) -> DateTime<Utc> {
        row.last_update
    }
    fn keys(keys: &Keys, row: &film_category::Model) -> Result<(i32, i32)> {
        keys.film_category(row)
    }
    fn row((film_key, category_key): (i32, i32)) -> bridge_film_category::Model {
        bridge_film_category::Model {
            film_key,
            category_key,
        }
    }
}

/// The film's natural id, the first of every bridge's pair.
pub fn film_id() -> dim_film::Column {
    dim_film::Column::FilmId
}
