//! Checks that a source database holds the Sakila tables the pipeline reads.

use anyhow::{Result, bail};
use sea_orm::{ConnectionTrait, EntityTrait, QuerySelect};

use super::prelude::*;

async fn probe<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    e: E,
    missing: &mut Vec<String>,
) -> Result<()> {
    // One cheap query per table through its entity: a missing table or column fails here.
    if let Err(err) = E::find().limit(1).all(db).await {
        let msg = err.to_string();
        if msg.contains("doesn't exist")
            || msg.contains("no such table")
            || msg.contains("Unknown column")
            || msg.contains("no such column")
        {
            missing.push(e.table_name().to_string());
        } else {
            bail!("cannot read source table {}: {msg}", e.table_name());
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
        bail!(
            "the source database is not Sakila: missing or unreadable tables: {}",
            missing.join(", ")
        );
    }
    Ok(())
}
