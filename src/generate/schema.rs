//! The Sakila source schema, built from the `crate::source` entities (no SQL written by hand):
//! tables with their primary keys, foreign keys (with Sakila's `ON DELETE`/`ON UPDATE`
//! actions), secondary indexes and rental's `UNIQUE (rental_date, inventory_id, customer_id)`.
//!
//! `store.manager_staff_id -> staff` and `staff.store_id -> store` form a cycle that no insert
//! order satisfies:
//! - MySQL/MariaDB: `store` is created without that key; [`finish`] adds it (`ALTER TABLE ..
//!   ADD FOREIGN KEY`) once the staff exist. Indexes are declared inside `CREATE TABLE`, so
//!   MySQL does not add a second, implicit index for each foreign key.
//! - SQLite cannot add a key to an existing table, so every key is declared at `CREATE TABLE`
//!   (SQLite allows a key to name a table created later) and the connection that fills the
//!   tables has `foreign_keys` off ([`crate::db::Role::Generator`]). Secondary indexes are
//!   built after the data by [`finish`], which is faster than maintaining them row by row.
//!
//! Column types are the entities' (`INT UNSIGNED` ids: room for any scale) unless
//! [`Types::Sakila`] asks for the real Sakila's narrow ones ([`sakila_columns`]).

use anyhow::{Context, Result};
use sea_orm::sea_query::{
    Alias, ColumnDef, Expr, ForeignKeyCreateStatement, Index, IndexCreateStatement, Table,
    TableCreateStatement,
};
use sea_orm::{ConnectionTrait, DbBackend, EntityName, EntityTrait, RelationTrait, Schema};

use super::data::Sizes;
use super::words;
use crate::source::{prelude::*, rental, store};

/// The column types of the generated tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Types {
    /// `INT UNSIGNED` ids and text columns: room for any scale.
    #[default]
    Wide,
    /// The real Sakila's (MySQL/MariaDB only): `TINYINT`/`SMALLINT`/`MEDIUMINT UNSIGNED` ids,
    /// `YEAR`, `ENUM`, `SET`, and `last_update ... ON UPDATE CURRENT_TIMESTAMP`. An id column
    /// that the scale would overflow is widened to the next width that holds it, and
    /// `generate` says which.
    Sakila,
}

/// An unsigned integer width of MySQL's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Width {
    Tiny,
    Small,
    Medium,
    Int,
}

impl Width {
    /// The largest value the unsigned type holds.
    pub fn max(self) -> u64 {
        match self {
            Width::Tiny => 255,
            Width::Small => 65_535,
            Width::Medium => 16_777_215,
            Width::Int => 4_294_967_295,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Width::Tiny => "TINYINT UNSIGNED",
            Width::Small => "SMALLINT UNSIGNED",
            Width::Medium => "MEDIUMINT UNSIGNED",
            Width::Int => "INT UNSIGNED",
        }
    }

    fn next(self) -> Width {
        match self {
            Width::Tiny => Width::Small,
            Width::Small => Width::Medium,
            _ => Width::Int,
        }
    }
}

/// One id family of Sakila's narrow types: the columns that hold it (a key and the columns
/// that refer to it must have the same type), Sakila's width, and the width chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdColumn {
    pub columns: &'static [&'static str],
    pub sakila: Width,
    pub chosen: Width,
    /// The largest id `generate` writes at this scale.
    pub largest: u64,
}

/// Sakila's id columns at `sizes`, each widened when the ids generated, twice over (room for
/// `simulate` to add rows), would not fit Sakila's width. `rental_id` is Sakila's `INT`, kept.
pub fn sakila_columns(sizes: &Sizes) -> Vec<IdColumn> {
    use super::data::{ACTORS, CATEGORIES, CITIES, COUNTRIES, FILMS, LANGUAGES};
    let payments = u64::from(sizes.rentals_target) + u64::from(sizes.loose_payments);
    let families: [(&'static [&'static str], Width, u64); 11] = [
        (&["actor_id"], Width::Small, ACTORS.into()),
        (&["address_id"], Width::Small, sizes.addresses.into()),
        (&["category_id"], Width::Tiny, CATEGORIES.into()),
        (&["city_id"], Width::Small, CITIES.into()),
        (&["country_id"], Width::Small, COUNTRIES.into()),
        (&["customer_id"], Width::Small, sizes.customers.into()),
        (&["film_id"], Width::Small, FILMS.into()),
        (&["inventory_id"], Width::Medium, sizes.inventory.into()),
        (
            &["language_id", "original_language_id"],
            Width::Tiny,
            LANGUAGES.into(),
        ),
        (&["payment_id"], Width::Small, payments),
        (
            &["staff_id", "manager_staff_id"],
            Width::Tiny,
            sizes.staff.into(),
        ),
    ];
    let mut out: Vec<IdColumn> = families
        .into_iter()
        .map(|(columns, sakila, largest)| {
            let mut chosen = sakila;
            while chosen.max() < largest.saturating_mul(2) && chosen != Width::Int {
                chosen = chosen.next();
            }
            IdColumn {
                columns,
                sakila,
                chosen,
                largest,
            }
        })
        .collect();
    let stores = u64::from(sizes.stores);
    let mut chosen = Width::Tiny;
    while chosen.max() < stores * 2 && chosen != Width::Int {
        chosen = chosen.next();
    }
    out.push(IdColumn {
        columns: &["store_id"],
        sakila: Width::Tiny,
        chosen,
        largest: stores,
    });
    out
}

/// The column types `generate` gives the tables.
#[derive(Clone, Debug, Default)]
pub struct Shape {
    /// `None`: the entities' own types ([`Types::Wide`]).
    ids: Option<Vec<IdColumn>>,
}

impl Shape {
    pub fn new(types: Types, sizes: &Sizes) -> Shape {
        Shape {
            ids: (types == Types::Sakila).then(|| sakila_columns(sizes)),
        }
    }

    /// The id columns widened beyond Sakila's type, if any.
    pub fn widened(&self) -> Vec<&IdColumn> {
        self.ids
            .iter()
            .flatten()
            .filter(|c| c.chosen != c.sakila)
            .collect()
    }

    /// Gives `col` of `table` its Sakila type, if it has one.
    fn apply(&self, table: &str, col: &mut ColumnDef) {
        let Some(ids) = &self.ids else { return };
        let name = col.get_column_name();
        // film_text is a copy kept for full-text search, with Sakila's signed SMALLINT id that
        // nothing refers to; the entity reads it as i32, so it keeps its type.
        if table == FilmText.table_name() {
            return;
        }
        if let Some(id) = ids.iter().find(|c| c.columns.contains(&name.as_str())) {
            match id.chosen {
                Width::Tiny => col.tiny_unsigned(),
                Width::Small => col.small_unsigned(),
                Width::Medium => col.custom(Alias::new(Width::Medium.name())),
                Width::Int => col.unsigned(),
            };
            return;
        }
        match name.as_str() {
            "length" => {
                col.small_unsigned();
            }
            "rental_duration" => {
                col.tiny_unsigned();
            }
            "release_year" => {
                col.year();
            }
            "rating" => {
                col.enumeration(Alias::new("rating"), words::RATINGS.map(Alias::new));
            }
            "special_features" => {
                let values: Vec<String> = words::SPECIAL_FEATURES
                    .iter()
                    .map(|v| format!("'{v}'"))
                    .collect();
                col.custom(Alias::new(format!("SET({})", values.join(","))));
            }
            "last_update" => {
                col.extra("ON UPDATE CURRENT_TIMESTAMP");
            }
            _ => {}
        }
    }
}

/// The foreign key that closes the store <-> staff cycle.
fn manager_key() -> ForeignKeyCreateStatement {
    store::Relation::Manager.def().into()
}

fn rental_unique() -> IndexCreateStatement {
    Index::create()
        .name("rental_date")
        .table(Rental)
        .col(rental::Column::RentalDate)
        .col(rental::Column::InventoryId)
        .col(rental::Column::CustomerId)
        .unique()
        .to_owned()
}

/// Secondary indexes of `entity` (from its `indexed` columns), plus rental's unique key.
fn indexes<E: EntityTrait>(backend: DbBackend, entity: E) -> Vec<IndexCreateStatement> {
    let mut idx = Schema::new(backend).create_index_from_entity(entity);
    if entity.table_name() == Rental.table_name() {
        idx.push(rental_unique());
    }
    idx
}

/// `CREATE TABLE` for `entity`; on MySQL with its indexes inline, without the store's
/// manager key, and with the column types of `shape`.
fn table<E: EntityTrait>(backend: DbBackend, entity: E, shape: &Shape) -> TableCreateStatement {
    let full = Schema::new(backend).create_table_from_entity(entity);
    if backend != DbBackend::MySql {
        return full;
    }
    let skip = manager_key();
    let skip = skip.get_foreign_key().get_name();
    let mut stmt = Table::create();
    stmt.table(entity);
    for col in full.get_columns() {
        let mut col = col.clone();
        // As in Sakila: a row inserted without `last_update` gets the current time. (Sakila's
        // `ON UPDATE CURRENT_TIMESTAMP` has no query-builder form, so a writer to a generated
        // source sets `last_update` on update itself, as `simulate` does.)
        if col.get_column_name() == "last_update" {
            col.default(Expr::current_timestamp());
        }
        shape.apply(entity.table_name(), &mut col);
        stmt.col(col);
    }
    for pk in full.get_indexes() {
        stmt.index(&mut pk.clone());
    }
    for fk in full.get_foreign_key_create_stmts() {
        if entity.table_name() != Store.table_name() || fk.get_foreign_key().get_name() != skip {
            stmt.foreign_key(&mut fk.clone());
        }
    }
    for mut idx in indexes(backend, entity) {
        stmt.index(&mut idx);
    }
    stmt
}

async fn create<C: ConnectionTrait, E: EntityTrait>(
    db: &C,
    entity: E,
    shape: &Shape,
) -> Result<()> {
    db.execute(&table(db.get_database_backend(), entity, shape))
        .await
        .with_context(|| format!("cannot create source table {}", entity.table_name()))?;
    Ok(())
}

async fn index<C: ConnectionTrait, E: EntityTrait>(db: &C, entity: E, _: &Shape) -> Result<()> {
    for idx in indexes(db.get_database_backend(), entity) {
        db.execute(&idx)
            .await
            .with_context(|| format!("cannot index source table {}", entity.table_name()))?;
    }
    Ok(())
}

/// Calls `$f(db, Entity)` for every Sakila table, parents first.
macro_rules! for_sakila_tables {
    ($f:ident, $db:expr, $shape:expr) => {{
        $f($db, Country, $shape).await?;
        $f($db, City, $shape).await?;
        $f($db, Address, $shape).await?;
        $f($db, Language, $shape).await?;
        $f($db, Category, $shape).await?;
        $f($db, Actor, $shape).await?;
        $f($db, Film, $shape).await?;
        $f($db, FilmText, $shape).await?;
        $f($db, FilmActor, $shape).await?;
        $f($db, FilmCategory, $shape).await?;
        $f($db, Store, $shape).await?;
        $f($db, Staff, $shape).await?;
        $f($db, Customer, $shape).await?;
        $f($db, Inventory, $shape).await?;
        $f($db, Rental, $shape).await?;
        $f($db, Payment, $shape).await?;
    }};
}

/// Creates every Sakila table (before the data), with the column types of `shape`.
pub async fn create_tables<C: ConnectionTrait>(db: &C, shape: &Shape) -> Result<()> {
    for_sakila_tables!(create, db, shape);
    Ok(())
}

/// Completes the schema once the data is in: the store's manager key on MySQL, the secondary
/// indexes on SQLite.
pub async fn finish<C: ConnectionTrait>(db: &C) -> Result<()> {
    match db.get_database_backend() {
        DbBackend::MySql => {
            db.execute(&manager_key())
                .await
                .context("cannot add the foreign key store.manager_staff_id -> staff")?;
        }
        _ => for_sakila_tables!(index, db, &Shape::default()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_store_leaves_the_cycle_for_later_and_keeps_the_rest() {
        let sql = DbBackend::MySql
            .build(&table(DbBackend::MySql, Store, &Shape::default()))
            .to_string();
        assert!(!sql.contains("`fk-store-manager_staff_id`"), "{sql}");
        assert!(sql.contains("`fk-store-address_id`"), "{sql}");
        let sql = DbBackend::MySql.build(&manager_key()).to_string();
        assert!(
            sql.starts_with("ALTER TABLE `store` ADD CONSTRAINT"),
            "{sql}"
        );
        let sql = DbBackend::Sqlite
            .build(&table(DbBackend::Sqlite, Store, &Shape::default()))
            .to_string();
        assert!(sql.contains("REFERENCES \"staff\""), "{sql}");
    }

    #[test]
    fn sakila_ids_are_widened_only_where_the_scale_needs_it() {
        let chosen = |scale| {
            sakila_columns(&Sizes::at(scale))
                .into_iter()
                .map(|c| (c.columns[0], c.chosen))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let one = chosen(1);
        assert!(
            sakila_columns(&Sizes::at(1))
                .iter()
                .all(|c| c.chosen == c.sakila)
        );
        assert_eq!(one["payment_id"], Width::Small);
        assert_eq!(one["inventory_id"], Width::Medium);
        let hundred = chosen(100);
        assert_eq!(hundred["payment_id"], Width::Medium); // 1.6M payments
        assert_eq!(hundred["customer_id"], Width::Medium); // 59,900, twice over > 65,535
        assert_eq!(hundred["staff_id"], Width::Small); // 200, twice over > 255
        assert_eq!(hundred["film_id"], Width::Small); // the catalogue does not scale
        assert_eq!(chosen(10_000)["payment_id"], Width::Int);
    }

    #[test]
    fn sakila_types_render_as_mysql_declares_them() {
        let shape = Shape::new(Types::Sakila, &Sizes::at(1));
        let sql = DbBackend::MySql
            .build(&table(DbBackend::MySql, Film, &shape))
            .to_string();
        for part in [
            "`film_id` smallint UNSIGNED",
            "`language_id` tinyint UNSIGNED",
            "`release_year` year",
            "`rating` ENUM('G', 'PG', 'PG-13', 'R', 'NC-17')",
            "`special_features` SET('Trailers','Commentaries','Deleted Scenes','Behind the Scenes')",
            "ON UPDATE CURRENT_TIMESTAMP",
        ] {
            assert!(sql.contains(part), "{part} in {sql}");
        }
        let wide = DbBackend::MySql
            .build(&table(DbBackend::MySql, Film, &Shape::default()))
            .to_string();
        assert!(wide.contains("`film_id` int UNSIGNED"), "{wide}");
        assert!(!wide.contains("ON UPDATE CURRENT_TIMESTAMP"), "{wide}");
    }

    #[test]
    fn rental_has_its_unique_key_and_payment_nulls_deleted_rentals() {
        let sql = DbBackend::MySql
            .build(&table(DbBackend::MySql, Rental, &Shape::default()))
            .to_string();
        assert!(sql.contains("UNIQUE KEY `rental_date`"), "{sql}");
        for backend in [DbBackend::MySql, DbBackend::Sqlite] {
            let sql = backend
                .build(&table(backend, Payment, &Shape::default()))
                .to_string();
            assert!(sql.contains("ON DELETE SET NULL"), "{sql}");
        }
    }
}
