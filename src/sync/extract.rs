//! Reading the source: whole small tables, streams of big ones, the staff columns that are safe
//! to read, the address hierarchy, and the range of fact dates. Everything through the entities.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::db::table;
use crate::source::{address, city, country, staff};
use crate::star::transform::{Place, StaffRow, place};

/// Per source table: the largest `last_update` read and how many rows were read.
#[derive(Clone, Debug, Default)]
pub struct Marks(pub BTreeMap<&'static str, Mark>);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub watermark: Option<NaiveDateTime>,
    pub rows: u64,
}

impl Mark {
    /// Notes one row read with this `last_update`.
    pub fn observe(&mut self, last_update: Option<NaiveDateTime>) {
        self.rows += 1;
        if last_update > self.watermark {
            self.watermark = last_update;
        }
    }
}

impl Marks {
    /// Records the mark of a whole table read elsewhere.
    pub fn set(&mut self, table: &'static str, mark: Mark) {
        self.0.insert(table, mark);
    }

    /// Notes one row of `table` read with this `last_update`.
    pub fn observe(&mut self, table: &'static str, last_update: Option<DateTime<Utc>>) {
        self.0
            .entry(table)
            .or_default()
            .observe(last_update.map(|t| t.naive_utc()));
    }

    /// Makes sure `table` has an entry (a table with no rows still gets a sync_state row).
    pub fn touch(&mut self, table: &'static str) {
        self.0.entry(table).or_default();
    }
}

/// Every row of a small source table, in primary-key order.
pub async fn all<E, C>(db: &C) -> Result<Vec<E::Model>>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let mut q = E::find();
    for col in pk_columns::<E>() {
        q = q.order_by_asc(col);
    }
    q.all(db).await.with_context(|| read_error::<E>())
}

pub fn pk_columns<E: EntityTrait>() -> Vec<E::Column> {
    use sea_orm::{Iterable, PrimaryKeyToColumn};
    E::PrimaryKey::iter().map(|k| k.into_column()).collect()
}

pub fn read_error<E: EntityTrait>() -> String {
    format!("cannot read source table {}", E::default().table_name())
}

pub fn wh_read_error<E: EntityTrait>() -> String {
    format!("cannot read warehouse table {}", E::default().table_name())
}

/// The error of a stream of table `E` (read in `id` order) that failed to decode a row. When
/// one row's value is to blame (a value the driver cannot decode, such as MySQL's zero date
/// `0000-00-00`, which a lax `sql_mode` lets in), the rows after `after` (the last id read)
/// are read one at a time until one fails, and that one is named: `source table rental, row
/// rental_id 5: ...`. Any other error (the source went away) is returned with the table.
pub async fn unreadable_row<E, C>(
    db: &C,
    id: E::Column,
    after: Option<i64>,
    error: impl Into<anyhow::Error>,
) -> anyhow::Error
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, IdenStatic, QuerySelect};
    /// Rows read one at a time before giving up on naming the bad one.
    const PROBES: usize = 100_000;
    let table = E::default().table_name();
    let error: anyhow::Error = error.into();
    let one_value = error.chain().any(|c| {
        matches!(
            c.downcast_ref::<sea_orm::DbErr>(),
            Some(sea_orm::DbErr::Type(_) | sea_orm::DbErr::TryIntoErr { .. })
        )
    });
    if !one_value {
        // Not one row's value: the source went away, say.
        return error.context(format!("cannot read source table {table}"));
    }
    let hint = "a value the driver cannot read, such as the zero date 0000-00-00";
    let backend = db.get_database_backend();
    let mut cursor = after;
    for _ in 0..PROBES {
        let mut next = E::find()
            .select_only()
            .column_as(super::versions::as_i64(backend, Expr::col(id)), "id")
            .order_by_asc(id)
            .limit(1);
        if let Some(after) = cursor {
            next = next.filter(id.gt(after));
        }
        let Ok(Some(row)) = next.into_tuple::<i64>().one(db).await else {
            break;
        };
        if let Err(e) = E::find().filter(id.eq(row)).one(db).await {
            return anyhow::anyhow!(
                "source table {table}, row {} {row}: {hint}: {e}",
                id.as_str()
            );
        }
        cursor = Some(row);
    }
    anyhow::anyhow!("source table {table}: {hint}: {:#}", error.root_cause())
}

/// Staff members matching `cond`, without their picture or password.
pub async fn staff<C: ConnectionTrait>(db: &C, cond: Condition) -> Result<Vec<StaffRow>> {
    staff::Entity::find()
        .filter(cond)
        .order_by_asc(staff::Column::StaffId)
        .into_partial_model::<StaffRow>()
        .all(db)
        .await
        .context("cannot read source table staff")
}

/// The address hierarchy (address -> city -> country), held in memory to resolve places.
#[derive(Default)]
pub struct Geography {
    pub countries: HashMap<u32, country::Model>,
    pub cities: HashMap<u32, city::Model>,
    pub addresses: HashMap<u32, address::Model>,
}

impl Geography {
    /// Reads all three tables, noting their watermarks.
    pub async fn load<C: ConnectionTrait + sea_orm::StreamTrait>(
        db: &C,
        marks: &mut Marks,
    ) -> Result<Self> {
        let mut g = Geography::default();
        for c in all::<country::Entity, _>(db).await? {
            marks.observe(table::<country::Entity>(), Some(c.last_update));
            g.countries.insert(c.country_id, c);
        }
        for c in all::<city::Entity, _>(db).await? {
            marks.observe(table::<city::Entity>(), Some(c.last_update));
            g.cities.insert(c.city_id, c);
        }
        use futures::TryStreamExt;
        // Streamed: addresses grow with the shops (603k at x1000), and reading them whole
        // held every driver row and every model at once (a 540 MiB peak at x1000).
        let mut rows = address::Entity::find()
            .stream(db)
            .await
            .with_context(read_error::<address::Entity>)?;
        while let Some(a) = rows
            .try_next()
            .await
            .with_context(read_error::<address::Entity>)?
        {
            marks.observe(table::<address::Entity>(), Some(a.last_update));
            g.addresses.insert(a.address_id, a);
        }
        drop(rows);
        marks.touch(table::<country::Entity>());
        marks.touch(table::<city::Entity>());
        marks.touch(table::<address::Entity>());
        Ok(g)
    }

    /// The resolved place of `address_id`; an error names the broken link.
    pub fn place(&self, address_id: u32) -> Result<Place> {
        let a = self
            .addresses
            .get(&address_id)
            .ok_or_else(|| anyhow!("source address {address_id} does not exist"))?;
        let c = self.cities.get(&a.city_id).ok_or_else(|| {
            anyhow!(
                "source city {} (of address {address_id}) does not exist",
                a.city_id
            )
        })?;
        let k = self.countries.get(&c.country_id).ok_or_else(|| {
            anyhow!(
                "source country {} (of city {}) does not exist",
                c.country_id,
                c.city_id
            )
        })?;
        Ok(place(a, c, k))
    }
}
