//! `bench/run`, the benchmark harness of issue 6, run whole at scale 1: every step it times
//! must still work (a renamed flag or a failing command stops it), and its table must come out
//! complete. Nothing here looks at the figures themselves: timings are for the benchmark, never
//! for a test.

mod common;

use std::path::Path;
use std::process::Command;

/// The commands the harness calls besides sakila-sync, or the first one missing.
fn missing_tool() -> Option<&'static str> {
    let runs = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !runs("sqlite3", "--version") {
        return Some("sqlite3");
    }
    if !runs("mariadb", "--version") {
        return Some("mariadb");
    }
    if !runs("psql", "--version") {
        return Some("psql");
    }
    if !Path::new("/usr/bin/time").exists() {
        return Some("/usr/bin/time");
    }
    None
}

/// A table row's cells, without the outer pipes.
fn cells(row: &str) -> Vec<&str> {
    row.trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .collect()
}

#[test]
fn the_harness_times_every_step_at_scale_1_and_appends_a_complete_table() {
    if let Some(tool) = missing_tool() {
        panic!(
            "bench/run needs {tool}: install it (Debian: apt-get install sqlite3 time mariadb-client; .ci/run does)"
        );
    }
    let prefix = format!("{}_x", common::unique_name("bench"));
    let db = format!("{prefix}1");
    let work = std::env::temp_dir().join(format!("{prefix}-out"));
    std::fs::create_dir_all(&work).unwrap();
    let out = work.join("benchmarks.md");
    std::fs::write(&out, "# earlier content\n").unwrap();

    let run = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/run"))
        .arg("1")
        .env("BENCH_BIN", env!("CARGO_BIN_EXE_sakila-sync"))
        .env("BENCH_OUT", &out)
        .env("BENCH_DB_PREFIX", &prefix)
        .output()
        .expect("bench/run starts");
    common::mariadb_client(&format!(
        "DROP DATABASE IF EXISTS `{db}`; DROP DATABASE IF EXISTS `{db}_real`;"
    ));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "bench/run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_dir_all(&work).ok();
    assert!(
        text.starts_with("# earlier content\n"),
        "appends, keeps what was there"
    );
    assert!(
        text.contains("## bench/run, ") && text.contains("scales 1"),
        "a dated heading naming the scale:\n{text}"
    );
    let header = text
        .lines()
        .find(|l| l.starts_with("| scale |"))
        .expect("a table header");
    let columns = cells(header);
    assert_eq!(columns.len(), 11, "{header}");
    for shape in ["generated", "real-shaped"] {
        let rows: Vec<Vec<&str>> = text
            .lines()
            .filter(|l| l.starts_with(&format!("| x1 | {shape} |")))
            .map(cells)
            .collect();
        check_steps(&text, &columns, &rows);
    }
    // The PostgreSQL warehouse beside the SQLite one, on the generated source.
    let pg: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("| x1 | generated, PostgreSQL warehouse |"))
        .map(cells)
        .collect();
    let steps: Vec<String> = pg
        .iter()
        .map(
            |r| match r[3].strip_prefix("incremental after simulate --ops ") {
                Some(n) if n.parse::<u64>().is_ok_and(|n| n > 0) => {
                    "incremental after simulate --ops N".to_string()
                }
                _ => r[3].to_string(),
            },
        )
        .collect();
    assert_eq!(
        steps,
        [
            "floor (dump + psql \\copy)",
            "init + full-load",
            "incremental after simulate --ops N",
            "validate",
            "full-load again (a reload: the star has rows)",
        ],
        "{text}"
    );
    for row in &pg {
        assert_eq!(row.len(), columns.len(), "{row:?}");
        assert!(row[4].parse::<f64>().is_ok_and(|v| v >= 0.0), "{row:?}");
    }
    assert!(pg[2][10].ends_with("of SQLite's"), "{:?}", pg[2]);
    assert!(pg[4][10].ends_with("of the first load)"), "{:?}", pg[4]);
    // The date cliff: full-load per fact row, dates inside and outside the default calendar.
    let cliff = text
        .lines()
        .find(|l| l.starts_with("| x1 |") && cells(l).len() == 4)
        .map(cells)
        .unwrap_or_else(|| panic!("a date-cliff row:\n{text}"));
    let number = |s: &str| s.parse::<f64>().is_ok_and(|v| v > 0.0);
    assert!(cliff[1..].iter().all(|c| number(c)), "{cliff:?}");
    assert!(
        stdout.contains("appended to ") && stdout.contains("init + full-load"),
        "prints the table and where it went:\n{stdout}"
    );
}

/// One source's rows: every step, in order, each with its figures.
fn check_steps(text: &str, columns: &[&str], rows: &[Vec<&str>]) {
    // The churn step names its operation count: 1% of the rentals.
    let steps: Vec<String> = rows
        .iter()
        .map(|r| {
            let ops = r[3].strip_prefix("incremental after simulate --ops ");
            match ops.map(str::parse::<u64>) {
                Some(Ok(n)) if n > 0 => "incremental after simulate --ops N".into(),
                _ => r[3].to_string(),
            }
        })
        .collect();
    assert_eq!(
        steps,
        [
            "floor (dump + sqlite3 import)",
            "floor + the contract's 12 fact indexes (sqlite3)",
            "init + full-load",
            "incremental, no change",
            "incremental after simulate --ops N",
            "incremental, no change, right after that activity",
            "validate",
        ],
        "{text}"
    );
    let number = |s: &str| s.parse::<f64>().is_ok_and(|v| v >= 0.0);
    let facts = rows[0][2];
    assert!(
        facts.parse::<u64>().is_ok_and(|n| n > 20_000),
        "scale 1 has about 32,000 fact rows: {facts}"
    );
    for row in rows {
        assert_eq!(row.len(), columns.len(), "{row:?}");
        assert_eq!(row[2], facts, "one source for every step: {row:?}");
        assert!(number(row[4]), "wall seconds: {row:?}");
        assert!(number(row[5]), "microseconds per fact row: {row:?}");
        assert!(number(row[6]), "peak RSS: {row:?}");
        let cpu = row[7].split_whitespace().next().unwrap_or_default();
        assert!(number(cpu), "CPU seconds: {row:?}");
    }
    assert_eq!(rows[0][10], "1.00", "the floor is the unit");
    let ratio = rows[2][10];
    assert!(
        ratio.ends_with("of floor + indexes)")
            && number(ratio.split_whitespace().next().unwrap_or_default()),
        "full-load against the floor: {ratio}"
    );
}
