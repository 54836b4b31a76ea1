//! Fingerprints of the fact tables, so that `validate` need not move every fact row out of the
//! source to compare it.
//!
//! At 100x most of a row-by-row `validate` is the drivers decoding 3.2M rows on both sides.
//! The tools that compare databases at scale do not move rows: Percona's pt-table-checksum has
//! the server checksum chunks of rows, Datafold's data-diff (reladiff) sums a hash per key
//! range and bisects the ranges that differ. The same here:
//!
//! - The source's server computes, per block of ids, the row count and the sum of a CRC32 of
//!   each row's text: the values of the source row, joined with `|` (`CONCAT_WS`). One row per
//!   block comes back. Nothing is joined on the server: a join with `inventory` made the sums
//!   of the rentals four times as costly (x100: 4.6 s against 1.0 s).
//! - This program writes the same text for each warehouse row, its surrogate keys resolved to
//!   natural ids through the dimensions ([`Fingerprint::source_of`]), while it reads the
//!   warehouse's facts for the checks every row gets anyway (foreign keys, dates, per-day
//!   totals). What the text leaves out, the loader derives from it: the date keys, the
//!   duration, and what is reached through another table (a rental's film and store through
//!   its inventory copy, a payment's store through its staff member, both read from the
//!   source's snapshot as the loader reads them). So each warehouse row must also equal the row
//!   the loader would make of the source row it stands for.
//! - Blocks of [`TOP`] ids are compared first; in one that differs, the server sums blocks of
//!   [`SUB`] ids, and only the rows of those that still differ (or hold an inconsistent
//!   warehouse row) are read from both sides and compared column by column, as
//!   `validate --exhaustive` compares every row.
//!
//! Each text starts with the row's id, so two rows that swap content change the block's sum.
//! A block that differs yet sums the same would need two CRC32 sums to collide (about one
//! chance in 2^32). Where a source prints a value otherwise than this program writes it (a
//! `DECIMAL` of another scale, fractional seconds), its blocks differ and their rows are
//! compared one by one: slower, never wrong. SQLite has no CRC32: a SQLite source is compared
//! row by row.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDateTime, Timelike};
use sea_orm::sea_query::{
    Alias, Asterisk, Expr, Func, IntoIden, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{ConnectionTrait, DatabaseTransaction, EntityTrait};

use super::Members;
use crate::source::{payment, rental};
use crate::star::{Fact, Payment, Rental};
use crate::sync::extract::read_error;
use crate::warehouse::entity::{fact_payment, fact_rental};

/// Ids per block compared first.
pub const TOP: i64 = 65_536;
/// Ids per block a differing [`TOP`] block is split into; the rows of a sub-block that still
/// differs are compared one by one.
pub const SUB: i64 = 2_048;

/// A block's fingerprint: its rows, and the sum of their CRC32s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sum {
    pub rows: i64,
    pub crc: i64,
}

impl Sum {
    pub fn add(&mut self, crc: u32) {
        self.rows += 1;
        self.crc += i64::from(crc);
    }
}

/// The block of `id` among blocks of `width` ids: the quotient truncated toward zero, as the
/// source computes it (`(id - MOD(id, width)) / width`).
pub fn block(id: i64, width: i64) -> i64 {
    id / width
}

/// The first and last id of block `b` of `width` ids (block 0 also holds the negative ids
/// above `-width`).
pub fn ids_of(b: i64, width: i64) -> (i64, i64) {
    match b {
        0 => (-(width - 1), width - 1),
        b if b > 0 => (b * width, b * width + width - 1),
        b => (b * width - width + 1, b * width),
    }
}

/// The natural ids behind the warehouse's surrogate keys.
pub struct Naturals<'a> {
    pub films: &'a Members,
    pub stores: &'a Members,
    pub customers: &'a Members,
    pub staff: &'a Members,
}

type StarModel<F> = <<F as Fact>::Star as EntityTrait>::Model;
type SourceModel<F> = <<F as Fact>::Source as EntityTrait>::Model;

/// How fact `F` is fingerprinted on each side: the same text from the source's server and
/// from a warehouse row.
pub trait Fingerprint: Fact {
    /// The values of the text, in order, as the source's server reads them from its table.
    fn source_values() -> Vec<SimpleExpr>;
    /// Appends the text of warehouse row `row` to `out`.
    fn text(row: &StarModel<Self>, n: &Naturals, out: &mut Vec<u8>);
    /// The source row that warehouse row `row` stands for: the row whose text is the same.
    /// `None` when a key is no member's, or a value no source row can hold.
    fn source_of(row: &StarModel<Self>, n: &Naturals) -> Option<SourceModel<Self>>;
    /// The date of a warehouse row that the window checks and the latest source date follow.
    fn when(row: &StarModel<Self>) -> NaiveDateTime;
}

/// A value, or `-` for NULL, as the source's server prints it.
fn or_dash(e: impl Into<SimpleExpr>) -> SimpleExpr {
    Func::cust(Alias::new("IFNULL"))
        .arg(e.into())
        .arg("-")
        .into()
}

fn col<E: EntityTrait>(c: impl IntoIden) -> SimpleExpr {
    Expr::col((E::default(), c))
}

impl Fingerprint for Rental {
    fn source_values() -> Vec<SimpleExpr> {
        use rental::Column as R;
        vec![
            col::<rental::Entity>(R::RentalId),
            col::<rental::Entity>(R::RentalDate),
            or_dash(col::<rental::Entity>(R::ReturnDate)),
            col::<rental::Entity>(R::InventoryId),
            col::<rental::Entity>(R::CustomerId),
            col::<rental::Entity>(R::StaffId),
            col::<rental::Entity>(R::LastUpdate),
        ]
    }

    fn text(r: &fact_rental::Model, n: &Naturals, out: &mut Vec<u8>) {
        int(out, r.rental_id.into());
        sep(out);
        datetime(out, r.rental_date);
        sep(out);
        opt_datetime(out, r.return_date);
        sep(out);
        int(out, r.inventory_id.into());
        sep(out);
        natural(out, n.customers, r.customer_key);
        sep(out);
        natural(out, n.staff, r.staff_key);
        sep(out);
        opt_datetime(out, r.source_last_update);
    }

    fn source_of(r: &fact_rental::Model, n: &Naturals) -> Option<rental::Model> {
        Some(rental::Model {
            rental_id: r.rental_id,
            rental_date: r.rental_date,
            inventory_id: u32::try_from(r.inventory_id).ok()?,
            customer_id: n.customers.id(r.customer_key)?,
            return_date: r.return_date,
            staff_id: n.staff.id(r.staff_key)?,
            last_update: r.source_last_update?.and_utc(),
        })
    }

    fn when(r: &fact_rental::Model) -> NaiveDateTime {
        r.rental_date
    }
}

impl Fingerprint for Payment {
    fn source_values() -> Vec<SimpleExpr> {
        use payment::Column as P;
        vec![
            col::<payment::Entity>(P::PaymentId),
            col::<payment::Entity>(P::CustomerId),
            col::<payment::Entity>(P::StaffId),
            or_dash(col::<payment::Entity>(P::RentalId)),
            col::<payment::Entity>(P::Amount),
            col::<payment::Entity>(P::PaymentDate),
            or_dash(col::<payment::Entity>(P::LastUpdate)),
        ]
    }

    fn text(p: &fact_payment::Model, n: &Naturals, out: &mut Vec<u8>) {
        int(out, p.payment_id.into());
        sep(out);
        natural(out, n.customers, p.customer_key);
        sep(out);
        natural(out, n.staff, p.staff_key);
        sep(out);
        match p.rental_id {
            Some(id) => int(out, id.into()),
            None => out.push(b'-'),
        }
        sep(out);
        amount(out, p.amount_cents);
        sep(out);
        datetime(out, p.payment_date);
        sep(out);
        opt_datetime(out, p.source_last_update);
    }

    fn source_of(p: &fact_payment::Model, n: &Naturals) -> Option<payment::Model> {
        Some(payment::Model {
            payment_id: u32::try_from(p.payment_id).ok()?,
            customer_id: n.customers.id(p.customer_key)?,
            staff_id: n.staff.id(p.staff_key)?,
            rental_id: p.rental_id,
            amount: rust_decimal::Decimal::new(p.amount_cents, 2),
            payment_date: p.payment_date,
            last_update: p.source_last_update.map(|t| t.and_utc()),
        })
    }

    fn when(p: &fact_payment::Model) -> NaiveDateTime {
        p.payment_date
    }
}

fn sep(out: &mut Vec<u8>) {
    out.push(b'|');
}

/// An integer in decimal, as MySQL prints it.
fn int(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    let mut digits = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// `width` digits of `v`, zero-padded.
fn padded(out: &mut Vec<u8>, v: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut n = v;
    for d in digits[..width].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[..width]);
}

/// `YYYY-MM-DD HH:MM:SS`, as MySQL prints a `DATETIME` or (in UTC) a `TIMESTAMP`. (chrono's
/// formatter would cost more than the rest of the row.)
fn datetime(out: &mut Vec<u8>, t: NaiveDateTime) {
    match u32::try_from(t.year()) {
        Ok(y) if y <= 9999 => padded(out, y, 4),
        _ => int(out, t.year().into()),
    }
    out.push(b'-');
    padded(out, t.month(), 2);
    out.push(b'-');
    padded(out, t.day(), 2);
    out.push(b' ');
    padded(out, t.hour(), 2);
    out.push(b':');
    padded(out, t.minute(), 2);
    out.push(b':');
    padded(out, t.second(), 2);
    if t.nanosecond() != 0 {
        // Not what a whole-second source column prints: the block differs, and its rows are
        // compared one by one.
        out.extend_from_slice(b".?");
    }
}

fn opt_datetime(out: &mut Vec<u8>, t: Option<NaiveDateTime>) {
    match t {
        Some(t) => datetime(out, t),
        None => out.push(b'-'),
    }
}

/// Cents as a `DECIMAL(_, 2)` prints: `-0.05`, `11.99`.
fn amount(out: &mut Vec<u8>, cents: i64) {
    if cents < 0 {
        out.push(b'-');
    }
    let c = cents.unsigned_abs();
    int(out, (c / 100) as i64);
    out.push(b'.');
    padded(out, (c % 100) as u32, 2);
}

/// The natural id behind surrogate key `key`, or `?` when it is no member's (never a value
/// the source prints).
fn natural(out: &mut Vec<u8>, members: &Members, key: i32) {
    match members.id(key) {
        Some(id) => int(out, id.into()),
        None => out.push(b'?'),
    }
}

/// The CRC32 of warehouse row `row`'s text; `buf` is reused from row to row.
pub fn crc<F: Fingerprint>(row: &StarModel<F>, n: &Naturals, buf: &mut Vec<u8>) -> u32 {
    buf.clear();
    F::text(row, n, buf);
    crc32fast::hash(buf)
}

/// The source's fingerprints of fact `F` per block of `width` ids, computed by its server,
/// over the ids in `range` (all when `None`).
pub async fn source_sums<F: Fingerprint>(
    src: &DatabaseTransaction,
    width: i64,
    range: Option<(i64, i64)>,
) -> Result<BTreeMap<i64, Sum>> {
    let rows = src
        .query_all(&sums_query::<F>(width, range))
        .await
        .with_context(read_error::<F::Source>)?;
    let mut sums = BTreeMap::new();
    for r in rows {
        let (b, rows, crc): (i64, i64, i64) = (
            r.try_get("", "b").with_context(read_error::<F::Source>)?,
            r.try_get("", "n").with_context(read_error::<F::Source>)?,
            r.try_get("", "s").with_context(read_error::<F::Source>)?,
        );
        sums.insert(b, Sum { rows, crc });
    }
    Ok(sums)
}

/// `b, n, s` per block: the block, its rows, the sum of their CRC32s.
fn sums_query<F: Fingerprint>(width: i64, range: Option<(i64, i64)>) -> SelectStatement {
    use sea_orm::sea_query::ExprTrait;
    let id: SimpleExpr = Expr::col((F::Source::default(), F::source_id()));
    // `(id - MOD(id, w)) / w`, an exact quotient: MySQL's `/` rounds to four decimals, so
    // `FLOOR(id / w)` would put the last ids of a block in the next one.
    let modulo = Func::cust(Alias::new("MOD")).arg(id.clone()).arg(width);
    let quotient = id.clone().sub(modulo).div(width);
    let block_of: SimpleExpr = Func::cast_as(quotient, Alias::new("SIGNED")).into();
    // `args` sets the whole list: the separator goes first in it.
    let mut values: Vec<SimpleExpr> = vec!["|".into()];
    values.extend(F::source_values());
    let text = Func::cust(Alias::new("CONCAT_WS")).args(values);
    let crc = Func::cust(Alias::new("CRC32")).arg(text);
    let mut q = Query::select();
    q.from(F::Source::default())
        .expr_as(block_of, Alias::new("b"))
        .expr_as(Func::count(Expr::col(Asterisk)), Alias::new("n"))
        .expr_as(
            Func::cast_as(Func::sum(crc), Alias::new("SIGNED")),
            Alias::new("s"),
        )
        .group_by_col(Alias::new("b"))
        .order_by(Alias::new("b"), sea_orm::sea_query::Order::Asc);
    if let Some((lo, hi)) = range {
        q.and_where(id.between(lo, hi));
    }
    q
}

/// What the warehouse's rows of one fact table sum to: per [`TOP`] block, and per [`SUB`]
/// block with whether every row of it is consistent and its latest date.
#[derive(Default)]
pub struct WarehouseSums {
    pub top: BTreeMap<i64, Sum>,
    pub sub: BTreeMap<i64, SubBlock>,
}

#[derive(Clone, Copy, Default)]
pub struct SubBlock {
    pub sum: Sum,
    pub consistent: bool,
    pub latest: Option<NaiveDateTime>,
}

impl WarehouseSums {
    /// Adds warehouse row `id`, its CRC32, whether it is consistent and its date.
    pub fn add(&mut self, id: i64, crc: u32, consistent: bool, when: NaiveDateTime) {
        self.top.entry(block(id, TOP)).or_default().add(crc);
        let s = self.sub.entry(block(id, SUB)).or_insert(SubBlock {
            consistent: true,
            ..SubBlock::default()
        });
        s.sum.add(crc);
        s.consistent &= consistent;
        s.latest = s.latest.max(Some(when));
    }

    /// The source's fingerprints per sub-block of `top` block `b`, from the warehouse's side.
    fn subs_of(&self, b: i64) -> impl Iterator<Item = (i64, &SubBlock)> {
        let (lo, hi) = ids_of(b, TOP);
        self.sub
            .range(block(lo, SUB)..=block(hi, SUB))
            .map(|(k, v)| (*k, v))
    }
}

/// The sub-blocks whose rows must be compared one by one: those whose fingerprints differ
/// from the source's, and those holding an inconsistent warehouse row. `source_subs` gives
/// the source's fingerprints of the sub-blocks of one top block (a query on the server).
pub async fn differing<Q>(
    source_top: &BTreeMap<i64, Sum>,
    warehouse: &WarehouseSums,
    mut source_subs: impl FnMut(i64) -> Q,
) -> Result<Vec<i64>>
where
    Q: std::future::Future<Output = Result<BTreeMap<i64, Sum>>>,
{
    let mut out: Vec<i64> = warehouse
        .sub
        .iter()
        .filter(|(_, s)| !s.consistent)
        .map(|(k, _)| *k)
        .collect();
    let tops: std::collections::BTreeSet<i64> = source_top
        .keys()
        .chain(warehouse.top.keys())
        .copied()
        .collect();
    for b in tops {
        if source_top.get(&b) == warehouse.top.get(&b) {
            continue;
        }
        let source = source_subs(b).await?;
        let subs: std::collections::BTreeSet<i64> = source
            .keys()
            .copied()
            .chain(warehouse.subs_of(b).map(|(k, _)| k))
            .collect();
        for s in subs {
            if source.get(&s).copied() != warehouse.sub.get(&s).map(|w| w.sum) {
                out.push(s);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The total of a table's fingerprints: its row count.
pub fn rows(sums: &BTreeMap<i64, Sum>) -> i64 {
    sums.values().map(|s| s.rows).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_written_as_mysql_prints_them() {
        let t = chrono::NaiveDate::from_ymd_opt(2005, 5, 24)
            .unwrap()
            .and_hms_opt(22, 3, 9)
            .unwrap();
        assert_eq!(text(|o| datetime(o, t)), "2005-05-24 22:03:09");
        assert_eq!(text(|o| opt_datetime(o, None)), "-");
        assert_eq!(text(|o| int(o, 0)), "0");
        assert_eq!(text(|o| int(o, -120)), "-120");
        assert_eq!(text(|o| int(o, i64::MIN)), "-9223372036854775808");
        assert_eq!(text(|o| amount(o, 299)), "2.99");
        assert_eq!(text(|o| amount(o, 1199)), "11.99");
        assert_eq!(text(|o| amount(o, 0)), "0.00");
        assert_eq!(text(|o| amount(o, -5)), "-0.05");
        assert_eq!(text(|o| amount(o, -100)), "-1.00");
        let fraction = t.with_nanosecond(5).unwrap();
        assert_eq!(text(|o| datetime(o, fraction)), "2005-05-24 22:03:09.?");
    }

    #[test]
    fn the_source_sums_the_crc32_of_the_same_text_per_block() {
        let sql = sea_orm::DbBackend::MySql
            .build(&sums_query::<Rental>(SUB, Some((2_048, 4_095))))
            .to_string();
        for part in [
            "CAST(((`rental`.`rental_id` - MOD(`rental`.`rental_id`, 2048)) / 2048) AS SIGNED) AS `b`",
            "CAST(SUM(CRC32(CONCAT_WS('|', `rental`.`rental_id`, `rental`.`rental_date`, \
             IFNULL(`rental`.`return_date`, '-'), `rental`.`inventory_id`, \
             `rental`.`customer_id`, `rental`.`staff_id`, `rental`.`last_update`))) AS SIGNED)",
            "FROM `rental` WHERE `rental`.`rental_id` BETWEEN 2048 AND 4095 GROUP BY `b` ORDER BY `b`",
        ] {
            assert!(sql.contains(part), "{part}\nin\n{sql}");
        }
        // The warehouse side writes the same text for the same row.
        let at = |s| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        let mut films = Members::default();
        films.insert(540, 17);
        let (mut stores, mut customers, mut staff) =
            (Members::default(), Members::default(), Members::default());
        stores.insert(1, 1);
        customers.insert(935, 3);
        staff.insert(1, 2);
        let n = Naturals {
            films: &films,
            stores: &stores,
            customers: &customers,
            staff: &staff,
        };
        let row = fact_rental::Model {
            rental_id: 1,
            rental_date_key: 20050524,
            return_date_key: Some(20050528),
            rental_date: at("2005-05-24 00:18:23"),
            return_date: Some(at("2005-05-28 16:34:06")),
            inventory_id: 1276,
            film_key: 17,
            store_key: 1,
            customer_key: 3,
            staff_key: 2,
            rental_duration_days: Some(4),
            source_last_update: Some(at("2005-05-28 16:34:06")),
        };
        let mut out = Vec::new();
        Rental::text(&row, &n, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1|2005-05-24 00:18:23|2005-05-28 16:34:06|1276|935|1|2005-05-28 16:34:06"
        );
        let source = Rental::source_of(&row, &n).unwrap();
        assert_eq!((source.customer_id, source.staff_id), (935, 1));
        let mut lost = row.clone();
        lost.customer_key = 99;
        assert_eq!(Rental::source_of(&lost, &n), None);
    }

    #[test]
    fn blocks_truncate_toward_zero_and_their_ranges_cover_them() {
        for id in [
            -70_000i64, -65_536, -2_049, -1, 0, 1, 2_047, 2_048, 65_535, 65_536,
        ] {
            for w in [SUB, TOP] {
                let (lo, hi) = ids_of(block(id, w), w);
                assert!(
                    lo <= id && id <= hi,
                    "{id} in block {} of {w}",
                    block(id, w)
                );
            }
            // A sub-block lies inside one top block.
            assert_eq!(block(block(id, SUB), TOP / SUB), block(id, TOP), "{id}");
        }
        assert_eq!(ids_of(1, SUB), (2_048, 4_095));
        assert_eq!(ids_of(-1, SUB), (-4_095, -2_048));
    }

    #[tokio::test]
    async fn only_differing_or_inconsistent_sub_blocks_are_compared_row_by_row() {
        let at = chrono::NaiveDateTime::default();
        let mut wh = WarehouseSums::default();
        for id in [1, 2, 3, 70_000, 70_001, 140_000] {
            wh.add(id, id as u32, id != 140_000, at);
        }
        let mut source_top = BTreeMap::new();
        // Block 0 agrees; block 1 has a row the warehouse lacks; block 2 agrees but holds an
        // inconsistent row.
        source_top.insert(0, wh.top[&0]);
        let mut one = wh.top[&1];
        one.add(70_002);
        source_top.insert(1, one);
        source_top.insert(2, wh.top[&2]);
        let mut asked = Vec::new();
        let found = differing(&source_top, &wh, |b| {
            asked.push(b);
            let mut subs = BTreeMap::new();
            let mut s = Sum::default();
            for id in [70_000u32, 70_001, 70_002] {
                s.add(id);
            }
            subs.insert(block(70_000, SUB), s);
            async move { Ok(subs) }
        })
        .await
        .unwrap();
        assert_eq!(asked, [1]);
        assert_eq!(found, [block(70_000, SUB), block(140_000, SUB)]);
    }
}
