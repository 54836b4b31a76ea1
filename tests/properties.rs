//! No panic on any input: the pure transforms and the argument parsers are fed arbitrary
//! values. Each either returns a value or an error; none may panic, wrap silently into a
//! different meaning, or lose an exact amount.

use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;
use rust_decimal::Decimal;

use sakila_sync::config;
use sakila_sync::source::{payment, rental};
use sakila_sync::star::transform::{
    PaymentKeys, RentalKeys, cents, date_key, full_name, payment_row, rental_row, whole_days,
};
use sakila_sync::validate::WindowSpec;

fn any_datetime() -> impl Strategy<Value = NaiveDateTime> {
    (any::<i64>()).prop_map(|s| {
        chrono::DateTime::from_timestamp(s.rem_euclid(i64::from(i32::MAX) * 4000), 0)
            .map(|t| t.naive_utc())
            .unwrap_or_default()
    })
}

fn any_decimal() -> impl Strategy<Value = Decimal> {
    (any::<i128>(), 0u32..=28).prop_map(|(m, scale)| {
        let m = m % 79_228_162_514_264_337_593_543_950_335i128;
        Decimal::from_i128_with_scale(m, scale)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn cents_are_exact_or_an_error(amount in any_decimal()) {
        match cents(amount) {
            Ok(c) => {
                let back = Decimal::from(c) / Decimal::ONE_HUNDRED;
                prop_assert!((back - amount).abs() <= Decimal::from_str("0.005").unwrap());
            }
            Err(e) => prop_assert!(e.to_string().contains("does not fit")),
        }
    }

    #[test]
    fn date_keys_never_panic_and_order_days(a in any_datetime(), b in any_datetime()) {
        let (ka, kb) = (date_key(a.date()), date_key(b.date()));
        if a.date() <= b.date() {
            prop_assert!(ka <= kb);
        }
        let _ = whole_days(a, b);
    }

    #[test]
    fn full_names_never_panic(first in ".*", last in ".*") {
        let name = full_name(&first, &last);
        prop_assert!(name.chars().count() <= first.chars().count() * 3 + last.chars().count() * 3 + 1);
    }

    #[test]
    fn fact_transforms_take_any_row(
        id in any::<i32>(),
        ids in any::<(u32, u32, u32)>(),
        rented in any_datetime(),
        returned in proptest::option::of(any_datetime()),
        amount in any_decimal(),
        stamp in any_datetime(),
    ) {
        let r = rental::Model {
            rental_id: id,
            rental_date: rented,
            inventory_id: ids.0,
            customer_id: ids.1,
            return_date: returned,
            staff_id: ids.2,
            last_update: stamp.and_utc(),
        };
        let keys = RentalKeys { film_key: 1, store_key: 1, customer_key: 1, staff_key: 1 };
        match rental_row(&r, keys) {
            Ok(row) => prop_assert_eq!(row.rental_id, id),
            Err(e) => {
                prop_assert!(ids.0 > i32::MAX as u32);
                let named = format!("rental {id}: inventory_id {}", ids.0);
                prop_assert!(e.to_string().starts_with(&named), "{}", e);
            }
        }
        let p = payment::Model {
            payment_id: ids.0,
            customer_id: ids.1,
            staff_id: ids.2,
            rental_id: Some(id),
            amount,
            payment_date: rented,
            last_update: Some(stamp.and_utc()),
        };
        let keys = PaymentKeys { customer_key: 1, store_key: 1, staff_key: 1 };
        match payment_row(&p, keys) {
            Ok(row) => prop_assert_eq!(Some(row.amount_cents), cents(amount).ok()),
            Err(e) => {
                let named = format!("payment {}: ", ids.0);
                prop_assert!(e.to_string().contains(&named), "{}", e);
            }
        }
    }

    #[test]
    fn durations_parse_or_say_why(text in ".{0,40}") {
        match config::parse_duration(&text) {
            Ok(d) => prop_assert!(d >= chrono::Duration::zero()),
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    #[test]
    fn huge_durations_are_refused_or_kept(n in any::<u64>(), unit in "(s|m|h|d|y)") {
        let _ = config::parse_duration(&format!("{n}{unit}"));
        let _ = config::parse_duration(&n.to_string());
    }

    #[test]
    fn validate_windows_parse_or_say_why(
        days in proptest::option::of(".{0,12}"),
        since in proptest::option::of("[0-9-]{0,12}"),
        until in proptest::option::of(".{0,12}"),
        as_of in proptest::option::of("[0-9+-]{0,14}"),
        latest in proptest::option::of(any_datetime()),
    ) {
        if let Ok(spec) = WindowSpec::from_options(
            days.as_deref(),
            since.as_deref(),
            until.as_deref(),
            as_of.as_deref(),
        ) {
            let _ = spec.resolve(latest.map(|t| t.date()));
        }
    }

    #[test]
    fn urls_are_redacted_without_panic(url in ".{0,60}", password in "[^\\s]{1,12}") {
        let _ = config::redact(&url);
        let with_password = format!("mysql://user:{password}@host:3306/db");
        let shown = config::redact(&with_password);
        if config::password_forms(&with_password).iter().any(|p| p.len() > 3) {
            for form in config::password_forms(&with_password) {
                if form.len() > 3 {
                    prop_assert!(!shown.contains(&form), "{} shows {}", shown, form);
                }
            }
        }
    }
}

#[test]
fn the_biggest_dates_give_the_nearest_key_not_a_wrapped_one() {
    assert_eq!(date_key(NaiveDate::MAX), i32::MAX);
    assert_eq!(date_key(NaiveDate::MIN), i32::MIN);
    assert_eq!(
        date_key(NaiveDate::from_ymd_opt(9999, 12, 31).unwrap()),
        99_991_231
    );
}
