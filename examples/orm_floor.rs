//! What SeaORM (over sqlx) costs just to read the fact rows, with nothing done to them: the
//! floor under sakila-sync's own reads, to set beside the `mariadb` and `sqlite3` clients.
//!
//! ```text
//! cargo run --release --example orm_floor -- SOURCE_URL WAREHOUSE_URL
//! ```
//!
//! For each fact table it streams, inside one read snapshot like a run does, and times:
//! - the source's `(id, last_update)`, what an incremental's change detection reads;
//! - the source's whole rows, what `validate` and `full-load` read;
//! - the warehouse's `(id, version)` and whole rows, the other side of the same comparisons.
//!
//! Rows are decoded into tuples or models and dropped: no transform, no comparison, no write.
//! Issue 6 asks, where SeaORM is the limit, to measure it and write down where:
//! `docs/benchmarks.md` has the figures.

use std::time::Instant;

use anyhow::{Context, Result};
use futures::TryStreamExt;
use sakila_sync::db::{self, Role};
use sakila_sync::source::{payment, rental};
use sakila_sync::warehouse::entity::{fact_payment, fact_rental};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, IntoColumnRef};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryOrder, QuerySelect, TransactionTrait};

/// Streams `rows` to the end, counting them.
async fn drain<S, T>(label: &str, rows: S) -> Result<()>
where
    S: futures::Stream<Item = Result<T, sea_orm::DbErr>>,
{
    let s = Instant::now();
    let mut n = 0u64;
    futures::pin_mut!(rows);
    while rows.try_next().await.context(label.to_string())?.is_some() {
        n += 1;
    }
    let secs = s.elapsed().as_secs_f64();
    println!(
        "{label:<44} {n:>9} rows {secs:>7.3} s {:>10.0} rows/s",
        n as f64 / secs
    );
    Ok(())
}

/// `expr` as a signed 64-bit integer, so ids of any width and signedness decode as `i64`.
fn int(backend: DbBackend, expr: impl Into<Expr>) -> Expr {
    expr.into().cast_as(Alias::new(match backend {
        DbBackend::MySql => "SIGNED",
        _ => "INTEGER",
    }))
}

/// `UNIX_TIMESTAMP(col)` on MySQL, `unixepoch(col)` on SQLite: the version as an integer, as
/// the incremental's merge reads it.
fn unix(backend: DbBackend, col: impl IntoColumnRef) -> Expr {
    let f = match backend {
        DbBackend::MySql => "UNIX_TIMESTAMP",
        _ => "unixepoch",
    };
    int(backend, Func::cust(Alias::new(f)).arg(Expr::col(col)))
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(src_url), Some(wh_url)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: orm_floor SOURCE_URL WAREHOUSE_URL");
    };
    let source = db::connect(&src_url, Role::Source).await?;
    let warehouse = db::connect(&wh_url, Role::Warehouse).await?;
    let src = db::source_snapshot(&source).await?;
    let wh = warehouse.begin().await?;
    let (sb, wb) = (src.get_database_backend(), wh.get_database_backend());

    drain(
        "source rental (id, last_update)",
        rental::Entity::find()
            .select_only()
            .column_as(int(sb, Expr::col(rental::Column::RentalId)), "id")
            .column_as(unix(sb, rental::Column::LastUpdate), "t")
            .order_by_asc(rental::Column::RentalId)
            .into_tuple::<(i64, Option<i64>)>()
            .stream(&src)
            .await?,
    )
    .await?;
    drain(
        "source payment (id, last_update)",
        payment::Entity::find()
            .select_only()
            .column_as(int(sb, Expr::col(payment::Column::PaymentId)), "id")
            .column_as(unix(sb, payment::Column::LastUpdate), "t")
            .order_by_asc(payment::Column::PaymentId)
            .into_tuple::<(i64, Option<i64>)>()
            .stream(&src)
            .await?,
    )
    .await?;
    drain(
        "source rental, whole rows (models)",
        rental::Entity::find()
            .order_by_asc(rental::Column::RentalId)
            .stream(&src)
            .await?,
    )
    .await?;
    drain(
        "source payment, whole rows (models)",
        payment::Entity::find()
            .order_by_asc(payment::Column::PaymentId)
            .stream(&src)
            .await?,
    )
    .await?;
    drain(
        "warehouse fact_rental (id, version)",
        fact_rental::Entity::find()
            .select_only()
            .column_as(int(wb, Expr::col(fact_rental::Column::RentalId)), "id")
            .column_as(unix(wb, fact_rental::Column::SourceLastUpdate), "t")
            .order_by_asc(fact_rental::Column::RentalId)
            .into_tuple::<(i64, Option<i64>)>()
            .stream(&wh)
            .await?,
    )
    .await?;
    drain(
        "warehouse fact_payment (id, version)",
        fact_payment::Entity::find()
            .select_only()
            .column_as(int(wb, Expr::col(fact_payment::Column::PaymentId)), "id")
            .column_as(unix(wb, fact_payment::Column::SourceLastUpdate), "t")
            .order_by_asc(fact_payment::Column::PaymentId)
            .into_tuple::<(i64, Option<i64>)>()
            .stream(&wh)
            .await?,
    )
    .await?;
    drain(
        "warehouse fact_rental, whole rows (models)",
        fact_rental::Entity::find()
            .order_by_asc(fact_rental::Column::RentalId)
            .stream(&wh)
            .await?,
    )
    .await?;
    drain(
        "warehouse fact_payment, whole rows (models)",
        fact_payment::Entity::find()
            .order_by_asc(fact_payment::Column::PaymentId)
            .stream(&wh)
            .await?,
    )
    .await?;
    Ok(())
}
