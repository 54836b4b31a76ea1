//! What the warehouse *is*, written once: for each dimension its source table, natural key,
//! the columns it reads and the pure transform from a source row to a member
//! ([`Dimension`]); the bridges are described the same way in `sync::bridge`.
//!
//! The stages are generic over these descriptions: `full-load` copies each dimension through
//! one routine, `incremental` syncs each through one routine, `validate` compares each through
//! one routine, so a dimension's contract cannot drift between them. Adding a column to a
//! dimension touches its entity and its transform in `sync::transform`, and their tests.

mod dimension;

pub use dimension::{Actor, Category, Customer, Dimension, Film, Lookup, Refs, Staff, Store};
