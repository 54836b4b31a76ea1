//! `generate` and `simulate`, into MariaDB and SQLite: determinism, cardinalities, referential
//! integrity, and the pipeline reading generated (and simulated) data from both kinds of source.
mod common;

use std::collections::BTreeMap;
use std::process::Command;

use sakila_sync::db::{Role, connect};
use sakila_sync::generate::{self, simulate::Op};
use sakila_sync::sync::full_load::full_load;
use sakila_sync::sync::incremental::{Options, incremental};
use sea_orm::DatabaseConnection;

const TABLES: [&str; 16] = [
    "country",
    "city",
    "address",
    "language",
    "category",
    "actor",
    "film",
    "film_text",
    "film_actor",
    "film_category",
    "store",
    "staff",
    "customer",
    "inventory",
    "rental",
    "payment",
];

/// Every foreign key of the Sakila schema: (child table, column, parent table, column).
const FOREIGN_KEYS: [(&str, &str, &str, &str); 20] = [
    ("city", "country_id", "country", "country_id"),
    ("address", "city_id", "city", "city_id"),
    ("film", "language_id", "language", "language_id"),
    ("film", "original_language_id", "language", "language_id"),
    ("film_actor", "actor_id", "actor", "actor_id"),
    ("film_actor", "film_id", "film", "film_id"),
    ("film_category", "film_id", "film", "film_id"),
    ("film_category", "category_id", "category", "category_id"),
    ("store", "manager_staff_id", "staff", "staff_id"),
    ("store", "address_id", "address", "address_id"),
    ("staff", "store_id", "store", "store_id"),
    ("staff", "address_id", "address", "address_id"),
    ("customer", "store_id", "store", "store_id"),
    ("customer", "address_id", "address", "address_id"),
    ("inventory", "film_id", "film", "film_id"),
    ("inventory", "store_id", "store", "store_id"),
    ("rental", "inventory_id", "inventory", "inventory_id"),
    ("rental", "customer_id", "customer", "customer_id"),
    ("rental", "staff_id", "staff", "staff_id"),
    ("payment", "rental_id", "rental", "rental_id"),
];

/// A SQLite file in a fresh temporary folder: (url, folder guard).
fn temp_sqlite(name: &str) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join(name).display());
    (url, dir)
}

/// A fresh MariaDB database: (url, guard).
fn temp_mariadb(prefix: &str) -> (String, common::DbGuard) {
    let name = common::unique_name(prefix);
    let url = common::empty_database(&name);
    (url, common::DbGuard(name))
}

async fn generated(url: &str, scale: u32, seed: u64) -> generate::GenerateReport {
    let db = connect(url, Role::Generator).await.unwrap();
    let report = generate::generate(&db, scale, seed).await.unwrap();
    db.close().await.unwrap();
    report
}

/// Every row of every Sakila table of a SQLite file, as text, in primary-key order.
async fn sqlite_rows(url: &str) -> BTreeMap<&'static str, Vec<String>> {
    let db = common::raw(url).await;
    let mut out = BTreeMap::new();
    for table in TABLES {
        let cols = common::query_strings(
            &db,
            &format!(
                "SELECT group_concat('quote(' || name || ')', '||''|''||') FROM pragma_table_info('{table}')"
            ),
        )
        .await;
        let sql = format!("SELECT {} FROM {table} ORDER BY 1", cols[0]);
        out.insert(table, common::query_strings(&db, &sql).await);
    }
    out
}

async fn count(db: &DatabaseConnection, table: &str) -> i64 {
    common::query_i64(db, &format!("SELECT COUNT(*) FROM {table}")).await
}

/// The cardinalities of the issue: exact for the catalogue and the scaled dimensions, ranges
/// for the facts. The same SQL runs on MariaDB and SQLite.
async fn assert_cardinalities(url: &str, scale: i64) {
    let db = common::raw(url).await;
    for (table, n) in [
        ("country", 109),
        ("city", 600),
        ("address", 603 * scale),
        ("language", 6),
        ("category", 16),
        ("actor", 200),
        ("film", 1000),
        ("film_text", 1000),
        ("film_category", 1000),
        ("store", 2 * scale),
        ("staff", 2 * scale),
        ("customer", 599 * scale),
        ("inventory", 4581 * scale),
    ] {
        assert_eq!(count(&db, table).await, n, "{table} at scale {scale}");
    }
    let cast = count(&db, "film_actor").await;
    assert!((5000..=6000).contains(&cast), "film_actor {cast}");
    let rentals = count(&db, "rental").await;
    assert!(
        (15_900 * scale..=16_044 * scale).contains(&rentals),
        "rental {rentals} at scale {scale}"
    );
    let open =
        common::query_i64(&db, "SELECT COUNT(*) FROM rental WHERE return_date IS NULL").await;
    let share = open as f64 / rentals as f64;
    assert!(
        (0.008..=0.03).contains(&share),
        "open rentals {open} of {rentals}"
    );
    // One payment per returned rental, and 5 per unit of scale without a rental.
    assert_eq!(count(&db, "payment").await, rentals - open + 5 * scale);
    assert_eq!(
        common::query_i64(&db, "SELECT COUNT(*) FROM payment WHERE rental_id IS NULL").await,
        5 * scale
    );
    assert_eq!(
        common::query_i64(
            &db,
            "SELECT COUNT(*) FROM rental r JOIN payment p ON p.rental_id = r.rental_id WHERE r.return_date IS NULL"
        )
        .await,
        0,
        "open rentals are not paid yet"
    );
    for (what, sql, lo, hi) in [
        (
            "rentals per film",
            "SELECT COUNT(DISTINCT film_id) FROM inventory",
            900,
            1000,
        ),
        (
            "first rental",
            "SELECT COUNT(*) FROM rental WHERE rental_date < '2005-05-24'",
            0,
            0,
        ),
        (
            "last rental",
            "SELECT COUNT(*) FROM rental WHERE rental_date >= '2006-02-15'",
            0,
            0,
        ),
        (
            "returns",
            "SELECT COUNT(*) FROM rental WHERE return_date >= '2006-02-15' OR return_date < rental_date",
            0,
            0,
        ),
        (
            "amounts",
            "SELECT COUNT(*) FROM payment WHERE amount < 0.99 OR amount > 11.99",
            0,
            0,
        ),
        (
            "top amount",
            "SELECT COUNT(*) FROM payment WHERE amount > 11.98",
            1,
            i64::MAX,
        ),
        (
            "ratings",
            "SELECT COUNT(*) FROM film WHERE rating NOT IN ('G','PG','PG-13','R','NC-17')",
            0,
            0,
        ),
        (
            "inactive customers",
            "SELECT COUNT(*) FROM customer WHERE active = 0",
            1,
            40 * scale,
        ),
    ] {
        let n = common::query_i64(&db, sql).await;
        assert!((lo..=hi).contains(&n), "{what}: {n} not in {lo}..={hi}");
    }
}

/// No foreign key points nowhere, rental's unique key holds and no copy is out twice at once.
async fn assert_integrity(url: &str) {
    let db = common::raw(url).await;
    for (child, col, parent, pk) in FOREIGN_KEYS {
        let orphans = common::query_i64(
            &db,
            &format!(
                "SELECT COUNT(*) FROM {child} c LEFT JOIN {parent} p ON p.{pk} = c.{col} \
                 WHERE c.{col} IS NOT NULL AND p.{pk} IS NULL"
            ),
        )
        .await;
        assert_eq!(orphans, 0, "{child}.{col} -> {parent}.{pk}");
    }
    for (child, col, parent, pk) in [
        ("payment", "customer_id", "customer", "customer_id"),
        ("payment", "staff_id", "staff", "staff_id"),
    ] {
        let orphans = common::query_i64(
            &db,
            &format!(
                "SELECT COUNT(*) FROM {child} c LEFT JOIN {parent} p ON p.{pk} = c.{col} WHERE p.{pk} IS NULL"
            ),
        )
        .await;
        assert_eq!(orphans, 0, "{child}.{col} -> {parent}.{pk}");
    }
    let dupes = common::query_i64(
        &db,
        "SELECT COUNT(*) FROM (SELECT 1 FROM rental GROUP BY rental_date, inventory_id, customer_id HAVING COUNT(*) > 1) d",
    )
    .await;
    assert_eq!(
        dupes, 0,
        "rental (rental_date, inventory_id, customer_id) is unique"
    );
    let overlaps = common::query_i64(
        &db,
        "SELECT COUNT(*) FROM rental a JOIN rental b ON a.inventory_id = b.inventory_id \
         AND a.rental_id < b.rental_id AND b.rental_date < COALESCE(a.return_date, '9999-12-31') \
         AND a.rental_date < COALESCE(b.return_date, '9999-12-31')",
    )
    .await;
    assert_eq!(overlaps, 0, "no copy is rented twice at once");
}

/// Revenue of a source in cents (SQLite keeps DECIMAL as REAL, hence the rounding).
async fn source_cents(url: &str) -> i64 {
    let db = common::raw(url).await;
    common::query_i64(
        &db,
        "SELECT CAST(ROUND(SUM(amount) * 100) AS SIGNED) FROM payment",
    )
    .await
}

async fn source_cents_sqlite(url: &str) -> i64 {
    let db = common::raw(url).await;
    common::query_i64(
        &db,
        "SELECT CAST(ROUND(SUM(amount * 100)) AS INTEGER) FROM payment",
    )
    .await
}

/// Full-loads `source_url` into a new warehouse; returns its canonical rows, (url, guard).
async fn load(
    source_url: &str,
) -> (
    BTreeMap<&'static str, Vec<String>>,
    String,
    tempfile::TempDir,
) {
    let (wh_url, dir) = common::temp_warehouse();
    let src = sakila_sync::db::SourceDb::connect(source_url)
        .await
        .unwrap();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    full_load(&src, &wh).await.unwrap();
    wh.close().await.unwrap();
    (common::canonical(&wh_url).await, wh_url, dir)
}

async fn warehouse_cents(wh_url: &str) -> i64 {
    let db = common::raw(wh_url).await;
    common::query_i64(&db, "SELECT SUM(amount_cents) FROM fact_payment").await
}

#[tokio::test]
async fn same_seed_gives_identical_rows_and_another_seed_differs() {
    let (a, _da) = temp_sqlite("a.db");
    let (b, _db) = temp_sqlite("b.db");
    let (c, _dc) = temp_sqlite("c.db");
    let ra = generated(&a, 1, 7).await;
    generated(&b, 1, 7).await;
    generated(&c, 1, 8).await;
    let (rows_a, rows_b, rows_c) = (
        sqlite_rows(&a).await,
        sqlite_rows(&b).await,
        sqlite_rows(&c).await,
    );
    for table in TABLES {
        assert!(!rows_a[table].is_empty(), "{table} is filled");
        assert_eq!(
            rows_a[table], rows_b[table],
            "{table}: same seed, same rows"
        );
        assert_eq!(
            ra.rows(table) as usize,
            rows_a[table].len(),
            "report for {table}"
        );
    }
    for table in [
        "city",
        "actor",
        "film",
        "customer",
        "inventory",
        "rental",
        "payment",
    ] {
        assert_ne!(
            rows_a[table], rows_c[table],
            "{table}: another seed, other rows"
        );
    }
    // The fixed lists do not depend on the seed.
    assert_eq!(rows_a["language"], rows_c["language"]);
}

#[tokio::test]
async fn cardinalities_and_integrity_at_scales_1_and_2_in_sqlite() {
    for scale in [1, 2] {
        let (url, _dir) = temp_sqlite("src.db");
        let report = generated(&url, scale, 42).await;
        assert_eq!(report.scale, scale);
        assert_cardinalities(&url, scale as i64).await;
        assert_integrity(&url).await;
        let db = common::raw(&url).await;
        assert!(
            common::query_strings(&db, "SELECT name FROM pragma_index_list('rental')")
                .await
                .contains(&"rental_date".to_string()),
            "rental has its unique key"
        );
        assert_eq!(
            common::query_i64(&db, "SELECT COUNT(*) FROM pragma_foreign_key_check").await,
            0
        );
    }
}

#[tokio::test]
async fn generated_data_loads_the_same_warehouse_from_mariadb_and_sqlite() {
    let (my_url, _g) = temp_mariadb("gen_both");
    let (lite_url, _dir) = temp_sqlite("src.db");
    let my_report = generated(&my_url, 1, 42).await;
    let lite_report = generated(&lite_url, 1, 42).await;
    assert_eq!(my_report.tables, lite_report.tables);

    assert_cardinalities(&my_url, 1).await;
    assert_integrity(&my_url).await;
    let db = common::raw(&my_url).await;
    // The store <-> staff cycle is closed by a real key, and the ids are wide enough for any
    // scale.
    assert_eq!(
        common::query_i64(
            &db,
            "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = 'store' AND REFERENCED_TABLE_NAME = 'staff'"
        )
        .await,
        1
    );
    assert_eq!(
        common::query_i64(
            &db,
            "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = 'payment' AND DELETE_RULE = 'SET NULL'"
        )
        .await,
        1
    );
    assert_eq!(
        common::query_strings(
            &db,
            "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME = 'payment' AND COLUMN_NAME = 'payment_id'"
        )
        .await,
        vec!["int(10) unsigned".to_string()]
    );
    // As in Sakila, a row inserted without `last_update` is stamped with the current time.
    assert_eq!(
        common::query_i64(
            &db,
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             AND COLUMN_NAME = 'last_update' AND COLUMN_DEFAULT LIKE 'current_timestamp%'"
        )
        .await,
        15,
        "every table's last_update defaults to the current time"
    );

    let (from_mysql, my_wh, _d1) = load(&my_url).await;
    let (from_sqlite, lite_wh, _d2) = load(&lite_url).await;
    let cents = source_cents(&my_url).await;
    assert_eq!(source_cents_sqlite(&lite_url).await, cents);
    assert_eq!(warehouse_cents(&my_wh).await, cents, "revenue from MariaDB");
    assert_eq!(
        warehouse_cents(&lite_wh).await,
        cents,
        "revenue from SQLite is exact"
    );
    assert_eq!(
        from_mysql["fact_rental"].len() as u64,
        my_report.rows("rental"),
        "every rental loaded"
    );
    common::assert_same_warehouse(&from_mysql, &from_sqlite);
}

#[tokio::test]
async fn generate_refuses_a_database_that_is_not_empty() {
    // Through the CLI: one line on stderr, exit code 2, nothing written.
    let (lite_url, _dir) = temp_sqlite("src.db");
    let raw = common::raw(&format!("{lite_url}?mode=rwc")).await;
    common::exec(&raw, "CREATE TABLE notes (id INTEGER PRIMARY KEY)").await;
    raw.close().await.unwrap();
    let (my_url, _g) = temp_mariadb("gen_nonempty");
    let db = common::raw(&my_url).await;
    common::exec(&db, "CREATE TABLE notes (id INT PRIMARY KEY)").await;
    for url in [&lite_url, &my_url] {
        let out = Command::new(common::bin())
            .args(["generate", "--scale", "1", "--into", url])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("not empty") && stderr.contains("notes"),
            "{stderr}"
        );
    }
    assert_eq!(
        common::query_i64(
            &db,
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
        )
        .await,
        1
    );
    // And a second generate into a generated database (16 Sakila tables and its mark) is
    // refused the same way.
    let (url, _d) = temp_sqlite("again.db");
    generated(&url, 1, 1).await;
    let gen_db = connect(&url, Role::Generator).await.unwrap();
    let err = generate::generate(&gen_db, 1, 1).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("not empty (it has 17 tables"),
        "{err:#}"
    );
    // SQLite enforcing foreign keys cannot take the store <-> staff cycle: the error says how
    // to open the target.
    let (url, _d) = temp_sqlite("enforcing.db");
    let enforcing = connect(&url, Role::SourceWriter).await.unwrap();
    let err = generate::generate(&enforcing, 1, 1).await.unwrap_err();
    assert!(format!("{err:#}").contains("Role::Generator"), "{err:#}");
}

#[tokio::test]
async fn cli_generate_and_simulate_print_what_they_did() {
    let (url, _dir) = temp_sqlite("cli.db");
    let out = Command::new(common::bin())
        .args(["generate", "--scale", "1", "--seed", "3", "--into", &url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("scale 1 (seed 3, rentals 2005-05-24 to 2006-02-14)"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().eq(["inventory", "4581"])),
        "{stdout}"
    );
    let out = Command::new(common::bin())
        .args(["simulate", "--into", &url, "--ops", "60", "--seed", "3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("of 60 operations (seed 3, shop mix)"),
        "{stdout}"
    );
    assert!(stdout.contains("new rentals"), "{stdout}");
    let out = Command::new(common::bin())
        .args(["simulate", "--into", &url, "--ops", "20", "--mix", "stress"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("stress mix"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = Command::new(common::bin())
        .args(["simulate", "--into", &url, "--ops", "20", "--mix", "busy"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown mix is a usage error"
    );
    let out = Command::new(common::bin())
        .args(["generate", "--scale", "0", "--into", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Payments of `url`: payment_id -> (rental_id, last_update as text).
async fn payments(url: &str) -> BTreeMap<i64, (Option<i64>, String)> {
    let db = common::raw(url).await;
    let rows = common::query_strings(
        &db,
        "SELECT CONCAT(payment_id, '|', COALESCE(rental_id, ''), '|', last_update) FROM payment",
    )
    .await;
    rows.into_iter()
        .map(|r| {
            let mut f = r.split('|');
            let id = f.next().unwrap().parse().unwrap();
            let rental = f.next().unwrap().parse().ok();
            (id, (rental, f.next().unwrap().to_string()))
        })
        .collect()
}

async fn simulate_then_full_load(url: &str, sqlite: bool) {
    generated(url, 1, 42).await;
    let before = payments(url).await;
    let db = connect(url, Role::SourceWriter).await.unwrap();
    let report = generate::simulate(&db, 700, 9, generate::Mix::Stress)
        .await
        .unwrap();
    db.close().await.unwrap();
    assert_eq!(report.total() + report.skipped, 700, "{report}");
    assert!(report.skipped < 20, "{report}");
    for op in Op::ALL {
        assert!(report.count(op) > 0, "{op:?} never happened:\n{report}");
    }
    assert!(report.to_string().contains("rentals deleted"), "{report}");
    assert_integrity(url).await;

    // A deleted rental's payments lose their rental_id through the foreign key, and keep
    // their last_update (as MySQL's ON DELETE SET NULL leaves it).
    let after = payments(url).await;
    let raw = common::raw(url).await;
    let mut nulled = 0;
    for (id, (rental, stamp)) in &before {
        if let (Some(r), Some((None, stamp_after))) = (rental, after.get(id)) {
            let rental_gone = common::query_i64(
                &raw,
                &format!("SELECT COUNT(*) FROM rental WHERE rental_id = {r}"),
            )
            .await
                == 0;
            assert!(
                rental_gone,
                "payment {id} lost the rental_id of a live rental"
            );
            assert_eq!(stamp, stamp_after, "payment {id}: last_update untouched");
            nulled += 1;
        }
    }
    assert!(nulled > 0, "some deleted rental had a payment");
    // Every other row simulate touched carries a current last_update.
    let recent = common::query_i64(
        &raw,
        "SELECT COUNT(*) FROM rental WHERE last_update >= '2020-01-01'",
    )
    .await;
    assert!(recent >= report.count(Op::NewRental) as i64, "{recent}");
    let changed_payments = common::query_i64(
        &raw,
        "SELECT COUNT(*) FROM payment WHERE last_update >= '2020-01-01'",
    )
    .await;
    assert!(
        changed_payments
            >= (report.count(Op::NewRental) + report.count(Op::PaymentCorrection)) as i64 / 2,
        "{changed_payments}"
    );

    let (_, wh_url, _dir) = load(url).await;
    let cents = if sqlite {
        source_cents_sqlite(url).await
    } else {
        source_cents(url).await
    };
    assert_eq!(warehouse_cents(&wh_url).await, cents);
    let wh = common::raw(&wh_url).await;
    assert_eq!(
        common::query_i64(&wh, "SELECT COUNT(*) FROM fact_rental").await,
        common::query_i64(&raw, "SELECT COUNT(*) FROM rental").await
    );
    assert_eq!(
        common::query_i64(&wh, "SELECT COUNT(*) FROM dim_film").await,
        common::query_i64(&raw, "SELECT COUNT(*) FROM film").await
    );
}

#[tokio::test]
async fn simulate_then_full_load_on_sqlite() {
    let (url, _dir) = temp_sqlite("src.db");
    simulate_then_full_load(&url, true).await;
}

#[tokio::test]
async fn simulate_then_full_load_on_mariadb() {
    let (url, _g) = temp_mariadb("gen_sim");
    simulate_then_full_load(&url, false).await;
}

#[tokio::test]
async fn simulate_with_the_same_seed_on_the_same_data_does_the_same() {
    let (a, _da) = temp_sqlite("a.db");
    let (b, _db) = temp_sqlite("b.db");
    generated(&a, 1, 5).await;
    generated(&b, 1, 5).await;
    let mut reports = Vec::new();
    for url in [&a, &b] {
        let db = connect(url, Role::SourceWriter).await.unwrap();
        reports.push(
            generate::simulate(&db, 300, 11, generate::Mix::Stress)
                .await
                .unwrap(),
        );
        db.close().await.unwrap();
    }
    assert_eq!(reports[0].applied, reports[1].applied);
    // The same rows were touched: compare them without the clock-dependent columns.
    let key = "SELECT group_concat(x, ';') FROM (SELECT rental_id || ',' || inventory_id || ',' || customer_id || ',' || (return_date IS NULL) AS x FROM rental ORDER BY rental_id)";
    let (da, db) = (common::raw(&a).await, common::raw(&b).await);
    assert_eq!(
        common::query_strings(&da, key).await,
        common::query_strings(&db, key).await
    );
    let key = "SELECT group_concat(x, ';') FROM (SELECT payment_id || ',' || COALESCE(rental_id, '-') || ',' || amount AS x FROM payment ORDER BY payment_id)";
    assert_eq!(
        common::query_strings(&da, key).await,
        common::query_strings(&db, key).await
    );
}

/// Rounds of simulated activity, each followed by an incremental run: after every run the
/// warehouse equals a fresh full-load of the same source.
async fn simulate_and_incremental_match_a_full_load(src_url: &str, spec: generate::Spec) {
    let db = connect(src_url, Role::Generator).await.unwrap();
    generate::generate_with(&db, &spec).await.unwrap();
    db.close().await.unwrap();
    let (wh_url, _dir) = common::temp_warehouse();
    let src = sakila_sync::db::SourceDb::connect(src_url).await.unwrap();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    full_load(&src, &wh).await.unwrap();
    for round in 0..3 {
        let writer = connect(src_url, Role::SourceWriter).await.unwrap();
        let sim = generate::simulate(&writer, 400, 100 + round, generate::Mix::Stress)
            .await
            .unwrap();
        writer.close().await.unwrap();
        let run = incremental(&src, &wh, Options::default()).await.unwrap();
        assert!(run.rows_written() > 0, "round {round}: {run}");
        let (fresh_url, _fresh_dir) = common::temp_warehouse();
        let fresh = connect(&fresh_url, Role::Warehouse).await.unwrap();
        full_load(&src, &fresh).await.unwrap();
        fresh.close().await.unwrap();
        let (a, b) = (
            common::canonical(&fresh_url).await,
            common::canonical(&wh_url).await,
        );
        assert!(
            a == b,
            "round {round} after simulate ({sim}) and incremental ({run})"
        );
        common::assert_same_warehouse(&a, &b);
    }
    let report = sakila_sync::validate::validate(
        &src,
        &connect(&wh_url, Role::WarehouseReader).await.unwrap(),
        sakila_sync::validate::WindowSpec::AllTime,
    )
    .await
    .unwrap();
    assert!(report.passed(), "{report}");
}

#[tokio::test]
async fn simulate_then_incremental_equals_a_fresh_full_load_from_sqlite() {
    let (url, _dir) = temp_sqlite("src.db");
    simulate_and_incremental_match_a_full_load(&url, generate::Spec::new(1, 42)).await;
}

#[tokio::test]
async fn simulate_then_incremental_equals_a_fresh_full_load_from_mariadb() {
    let (url, _g) = temp_mariadb("gen_inc");
    simulate_and_incremental_match_a_full_load(&url, generate::Spec::new(1, 42)).await;
}

/// The real Sakila's column types (narrow ids, YEAR, ENUM, SET, ON UPDATE CURRENT_TIMESTAMP)
/// and a 45-year history, 1990 to 2034, on both sides of the warehouse's default calendar
/// (2000..2030): the full-load, three rounds of simulate + incremental and validate agree.
#[tokio::test]
async fn real_types_and_a_long_history_sync_through_simulate_and_validate() {
    let (url, _g) = temp_mariadb("gen_real");
    let from = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap();
    let spec = generate::Spec {
        history: generate::History::years(from, 45).unwrap(),
        types: generate::Types::Sakila,
        ..generate::Spec::new(1, 9)
    };
    simulate_and_incremental_match_a_full_load(&url, spec).await;
    let db = common::raw(&url).await;
    let types = common::query_strings(
        &db,
        "SELECT CONCAT(table_name, '.', column_name, ' ', column_type, ' ', extra) FROM \
         information_schema.columns WHERE table_schema = DATABASE() AND (column_name IN \
         ('payment_id', 'special_features', 'rating', 'release_year') OR (table_name = 'rental' \
         AND column_name = 'last_update')) ORDER BY 1",
    )
    .await;
    let types: Vec<String> = types.iter().map(|t| t.trim().to_lowercase()).collect();
    assert_eq!(
        types[0], "film.rating enum('g','pg','pg-13','r','nc-17')",
        "{types:?}"
    );
    assert_eq!(types[1], "film.release_year year(4)", "{types:?}");
    assert!(
        types[2].starts_with("film.special_features set('trailers'"),
        "{types:?}"
    );
    assert_eq!(
        types[3], "payment.payment_id smallint(5) unsigned auto_increment",
        "{types:?}"
    );
    assert!(
        types[4].ends_with("on update current_timestamp()"),
        "{types:?}"
    );
    let span = common::query_strings(
        &db,
        "SELECT CONCAT(YEAR(MIN(rental_date)), '-', YEAR(MAX(rental_date))) FROM rental",
    )
    .await;
    assert_eq!(span, ["1990-2034"]);
}

/// A history MySQL's TIMESTAMP cannot stamp, and Sakila's types on SQLite, are refused
/// before anything is created; a scale Sakila's ids cannot hold is widened and said so.
#[tokio::test]
async fn what_the_target_cannot_hold_is_refused_or_widened_and_said() {
    let (url, _g) = temp_mariadb("gen_refuse");
    let err = common::cli_error(&[
        "generate",
        "--scale",
        "1",
        "--from",
        "2030-01-01",
        "--years",
        "10",
        "--into",
        &url,
    ]);
    assert!(err.contains("does not fit MySQL's TIMESTAMP"), "{err}");
    let db = common::raw(&url).await;
    let tables = common::query_i64(
        &db,
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()",
    )
    .await;
    assert_eq!(tables, 0, "nothing was created");

    let (sqlite, _dir) = temp_sqlite("s.db");
    let err = common::cli_error(&[
        "generate", "--scale", "1", "--types", "sakila", "--into", &sqlite,
    ]);
    assert!(
        err.contains("--types sakila needs a MySQL/MariaDB target"),
        "{err}"
    );

    let out = std::process::Command::new(common::bin())
        .args([
            "generate", "--scale", "3", "--types", "sakila", "--into", &url,
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(
            "note: payment_id is MEDIUMINT UNSIGNED instead of Sakila's SMALLINT UNSIGNED"
        ),
        "{said}"
    );
    assert_eq!(
        said.matches("note:").count(),
        1,
        "only payment_id needs more room: {said}"
    );
    let t = common::query_strings(
        &db,
        "SELECT column_type FROM information_schema.columns WHERE table_schema = DATABASE() \
         AND table_name = 'payment' AND column_name = 'payment_id'",
    )
    .await;
    assert_eq!(t, ["mediumint(8) unsigned"]);
}

/// `generate` and `simulate` write only where `--into` says, and `simulate` only into a
/// database `generate` made, unless `--force`.
#[tokio::test]
async fn simulate_and_generate_never_write_to_a_database_by_default() {
    let (url, _dir) = temp_sqlite("kept.db");
    for args in [["generate", "--scale", "1"], ["simulate", "--ops", "5"]] {
        let out = Command::new(common::bin())
            .args(["--source", &url])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--into"), "{stderr}");
    }
    assert!(!std::path::Path::new(url.trim_start_matches("sqlite://")).exists());

    // A Sakila that `generate` did not make (the same rows, but no mark): refused, named.
    generated(&url, 1, 3).await;
    let db = common::raw(&url).await;
    common::exec(&db, "DROP TABLE sakila_sync_generated").await;
    let before = common::query_i64(&db, "SELECT COUNT(*) FROM rental").await;
    let line = common::cli_error(&["simulate", "--into", &url, "--ops", "50"]);
    assert!(
        line.contains("was not made by `sakila-sync generate`") && line.contains("--force"),
        "{line}"
    );
    assert_eq!(
        common::query_i64(&db, "SELECT COUNT(*) FROM rental").await,
        before
    );
    let out = Command::new(common::bin())
        .args(["simulate", "--into", &url, "--ops", "50", "--force"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
