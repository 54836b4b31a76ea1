//! `init` and `full-load` against MariaDB (real Sakila) and SQLite: schema, foreign keys,
//! counts, revenue, a field-by-field comparison of every row, repeatability and atomicity.
mod common;

use std::process::Command;

use sakila_sync::db::{Role, connect};
use sakila_sync::sync::full_load::full_load;
use sakila_sync::warehouse::{self, schema};

fn day(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

/// The column contract of the issue, table by table.
const CONTRACT: &[(&str, &[&str])] = &[
    (
        "dim_date",
        &[
            "date_key",
            "full_date",
            "year",
            "quarter",
            "month",
            "day_of_month",
            "day_of_week",
            "is_weekend",
        ],
    ),
    (
        "dim_film",
        &[
            "film_key",
            "film_id",
            "title",
            "release_year",
            "language",
            "rating",
            "length",
            "rental_duration",
            "rental_rate_cents",
            "replacement_cost_cents",
            "special_features",
            "last_update",
            "is_deleted",
        ],
    ),
    (
        "dim_actor",
        &[
            "actor_key",
            "actor_id",
            "first_name",
            "last_name",
            "last_update",
            "is_deleted",
        ],
    ),
    (
        "dim_category",
        &[
            "category_key",
            "category_id",
            "name",
            "last_update",
            "is_deleted",
        ],
    ),
    (
        "dim_customer",
        &[
            "customer_key",
            "customer_id",
            "store_id",
            "first_name",
            "last_name",
            "email",
            "active",
            "create_date",
            "address",
            "district",
            "postal_code",
            "phone",
            "city",
            "country",
            "last_update",
            "is_deleted",
        ],
    ),
    (
        "dim_store",
        &[
            "store_key",
            "store_id",
            "manager_staff_id",
            "address",
            "district",
            "postal_code",
            "city",
            "country",
            "last_update",
            "is_deleted",
        ],
    ),
    (
        "dim_staff",
        &[
            "staff_key",
            "staff_id",
            "store_id",
            "first_name",
            "last_name",
            "email",
            "username",
            "active",
            "last_update",
            "is_deleted",
        ],
    ),
    ("bridge_film_actor", &["film_key", "actor_key"]),
    ("bridge_film_category", &["film_key", "category_key"]),
    (
        "fact_rental",
        &[
            "rental_id",
            "rental_date_key",
            "return_date_key",
            "rental_date",
            "return_date",
            "inventory_id",
            "film_key",
            "store_key",
            "customer_key",
            "staff_key",
            "rental_duration_days",
        ],
    ),
    (
        "fact_payment",
        &[
            "payment_id",
            "payment_date_key",
            "payment_date",
            "customer_key",
            "store_key",
            "staff_key",
            "rental_id",
            "amount_cents",
        ],
    ),
    ("sync_state", &["table_name", "watermark", "updated_at"]),
    (
        "sync_run",
        &[
            "id",
            "command",
            "started_at",
            "finished_at",
            "status",
            "rows_written",
            "error",
        ],
    ),
];

#[tokio::test]
async fn init_creates_every_contract_column_and_is_idempotent() {
    let (wh_url, _dir) = common::temp_warehouse();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    let added = warehouse::init(&wh, day("2000-01-01"), day("2030-12-31"))
        .await
        .unwrap();
    assert_eq!(added, 11_323, "2000-01-01..2030-12-31 is 11,323 days");
    let raw = common::raw(&wh_url).await;
    for (table, columns) in CONTRACT {
        let present = common::query_strings(
            &raw,
            &format!("SELECT name FROM pragma_table_info('{table}')"),
        )
        .await;
        for c in *columns {
            assert!(
                present.iter().any(|p| p == c),
                "{table}.{c} is missing (has {present:?})"
            );
        }
    }
    let snapshot = |raw| async move {
        let mut all = Vec::new();
        for t in ["dim_date", "sync_state", "warehouse_meta"] {
            all.push(common::query_strings(raw, &format!("SELECT quote(t.rowid) || '|' || (SELECT COUNT(*) FROM {t}) FROM {t} t ORDER BY rowid DESC LIMIT 1")).await);
        }
        all.push(
            common::query_strings(raw, "SELECT group_concat(sql, ';') FROM sqlite_master").await,
        );
        all.push(common::query_strings(raw, "SELECT group_concat(table_name || coalesce(watermark,'-') || updated_at) FROM sync_state").await);
        all
    };
    let before = snapshot(&raw).await;
    let added = warehouse::init(&wh, day("2000-01-01"), day("2030-12-31"))
        .await
        .unwrap();
    assert_eq!(added, 0);
    assert_eq!(
        snapshot(&raw).await,
        before,
        "a second init changed the warehouse"
    );
    let weekend = common::query_i64(
        &raw,
        "SELECT is_weekend FROM dim_date WHERE date_key = 20060212",
    )
    .await;
    assert_eq!(weekend, 1, "2006-02-12 is a Sunday");
    let dow = common::query_i64(
        &raw,
        "SELECT day_of_week FROM dim_date WHERE date_key = 20060213",
    )
    .await;
    assert_eq!(dow, 1, "2006-02-13 is a Monday");
}

/// A new warehouse with dim_date over 2005: its URL, folder, a pipeline connection and a
/// plain one (for inspecting it, or writing what the pipeline would not).
async fn warehouse_for_2005() -> (
    String,
    tempfile::TempDir,
    sea_orm::DatabaseConnection,
    sea_orm::DatabaseConnection,
) {
    let (wh_url, dir) = common::temp_warehouse();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    warehouse::init(&wh, day("2005-01-01"), day("2005-12-31"))
        .await
        .unwrap();
    let raw = common::raw(&wh_url).await;
    (wh_url, dir, wh, raw)
}

/// Key 1 of dim_customer, dim_store and dim_staff, for fact rows to point at: made by the
/// pipeline's own transforms from source rows, so a column added to a dimension is filled here
/// too.
async fn one_customer_store_and_staff_member(raw: &sea_orm::DatabaseConnection) {
    use sakila_sync::source::{customer, store};
    use sakila_sync::star::transform::{Place, StaffRow, customer_row, staff_row, store_row};
    use sea_orm::{EntityTrait, IntoActiveModel};
    let at = chrono::NaiveDate::from_ymd_opt(2005, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let place = Place {
        address: "x".into(),
        district: "d".into(),
        postal_code: None,
        phone: "p".into(),
        city: "c".into(),
        country: "k".into(),
    };
    let c = customer::Model {
        customer_id: 1,
        store_id: 1,
        first_name: "A".into(),
        last_name: "B".into(),
        email: None,
        address_id: 1,
        active: true,
        create_date: at,
        last_update: None,
    };
    let s = store::Model {
        store_id: 1,
        manager_staff_id: 1,
        address_id: 1,
        last_update: at.and_utc(),
    };
    let st = StaffRow {
        staff_id: 1,
        first_name: "A".into(),
        last_name: "B".into(),
        email: None,
        store_id: 1,
        active: true,
        username: "u".into(),
        last_update: at.and_utc(),
    };
    let customer = customer_row(1, &c, &place).unwrap().into_active_model();
    let store = store_row(1, &s, &place).unwrap().into_active_model();
    let staff = staff_row(1, &st).unwrap().into_active_model();
    use sakila_sync::warehouse::entity::{dim_customer, dim_staff, dim_store};
    dim_customer::Entity::insert(customer)
        .exec(raw)
        .await
        .unwrap();
    dim_store::Entity::insert(store).exec(raw).await.unwrap();
    dim_staff::Entity::insert(staff).exec(raw).await.unwrap();
}

#[tokio::test]
async fn foreign_keys_are_declared_indexed_and_enforced() {
    let (_wh_url, _dir, wh, raw) = warehouse_for_2005().await;
    let fks = common::query_strings(
        &raw,
        "SELECT m.name || '.' || f.\"from\" || '->' || f.\"table\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table' ORDER BY 1",
    )
    .await;
    for expected in [
        "fact_rental.rental_date_key->dim_date",
        "fact_rental.return_date_key->dim_date",
        "fact_rental.film_key->dim_film",
        "fact_rental.store_key->dim_store",
        "fact_rental.customer_key->dim_customer",
        "fact_rental.staff_key->dim_staff",
        "fact_payment.payment_date_key->dim_date",
        "fact_payment.customer_key->dim_customer",
        "fact_payment.store_key->dim_store",
        "fact_payment.staff_key->dim_staff",
        "bridge_film_actor.film_key->dim_film",
        "bridge_film_actor.actor_key->dim_actor",
        "bridge_film_category.film_key->dim_film",
        "bridge_film_category.category_key->dim_category",
    ] {
        assert!(
            fks.iter().any(|f| f == expected),
            "missing FK {expected} in {fks:?}"
        );
    }
    // Every FK column leads some index (its own, or the primary key).
    for fk in &fks {
        let (table, rest) = fk.split_once('.').unwrap();
        let column = rest.split_once("->").unwrap().0;
        let leading = common::query_strings(
            &raw,
            &format!("SELECT ii.name FROM pragma_index_list('{table}') il, pragma_index_info(il.name) ii WHERE ii.seqno = 0"),
        )
        .await;
        assert!(
            leading.iter().any(|c| c == column),
            "{table}.{column} is not indexed"
        );
    }
    one_customer_store_and_staff_member(&raw).await;
    // Through the warehouse's own connection settings (foreign_keys=ON), as the pipeline writes.
    use sea_orm::ConnectionTrait;
    let insert = |customer_key: i32, date_key: i32| {
        format!(
            "INSERT INTO fact_payment (payment_id, payment_date_key, payment_date, customer_key, store_key, staff_key, rental_id, amount_cents) VALUES (1, {date_key}, '2005-05-25 11:30:37', {customer_key}, 1, 1, NULL, 299)"
        )
    };
    let stmt = |sql: String| sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, sql);
    let err = wh
        .execute_raw(stmt(insert(999, 20050525)))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("FOREIGN KEY"),
        "unknown customer_key accepted: {err}"
    );
    let err = wh.execute_raw(stmt(insert(1, 19990101))).await.unwrap_err();
    assert!(
        err.to_string().contains("FOREIGN KEY"),
        "unknown date_key accepted: {err}"
    );
    wh.execute_raw(stmt(insert(1, 20050525)))
        .await
        .expect("a valid fact row is accepted");
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn full_load_counts_and_revenue_on_real_sakila() {
    full_load_counts_and_revenue_on_real_sakila_on(common::Wh::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn full_load_counts_and_revenue_on_real_sakila_on_postgres() {
    full_load_counts_and_revenue_on_real_sakila_on(common::Wh::Postgres).await;
}

async fn full_load_counts_and_revenue_on_real_sakila_on(kind: common::Wh) {
    let dump = require_dump!();
    let (src_url, _g) = common::sakila_db(&dump, "fl_counts");
    let (wh_url, _dir) = common::temp_warehouse_on(kind);
    let src = sakila_sync::db::SourceDb::connect(&src_url).await.unwrap();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    let report = full_load(&src, &wh).await.unwrap();
    assert_eq!(report.table("fact_rental").inserted, 16044);
    assert_eq!(report.table("fact_payment").inserted, 16049);
    let raw = common::raw(&wh_url).await;
    for (table, n) in [
        ("dim_film", 1000),
        ("dim_actor", 200),
        ("dim_category", 16),
        ("dim_customer", 599),
        ("dim_store", 2),
        ("dim_staff", 2),
        ("bridge_film_actor", 5462),
        ("bridge_film_category", 1000),
        ("fact_rental", 16044),
        ("fact_payment", 16049),
    ] {
        assert_eq!(
            common::query_i64(&raw, &format!("SELECT COUNT(*) FROM {table}")).await,
            n,
            "{table}"
        );
    }
    assert_eq!(
        common::query_i64(
            &raw,
            "SELECT CAST(SUM(amount_cents) AS BIGINT) FROM fact_payment"
        )
        .await,
        6741651
    );
    // The lookup tables' row versions that incremental compares its lookback re-reads with.
    for (table, n) in [
        ("country", 109),
        ("city", 600),
        ("address", 603),
        ("language", 6),
        ("inventory", 4581),
    ] {
        let sql = format!(
            "SELECT COUNT(*) FROM source_version WHERE table_name = '{table}' AND last_update IS NOT NULL"
        );
        assert_eq!(
            common::query_i64(&raw, &sql).await,
            n,
            "source_version of {table}"
        );
    }
    // Watermarks are the source's own max(last_update), not the machine clock.
    let wm = common::query_strings(
        &raw,
        "SELECT CAST(watermark AS TEXT) FROM sync_state WHERE table_name = 'rental'",
    )
    .await;
    assert_eq!(wm, vec!["2006-02-23 04:12:08".to_string()]);
    let wm = common::query_strings(
        &raw,
        "SELECT CAST(watermark AS TEXT) FROM sync_state WHERE table_name = 'address'",
    )
    .await;
    assert_eq!(wm, vec!["2014-09-25 22:34:11".to_string()]);
    let runs = common::query_strings(
        &raw,
        "SELECT command || ':' || status || ':' || rows_written FROM sync_run",
    )
    .await;
    // 40,374 star rows plus the 267 days of 2005-05-24..2006-02-14 (no init ran first).
    assert_eq!(report.table("dim_date").inserted, 267);
    // ... and the 5,899 lookup row versions (109 + 600 + 603 + 6 + 4,581).
    assert_eq!(
        runs,
        vec![format!("full-load:success:{}", 40374 + 267 + 5899)]
    );
}

/// One row as text in both databases: `|`-separated, NULL as `~`.
fn mysql_row(exprs: &[&str]) -> String {
    let cols: Vec<String> = exprs
        .iter()
        .map(|e| format!("COALESCE(CAST({e} AS CHAR), '~')"))
        .collect();
    format!("CONCAT_WS('|', {})", cols.join(", "))
}
fn sqlite_row(exprs: &[&str]) -> String {
    let cols: Vec<String> = exprs
        .iter()
        .map(|e| format!("COALESCE(CAST({e} AS TEXT), '~')"))
        .collect();
    cols.join(" || '|' || ")
}
const DT: &str = "'%Y-%m-%d %H:%i:%s'";

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn full_load_matches_the_source_field_by_field() {
    full_load_matches_the_source_field_by_field_on(common::Wh::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn full_load_matches_the_source_field_by_field_on_postgres() {
    full_load_matches_the_source_field_by_field_on(common::Wh::Postgres).await;
}

async fn full_load_matches_the_source_field_by_field_on(kind: common::Wh) {
    let dump = require_dump!();
    let (src_url, _g) = common::sakila_db(&dump, "fl_fields");
    let (wh_url, _dir) = common::temp_warehouse_on(kind);
    let src = sakila_sync::db::SourceDb::connect(&src_url).await.unwrap();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    full_load(&src, &wh).await.unwrap();
    let my = common::raw(&src_url).await;
    let lite = common::raw(&wh_url).await;
    let f = |c: &str| format!("DATE_FORMAT({c}, {DT})");
    // (name, MySQL expressions + FROM, SQLite expressions + FROM): the MySQL side derives each
    // warehouse row independently of the Rust transforms.
    let checks: Vec<(&str, String, String)> = vec![
        (
            "dim_film",
            format!(
                "SELECT {} FROM film f JOIN language l USING (language_id)",
                mysql_row(&[
                    "f.film_id",
                    "f.title",
                    "f.release_year",
                    "l.name",
                    "f.rating",
                    "f.length",
                    "f.rental_duration",
                    "ROUND(f.rental_rate * 100)",
                    "ROUND(f.replacement_cost * 100)",
                    "f.special_features",
                    &f("f.last_update"),
                    "0"
                ])
            ),
            format!(
                "SELECT {} FROM dim_film",
                sqlite_row(&[
                    "film_id",
                    "title",
                    "release_year",
                    "language",
                    "rating",
                    "length",
                    "rental_duration",
                    "rental_rate_cents",
                    "replacement_cost_cents",
                    "special_features",
                    "last_update",
                    "CAST(is_deleted AS INTEGER)"
                ])
            ),
        ),
        (
            "dim_actor",
            format!(
                "SELECT {} FROM actor",
                mysql_row(&[
                    "actor_id",
                    "first_name",
                    "last_name",
                    &f("last_update"),
                    "0"
                ])
            ),
            format!(
                "SELECT {} FROM dim_actor",
                sqlite_row(&[
                    "actor_id",
                    "first_name",
                    "last_name",
                    "last_update",
                    "CAST(is_deleted AS INTEGER)"
                ])
            ),
        ),
        (
            "dim_category",
            format!(
                "SELECT {} FROM category",
                mysql_row(&["category_id", "name", &f("last_update"), "0"])
            ),
            format!(
                "SELECT {} FROM dim_category",
                sqlite_row(&[
                    "category_id",
                    "name",
                    "last_update",
                    "CAST(is_deleted AS INTEGER)"
                ])
            ),
        ),
        (
            "dim_customer",
            format!(
                "SELECT {} FROM customer c JOIN address a USING (address_id) JOIN city ci USING (city_id) JOIN country co USING (country_id)",
                mysql_row(&[
                    "c.customer_id",
                    "c.store_id",
                    "c.first_name",
                    "c.last_name",
                    "c.email",
                    "c.active",
                    &f("c.create_date"),
                    "a.address",
                    "a.district",
                    "a.postal_code",
                    "a.phone",
                    "ci.city",
                    "co.country",
                    &f("c.last_update"),
                    "0"
                ])
            ),
            format!(
                "SELECT {} FROM dim_customer",
                sqlite_row(&[
                    "customer_id",
                    "store_id",
                    "first_name",
                    "last_name",
                    "email",
                    "CAST(active AS INTEGER)",
                    "create_date",
                    "address",
                    "district",
                    "postal_code",
                    "phone",
                    "city",
                    "country",
                    "last_update",
                    "CAST(is_deleted AS INTEGER)"
                ])
            ),
        ),
        (
            "dim_store",
            format!(
                "SELECT {} FROM store s JOIN address a USING (address_id) JOIN city ci USING (city_id) JOIN country co USING (country_id)",
                mysql_row(&[
                    "s.store_id",
                    "s.manager_staff_id",
                    "a.address",
                    "a.district",
                    "a.postal_code",
                    "ci.city",
                    "co.country",
                    &f("s.last_update"),
                    "0"
                ])
            ),
            format!(
                "SELECT {} FROM dim_store",
                sqlite_row(&[
                    "store_id",
                    "manager_staff_id",
                    "address",
                    "district",
                    "postal_code",
                    "city",
                    "country",
                    "last_update",
                    "CAST(is_deleted AS INTEGER)"
                ])
            ),
        ),
        (
            "dim_staff",
            format!(
                "SELECT {} FROM staff",
                mysql_row(&[
                    "staff_id",
                    "store_id",
                    "first_name",
                    "last_name",
                    "email",
                    "username",
                    "CAST(active AS INTEGER)",
                    &f("last_update"),
                    "0"
                ])
            ),
            format!(
                "SELECT {} FROM dim_staff",
                sqlite_row(&[
                    "staff_id",
                    "store_id",
                    "first_name",
                    "last_name",
                    "email",
                    "username",
                    "CAST(active AS INTEGER)",
                    "last_update",
                    "CAST(is_deleted AS INTEGER)"
                ])
            ),
        ),
        (
            "bridge_film_actor",
            format!(
                "SELECT {} FROM film_actor",
                mysql_row(&["film_id", "actor_id"])
            ),
            format!(
                "SELECT {} FROM bridge_film_actor JOIN dim_film USING (film_key) JOIN dim_actor USING (actor_key)",
                sqlite_row(&["film_id", "actor_id"])
            ),
        ),
        (
            "bridge_film_category",
            format!(
                "SELECT {} FROM film_category",
                mysql_row(&["film_id", "category_id"])
            ),
            format!(
                "SELECT {} FROM bridge_film_category JOIN dim_film USING (film_key) JOIN dim_category USING (category_key)",
                sqlite_row(&["film_id", "category_id"])
            ),
        ),
        (
            "fact_rental",
            format!(
                "SELECT {} FROM rental r JOIN inventory i USING (inventory_id)",
                mysql_row(&[
                    "r.rental_id",
                    "DATE_FORMAT(r.rental_date, '%Y%m%d')",
                    "DATE_FORMAT(r.return_date, '%Y%m%d')",
                    &f("r.rental_date"),
                    &f("r.return_date"),
                    "r.inventory_id",
                    "i.film_id",
                    "i.store_id",
                    "r.customer_id",
                    "r.staff_id",
                    "TIMESTAMPDIFF(DAY, r.rental_date, r.return_date)"
                ])
            ),
            format!(
                "SELECT {} FROM fact_rental r JOIN dim_film f USING (film_key) JOIN dim_store s USING (store_key) JOIN dim_customer c USING (customer_key) JOIN dim_staff st USING (staff_key)",
                sqlite_row(&[
                    "r.rental_id",
                    "r.rental_date_key",
                    "r.return_date_key",
                    "r.rental_date",
                    "r.return_date",
                    "r.inventory_id",
                    "f.film_id",
                    "s.store_id",
                    "c.customer_id",
                    "st.staff_id",
                    "r.rental_duration_days"
                ])
            ),
        ),
        (
            "fact_payment",
            format!(
                "SELECT {} FROM payment p JOIN staff st USING (staff_id)",
                mysql_row(&[
                    "p.payment_id",
                    "DATE_FORMAT(p.payment_date, '%Y%m%d')",
                    &f("p.payment_date"),
                    "p.customer_id",
                    "st.store_id",
                    "p.staff_id",
                    "p.rental_id",
                    "ROUND(p.amount * 100)"
                ])
            ),
            format!(
                "SELECT {} FROM fact_payment p JOIN dim_customer c USING (customer_key) JOIN dim_store s USING (store_key) JOIN dim_staff st USING (staff_key)",
                sqlite_row(&[
                    "p.payment_id",
                    "p.payment_date_key",
                    "p.payment_date",
                    "c.customer_id",
                    "s.store_id",
                    "st.staff_id",
                    "p.rental_id",
                    "p.amount_cents"
                ])
            ),
        ),
    ];
    for (table, my_sql, lite_sql) in checks {
        let mut expected = common::query_strings(&my, &my_sql).await;
        let mut actual = common::query_strings(&lite, &lite_sql).await;
        expected.sort();
        actual.sort();
        assert!(
            !expected.is_empty(),
            "{table}: the source query returned nothing"
        );
        let mut a = std::collections::BTreeMap::new();
        a.insert("x", expected);
        let mut b = std::collections::BTreeMap::new();
        b.insert("x", actual);
        common::assert_same_warehouse(&a, &b);
        eprintln!("{table}: every row matches the source");
    }
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn full_load_twice_gives_the_same_warehouse() {
    full_load_twice_gives_the_same_warehouse_on(common::Wh::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn full_load_twice_gives_the_same_warehouse_on_postgres() {
    full_load_twice_gives_the_same_warehouse_on(common::Wh::Postgres).await;
}

async fn full_load_twice_gives_the_same_warehouse_on(kind: common::Wh) {
    let dump = require_dump!();
    let (src_url, _g) = common::sakila_db(&dump, "fl_twice");
    let (wh_url, _dir) = common::temp_warehouse_on(kind);
    let src = sakila_sync::db::SourceDb::connect(&src_url).await.unwrap();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    full_load(&src, &wh).await.unwrap();
    let first = common::canonical(&wh_url).await;
    let keys_first = common::query_strings(
        &common::raw(&wh_url).await,
        "SELECT customer_key || ':' || customer_id FROM dim_customer ORDER BY customer_id",
    )
    .await;
    full_load(&src, &wh).await.unwrap();
    common::assert_same_warehouse(&first, &common::canonical(&wh_url).await);
    let keys_second = common::query_strings(
        &common::raw(&wh_url).await,
        "SELECT customer_key || ':' || customer_id FROM dim_customer ORDER BY customer_id",
    )
    .await;
    assert_eq!(
        keys_first, keys_second,
        "surrogate keys are assigned deterministically"
    );
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_reload_after_oltp_activity_equals_a_first_load() {
    a_reload_after_oltp_activity_equals_a_first_load_on(common::Wh::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_reload_after_oltp_activity_equals_a_first_load_on_postgres() {
    a_reload_after_oltp_activity_equals_a_first_load_on(common::Wh::Postgres).await;
}

/// A full-load into a warehouse that has rows (an incremental's soft-deleted members among
/// them) ends where a first load of the same source ends: rows changed, added and deleted
/// since, a customer deleted with their history, a film renamed. On PostgreSQL such a reload
/// reconciles the star in place, writing only what differs: its counts say what changed,
/// and a second reload of the same source writes no fact row at all.
async fn a_reload_after_oltp_activity_equals_a_first_load_on(kind: common::Wh) {
    let e = common::Env::loaded_on(kind, "fl_reload", Default::default()).await;
    let url = format!("{}/{}", common::mysql_server_url(), e.db.0);
    let writer = connect(&url, Role::SourceWriter).await.unwrap();
    sakila_sync::generate::simulate(&writer, 300, 3, sakila_sync::generate::Mix::Stress)
        .await
        .unwrap();
    e.incremental().await;
    sakila_sync::generate::simulate(&writer, 300, 4, sakila_sync::generate::Mix::Stress)
        .await
        .unwrap();
    e.sql(
        "DELETE FROM payment WHERE customer_id = 7; DELETE FROM rental WHERE customer_id = 7; \
         DELETE FROM customer WHERE customer_id = 7; \
         UPDATE film SET title = 'RENAMED' WHERE film_id = 3; \
         UPDATE payment SET amount = amount + 1 WHERE payment_id = 100",
    )
    .await;

    let report = full_load(&e.src, &e.wh).await.unwrap();
    e.assert_equals_full_load().await;
    // The versions the next incremental compares with are a first load's too.
    let versions = |url: String| async move {
        common::query_strings(
            &common::raw(&url).await,
            "SELECT table_name || ':' || row_id || ':' || COALESCE(CAST(last_update AS TEXT), '-') \
             FROM source_version ORDER BY table_name, row_id",
        )
        .await
    };
    let (fresh_url, _fresh) = common::temp_warehouse_on(kind);
    let fresh = connect(&fresh_url, Role::Warehouse).await.unwrap();
    full_load(&e.src, &fresh).await.unwrap();
    fresh.close().await.ok();
    let want = versions(fresh_url.clone()).await;
    assert!(want.len() > 4_000, "{}", want.len());
    assert_eq!(versions(e.wh_url.clone()).await, want, "source_version");

    if kind == common::Wh::Postgres {
        let rentals = report.table("fact_rental");
        let payments = report.table("fact_payment");
        let customers = report.table("dim_customer");
        assert!(
            rentals.inserted > 0 && rentals.updated > 0 && rentals.deleted > 0,
            "{report}"
        );
        assert!(payments.updated > 0 && payments.deleted > 0, "{report}");
        assert!(customers.deleted >= 1, "{report}");
        // Only what changed was written: far fewer rows than the source's 16,044 rentals.
        assert!(rentals.inserted + rentals.updated < 2_000, "{report}");

        let again = full_load(&e.src, &e.wh).await.unwrap();
        for fact in ["fact_rental", "fact_payment"] {
            let t = again.table(fact);
            assert_eq!(
                (t.inserted, t.updated, t.deleted),
                (0, 0, 0),
                "{fact}: {again}"
            );
        }
        e.assert_equals_full_load().await;
    }
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_full_load_that_fails_midway_leaves_the_previous_warehouse_intact() {
    a_full_load_that_fails_midway_leaves_the_previous_warehouse_intact_on(common::Wh::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_full_load_that_fails_midway_leaves_the_previous_warehouse_intact_on_postgres() {
    a_full_load_that_fails_midway_leaves_the_previous_warehouse_intact_on(common::Wh::Postgres)
        .await;
}

async fn a_full_load_that_fails_midway_leaves_the_previous_warehouse_intact_on(kind: common::Wh) {
    let dump = require_dump!();
    let (src_url, _g) = common::sakila_db(&dump, "fl_atomic");
    let (wh_url, _dir) = common::temp_warehouse_on(kind);
    let src = sakila_sync::db::SourceDb::connect(&src_url).await.unwrap();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    full_load(&src, &wh).await.unwrap();
    let before = common::canonical(&wh_url).await;

    // New source rows, then one payment taken by a staff member who does not exist: the load
    // gets through every dimension and all rentals before it fails on that payment.
    let my = common::raw(&src_url).await;
    common::exec(
        &my,
        "UPDATE customer SET first_name = 'CHANGED' WHERE customer_id = 1",
    )
    .await;
    common::exec(&my, "SET FOREIGN_KEY_CHECKS = 0; INSERT INTO payment (payment_id, customer_id, staff_id, rental_id, amount, payment_date) VALUES (65000, 1, 99, NULL, 1.00, '2006-02-14 10:00:00'); SET FOREIGN_KEY_CHECKS = 1;").await;

    let err = full_load(&src, &wh).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("payment 65000") && msg.contains("staff 99"),
        "{msg}"
    );
    common::assert_same_warehouse(&before, &common::canonical(&wh_url).await);
    let raw = common::raw(&wh_url).await;
    let runs = common::query_strings(&raw, "SELECT status FROM sync_run ORDER BY id").await;
    assert_eq!(runs, vec!["success".to_string(), "failed".to_string()]);

    // The CLI says so in one line and exits 2; the warehouse still holds the first load.
    let out = Command::new(common::bin())
        .args(["full-load", "--source", &src_url, "--warehouse", &wh_url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains("payment 65000"),
        "{stderr}"
    );
    common::assert_same_warehouse(&before, &common::canonical(&wh_url).await);

    // Fixed source: a rerun converges.
    common::exec(&my, "DELETE FROM payment WHERE payment_id = 65000").await;
    full_load(&src, &wh).await.unwrap();
    let names = common::query_strings(
        &common::raw(&wh_url).await,
        "SELECT first_name FROM dim_customer WHERE customer_id = 1",
    )
    .await;
    assert_eq!(names, vec!["CHANGED".to_string()]);
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn cli_init_checks_the_source_and_never_prints_passwords() {
    let dump = require_dump!();
    let (src_url, _g) = common::sakila_db(&dump, "fl_cli");
    let (wh_url, _dir) = common::temp_warehouse();
    let ok = Command::new(common::bin())
        .args(["init", "--source", &src_url, "--warehouse", &wh_url])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let again = Command::new(common::bin())
        .args(["init", "--source", &src_url, "--warehouse", &wh_url])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 days added"));

    // A database without the Sakila tables is named as such.
    let empty = common::unique_name("fl_empty");
    let empty_url = common::empty_database(&empty);
    let _g2 = common::DbGuard(empty);
    let out = Command::new(common::bin())
        .args(["init", "--source", &empty_url, "--warehouse", &wh_url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing or unreadable tables") && stderr.contains("rental"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1);

    // A wrong password: a clear error, and the password never appears.
    let bad = "mysql://root:Sup3rSecretPw@127.0.0.1:3306/nosuchdb";
    let out = Command::new(common::bin())
        .args(["full-load", "--source", bad, "--warehouse", &wh_url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("Sup3rSecretPw"), "{all}");
    assert!(
        all.contains("source database") && all.contains("***"),
        "{all}"
    );
    let out = Command::new(common::bin())
        .args(["--help"])
        .env("SAKILA_SOURCE_URL", bad)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Sup3rSecretPw"));
}

/// A source server that is down (nothing listens on its port) is named as such, at once:
/// sqlx alone retried the refused connection for 30 s, then said only "pool timed out".
#[test]
fn cli_names_a_source_server_that_refuses_connections() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // closed here: nothing listens on `port` any more
    let (wh_url, _dir) = common::temp_warehouse();
    let src = format!("mysql://root:Sup3rSecretPw@127.0.0.1:{port}/sakila");
    let stderr = common::cli_error(&["full-load", "--source", &src, "--warehouse", &wh_url]);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port} refused the connection")),
        "{stderr}"
    );
    assert!(!stderr.contains("Sup3rSecretPw"), "{stderr}");
}

/// A SQLite file that cannot be opened is named, with the reason, where SQLite itself says
/// only "unable to open database file".
#[test]
fn cli_names_a_missing_sqlite_file_or_folder() {
    let dir = tempfile::tempdir().unwrap();
    let run = common::cli_error;
    let into = format!("sqlite://{}/nodir/s.db", dir.path().display());
    let stderr = run(&["generate", "--scale", "1", "--into", &into]);
    assert!(
        stderr.contains("the folder") && stderr.contains("nodir does not exist"),
        "{stderr}"
    );

    let warehouse = dir.path().join("w.db");
    std::fs::write(&warehouse, b"").unwrap();
    let source = format!("sqlite://{}/gone.db", dir.path().display());
    let wh = format!("sqlite://{}", warehouse.display());
    let stderr = run(&["validate", "--source", &source, "--warehouse", &wh]);
    assert!(
        stderr.contains("the source database file") && stderr.contains("gone.db does not exist"),
        "{stderr}"
    );
}

/// A source whose table lacks a column the loader reads: one line that names the column,
/// each cause said once (SeaORM's errors also list the driver error they print as their cause).
#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn cli_names_a_missing_source_column_once() {
    let dump = require_dump!();
    let (src_url, _g) = common::sakila_db(&dump, "fl_drift");
    let (wh_url, _dir) = common::temp_warehouse();
    common::exec(
        &common::raw(&src_url).await,
        "ALTER TABLE customer DROP COLUMN email",
    )
    .await;
    let stderr = common::cli_error(&["full-load", "--source", &src_url, "--warehouse", &wh_url]);
    assert!(stderr.contains("not Sakila"), "{stderr}");
    assert_eq!(
        stderr.matches("customer (no column email)").count(),
        1,
        "{stderr}"
    );
}

#[tokio::test]
async fn the_full_load_connection_defers_foreign_keys_to_one_check_before_commit() {
    let (wh_url, _dir, wh, raw) = warehouse_for_2005().await;
    one_customer_store_and_staff_member(&raw).await;
    let insert = |id: i32, customer_key: i32, date_key: i32| {
        format!(
            "INSERT INTO fact_payment (payment_id, payment_date_key, payment_date, customer_key, store_key, staff_key, rental_id, amount_cents) VALUES ({id}, {date_key}, '2005-05-25 11:30:37', {customer_key}, 1, 1, NULL, 299)"
        )
    };
    common::exec(&raw, &insert(1, 1, 20050525)).await;
    schema::check_star_keys(&wh)
        .await
        .expect("a warehouse whose keys all resolve passes");

    // The bulk connection does not check row by row: the orphan goes in...
    let bulk = connect(&wh_url, Role::BulkWarehouse).await.unwrap();
    use sea_orm::ConnectionTrait;
    bulk.execute_unprepared(&insert(2, 999, 20050525))
        .await
        .expect("no per-row foreign-key check on the bulk connection");
    // ...and the check before commit names it.
    let err = schema::check_star_keys(&bulk)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fact_payment.customer_key holds 999") && err.contains("dim_customer"),
        "{err}"
    );
    common::exec(&raw, "DELETE FROM fact_payment WHERE payment_id = 2").await;
    bulk.execute_unprepared(&insert(3, 1, 19990101))
        .await
        .unwrap();
    let err = schema::check_star_keys(&bulk)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fact_payment.payment_date_key holds 19990101") && err.contains("dim_date"),
        "{err}"
    );
}

/// The PostgreSQL warehouse's constraints and indexes, as sorted text: what `init` declares
/// must be what every full-load leaves, whichever way it emptied the star.
async fn postgres_keys_and_indexes(url: &str) -> Vec<String> {
    let raw = common::raw(url).await;
    let mut all = common::query_strings(
        &raw,
        "SELECT c.conrelid::regclass::text || ' ' || c.contype::text || ' ' || pg_get_constraintdef(c.oid) \
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
         WHERE n.nspname = current_schema()",
    )
    .await;
    all.extend(
        common::query_strings(
            &raw,
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()",
        )
        .await,
    );
    all.sort();
    all
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_postgres_full_load_leaves_the_keys_and_indexes_that_init_declares() {
    let dump = require_dump!();
    let (src_url, _g) = common::sakila_db(&dump, "fl_pgkeys");
    let (declared_url, _declared) = common::temp_warehouse_on(common::Wh::Postgres);
    let wh = connect(&declared_url, Role::Warehouse).await.unwrap();
    warehouse::init(&wh, day("2005-01-01"), day("2006-12-31"))
        .await
        .unwrap();
    let declared = postgres_keys_and_indexes(&declared_url).await;
    assert!(
        declared
            .iter()
            .filter(|d| d.contains(" f FOREIGN KEY"))
            .count()
            >= 12,
        "{declared:#?}"
    );

    // First load: an empty star, rebuilt without keys or indexes and given them after the
    // copy. Second load: a star with rows, emptied row by row.
    let (wh_url, _wh) = common::temp_warehouse_on(common::Wh::Postgres);
    let src = sakila_sync::db::SourceDb::connect(&src_url).await.unwrap();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    warehouse::init(&wh, day("2005-01-01"), day("2006-12-31"))
        .await
        .unwrap();
    for load in ["first", "second"] {
        full_load(&src, &wh).await.unwrap();
        assert_eq!(
            postgres_keys_and_indexes(&wh_url).await,
            declared,
            "after the {load} full-load"
        );
    }
    // And the keys are enforced.
    use sea_orm::ConnectionTrait;
    let raw = common::raw(&wh_url).await;
    let err = raw
        .execute_unprepared("UPDATE fact_rental SET film_key = 999999 WHERE rental_id = 1")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("foreign key"), "{err}");
}

#[tokio::test]
async fn a_postgres_load_into_an_empty_star_names_a_broken_key_when_adding_the_keys() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let (wh_url, _wh) = common::temp_warehouse_on(common::Wh::Postgres);
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    warehouse::init(&wh, day("2005-01-01"), day("2005-12-31"))
        .await
        .unwrap();
    let txn = wh.begin().await.unwrap();
    let how = schema::recreate_star_for_bulk_load(&txn).await.unwrap();
    assert_eq!(how, schema::BulkLoad::RecreatedWithoutKeys);
    // No dimension rows: the payment's customer, store and staff keys all miss.
    txn.execute_unprepared(
        "INSERT INTO fact_payment (payment_id, payment_date_key, payment_date, customer_key, store_key, staff_key, rental_id, amount_cents) \
         VALUES (1, 20050525, '2005-05-25 11:30:37', 999, 999, 999, NULL, 299)",
    )
    .await
    .unwrap();
    let err = format!(
        "{:#}",
        schema::finish_bulk_load(&txn, how).await.unwrap_err()
    );
    assert!(
        err.contains("fact_payment.") && err.contains("holds 999"),
        "{err}"
    );
    txn.rollback().await.unwrap();

    // The same load without the orphan ends with every key declared.
    let txn = wh.begin().await.unwrap();
    let how = schema::recreate_star_for_bulk_load(&txn).await.unwrap();
    schema::finish_bulk_load(&txn, how).await.unwrap();
    txn.commit().await.unwrap();
    let keys = postgres_keys_and_indexes(&wh_url).await;
    assert!(
        keys.iter().filter(|d| d.contains(" f FOREIGN KEY")).count() >= 12,
        "{keys:#?}"
    );
}
