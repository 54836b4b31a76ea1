//! `demo`: the whole product on one screen with no server and no configuration. It generates a
//! scale-1 Sakila into a SQLite file, then runs init, full-load, simulate, incremental and
//! validate against a SQLite warehouse beside it, and ends with a short analytics summary read
//! from the star schema and the `report` page (`report.html` in the demo's folder).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use sea_orm::DatabaseConnection;

use crate::config::sqlite_url;
use crate::db::{self, Role};
use crate::report::{self, Report, dollars};
use crate::validate::{self, WindowSpec};
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

    // Closing checkpoints the WAL into the file, leaving one self-contained file to explore.
    wh.close().await.ok();
    let r = report::build(&wh_url, WindowSpec::AllTime).await?;
    summary(&r);
    let page = report::write_page(&r, &opts.dir.join("report.html"))?;
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

/// A few lines of what the report's page shows, read from the same [`Report`].
fn summary(r: &Report) {
    println!("\nRevenue by month");
    for &month in &r.months {
        let cents: i64 = r
            .monthly
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|(m, _)| *m == month)
            .map(|(_, c)| c)
            .sum();
        println!("  {}  {:>14}", report::month_text(month), dollars(cents));
    }
    println!("\nRevenue by store (store of the staff member who took the payment)");
    for (store, cents) in &r.by_staff_store {
        println!("  {store:<40} {:>14}", dollars(*cents));
    }
    println!("\nRevenue by store of the rented copy");
    for (store, cents) in &r.by_copy_store {
        println!("  {store:<40} {:>14}", dollars(*cents));
    }
    println!("\nTop categories by revenue");
    for c in r.top_categories.iter().take(5) {
        println!("  {:<20} {:>14}", c.name, dollars(c.value));
    }
    println!("\nTop films by rentals");
    for f in r.top_films.iter().take(5) {
        println!("  {:<30} {:>6} rentals", f.name, f.value);
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

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
}
