//! `demo`: the whole product on one screen with no server and no configuration. It generates a
//! scale-1 Sakila into a SQLite file, then runs init, full-load, simulate, incremental and
//! validate against a SQLite warehouse beside it, and ends with a short analytics summary read
//! from the star schema and the `report` page (`report.html` in the demo's folder).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::config::sqlite_url;
use crate::db::{self, Role};
use crate::validate::{self, WindowSpec};
use crate::warehouse::entity::{
    bridge_film_category, dim_category, dim_date, dim_film, dim_store, fact_payment, fact_rental,
};
use crate::{generate, sync, warehouse};

pub struct Options {
    pub dir: PathBuf,
    pub seed: u64,
    pub ops: u32,
}

fn step(name: &str, started: Instant, detail: impl std::fmt::Display) {
    println!(
        "  {name:<12} {:>6.2} s  {detail}",
        started.elapsed().as_secs_f64()
    );
}

/// Runs the demo; `Ok(true)` when the final validation agrees.
pub async fn run(opts: &Options) -> Result<bool> {
    let all = Instant::now();
    std::fs::create_dir_all(&opts.dir)
        .with_context(|| format!("cannot create the demo folder {}", opts.dir.display()))?;
    let source_path = opts.dir.join("sakila-source.db");
    let warehouse_path = opts.dir.join("warehouse.db");
    for base in [&source_path, &warehouse_path] {
        for suffix in ["", "-wal", "-shm"] {
            let f = PathBuf::from(format!("{}{suffix}", base.display()));
            if f.exists() {
                std::fs::remove_file(&f)
                    .with_context(|| format!("cannot remove the old {}", f.display()))?;
            }
        }
    }
    let (src_url, wh_url) = (sqlite_url(&source_path), sqlite_url(&warehouse_path));
    println!("sakila-sync demo in {}", opts.dir.display());
    println!("  source:    {src_url} (generated Sakila, scale 1)");
    println!("  warehouse: {wh_url}\n");

    let s = Instant::now();
    let gen_db = db::connect(&src_url, Role::Generator).await?;
    let g = generate::generate(&gen_db, 1, opts.seed).await?;
    gen_db.close().await.ok();
    step(
        "generate",
        s,
        format!("{} rows", g.tables.iter().map(|(_, n)| n).sum::<u64>()),
    );

    let s = Instant::now();
    let wh = db::connect(&wh_url, Role::Warehouse).await?;
    warehouse::init(
        &wh,
        warehouse::dates::default_start(),
        warehouse::dates::default_end(),
    )
    .await?;
    step("init", s, "schema, dim_date 2000..2030, sync_state");

    let source = db::SourceDb::connect(&src_url).await?;
    let s = Instant::now();
    let r = sync::full_load::full_load(&source, &wh).await?;
    step("full-load", s, format!("{} rows written", r.rows_written()));

    let s = Instant::now();
    let writer = db::connect(&src_url, Role::SourceWriter).await?;
    let writers = generate::Writers {
        dated_from: day_after_history(&writer).await?,
        ..Default::default()
    };
    let sim =
        generate::simulate_with(&writer, opts.ops, opts.seed, generate::Mix::Shop, writers).await?;
    writer.close().await.ok();
    step(
        "simulate",
        s,
        format!("{} OLTP operations on the source", sim.total()),
    );

    let s = Instant::now();
    let r =
        sync::incremental::incremental(&source, &wh, sync::incremental::Options::default()).await?;
    let changed: Vec<String> = r
        .tables
        .iter()
        .filter(|(_, t)| t.written() > 0)
        .map(|(name, t)| format!("{name} +{} ~{} -{}", t.inserted, t.updated, t.deleted))
        .collect();
    step("incremental", s, changed.join(", "));

    let s = Instant::now();
    let report = validate::validate(&source, &wh, WindowSpec::AllTime).await?;
    let passed = report.passed();
    step(
        "validate",
        s,
        if passed {
            "source and warehouse agree ✔"
        } else {
            "DIFFERENCES FOUND ✖"
        },
    );
    if !passed {
        println!("\n{report}");
    }

    summary(&wh).await?;
    // Closing checkpoints the WAL into the file, leaving one self-contained file to explore.
    wh.close().await.ok();
    let page =
        crate::report::write_report(&wh_url, WindowSpec::AllTime, &opts.dir.join("report.html"))
            .await?;
    println!(
        "\nThe report (open it in a browser): {}",
        shell_word(&page.path.display().to_string())
    );
    println!(
        "done in {:.2} s. Explore it: sqlite3 {}",
        all.elapsed().as_secs_f64(),
        shell_word(&warehouse_path.display().to_string())
    );
    Ok(passed)
}

/// The day after the source's last rental. The demo's activity continues the shop's history
/// there, on a calendar instead of the wall clock: the same seed then writes the same rows
/// (which copy is rented, what a late return costs), and the months run on from the history
/// instead of jumping twenty years to today.
async fn day_after_history(source: &DatabaseConnection) -> Result<Option<chrono::NaiveDate>> {
    use crate::source::rental;
    use sea_orm::{ColumnTrait, EntityTrait, QuerySelect};
    let last: Option<Option<chrono::NaiveDateTime>> = rental::Entity::find()
        .select_only()
        .column_as(rental::Column::RentalDate.max(), "last")
        .into_tuple()
        .one(source)
        .await
        .context("cannot read source table rental")?;
    Ok(last.flatten().and_then(|t| t.date().succ_opt()))
}

/// `text` as one word for a POSIX shell: as it is when that is safe, else quoted.
fn shell_word(text: &str) -> String {
    shlex::try_quote(text).map_or_else(|_| text.into(), |q| q.into_owned())
}

/// Formats cents as dollars with thousands separators.
pub fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let whole = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}${grouped}.{:02}", abs % 100)
}

async fn rows(db: &DatabaseConnection, q: &SelectStatement) -> Result<Vec<sea_orm::QueryResult>> {
    db.query_all(q)
        .await
        .context("cannot read the warehouse for the summary")
}

async fn summary(wh: &DatabaseConnection) -> Result<()> {
    let revenue = || {
        Func::sum(Expr::col((
            fact_payment::Entity,
            fact_payment::Column::AmountCents,
        )))
    };

    println!("\nRevenue by month");
    let q = Query::select()
        .column((dim_date::Entity, dim_date::Column::Year))
        .column((dim_date::Entity, dim_date::Column::Month))
        .expr_as(revenue(), Alias::new("cents"))
        .from(fact_payment::Entity)
        .inner_join(
            dim_date::Entity,
            Expr::col((dim_date::Entity, dim_date::Column::DateKey))
                .equals((fact_payment::Entity, fact_payment::Column::PaymentDateKey)),
        )
        .group_by_columns([
            (dim_date::Entity, dim_date::Column::Year),
            (dim_date::Entity, dim_date::Column::Month),
        ])
        .order_by((dim_date::Entity, dim_date::Column::Year), Order::Asc)
        .order_by((dim_date::Entity, dim_date::Column::Month), Order::Asc)
        .to_owned();
    for r in rows(wh, &q).await? {
        let (y, m, c): (i32, i32, i64) = (
            r.try_get("", "year")?,
            r.try_get("", "month")?,
            r.try_get("", "cents")?,
        );
        println!("  {y}-{m:02}  {:>14}", dollars(c));
    }

    println!("\nRevenue by store (store of the staff member who took the payment)");
    let q = Query::select()
        .column((dim_store::Entity, dim_store::Column::StoreId))
        .column((dim_store::Entity, dim_store::Column::City))
        .column((dim_store::Entity, dim_store::Column::Country))
        .expr_as(revenue(), Alias::new("cents"))
        .from(fact_payment::Entity)
        .inner_join(
            dim_store::Entity,
            Expr::col((dim_store::Entity, dim_store::Column::StoreKey))
                .equals((fact_payment::Entity, fact_payment::Column::StoreKey)),
        )
        .group_by_columns([
            (dim_store::Entity, dim_store::Column::StoreId),
            (dim_store::Entity, dim_store::Column::City),
            (dim_store::Entity, dim_store::Column::Country),
        ])
        .order_by(Alias::new("cents"), Order::Desc)
        .to_owned();
    for r in rows(wh, &q).await? {
        let (id, city, country, c): (i32, String, String, i64) = (
            r.try_get("", "store_id")?,
            r.try_get("", "city")?,
            r.try_get("", "country")?,
            r.try_get("", "cents")?,
        );
        println!(
            "  store {id:<3} {:<30} {:>14}",
            format!("{city}, {country}"),
            dollars(c)
        );
    }

    println!("\nTop categories by revenue");
    let q = Query::select()
        .column((dim_category::Entity, dim_category::Column::Name))
        .expr_as(revenue(), Alias::new("cents"))
        .from(fact_payment::Entity)
        .inner_join(
            fact_rental::Entity,
            Expr::col((fact_rental::Entity, fact_rental::Column::RentalId))
                .equals((fact_payment::Entity, fact_payment::Column::RentalId)),
        )
        .inner_join(
            bridge_film_category::Entity,
            Expr::col((
                bridge_film_category::Entity,
                bridge_film_category::Column::FilmKey,
            ))
            .equals((fact_rental::Entity, fact_rental::Column::FilmKey)),
        )
        .inner_join(
            dim_category::Entity,
            Expr::col((dim_category::Entity, dim_category::Column::CategoryKey)).equals((
                bridge_film_category::Entity,
                bridge_film_category::Column::CategoryKey,
            )),
        )
        .group_by_col((dim_category::Entity, dim_category::Column::Name))
        .order_by(Alias::new("cents"), Order::Desc)
        .limit(5)
        .to_owned();
    for r in rows(wh, &q).await? {
        let (name, c): (String, i64) = (r.try_get("", "name")?, r.try_get("", "cents")?);
        println!("  {name:<20} {:>14}", dollars(c));
    }

    println!("\nTop films by rentals");
    let q = Query::select()
        .column((dim_film::Entity, dim_film::Column::Title))
        .expr_as(
            Func::count(Expr::col((
                fact_rental::Entity,
                fact_rental::Column::RentalId,
            ))),
            Alias::new("rentals"),
        )
        .from(fact_rental::Entity)
        .inner_join(
            dim_film::Entity,
            Expr::col((dim_film::Entity, dim_film::Column::FilmKey))
                .equals((fact_rental::Entity, fact_rental::Column::FilmKey)),
        )
        .group_by_col((dim_film::Entity, dim_film::Column::Title))
        .order_by(Alias::new("rentals"), Order::Desc)
        .order_by((dim_film::Entity, dim_film::Column::Title), Order::Asc)
        .limit(5)
        .to_owned();
    for r in rows(wh, &q).await? {
        let (title, n): (String, i64) = (r.try_get("", "title")?, r.try_get("", "rentals")?);
        println!("  {title:<30} {n:>6} rentals");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{dollars, shell_word};

    #[test]
    fn paths_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(
            shell_word("sakila-demo/warehouse.db"),
            "sakila-demo/warehouse.db"
        );
        assert_eq!(shell_word("my demo/warehouse.db"), "'my demo/warehouse.db'");
        assert_eq!(shell_word("a?b/w.db"), "'a?b/w.db'");
        // Whatever the quoting, the shell reads back the one word it was given.
        for path in [
            "my demo/w.db",
            "it's/w.db",
            "a?b/w.db",
            "$HOME/`x`/w.db",
            "a\"b'c/w.db",
        ] {
            assert_eq!(
                shlex::split(&shell_word(path)),
                Some(vec![path.to_string()])
            );
        }
    }

    #[test]
    fn dollars_group_thousands() {
        assert_eq!(dollars(6741651), "$67,416.51");
        assert_eq!(dollars(99), "$0.99");
        assert_eq!(dollars(100000), "$1,000.00");
        assert_eq!(dollars(123456789), "$1,234,567.89");
        // A refund larger than the sales: the sign goes before the dollar sign, never
        // between it and the first group.
        assert_eq!(dollars(-12345), "-$123.45");
        assert_eq!(dollars(-123456), "-$1,234.56");
        assert_eq!(dollars(-50), "-$0.50");
        assert_eq!(dollars(i64::MIN), "-$92,233,720,368,547,758.08");
    }
}
