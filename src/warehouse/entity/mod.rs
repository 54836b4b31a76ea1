//! The star-schema warehouse, as SeaORM entities: one file per table.

pub mod bridge_film_actor;
pub mod bridge_film_category;
pub mod dim_actor;
pub mod dim_category;
pub mod dim_customer;
pub mod dim_date;
pub mod dim_film;
pub mod dim_staff;
pub mod dim_store;
pub mod fact_payment;
pub mod fact_rental;
pub mod source_version;
pub mod sync_run;
pub mod sync_state;
pub mod warehouse_meta;

pub mod prelude;
