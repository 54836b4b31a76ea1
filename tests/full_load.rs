//! `init` and `full-load` against MariaDB (real Sakila) and SQLite.
mod common;

use sakila_sync::db::{Role, connect};
use sakila_sync::sync::full_load::full_load;

#[tokio::test]
async fn full_load_counts_and_revenue_on_real_sakila() {
    let dump = require_dump!();
    let (src_url, _g) = common::sakila_db(&dump, "fl_counts");
    let (wh_url, _dir) = common::temp_warehouse();
    let src = connect(&src_url, Role::Source).await.unwrap();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    let report = full_load(&src, &wh).await.unwrap();
    assert_eq!(report.table("fact_rental").inserted, 16044);
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
        common::query_i64(&raw, "SELECT SUM(amount_cents) FROM fact_payment").await,
        6741651
    );
}
