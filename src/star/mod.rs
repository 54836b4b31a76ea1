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
use bridge::{Bridge, FilmActor, FilmCategory};

/// Every source table the star is made from, with the star tables it feeds: a dimension's,
/// bridge's or fact's source feeds its own table; a lookup feeds the tables that fold it in
/// (a film's language, a place's address, city and country, the inventory copies rentals
/// resolve through). `sync_state` tracks these tables; `status` reports them.
pub fn feeds() -> [(&'static str, Vec<&'static str>); 15] {
    let places = || vec![Customer::star_table(), Store::star_table()];
    [
        (Film::source_table(), vec![Film::star_table()]),
        (Actor::source_table(), vec![Actor::star_table()]),
        (Category::source_table(), vec![Category::star_table()]),
        (Customer::source_table(), vec![Customer::star_table()]),
        (Store::source_table(), vec![Store::star_table()]),
        (Staff::source_table(), vec![Staff::star_table()]),
        (FilmActor::source_table(), vec![FilmActor::star_table()]),
        (
            FilmCategory::source_table(),
            vec![FilmCategory::star_table()],
        ),
        (Rental::source_table(), vec![Rental::star_table()]),
        (Payment::source_table(), vec![Payment::star_table()]),
        (table::<language::Entity>(), vec![Film::star_table()]),
        (table::<country::Entity>(), places()),
        (table::<city::Entity>(), places()),
        (table::<address::Entity>(), places()),
        (table::<inventory::Entity>(), vec![Rental::star_table()]),
    ]
}

/// Every source table the star is made from ([`feeds`]).
pub fn source_tables() -> [&'static str; 15] {
    feeds().map(|(source, _)| source)
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
