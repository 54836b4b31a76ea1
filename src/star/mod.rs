//! What the warehouse *is*, written once: for each dimension its source table, natural key,
//! the columns it reads and the pure transform from a source row to a member
//! ([`Dimension`]); the bridges the same way ([`bridge`]); for each fact its id, the column
//! that versions it, the surrogate keys it resolves and its transform ([`Fact`]).
//! [`transform`] holds the pure transforms of every table, [`Keys`] the surrogate keys facts
//! and bridges resolve through, [`source_tables`] every source table the star is made from.
//!
//! The stages are generic over these descriptions: `full-load` copies each table through
//! one routine per kind, `incremental` syncs each through one routine per kind, `validate`
//! compares each through one routine per kind, so a table's contract cannot drift between
//! them. Adding a column to a dimension touches its entity and its transform in
//! [`transform`], and their tests (`dim_customer.full_name` was added that way).

pub mod bridge;
mod dim;
mod dimension;
mod fact;
pub mod keymap;
mod keys;
pub mod transform;

pub use dim::Dim;
pub use dimension::{Actor, Category, Customer, Dimension, Film, Lookup, Refs, Staff, Store};
pub use fact::{Fact, Payment, Rental};
pub use keys::Keys;

use crate::db::table;
use crate::source::{address, city, country, inventory, language};
use bridge::Bridge;

/// Every source table the star is made from: the dimensions', the bridges' and the facts',
/// and the lookups folded into them (a film's language, a place's address, city and country,
/// the inventory copies rentals resolve through). What `sync_state` tracks.
pub fn source_tables() -> [&'static str; 15] {
    [
        Film::source_table(),
        Actor::source_table(),
        Category::source_table(),
        Customer::source_table(),
        Store::source_table(),
        Staff::source_table(),
        bridge::FilmActor::source_table(),
        bridge::FilmCategory::source_table(),
        Rental::source_table(),
        Payment::source_table(),
        table::<language::Entity>(),
        table::<country::Entity>(),
        table::<city::Entity>(),
        table::<address::Entity>(),
        table::<inventory::Entity>(),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_star_is_made_from_fifteen_sakila_tables() {
        let mut tables = super::source_tables().to_vec();
        tables.sort_unstable();
        assert_eq!(
            tables,
            [
                "actor",
                "address",
                "category",
                "city",
                "country",
                "customer",
                "film",
                "film_actor",
                "film_category",
                "inventory",
                "language",
                "payment",
                "rental",
                "staff",
                "store",
            ]
        );
    }
}
