//! sakila-sync: keeps a SQLite star-schema warehouse in step with the MySQL Sakila database,
//! with every read and write going through SeaORM.
//!
//! Layout: [`source`] (OLTP entities) and [`warehouse`] (star entities, schema, dates) are the
//! two data models; [`sync`] is the pipeline between them; [`db`] opens connections with the
//! right driver settings; [`config`] resolves URLs; [`validate`] compares the source with the
//! warehouse.

pub mod config;
pub mod db;
pub mod demo;
pub mod failpoint;
pub mod generate;
pub mod source;
pub mod star;
pub mod sync;
pub mod validate;
pub mod warehouse;
