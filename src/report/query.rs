//! The report's questions to the warehouse, each one SeaORM query built from the entities
//! (joins through their relations, `select_only` + `column_as`, partial models), returning
//! plain rows. No SQL text: the same queries run on SQLite and PostgreSQL.
//!
//! Two things keep the backends identical. Sums of cents are cast to BIGINT (`cents_sum`):
//! PostgreSQL's `SUM(bigint)` is `numeric`, SQLite's is an integer, and both decode as `i64`
//! once cast. Rankings break ties by the natural id (`film_id`, `category_id`, `actor_id`),
//! never by name: names sort by the server's collation, which differs between SQLite
//! (bytes) and a PostgreSQL database (its locale), while ids compare the same everywhere.
//! Rankings that need every group anyway (countries) are sorted here in Rust.

use anyhow::{Context, Result};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, JoinType, Order,
    QueryFilter, QueryOrder, QuerySelect, RelationDef, RelationTrait,
};

use crate::star::transform::date_key;
use crate::validate::Window;
use crate::warehouse::entity::{
    bridge_film_actor, bridge_film_category, dim_actor, dim_category, dim_customer, dim_date,
    dim_film, dim_store, fact_payment, fact_rental, sync_run, sync_state,
};

/// `CAST(SUM(col) AS BIGINT)`: an integer sum of cents on every backend (NULL on no rows).
fn cents_sum(col: Expr) -> Expr {
    Expr::from(Func::sum(col)).cast_as(Alias::new("BIGINT"))
}

/// `CAST(COUNT(expr) AS BIGINT)`: already 64-bit on SQLite and PostgreSQL; cast anyway so the
/// row type does not depend on the driver.
fn count(expr: Expr) -> Expr {
    Expr::from(Func::count(expr)).cast_as(Alias::new("BIGINT"))
}

fn count_distinct(expr: Expr) -> Expr {
    Expr::from(Func::count_distinct(expr)).cast_as(Alias::new("BIGINT"))
}

/// The window as a condition on a fact's `YYYYMMDD` date key, as [`Window::contains_key`]
/// decides it (both ends inclusive, an open end unbounded).
fn in_window(key: impl ColumnTrait, window: &Window) -> Condition {
    let mut c = Condition::all();
    if let Some(since) = window.since {
        c = c.add(key.gte(date_key(since)));
    }
    if let Some(until) = window.until {
        c = c.add(key.lte(date_key(until)));
    }
    c
}

fn rentals_in(window: &Window) -> Condition {
    in_window(fact_rental::Column::RentalDateKey, window)
}

fn payments_in(window: &Window) -> Condition {
    in_window(fact_payment::Column::PaymentDateKey, window)
}

/// payment -> the rental it pays for (`fact_payment.rental_id`; not a declared foreign key:
/// a payment may have no rental).
fn payment_rental() -> RelationDef {
    fact_payment::Entity::belongs_to(fact_rental::Entity)
        .from(fact_payment::Column::RentalId)
        .to(fact_rental::Column::RentalId)
        .into()
}

fn what(table: &str) -> String {
    format!("cannot read warehouse table {table} for the report")
}

/// The latest rental or payment date key in the warehouse (`None`: no fact at all).
pub async fn latest_key<C: ConnectionTrait>(db: &C) -> Result<Option<i32>> {
    #[derive(FromQueryResult)]
    struct Max {
        k: Option<i32>,
    }
    let rental = fact_rental::Entity::find()
        .select_only()
        .column_as(
            Expr::from(Func::max(Expr::col(fact_rental::Column::RentalDateKey))),
            "k",
        )
        .into_model::<Max>()
        .one(db)
        .await
        .with_context(|| what("fact_rental"))?
        .and_then(|m| m.k);
    let payment = fact_payment::Entity::find()
        .select_only()
        .column_as(
            Expr::from(Func::max(Expr::col(fact_payment::Column::PaymentDateKey))),
            "k",
        )
        .into_model::<Max>()
        .one(db)
        .await
        .with_context(|| what("fact_payment"))?
        .and_then(|m| m.k);
    Ok(std::cmp::max(rental, payment))
}

/// Whether the warehouse holds any rental or payment at all.
pub async fn has_facts<C: ConnectionTrait>(db: &C) -> Result<bool> {
    Ok(latest_key(db).await?.is_some())
}

#[derive(Debug, Default, FromQueryResult)]
pub struct PaymentTotals {
    pub cents: Option<i64>,
    pub payments: i64,
    pub customers: i64,
}

pub async fn payment_totals<C: ConnectionTrait>(db: &C, w: &Window) -> Result<PaymentTotals> {
    Ok(fact_payment::Entity::find()
        .select_only()
        .column_as(
            cents_sum(Expr::col(fact_payment::Column::AmountCents)),
            "cents",
        )
        .column_as(
            count(Expr::col(fact_payment::Column::PaymentId)),
            "payments",
        )
        .column_as(
            count_distinct(Expr::col(fact_payment::Column::CustomerKey)),
            "customers",
        )
        .filter(payments_in(w))
        .into_model::<PaymentTotals>()
        .one(db)
        .await
        .with_context(|| what("fact_payment"))?
        .unwrap_or_default())
}

#[derive(Debug, Default, FromQueryResult)]
pub struct RentalTotals {
    pub rentals: i64,
    /// Rentals with a return date.
    pub returned: i64,
    /// Whole days out, summed over the returned rentals.
    pub days: Option<i64>,
    /// Returned rentals with a duration in days.
    pub timed: i64,
}

pub async fn rental_totals<C: ConnectionTrait>(db: &C, w: &Window) -> Result<RentalTotals> {
    Ok(fact_rental::Entity::find()
        .select_only()
        .column_as(count(Expr::col(fact_rental::Column::RentalId)), "rentals")
        .column_as(
            count(Expr::col(fact_rental::Column::ReturnDate)),
            "returned",
        )
        .column_as(
            cents_sum(Expr::col(fact_rental::Column::RentalDurationDays)),
            "days",
        )
        .column_as(
            count(Expr::col(fact_rental::Column::RentalDurationDays)),
            "timed",
        )
        .filter(rentals_in(w))
        .into_model::<RentalTotals>()
        .one(db)
        .await
        .with_context(|| what("fact_rental"))?
        .unwrap_or_default())
}

#[derive(FromQueryResult)]
struct Count {
    n: i64,
}

/// Returned rentals kept longer than their film's `rental_duration` days.
pub async fn late_returns<C: ConnectionTrait>(db: &C, w: &Window) -> Result<i64> {
    Ok(fact_rental::Entity::find()
        .select_only()
        .column_as(count(Expr::col(fact_rental::Column::RentalId)), "n")
        .join(JoinType::InnerJoin, fact_rental::Relation::Film.def())
        .filter(rentals_in(w))
        .filter(
            Expr::col((fact_rental::Entity, fact_rental::Column::RentalDurationDays)).gt(
                Expr::col((dim_film::Entity, dim_film::Column::RentalDuration)),
            ),
        )
        .into_model::<Count>()
        .one(db)
        .await
        .with_context(|| what("fact_rental"))?
        .map_or(0, |c| c.n))
}

#[derive(Clone, Debug, FromQueryResult)]
pub struct StoreRow {
    pub store_key: i32,
    pub store_id: i32,
    pub city: String,
    pub country: String,
    pub is_deleted: bool,
}

/// Every store the warehouse knows, by `store_id`.
pub async fn stores<C: ConnectionTrait>(db: &C) -> Result<Vec<StoreRow>> {
    dim_store::Entity::find()
        .order_by_asc(dim_store::Column::StoreId)
        .into_model::<StoreRow>()
        .all(db)
        .await
        .with_context(|| what("dim_store"))
}

#[derive(Debug, FromQueryResult)]
pub struct MonthStore {
    pub year: i32,
    pub month: i32,
    /// `fact_payment.store_key`: the store of the staff member who took the payment.
    pub store_key: i32,
    pub cents: i64,
}

/// Revenue per calendar month (of the payment date) and per store of the staff member who
/// took the payment; only the months that have payments.
pub async fn revenue_by_month<C: ConnectionTrait>(db: &C, w: &Window) -> Result<Vec<MonthStore>> {
    let (year, month) = (
        Expr::col((dim_date::Entity, dim_date::Column::Year)),
        Expr::col((dim_date::Entity, dim_date::Column::Month)),
    );
    let store = Expr::col((fact_payment::Entity, fact_payment::Column::StoreKey));
    fact_payment::Entity::find()
        .select_only()
        .column_as(year.clone(), "year")
        .column_as(month.clone(), "month")
        .column_as(store.clone(), "store_key")
        .column_as(
            cents_sum(Expr::col(fact_payment::Column::AmountCents)),
            "cents",
        )
        .join(
            JoinType::InnerJoin,
            fact_payment::Relation::PaymentDate.def(),
        )
        .filter(payments_in(w))
        .group_by(year.clone())
        .group_by(month.clone())
        .group_by(store.clone())
        .order_by(year, Order::Asc)
        .order_by(month, Order::Asc)
        .order_by(store, Order::Asc)
        .into_model::<MonthStore>()
        .all(db)
        .await
        .with_context(|| what("fact_payment"))
}

#[derive(Debug, FromQueryResult)]
pub struct CopyStore {
    /// `fact_rental.store_key` of the paid rental (the rented copy's store); `None` for a
    /// payment with no rental in the warehouse.
    pub store_key: Option<i32>,
    pub cents: i64,
}

/// Revenue by the store of the rented copy: payment -> its rental -> that rental's store.
pub async fn revenue_by_copy_store<C: ConnectionTrait>(
    db: &C,
    w: &Window,
) -> Result<Vec<CopyStore>> {
    let store = Expr::col((fact_rental::Entity, fact_rental::Column::StoreKey));
    fact_payment::Entity::find()
        .select_only()
        .column_as(store.clone(), "store_key")
        .column_as(
            cents_sum(Expr::col(fact_payment::Column::AmountCents)),
            "cents",
        )
        .join(JoinType::LeftJoin, payment_rental())
        .filter(payments_in(w))
        .group_by(store.clone())
        .order_by(store, Order::Asc)
        .into_model::<CopyStore>()
        .all(db)
        .await
        .with_context(|| what("fact_payment"))
}

/// One entry of a ranking: the member's natural id, its name, the measure.
#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct Ranked {
    pub id: i32,
    pub name: String,
    pub value: i64,
    pub is_deleted: bool,
}

/// What every top list shares: the member's id, the measure and its deleted flag selected as
/// [`Ranked`] reads them (`value`, `is_deleted`), grouped by the member (`names`: the name
/// columns the caller selects), most first, ties by id, `n` rows.
fn ranked<E: EntityTrait>(
    query: sea_orm::Select<E>,
    id: Expr,
    names: Vec<Expr>,
    deleted: Expr,
    measure: Expr,
    n: u64,
) -> sea_orm::Select<E> {
    let mut query = query
        .column_as(id.clone(), "id")
        .column_as(measure.clone(), "value")
        .column_as(deleted.clone(), "is_deleted")
        .group_by(id.clone())
        .group_by(deleted);
    for name in names {
        query = query.group_by(name);
    }
    query
        .order_by(measure, Order::Desc)
        .order_by(id, Order::Asc)
        .limit(n)
}

/// The `n` categories whose films' rentals were paid the most (payment -> rental -> film ->
/// bridge_film_category -> category), ties by `category_id`.
pub async fn top_categories<C: ConnectionTrait>(db: &C, w: &Window, n: u64) -> Result<Vec<Ranked>> {
    let id = Expr::col((dim_category::Entity, dim_category::Column::CategoryId));
    let name = Expr::col((dim_category::Entity, dim_category::Column::Name));
    let deleted = Expr::col((dim_category::Entity, dim_category::Column::IsDeleted));
    let cents = cents_sum(Expr::col((
        fact_payment::Entity,
        fact_payment::Column::AmountCents,
    )));
    let query = fact_payment::Entity::find()
        .select_only()
        .column_as(name.clone(), "name")
        .join(JoinType::InnerJoin, payment_rental())
        .join(JoinType::InnerJoin, fact_rental::Relation::Film.def())
        .join(
            JoinType::InnerJoin,
            bridge_film_category::Relation::Film.def().rev(),
        )
        .join(
            JoinType::InnerJoin,
            bridge_film_category::Relation::Category.def(),
        )
        .filter(payments_in(w));
    ranked(query, id, vec![name], deleted, cents, n)
        .into_model::<Ranked>()
        .all(db)
        .await
        .with_context(|| what("fact_payment"))
}

/// The `n` films rented most often, ties by `film_id`.
pub async fn top_films<C: ConnectionTrait>(db: &C, w: &Window, n: u64) -> Result<Vec<Ranked>> {
    let id = Expr::col((dim_film::Entity, dim_film::Column::FilmId));
    let name = Expr::col((dim_film::Entity, dim_film::Column::Title));
    let deleted = Expr::col((dim_film::Entity, dim_film::Column::IsDeleted));
    let rentals = count(Expr::col((
        fact_rental::Entity,
        fact_rental::Column::RentalId,
    )));
    let query = fact_rental::Entity::find()
        .select_only()
        .column_as(name.clone(), "name")
        .join(JoinType::InnerJoin, fact_rental::Relation::Film.def())
        .filter(rentals_in(w));
    ranked(query, id, vec![name], deleted, rentals, n)
        .into_model::<Ranked>()
        .all(db)
        .await
        .with_context(|| what("fact_rental"))
}

/// The `n` actors whose films were rented most often (each rental counts once for every
/// actor in the film's cast), ties by `actor_id`. The name is "FIRST LAST".
pub async fn top_actors<C: ConnectionTrait>(db: &C, w: &Window, n: u64) -> Result<Vec<Ranked>> {
    let id = Expr::col((dim_actor::Entity, dim_actor::Column::ActorId));
    let first = Expr::col((dim_actor::Entity, dim_actor::Column::FirstName));
    let last = Expr::col((dim_actor::Entity, dim_actor::Column::LastName));
    let deleted = Expr::col((dim_actor::Entity, dim_actor::Column::IsDeleted));
    let rentals = count(Expr::col((
        fact_rental::Entity,
        fact_rental::Column::RentalId,
    )));
    #[derive(FromQueryResult)]
    struct Actor {
        id: i32,
        first: String,
        last: String,
        value: i64,
        is_deleted: bool,
    }
    let query = fact_rental::Entity::find()
        .select_only()
        .column_as(first.clone(), "first")
        .column_as(last.clone(), "last")
        .join(JoinType::InnerJoin, fact_rental::Relation::Film.def())
        .join(
            JoinType::InnerJoin,
            bridge_film_actor::Relation::Film.def().rev(),
        )
        .join(
            JoinType::InnerJoin,
            bridge_film_actor::Relation::Actor.def(),
        )
        .filter(rentals_in(w));
    let rows = ranked(query, id, vec![first, last], deleted, rentals, n)
        .into_model::<Actor>()
        .all(db)
        .await
        .with_context(|| what("fact_rental"))?;
    Ok(rows
        .into_iter()
        .map(|a| Ranked {
            id: a.id,
            name: format!("{} {}", a.first, a.last),
            value: a.value,
            is_deleted: a.is_deleted,
        })
        .collect())
}

#[derive(Debug, FromQueryResult)]
pub struct CountryCents {
    pub country: String,
    pub cents: i64,
}

/// Revenue per customer country (`dim_customer.country`), every country with a payment.
pub async fn revenue_by_country<C: ConnectionTrait>(
    db: &C,
    w: &Window,
) -> Result<Vec<CountryCents>> {
    let country = Expr::col((dim_customer::Entity, dim_customer::Column::Country));
    fact_payment::Entity::find()
        .select_only()
        .column_as(country.clone(), "country")
        .column_as(
            cents_sum(Expr::col(fact_payment::Column::AmountCents)),
            "cents",
        )
        .join(JoinType::InnerJoin, fact_payment::Relation::Customer.def())
        .filter(payments_in(w))
        .group_by(country)
        .into_model::<CountryCents>()
        .all(db)
        .await
        .with_context(|| what("fact_payment"))
}

#[derive(Debug, FromQueryResult)]
pub struct CountryCustomers {
    pub country: String,
    pub customers: i64,
}

/// Distinct customers who rented in the window, per country. A customer has one country,
/// so the counts add up to the distinct customers of the window.
pub async fn renting_customers_by_country<C: ConnectionTrait>(
    db: &C,
    w: &Window,
) -> Result<Vec<CountryCustomers>> {
    let country = Expr::col((dim_customer::Entity, dim_customer::Column::Country));
    fact_rental::Entity::find()
        .select_only()
        .column_as(country.clone(), "country")
        .column_as(
            count_distinct(Expr::col((
                fact_rental::Entity,
                fact_rental::Column::CustomerKey,
            ))),
            "customers",
        )
        .join(JoinType::InnerJoin, fact_rental::Relation::Customer.def())
        .filter(rentals_in(w))
        .group_by(country)
        .into_model::<CountryCustomers>()
        .all(db)
        .await
        .with_context(|| what("fact_rental"))
}

/// Rentals per ISO day of the week (1 = Monday), of the rental date.
pub async fn rentals_by_weekday<C: ConnectionTrait>(db: &C, w: &Window) -> Result<[i64; 7]> {
    #[derive(FromQueryResult)]
    struct Day {
        day: i32,
        n: i64,
    }
    let day = Expr::col((dim_date::Entity, dim_date::Column::DayOfWeek));
    let rows = fact_rental::Entity::find()
        .select_only()
        .column_as(day.clone(), "day")
        .column_as(count(Expr::col(fact_rental::Column::RentalId)), "n")
        .join(JoinType::InnerJoin, fact_rental::Relation::RentalDate.def())
        .filter(rentals_in(w))
        .group_by(day)
        .into_model::<Day>()
        .all(db)
        .await
        .with_context(|| what("fact_rental"))?;
    let mut days = [0; 7];
    for d in rows {
        if let Some(slot) = usize::try_from(d.day - 1)
            .ok()
            .and_then(|i| days.get_mut(i))
        {
            *slot = d.n;
        }
    }
    Ok(days)
}

#[derive(Debug, FromQueryResult)]
pub struct StoreCopies {
    pub store_key: i32,
    pub copies: i64,
}

/// Distinct copies (`inventory_id`) with a rental, per store of the copy: in the window, or
/// (`w` = `None`) ever.
pub async fn copies_rented<C: ConnectionTrait>(
    db: &C,
    w: Option<&Window>,
) -> Result<Vec<StoreCopies>> {
    let store = Expr::col((fact_rental::Entity, fact_rental::Column::StoreKey));
    let mut q = fact_rental::Entity::find()
        .select_only()
        .column_as(store.clone(), "store_key")
        .column_as(
            count_distinct(Expr::col(fact_rental::Column::InventoryId)),
            "copies",
        )
        .group_by(store.clone())
        .order_by(store, Order::Asc);
    if let Some(w) = w {
        q = q.filter(rentals_in(w));
    }
    q.into_model::<StoreCopies>()
        .all(db)
        .await
        .with_context(|| what("fact_rental"))
}

/// The last `n` runs, newest first.
pub async fn runs<C: ConnectionTrait>(db: &C, n: u64) -> Result<Vec<sync_run::Model>> {
    sync_run::Entity::find()
        .order_by_desc(sync_run::Column::Id)
        .limit(n)
        .all(db)
        .await
        .with_context(|| what("sync_run"))
}

/// The last run that committed.
pub async fn last_success<C: ConnectionTrait>(db: &C) -> Result<Option<sync_run::Model>> {
    sync_run::Entity::find()
        .filter(sync_run::Column::Status.eq(sync_run::RunStatus::Success))
        .order_by_desc(sync_run::Column::Id)
        .one(db)
        .await
        .with_context(|| what("sync_run"))
}

/// What each source table's last load recorded.
pub async fn sync_states<C: ConnectionTrait>(db: &C) -> Result<Vec<sync_state::Model>> {
    sync_state::Entity::find()
        .order_by_asc(sync_state::Column::TableName)
        .all(db)
        .await
        .with_context(|| what("sync_state"))
}
