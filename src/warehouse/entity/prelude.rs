//! Short names for the warehouse entities: `use crate::warehouse::entity::prelude::*;`.
pub use super::bridge_film_actor::Entity as BridgeFilmActor;
pub use super::bridge_film_category::Entity as BridgeFilmCategory;
pub use super::dim_actor::Entity as DimActor;
pub use super::dim_category::Entity as DimCategory;
pub use super::dim_customer::Entity as DimCustomer;
pub use super::dim_date::Entity as DimDate;
pub use super::dim_film::Entity as DimFilm;
pub use super::dim_staff::Entity as DimStaff;
pub use super::dim_store::Entity as DimStore;
pub use super::fact_payment::Entity as FactPayment;
pub use super::fact_rental::Entity as FactRental;
pub use super::source_version::Entity as SourceVersion;
pub use super::sync_run::Entity as SyncRun;
pub use super::sync_state::Entity as SyncState;
pub use super::warehouse_meta::Entity as WarehouseMeta;
