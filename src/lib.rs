//! sakila-sync: keeps a SQLite star-schema warehouse in step with the MySQL Sakila database,
//! with every read and write going through SeaORM.
//!
//! Layout: [`source`] (OLTP entities) and [`warehouse`] (star entities, schema, dates) are the
//! two data models; [`star`] says once what the warehouse is made of and how (each
//! dimension's, bridge's and fact's source, keys and transform); [`sync`] is the pipeline
//! that moves rows by that description (`full-load`, `incremental`); [`validate`] compares
//! the source with the warehouse by it; [`report`] writes an HTML page of what the warehouse
//! holds; [`db`] opens connections with the right driver
//! settings; [`config`] resolves URLs; [`error`] tells failures apart.

pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod failpoint;
pub mod generate;
pub mod lock;
pub mod report;
pub mod source;
pub mod star;
pub mod status;
pub mod sync;
pub mod validate;
pub mod warehouse;
pub mod watch;
