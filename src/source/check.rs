//! Checks that a source database holds the Sakila tables the pipeline reads, with the columns
//! their entities name, by reading the database's catalog (no query is tried and its error
//! text matched: drivers word errors differently).

use anyhow::Result;
use sea_orm::{ConnectionTrait, EntityName, EntityTrait, IdenStatic, Iterable};

use super::prelude::*;
use crate::db::Catalog;
use crate::error::NotSakila;

/// What `table` lacks, if anything: the whole table, or the columns listed.
fn probe<E: EntityTrait>(catalog: &Catalog, e: E, problems: &mut Vec<String>) {
    let table = e.table_name();
    match catalog.columns(table) {
        None => problems.push(table.to_string()),
        Some(have) => {
            let lacking: Vec<&str> = E::Column::iter()
                .map(|c| c.as_str())
                .filter(|c| !have.iter().any(|h| h.eq_ignore_ascii_case(c)))
                .collect();
            if !lacking.is_empty() {
                problems.push(format!("{table} (no column {})", lacking.join(", ")));
            }
        }
    }
}

/// Evaluates `$body` with `$e` bound to each Sakila entity the pipeline reads.
macro_rules! each_table {
    ($e:ident => $body:expr) => {
        each_table!(@ $e => $body; Actor, Address, Category, City, Country, Customer, Film,
            FilmActor, FilmCategory, Inventory, Language, Payment, Rental, Staff, Store)
    };
    (@ $e:ident => $body:expr; $($t:ident),*) => {{
        $( { let $e = $t; $body; } )*
    }};
}

/// Fails with one line naming every Sakila table the source lacks (or has in another shape).
pub async fn sakila_tables<C: ConnectionTrait>(db: &C) -> Result<()> {
    let mut tables = Vec::new();
    each_table!(e => tables.push(e.table_name()));
    let catalog = Catalog::read(db, &tables).await?;
    let mut missing = Vec::new();
    each_table!(e => probe(&catalog, e, &mut missing));
    if !missing.is_empty() {
        return Err(NotSakila { tables: missing }.into());
    }
    Ok(())
}
