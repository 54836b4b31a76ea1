//! `incremental` under real concurrency: long transactions that span runs, short ones that
//! commit in between, rollbacks, several writers at once. After each scenario the warehouse
//! must equal a fresh full-load of the same source.
//!
//! Every run here uses a one-second lookback, so that what keeps the runs exact is the
//! horizon of open transactions (`sync::horizon`), not a wide margin. The horizon is
//! server-wide, so the tests of this file run one at a time (a transaction of one test
//! moves every test's horizon back; that costs re-reads, never correctness, but it would
//! blur what each test shows).
mod common;

use std::time::Duration;

use sakila_sync::db::{Role, connect};
use sakila_sync::sync::incremental::{Options, incremental};
use sakila_sync::validate::{WindowSpec, validate};
use sea_orm::{ConnectionTrait, TransactionTrait};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SHORT: Options = Options {
    lookback: chrono::Duration::seconds(1),
    overlap_rows: 50_000,
};

/// The contract, and `validate` agrees.
async fn assert_exact(e: &common::Env) {
    e.assert_equals_full_load().await;
    let report = validate(&e.src, &e.wh, WindowSpec::AllTime).await.unwrap();
    assert!(report.passed(), "{report}");
}

macro_rules! env {
    ($prefix:expr) => {
        common::Env::loaded($prefix, SHORT).await
    };
    ($kind:expr, $prefix:expr) => {
        common::Env::loaded_on($kind, $prefix, SHORT).await
    };
}

/// The case that lost changes before horizons were recorded. B opens, a run takes its
/// snapshot (B is invisible to it), A changes a payment and a rental and commits, then B
/// changes others and commits. MariaDB records B's *start* as the tables' last change, which
/// is older than the run's snapshot: against the run's clock the tables looked quiet and
/// neither A's nor B's changes were ever loaded.
#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_short_commit_is_not_hidden_by_a_long_transaction_that_commits_after_it() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let e = env!("conc_hidden");
    tokio::time::sleep(Duration::from_secs(3)).await;
    e.incremental().await;

    let b_conn = e.other_connection().await;
    let b = b_conn.begin().await.unwrap();
    b.execute_unprepared("SELECT COUNT(*) FROM payment WHERE customer_id = 1")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    e.incremental().await;

    e.sql(
        "UPDATE payment SET amount = 7.77 WHERE payment_id = 10;
         UPDATE rental SET return_date = '2005-06-01 10:00:00' WHERE rental_id = 20",
    )
    .await;
    b.execute_unprepared(
        "UPDATE payment SET amount = 8.88 WHERE payment_id = 11;
         UPDATE rental SET return_date = '2005-06-02 10:00:00' WHERE rental_id = 21",
    )
    .await
    .unwrap();
    b.commit().await.unwrap();
    let update_time = common::query_strings(
        &e.my,
        "SELECT CAST(UPDATE_TIME AS CHAR) FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'payment'",
    )
    .await;
    let clock = e
        .wh_strings("SELECT source_clock FROM sync_run ORDER BY id DESC LIMIT 1")
        .await;
    assert!(
        update_time[0] < clock[0],
        "the server records B's start ({}), before the last run's clock ({}): what hid the changes",
        update_time[0],
        clock[0]
    );

    let after = e.incremental().await;
    assert!(
        !after.quiet.contains("payment") && !after.quiet.contains("rental"),
        "{:?}",
        after.quiet
    );
    assert_eq!(after.table("fact_payment").updated, 2, "{after}");
    assert_eq!(
        e.wh_strings(
            "SELECT CAST(amount_cents AS TEXT) FROM fact_payment WHERE payment_id IN (10, 11) ORDER BY payment_id"
        )
        .await,
        vec!["777", "888"]
    );
    assert_eq!(
        e.wh_strings(
            "SELECT CAST(return_date_key AS TEXT) FROM fact_rental WHERE rental_id IN (20, 21) ORDER BY rental_id"
        )
        .await,
        vec!["20050601", "20050602"]
    );
    assert_exact(&e).await;
}

/// Dimensions and lookup tables are found by stamp only. A transaction that stamps a customer
/// and a city early, stays open across a run, and commits after it wrote stamps older than
/// that run's snapshot and older than the watermark a later commit set: they are read from
/// the horizon the run recorded (the long transaction's start) on.
#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_dimension_row_stamped_early_in_a_long_transaction_is_read_when_it_commits() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let e = env!("conc_dim");
    tokio::time::sleep(Duration::from_secs(3)).await;
    e.incremental().await;

    let b_conn = e.other_connection().await;
    let b = b_conn.begin().await.unwrap();
    b.execute_unprepared(
        "UPDATE customer SET first_name = 'LONG' WHERE customer_id = 5;
         UPDATE city SET city = 'LONG CITY' WHERE city_id = (SELECT city_id FROM address WHERE address_id = 9)",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // A short transaction moves the customer table's watermark past B's stamp.
    e.sql("UPDATE customer SET first_name = 'SHORT' WHERE customer_id = 6")
        .await;
    let during = e.incremental().await;
    assert_eq!(during.table("dim_customer").updated, 1, "{during}");
    b.commit().await.unwrap();

    // Customer 5 took both of B's changes: its name and its city's.
    let after = e.incremental().await;
    assert_eq!(after.table("dim_customer").updated, 1, "{after}");
    assert_eq!(
        e.wh_strings(
            "SELECT first_name FROM dim_customer WHERE customer_id IN (5, 6) ORDER BY customer_id"
        )
        .await,
        vec!["LONG", "SHORT"]
    );
    // Customer 5 lives at address 9, whose city B renamed.
    assert_eq!(
        e.wh_strings("SELECT city FROM dim_customer WHERE customer_id = 5")
            .await,
        vec!["LONG CITY"]
    );
    assert_exact(&e).await;
}

/// A rolled-back transaction leaves no trace, whether a run took its snapshot while it was
/// open or not.
#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn rolled_back_transactions_leave_no_trace() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let e = env!("conc_rollback");
    let b_conn = e.other_connection().await;
    let b = b_conn.begin().await.unwrap();
    b.execute_unprepared(
        "UPDATE payment SET amount = 0.01 WHERE payment_id = 1;
         DELETE FROM payment WHERE payment_id = 2;
         UPDATE customer SET first_name = 'GHOST' WHERE customer_id = 1;
         INSERT INTO actor (actor_id, first_name, last_name) VALUES (9001, 'NEVER', 'THERE');",
    )
    .await
    .unwrap();
    let during = e.incremental().await;
    assert_eq!(during.rows_written(), 0, "{during}");
    b.rollback().await.unwrap();
    let after = e.incremental().await;
    assert_eq!(after.rows_written(), 0, "{after}");
    assert_eq!(
        e.wh_strings("SELECT CAST(COUNT(*) AS TEXT) FROM dim_actor WHERE actor_id = 9001")
            .await,
        vec!["0"]
    );
    assert_exact(&e).await;
}

/// Without the PROCESS privilege the server does not list its transactions. The run says so
/// (in `sync_run.note`), and the next one falls back to what is safe without a horizon: every
/// dimension and lookup row is read and compared, no table is skipped. The long transaction
/// of the test above is then still found.
#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn without_the_process_privilege_runs_fall_back_to_reading_everything() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let e = env!("conc_noproc");
    let user = format!("ro_{}", &e.db.0[e.db.0.len() - 8..]);
    e.sql(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'; GRANT SELECT ON `{}`.* TO '{user}'@'%'",
        e.db.0
    ))
    .await;
    let url = format!(
        "mysql://{user}:pw@{}/{}",
        common::mysql_server_url()
            .rsplit_once('@')
            .map_or("127.0.0.1:3306", |(_, host)| host),
        e.db.0
    );
    let limited = sakila_sync::db::SourceDb::connect(&url).await.unwrap();
    let first = incremental(&limited, &e.wh, SHORT).await.unwrap();
    assert!(
        first.horizon.at.is_none()
            && first
                .horizon
                .note
                .as_deref()
                .is_some_and(|n| n.contains("PROCESS")),
        "{:?}",
        first.horizon
    );
    assert_eq!(
        e.wh_strings("SELECT note FROM sync_run ORDER BY id DESC LIMIT 1")
            .await[0],
        first.horizon.note.clone().unwrap()
    );

    let b_conn = e.other_connection().await;
    let b = b_conn.begin().await.unwrap();
    b.execute_unprepared("UPDATE customer SET first_name = 'LONG' WHERE customer_id = 5")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    e.sql("UPDATE customer SET first_name = 'SHORT' WHERE customer_id = 6")
        .await;
    incremental(&limited, &e.wh, SHORT).await.unwrap();
    b.commit().await.unwrap();
    let after = incremental(&limited, &e.wh, SHORT).await.unwrap();
    assert!(after.quiet.is_empty(), "{:?}", after.quiet);
    assert_eq!(
        e.wh_strings("SELECT first_name FROM dim_customer WHERE customer_id = 5")
            .await,
        vec!["LONG"]
    );
    assert_exact(&e).await;
    e.sql(&format!("DROP USER '{user}'@'%'")).await;
}

/// The soak: three writers at once, a fifth of their transactions held open across runs and
/// some rolled back, while incrementals run back to back with a one-second lookback. Once the
/// writers stop, one more run must leave the warehouse equal, row by row, to a fresh
/// full-load, and `validate` must pass. (`bench/soak` runs a bigger one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn incrementals_during_concurrent_writers_with_long_transactions_end_where_a_full_load_would()
{
    soak(common::Wh::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn incrementals_during_concurrent_writers_with_long_transactions_end_where_a_full_load_would_on_postgres()
 {
    soak(common::Wh::Postgres).await;
}

async fn soak(kind: common::Wh) {
    let _serial = ONE_AT_A_TIME.lock().await;
    let e = env!(kind, "conc_soak");
    let writer = connect(&e.src_url, Role::SourceWriter).await.unwrap();
    let writers = sakila_sync::generate::Writers {
        workers: 3,
        ops_per_transaction: 20,
        long_share: 0.2,
        hold: Duration::from_millis(1500),
        rollback_share: 0.15,
        dated_from: None,
    };
    let activity = tokio::spawn(async move {
        sakila_sync::generate::simulate_with(
            &writer,
            1500,
            21,
            sakila_sync::generate::Mix::Stress,
            writers,
        )
        .await
    });
    let mut during = 0;
    while !activity.is_finished() {
        e.incremental().await;
        during += 1;
    }
    let report = activity.await.unwrap().unwrap();
    assert!(during >= 3, "only {during} runs overlapped the activity");
    assert!(
        report.held > 0 && report.rolled_back > 0,
        "the writers held and rolled back nothing: {report}"
    );
    e.incremental().await;
    assert_exact(&e).await;
}
