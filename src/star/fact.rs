//! The two facts, rentals and payments: where each row comes from, how it is versioned, the
//! surrogate keys it resolves, and the pure transform that makes it.
//!
//! `full-load` copies each fact through one routine, `incremental` diffs, reads and writes
//! each through one routine, and `validate` reads both sides of each by the columns named
//! here, so that a fact's id, version and transform are written once.

use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ActiveModelTrait, EntityName, EntityTrait, IntoActiveModel};

use super::Keys;
use super::transform::{payment_row, rental_row};
use crate::source::{payment, rental};
use crate::warehouse::entity::{fact_payment, fact_rental};

/// One fact table of the star. The bounds on the models are stated once here (they are
/// implied wherever `F: Fact` is).
pub trait Fact: Send + Sync + 'static {
    /// The source table, one row per fact.
    type Source: EntityTrait<Model: Send + Sync>;
    /// The warehouse table.
    type Star: EntityTrait<
            Model: Clone
                       + PartialEq
                       + IntoActiveModel<<Self::Star as EntityTrait>::ActiveModel>
                       + Send,
            ActiveModel: ActiveModelTrait<Entity = Self::Star> + Send,
        >;

    /// The source's id column (the fact's natural key, and the warehouse's primary key).
    fn source_id() -> <Self::Source as EntityTrait>::Column;
    /// The source's `last_update` column: a row's version.
    fn source_version() -> <Self::Source as EntityTrait>::Column;
    /// The warehouse's id column.
    fn star_id() -> <Self::Star as EntityTrait>::Column;
    /// The warehouse column holding the version its row was made from.
    fn star_version() -> <Self::Star as EntityTrait>::Column;

    /// The id of a warehouse row.
    fn id(fact: &<Self::Star as EntityTrait>::Model) -> i32;
    /// The id of a source row.
    fn fact_id(row: &<Self::Source as EntityTrait>::Model) -> Option<i64>;
    /// When the source row last changed.
    fn last_update(row: &<Self::Source as EntityTrait>::Model) -> Option<DateTime<Utc>>;
    /// The warehouse row a source row becomes, its surrogate keys resolved through `keys`
    /// (an error names the member that is missing).
    fn fact(
        keys: &Keys,
        row: &<Self::Source as EntityTrait>::Model,
    ) -> Result<<Self::Star as EntityTrait>::Model>;
    /// The days a warehouse row points at in `dim_date`.
    fn days(fact: &<Self::Star as EntityTrait>::Model) -> [Option<NaiveDate>; 2];
    /// The inventory copy a source row resolves its film and store through, if any: the
    /// loader must know the copy before it can make the row.
    fn copy(_row: &<Self::Source as EntityTrait>::Model) -> Option<u32> {
        None
    }
    /// Whether the warehouse row `was` and the new row `now`, under the same id, are two
    /// different facts (a deleted row's id used again), not one fact that changed. What
    /// depended on the old one must be read again.
    fn replaced(
        _was: &<Self::Star as EntityTrait>::Model,
        _now: &<Self::Star as EntityTrait>::Model,
    ) -> bool {
        false
    }

    /// The source table's name, as `sync_state` knows it.
    fn source_table() -> &'static str {
        Self::Source::default().table_name()
    }
    /// The warehouse table's name.
    fn star_table() -> &'static str {
        Self::Star::default().table_name()
    }
}

/// `fact_rental`, from the source table `rental`: film and store through the rented copy.
pub struct Rental;

impl Fact for Rental {
    type Source = rental::Entity;
    type Star = fact_rental::Entity;

    fn source_id() -> rental::Column {
        rental::Column::RentalId
    }
    fn source_version() -> rental::Column {
        rental::Column::LastUpdate
    }
    fn star_id() -> fact_rental::Column {
        fact_rental::Column::RentalId
    }
    fn star_version() -> fact_rental::Column {
        fact_rental::Column::SourceLastUpdate
    }
    fn id(f: &fact_rental::Model) -> i32 {
        f.rental_id
    }
    fn fact_id(r: &rental::Model) -> Option<i64> {
        Some(r.rental_id.into())
    }
    fn last_update(r: &rental::Model) -> Option<DateTime<Utc>> {
        Some(r.last_update)
    }
    fn fact(keys: &Keys, r: &rental::Model) -> Result<fact_rental::Model> {
        rental_row(r, keys.rental(r)?)
    }
    fn days(f: &fact_rental::Model) -> [Option<NaiveDate>; 2] {
        [Some(f.rental_date.date()), f.return_date.map(|d| d.date())]
    }
    fn copy(r: &rental::Model) -> Option<u32> {
        Some(r.inventory_id)
    }
    /// A rental's date, copy and customer never change otherwise. A deleted rental nulled
    /// its payments' `rental_id` without stamping them, so those payments are read again.
    fn replaced(was: &fact_rental::Model, now: &fact_rental::Model) -> bool {
        was.rental_date != now.rental_date
            || was.inventory_id != now.inventory_id
            || was.customer_key != now.customer_key
    }
}

/// `fact_payment`, from the source table `payment`: the store through the staff member who
/// took it, the amount in integer cents.
pub struct Payment;

impl Fact for Payment {
    type Source = payment::Entity;
    type Star = fact_payment::Entity;

    fn source_id() -> payment::Column {
        payment::Column::PaymentId
    }
    fn source_version() -> payment::Column {
        payment::Column::LastUpdate
    }
    fn star_id() -> fact_payment::Column {
        fact_payment::Column::PaymentId
    }
    fn star_version() -> fact_payment::Column {
        fact_payment::Column::SourceLastUpdate
    }
    fn id(f: &fact_payment::Model) -> i32 {
        f.payment_id
    }
    fn fact_id(p: &payment::Model) -> Option<i64> {
        Some(p.payment_id.into())
    }
    fn last_update(p: &payment::Model) -> Option<DateTime<Utc>> {
        p.last_update
    }
    fn fact(keys: &Keys, p: &payment::Model) -> Result<fact_payment::Model> {
        payment_row(p, keys.payment(p)?)
    }
    fn days(f: &fact_payment::Model) -> [Option<NaiveDate>; 2] {
        [Some(f.payment_date.date()), None]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn rental(date: &str, inventory_id: i32, customer_key: i32) -> fact_rental::Model {
        fact_rental::Model {
            rental_id: 1,
            rental_date_key: 0,
            return_date_key: None,
            rental_date: at(date),
            return_date: None,
            inventory_id,
            film_key: 1,
            store_key: 1,
            customer_key,
            staff_key: 1,
            rental_duration_days: None,
            source_last_update: None,
        }
    }

    #[test]
    fn a_returned_rental_is_the_same_rental() {
        let was = rental("2005-05-24 22:53:30", 367, 130);
        let mut now = was.clone();
        now.return_date = Some(at("2005-05-26 22:04:30"));
        now.staff_key = 2;
        assert!(!Rental::replaced(&was, &now));
    }

    #[test]
    fn another_date_copy_or_customer_is_another_rental() {
        let was = rental("2005-05-24 22:53:30", 367, 130);
        assert!(Rental::replaced(
            &was,
            &rental("2006-02-14 15:16:03", 367, 130)
        ));
        assert!(Rental::replaced(
            &was,
            &rental("2005-05-24 22:53:30", 368, 130)
        ));
        assert!(Rental::replaced(
            &was,
            &rental("2005-05-24 22:53:30", 367, 131)
        ));
    }

    #[test]
    fn a_rental_points_at_its_rental_and_return_days() {
        let mut f = rental("2005-05-24 22:53:30", 367, 130);
        f.return_date = Some(at("2005-05-26 00:00:01"));
        let day = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        assert_eq!(Rental::days(&f), [day("2005-05-24"), day("2005-05-26")]);
    }
}
