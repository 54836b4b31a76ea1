//! `simulate`: realistic OLTP activity on a Sakila source, through the ORM, so the incremental
//! pipeline has inserts, updates and deletes of every kind to follow.
//!
//! Every row it inserts or updates gets `last_update` = the current time (whole seconds, UTC),
//! set explicitly on both backends, as MySQL's `ON UPDATE CURRENT_TIMESTAMP` would. The one
//! exception is left to the database: deleting a rental sets its payments' `rental_id` to NULL
//! through the foreign key (`ON DELETE SET NULL`, declared on both backends; SQLite enforces it
//! because `Role::SourceWriter` connections have `foreign_keys=ON`), which does not touch their
//! `last_update`, exactly as in MySQL.
//!
//! The operations are drawn with a seeded generator; the same seed on the same database state
//! picks the same operations on the same rows (only the timestamps differ; with
//! `--dated-from` the business dates follow a calendar, and only `last_update` differs). How
//! often each kind
//! is drawn is the [`Mix`]: a shop's ordinary day by default, where renting and returning
//! dominate and a city rename or a staff member changing store is rare (one such event moves
//! every customer of the city, or every payment the staff member ever took), or `stress`,
//! where every kind of change is frequent, for tests that want each path exercised.

use std::collections::HashSet;
use std::fmt;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SubsecRound, Utc};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::data;
use super::rng::Rng;
use super::words;
use crate::source::{
    address, city, customer, film, film_actor, film_category, film_text, inventory, payment,
    rental, staff, store,
};

/// How often each kind of activity is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Mix {
    /// A shop's ordinary activity: mostly rentals, returns and payments; structural changes
    /// (cities renamed, staff moving store) a few in ten thousand operations.
    #[default]
    Shop,
    /// Every kind of change often, rare ones included: for tests of every change path.
    Stress,
}

/// The kinds of activity, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    NewRental,
    Return,
    PaymentCorrection,
    NewCustomer,
    CustomerMoves,
    CityRenamed,
    CustomerDeactivated,
    NewFilm,
    CastChange,
    PaymentDeleted,
    RentalDeleted,
    StaffMovesStore,
    InventoryMovesStore,
}

impl Op {
    pub const ALL: [Op; 13] = [
        Op::NewRental,
        Op::Return,
        Op::PaymentCorrection,
        Op::NewCustomer,
        Op::CustomerMoves,
        Op::CityRenamed,
        Op::CustomerDeactivated,
        Op::NewFilm,
        Op::CastChange,
        Op::PaymentDeleted,
        Op::RentalDeleted,
        Op::StaffMovesStore,
        Op::InventoryMovesStore,
    ];

    /// How often each kind happens under `mix`, relative to the others.
    fn weight(self, mix: Mix) -> u64 {
        match mix {
            Mix::Shop => self.shop_weight(),
            Mix::Stress => self.stress_weight(),
        }
    }

    /// Per 10,000 operations of an ordinary day: a shop mostly rents and takes returns back.
    fn shop_weight(self) -> u64 {
        match self {
            Op::NewRental => 2_500,
            Op::Return => 2_000,
            Op::PaymentCorrection => 300,
            Op::NewCustomer => 400,
            Op::CustomerMoves => 300,
            Op::CityRenamed => 2,
            Op::CustomerDeactivated => 200,
            Op::NewFilm => 20,
            Op::CastChange => 50,
            Op::PaymentDeleted => 100,
            Op::RentalDeleted => 100,
            Op::StaffMovesStore => 2,
            Op::InventoryMovesStore => 200,
        }
    }

    /// Every kind often, so that a few hundred operations exercise each change path.
    fn stress_weight(self) -> u64 {
        match self {
            Op::NewRental => 24,
            Op::Return => 18,
            Op::PaymentCorrection => 8,
            Op::NewCustomer => 6,
            Op::CustomerMoves => 6,
            Op::CityRenamed => 3,
            Op::CustomerDeactivated => 4,
            Op::NewFilm => 3,
            Op::CastChange => 6,
            Op::PaymentDeleted => 5,
            Op::RentalDeleted => 5,
            Op::StaffMovesStore => 2,
            Op::InventoryMovesStore => 6,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Op::NewRental => "new rentals (with payment)",
            Op::Return => "returns",
            Op::PaymentCorrection => "payment corrections",
            Op::NewCustomer => "new customers",
            Op::CustomerMoves => "customers moving address",
            Op::CityRenamed => "cities renamed",
            Op::CustomerDeactivated => "customers deactivated",
            Op::NewFilm => "new films (cast, category, copies)",
            Op::CastChange => "cast changes",
            Op::PaymentDeleted => "payments deleted",
            Op::RentalDeleted => "rentals deleted",
            Op::StaffMovesStore => "staff moving store",
            Op::InventoryMovesStore => "inventory moving store",
        }
    }

    fn draw(rng: &mut Rng, mix: Mix) -> Op {
        let total: u64 = Op::ALL.iter().map(|o| o.weight(mix)).sum();
        let mut x = rng.below(total);
        for op in Op::ALL {
            if x < op.weight(mix) {
                return op;
            }
            x -= op.weight(mix);
        }
        unreachable!("weights add up to total")
    }
}

/// What `simulate` did.
#[derive(Clone, Debug)]
pub struct SimulateReport {
    pub seed: u64,
    pub mix: Mix,
    pub requested: u32,
    /// Operations applied, per kind (every kind listed, in [`Op::ALL`] order).
    pub applied: Vec<(Op, u32)>,
    /// Operations drawn that found nothing to act on (e.g. a return with no rental out).
    pub skipped: u32,
    /// How the writers behaved (see [`Writers`]).
    pub writers: Writers,
    /// Transactions held open for [`Writers::hold`] before they ended.
    pub held: u32,
    /// Transactions rolled back on purpose; their operations are not counted as applied.
    pub rolled_back: u32,
    /// Transactions the server rolled back because two writers collided (a deadlock, a lock
    /// wait timeout, a duplicate key); their operations are not counted as applied either.
    pub conflicts: u32,
    pub seconds: f64,
}

impl SimulateReport {
    pub fn count(&self, op: Op) -> u32 {
        self.applied
            .iter()
            .find(|(o, _)| *o == op)
            .map_or(0, |(_, n)| *n)
    }

    pub fn total(&self) -> u32 {
        self.applied.iter().map(|(_, n)| n).sum()
    }
}

impl fmt::Display for SimulateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulated {} of {} operations (seed {}, {} mix) in {:.1} s:",
            self.total(),
            self.requested,
            self.seed,
            match self.mix {
                Mix::Shop => "shop",
                Mix::Stress => "stress",
            },
            self.seconds
        )?;
        for (op, n) in &self.applied {
            writeln!(f, "  {:<36} {n:>8}", op.label())?;
        }
        write!(
            f,
            "  {:<36} {:>8}",
            "skipped (nothing to act on)", self.skipped
        )?;
        let w = &self.writers;
        if w.workers > 1 || w.long_share > 0.0 || w.rollback_share > 0.0 {
            write!(
                f,
                "\n  {} writers; transactions: {} held open {:?}, {} rolled back, {} lost to conflicts",
                w.workers, self.held, w.hold, self.rolled_back, self.conflicts
            )?;
        }
        Ok(())
    }
}

/// How the simulated application writes: how many connections at once, and how their
/// transactions behave. The default is one writer committing every transaction at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Writers {
    /// Connections writing at the same time, each with its own transactions (MySQL and
    /// MariaDB only: SQLite has one writer). Each returns its own share of the rentals out.
    pub workers: u32,
    /// Operations per transaction.
    pub ops_per_transaction: u32,
    /// Share of transactions (0 to 1) that stay open for [`Writers::hold`] halfway through,
    /// as a reporting job or an idle pooled connection does: they span sync runs.
    pub long_share: f64,
    /// How long a long transaction stays open.
    pub hold: std::time::Duration,
    /// Share of transactions (0 to 1) rolled back instead of committed.
    pub rollback_share: f64,
    /// When set, the business dates of new rows (rentals, returns, payments, new customers)
    /// follow a calendar from 10:00 that day, [`CALENDAR_STEP`] apart per operation, instead
    /// of the wall clock: the same seed then writes the same values. `last_update` is always
    /// the wall clock, as the server would stamp it (incremental reads it).
    pub dated_from: Option<NaiveDate>,
}

/// How far the calendar of [`Writers::dated_from`] moves per operation: 500 operations are
/// a shop's day.
pub const CALENDAR_STEP: chrono::Duration = chrono::Duration::seconds(67);

impl Default for Writers {
    fn default() -> Self {
        Self {
            workers: 1,
            ops_per_transaction: OPS_PER_TRANSACTION,
            long_share: 0.0,
            hold: std::time::Duration::ZERO,
            rollback_share: 0.0,
            dated_from: None,
        }
    }
}

/// Operations per transaction: a failure loses at most this many, and locks stay short.
const OPS_PER_TRANSACTION: u32 = 500;
/// Random picks tried before an operation gives up on finding a row to act on.
const TRIES: usize = 20;

/// A rental still out: what a return needs to know.
#[derive(Clone, Copy, Debug)]
struct Out {
    rental_id: i32,
    inventory_id: u32,
    customer_id: u32,
    staff_id: u32,
    rental_date: NaiveDateTime,
}

/// What the simulation keeps in memory between operations: id ranges to draw from and the
/// rentals still out (at scale 100 about 25,000). Each writer has its own.
#[derive(Clone)]
struct State {
    rng: Rng,
    out: Vec<Out>,
    copies_out: HashSet<u32>,
    /// (copy, customer) pairs rented by this run: a copy is not rented to the same customer
    /// twice in one run, which rental's UNIQUE (rental_date, inventory_id, customer_id) could
    /// refuse within one second. A rule on the pair, not on the clock, so that a seed gives
    /// the same rentals however fast the run goes.
    rented_to: HashSet<(u32, u32)>,
    /// The calendar of [`Writers::dated_from`]: the next business time, or `None` for the
    /// wall clock.
    calendar: Option<NaiveDateTime>,
    /// Which mix draws the operations: under `shop`, a staff member moves only from a store
    /// that keeps another.
    mix: Mix,
    stores: Vec<u32>,
    max_customer: u32,
    max_payment: u32,
    max_rental: i32,
    max_city: u32,
    max_film: u32,
    max_actor: u32,
    max_category: u32,
    max_inventory: u32,
    max_staff: u32,
}

async fn max_id<E, C, T>(db: &C, col: E::Column) -> Result<T>
where
    E: EntityTrait,
    C: ConnectionTrait,
    T: sea_orm::TryGetable + Default,
{
    let v: Option<Option<T>> = E::find()
        .select_only()
        .column_as(col.max(), "m")
        .into_tuple()
        .one(db)
        .await
        .with_context(|| format!("cannot read source table {}", E::default().table_name()))?;
    Ok(v.flatten().unwrap_or_default())
}

impl State {
    async fn load<C: ConnectionTrait>(db: &C, seed: u64) -> Result<Self> {
        let out: Vec<(i32, u32, u32, u32, NaiveDateTime)> = rental::Entity::find()
            .select_only()
            .columns([
                rental::Column::RentalId,
                rental::Column::InventoryId,
                rental::Column::CustomerId,
                rental::Column::StaffId,
                rental::Column::RentalDate,
            ])
            .filter(rental::Column::ReturnDate.is_null())
            .order_by_asc(rental::Column::RentalId)
            .into_tuple()
            .all(db)
            .await
            .context("cannot read source table rental")?;
        let out: Vec<Out> = out
            .into_iter()
            .map(
                |(rental_id, inventory_id, customer_id, staff_id, rental_date)| Out {
                    rental_id,
                    inventory_id,
                    customer_id,
                    staff_id,
                    rental_date,
                },
            )
            .collect();
        let stores: Vec<u32> = store::Entity::find()
            .select_only()
            .column(store::Column::StoreId)
            .order_by_asc(store::Column::StoreId)
            .into_tuple()
            .all(db)
            .await
            .context("cannot read source table store")?;
        Ok(State {
            rng: Rng::stream(seed, "simulate"),
            copies_out: out.iter().map(|o| o.inventory_id).collect(),
            rented_to: HashSet::new(),
            calendar: None,
            mix: Mix::Shop,
            out,
            stores,
            max_customer: max_id::<customer::Entity, _, _>(db, customer::Column::CustomerId)
                .await?,
            max_payment: max_id::<payment::Entity, _, _>(db, payment::Column::PaymentId).await?,
            max_rental: max_id::<rental::Entity, _, _>(db, rental::Column::RentalId).await?,
            max_city: max_id::<city::Entity, _, _>(db, city::Column::CityId).await?,
            max_film: max_id::<film::Entity, _, _>(db, film::Column::FilmId).await?,
            max_actor: max_id::<crate::source::actor::Entity, _, _>(
                db,
                crate::source::actor::Column::ActorId,
            )
            .await?,
            max_category: max_id::<crate::source::category::Entity, _, _>(
                db,
                crate::source::category::Column::CategoryId,
            )
            .await?,
            max_inventory: max_id::<inventory::Entity, _, _>(db, inventory::Column::InventoryId)
                .await?,
            max_staff: max_id::<staff::Entity, _, _>(db, staff::Column::StaffId).await?,
        })
    }

    /// When the current operation happens in the shop's business: the next step of the
    /// calendar, or the wall clock.
    fn business_time(&mut self) -> NaiveDateTime {
        match &mut self.calendar {
            Some(next) => {
                let at = *next;
                *next += CALENDAR_STEP;
                at
            }
            None => now().naive_utc(),
        }
    }

    fn id(&mut self, max: u32) -> Option<u32> {
        (max > 0).then(|| self.rng.range(1, max as i64) as u32)
    }

    fn other_store(&mut self, current: u32) -> Option<u32> {
        let others: Vec<u32> = self
            .stores
            .iter()
            .copied()
            .filter(|&x| x != current)
            .collect();
        (!others.is_empty()).then(|| *self.rng.pick(&others))
    }
}

/// The current time as MySQL's `CURRENT_TIMESTAMP` gives it: UTC, whole seconds.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// Applies `ops` operations drawn with `seed` from `mix` to the Sakila database `db` and
/// reports them: one writer, committing every `OPS_PER_TRANSACTION` operations.
pub async fn simulate(
    db: &DatabaseConnection,
    ops: u32,
    seed: u64,
    mix: Mix,
) -> Result<SimulateReport> {
    simulate_with(db, ops, seed, mix, Writers::default()).await
}

/// [`simulate`] with several writers at once, long transactions and rollbacks. With one
/// writer and neither, the same seed on the same data applies the same operations; with
/// several, each writer draws its own operations from the seed, and how they interleave is
/// up to the server.
pub async fn simulate_with(
    db: &DatabaseConnection,
    ops: u32,
    seed: u64,
    mix: Mix,
    writers: Writers,
) -> Result<SimulateReport> {
    let started = Instant::now();
    ensure!(writers.workers >= 1, "simulate needs at least one writer");
    ensure!(
        writers.workers == 1 || db.get_database_backend() != sea_orm::DbBackend::Sqlite,
        "a SQLite database has one writer at a time: --workers above 1 needs a MySQL or MariaDB database"
    );
    let mut state = State::load(db, seed).await?;
    state.mix = mix;
    state.calendar = writers.dated_from.and_then(|d| d.and_hms_opt(10, 0, 0));
    ensure!(
        state.max_customer > 0 && state.max_inventory > 0 && !state.stores.is_empty(),
        "the source has no customers, inventory or stores to simulate activity on (run generate first)"
    );
    let n = writers.workers;
    let jobs = (0..n).map(|w| {
        let mut mine = state.clone();
        if n > 1 {
            // Each writer returns only its own rentals, so no rental is returned twice.
            mine.out
                .retain(|o| o.rental_id.rem_euclid(n as i32) == w as i32);
            mine.copies_out = mine.out.iter().map(|o| o.inventory_id).collect();
        }
        if w > 0 {
            mine.rng = Rng::stream(seed, &format!("simulate/writer {w}"));
        }
        let share = ops / n + u32::from(w < ops % n);
        write(db, mine, share, mix, writers)
    });
    let mut total = Tally::default();
    for t in futures::future::try_join_all(jobs).await? {
        total.add(&t);
    }
    Ok(SimulateReport {
        seed,
        mix,
        requested: ops,
        applied: Op::ALL.iter().copied().zip(total.applied).collect(),
        skipped: total.skipped,
        writers,
        held: total.held,
        rolled_back: total.rolled_back,
        conflicts: total.conflicts,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What one writer did.
#[derive(Clone, Debug)]
struct Tally {
    applied: Vec<u32>,
    skipped: u32,
    held: u32,
    rolled_back: u32,
    conflicts: u32,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            applied: vec![0; Op::ALL.len()],
            skipped: 0,
            held: 0,
            rolled_back: 0,
            conflicts: 0,
        }
    }
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        for (a, b) in self.applied.iter_mut().zip(&other.applied) {
            *a += b;
        }
        self.skipped += other.skipped;
        self.held += other.held;
        self.rolled_back += other.rolled_back;
        self.conflicts += other.conflicts;
    }
}

/// One writer: `ops` operations, transaction by transaction.
async fn write(
    db: &DatabaseConnection,
    mut state: State,
    ops: u32,
    mix: Mix,
    writers: Writers,
) -> Result<Tally> {
    let mut total = Tally::default();
    let mut done = 0;
    while done < ops {
        let chunk = writers.ops_per_transaction.max(1).min(ops - done);
        // Drawn only when asked for, so that the default keeps the operations a seed gives.
        let hold = writers.long_share > 0.0 && state.rng.chance(writers.long_share);
        let roll_back = writers.rollback_share > 0.0 && state.rng.chance(writers.rollback_share);
        let before = state.clone();
        let mut this = Tally::default();
        let txn = db
            .begin()
            .await
            .context("cannot start a transaction on the source")?;
        let outcome = async {
            for i in 0..chunk {
                if hold && i == chunk / 2 {
                    tokio::time::sleep(writers.hold).await;
                }
                let op = Op::draw(&mut state.rng, mix);
                let ok = apply(&txn, &mut state, op)
                    .await
                    .with_context(|| format!("simulate: {}", op.label()))?;
                if ok {
                    this.applied[Op::ALL.iter().position(|o| *o == op).expect("listed")] += 1;
                } else {
                    this.skipped += 1;
                }
            }
            Ok::<_, anyhow::Error>(())
        }
        .await;
        this.held = u32::from(hold);
        match outcome {
            Ok(()) if roll_back => {
                txn.rollback()
                    .await
                    .context("cannot roll back the simulated activity")?;
                state.forget_since(before);
                total.held += this.held;
                total.rolled_back += 1;
            }
            Ok(()) => {
                txn.commit()
                    .await
                    .context("cannot commit the simulated activity")?;
                total.add(&this);
            }
            // Only other writers can collide with this one: alone, any error is a real one.
            Err(e) if writers.workers > 1 && is_conflict(&e) => {
                tracing::debug!("simulate: a transaction collided with another writer: {e:#}");
                txn.rollback().await.ok();
                state.forget_since(before);
                total.held += this.held;
                total.conflicts += 1;
            }
            Err(e) => return Err(e),
        }
        done += chunk;
    }
    Ok(total)
}

impl State {
    /// After a rollback: back to `before`, but the generator goes on (the next transaction
    /// draws new operations).
    fn forget_since(&mut self, before: State) {
        let rng = self.rng.clone();
        *self = before;
        self.rng = rng;
    }
}

/// Whether an error is two writers colliding, which the server resolves by rolling one
/// transaction back: a deadlock, a lock wait timeout, or a duplicate key (two writers renting
/// the same copy to the same customer in the same second).
fn is_conflict(e: &anyhow::Error) -> bool {
    use sea_orm::{DbErr, RuntimeErr, SqlErr};
    e.chain().any(|cause| {
        let Some(db) = cause.downcast_ref::<DbErr>() else {
            return false;
        };
        if matches!(db.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
            return true;
        }
        let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = db
        else {
            return false;
        };
        e.as_database_error()
            .and_then(|d| d.try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>())
            .is_some_and(|m| matches!(m.number(), 1205 | 1213))
    })
}

/// Applies one operation; `false` when it found nothing to act on.
async fn apply(txn: &DatabaseTransaction, s: &mut State, op: Op) -> Result<bool> {
    match op {
        Op::NewRental => new_rental(txn, s).await,
        Op::Return => return_rental(txn, s).await,
        Op::PaymentCorrection => correct_payment(txn, s).await,
        Op::NewCustomer => new_customer(txn, s).await,
        Op::CustomerMoves => customer_moves(txn, s).await,
        Op::CityRenamed => rename_city(txn, s).await,
        Op::CustomerDeactivated => deactivate_customer(txn, s).await,
        Op::NewFilm => new_film(txn, s).await,
        Op::CastChange => change_cast(txn, s).await,
        Op::PaymentDeleted => delete_payment(txn, s).await,
        Op::RentalDeleted => delete_rental(txn, s).await,
        Op::StaffMovesStore => staff_moves(txn, s).await,
        Op::InventoryMovesStore => inventory_moves(txn, s).await,
    }
}

/// A random existing row of `E` with an id in `1..=max` matching `ok`, after a few tries
/// (ids of deleted rows are skipped).
async fn pick<E, C, F>(db: &C, rng: &mut Rng, max: u32, ok: F) -> Result<Option<E::Model>>
where
    E: EntityTrait,
    C: ConnectionTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<u32>,
    F: Fn(&E::Model) -> bool,
{
    if max == 0 {
        return Ok(None);
    }
    for _ in 0..TRIES {
        let id = rng.range(1, max as i64) as u32;
        let row = E::find_by_id(id)
            .one(db)
            .await
            .with_context(|| format!("cannot read source table {}", E::default().table_name()))?;
        if let Some(row) = row.filter(|r| ok(r)) {
            return Ok(Some(row));
        }
    }
    Ok(None)
}

async fn film_of_copy<C: ConnectionTrait>(
    db: &C,
    inventory_id: u32,
) -> Result<Option<film::Model>> {
    let Some(copy) = inventory::Entity::find_by_id(inventory_id)
        .one(db)
        .await
        .context("cannot read source table inventory")?
    else {
        return Ok(None);
    };
    film::Entity::find_by_id(copy.film_id)
        .one(db)
        .await
        .context("cannot read source table film")
}

async fn new_rental(txn: &DatabaseTransaction, s: &mut State) -> Result<bool> {
    let (t, at) = (now(), s.business_time());
    let Some(copy) = pick::<inventory::Entity, _, _>(txn, &mut s.rng, s.max_inventory, |i| {
        !s.copies_out.contains(&i.inventory_id)
    })
    .await?
    else {
        return Ok(false);
    };
    let Some(cust) =
        pick::<customer::Entity, _, _>(txn, &mut s.rng, s.max_customer, |c| c.active).await?
    else {
        return Ok(false);
    };
    if !s.rented_to.insert((copy.inventory_id, cust.customer_id)) {
        return Ok(false);
    }
    let staff: Vec<u32> = staff::Entity::find()
        .select_only()
        .column(staff::Column::StaffId)
        .filter(staff::Column::StoreId.eq(copy.store_id))
        .filter(staff::Column::Active.eq(true))
        .order_by_asc(staff::Column::StaffId)
        .into_tuple()
        .all(txn)
        .await
        .context("cannot read source table staff")?;
    let staff_id = match staff.as_slice() {
        [] => match pick::<staff::Entity, _, _>(txn, &mut s.rng, s.max_staff, |_| true).await? {
            Some(st) => st.staff_id,
            None => return Ok(false),
        },
        list => *s.rng.pick(list),
    };
    let Some(f) = film::Entity::find_by_id(copy.film_id)
        .one(txn)
        .await
        .context("cannot read source table film")?
    else {
        return Ok(false);
    };
    let r = rental::ActiveModel {
        rental_id: NotSet,
        rental_date: Set(at),
        inventory_id: Set(copy.inventory_id),
        customer_id: Set(cust.customer_id),
        return_date: Set(None),
        staff_id: Set(staff_id),
        last_update: Set(t),
    };
    let rental_id = rental::Entity::insert(r)
        .exec(txn)
        .await
        .context("cannot insert a rental")?
        .last_insert_id;
    // Paid up front at the film's rate; a late return adds a fee.
    let p = payment::ActiveModel {
        payment_id: NotSet,
        customer_id: Set(cust.customer_id),
        staff_id: Set(staff_id),
        rental_id: Set(Some(rental_id)),
        amount: Set(f.rental_rate),
        payment_date: Set(at),
        last_update: Set(Some(t)),
    };
    let payment_id = payment::Entity::insert(p)
        .exec(txn)
        .await
        .context("cannot insert a payment")?
        .last_insert_id;
    s.max_rental = s.max_rental.max(rental_id);
    s.max_payment = s.max_payment.max(payment_id);
    s.out.push(Out {
        rental_id,
        inventory_id: copy.inventory_id,
        customer_id: cust.customer_id,
        staff_id,
        rental_date: at,
    });
    s.copies_out.insert(copy.inventory_id);
    Ok(true)
}

fn forget_out(s: &mut State, index: usize) {
    let o = s.out.swap_remove(index);
    s.copies_out.remove(&o.inventory_id);
}

async fn return_rental(txn: &DatabaseTransaction, s: &mut State) -> Result<bool> {
    if s.out.is_empty() {
        return Ok(false);
    }
    let i = s.rng.below(s.out.len() as u64) as usize;
    let o = s.out[i];
    forget_out(s, i);
    let (t, at) = (now(), s.business_time());
    let res = rental::Entity::update_many()
        .col_expr(rental::Column::ReturnDate, at.into())
        .col_expr(rental::Column::LastUpdate, t.into())
        .filter(rental::Column::RentalId.eq(o.rental_id))
        .exec(txn)
        .await
        .context("cannot update a rental")?;
    if res.rows_affected == 0 {
        return Ok(false); // deleted meanwhile
    }
    let Some(f) = film_of_copy(txn, o.inventory_id).await? else {
        return Ok(true);
    };
    let paid = payment::Entity::find()
        .filter(payment::Column::RentalId.eq(o.rental_id))
        .count(txn)
        .await
        .context("cannot read source table payment")?;
    let days = (at - o.rental_date).num_days().max(0);
    let late = days - f.rental_duration as i64;
    let amount = if paid == 0 {
        // Never paid (a rental from the generated history): the whole bill.
        Some(data::amount(
            crate::star::transform::cents(f.rental_rate)
                .with_context(|| format!("film {}: rental_rate", f.film_id))?,
            f.rental_duration,
            days,
        ))
    } else if late > 0 {
        Some(Decimal::new(late.min(11) * 100, 2))
    } else {
        None
    };
    if let Some(amount) = amount {
        let p = payment::ActiveModel {
            payment_id: NotSet,
            customer_id: Set(o.customer_id),
            staff_id: Set(o.staff_id),
            rental_id: Set(Some(o.rental_id)),
            amount: Set(amount),
            payment_date: Set(at),
            last_update: Set(Some(t)),
        };
        let id = payment::Entity::insert(p)
            .exec(txn)
            .await
            .context("cannot insert a payment")?
            .last_insert_id;
        s.max_payment = s.max_payment.max(id);
    }
    Ok(true)
}

/// Whether an update of a row picked earlier in the transaction found it: another writer may
/// have deleted it since (a payment, with its rental), which skips the operation rather than
/// failing the simulation.
fn updated<M>(result: std::result::Result<M, sea_orm::DbErr>, what: &'static str) -> Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(sea_orm::DbErr::RecordNotUpdated) => Ok(false),
        Err(e) => Err(e).context(what),
    }
}

async fn correct_payment(txn: &DatabaseTransaction, s: &mut State) -> Result<bool> {
    let Some(p) = pick::<payment::Entity, _, _>(txn, &mut s.rng, s.max_payment, |_| true).await?
    else {
        return Ok(false);
    };
    let cents = crate::star::transform::cents(p.amount)
        .with_context(|| format!("payment {}: amount", p.payment_id))?;
    let delta = if s.rng.chance(0.5) { 100 } else { -100 };
    let new = if (99..=1199).contains(&(cents + delta)) {
        cents + delta
    } else {
        cents - delta
    };
    let mut am = p.into_active_model();
    am.amount = Set(Decimal::new(new, 2));
    am.last_update = Set(Some(now()));
    updated(am.update(txn).await, "cannot update a payment")
}

async fn insert_address(txn: &DatabaseTransaction, s: &mut State) -> Result<u32> {
    let mut am = data::address(&mut s.rng, 0, now()).into_active_model();
    am.address_id = NotSet;
    Ok(address::Entity::insert(am)
        .exec(txn)
        .await
        .context("cannot insert an address")?
        .last_insert_id)
}

async fn new_customer(txn: &DatabaseTransaction, s: &mut State) -> Result<bool> {
    let address_id = insert_address(txn, s).await?;
    let store_id = s.stores[s.rng.below(s.stores.len() as u64) as usize];
    let (t, at) = (now(), s.business_time());
    let mut am = data::customer(&mut s.rng, 0, store_id, address_id, at).into_active_model();
    am.customer_id = NotSet;
    am.last_update = Set(Some(t));
    let id = customer::Entity::insert(am)
        .exec(txn)
        .await
        .context("cannot insert a customer")?
        .last_insert_id;
    s.max_customer = s.max_customer.max(id);
    Ok(true)
}

async fn customer_moves(txn: &DatabaseTransaction, s: &mut State) -> Result<bool> {
    let Some(c) = pick::<customer::Entity, _, _>(txn, &mut s.rng, s.max_customer, |_| true).await?
    else {
        return Ok(false);
    };
    let address_id = insert_address(txn, s).await?;
    let mut am = c.into_active_model();
    am.address_id = Set(address_id);
    am.last_update = Set(Some(now()));
    updated(am.update(txn).await, "cannot update a customer")
}

async fn rename_city(txn: &DatabaseTransaction, s: &mut State) -> Result<bool> {
    let Some(c) = pick::<city::Entity, _, _>(txn, &mut s.rng, s.max_city, |_| true).await? else {
        return Ok(false);
    };
    let name = loop {
        let n = format!(
            "{}{}",
            s.rng.pick(&words::CITY_PREFIXES),
            s.rng.pick(&words::CITY_SUFFIXES)
        );
        if n != c.city {
            break n;
        }
    };
    let mut am = c.into_active_model();
    am.city = Set(name);
    am.last_update = Set(now());
    updated(am.update(txn).await, "cannot update a city")
}

async fn deactivate_customer(txn: &DatabaseTransaction, s: &mut State) -> Result<bool> {
    let Some(c) =
        pick::<customer::Entity, _, _>(txn, &mut s.rng, s.max_customer, |c| c.active).await?
    else {
        return Ok(false);
    };
    let mut am = c.into_active_model();
    am.active = Set(false);
    am.last_update = Set(Some(now()));
    updated(am.update(txn).await, "cannot update a customer")
}

async fn new_film(txn: &DatabaseTransaction, s: &mut State) -> Result<bool> {
    let t = now();
    let title = format!(
        "{} {}",
        s.rng.pick(&words::TITLE_FIRST),
        s.rng.pick(&words::TITLE_SECOND)
    );
    let mut f = data::film(&mut s.rng, 0, title, t);
    f.release_year = Some(s.business_time().year() as u32);
    let mut am = f.clone().into_active_model();
    am.film_id = NotSet;
    let film_id = film::Entity::insert(am)
        .exec(txn)
        .await
        .context("cannot insert a film")?
        .last_insert_id;
    f.film_id = film_id;
    // What MySQL's film_text trigger does; on the real Sakila schema the trigger has already
    // written the row, so an existing one is left alone.
    film_text::Entity::insert(data::film_text_of(&f).into_active_model())
        .on_conflict_do_nothing_on([film_text::Column::FilmId])
        .exec_without_returning(txn)
        .await
        .context("cannot insert a film_text row")?;
    let n = s.rng.range(1, 10) as u32;
    let cast = data::cast(&mut s.rng, s.max_actor, n);
    if !cast.is_empty() {
        film_actor::Entity::insert_many(cast.into_iter().map(|actor_id| film_actor::ActiveModel {
            actor_id: Set(actor_id),
            film_id: Set(film_id),
            last_update: Set(t),
        }))
        .exec_without_returning(txn)
        .await
        .context("cannot insert film_actor rows")?;
    }
    if s.max_category > 0 {
        let category_id = s.rng.range(1, s.max_category as i64) as u32;
        film_category::Entity::insert(film_category::ActiveModel {
            film_id: Set(film_id),
            category_id: Set(category_id),
            last_update: Set(t),
        })
        .exec_without_returning(txn)
        .await
        .context("cannot insert a film_category row")?;
    }
    // A few copies, so the new film can be rented.
    for _ in 0..s.rng.range(1, 3) {
        let store_id = s.stores[s.rng.below(s.stores.len() as u64) as usize];
        let id = inventory::Entity::insert(inventory::ActiveModel {
            inventory_id: NotSet,
            film_id: Set(film_id),
            store_id: Set(store_id),
            last_update: Set(t),
        })
        .exec(txn)
        .await
        .context("cannot insert an inventory copy")?
        .last_insert_id;
        s.max_inventory = s.max_inventory.max(id);
    }
    s.max_film = s.max_film.max(film_id);
    Ok(true)
}

async fn change_cast(txn: &DatabaseTransaction, s: &mut State) -> Result<bool> {
    let Some(f) = pick::<film::Entity, _, _>(txn, &mut s.rng, s.max_film, |_| true).await? else {
        return Ok(false);
    };
    let cast: Vec<u32> = film_actor::Entity::find()
        .select_only()
        .column(film_actor::Column::ActorId)
        .filter(film_actor::Column::FilmId.eq(f.film_id))
        .order_by_asc(film_actor::Column::ActorId)
        .into_tuple()
        .all(txn)
        .await
        .context("cannot read source table film_actor")?;
    if cast.len() > 1 && s.rng.chance(0.5) {
        let actor_id = *s.rng.pick(&cast);
        film_actor::Entity::delete_by_id((actor_id, f.film_id))
            .exec(txn)
            .await
            .context("cannot delete a film_actor row")?;
        return Ok(true);
    }
    for _ in 0..TRIES {
        let Some(actor_id) = s.id(s.max_actor) else {
            return Ok(false);
        };
        if !cast.contains(&actor_id) {
            film_actor::Entity::insert(film_actor::ActiveModel {
                actor_id: Set(actor_id),
                film_id: Set(f.film_id),
                last_update: Set(now()),
            })
            .exec_without_returning(txn)
            .await
            .context("cannot insert a film_actor row")?;
            return Ok(true);
        }
    }
    Ok(false)
}

async fn delete_payment(txn: &DatabaseTransaction, s: &mut State) -> Result<bool> {
    let Some(p) = pick::<payment::Entity, _, _>(txn, &mut s.rng, s.max_payment, |_| true).await?
    else {
        return Ok(false);
    };
    payment::Entity::delete_by_id(p.payment_id)
        .exec(txn)
        .await
        .context("cannot delete a payment")?;
    Ok(true)
}

async fn delete_rental(txn: &DatabaseTransaction, s: &mut State) -> Result<bool> {
    for _ in 0..TRIES {
        if s.max_rental < 1 {
            return Ok(false);
        }
        let id = s.rng.range(1, s.max_rental as i64) as i32;
        // Its payments keep their row; the foreign key sets their rental_id to NULL.
        let res = rental::Entity::delete_by_id(id)
            .exec(txn)
            .await
            .context("cannot delete a rental")?;
        if res.rows_affected > 0 {
            if let Some(i) = s.out.iter().position(|o| o.rental_id == id) {
                forget_out(s, i);
            }
            return Ok(true);
        }
    }
    Ok(false)
}

async fn staff_moves(txn: &DatabaseTransaction, s: &mut State) -> Result<bool> {
    let Some(st) = pick::<staff::Entity, _, _>(txn, &mut s.rng, s.max_staff, |_| true).await?
    else {
        return Ok(false);
    };
    if s.mix == Mix::Shop {
        // A shop does not leave a store without staff: at scale 1 (one member per store) the
        // move would hand the other store's whole payment history to this one, since payments
        // count for the store their staff member works at now.
        let colleagues = staff::Entity::find()
            .filter(staff::Column::StoreId.eq(st.store_id))
            .filter(staff::Column::StaffId.ne(st.staff_id))
            .filter(staff::Column::Active.eq(true))
            .count(txn)
            .await
            .context("cannot read source table staff")?;
        if colleagues == 0 {
            return Ok(false);
        }
    }
    let Some(store_id) = s.other_store(st.store_id) else {
        return Ok(false);
    };
    staff::Entity::update_many()
        .col_expr(staff::Column::StoreId, store_id.into())
        .col_expr(staff::Column::LastUpdate, now().into())
        .filter(staff::Column::StaffId.eq(st.staff_id))
        .exec(txn)
        .await
        .context("cannot update a staff member")?;
    Ok(true)
}

async fn inventory_moves(txn: &DatabaseTransaction, s: &mut State) -> Result<bool> {
    let Some(i) = pick::<inventory::Entity, _, _>(txn, &mut s.rng, s.max_inventory, |i| {
        !s.copies_out.contains(&i.inventory_id)
    })
    .await?
    else {
        return Ok(false);
    };
    let Some(store_id) = s.other_store(i.store_id) else {
        return Ok(false);
    };
    let mut am = i.into_active_model();
    am.store_id = Set(store_id);
    am.last_update = Set(now());
    updated(am.update(txn).await, "cannot update an inventory copy")
}

#[cfg(test)]
mod tests {
    use super::{Mix, Op, Rng, updated};

    #[test]
    fn an_update_of_a_row_deleted_meanwhile_is_skipped_not_fatal() {
        assert!(updated(Ok(()), "x").unwrap());
        assert!(!updated::<()>(Err(sea_orm::DbErr::RecordNotUpdated), "x").unwrap());
        let err =
            updated::<()>(Err(sea_orm::DbErr::Custom("boom".into())), "cannot update").unwrap_err();
        assert_eq!(format!("{err:#}"), "cannot update: Custom Error: boom");
    }

    fn share(mix: Mix, op: Op) -> f64 {
        let mut rng = Rng::stream(7, "mix");
        let n = 100_000;
        let hits = (0..n).filter(|_| Op::draw(&mut rng, mix) == op).count();
        hits as f64 / n as f64
    }

    #[test]
    fn a_shop_day_is_mostly_rentals_and_structural_changes_are_rare() {
        assert!(share(Mix::Shop, Op::NewRental) > 0.3);
        for rare in [Op::CityRenamed, Op::StaffMovesStore] {
            let s = share(Mix::Shop, rare);
            assert!(s > 0.0 && s < 0.001, "{rare:?}: {s}");
            // The stress mix draws them often enough for a few hundred operations to hit them.
            assert!(share(Mix::Stress, rare) > 0.01, "{rare:?} under stress");
        }
    }
}
