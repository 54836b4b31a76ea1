//! The Sakila OLTP database, as SeaORM entities: one file per base table.
//!
//! Only base tables are modelled; Sakila's views and routines are not needed. Ids that are
//! unsigned in MySQL are `u32` here (the driver reads any unsigned width into it), so the same
//! entities also read the wider ids that `generate` creates at large scales.

pub mod actor;
pub mod address;
pub mod category;
pub mod city;
pub mod country;
pub mod customer;
pub mod film;
pub mod film_actor;
pub mod film_category;
pub mod film_text;
pub mod inventory;
pub mod language;
pub mod payment;
pub mod rental;
pub mod staff;
pub mod store;

pub mod check;
pub mod prelude;
