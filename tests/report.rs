//! The `report` command through the CLI: the page's figures and rankings on the real Sakila
//! equal independent SQL over the source (on a SQLite and a PostgreSQL warehouse, through the
//! same code), a window, an empty warehouse, and the one-line errors.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use sakila_sync::db::{Role, connect};

/// Runs `sakila-sync --warehouse URL report ARGS...`.
fn report(wh_url: &str, args: &[&str]) -> Output {
    Command::new(common::bin())
        .args(["--warehouse", wh_url, "report"])
        .args(args)
        .output()
        .unwrap()
}

/// Runs the report, which must succeed, and returns (stdout, the page).
fn report_ok(wh_url: &str, out: &Path, args: &[&str]) -> (String, String) {
    let path = out.display().to_string();
    let mut all = vec!["--out", path.as_str()];
    all.extend_from_slice(args);
    let o = report(wh_url, &all);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "report failed: {}{stdout}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains(&path), "{stdout}");
    (stdout, std::fs::read_to_string(out).unwrap())
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The text of the element with `id` (up to its first tag).
fn by_id(page: &str, id: &str) -> String {
    let key = format!("id=\"{id}\">");
    let start = page.find(&key).unwrap_or_else(|| panic!("no element {id}")) + key.len();
    let rest = &page[start..];
    unescape(&rest[..rest.find('<').unwrap()])
}

/// The cells of each row of `<table id="{id}">`'s body.
fn table_rows(page: &str, id: &str) -> Vec<Vec<String>> {
    let start = page
        .find(&format!("<table id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no table {id}"));
    let rest = &page[start..];
    let body =
        &rest[rest.find("<tbody>").unwrap() + "<tbody>".len()..rest.find("</tbody>").unwrap()];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let cell = &cell[cell.find('>').unwrap() + 1..];
                    unescape(&cell[..cell.find("</td>").unwrap()])
                })
                .collect()
        })
        .collect()
}

/// Column `i` of a table.
fn column(page: &str, id: &str, i: usize) -> Vec<String> {
    table_rows(page, id)
        .into_iter()
        .map(|r| r[i].clone())
        .collect()
}

/// The page loads nothing and runs nothing.
fn assert_offline(page: &str) {
    for external in [
        "http:", "https:", "src=", "<link", "@import", "url(", "<script",
    ] {
        assert!(!page.contains(external), "the page contains {external}");
    }
}

/// `16044` as the page writes it, `16,044`.
fn grouped(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A real Sakila in MariaDB fully loaded into a fresh warehouse on `kind`.
async fn loaded(
    kind: common::Wh,
    prefix: &str,
) -> (String, common::DbGuard, String, common::WarehouseGuard) {
    let dump = require_dump!();
    let (src_url, src_guard) = common::sakila_db(&dump, prefix);
    let (wh_url, wh_guard) = common::temp_warehouse_on(kind);
    let src = sakila_sync::db::SourceDb::connect(&src_url).await.unwrap();
    let wh = connect(&wh_url, Role::Warehouse).await.unwrap();
    sakila_sync::sync::full_load::full_load(&src, &wh)
        .await
        .unwrap();
    wh.close().await.ok();
    src.close().await.ok();
    (src_url, src_guard, wh_url, wh_guard)
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn report_on_real_sakila_matches_the_source() {
    report_on_real_sakila_matches_the_source_on(common::Wh::Sqlite).await;
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn report_on_real_sakila_matches_the_source_on_postgres() {
    report_on_real_sakila_matches_the_source_on(common::Wh::Postgres).await;
}

async fn report_on_real_sakila_matches_the_source_on(kind: common::Wh) {
    let (src_url, _src, wh_url, _wh) = loaded(kind, "report").await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.html");
    let (stdout, page) = report_ok(&wh_url, &out, &[]);
    assert!(stdout.contains("all time"), "{stdout}");
    assert_offline(&page);
    assert!(page.contains("<title>Sakila report: $67,416.51 revenue, 16,044 rentals"));
    assert_eq!(by_id(&page, "revenue"), "$67,416.51");
    assert_eq!(by_id(&page, "rentals"), "16,044");
    assert_eq!(by_id(&page, "paying-customers"), "599");
    assert_eq!(by_id(&page, "window"), "all time (no window option)");

    let my = common::raw(&src_url).await;
    // Rankings: independent SQL over the source, ties by id as the page breaks them.
    let categories = common::query_strings(
        &my,
        "SELECT c.name FROM payment p \
         JOIN rental r ON r.rental_id = p.rental_id \
         JOIN inventory i ON i.inventory_id = r.inventory_id \
         JOIN film_category fc ON fc.film_id = i.film_id \
         JOIN category c ON c.category_id = fc.category_id \
         GROUP BY c.category_id, c.name ORDER BY SUM(p.amount) DESC, c.category_id LIMIT 10",
    )
    .await;
    assert_eq!(categories.len(), 10);
    assert_eq!(column(&page, "top-categories", 1), categories);
    let films = common::query_strings(
        &my,
        "SELECT f.title FROM rental r \
         JOIN inventory i ON i.inventory_id = r.inventory_id \
         JOIN film f ON f.film_id = i.film_id \
         GROUP BY f.film_id, f.title ORDER BY COUNT(*) DESC, f.film_id LIMIT 10",
    )
    .await;
    assert_eq!(films.len(), 10);
    assert_eq!(column(&page, "top-films", 1), films);
    let film_rentals = common::query_strings(
        &my,
        "SELECT CAST(COUNT(*) AS CHAR) FROM rental r \
         JOIN inventory i ON i.inventory_id = r.inventory_id \
         GROUP BY i.film_id ORDER BY COUNT(*) DESC, i.film_id LIMIT 10",
    )
    .await;
    assert_eq!(column(&page, "top-films", 2), film_rentals);
    assert_eq!(table_rows(&page, "top-actors").len(), 10);

    // Both store attributions add up to the revenue.
    for id in ["revenue-by-staff-store", "revenue-by-copy-store"] {
        let cents: i64 = column(&page, id, 1)
            .iter()
            .map(|d| d.replace(['$', ',', '.'], "").parse::<i64>().unwrap())
            .sum();
        assert_eq!(cents, 6741651, "{id}");
    }
    // The months with payments only: May..August 2005 and February 2006.
    assert_eq!(
        column(&page, "monthly", 0),
        ["2005-05", "2005-06", "2005-07", "2005-08", "2006-02"]
    );
    let weekdays: i64 = column(&page, "weekdays-table", 1)
        .iter()
        .map(|n| n.replace(',', "").parse::<i64>().unwrap())
        .sum();
    assert_eq!(weekdays, 16044);
    let still_out =
        common::query_i64(&my, "SELECT COUNT(*) FROM rental WHERE return_date IS NULL").await;
    assert_eq!(by_id(&page, "still-out"), grouped(still_out));
    assert!(page.contains("Last synced by <strong>full-load</strong>"));
    if let Some(keep) = std::env::var_os("SAKILA_TEST_KEEP_REPORT") {
        std::fs::write(format!("{}-{kind:?}.html", keep.to_string_lossy()), &page).unwrap();
    }
}

#[tokio::test]
#[ignore = "needs the real Sakila dump: SAKILA_DUMP_DIR (see README, Tests)"]
async fn a_days_window_counts_back_from_the_latest_fact() {
    let (src_url, _src, wh_url, _wh) = loaded(common::Wh::Sqlite, "report_days").await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("week.html");
    let (stdout, page) = report_ok(&wh_url, &out, &["--days", "7"]);
    assert!(stdout.contains("2006-02-08..2006-02-14"), "{stdout}");
    assert!(
        by_id(&page, "window")
            .starts_with("2006-02-08..2006-02-14: the 7 days ending at 2006-02-14")
    );
    let my = common::raw(&src_url).await;
    let rentals = common::query_i64(
        &my,
        "SELECT COUNT(*) FROM rental \
         WHERE rental_date >= '2006-02-08' AND rental_date < '2006-02-15'",
    )
    .await;
    assert!(rentals > 0);
    assert_eq!(by_id(&page, "rentals"), grouped(rentals));
    let cents = common::query_i64(
        &my,
        "SELECT CAST(SUM(amount) * 100 AS SIGNED) FROM payment \
         WHERE payment_date >= '2006-02-08' AND payment_date < '2006-02-15'",
    )
    .await;
    assert_eq!(
        by_id(&page, "revenue"),
        format!("${}.{:02}", grouped(cents / 100), cents % 100)
    );
    assert!(page.contains("(2006-02-08..2006-02-14)</title>"));
}

/// An initialised SQLite warehouse with nothing loaded: (url, folder).
async fn initialised() -> (String, tempfile::TempDir) {
    let (url, dir) = common::temp_warehouse();
    let wh = connect(&url, Role::Warehouse).await.unwrap();
    sakila_sync::warehouse::init(
        &wh,
        sakila_sync::warehouse::dates::default_start(),
        sakila_sync::warehouse::dates::default_end(),
    )
    .await
    .unwrap();
    wh.close().await.ok();
    (url, dir)
}

#[tokio::test]
async fn an_empty_warehouse_gives_a_page_that_says_to_load_it() {
    let (url, dir) = initialised().await;
    let out = dir.path().join("empty.html");
    let (stdout, page) = report_ok(&url, &out, &[]);
    assert!(stdout.contains("all time"), "{stdout}");
    assert!(page.contains("Nothing loaded yet: run <code>sakila-sync full-load</code>"));
    assert!(page.contains("<section id=\"freshness\">"));
    assert!(page.contains("<title>Sakila report: nothing loaded yet</title>"));
    assert_offline(&page);
    // A window on an empty warehouse is no error either.
    let (stdout, _) = report_ok(&url, &out, &["--days", "7"]);
    assert!(stdout.contains("no rental or payment"), "{stdout}");
}

#[tokio::test]
async fn bad_options_and_unwritable_paths_are_one_line_and_exit_2() {
    let (url, dir) = initialised().await;
    let out = dir.path().join("r.html");
    let out = out.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--warehouse", url.as_str(), "report"];
        all.extend_from_slice(args);
        common::cli_error(&all)
    };
    for (args, says) in [
        (vec!["--days", "0"], "--days must be at least 1"),
        (vec!["--days", "x"], "--days must be a whole number"),
        (vec!["--days", "-3"], "--days must be at least 1"),
        (
            vec!["--since", "2006-13-01"],
            "--since '2006-13-01' is not a valid date",
        ),
        (vec!["--until", "yesterday"], "--until 'yesterday'"),
        (
            vec!["--since", "2006-02-14", "--until", "2006-02-01"],
            "is after --until",
        ),
        (
            vec!["--days", "3", "--since", "2006-01-01"],
            "--days cannot be combined",
        ),
        (vec!["--weeks", "3"], "unexpected argument '--weeks'"),
    ] {
        let mut args = args;
        args.extend(["--out", out]);
        let line = run(&args);
        assert!(
            line.starts_with("error: ") && line.contains(says),
            "{args:?}: {line}"
        );
    }
    assert!(!Path::new(out).exists(), "no page for a bad window");

    let line = run(&["--out", "/nonexistent-dir/r.html"]);
    assert!(
        line.contains("cannot write the report to /nonexistent-dir/r.html"),
        "{line}"
    );
    let line = run(&["--out", dir.path().to_str().unwrap()]);
    assert!(line.contains("is a folder"), "{line}");

    // A warehouse that does not exist is not created.
    let missing = dir.path().join("missing.db");
    let line = common::cli_error(&[
        "--warehouse",
        &format!("sqlite://{}", missing.display()),
        "report",
        "--out",
        out,
    ]);
    assert!(
        line.contains("does not exist: run `sakila-sync init`"),
        "{line}"
    );
    assert!(!missing.exists());
    assert!(
        !Path::new(out).exists(),
        "no page left behind by a failed report"
    );
}
