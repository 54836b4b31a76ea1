//! `incremental`: load only what changed, and end exactly where a `full-load` of the same
//! source state would (surrogate key values aside).
//!
//! A timestamp filter alone cannot promise that, so a run builds a change plan per table:
//!
//! 0. **Quiet tables** (see [`super::quiet`]): a source table no transaction has changed since
//!    the previous run's snapshot is skipped outright.
//! 1. **Own changes** of the dimensions and lookup tables: rows stamped after the table's
//!    watermark, or from the previous run's horizon on (every transaction that snapshot
//!    missed started at or after it, however long it stayed open: see [`super::horizon`]),
//!    less the lookback as a margin for stamps not written by the server's clock (`window`). Every candidate is read, even one
//!    whose `last_update` the warehouse already holds: inside the window an equal stamp proves
//!    nothing (`Plan::recheck_from`). Re-read rows are compared with their warehouse row, so
//!    the overlap costs reads, not writes.
//! 2. **Facts** are compared row by row, by version: one ordered pass over `(id,
//!    last_update)` of the source table and of the fact table, merged ([`super::versions`]),
//!    gives the new, changed and deleted ids at once, whatever their timestamps (a back-dated
//!    insert and a delete that leave the row count unchanged included); rows stamped within
//!    the lookback window count as changed even under the loaded version, as in step 1. It
//!    costs one scan of each side, the same as finding changes by an unindexed `last_update`
//!    and counting rows.
//! 3. **Derived changes**: a changed country reaches its cities, addresses, then customers and
//!    stores; a changed language reaches its films; a staff member moving store reaches every
//!    payment they took; an inventory copy moving reaches its rentals.
//! 4. **Deletes** of dimensions and bridges: key sets are compared (they are small). Deleting
//!    a rental nulls `payment.rental_id` without touching the payment's `last_update`:
//!    payments pointing at deleted rentals are re-read.
//!
//! Everything runs in one warehouse transaction that also advances `sync_state`: a killed run
//! leaves the previous state, and the next run converges.

mod changes;
mod dimensions;
mod facts;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use anyhow::Result;
use chrono::{NaiveDateTime, Timelike};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, Value,
};

use super::dims::{self, IN_CHUNK};
use super::extract::{Marks, read_error};
use super::run::{RunReport, Tracker};
use super::{full_load, run, state};
use crate::db::{self, SourceDb};
use crate::source::{address, city, country, language};
use crate::star::Keys;
use crate::star::{self, Dimension};
use crate::warehouse::bulk_read;
use crate::warehouse::schema;

/// How far before each watermark a run looks again.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub lookback: chrono::Duration,
    /// How many changed rentals are read from the source before the payment diff and
    /// written while it runs (see `Run::facts`); the rest are read and written after it,
    /// chunk by chunk. Memory holds them twice (the new row and the warehouse's): about
    /// 15 MB for the default 50,000.
    pub overlap_rows: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            lookback: chrono::Duration::minutes(5),
            overlap_rows: 50_000,
        }
    }
}

/// Runs an incremental sync and returns what it wrote.
pub async fn incremental(
    source: &SourceDb,
    warehouse: &DatabaseConnection,
    opts: Options,
) -> Result<RunReport> {
    crate::warehouse::prepare(warehouse).await?;
    run::record(warehouse, "incremental", |run_id| {
        sync(source, warehouse, run_id, opts)
    })
    .await
}

async fn sync(
    source: &SourceDb,
    warehouse: &DatabaseConnection,
    run_id: i32,
    opts: Options,
) -> Result<RunReport> {
    let (src, horizon) = super::horizon::snapshot(source).await?;
    let src = std::sync::Arc::new(src);
    let txn = db::warehouse_txn(warehouse).await?;
    let mut t = Tracker::new(run_id, "incremental");
    t.source_clock = Some(run::source_clock(&*src).await?);
    t.horizon = horizon;
    let missed = Missed::from(run::previous_snapshot(&txn).await?.unwrap_or_default());
    // A row whose stamp the warehouse already holds may still have changed if that stamp is
    // at or after the previous horizon (less the lookback): a transaction the previous
    // snapshot missed can have stamped its change in the same second as the loaded version.
    // Only rows stamped before that are known unchanged by their stamp.
    let recheck_from = missed.recheck_from(opts.lookback);
    let previous = state::watermarks(&txn).await?;
    let times = super::quiet::read(&*src).await?;

    let outdated = schema::outdated_star_tables(&txn).await?;
    let marks = if previous.values().all(Option::is_none) || !outdated.is_empty() {
        // Never loaded (right after `init`): everything is new, so load it the fast way. A
        // star written by another version of sakila-sync (its columns differ from the
        // entities') is rebuilt the same way: its rows cannot be compared with new ones.
        if !outdated.is_empty() {
            tracing::warn!(
                "the warehouse tables {} were written by another version of sakila-sync: \
                 rebuilding the star from the source",
                outdated.join(", ")
            );
        }
        full_load::load_all(&src, &txn, &mut t).await?
    } else {
        if let Missed::Unknown { .. } = missed {
            tracing::info!(
                "the previous run recorded no source horizon: every dimension and lookup row \
                 is read and compared, and no table is skipped"
            );
        }
        let since: HashMap<String, Since> = previous
            .iter()
            .map(|(table, w)| (table.clone(), window(*w, missed, opts.lookback)))
            .collect();
        let previous_identity = super::quiet::previous_identity(&txn).await?;
        let quiet = match (&times, missed) {
            (Some(times), Missed::From(horizon)) => {
                times.quiet(previous_identity.as_deref(), horizon, opts.lookback)
            }
            _ => BTreeSet::new(),
        };
        if !quiet.is_empty() {
            tracing::info!(
                "unchanged since the last run, not scanned: {}",
                quiet.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        t.quiet = quiet.clone();
        let mut run = Run {
            cover: Default::default(),
            plan: Plan {
                quiet,
                since,
                recheck_from,
            },
            src: &src,
            shared_src: src.clone(),
            txn: &txn,
            wh_committed: crate::warehouse::backend::Backend::committed(warehouse)?,
            marks: Marks::default(),
            t: &mut t,
            keys: Keys::default(),
            overlap_rows: opts.overlap_rows,
            replaced: Vec::new(),
        };
        run.all().await?;
        run.marks
    };

    super::commit(src, txn, &t, &marks, &previous, times.as_ref()).await
}

/// One incremental run: the snapshot it reads, the transaction it writes, what it reads
/// again ([`Plan`]) and what it found so far.
struct Run<'a> {
    /// What dim_date covers, checked once per chunk of facts without a query.
    cover: super::pipe::DateCover,
    plan: Plan,
    src: &'a DatabaseTransaction,
    /// The same snapshot, for readers on their own task.
    shared_src: std::sync::Arc<DatabaseTransaction>,
    txn: &'a DatabaseTransaction,
    /// The warehouse file, which the fact diffs scan on a read-only connection of their own
    /// (see [`Run::diff_job`]).
    wh_committed: bulk_read::Committed,
    marks: Marks,
    t: &'a mut Tracker,
    keys: Keys,
    /// See [`Options::overlap_rows`].
    overlap_rows: usize,
    /// Rentals whose id now names another rental ([`crate::star::Fact::replaced`]): the
    /// payments that pointed at the old one are re-read.
    replaced: Vec<i64>,
}

/// What a run reads again, decided before it reads anything from the previous run's state.
struct Plan {
    /// Source tables no transaction changed since the last run (see [`super::quiet`]).
    quiet: BTreeSet<String>,
    /// Per source table, the rows found by stamp ([`window`]).
    since: HashMap<String, Since>,
    /// Rows stamped before this whose stamp the warehouse holds are unchanged (the previous
    /// horizon less the lookback); from it on, equal stamps prove nothing and rows are compared.
    recheck_from: Option<NaiveDateTime>,
}

/// What the previous successful run says about the source transactions its snapshot missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Missed {
    /// Each of them started at or after this horizon (see [`super::horizon`]), so the rows
    /// they stamped, and the `UPDATE_TIME` they left, are at or after it.
    From(NaiveDateTime),
    /// The previous run could not tell (the source did not list its open transactions, or
    /// the warehouse was written by an older version). Then nothing bounds how far back a
    /// late commit stamped its rows: tables found by stamp are read whole and compared, and
    /// no table is skipped. The fact diffs compare every version anyway; only a change
    /// stamped in the same second as the version already loaded relies on the lookback,
    /// counted from the previous clock.
    Unknown { clock: Option<NaiveDateTime> },
}

impl From<run::PreviousSnapshot> for Missed {
    fn from(p: run::PreviousSnapshot) -> Self {
        match p.source_horizon {
            Some(h) => Missed::From(h.with_nanosecond(0).unwrap_or(h)),
            None => Missed::Unknown {
                clock: p.source_clock.map(|c| c.with_nanosecond(0).unwrap_or(c)),
            },
        }
    }
}

impl Missed {
    /// From where an equal stamp proves nothing (see [`Plan::recheck_from`]).
    fn recheck_from(self, lookback: chrono::Duration) -> Option<NaiveDateTime> {
        match self {
            Missed::From(h) => Some(lookback_start(h, lookback)),
            Missed::Unknown { clock } => clock.map(|c| lookback_start(c, lookback)),
        }
    }
}

/// Which rows of a table a run reads again, by `last_update`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Since {
    /// Never loaded, or nothing bounds the late commits: every row.
    All,
    /// `last_update > t`: newer than anything loaded so far.
    After(NaiveDateTime),
    /// `last_update >= t`: the window below the previous horizon.
    From(NaiveDateTime),
}

/// The rows a run must read again: everything stamped after the table's watermark, plus
/// everything stamped from the previous run's horizon on, less the lookback.
///
/// A row the previous run could not see was written by a transaction its snapshot missed,
/// which started at or after the horizon and stamped the row then or later (the lookback
/// is the margin for stamps that do not come from the server's clock). Anchoring the window
/// to the horizon rather than to the watermark matters for tables that are quiet or
/// bulk-loaded: their watermark can be years old and shared by every row (Sakila's
/// catalogue, a restored dump), and a window below it would re-read the whole table on
/// every run. Without a horizon, every row.
fn window(watermark: Option<NaiveDateTime>, missed: Missed, lookback: chrono::Duration) -> Since {
    let (Some(w), Missed::From(horizon)) = (watermark, missed) else {
        return Since::All;
    };
    let start = lookback_start(horizon, lookback);
    if w < start {
        Since::After(w)
    } else {
        Since::From(start)
    }
}

/// Where the lookback window of a run whose previous snapshot had the horizon `horizon`
/// begins, with one second of slack (stamps and the horizon are whole seconds). Rows stamped
/// before it by the server's clock were committed before that snapshot, which saw them.
/// A lookback reaching back past the earliest time a source can store (MySQL's `DATETIME`
/// starts at year 1000) means every row: it stops there, whatever its length.
pub(super) fn lookback_start(horizon: NaiveDateTime, lookback: chrono::Duration) -> NaiveDateTime {
    let earliest = chrono::NaiveDate::from_ymd_opt(1000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or(NaiveDateTime::MIN);
    horizon
        .checked_sub_signed(lookback)
        .and_then(|t| t.checked_sub_signed(chrono::Duration::seconds(1)))
        .map_or(earliest, |t| t.max(earliest))
}

/// The condition on `last_update` that selects what [`Since`] says.
fn since_condition<C: ColumnTrait>(last_update: C, since: Since) -> Condition {
    match since {
        Since::All => Condition::all(),
        Since::After(t) => Condition::all().add(last_update.gt(t.and_utc())),
        Since::From(t) => Condition::all().add(last_update.gte(t.and_utc())),
    }
}

/// A lookback candidate: a row id and its `last_update`.
type Candidate = (i64, Option<chrono::DateTime<chrono::Utc>>);

/// Rows of `E` whose `col` is in `ids`, in chunks.
async fn rows_where_in<E, V, C>(db: &C, col: E::Column, ids: &[V]) -> Result<Vec<E::Model>>
where
    E: EntityTrait,
    V: Into<Value> + Copy,
    C: ConnectionTrait,
{
    let mut out = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        match E::find()
            .filter(col.is_in(chunk.iter().copied()))
            .all(db)
            .await
        {
            Ok(rows) => out.extend(rows),
            Err(e) => return Err(name_the_row::<E, V, C>(db, col, chunk, e).await),
        }
    }
    Ok(out)
}

/// The error of reading the rows `ids` of `E`, naming the row that failed when one row is to
/// blame (a value the driver cannot decode, such as a zero date): each is read alone to
/// find it. Otherwise (the source went away, say) the error as it came, with the table.
async fn name_the_row<E, V, C>(
    db: &C,
    col: E::Column,
    ids: &[V],
    error: sea_orm::DbErr,
) -> anyhow::Error
where
    E: EntityTrait,
    V: Into<Value> + Copy,
    C: ConnectionTrait,
{
    use sea_orm::IdenStatic;
    for id in ids {
        if let Err(e) = E::find().filter(col.eq(*id)).one(db).await {
            let value: Value = (*id).into();
            return anyhow::anyhow!(
                "source table {}, row {} {value}: a value the driver cannot read, such as the \
                 zero date 0000-00-00: {e}",
                E::default().table_name(),
                col.as_str()
            );
        }
    }
    anyhow::Error::new(error).context(read_error::<E>())
}

/// Merges rows into a map by id (the same row found through two paths counts once).
fn by_id<M, K: Ord>(rows: impl IntoIterator<Item = M>, id: impl Fn(&M) -> K) -> BTreeMap<K, M> {
    rows.into_iter().map(|m| (id(&m), m)).collect()
}

impl Run<'_> {
    fn is_quiet(&self, table: &str) -> bool {
        self.plan.quiet.contains(table)
    }

    fn since(&self, table: &str) -> Since {
        self.plan.since.get(table).copied().unwrap_or(Since::All)
    }

    /// Reads dimension `D`'s surrogate keys from the warehouse.
    async fn load_keys<D: Dimension>(&mut self) -> Result<()> {
        *D::keys(&mut self.keys) = dims::key_map::<D::Star, _>(self.txn).await?;
        Ok(())
    }

    async fn all(&mut self) -> Result<()> {
        let s = Instant::now();
        // The address hierarchy: what changed, directly or through its parent.
        let countries = self
            .changed_lookup::<country::Entity>(
                country::Column::CountryId,
                country::Column::LastUpdate,
                |c| (c.country_id, c.last_update),
            )
            .await?;
        let country_ids: Vec<u32> = countries.iter().map(|c| c.country_id).collect();
        let mut cities = by_id(
            self.changed_lookup::<city::Entity>(
                city::Column::CityId,
                city::Column::LastUpdate,
                |c| (c.city_id, c.last_update),
            )
            .await?,
            |c| c.city_id,
        );
        cities.extend(by_id(
            rows_where_in::<city::Entity, _, _>(self.src, city::Column::CountryId, &country_ids)
                .await?,
            |c| c.city_id,
        ));
        let city_ids: Vec<u32> = cities.keys().copied().collect();
        let mut addresses = by_id(
            self.changed_lookup::<address::Entity>(
                address::Column::AddressId,
                address::Column::LastUpdate,
                |a| (a.address_id, a.last_update),
            )
            .await?,
            |a| a.address_id,
        );
        addresses.extend(by_id(
            rows_where_in::<address::Entity, _, _>(self.src, address::Column::CityId, &city_ids)
                .await?,
            |a| a.address_id,
        ));
        let moved_addresses: Vec<u32> = addresses.keys().copied().collect();

        let languages = self
            .changed_lookup::<language::Entity>(
                language::Column::LanguageId,
                language::Column::LastUpdate,
                |l| (l.language_id, l.last_update),
            )
            .await?;
        let renamed_languages: Vec<u32> = languages.iter().map(|l| l.language_id).collect();
        tracing::info!(
            "geography and languages read in {:.3} s",
            s.elapsed().as_secs_f64()
        );

        self.load_keys::<star::Film>().await?;
        self.load_keys::<star::Actor>().await?;
        self.load_keys::<star::Category>().await?;
        self.load_keys::<star::Customer>().await?;
        self.load_keys::<star::Store>().await?;
        self.load_keys::<star::Staff>().await?;

        self.dimension::<star::Film>(&renamed_languages).await?;
        self.dimension::<star::Actor>(&[]).await?;
        self.dimension::<star::Category>(&[]).await?;
        self.dimension::<star::Customer>(&moved_addresses).await?;
        self.dimension::<star::Store>(&moved_addresses).await?;
        let moved_staff = self.staff().await?;
        self.bridges().await?;
        let moved_copies = self.inventory().await?;
        crate::failpoint::reached("incremental:dimensions-written").await;
        self.facts(&moved_copies, &moved_staff).await
    }
}

#[cfg(test)]
mod tests {
    use super::{Missed, Since, window};
    use chrono::{Duration, NaiveDateTime};

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn a_lookback_beyond_the_calendar_reads_everything_instead_of_overflowing() {
        let horizon = t("2026-11-30 10:00:00");
        let earliest = t("1000-01-01 00:00:00");
        for lookback in [Duration::MAX, Duration::days(365 * 5000)] {
            assert_eq!(super::lookback_start(horizon, lookback), earliest);
            let since = window(Some(horizon), Missed::From(horizon), lookback);
            assert_eq!(since, Since::From(earliest));
        }
    }

    #[test]
    fn the_window_is_anchored_to_the_previous_horizon() {
        let five = Duration::minutes(5);
        let horizon = Missed::From(t("2026-11-30 10:00:00"));
        // Never loaded: everything.
        assert_eq!(window(None, horizon, five), Since::All);
        // A quiet or bulk-loaded table: only rows newer than anything loaded, not the
        // thousands that share an old watermark.
        let old = t("2006-02-15 05:09:17");
        assert_eq!(window(Some(old), horizon, five), Since::After(old));
        // A busy table: everything within the lookback of the horizon (one second of slack).
        let recent = t("2026-11-30 09:59:58");
        assert_eq!(
            window(Some(recent), horizon, five),
            Since::From(t("2026-11-30 09:54:59"))
        );
        // Stamps from the future still fall in the window.
        let ahead = t("2026-12-01 00:00:00");
        assert_eq!(
            window(Some(ahead), horizon, five),
            Since::From(t("2026-11-30 09:54:59"))
        );
    }

    #[test]
    fn a_long_transaction_moves_the_window_back_to_its_start() {
        let five = Duration::minutes(5);
        // The previous run's clock was 10:00, but a transaction open since 08:00 was still
        // open: its rows may be stamped from 08:00 on.
        let horizon = Missed::From(t("2026-11-30 08:00:00"));
        assert_eq!(
            window(Some(t("2026-11-30 09:59:58")), horizon, five),
            Since::From(t("2026-11-30 07:54:59"))
        );
        assert_eq!(horizon.recheck_from(five), Some(t("2026-11-30 07:54:59")));
    }

    #[test]
    fn without_a_horizon_every_row_is_read_again() {
        let five = Duration::minutes(5);
        let unknown = Missed::Unknown {
            clock: Some(t("2026-11-30 10:00:00")),
        };
        assert_eq!(
            window(Some(t("2006-02-15 05:09:17")), unknown, five),
            Since::All
        );
        assert_eq!(
            window(Some(t("2026-11-30 09:59:58")), unknown, five),
            Since::All
        );
        // The fact diffs compare every version; equal stamps are re-read from the clock's
        // lookback, as before horizons were recorded.
        assert_eq!(unknown.recheck_from(five), Some(t("2026-11-30 09:54:59")));
        assert_eq!(Missed::Unknown { clock: None }.recheck_from(five), None);
    }
}
