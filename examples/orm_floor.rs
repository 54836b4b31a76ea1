//! What SeaORM costs just to read the fact rows, with nothing done to them: the floor under
//! sakila-sync's own reads, to set beside the `mariadb` and `sqlite3` clients.
//!
//! ```text
//! cargo run --release --example orm_floor -- SOURCE_URL WAREHOUSE_URL
//! ```
//!
//! For each fact table it reads, the source inside one snapshot like a run does, and times:
//! - the source's `(id, last_update)`, what an incremental's change detection reads;
//! - the source's whole rows, what `validate` and `full-load` read;
//! - the warehouse's `(id, version)` and whole rows through sqlx, the other side of the same
//!   comparisons, and its `(id, version)` through the rusqlite reader the incremental uses
//!   ([`sakila_sync::warehouse::bulk_read`]), to compare the two drivers.
//!
//! The queries are the incremental's own expressions ([`as_i64`], [`unix_seconds`]). Rows are
//! decoded into tuples or models and dropped: no transform, no comparison, no write. Issue 6
//! asks, where SeaORM is the limit, to measure it and write down where: `docs/benchmarks-log.md`
//! has the figures.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use futures::TryStreamExt;
use sakila_sync::db::{self, Role};
use sakila_sync::source::{payment, rental};
use sakila_sync::sync::versions::{as_i64, unix_seconds};
use sakila_sync::warehouse::bulk_read;
use sakila_sync::warehouse::entity::{fact_payment, fact_rental};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryOrder, QuerySelect,
    TransactionTrait,
};

fn report(label: &str, rows: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{label:<48} {rows:>9} rows {secs:>7.3} s {:>10.0} rows/s",
        rows as f64 / secs
    );
}

/// Streams `rows` to the end, counting them.
async fn drain<T>(
    label: &str,
    rows: impl futures::Stream<Item = Result<T, sea_orm::DbErr>>,
) -> Result<()> {
    let s = Instant::now();
    let mut n = 0u64;
    futures::pin_mut!(rows);
    while rows.try_next().await.context(label.to_string())?.is_some() {
        n += 1;
    }
    report(label, n, s);
    Ok(())
}

/// `(id, version)` of every row of `E`, through sqlx, in id order.
async fn versions<E: EntityTrait>(
    label: &str,
    db: &DatabaseTransaction,
    id: E::Column,
    version: E::Column,
) -> Result<()> {
    let b = db.get_database_backend();
    let rows = E::find()
        .select_only()
        .column_as(as_i64(b, Expr::col(id)), "id")
        .column_as(unix_seconds(b, Expr::col(version)), "t")
        .order_by_asc(id)
        .into_tuple::<(i64, Option<i64>)>()
        .stream(db)
        .await?;
    drain(label, rows).await
}

/// Every whole row of `E`, as models through sqlx, in id order.
async fn models<E: EntityTrait>(label: &str, db: &DatabaseTransaction, id: E::Column) -> Result<()>
where
    E::Model: Send + Sync,
{
    drain(label, E::find().order_by_asc(id).stream(db).await?).await
}

/// `(id, version)` of every row of warehouse table `E`, through the rusqlite reader.
fn versions_rusqlite<E: EntityTrait>(
    label: &str,
    file: &Path,
    id: E::Column,
    version: E::Column,
) -> Result<()> {
    let s = Instant::now();
    let txn = bulk_read::open(file, false)?;
    let select = Query::select()
        .expr_as(as_i64(DbBackend::Sqlite, Expr::col(id)), "id")
        .expr_as(unix_seconds(DbBackend::Sqlite, Expr::col(version)), "t")
        .from(E::default())
        .to_owned();
    let mut n = 0u64;
    bulk_read::pages(
        &txn,
        &select,
        id,
        |row| Ok(row.try_get_many_by_index::<(i64, Option<i64>)>()?),
        |v| v.0,
        |page| {
            n += page.len() as u64;
            true
        },
    )?;
    report(label, n, s);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(src_url), Some(wh_url)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: orm_floor SOURCE_URL WAREHOUSE_URL");
    };
    let source = db::SourceDb::connect(&src_url).await?;
    let warehouse = db::connect(&wh_url, Role::Warehouse).await?;
    let bulk_read::Committed::File(file) =
        sakila_sync::warehouse::backend::Backend::committed(&warehouse)?
    else {
        anyhow::bail!("orm_floor measures a SQLite warehouse");
    };
    let src = source.snapshot().await?;
    let wh = warehouse.begin().await?;

    use fact_payment::Column as P;
    use fact_rental::Column as R;
    use payment::Column as SP;
    use rental::Column as SR;
    let source_versions = "source rental (id, last_update)";
    versions::<rental::Entity>(source_versions, &src, SR::RentalId, SR::LastUpdate).await?;
    let source_versions = "source payment (id, last_update)";
    versions::<payment::Entity>(source_versions, &src, SP::PaymentId, SP::LastUpdate).await?;
    models::<rental::Entity>("source rental, whole rows", &src, SR::RentalId).await?;
    models::<payment::Entity>("source payment, whole rows", &src, SP::PaymentId).await?;

    let label = "warehouse fact_rental (id, version), sqlx";
    versions::<fact_rental::Entity>(label, &wh, R::RentalId, R::SourceLastUpdate).await?;
    let label = "warehouse fact_payment (id, version), sqlx";
    versions::<fact_payment::Entity>(label, &wh, P::PaymentId, P::SourceLastUpdate).await?;
    let label = "warehouse fact_rental (id, version), rusqlite";
    versions_rusqlite::<fact_rental::Entity>(label, &file, R::RentalId, R::SourceLastUpdate)?;
    let label = "warehouse fact_payment (id, version), rusqlite";
    versions_rusqlite::<fact_payment::Entity>(label, &file, P::PaymentId, P::SourceLastUpdate)?;
    models::<fact_rental::Entity>("warehouse fact_rental, whole rows, sqlx", &wh, R::RentalId)
        .await?;
    models::<fact_payment::Entity>(
        "warehouse fact_payment, whole rows, sqlx",
        &wh,
        P::PaymentId,
    )
    .await?;
    Ok(())
}
