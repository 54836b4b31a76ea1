//! `validate` against real Sakila: a clean warehouse passes, each kind of corruption is found
//! and named by its id, the window arithmetic matches SQL on the source, and the command line
//! exits 0 / 1 / 2.
mod common;

use std::path::Path;
use std::process::{Command, Output};

use chrono::NaiveDate;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use sakila_sync::db::{Role, connect};
use sakila_sync::sync::full_load::full_load;
use sakila_sync::sync::incremental::{Options, incremental};
use sakila_sync::validate::{
    CheckKind, Facts, Id, ValidationReport, WindowSpec, validate, validate_with,
};

/// A private real Sakila, fully loaded into a fresh warehouse.
struct Loaded {
    src_url: String,
    wh_url: String,
    src: sakila_sync::db::SourceDb,
    wh: DatabaseConnection,
    _db: common::DbGuard,
    _wh: common::WarehouseGuard,
}

async fn loaded(dump: &Path, prefix: &str) -> Loaded {
    loaded_on(common::Wh::Sqlite, dump, prefix).await
}

async fn loaded_on(kind: common::Wh, dump: &Path, prefix: &str) -> Loaded {
    let (src_url, db) = common::sakila_db(dump, prefix);
    let (wh_url, guard) = common::temp_warehouse_on(kind);
    let src = sakila_sync::db::SourceDb::connect(&src_url).await.unwrap();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    full_load(&src, &wh).await.unwrap();
    Loaded {
        src_url,
        wh_url,
        src,
        wh,
        _db: db,
        _wh: guard,
    }
}

impl Loaded {
    /// Validates by checksums (the default), and row by row: both must find the same.
    async fn validate(&self, window: WindowSpec) -> ValidationReport {
        let by_blocks = validate(&self.src, &self.wh, window).await.unwrap();
        let by_rows = validate_with(&self.src, &self.wh, window, Facts::Exhaustive)
            .await
            .unwrap();
        assert_eq!(
            (&by_blocks.window, &by_blocks.checks),
            (&by_rows.window, &by_rows.checks),
            "checksums and --exhaustive disagree:\n{by_blocks}\n{by_rows}"
        );
        by_blocks
    }

    /// Runs statements on the warehouse with foreign-key enforcement off, as a bug or a
    /// hand edit could leave it.
    async fn corrupt_warehouse(&self, statements: &[&str]) {
        let mut opt = ConnectOptions::new(self.wh_url.clone());
        opt.max_connections(1).sqlx_logging(false);
        let db = Database::connect(opt).await.unwrap();
        if self.wh_url.starts_with("postgres") {
            // Foreign keys are triggers there, which a replica session does not fire.
            common::exec(&db, "SET session_replication_role = replica").await;
        } else {
            common::exec(&db, "PRAGMA foreign_keys = OFF").await;
        }
        for sql in statements {
            common::exec(&db, sql).await;
        }
        db.close().await.unwrap();
    }

    async fn change_source(&self, statements: &[&str]) {
        let db = common::raw(&self.src_url).await;
        for sql in statements {
            common::exec(&db, sql).await;
        }
    }
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The ids listed by check `kind` on `table`, asserting the check failed.
fn failed_ids(report: &ValidationReport, kind: CheckKind, table: &str) -> Vec<Id> {
    let check = report
        .check(kind, table)
        .unwrap_or_else(|| panic!("no {kind:?} check on {table}"));
    assert!(!check.passed, "{kind:?} {table} should fail:\n{report}");
    assert!(!report.passed());
    check.ids.clone()
}

/// The checks that failed, as `(kind, table)`.
fn failures(report: &ValidationReport) -> Vec<(CheckKind, &'static str)> {
    report.failed().map(|c| (c.check, c.table)).collect()
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn clean_warehouse_passes_and_the_last_week_has_182_payments() {
    let dump = require_dump!();
    let l = loaded(&dump, "val_clean").await;

    let all = l.validate(WindowSpec::AllTime).await;
    assert!(all.passed(), "{all}");
    assert_eq!(all.checks.len(), 45);
    let count = |r: &ValidationReport, kind, table| {
        let c = r.check(kind, table).unwrap();
        assert!(c.passed, "{c:?}");
        (c.source.unwrap(), c.warehouse.unwrap())
    };
    assert_eq!(count(&all, CheckKind::Count, "dim_customer"), (599, 599));
    assert_eq!(
        count(&all, CheckKind::Count, "bridge_film_actor"),
        (5462, 5462)
    );
    assert_eq!(
        count(&all, CheckKind::WindowRentals, "fact_rental"),
        (16044, 16044)
    );
    assert_eq!(
        count(&all, CheckKind::WindowRevenueCents, "fact_payment"),
        (6741651, 6741651)
    );

    let week = l
        .validate(WindowSpec::Days {
            days: 7,
            as_of: None,
        })
        .await;
    assert!(week.passed(), "{week}");
    assert_eq!(week.window.since, Some(date("2006-02-08")));
    assert_eq!(week.window.until, Some(date("2006-02-14")));
    assert_eq!(week.window.latest, Some(date("2006-02-14")));
    assert_eq!(
        count(&week, CheckKind::WindowPayments, "fact_payment"),
        (182, 182)
    );
    assert_eq!(
        count(&week, CheckKind::WindowRentals, "fact_rental"),
        (182, 182)
    );
    let src = common::raw(&l.src_url).await;
    let cents = common::query_i64(
        &src,
        "SELECT CAST(SUM(amount) * 100 AS SIGNED) FROM payment WHERE payment_date >= '2006-02-08'",
    )
    .await;
    assert_eq!(cents, 51418);
    assert_eq!(
        count(&week, CheckKind::WindowRevenueCents, "fact_payment"),
        (cents, cents)
    );
    let text = week.to_string();
    assert!(text.contains("window: 2006-02-08..2006-02-14"), "{text}");
    assert!(text.contains("✔ source and warehouse agree"), "{text}");
    assert!(!text.contains('✖'), "{text}");
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn window_arithmetic_matches_sql_on_the_source() {
    let dump = require_dump!();
    let l = loaded(&dump, "val_window").await;
    let src = common::raw(&l.src_url).await;
    // (spec, first day, last day) with the SQL bounds each must count.
    let cases = [
        (
            WindowSpec::from_options(Some("2"), None, None, Some("2005-05-25")).unwrap(),
            Some("2005-05-24"),
            Some("2005-05-25"),
        ),
        (
            WindowSpec::from_options(None, Some("2005-06-01"), Some("2005-06-30"), None).unwrap(),
            Some("2005-06-01"),
            Some("2005-06-30"),
        ),
        (
            WindowSpec::from_options(None, None, None, Some("2005-05-31")).unwrap(),
            None,
            Some("2005-05-31"),
        ),
        (
            WindowSpec::from_options(None, Some("2005-08-23"), None, None).unwrap(),
            Some("2005-08-23"),
            None,
        ),
        (
            WindowSpec::from_options(Some("30"), None, None, None).unwrap(),
            Some("2006-01-16"),
            Some("2006-02-14"),
        ),
    ];
    for (spec, since, until) in cases {
        let report = l.validate(spec).await;
        assert!(report.passed(), "{report}");
        assert_eq!(report.window.since, since.map(date), "{spec:?}");
        assert_eq!(report.window.until, until.map(date), "{spec:?}");
        let mut cond = vec!["1 = 1".to_string()];
        if let Some(s) = since {
            cond.push(format!("{{col}} >= '{s}'"));
        }
        if let Some(u) = until {
            cond.push(format!("{{col}} < DATE_ADD('{u}', INTERVAL 1 DAY)"));
        }
        let cond = cond.join(" AND ");
        let rentals = common::query_i64(
            &src,
            &format!(
                "SELECT COUNT(*) FROM rental WHERE {}",
                cond.replace("{col}", "rental_date")
            ),
        )
        .await;
        let payments = common::query_i64(
            &src,
            &format!(
                "SELECT COUNT(*) FROM payment WHERE {}",
                cond.replace("{col}", "payment_date")
            ),
        )
        .await;
        let cents = common::query_i64(
            &src,
            &format!(
                "SELECT CAST(COALESCE(SUM(amount), 0) * 100 AS SIGNED) FROM payment WHERE {}",
                cond.replace("{col}", "payment_date")
            ),
        )
        .await;
        let values = |kind, table| {
            let c = report.check(kind, table).unwrap();
            (c.source.unwrap(), c.warehouse.unwrap())
        };
        assert_eq!(
            values(CheckKind::WindowRentals, "fact_rental"),
            (rentals, rentals),
            "{spec:?}"
        );
        assert_eq!(
            values(CheckKind::WindowPayments, "fact_payment"),
            (payments, payments),
            "{spec:?}"
        );
        assert_eq!(
            values(CheckKind::WindowRevenueCents, "fact_payment"),
            (cents, cents),
            "{spec:?}"
        );
        assert!(rentals > 0 && payments > 0, "{spec:?} selects no data");
    }
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_deleted_fact_row_is_missing() {
    a_deleted_fact_row_is_missing_on(common::Wh::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_deleted_fact_row_is_missing_on_postgres() {
    a_deleted_fact_row_is_missing_on(common::Wh::Postgres).await;
}

async fn a_deleted_fact_row_is_missing_on(kind: common::Wh) {
    let dump = require_dump!();
    let l = loaded_on(kind, &dump, "val_missing").await;
    l.corrupt_warehouse(&["DELETE FROM fact_rental WHERE rental_id = 4321"])
        .await;
    let r = l.validate(WindowSpec::AllTime).await;
    assert_eq!(
        failed_ids(&r, CheckKind::Missing, "fact_rental"),
        vec![Id::One(4321)]
    );
    let rentals = r.check(CheckKind::WindowRentals, "fact_rental").unwrap();
    assert_eq!(
        (rentals.source, rentals.warehouse),
        (Some(16044), Some(16043))
    );
    assert_eq!(
        failures(&r),
        vec![
            (CheckKind::WindowRentals, "fact_rental"),
            (CheckKind::Missing, "fact_rental")
        ]
    );
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn an_altered_amount_is_stale() {
    an_altered_amount_is_stale_on(common::Wh::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn an_altered_amount_is_stale_on_postgres() {
    an_altered_amount_is_stale_on(common::Wh::Postgres).await;
}

async fn an_altered_amount_is_stale_on(kind: common::Wh) {
    let dump = require_dump!();
    let l = loaded_on(kind, &dump, "val_amount").await;
    l.corrupt_warehouse(&[
        "UPDATE fact_payment SET amount_cents = amount_cents + 1 WHERE payment_id = 777",
    ])
    .await;
    let r = l.validate(WindowSpec::AllTime).await;
    assert_eq!(
        failed_ids(&r, CheckKind::Stale, "fact_payment"),
        vec![Id::One(777)]
    );
    let stale = r.check(CheckKind::Stale, "fact_payment").unwrap();
    assert_eq!(
        stale.columns.iter().collect::<Vec<_>>(),
        vec![(&"amount_cents", &1)]
    );
    let revenue = r
        .check(CheckKind::WindowRevenueCents, "fact_payment")
        .unwrap();
    assert_eq!(
        (revenue.source, revenue.warehouse, revenue.differences),
        (Some(6741651), Some(6741652), 1)
    );
    // A window that excludes the payment (2005-08-20) still finds the stale row.
    let week = l
        .validate(WindowSpec::Days {
            days: 7,
            as_of: None,
        })
        .await;
    assert!(
        week.check(CheckKind::WindowRevenueCents, "fact_payment")
            .unwrap()
            .passed
    );
    assert_eq!(
        failed_ids(&week, CheckKind::Stale, "fact_payment"),
        vec![Id::One(777)]
    );
}

/// Two rows of one block that swap content keep the block's count and its total, but not its
/// checksum: each row's text starts with its id.
#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn two_rows_that_swap_content_in_one_block_are_found() {
    two_rows_that_swap_content_in_one_block_are_found_on(common::Wh::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn two_rows_that_swap_content_in_one_block_are_found_on_postgres() {
    two_rows_that_swap_content_in_one_block_are_found_on(common::Wh::Postgres).await;
}

async fn two_rows_that_swap_content_in_one_block_are_found_on(kind: common::Wh) {
    let dump = require_dump!();
    let l = loaded_on(kind, &dump, "val_swap").await;
    l.corrupt_warehouse(&[
        // Payments 5 (9.99) and 6 (4.99): the same two amounts, on each other's rows.
        "UPDATE fact_payment SET amount_cents = CASE payment_id WHEN 5 THEN 499 ELSE 999 END \
         WHERE payment_id IN (5, 6)",
        // Rentals 100 (customer 208) and 101 (customer 468) swap customers.
        "UPDATE fact_rental SET customer_key = (SELECT customer_key FROM dim_customer WHERE \
         customer_id = CASE fact_rental.rental_id WHEN 100 THEN 468 ELSE 208 END) \
         WHERE rental_id IN (100, 101)",
    ])
    .await;
    let r = l.validate(WindowSpec::AllTime).await;
    assert_eq!(
        failed_ids(&r, CheckKind::Stale, "fact_payment"),
        vec![Id::One(5), Id::One(6)]
    );
    assert_eq!(
        failed_ids(&r, CheckKind::Stale, "fact_rental"),
        vec![Id::One(100), Id::One(101)]
    );
    let stale = r.check(CheckKind::Stale, "fact_rental").unwrap();
    assert_eq!(stale.columns.keys().collect::<Vec<_>>(), [&"customer_key"]);
    // The totals cannot tell: only the stale checks fail.
    assert_eq!(
        failures(&r),
        vec![
            (CheckKind::Stale, "fact_rental"),
            (CheckKind::Stale, "fact_payment")
        ]
    );
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn an_extra_fact_row_is_found() {
    an_extra_fact_row_is_found_on(common::Wh::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn an_extra_fact_row_is_found_on_postgres() {
    an_extra_fact_row_is_found_on(common::Wh::Postgres).await;
}

async fn an_extra_fact_row_is_found_on(kind: common::Wh) {
    let dump = require_dump!();
    let l = loaded_on(kind, &dump, "val_extra").await;
    l.corrupt_warehouse(&[
        "INSERT INTO fact_payment (payment_id, payment_date_key, payment_date, customer_key, store_key, staff_key, rental_id, amount_cents) \
         SELECT 99999, payment_date_key, payment_date, customer_key, store_key, staff_key, NULL, 500 FROM fact_payment WHERE payment_id = 1",
    ])
    .await;
    let r = l.validate(WindowSpec::AllTime).await;
    assert_eq!(
        failed_ids(&r, CheckKind::Extra, "fact_payment"),
        vec![Id::One(99999)]
    );
    let payments = r.check(CheckKind::WindowPayments, "fact_payment").unwrap();
    assert_eq!(
        (payments.source, payments.warehouse),
        (Some(16049), Some(16050))
    );
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_stale_customer_city_is_found() {
    a_stale_customer_city_is_found_on(common::Wh::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_stale_customer_city_is_found_on_postgres() {
    a_stale_customer_city_is_found_on(common::Wh::Postgres).await;
}

async fn a_stale_customer_city_is_found_on(kind: common::Wh) {
    let dump = require_dump!();
    let l = loaded_on(kind, &dump, "val_city").await;
    l.corrupt_warehouse(&["UPDATE dim_customer SET city = 'Atlantis' WHERE customer_id = 42"])
        .await;
    let r = l.validate(WindowSpec::AllTime).await;
    assert_eq!(
        failed_ids(&r, CheckKind::Stale, "dim_customer"),
        vec![Id::One(42)]
    );
    let stale = r.check(CheckKind::Stale, "dim_customer").unwrap();
    assert_eq!(
        stale.columns.keys().copied().collect::<Vec<_>>(),
        vec!["city"]
    );
    assert_eq!(failures(&r), vec![(CheckKind::Stale, "dim_customer")]);
    let text = r.to_string();
    assert!(text.contains("ids: 42"), "{text}");
    assert!(text.contains("columns: city (1)"), "{text}");
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_wrong_store_key_is_stale() {
    a_wrong_store_key_is_stale_on(common::Wh::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_wrong_store_key_is_stale_on_postgres() {
    a_wrong_store_key_is_stale_on(common::Wh::Postgres).await;
}

async fn a_wrong_store_key_is_stale_on(kind: common::Wh) {
    let dump = require_dump!();
    let l = loaded_on(kind, &dump, "val_store").await;
    // Both keys exist, so only the comparison with the source can tell.
    l.corrupt_warehouse(&[
        "UPDATE fact_rental SET store_key = 3 - store_key WHERE rental_id = 100",
    ])
    .await;
    let r = l.validate(WindowSpec::AllTime).await;
    assert_eq!(
        failed_ids(&r, CheckKind::Stale, "fact_rental"),
        vec![Id::One(100)]
    );
    let stale = r.check(CheckKind::Stale, "fact_rental").unwrap();
    assert_eq!(
        stale.columns.keys().copied().collect::<Vec<_>>(),
        vec!["store_key"]
    );
    assert_eq!(failures(&r), vec![(CheckKind::Stale, "fact_rental")]);
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_missing_date_is_found() {
    let dump = require_dump!();
    let l = loaded(&dump, "val_date").await;
    l.corrupt_warehouse(&["DELETE FROM dim_date WHERE date_key = 20050524"])
        .await;
    let r = l.validate(WindowSpec::AllTime).await;
    assert_eq!(
        failed_ids(&r, CheckKind::DatesInDimDate, "fact_rental"),
        vec![Id::One(20050524)]
    );
    assert_eq!(
        failed_ids(&r, CheckKind::DatesInDimDate, "fact_payment"),
        vec![Id::One(20050524)]
    );
    let rentals = r.check(CheckKind::DatesInDimDate, "fact_rental").unwrap();
    // Eight rentals start that day; none is returned on it.
    assert_eq!(rentals.columns.get("rental_date_key"), Some(&8));
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn dangling_keys_break_foreign_keys() {
    dangling_keys_break_foreign_keys_on(common::Wh::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn dangling_keys_break_foreign_keys_on_postgres() {
    dangling_keys_break_foreign_keys_on(common::Wh::Postgres).await;
}

async fn dangling_keys_break_foreign_keys_on(kind: common::Wh) {
    let dump = require_dump!();
    let l = loaded_on(kind, &dump, "val_fk").await;
    l.corrupt_warehouse(&[
        "UPDATE fact_rental SET customer_key = 99999 WHERE rental_id = 5",
        "UPDATE bridge_film_actor SET actor_key = 9999 WHERE film_key = 1 AND actor_key = 1",
    ])
    .await;
    let r = l.validate(WindowSpec::AllTime).await;
    assert_eq!(
        failed_ids(&r, CheckKind::ForeignKeys, "fact_rental"),
        vec![Id::One(5)]
    );
    let fk = r.check(CheckKind::ForeignKeys, "fact_rental").unwrap();
    assert_eq!(
        fk.columns.keys().copied().collect::<Vec<_>>(),
        vec!["customer_key"]
    );
    assert_eq!(
        failed_ids(&r, CheckKind::Stale, "fact_rental"),
        vec![Id::One(5)]
    );
    assert_eq!(
        failed_ids(&r, CheckKind::ForeignKeys, "bridge_film_actor"),
        vec![Id::Text("film_key=1,actor_key=9999".into())]
    );
    // Film 1 / actor 1 is then missing from the bridge.
    assert_eq!(
        failed_ids(&r, CheckKind::Missing, "bridge_film_actor"),
        vec![Id::Pair(1, 1)]
    );
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn deleted_members_are_expected_but_not_while_the_source_has_them() {
    let dump = require_dump!();
    let l = loaded(&dump, "val_members").await;
    l.corrupt_warehouse(&[
        // Flagged deleted although actor 7 is still in the source: stale.
        "UPDATE dim_actor SET is_deleted = 1 WHERE actor_id = 7",
        // Gone from the source and flagged: expected, not extra.
        "INSERT INTO dim_actor (actor_key, actor_id, first_name, last_name, last_update, is_deleted) \
         VALUES (500, 5000, 'GONE', 'ACTOR', '2006-02-15 04:34:33', 1)",
        // Gone from the source but not flagged: extra.
        "INSERT INTO dim_actor (actor_key, actor_id, first_name, last_name, last_update, is_deleted) \
         VALUES (501, 5001, 'STRAY', 'ACTOR', '2006-02-15 04:34:33', 0)",
    ])
    .await;
    let r = l.validate(WindowSpec::AllTime).await;
    assert_eq!(
        failed_ids(&r, CheckKind::Stale, "dim_actor"),
        vec![Id::One(7)]
    );
    let stale = r.check(CheckKind::Stale, "dim_actor").unwrap();
    assert_eq!(
        stale.columns.keys().copied().collect::<Vec<_>>(),
        vec!["is_deleted"]
    );
    assert_eq!(
        failed_ids(&r, CheckKind::Extra, "dim_actor"),
        vec![Id::One(5001)]
    );
    // 200 source actors; the warehouse has 199 + 1 stray not flagged deleted.
    let count = r.check(CheckKind::Count, "dim_actor").unwrap();
    assert_eq!((count.source, count.warehouse), (Some(200), Some(200)));
    assert_eq!(
        failures(&r),
        vec![
            (CheckKind::Extra, "dim_actor"),
            (CheckKind::Stale, "dim_actor")
        ]
    );
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn changes_in_the_source_are_found() {
    let dump = require_dump!();
    let l = loaded(&dump, "val_source").await;
    l.change_source(&[
        "UPDATE payment SET amount = amount + 1.00 WHERE payment_id = 16000",
        "DELETE FROM film_actor WHERE film_id = 1 AND actor_id = 10",
        "UPDATE film SET rental_rate = 9.99 WHERE film_id = 10",
        "INSERT INTO rental (rental_id, rental_date, inventory_id, customer_id, return_date, staff_id) \
         VALUES (20000, '2006-02-14 16:00:00', 1, 1, NULL, 1)",
        // Sakila's insert trigger stamps rental_date with NOW(): put it back on the last day.
        "UPDATE rental SET rental_date = '2006-02-14 16:00:00' WHERE rental_id = 20000",
        "UPDATE address SET address = '1 New Street' WHERE address_id = (SELECT address_id FROM customer WHERE customer_id = 3)",
    ])
    .await;
    let r = l
        .validate(WindowSpec::Days {
            days: 1,
            as_of: None,
        })
        .await;
    assert_eq!(
        failed_ids(&r, CheckKind::Stale, "fact_payment"),
        vec![Id::One(16000)]
    );
    assert_eq!(
        failed_ids(&r, CheckKind::Extra, "bridge_film_actor"),
        vec![Id::Pair(1, 10)]
    );
    assert_eq!(
        failed_ids(&r, CheckKind::Stale, "dim_film"),
        vec![Id::One(10)]
    );
    assert_eq!(
        r.check(CheckKind::Stale, "dim_film")
            .unwrap()
            .columns
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        // MySQL moved the film's last_update too, which the warehouse carries.
        vec!["last_update", "rental_rate_cents"]
    );
    assert_eq!(
        failed_ids(&r, CheckKind::Missing, "fact_rental"),
        vec![Id::One(20000)]
    );
    assert_eq!(
        failed_ids(&r, CheckKind::Stale, "dim_customer"),
        vec![Id::One(3)]
    );
    assert_eq!(
        r.check(CheckKind::Stale, "dim_customer")
            .unwrap()
            .columns
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec!["address"]
    );
    // The new rental is on the last day, so the 1-day window sees it.
    let rentals = r.check(CheckKind::WindowRentals, "fact_rental").unwrap();
    assert_eq!((rentals.source, rentals.warehouse), (Some(183), Some(182)));
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn an_unreadable_warehouse_is_an_error_not_a_difference() {
    let dump = require_dump!();
    let l = loaded(&dump, "val_broken").await;
    l.corrupt_warehouse(&["DROP TABLE fact_payment"]).await;
    let err = validate(&l.src, &l.wh, WindowSpec::AllTime)
        .await
        .expect_err("a missing fact table cannot be compared");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("cannot read warehouse table fact_payment"),
        "{msg}"
    );
    let out = run(&["--source", &l.src_url, "--warehouse", &l.wh_url, "validate"]);
    assert_error(&out, "fact_payment");
}

#[tokio::test]
async fn simulated_activity_is_found_and_incremental_makes_it_agree_again() {
    // A generated Sakila in MariaDB (simulate is meant for generated sources: on the real dump
    // its new films collide with the dump's own film_text trigger).
    let name = common::unique_name("val_sim");
    let src_url = common::empty_database(&name);
    let _db = common::DbGuard(name);
    let gen_db = connect(&src_url, Role::Generator).await.unwrap();
    sakila_sync::generate::generate(&gen_db, 1, 42)
        .await
        .unwrap();
    gen_db.close().await.unwrap();
    let (wh_url, _dir) = common::temp_warehouse();
    let src = sakila_sync::db::SourceDb::connect(&src_url).await.unwrap();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    full_load(&src, &wh).await.unwrap();
    let clean = validate(&src, &wh, WindowSpec::AllTime).await.unwrap();
    assert!(clean.passed(), "{clean}");

    let writer = connect(&src_url, Role::SourceWriter).await.unwrap();
    let sim =
        sakila_sync::generate::simulate(&writer, 400, 5, sakila_sync::generate::Mix::Stress).await;
    writer.close().await.unwrap();
    let sim = sim.unwrap();
    // simulate deletes no dimension member: delete a customer and an actor (with what points
    // at them) so incremental has members to flag.
    let my = common::raw(&src_url).await;
    for sql in [
        "DELETE FROM payment WHERE customer_id = 599",
        "DELETE FROM rental WHERE customer_id = 599",
        "DELETE FROM customer WHERE customer_id = 599",
        "DELETE FROM film_actor WHERE actor_id = 200",
        "DELETE FROM actor WHERE actor_id = 200",
    ] {
        common::exec(&my, sql).await;
    }
    my.close().await.unwrap();
    let before = validate(&src, &wh, WindowSpec::AllTime).await.unwrap();
    assert!(!before.passed(), "400 operations ({sim}) changed nothing?");
    for (kind, table) in [
        (CheckKind::Missing, "fact_rental"),
        (CheckKind::Missing, "fact_payment"),
        (CheckKind::Extra, "dim_customer"),
        (CheckKind::Extra, "dim_actor"),
    ] {
        assert!(
            !before.check(kind, table).unwrap().passed,
            "{kind:?} {table} after {sim}:\n{before}"
        );
    }
    // incremental brings the warehouse to what a full-load would hold, deleted members kept
    // and flagged: validate must agree with that.
    incremental(&src, &wh, Options::default()).await.unwrap();
    let after = validate(&src, &wh, WindowSpec::AllTime).await.unwrap();
    assert!(after.passed(), "after incremental ({sim}):\n{after}");
    // incremental kept the two deleted members, flagged: validate counted them as expected.
    let raw_wh = common::raw(&wh_url).await;
    assert_eq!(
        common::query_strings(
            &raw_wh,
            "SELECT 'customer ' || customer_id FROM dim_customer WHERE is_deleted = 1 \
             UNION ALL SELECT 'actor ' || actor_id FROM dim_actor WHERE is_deleted = 1 ORDER BY 1",
        )
        .await,
        vec!["actor 200", "customer 599"]
    );
    src.close().await.unwrap();
}

#[tokio::test]
async fn a_generated_sqlite_source_validates_clean() {
    // No dump needed: generate a scale-1 Sakila into SQLite (money as REAL there).
    let dir = tempfile::tempdir().unwrap();
    let src_url = format!("sqlite://{}", dir.path().join("src.db").display());
    let gen_db = connect(&src_url, Role::Generator).await.unwrap();
    sakila_sync::generate::generate(&gen_db, 1, 42)
        .await
        .unwrap();
    gen_db.close().await.unwrap();
    let (wh_url, _wh_dir) = common::temp_warehouse();
    let src = sakila_sync::db::SourceDb::connect(&src_url).await.unwrap();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    full_load(&src, &wh).await.unwrap();
    let r = validate(
        &src,
        &wh,
        WindowSpec::Days {
            days: 7,
            as_of: None,
        },
    )
    .await
    .unwrap();
    assert!(r.passed(), "{r}");
    let payments = r.check(CheckKind::WindowPayments, "fact_payment").unwrap();
    assert!(payments.source.unwrap() > 0, "{r}");
    assert!(r.window.latest.is_some());
}

// ---- the command line ----

fn run(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(common::bin())
        .args(args)
        .current_dir(dir.path())
        .env_remove("SAKILA_SOURCE_URL")
        .env_remove("SAKILA_WAREHOUSE_URL")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn cli_exits_0_when_clean_1_on_a_difference_and_prints_json() {
    let dump = require_dump!();
    let l = loaded(&dump, "val_cli").await;
    let base = ["--source", &l.src_url, "--warehouse", &l.wh_url, "validate"];

    let out = run(&[&base[..], &["--days", "7"]].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("window: 2006-02-08..2006-02-14"), "{text}");
    assert!(text.contains("payments in window"), "{text}");
    assert!(
        text.contains("✔ source and warehouse agree: 45 checks passed"),
        "{text}"
    );

    let out = run(&[&base[..], &["--days", "7", "--json"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("--json prints JSON");
    assert_eq!(json["passed"], true);
    assert_eq!(json["window"]["since"], "2006-02-08");
    assert_eq!(json["window"]["until"], "2006-02-14");
    let checks = json["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 45);
    let payments = checks
        .iter()
        .find(|c| c["check"] == "window_payments")
        .unwrap();
    assert_eq!(
        (payments["source"].as_i64(), payments["warehouse"].as_i64()),
        (Some(182), Some(182))
    );

    l.corrupt_warehouse(&["DELETE FROM fact_payment WHERE payment_id = 1"])
        .await;
    let out = run(&base);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("✖  missing rows"), "{text}");
    assert!(text.contains("ids: 1\n"), "{text}");
    // Row by row, the same finding, in the same words.
    let exhaustive = run(&[&base[..], &["--exhaustive"]].concat());
    assert_eq!(exhaustive.status.code(), Some(1), "{}", stderr(&exhaustive));
    let without_time = |t: &str| {
        t.lines()
            .filter(|l| !l.ends_with(" s)") && !l.contains(" s:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(without_time(&stdout(&exhaustive)), without_time(&text));
    let out = run(&[&base[..], &["--json"]].concat());
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["passed"], false);
    let missing = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "missing" && c["table"] == "fact_payment")
        .unwrap();
    assert_eq!(missing["ids"], serde_json::json!([1]));
    assert_eq!(missing["passed"], false);
}

/// Asserts exit code 2 with one `error:` line naming `needle`.
fn assert_error(out: &Output, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(stdout(out).is_empty(), "{}", stdout(out));
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
}

#[test]
fn cli_bad_arguments_and_unreachable_databases_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("w.db");
    std::fs::write(&wh, b"").unwrap();
    let wh_url = format!("sqlite://{}", wh.display());
    let src = "mysql://root:s3cret@127.0.0.1:1/sakila";
    let with = |extra: &[&str]| {
        let mut args = vec!["--source", src, "--warehouse", &wh_url, "validate"];
        args.extend_from_slice(extra);
        run(&args)
    };
    assert_error(&with(&["--days", "0"]), "--days must be at least 1");
    assert_error(&with(&["--days", "-3"]), "--days must be at least 1");
    assert_error(&with(&["--days=-3"]), "--days must be at least 1");
    assert_error(&with(&["--days", "week"]), "whole number");
    assert_error(
        &with(&["--days", "7", "--since", "2006-01-01"]),
        "cannot be combined",
    );
    assert_error(&with(&["--since", "2006-13-01"]), "--since '2006-13-01'");
    assert_error(&with(&["--until", "14/02/2006"]), "expected YYYY-MM-DD");
    assert_error(&with(&["--as-of", "soon", "--days", "3"]), "--as-of 'soon'");
    assert_error(
        &with(&["--since", "2006-02-14", "--until", "2006-02-01"]),
        "is after --until",
    );
    // Unreachable source: one line, password scrubbed.
    let out = with(&[]);
    assert_error(&out, "cannot connect to the source database");
    assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));
    // A missing warehouse file is reported, not created.
    let missing = dir.path().join("nope.db");
    let out = run(&[
        "--source",
        src,
        "--warehouse",
        &format!("sqlite://{}", missing.display()),
        "validate",
    ]);
    assert_error(&out, "does not exist");
    assert!(!missing.exists());
    // Clap's own errors exit 2 too.
    let out = with(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
}
