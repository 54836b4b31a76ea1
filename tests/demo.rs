//! The README's first command: `demo` runs end to end with no server and validates clean.
mod common;

use std::process::Command;

#[test]
fn demo_runs_end_to_end_and_validates() {
    let dir = tempfile::tempdir().unwrap();
    // As the README runs it: no arguments, so its files go to `sakila-demo` in the working
    // directory, and every URL it builds is relative.
    let demo_dir = dir.path().join("sakila-demo");
    let out = Command::new(common::bin())
        .arg("demo")
        .current_dir(dir.path())
        // No server is involved: point the usual URLs nowhere to prove it.
        .env("SAKILA_SOURCE_URL", "mysql://nobody@127.0.0.1:1/none")
        .env("SAKILA_WAREHOUSE_URL", "sqlite:///nonexistent/dir/x.db")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "generate",
        "full-load",
        "simulate",
        "incremental",
        "agree ✔",
        "Revenue by month",
        "Revenue by store",
        "Top categories",
        "Top films",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    assert!(demo_dir.join("warehouse.db").exists() && demo_dir.join("sakila-source.db").exists());
    // A second run starts afresh in the same folder, named from the root this time.
    let again = Command::new(common::bin())
        .args(["demo", "--dir"])
        .arg(&demo_dir)
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // A folder name a URL would misread (a space, `?`, `#`, `%`, `:`) works too.
    let odd = "my demo?#%:x";
    let third = Command::new(common::bin())
        .args(["demo", "--dir", odd])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        third.status.success() && String::from_utf8_lossy(&third.stdout).contains("agree ✔"),
        "{}\n{}",
        String::from_utf8_lossy(&third.stdout),
        String::from_utf8_lossy(&third.stderr)
    );
    assert!(dir.path().join(odd).join("warehouse.db").exists());
}

/// The demo's output with its timings ("1.23 s") taken out: what must not change between two
/// runs with the same seed.
fn without_timings(stdout: &str) -> String {
    stdout
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let mut kept = Vec::new();
            for (i, w) in words.iter().enumerate() {
                let next_is_s = words.get(i + 1) == Some(&"s") || words.get(i + 1) == Some(&"s.");
                if next_is_s && w.parse::<f64>().is_ok() {
                    kept.push("T");
                } else {
                    kept.push(w);
                }
            }
            kept.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_same_seed_gives_the_same_demo() {
    let run = || {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(common::bin())
            .args(["demo", "--seed", "7"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let page = std::fs::read_to_string(dir.path().join("sakila-demo/report.html"))
            .expect("demo writes sakila-demo/report.html");
        (dir, without_timings(&stdout), without_clock(&page))
    };
    let (_a, first, first_page) = run();
    let (_b, second, second_page) = run();
    assert!(
        first.contains("incremental")
            && first.contains("Revenue by month")
            && first.contains("sakila-demo/report.html"),
        "{first}"
    );
    assert_eq!(first, second, "two demos with seed 7 differ");
    assert!(first_page.contains("Sakila") && first_page.contains("<svg"));
    assert!(
        first_page == second_page,
        "two demos with seed 7 wrote different pages"
    );
}

/// The page without what the wall clock decides: its "Data freshness" section (when each run
/// happened and how long it took, the `last_update` watermarks) and any other
/// `YYYY-MM-DD HH:MM:SS` (when the page was written). The business dates of the demo's
/// activity are on a calendar, not the clock, so every figure and chart compares as it is.
fn without_clock(page: &str) -> String {
    let start = page
        .find("<section id=\"freshness\">")
        .expect("the page has a freshness section");
    let end = start + page[start..].find("</section>").expect("the section ends");
    let page = format!("{}{}", &page[..start], &page[end..]);
    let page = page.as_str();
    let bytes = page.as_bytes();
    let shape = b"dddd-dd-dd dd:dd:dd";
    let mut out = String::with_capacity(page.len());
    let mut i = 0;
    while i < bytes.len() {
        let fits = bytes.len() - i >= shape.len()
            && shape.iter().zip(&bytes[i..]).all(|(s, b)| match s {
                b'd' => b.is_ascii_digit(),
                other => other == b,
            });
        if fits {
            out.push_str("<time>");
            i += shape.len();
        } else {
            let ch = page[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}
