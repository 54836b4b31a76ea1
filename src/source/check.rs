//! Checks that a source database holds the Sakila tables the pipeline reads, with the columns
//! their entities name, by reading the database's catalog (no query is tried and its error
//! text matched: drivers word errors differently).

use anyhow::Result;
use sea_orm::{ConnectionTrait, EntityTrait, IdenStatic, Iterable};

use super::prelude::*;
use crate::error::NotSakila;

/// What `table` lacks, if anything: the whole table, or the columns listed.
async fn probe<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    e: E,
    problems: &mut Vec<String>,
) -> Result<()> {
    let table = e.table_name();
    match crate::db::table_columns(db, table).await? {
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
    Ok(())
}

/// Fails with one line naming every Sakila table the source lacks (or has in another shape).
pub async fn sakila_tables<C: ConnectionTrait>(db: &C) -> Result<()> {
    let mut missing = Vec::new();
    probe(db, Actor, &mut missing).await?;
    probe(db, Address, &mut missing).await?;
    probe(db, Category, &mut missing).await?;
    probe(db, City, &mut missing).await?;
    probe(db, Country, &mut missing).await?;
    probe(db, Customer, &mut missing).await?;
    probe(db, Film, &mut missing).await?;
    probe(db, FilmActor, &mut missing).await?;
    probe(db, FilmCategory, &mut missing).await?;
    probe(db, Inventory, &mut missing).await?;
    probe(db, Language, &mut missing).await?;
    probe(db, Payment, &mut missing).await?;
    probe(db, Rental, &mut missing).await?;
    probe(db, Staff, &mut missing).await?;
    probe(db, Store, &mut missing).await?;
    if !missing.is_empty() {
        return Err(NotSakila { tables: missing }.into());
    }
    Ok(())
}
