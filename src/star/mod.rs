//! What the warehouse *is*, written once: for each dimension its source table, natural key,
//! the columns it reads and the pure transform from a source row to a member
//! ([`Dimension`]); the bridges are described the same way in [`bridge`]; [`transform`] holds the pure
//! transforms of every table, [`Keys`] the surrogate keys facts and bridges resolve through.
//!
//! The stages are generic over these descriptions: `full-load` copies each dimension through
//! one routine, `incremental` syncs each through one routine, `validate` compares each through
//! one routine, so a dimension's contract cannot drift between them. Adding a column to a
//! dimension touches its entity and its transform in [`transform`], and their tests.

pub mod bridge;
mod dimension;
pub mod keymap;
mod keys;
pub mod transform;

pub use dimension::{Actor, Category, Customer, Dimension, Film, Lookup, Refs, Staff, Store};
pub use keys::Keys;
