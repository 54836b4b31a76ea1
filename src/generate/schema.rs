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

use anyhow::{Context, Result};
use sea_orm::sea_query::{
    Expr, ForeignKeyCreateStatement, Index, IndexCreateStatement, Table, TableCreateStatement,
};
use sea_orm::{ConnectionTrait, DbBackend, EntityName, EntityTrait, RelationTrait, Schema};

use crate::source::{prelude::*, rental, store};

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

/// `CREATE TABLE` for `entity`; on MySQL with its indexes inline and without the store's
/// manager key.
fn table<E: EntityTrait>(backend: DbBackend, entity: E) -> TableCreateStatement {
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

async fn create<C: ConnectionTrait, E: EntityTrait>(db: &C, entity: E) -> Result<()> {
    db.execute(&table(db.get_database_backend(), entity))
        .await
        .with_context(|| format!("cannot create source table {}", entity.table_name()))?;
    Ok(())
}

async fn index<C: ConnectionTrait, E: EntityTrait>(db: &C, entity: E) -> Result<()> {
    for idx in indexes(db.get_database_backend(), entity) {
        db.execute(&idx)
            .await
            .with_context(|| format!("cannot index source table {}", entity.table_name()))?;
    }
    Ok(())
}

/// Calls `$f(db, Entity)` for every Sakila table, parents first.
macro_rules! for_sakila_tables {
    ($f:ident, $db:expr) => {{
        $f($db, Country).await?;
        $f($db, City).await?;
        $f($db, Address).await?;
        $f($db, Language).await?;
        $f($db, Category).await?;
        $f($db, Actor).await?;
        $f($db, Film).await?;
        $f($db, FilmText).await?;
        $f($db, FilmActor).await?;
        $f($db, FilmCategory).await?;
        $f($db, Store).await?;
        $f($db, Staff).await?;
        $f($db, Customer).await?;
        $f($db, Inventory).await?;
        $f($db, Rental).await?;
        $f($db, Payment).await?;
    }};
}

/// Creates every Sakila table (before the data).
pub async fn create_tables<C: ConnectionTrait>(db: &C) -> Result<()> {
    for_sakila_tables!(create, db);
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
        _ => for_sakila_tables!(index, db),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_store_leaves_the_cycle_for_later_and_keeps_the_rest() {
        let sql = DbBackend::MySql
            .build(&table(DbBackend::MySql, Store))
            .to_string();
        assert!(!sql.contains("`fk-store-manager_staff_id`"), "{sql}");
        assert!(sql.contains("`fk-store-address_id`"), "{sql}");
        let sql = DbBackend::MySql.build(&manager_key()).to_string();
        assert!(
            sql.starts_with("ALTER TABLE `store` ADD CONSTRAINT"),
            "{sql}"
        );
        let sql = DbBackend::Sqlite
            .build(&table(DbBackend::Sqlite, Store))
            .to_string();
        assert!(sql.contains("REFERENCES \"staff\""), "{sql}");
    }

    #[test]
    fn rental_has_its_unique_key_and_payment_nulls_deleted_rentals() {
        let sql = DbBackend::MySql
            .build(&table(DbBackend::MySql, Rental))
            .to_string();
        assert!(sql.contains("UNIQUE KEY `rental_date`"), "{sql}");
        for backend in [DbBackend::MySql, DbBackend::Sqlite] {
            let sql = backend.build(&table(backend, Payment)).to_string();
            assert!(sql.contains("ON DELETE SET NULL"), "{sql}");
        }
    }
}
