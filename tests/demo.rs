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
