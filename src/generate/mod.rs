//! Synthetic Sakila sources: `generate` creates the Sakila schema in an empty database (MySQL,
//! MariaDB or SQLite) and fills it with deterministic data at any scale; `simulate` then applies
//! OLTP activity to it, for the incremental pipeline to follow.
//!
//! Everything goes through SeaORM: the schema comes from the `crate::source` entities, rows are
//! written with `insert_many` in statements sized to the backend's bind limit, and the scaled
//! tables are generated and written batch by batch, so memory stays bounded at any scale.

pub mod data;
pub mod marker;
pub mod rng;
pub mod schema;
pub mod simulate;
mod words;

use std::fmt;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityName, EntityTrait,
    IntoActiveModel, TransactionTrait,
};

pub use simulate::{Mix, SimulateReport, Writers, simulate, simulate_with};

use crate::source::{payment, prelude::*, rental};
pub use data::History;
use data::Sizes;
pub use schema::Types;

/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 42;

/// What `generate` makes: the same spec always gives the same rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub scale: u32,
    pub seed: u64,
    /// When the shop traded (default: the real Sakila's nine months of 2005-06).
    pub history: History,
    pub types: Types,
}

impl Spec {
    /// `scale` and `seed` with the real Sakila's history and wide column types.
    pub fn new(scale: u32, seed: u64) -> Spec {
        Spec {
            scale,
            seed,
            history: History::sakila(),
            types: Types::Wide,
        }
    }
}

/// MySQL's `TIMESTAMP` (the type of every `last_update`) holds 1970-01-01 00:00:01 to
/// 2038-01-19 03:14:07 UTC.
fn timestamp_range() -> (chrono::NaiveDateTime, chrono::NaiveDateTime) {
    let t = |s: i64| {
        chrono::DateTime::from_timestamp(s, 0)
            .expect("in range")
            .naive_utc()
    };
    (t(1), t(i64::from(i32::MAX)))
}

/// Refuses what the target cannot hold, before anything is written.
fn check_spec(spec: &Spec, backend: DbBackend) -> Result<()> {
    ensure!(spec.scale >= 1, "--scale must be at least 1");
    ensure!(
        spec.scale <= 10_000,
        "--scale {} is too large (at most 10000: rental ids must fit in INT)",
        spec.scale
    );
    if backend != DbBackend::MySql {
        ensure!(
            spec.types == Types::Wide,
            "--types sakila needs a MySQL/MariaDB target: SQLite has no integer widths, ENUM or SET"
        );
        return Ok(());
    }
    let (lo, hi) = timestamp_range();
    let (first, last) = spec.history.span();
    ensure!(
        lo <= first && last <= hi,
        "a history of {} to {} does not fit MySQL's TIMESTAMP (last_update holds 1970-01-01 to \
         2038-01-19, and generated rows are stamped from 99 days before the first rental to the \
         morning after the last): choose --from and --years inside that",
        spec.history.first,
        spec.history.last
    );
    Ok(())
}

/// Writes `rows` with one multi-row `INSERT` per full batch.
async fn insert<E, C>(db: &C, rows: Vec<E::Model>) -> Result<u64>
where
    E: EntityTrait,
    C: ConnectionTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    let n = rows.len() as u64;
    let per = crate::db::rows_per_statement::<E>(db.get_database_backend());
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk = rows
            .by_ref()
            .take(per)
            .map(IntoActiveModel::into_active_model);
        E::insert_many(chunk)
            .exec_without_returning(db)
            .await
            .with_context(|| format!("cannot write source table {}", E::default().table_name()))?;
    }
    Ok(n)
}

/// Writes the rows of an iterator in statement-sized batches; memory holds one batch.
async fn insert_stream<E, C, I>(db: &C, rows: I) -> Result<u64>
where
    E: EntityTrait,
    C: ConnectionTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
    I: IntoIterator<Item = E::Model>,
{
    let per = crate::db::rows_per_statement::<E>(db.get_database_backend());
    let mut rows = rows.into_iter().peekable();
    let mut n = 0;
    while rows.peek().is_some() {
        let batch: Vec<E::Model> = rows.by_ref().take(per).collect();
        n += insert::<E, _>(db, batch).await?;
    }
    Ok(n)
}

/// What `generate` wrote.
#[derive(Clone, Debug)]
pub struct GenerateReport {
    pub scale: u32,
    pub seed: u64,
    pub history: History,
    /// The id columns given a wider type than Sakila's, each with why (`--types sakila`).
    pub widened: Vec<String>,
    /// (table, rows), parents first.
    pub tables: Vec<(&'static str, u64)>,
    pub seconds: f64,
}

impl GenerateReport {
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, n)| *n)
    }
}

impl fmt::Display for GenerateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "generated Sakila at scale {} (seed {}, rentals {} to {}) in {:.1} s:",
            self.scale, self.seed, self.history.first, self.history.last, self.seconds
        )?;
        for note in &self.widened {
            writeln!(f, "  note: {note}")?;
        }
        for (table, n) in &self.tables {
            writeln!(f, "  {table:<14} {n:>10}")?;
        }
        write!(
            f,
            "  {:<14} {:>10}",
            "total",
            self.tables.iter().map(|(_, n)| n).sum::<u64>()
        )
    }
}

/// Creates the Sakila schema in the empty database `db` and fills it with the data of `scale`
/// and `seed` (the same pair always gives the same rows).
///
/// A SQLite target must be opened with [`crate::db::Role::Generator`] (foreign keys not
/// enforced while loading: see [`schema`]). A database that already holds any table is
/// refused, so generated data is never mixed with other data.
pub async fn generate(db: &DatabaseConnection, scale: u32, seed: u64) -> Result<GenerateReport> {
    generate_with(db, &Spec::new(scale, seed)).await
}

/// [`generate`] with a history and column types of its own.
pub async fn generate_with(db: &DatabaseConnection, spec: &Spec) -> Result<GenerateReport> {
    let (scale, seed) = (spec.scale, spec.seed);
    check_spec(spec, db.get_database_backend())?;
    let existing = crate::db::table_names(db).await?;
    if !existing.is_empty() {
        let shown: Vec<_> = existing.iter().take(5).map(String::as_str).collect();
        bail!(
            "the target database is not empty (it has {} table{}: {}{}); generate only fills an empty database",
            existing.len(),
            if existing.len() == 1 { "" } else { "s" },
            shown.join(", "),
            if existing.len() > 5 { ", ..." } else { "" }
        );
    }
    let started = Instant::now();
    let shape = schema::Shape::new(spec.types, &Sizes::at(scale));
    let widened = shape
        .widened()
        .iter()
        .map(|c| {
            format!(
                "{} is {} instead of Sakila's {} (scale {scale} writes ids up to {}, and \
                 simulate needs room to add rows)",
                c.columns.join("/"),
                c.chosen.name(),
                c.sakila.name(),
                c.largest
            )
        })
        .collect();
    schema::create_tables(db, &shape).await?;
    let tables = fill(db, spec).await.context(
        "generate failed while writing rows; drop the partly filled database before trying again",
    )?;
    schema::finish(db).await?;
    mark_generated(db, scale, seed).await?;
    Ok(GenerateReport {
        scale,
        seed,
        history: spec.history,
        widened,
        tables,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Records that `generate` made this database ([`marker`]).
async fn mark_generated(db: &DatabaseConnection, scale: u32, seed: u64) -> Result<()> {
    let what = "cannot record in the target that generate made it";
    let stmt =
        sea_orm::Schema::new(db.get_database_backend()).create_table_from_entity(marker::Entity);
    db.execute(&stmt).await.context(what)?;
    marker::Entity::insert(
        marker::Model {
            id: 1,
            scale: scale as i32,
            seed: seed.to_string(),
            generated_at: chrono::Utc::now().naive_utc(),
        }
        .into_active_model(),
    )
    .exec(db)
    .await
    .context(what)?;
    Ok(())
}

/// Whether `generate` made the database `db` is connected to ([`marker`]): the only kind
/// `simulate` writes into unless told otherwise.
pub async fn is_generated<C: ConnectionTrait>(db: &C) -> Result<bool> {
    let table = marker::Entity.table_name();
    Ok(crate::db::table_columns(db, table).await?.is_some())
}

/// Writes every row in one transaction, parents before children.
async fn fill(db: &DatabaseConnection, spec: &Spec) -> Result<Vec<(&'static str, u64)>> {
    let (seed, h) = (spec.seed, &spec.history);
    let sizes = Sizes::at(spec.scale);
    let txn = db
        .begin()
        .await
        .context("cannot start a transaction on the target")?;
    let mut out = Vec::new();
    let s = Instant::now();
    out.push((
        Country.table_name(),
        insert::<Country, _>(&txn, data::countries(seed, h)).await?,
    ));
    out.push((
        City.table_name(),
        insert::<City, _>(&txn, data::cities(seed, h)).await?,
    ));
    out.push((
        Address.table_name(),
        insert_stream::<Address, _, _>(&txn, data::addresses(seed, sizes, h)).await?,
    ));
    out.push((
        Language.table_name(),
        insert::<Language, _>(&txn, data::languages(h)).await?,
    ));
    out.push((
        Category.table_name(),
        insert::<Category, _>(&txn, data::categories(h)).await?,
    ));
    out.push((
        Actor.table_name(),
        insert::<Actor, _>(&txn, data::actors(seed, h)).await?,
    ));
    let films = data::films(seed, h);
    let texts = films.iter().map(data::film_text_of).collect();
    out.push((
        Film.table_name(),
        insert::<Film, _>(&txn, films.clone()).await?,
    ));
    out.push((
        FilmText.table_name(),
        insert::<FilmText, _>(&txn, texts).await?,
    ));
    out.push((
        FilmActor.table_name(),
        insert::<FilmActor, _>(&txn, data::film_actors(seed, h)).await?,
    ));
    out.push((
        FilmCategory.table_name(),
        insert::<FilmCategory, _>(&txn, data::film_categories(seed, h)).await?,
    ));
    // On MySQL `store` has no manager key yet; on SQLite keys are not enforced while loading.
    let stores = insert::<Store, _>(&txn, data::stores(sizes, h)).await;
    let stores = if db.get_database_backend() == DbBackend::Sqlite {
        stores.context(
            "a SQLite target must be opened with Role::Generator, which leaves foreign keys \
             off while loading (the store <-> staff keys form a cycle)",
        )?
    } else {
        stores?
    };
    out.push((Store.table_name(), stores));
    let staff = data::staff(seed, sizes, h);
    out.push((
        Staff.table_name(),
        insert::<Staff, _>(&txn, staff.clone()).await?,
    ));
    out.push((
        Customer.table_name(),
        insert_stream::<Customer, _, _>(&txn, data::customers(seed, sizes, h)).await?,
    ));
    let layout = data::inventory_layout(seed, sizes);
    out.push((
        Inventory.table_name(),
        insert_stream::<Inventory, _, _>(&txn, data::inventory(&layout, h)).await?,
    ));
    tracing::info!("dimensions written in {:.1} s", s.elapsed().as_secs_f64());

    let facts = data::Facts::new(seed, sizes, layout, &films, &staff, h);
    let s = Instant::now();
    let (n_rentals, n_payments) = if db.get_database_backend() == DbBackend::MySql {
        // Two connections, one per table, so the server inserts rentals and payments on two
        // cores. Each statement commits on its own: a payment batch only starts once the
        // rentals it refers to are committed, which its foreign-key check needs.
        txn.commit()
            .await
            .context("cannot commit the generated rows")?;
        write_facts(db, db, facts).await?
    } else {
        let n = write_facts(&txn, &txn, facts).await?;
        txn.commit()
            .await
            .context("cannot commit the generated rows")?;
        n
    };
    tracing::info!("facts written in {:.1} s", s.elapsed().as_secs_f64());
    out.push((Rental.table_name(), n_rentals));
    out.push((Payment.table_name(), n_payments));
    Ok(out)
}

/// Writes the rentals (on `rental_db`) and payments (on `payment_db`) of `facts`, in full
/// statements only (each statement then has the same shape and is prepared once), never
/// writing a payment before its rental. Returns (rentals, payments) written.
///
/// A producer cuts the generated days into batches while two writers insert them; the
/// channels hold at most two batches each, so memory is bounded at any scale.
async fn write_facts<C: ConnectionTrait>(
    rental_db: &C,
    payment_db: &C,
    mut facts: data::Facts,
) -> Result<(u64, u64)> {
    let backend = rental_db.get_database_backend();
    let per_rental = crate::db::rows_per_statement::<Rental>(backend);
    let per_payment = crate::db::rows_per_statement::<Payment>(backend);
    let (rental_tx, mut rental_rx) = tokio::sync::mpsc::channel::<Vec<rental::Model>>(2);
    // A payment batch travels with the largest rental id it refers to.
    let (payment_tx, mut payment_rx) = tokio::sync::mpsc::channel::<(i32, Vec<payment::Model>)>(2);
    let (written_tx, mut written_rx) = tokio::sync::watch::channel(0i32);
    let bar = crate::sync::progress::rows("rental + payment");

    let producer = async move {
        let mut rentals: Vec<rental::Model> = Vec::with_capacity(per_rental);
        let mut payments: Vec<payment::Model> = Vec::with_capacity(per_payment);
        let mut sent_rental = 0; // the largest rental id handed to the rental writer
        let needs = |batch: &[payment::Model]| batch.iter().filter_map(|p| p.rental_id).max();
        for day in facts.by_ref() {
            rentals.extend(day.rentals);
            payments.extend(day.payments);
            loop {
                if rentals.len() >= per_rental {
                    let rest = rentals.split_off(per_rental);
                    let batch = std::mem::replace(&mut rentals, rest);
                    sent_rental = batch.last().map_or(sent_rental, |r| r.rental_id);
                    if rental_tx.send(batch).await.is_err() {
                        return Ok(()); // the writer stopped; its error is the one to report
                    }
                } else if payments.len() >= per_payment
                    && needs(&payments[..per_payment]).unwrap_or(0) <= sent_rental
                {
                    let rest = payments.split_off(per_payment);
                    let batch = std::mem::replace(&mut payments, rest);
                    let need = needs(&batch).unwrap_or(0);
                    if payment_tx.send((need, batch)).await.is_err() {
                        return Ok(());
                    }
                } else {
                    break;
                }
            }
        }
        if facts.skipped > 0 {
            tracing::info!("{} rentals skipped: no copy was free", facts.skipped);
        }
        if !rentals.is_empty() && rental_tx.send(rentals).await.is_err() {
            return Ok(());
        }
        if !payments.is_empty() {
            let need = needs(&payments).unwrap_or(0);
            let _ = payment_tx.send((need, payments)).await;
        }
        Ok::<_, anyhow::Error>(())
    };
    let rental_writer = async {
        let mut n = 0;
        while let Some(batch) = rental_rx.recv().await {
            let last = batch.last().map_or(0, |r| r.rental_id);
            n += insert::<Rental, _>(rental_db, batch).await?;
            bar.inc(per_rental as u64);
            let _ = written_tx.send(last);
        }
        Ok::<_, anyhow::Error>(n)
    };
    let payment_writer = async {
        let mut n = 0;
        while let Some((need, batch)) = payment_rx.recv().await {
            written_rx
                .wait_for(|written| *written >= need)
                .await
                .context("the rental writer stopped")?;
            n += insert::<Payment, _>(payment_db, batch).await?;
            bar.inc(per_payment as u64);
        }
        Ok::<_, anyhow::Error>(n)
    };
    let ((), rentals, payments) = tokio::try_join!(producer, rental_writer, payment_writer)?;
    bar.finish_and_clear();
    Ok((rentals, payments))
}
