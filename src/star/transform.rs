//! Pure row transforms: source rows in, warehouse rows out. No I/O here, so every rule of the
//! column contract is unit-tested without a database.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::source::{address, city, country, customer, film, payment, rental, store};
use crate::warehouse::entity::{
    dim_actor, dim_category, dim_customer, dim_date, dim_film, dim_staff, dim_store, fact_payment,
    fact_rental,
};

/// Money as integer cents. Exact for MySQL DECIMAL; rounds the binary noise of a float that a
/// SQLite source may hand back (2.99 -> 299, never 298). An amount beyond what `i64` cents
/// hold (a widened column, a huge `REAL`) is an error, never a wrapped or clamped value.
pub fn cents(amount: Decimal) -> Result<i64, MoneyOverflow> {
    amount
        .checked_mul(Decimal::ONE_HUNDRED)
        .map(|c| c.round())
        .and_then(|c| c.to_i64())
        .ok_or(MoneyOverflow(amount))
}

/// An amount too large for the warehouse's integer cents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the amount {0} does not fit in the warehouse's integer cents")]
pub struct MoneyOverflow(pub Decimal);

/// `YYYYMMDD` of a date.
///
/// Years 1 to 9999 (every date MySQL stores) give distinct keys; a date past the `i32` range
/// of keys (beyond year 214748, which only a hand-made SQLite value could hold) gets the
/// nearest key rather than a wrapped one.
pub fn date_key(date: NaiveDate) -> i32 {
    let key =
        i64::from(date.year()) * 10_000 + i64::from(date.month()) * 100 + i64::from(date.day());
    i32::try_from(key).unwrap_or(if key < 0 { i32::MIN } else { i32::MAX })
}

/// `YYYYMMDD` of a DATETIME, taken as stored (no time-zone shift).
pub fn datetime_key(dt: NaiveDateTime) -> i32 {
    date_key(dt.date())
}

/// Whole days from `from` to `to`, truncated toward zero like MySQL's
/// `TIMESTAMPDIFF(DAY, from, to)`.
pub fn whole_days(from: NaiveDateTime, to: NaiveDateTime) -> i32 {
    let days = (to - from).num_days();
    i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX })
}

/// The `dim_date` row of one day.
pub fn date_row(date: NaiveDate) -> dim_date::Model {
    let dow = date.weekday().number_from_monday() as i32;
    dim_date::Model {
        date_key: date_key(date),
        full_date: date,
        year: date.year(),
        quarter: (date.month0() / 3 + 1) as i32,
        month: date.month() as i32,
        day_of_month: date.day() as i32,
        day_of_week: dow,
        is_weekend: dow >= 6,
    }
}

/// An address with its city and country resolved: what customers and stores carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub address: String,
    pub district: String,
    pub postal_code: Option<String>,
    pub phone: String,
    pub city: String,
    pub country: String,
}

/// Resolves an address through its city to its country.
pub fn place(a: &address::Model, c: &city::Model, k: &country::Model) -> Place {
    Place {
        address: a.address.clone(),
        district: a.district.clone(),
        postal_code: a.postal_code.clone(),
        phone: a.phone.clone(),
        city: c.city.clone(),
        country: k.country.clone(),
    }
}

/// A source id as the warehouse's `INTEGER` columns hold it. Sakila's ids are far below
/// 2^31, but a widened column (`INT UNSIGNED`) could pass it: such an id is an error naming the
/// row, never a wrapped, negative key.
pub fn id32(table: &'static str, row: i64, column: &'static str, id: u32) -> anyhow::Result<i32> {
    i32::try_from(id).map_err(|_| {
        anyhow::anyhow!(
            "{table} {row}: {column} {id} is beyond the warehouse's INTEGER range (at most {})",
            i32::MAX
        )
    })
}

pub fn film_row(film_key: i32, f: &film::Model, language: &str) -> anyhow::Result<dim_film::Model> {
    Ok(dim_film::Model {
        film_key,
        film_id: id32("film", f.film_id.into(), "film_id", f.film_id)?,
        title: f.title.clone(),
        release_year: f.release_year.map(|y| y as i32),
        // `language.name` is CHAR(20): MySQL strips the padding, SQLite may not.
        language: language.trim_end().to_string(),
        rating: f.rating.clone(),
        length: f.length.map(|l| l as i32),
        rental_duration: f.rental_duration as i32,
        rental_rate_cents: cents(f.rental_rate)
            .map_err(|e| anyhow::anyhow!("film {}: rental_rate: {e}", f.film_id))?,
        replacement_cost_cents: cents(f.replacement_cost)
            .map_err(|e| anyhow::anyhow!("film {}: replacement_cost: {e}", f.film_id))?,
        special_features: f.special_features.clone(),
        last_update: f.last_update.naive_utc(),
        is_deleted: false,
    })
}

pub fn actor_row(
    actor_key: i32,
    a: &crate::source::actor::Model,
) -> anyhow::Result<dim_actor::Model> {
    Ok(dim_actor::Model {
        actor_key,
        actor_id: id32("actor", a.actor_id.into(), "actor_id", a.actor_id)?,
        first_name: a.first_name.clone(),
        last_name: a.last_name.clone(),
        last_update: a.last_update.naive_utc(),
        is_deleted: false,
    })
}

pub fn category_row(
    category_key: i32,
    c: &crate::source::category::Model,
) -> anyhow::Result<dim_category::Model> {
    Ok(dim_category::Model {
        category_key,
        category_id: id32(
            "category",
            c.category_id.into(),
            "category_id",
            c.category_id,
        )?,
        name: c.name.clone(),
        last_update: c.last_update.naive_utc(),
        is_deleted: false,
    })
}

/// A name as a person writes it: each word's first letter a capital, the rest small
/// ("MARY", "SMITH" -> "Mary Smith"; "O'BRIEN" -> "O'Brien"; "JEAN-LUC" -> "Jean-Luc").
pub fn full_name(first: &str, last: &str) -> String {
    let mut out = String::with_capacity(first.len() + last.len() + 1);
    let mut word_start = true;
    for c in first.trim().chars().chain([' ']).chain(last.trim().chars()) {
        if word_start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        word_start = !c.is_alphanumeric();
    }
    out.trim().to_string()
}

pub fn customer_row(
    customer_key: i32,
    c: &customer::Model,
    p: &Place,
) -> anyhow::Result<dim_customer::Model> {
    let row = i64::from(c.customer_id);
    Ok(dim_customer::Model {
        customer_key,
        customer_id: id32("customer", row, "customer_id", c.customer_id)?,
        store_id: id32("customer", row, "store_id", c.store_id)?,
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
        full_name: full_name(&c.first_name, &c.last_name),
        email: c.email.clone(),
        active: c.active,
        create_date: c.create_date,
        address: p.address.clone(),
        district: p.district.clone(),
        postal_code: p.postal_code.clone(),
        phone: p.phone.clone(),
        city: p.city.clone(),
        country: p.country.clone(),
        last_update: c.last_update.map(|t| t.naive_utc()),
        is_deleted: false,
    })
}

pub fn store_row(store_key: i32, s: &store::Model, p: &Place) -> anyhow::Result<dim_store::Model> {
    let row = i64::from(s.store_id);
    Ok(dim_store::Model {
        store_key,
        store_id: id32("store", row, "store_id", s.store_id)?,
        manager_staff_id: id32("store", row, "manager_staff_id", s.manager_staff_id)?,
        address: p.address.clone(),
        district: p.district.clone(),
        postal_code: p.postal_code.clone(),
        city: p.city.clone(),
        country: p.country.clone(),
        last_update: s.last_update.naive_utc(),
        is_deleted: false,
    })
}

/// The staff columns the pipeline reads: never `picture` or `password`. A partial model of
/// the source entity: the query selects these columns by name.
#[derive(Clone, Debug, PartialEq, Eq, sea_orm::DerivePartialModel)]
#[sea_orm(entity = "crate::source::staff::Entity")]
pub struct StaffRow {
    pub staff_id: u32,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub store_id: u32,
    pub active: bool,
    pub username: String,
    pub last_update: chrono::DateTime<chrono::Utc>,
}

pub fn staff_row(staff_key: i32, s: &StaffRow) -> anyhow::Result<dim_staff::Model> {
    let row = i64::from(s.staff_id);
    Ok(dim_staff::Model {
        staff_key,
        staff_id: id32("staff", row, "staff_id", s.staff_id)?,
        store_id: id32("staff", row, "store_id", s.store_id)?,
        first_name: s.first_name.clone(),
        last_name: s.last_name.clone(),
        email: s.email.clone(),
        username: s.username.clone(),
        active: s.active,
        last_update: s.last_update.naive_utc(),
        is_deleted: false,
    })
}

/// Surrogate keys a rental resolves to (film and store through its inventory copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RentalKeys {
    pub film_key: i32,
    pub store_key: i32,
    pub customer_key: i32,
    pub staff_key: i32,
}

pub fn rental_row(r: &rental::Model, k: RentalKeys) -> anyhow::Result<fact_rental::Model> {
    Ok(fact_rental::Model {
        rental_id: r.rental_id,
        rental_date_key: datetime_key(r.rental_date),
        return_date_key: r.return_date.map(datetime_key),
        rental_date: r.rental_date,
        return_date: r.return_date,
        inventory_id: id32("rental", r.rental_id.into(), "inventory_id", r.inventory_id)?,
        film_key: k.film_key,
        store_key: k.store_key,
        customer_key: k.customer_key,
        staff_key: k.staff_key,
        rental_duration_days: r.return_date.map(|ret| whole_days(r.rental_date, ret)),
        source_last_update: Some(r.last_update.naive_utc()),
    })
}

/// Surrogate keys a payment resolves to (store through the staff member who took it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaymentKeys {
    pub customer_key: i32,
    pub store_key: i32,
    pub staff_key: i32,
}

pub fn payment_row(p: &payment::Model, k: PaymentKeys) -> anyhow::Result<fact_payment::Model> {
    Ok(fact_payment::Model {
        payment_id: id32("payment", p.payment_id.into(), "payment_id", p.payment_id)?,
        payment_date_key: datetime_key(p.payment_date),
        payment_date: p.payment_date,
        customer_key: k.customer_key,
        store_key: k.store_key,
        staff_key: k.staff_key,
        rental_id: p.rental_id,
        amount_cents: cents(p.amount)
            .map_err(|e| anyhow::anyhow!("payment {}: amount: {e}", p.payment_id))?,
        source_last_update: p.last_update.map(|t| t.naive_utc()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn full_names_are_written_as_people_write_them() {
        assert_eq!(full_name("MARY", "SMITH"), "Mary Smith");
        assert_eq!(full_name("PATRICIA", "O'BRIEN"), "Patricia O'Brien");
        assert_eq!(full_name("JEAN-LUC", "PICARD"), "Jean-Luc Picard");
        assert_eq!(full_name("ÉLODIE", "ÅSTRÖM"), "Élodie Åström");
        assert_eq!(full_name("", "SMITH"), "Smith");
        assert_eq!(full_name("MARY", " "), "Mary");
    }

    #[test]
    fn cents_are_exact() {
        assert_eq!(cents(Decimal::from_str("2.99").unwrap()), Ok(299));
        assert_eq!(cents(Decimal::from_str("0.00").unwrap()), Ok(0));
        assert_eq!(cents(Decimal::from_str("11.99").unwrap()), Ok(1199));
        assert_eq!(cents(Decimal::from_str("999.99").unwrap()), Ok(99999));
        // What SQLite's REAL gives back for 2.99 must still be 299 cents.
        assert_eq!(cents(Decimal::try_from(2.99f64).unwrap()), Ok(299));
        assert_eq!(cents(Decimal::try_from(0.29f64 * 3.0).unwrap()), Ok(87));
    }

    #[test]
    fn date_keys_use_the_stored_date() {
        assert_eq!(datetime_key(dt("2005-05-24 22:53:30")), 20050524);
        assert_eq!(datetime_key(dt("2006-02-14 23:59:59")), 20060214);
        assert_eq!(datetime_key(dt("2005-01-01 00:00:00")), 20050101);
    }

    #[test]
    fn whole_days_truncate_like_timestampdiff() {
        assert_eq!(
            whole_days(dt("2005-05-24 22:53:30"), dt("2005-05-26 22:04:30")),
            1
        );
        assert_eq!(
            whole_days(dt("2005-05-24 22:53:30"), dt("2005-05-26 22:53:30")),
            2
        );
        assert_eq!(
            whole_days(dt("2005-05-24 22:53:30"), dt("2005-05-24 23:00:00")),
            0
        );
        // A return recorded before the rental (bad data) truncates toward zero, as MySQL does.
        assert_eq!(
            whole_days(dt("2005-05-24 12:00:00"), dt("2005-05-23 13:00:00")),
            0
        );
        assert_eq!(
            whole_days(dt("2005-05-24 12:00:00"), dt("2005-05-22 11:00:00")),
            -2
        );
    }

    #[test]
    fn date_rows_know_weekends_and_quarters() {
        let sat = date_row(NaiveDate::from_ymd_opt(2005, 5, 28).unwrap());
        assert_eq!(
            (sat.date_key, sat.day_of_week, sat.is_weekend, sat.quarter),
            (20050528, 6, true, 2)
        );
        let mon = date_row(NaiveDate::from_ymd_opt(2006, 2, 13).unwrap());
        assert_eq!(
            (mon.day_of_week, mon.is_weekend, mon.quarter, mon.month),
            (1, false, 1, 2)
        );
        let dec = date_row(NaiveDate::from_ymd_opt(2030, 12, 31).unwrap());
        assert_eq!((dec.quarter, dec.day_of_month, dec.year), (4, 31, 2030));
    }

    #[test]
    fn rentals_map_keys_dates_and_duration() {
        let r = rental::Model {
            rental_id: 7,
            rental_date: dt("2005-05-24 22:53:30"),
            inventory_id: 367,
            customer_id: 130,
            return_date: Some(dt("2005-05-26 22:04:30")),
            staff_id: 1,
            last_update: dt("2006-02-15 21:30:53").and_utc(),
        };
        let keys = RentalKeys {
            film_key: 80,
            store_key: 1,
            customer_key: 130,
            staff_key: 1,
        };
        let row = rental_row(&r, keys).unwrap();
        assert_eq!(row.rental_date_key, 20050524);
        assert_eq!(row.return_date_key, Some(20050526));
        assert_eq!(row.rental_duration_days, Some(1));
        assert_eq!(
            (row.film_key, row.store_key, row.inventory_id),
            (80, 1, 367)
        );
        let open = rental_row(
            &rental::Model {
                return_date: None,
                ..r
            },
            keys,
        )
        .unwrap();
        assert_eq!(
            (open.return_date_key, open.rental_duration_days),
            (None, None)
        );
    }

    #[test]
    fn payments_carry_cents_and_nullable_rental() {
        let p = payment::Model {
            payment_id: 1,
            customer_id: 1,
            staff_id: 2,
            rental_id: None,
            amount: Decimal::from_str("5.99").unwrap(),
            payment_date: dt("2005-05-25 11:30:37"),
            last_update: None,
        };
        let row = payment_row(
            &p,
            PaymentKeys {
                customer_key: 1,
                store_key: 2,
                staff_key: 2,
            },
        )
        .unwrap();
        assert_eq!(
            (
                row.amount_cents,
                row.rental_id,
                row.payment_date_key,
                row.store_key
            ),
            (599, None, 20050525, 2)
        );
    }

    #[test]
    fn films_fold_in_the_language_and_cents() {
        let f = film::Model {
            film_id: 1,
            title: "ACADEMY DINOSAUR".into(),
            description: None,
            release_year: Some(2006),
            language_id: 1,
            original_language_id: None,
            rental_duration: 6,
            rental_rate: Decimal::from_str("0.99").unwrap(),
            length: Some(86),
            replacement_cost: Decimal::from_str("20.99").unwrap(),
            rating: Some("PG".into()),
            special_features: Some("Deleted Scenes,Behind the Scenes".into()),
            last_update: dt("2006-02-15 05:03:42").and_utc(),
        };
        let row = film_row(5, &f, "English             ").unwrap();
        assert_eq!(row.language, "English");
        assert_eq!(
            (
                row.film_key,
                row.rental_rate_cents,
                row.replacement_cost_cents
            ),
            (5, 99, 2099)
        );
        assert_eq!(row.release_year, Some(2006));
        assert!(!row.is_deleted);
    }

    #[test]
    fn an_id_beyond_the_warehouse_integers_is_an_error_naming_the_row() {
        let r = rental::Model {
            rental_id: 7,
            rental_date: dt("2005-05-24 22:53:30"),
            inventory_id: 1 << 31,
            customer_id: 130,
            return_date: None,
            staff_id: 1,
            last_update: dt("2006-02-15 21:30:53").and_utc(),
        };
        let keys = RentalKeys {
            film_key: 1,
            store_key: 1,
            customer_key: 1,
            staff_key: 1,
        };
        let e = rental_row(&r, keys).unwrap_err().to_string();
        assert_eq!(
            e,
            "rental 7: inventory_id 2147483648 is beyond the warehouse's INTEGER range (at most 2147483647)"
        );
        assert_eq!(
            id32("film", 1, "film_id", i32::MAX as u32).unwrap(),
            i32::MAX
        );
    }

    #[test]
    fn an_amount_beyond_integer_cents_is_an_error_naming_the_row() {
        let huge = Decimal::from_str("100000000000000000000").unwrap();
        assert_eq!(cents(huge), Err(MoneyOverflow(huge)));
        assert_eq!(cents(Decimal::MAX), Err(MoneyOverflow(Decimal::MAX)));
        let p = payment::Model {
            payment_id: 16050,
            customer_id: 1,
            staff_id: 1,
            rental_id: None,
            amount: huge,
            payment_date: dt("2005-05-25 11:30:37"),
            last_update: None,
        };
        let keys = PaymentKeys {
            customer_key: 1,
            store_key: 1,
            staff_key: 1,
        };
        let e = payment_row(&p, keys).unwrap_err().to_string();
        assert!(
            e.starts_with("payment 16050: amount: the amount 100000000000000000000"),
            "{e}"
        );
    }
}
