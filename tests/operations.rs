//! Operating the warehouse unattended: one writer at a time.

mod common;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Fills the empty database at `url` with a scale-1 generated Sakila.
fn generate_into(url: &str, seed: u64) {
    let out = Command::new(common::bin())
        .args([
            "generate",
            "--scale",
            "1",
            "--seed",
            &seed.to_string(),
            "--into",
            url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A generated Sakila in a SQLite file (no server needed) and a warehouse path beside it.
fn sqlite_source() -> (String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let src = format!("sqlite://{}", dir.path().join("source.db").display());
    let wh = format!("sqlite://{}", dir.path().join("warehouse.db").display());
    generate_into(&src, 7);
    (src, wh, dir)
}

/// A generated Sakila in a private MariaDB database: its name, URL, and the guard that drops
/// it when the test ends.
fn mariadb_source(prefix: &str, seed: u64) -> (String, String, common::DbGuard) {
    let name = common::unique_name(prefix);
    let url = common::empty_database(&name);
    let guard = common::DbGuard(name.clone());
    generate_into(&url, seed);
    (name, url, guard)
}

fn sync(src: &str, wh: &str, command: &str) -> std::process::Output {
    Command::new(common::bin())
        .args(["--source", src, "--warehouse", wh, command])
        .output()
        .unwrap()
}

/// Starts `command` with the run told to stop at `point` and waits until it has: it holds the
/// writer lock and an open warehouse transaction from then on.
fn paused(src: &str, wh: &str, command: &str, point: &str) -> Running {
    let run = Running::start(
        &["--source", src, "--warehouse", wh, command],
        &[("SAKILA_SYNC_PAUSE_AT", point)],
    );
    run.wait_for(&format!("paused at {point}"), 0, Duration::from_secs(120));
    run
}

#[test]
fn a_second_writer_is_refused_at_once_and_let_in_after_the_first_is_killed() {
    second_writer(common::Wh::Sqlite);
}

#[test]
fn a_second_writer_is_refused_at_once_and_let_in_after_the_first_is_killed_on_postgres() {
    second_writer(common::Wh::Postgres);
}

fn second_writer(kind: common::Wh) {
    let (src, _, _dir) = sqlite_source();
    let (wh, _guard) = common::temp_warehouse_on(kind);
    let mut first = paused(&src, &wh, "full-load", "run:before-commit");
    // `status` names the writer without waiting for it, and says that a first load holds
    // the warehouse: on SQLite the whole file, written through a rollback journal (every
    // page once, where the write-ahead log writes it twice), on PostgreSQL the star's tables.
    let status = status_json(&src, &wh);
    let writer = status["warehouse"]["writer"].as_str().unwrap_or_default();
    assert!(
        writer.contains(&format!("PID {}, full-load", first.child.id())),
        "{status}"
    );
    assert_eq!(status["warehouse"]["first_load"], true, "{status}");
    let file = std::path::PathBuf::from(wh.trim_start_matches("sqlite://"));
    let beside = |suffix: &str| {
        let mut name = file.clone().into_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    if kind == common::Wh::Sqlite {
        assert!(beside("-journal").is_file(), "no rollback journal");
        assert!(
            std::fs::metadata(beside("-wal")).map_or(0, |m| m.len()) == 0,
            "the load went through the write-ahead log"
        );
    }

    for command in ["incremental", "full-load", "init"] {
        let started = std::time::Instant::now();
        let line = common::cli_error(&["--source", &src, "--warehouse", &wh, command]);
        assert!(
            line.contains("is being written by another sakila-sync")
                && line.contains(&format!("PID {}, full-load, since ", first.child.id())),
            "{line}"
        );
        // Refused before SQLite's busy timeout (30 s) could have made it wait.
        assert!(started.elapsed() < Duration::from_secs(20), "{line}");
    }
    // Readers are not refused by the writer lock, but this first load holds what they
    // would read (an empty star) until it commits: validate gives up after a moment and
    // says why.
    let started = std::time::Instant::now();
    let validate = sync(&src, &wh, "validate");
    let stderr = String::from_utf8_lossy(&validate.stderr);
    assert!(!stderr.contains("being written"), "{stderr}");
    assert!(stderr.contains("loaded for the first time"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "{stderr}");

    first.child.kill().unwrap(); // SIGKILL: the kernel releases the lock
    first.child.wait().unwrap();
    if kind == common::Wh::Sqlite {
        // The killed load's journal stays until a writer rolls it back: a reader (which
        // never writes) says so rather than read a half-written file.
        assert!(beside("-journal").is_file());
        for reader in ["validate", "status"] {
            let line = common::cli_error(&["--source", &src, "--warehouse", &wh, reader]);
            assert!(
                line.contains("stopped before it committed") && line.contains("rolls it back"),
                "{reader}: {line}"
            );
        }
    }
    let out = sync(&src, &wh, "incremental");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sync(&src, &wh, "validate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn wait_queues_a_writer_behind_the_one_running() {
    let (src, wh, _dir) = sqlite_source();
    let out = sync(&src, &wh, "full-load");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut first = paused(&src, &wh, "incremental", "run:before-commit");
    let mut waiting = Running::start(
        &[
            "-v",
            "--source",
            &src,
            "--warehouse",
            &wh,
            "--wait",
            "2m",
            "incremental",
        ],
        &[],
    );
    waiting.wait_for(
        "waiting for the warehouse's other writer",
        0,
        Duration::from_secs(60),
    );
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let status = waiting.child.wait().unwrap();
    assert!(status.success(), "{}", waiting.log());
}

/// `watch` or another long-running command, its stderr collected line by line.
struct Running {
    child: Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Running {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut cmd = Command::new(common::bin());
        cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().unwrap().push(line);
            }
        });
        Running { child, lines }
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until a stderr line after the first `after` lines contains `text`; returns the
    /// number of lines seen so far.
    fn wait_for(&self, text: &str, after: usize, within: Duration) -> usize {
        let deadline = std::time::Instant::now() + within;
        loop {
            {
                let lines = self.lines.lock().unwrap();
                if let Some(i) = lines.iter().skip(after).position(|l| l.contains(text)) {
                    return after + i + 1;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no line with {text:?} within {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to end by itself; returns its exit code and everything it
    /// logged.
    fn wait(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        (status.code(), self.log())
    }

    /// Sends `signal` (`TERM`, `INT`) through the shell's own `kill` (no procps needed),
    /// waits for the process to end, and returns its exit code and everything it logged.
    fn signal(mut self, signal: &str) -> (Option<i32>, String) {
        let pid = self.child.id();
        let sent = Command::new("sh")
            .args(["-c", &format!("kill -{signal} {pid}")])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        (status.code(), self.log())
    }
}

async fn wh_count(wh: &str, sql: &str) -> i64 {
    common::query_i64(&common::raw(wh).await, sql).await
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn status_shows_successful_killed_and_failed_runs_and_an_unreachable_source() {
    let (src, wh, _dir) = sqlite_source();
    let line = common::cli_error(&["--source", &src, "--warehouse", &wh, "status"]);
    assert!(
        line.contains("does not exist") && line.contains("init"),
        "{line}"
    );

    assert!(sync(&src, &wh, "full-load").status.success());
    let mut killed = paused(&src, &wh, "incremental", "run:before-commit");
    let running = sync(&src, &wh, "status");
    let text = String::from_utf8_lossy(&running.stdout).into_owned();
    assert!(
        text.contains(&format!("PID {}, incremental", killed.child.id())),
        "the writer is named while it runs:\n{text}"
    );
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();

    // A failed run: the warehouse refuses the new actor's row (a trigger stands in for a
    // full disk), after the run has started.
    let source = common::raw(&src).await;
    common::exec(
        &source,
        "INSERT INTO actor (actor_id, first_name, last_name, last_update) \
         VALUES (9001, 'NEW', 'ACTOR', CURRENT_TIMESTAMP)",
    )
    .await;
    drop(source);
    let warehouse = common::raw(&wh).await;
    common::exec(
        &warehouse,
        "CREATE TRIGGER no_room BEFORE INSERT ON dim_actor \
         BEGIN SELECT RAISE(ABORT, 'no room for actors'); END",
    )
    .await;
    let failed = sync(&src, &wh, "incremental");
    assert_eq!(failed.status.code(), Some(2));
    common::exec(&warehouse, "DROP TRIGGER no_room").await;
    drop(warehouse);

    let doc = status_json(&src, &wh);
    let runs = doc["runs"].as_array().unwrap();
    let statuses: Vec<&str> = runs.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["failed", "abandoned", "success"], "{doc:#}");
    let error = runs[0]["error"].as_str().unwrap();
    assert!(error.contains("no room for actors"), "{error}");
    assert_eq!(runs[2]["command"], "full-load");
    assert!(runs[2]["inserted"].as_u64().unwrap() > 30_000, "{doc:#}");
    assert_eq!(doc["warehouse"]["writer"], serde_json::Value::Null);
    assert_eq!(doc["warehouse"]["schema_version"], "2");
    assert_eq!(doc["source"]["reachable"], true);
    let tables = doc["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 15);
    let rental = tables.iter().find(|t| t["table"] == "rental").unwrap();
    assert_eq!(rental["lag_seconds"], 0, "{rental:#}");
    assert_eq!(rental["feeds"][0]["table"], "fact_rental");
    assert_eq!(
        rental["feeds"][0]["rows"].as_i64().unwrap(),
        wh_count(&wh, "SELECT COUNT(*) FROM fact_rental").await
    );

    let text = String::from_utf8_lossy(&sync(&src, &wh, "status").stdout).into_owned();
    assert!(
        text.contains("failed: ") && text.contains("abandoned"),
        "{text}"
    );
    assert!(text.contains("fact_rental ("), "{text}");

    // The source away: reported, and status still answers with exit 0.
    let out = Command::new(common::bin())
        .args([
            "--source",
            "mysql://root@127.0.0.1:1/sakila",
            "--warehouse",
            &wh,
        ])
        .args(["status", "--json"])
        .output()
        .unwrap();
    let doc = json(&out);
    assert_eq!(doc["source"]["reachable"], false);
    assert!(
        doc["source"]["error"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:1")
    );
    assert_eq!(doc["tables"][0]["lag_seconds"], serde_json::Value::Null);
}

fn status_json(src: &str, wh: &str) -> serde_json::Value {
    json(
        &Command::new(common::bin())
            .args(["--source", src, "--warehouse", wh, "status", "--json"])
            .output()
            .unwrap(),
    )
}

#[tokio::test]
async fn watch_picks_up_a_change_within_its_interval_and_keeps_other_writers_out() {
    watch_picks_up_a_change_on(common::Wh::Sqlite).await;
}

#[tokio::test]
async fn watch_picks_up_a_change_within_its_interval_and_keeps_other_writers_out_on_postgres() {
    watch_picks_up_a_change_on(common::Wh::Postgres).await;
}

async fn watch_picks_up_a_change_on(kind: common::Wh) {
    let (src, wh, _dir) = sqlite_source();
    let (wh, _wh) = match kind {
        common::Wh::Sqlite => (wh, None),
        common::Wh::Postgres => {
            let (url, guard) = common::temp_warehouse_on(kind);
            (url, Some(guard))
        }
    };
    assert!(sync(&src, &wh, "full-load").status.success());
    let watch = Running::start(
        &[
            "--source",
            &src,
            "--warehouse",
            &wh,
            "watch",
            "--interval",
            "1s",
            "--validate-every",
            "2",
        ],
        &[],
    );
    let seen = watch.wait_for("cycle 1:", 0, Duration::from_secs(60));
    let line = common::cli_error(&["--source", &src, "--warehouse", &wh, "incremental"]);
    assert!(line.contains(", watch, since"), "{line}");

    let source = common::raw(&src).await;
    common::exec(
        &source,
        "INSERT INTO actor (actor_id, first_name, last_name, last_update) \
         VALUES (9001, 'NEW', 'ACTOR', CURRENT_TIMESTAMP)",
    )
    .await;
    drop(source);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while wh_count(&wh, "SELECT COUNT(*) FROM dim_actor WHERE actor_id = 9001").await == 0 {
        assert!(std::time::Instant::now() < deadline, "{}", watch.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    watch.wait_for("validate passed", seen, Duration::from_secs(60));
    let (code, log) = watch.signal("TERM");
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("1 inserted"),
        "the cycle line counts the new actor:\n{log}"
    );

    let doc = status_json(&src, &wh);
    assert_eq!(doc["last_validate"]["passed"], true, "{doc:#}");
}

/// A watch whose lock session ends under it (a server restart, an administrator's
/// `pg_terminate_backend`, `idle_session_timeout`) does not go on writing without the lock:
/// each cycle first makes sure the lock is still its own. While another session holds it the
/// cycles fail, naming that holder; once it is free the watch takes it again and goes on.
#[tokio::test]
async fn a_postgres_watch_that_loses_its_lock_session_waits_for_the_lock_then_takes_it_again() {
    let (src, _, _dir) = sqlite_source();
    let (wh, _guard) = common::temp_warehouse_on(common::Wh::Postgres);
    assert!(sync(&src, &wh, "full-load").status.success());
    let watch = Running::start(
        &[
            "--source",
            &src,
            "--warehouse",
            &wh,
            "watch",
            "--interval",
            "1s",
        ],
        &[],
    );
    let seen = watch.wait_for("cycle 1:", 0, Duration::from_secs(60));
    let other = take_over_lock(&wh, watch.child.id(), "watch", 3)
        .output()
        .unwrap();
    assert!(
        other.status.success(),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    let refused = watch.wait_for(
        "is being written by another sakila-sync (psql)",
        seen,
        Duration::from_secs(30),
    );
    let retaken = watch.wait_for("the lock is taken again", refused, Duration::from_secs(30));
    watch.wait_for("inserted", retaken, Duration::from_secs(30));
    let (code, log) = watch.signal("TERM");
    assert_eq!(code, Some(0), "{log}");
    // The psql session ended before the watch took the lock again: nobody else holds it, and
    // a one-shot writer after the watch finds it free.
    assert!(sync(&src, &wh, "incremental").status.success(), "{log}");
}

/// A `psql` that, in one statement, ends the writer lock's session of the sakila-sync process
/// `pid` (running `command`) on the warehouse `wh` (schema public), takes the lock in its own
/// session and holds it `secs` seconds: a lock lost under a live writer, and another writer
/// in its place.
fn take_over_lock(wh: &str, pid: u32, command: &str, secs: u32) -> Command {
    let key = sakila_sync::lock::server::key_of("public");
    let mut psql = Command::new("psql");
    psql.args([
        wh,
        "-v",
        "ON_ERROR_STOP=1",
        "-qtAc",
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name LIKE 'PID {pid}, {command},%'; \
             SELECT pg_advisory_lock({key}), pg_sleep({secs})"
        ),
    ]);
    psql
}

/// A one-shot run whose lock session ends under it, while another writer takes the lock,
/// rolls back instead of committing beside that writer: it checks the lock on its own
/// connection just before the commit.
#[test]
fn a_postgres_run_that_lost_its_lock_rolls_back_instead_of_committing() {
    let (src, _, _dir) = sqlite_source();
    let (wh, _guard) = common::temp_warehouse_on(common::Wh::Postgres);
    assert!(sync(&src, &wh, "full-load").status.success());
    let psql = |sql: &str| common::psql_at(&wh, sql);
    let successes = "SELECT COUNT(*) FROM sync_run WHERE status = 'success'";
    let before = psql(successes);
    let run = Running::start(
        &["--source", &src, "--warehouse", &wh, "incremental"],
        &[
            ("SAKILA_SYNC_PAUSE_AT", "run:before-commit"),
            ("SAKILA_SYNC_PAUSE_FOR", "3"),
        ],
    );
    run.wait_for("paused at run:before-commit", 0, Duration::from_secs(60));
    // Held past the run's commit.
    let other = take_over_lock(&wh, run.child.id(), "incremental", 6)
        .spawn()
        .unwrap();
    let (code, log) = run.wait();
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("writer lock was lost during the run"), "{log}");
    assert_eq!(
        psql(successes),
        before,
        "the run must not have committed:\n{log}"
    );
    assert!(other.wait_with_output().unwrap().status.success());
}

#[tokio::test]
async fn sigterm_during_a_watch_cycle_exits_0_and_leaves_the_warehouse_as_it_was() {
    let (src, wh, _dir) = sqlite_source();
    assert!(sync(&src, &wh, "full-load").status.success());
    let before = common::canonical(&wh).await;
    let source = common::raw(&src).await;
    // A SQLite source has no ON UPDATE CURRENT_TIMESTAMP: the writer stamps its change.
    common::exec(
        &source,
        "UPDATE customer SET first_name = 'CHANGED', last_update = CURRENT_TIMESTAMP \
         WHERE customer_id = 7",
    )
    .await;
    drop(source);

    let watch = Running::start(
        &[
            "--source",
            &src,
            "--warehouse",
            &wh,
            "watch",
            "--interval",
            "1s",
        ],
        &[("SAKILA_SYNC_PAUSE_AT", "run:before-commit")],
    );
    watch.wait_for("paused at run:before-commit", 0, Duration::from_secs(60));
    let (code, log) = watch.signal("TERM");
    assert_eq!(code, Some(0), "{log}");
    common::assert_same_warehouse(&before, &common::canonical(&wh).await);

    assert!(sync(&src, &wh, "incremental").status.success());
    let out = sync(&src, &wh, "validate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The source's database dropped under a running watch, then restored: the cycles fail and
/// say why, and the watch carries on once it is back.
#[tokio::test]
async fn watch_survives_the_source_going_away_and_comes_back() {
    let (name, src, _guard) = mariadb_source("ops_watch", 3);
    let (wh, _dir) = common::temp_warehouse();
    assert!(sync(&src, &wh, "full-load").status.success());

    let watch = Running::start(
        &[
            "--source",
            &src,
            "--warehouse",
            &wh,
            "watch",
            "--interval",
            "1s",
            "--lookback",
            "1s",
        ],
        &[],
    );
    let seen = watch.wait_for("cycle 1:", 0, Duration::from_secs(60));
    common::mariadb_client(&format!("DROP DATABASE `{name}`"));
    let seen = watch.wait_for("retrying in", seen, Duration::from_secs(60));
    common::empty_database(&name);
    generate_into(&src, 3);
    // A cycle may have run while generate was writing (it commits rentals and payments
    // separately): the second cycle from here started after generate had finished.
    let restored = watch.lines.lock().unwrap().len().max(seen);
    let first = watch.wait_for(" inserted, ", restored, Duration::from_secs(60));
    watch.wait_for(" inserted, ", first, Duration::from_secs(60));
    let (code, log) = watch.signal("TERM");
    assert_eq!(code, Some(0), "{log}");
    let out = sync(&src, &wh, "validate");
    assert!(
        out.status.success(),
        "{}\n{log}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A command pointed at a database that is not Sakila says so, as `init` does, and creates no
/// warehouse (no file, no lock file, no failed run).
#[test]
fn a_source_that_is_not_sakila_is_named_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let wh_path = dir.path().join("analytics.db");
    let wh = format!("sqlite://{}", wh_path.display());
    let not_sakila = format!("{}/mysql", common::mysql_server_url());
    for command in ["init", "full-load", "incremental"] {
        let line = common::cli_error(&["--source", &not_sakila, "--warehouse", &wh, command]);
        assert!(
            line.contains("source mysql://") && line.contains("is not Sakila"),
            "{command}: {line}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing created: {left:?}");
}

/// The warehouse named as the source's own file is refused before anything is written.
#[test]
fn a_warehouse_that_is_the_source_is_refused() {
    let (src, _wh, dir) = sqlite_source();
    let before = std::fs::read(dir.path().join("source.db")).unwrap();
    let same = format!("sqlite://{}/./source.db", dir.path().display());
    for command in ["init", "full-load", "incremental", "validate", "watch"] {
        let line = common::cli_error(&["--source", &src, "--warehouse", &same, command]);
        assert!(line.contains("is the source database"), "{command}: {line}");
    }
    assert!(std::fs::read(dir.path().join("source.db")).unwrap() == before);
    assert!(!dir.path().join("source.db.lock").exists());
}

/// SIGINT or SIGTERM during a one-shot run: rolled back, marked `interrupted`, one line, exit
/// 130 or 143; the warehouse is as it was, and the next run converges.
#[tokio::test]
async fn a_signal_during_a_run_rolls_it_back_and_marks_it_interrupted() {
    let (src, wh, _dir) = sqlite_source();
    assert!(sync(&src, &wh, "full-load").status.success());
    let before = common::canonical(&wh).await;
    let source = common::raw(&src).await;
    common::exec(
        &source,
        "UPDATE actor SET last_name = 'MOVED', last_update = CURRENT_TIMESTAMP \
         WHERE actor_id = 3",
    )
    .await;
    drop(source);

    for (signal, command, code) in [("TERM", "incremental", 143), ("INT", "full-load", 130)] {
        let run = paused(&src, &wh, command, "run:before-commit");
        let (status, log) = run.signal(signal);
        assert_eq!(status, Some(code), "{log}");
        let errors: Vec<&str> = log.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{log}");
        assert!(
            errors[0].contains(&format!("interrupted by SIG{signal}")),
            "{log}"
        );
        common::assert_same_warehouse(&before, &common::canonical(&wh).await);
        let doc = status_json(&src, &wh);
        assert_eq!(doc["runs"][0]["status"], "interrupted", "{doc:#}");
        assert_eq!(doc["runs"][0]["command"], command, "{doc:#}");
    }
    assert!(sync(&src, &wh, "incremental").status.success());
    let out = sync(&src, &wh, "validate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A password with `/ ? # @ :` in it, percent-encoded as users write it, never appears:
/// not in error lines, `-v` logs or `sync_run.error`, whether the URL came from a flag, the
/// environment or `sakila-sync.toml`.
#[tokio::test]
async fn a_password_full_of_url_delimiters_is_hidden_everywhere() {
    const PASSWORD: &str = "p/a?s#s@w:rd";
    const ENCODED: &str = "p%2Fa%3Fs%23s%40w%3Ard";
    let (name, _, _guard) = mariadb_source("ops_secret", 5);
    let user = format!("u{}", &name[name.len() - 8..]);
    common::mariadb_client(&format!(
        "DROP USER IF EXISTS '{user}'@'%'; CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'; \
         GRANT SELECT ON `{name}`.* TO '{user}'@'%';"
    ));
    let server = common::mysql_server_url();
    let host = server.split("@").last().unwrap();
    let src = format!("mysql://{user}:{ENCODED}@{host}/{name}");
    let wrong_port = format!("mysql://{user}:{ENCODED}@127.0.0.1:1/{name}");
    let dir = tempfile::tempdir().unwrap();
    let wh = format!("sqlite://{}", dir.path().join("w.db").display());
    let hidden = |what: &str, text: &str| {
        for secret in [PASSWORD, ENCODED, "p/a", "w:rd", "p%2Fa"] {
            assert!(!text.contains(secret), "{what} shows {secret:?}:\n{text}");
        }
    };

    // The real password works (the URL is decoded for the connection).
    let out = Command::new(common::bin())
        .args(["-v", "--source", &src, "--warehouse", &wh, "full-load"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    hidden("-v logs", &stderr);
    assert!(stderr.contains("***"), "{stderr}");

    // Errors, with the URL from a flag, the environment and the file.
    let from_flag = Command::new(common::bin())
        .args(["--source", &wrong_port, "--warehouse", &wh, "incremental"])
        .output()
        .unwrap();
    let from_env = Command::new(common::bin())
        .args(["--warehouse", &wh, "incremental"])
        .env("SAKILA_SOURCE_URL", &wrong_port)
        .output()
        .unwrap();
    let toml = dir.path().join("sakila-sync.toml");
    std::fs::write(
        &toml,
        format!("source = \"{wrong_port}\"\nwarehouse = \"{wh}\"\n"),
    )
    .unwrap();
    let from_file = Command::new(common::bin())
        .args(["--config", toml.to_str().unwrap(), "-v", "incremental"])
        .output()
        .unwrap();
    for (what, out) in [
        ("flag", from_flag),
        ("environment", from_env),
        ("file", from_file),
    ] {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains("127.0.0.1:1"), "{what}: {stderr}");
        hidden(what, &stderr);
    }

    // A run that fails with the password in its error: the line and sync_run hide it.
    let warehouse = common::raw(&wh).await;
    common::exec(
        &warehouse,
        &format!(
            "CREATE TRIGGER leak BEFORE UPDATE ON sync_run WHEN NEW.status = 'success' \
             BEGIN SELECT RAISE(ABORT, 'the password is {PASSWORD}'); END"
        ),
    )
    .await;
    let out = Command::new(common::bin())
        .args(["--source", &src, "--warehouse", &wh, "incremental"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the password is ***"), "{stderr}");
    hidden("the error line", &stderr);
    let recorded = common::query_strings(
        &warehouse,
        "SELECT error FROM sync_run WHERE status = 'failed'",
    )
    .await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    hidden("sync_run.error", &recorded[0]);
    common::mariadb_client(&format!("DROP USER IF EXISTS '{user}'@'%';"));
}

/// A warehouse written by an earlier release (schema version 1: `sync_run` without its
/// horizon and note) is upgraded by `init` in one step and then works; a newer version, or
/// tables without a version, are refused before any change.
#[tokio::test]
async fn a_warehouse_of_an_earlier_version_is_migrated_and_a_newer_one_refused() {
    let (src, wh, _dir) = sqlite_source();
    assert!(sync(&src, &wh, "full-load").status.success());
    let old = common::raw(&wh).await;
    for sql in [
        "ALTER TABLE sync_run DROP COLUMN source_horizon",
        "ALTER TABLE sync_run DROP COLUMN note",
        "UPDATE warehouse_meta SET value = '1' WHERE key = 'schema_version'",
    ] {
        common::exec(&old, sql).await;
    }
    drop(old);
    // validate reads only: it asks for the upgrade instead of doing it.
    let line = common::cli_error(&["--source", &src, "--warehouse", &wh, "validate"]);
    assert!(line.contains("schema version 1"), "{line}");

    let out = sync(&src, &wh, "init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let upgraded = common::raw(&wh).await;
    assert_eq!(
        common::query_strings(
            &upgraded,
            "SELECT value FROM warehouse_meta WHERE key = 'schema_version'"
        )
        .await,
        ["2"]
    );
    assert_eq!(
        common::query_i64(&upgraded, "SELECT COUNT(*) FROM pragma_table_info('sync_run') WHERE name IN ('source_horizon', 'note')").await,
        2
    );
    drop(upgraded);
    assert!(sync(&src, &wh, "incremental").status.success());
    let out = sync(&src, &wh, "validate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A newer sakila-sync's warehouse: refused, and nothing changes (no table is created).
    let newer = common::raw(&wh).await;
    common::exec(
        &newer,
        "UPDATE warehouse_meta SET value = '9' WHERE key = 'schema_version'",
    )
    .await;
    common::exec(&newer, "DROP TABLE bridge_film_category").await;
    for command in ["init", "incremental", "full-load"] {
        let line = common::cli_error(&["--source", &src, "--warehouse", &wh, command]);
        assert!(line.contains("schema version 9"), "{command}: {line}");
    }
    assert_eq!(
        common::query_i64(
            &newer,
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'bridge_film_category'"
        )
        .await,
        0,
        "no DDL before the version is checked"
    );

    // Tables, but no sakila-sync version: not ours.
    let dir = tempfile::tempdir().unwrap();
    let foreign = format!("sqlite://{}", dir.path().join("other.db").display());
    let other = common::raw(&format!("{foreign}?mode=rwc")).await;
    common::exec(
        &other,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)",
    )
    .await;
    let line = common::cli_error(&["--source", &src, "--warehouse", &foreign, "init"]);
    assert!(line.contains("not a sakila-sync warehouse"), "{line}");
    assert_eq!(
        common::query_i64(
            &other,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
        )
        .await,
        1
    );
}

/// `validate` and `status` read the warehouse without creating or changing any file, also when
/// the file is read-only.
#[test]
fn readers_never_create_or_change_a_file() {
    use std::os::unix::fs::PermissionsExt;
    let (src, wh, dir) = sqlite_source();
    assert!(sync(&src, &wh, "full-load").status.success());
    let path = dir.path().join("warehouse.db");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let listing = || {
        let mut files: Vec<(String, u64, std::time::SystemTime)> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    m.len(),
                    m.modified().unwrap(),
                )
            })
            // The warehouse's files (a SQLite source read beside it has files of its own).
            .filter(|(name, _, _)| name.starts_with("warehouse"))
            .collect();
        files.sort();
        files
    };
    let before = (listing(), std::fs::read(&path).unwrap());
    for command in ["validate", "status"] {
        let out = sync(&src, &wh, command);
        assert!(
            out.status.success(),
            "{command}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            (listing(), std::fs::read(&path).unwrap()) == before,
            "{command} changed a file"
        );
    }
}

/// The disk filling up under a full-load: the run fails saying so, and the warehouse is as
/// it was. Needs root, to mount a 3 MB tmpfs for the warehouse; ignored by a plain `cargo
/// test`, and failing with what it needs when run without root.
#[tokio::test]
#[ignore = "needs root: mounts a small tmpfs and fills it"]
async fn a_full_disk_fails_the_run_and_leaves_the_warehouse_as_it_was() {
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let (src, _, dir) = sqlite_source();
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&small)
        .status();
    assert!(
        mounted.is_ok_and(|s| s.success()),
        "cannot mount a tmpfs at {}: this test needs root",
        small.display()
    );
    let _unmount = Unmount(small.clone());
    let wh = format!("sqlite://{}/warehouse.db", small.display());
    let init = Command::new(common::bin())
        .args(["--source", &src, "--warehouse", &wh, "init"])
        .args(["--dates-from", "2005-01-01", "--dates-to", "2006-12-31"])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let before = common::canonical(&wh).await;

    let line = common::cli_error(&["--source", &src, "--warehouse", &wh, "full-load"]);
    assert!(line.starts_with("error: disk full: "), "{line}");
    common::assert_same_warehouse(&before, &common::canonical(&wh).await);
}

/// A value the driver cannot read (MySQL's zero date, which a lax `sql_mode` lets in) fails
/// the full-load with a line naming the table and the row, and nothing is written.
#[test]
fn a_zero_date_in_the_source_is_named_with_its_row() {
    let (name, src, _guard) = mariadb_source("ops_zero", 2);
    let (wh, _dir) = common::temp_warehouse();
    assert!(sync(&src, &wh, "full-load").status.success());
    let before = sync(&src, &wh, "status");
    common::mariadb_client(&format!(
        "SET SESSION sql_mode = ''; \
         UPDATE `{name}`.rental SET rental_date = '0000-00-00 00:00:00', \
         last_update = NOW() WHERE rental_id = 4242;"
    ));
    // Read as a changed rental by incremental, and in the whole table by full-load.
    for command in ["incremental", "full-load"] {
        let line = common::cli_error(&["--source", &src, "--warehouse", &wh, command]);
        assert!(
            line.contains("source table rental, row rental_id 4242: ")
                && line.contains("0000-00-00")
                && line.contains("rental_date"),
            "{command}: {line}"
        );
    }
    // Nothing was written: the warehouse's runs are the full-load and the two failures.
    let doc = status_json(&src, &wh);
    let statuses: Vec<&str> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "failed", "success"], "{doc:#}");
    drop(before);
    // validate reads the same row.
    let line = common::cli_error(&["--source", &src, "--warehouse", &wh, "validate"]);
    assert!(
        line.contains("source table rental, row rental_id 4242: "),
        "{line}"
    );
    // In a dimension, which full-load copies first.
    common::mariadb_client(&format!(
        "SET SESSION sql_mode = ''; \
         UPDATE `{name}`.customer SET create_date = '0000-00-00 00:00:00' WHERE customer_id = 77;"
    ));
    let line = common::cli_error(&["--source", &src, "--warehouse", &wh, "full-load"]);
    assert!(
        line.contains("source table customer, row customer_id 77: "),
        "{line}"
    );
}

/// `validate` and `status` work on a warehouse in a folder they cannot write: run as the
/// unprivileged user `nobody` (through `setpriv`) on a read-only folder and file. Needs root
/// to switch users; ignored by a plain `cargo test`.
#[test]
#[ignore = "needs root: runs validate as the user nobody"]
fn readers_work_in_a_folder_they_cannot_write() {
    use std::os::unix::fs::PermissionsExt;
    let (_, src, _guard) = mariadb_source("ops_ro", 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse.db");
    let wh = format!("sqlite://{}", path.display());
    assert!(sync(&src, &wh, "full-load").status.success());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for command in ["validate", "status"] {
        let out = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                common::bin(),
            ])
            .args(["--source", &src, "--warehouse", &wh, command])
            .output()
            .expect("setpriv runs the binary as nobody (needs root)");
        assert!(
            out.status.success(),
            "{command} as nobody: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A TCP proxy to MariaDB that relays the server's first `budget` bytes (all connections
/// together), then stops relaying without closing anything: a network that stalls. Storing
/// `true` in the flag it returns closes the stalled connections (so that the server ends
/// their sessions and the test can drop its database).
fn stalling_proxy(budget: usize) -> (u16, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let left = Arc::new(AtomicUsize::new(budget));
    let release = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let released = release.clone();
    let server = common::mysql_server_url();
    let address = server.rsplit('@').next().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut upstream) = TcpStream::connect(&address) else {
                return;
            };
            let (mut client_in, mut upstream_out) =
                (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut client_in, &mut upstream_out));
            let left = left.clone();
            let released = released.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = upstream.read(&mut buf) else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    let granted = left
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                            Some(l.saturating_sub(n))
                        })
                        .unwrap()
                        .min(n);
                    if client.write_all(&buf[..granted]).is_err() {
                        return;
                    }
                    if granted < n {
                        // Stalled: hold both connections open, relay nothing more.
                        while !released.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        let _ = upstream.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                }
            });
        }
    });
    (port, release)
}

/// A source that stops answering in the middle of a run does not hold the warehouse: after
/// `--idle-timeout` of nothing moving, the run is rolled back and recorded as failed, with a
/// line naming the step, and the warehouse is as it was.
#[tokio::test]
async fn a_source_that_stops_answering_mid_run_is_abandoned_after_the_idle_timeout() {
    let (name, src, _guard) = mariadb_source("ops_stall", 6);
    let (wh, _dir) = common::temp_warehouse();
    assert!(sync(&src, &wh, "full-load").status.success());
    let before = common::canonical(&wh).await;

    // Enough for connecting, the checks and the first tables; not for the rentals.
    let (port, release) = stalling_proxy(600_000);
    let stalling = format!("mysql://root@127.0.0.1:{port}/{name}");
    // Without the watchdog the run would wait for ever: give it a minute, then fail.
    let mut run = Running::start(
        &[
            "--source",
            &stalling,
            "--warehouse",
            &wh,
            "--idle-timeout",
            "2s",
            "full-load",
        ],
        &[],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = run.child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            run.child.kill().ok();
            panic!("the run still waits on the stalled source:\n{}", run.log());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(100));
    let log = run.log();
    assert_eq!(status.code(), Some(2), "{log}");
    let line = log
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("nothing moved for 2s while reading ") && line.contains("rolled back"),
        "{line}"
    );
    common::assert_same_warehouse(&before, &common::canonical(&wh).await);
    let doc = status_json(&src, &wh);
    assert_eq!(doc["runs"][0]["status"], "failed", "{doc:#}");
    assert!(
        doc["runs"][0]["error"]
            .as_str()
            .unwrap()
            .contains("nothing moved"),
        "{doc:#}"
    );
    // The writer lock went with the process: the next run goes ahead.
    assert!(sync(&src, &wh, "incremental").status.success());
    release.store(true, std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
}

/// `status` on a file that is not an initialised warehouse: one line, exit 2, file untouched.
#[tokio::test]
async fn status_of_a_warehouse_never_initialised_is_one_line() {
    let (src, _, dir) = sqlite_source();
    let path = dir.path().join("empty.db");
    let wh = format!("sqlite://{}", path.display());
    drop(common::raw(&format!("{wh}?mode=rwc")).await);
    let before = std::fs::read(&path).unwrap();
    let line = common::cli_error(&["--source", &src, "--warehouse", &wh, "status"]);
    assert!(
        line.contains("was never initialised") && line.contains("init"),
        "{line}"
    );
    assert!(std::fs::read(&path).unwrap() == before);
}

/// Everything sakila-sync reads from the source goes through `SourceDb`, which hands out only
/// transactions the server holds read-only: a write through one is refused by the database
/// (MySQL: a `READ ONLY` transaction; SQLite: a file opened read-only), and the row is as it was.
#[tokio::test]
async fn the_source_refuses_writes_through_the_pipelines_connection() {
    use sakila_sync::db::SourceDb;
    use sakila_sync::source::language;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel};

    let (_name, mysql_url, _guard) = mariadb_source("ro_source", 5);
    let (sqlite_url, _wh, _dir) = sqlite_source();
    for url in [mysql_url, sqlite_url] {
        let source = SourceDb::connect(&url).await.unwrap();
        let before = {
            let txn = source.read().await.unwrap();
            language::Entity::find_by_id(1u32)
                .one(&txn)
                .await
                .unwrap()
                .unwrap()
        };
        for snapshot in [false, true] {
            let txn = if snapshot {
                source.snapshot().await.unwrap()
            } else {
                source.read().await.unwrap()
            };
            let mut row = before.clone().into_active_model();
            row.name = Set("Klingon".into());
            let err = row
                .update(&txn)
                .await
                .expect_err("a write through the source");
            let text = err.to_string().to_lowercase();
            assert!(
                text.contains("read only") || text.contains("readonly"),
                "{url} (snapshot: {snapshot}): {err}"
            );
            // Committing what was attempted changes nothing either.
            txn.commit().await.ok();
        }
        let txn = source.read().await.unwrap();
        let after = language::Entity::find_by_id(1u32).one(&txn).await.unwrap();
        assert_eq!(after.as_ref(), Some(&before), "{url}");
        drop(txn);
        source.close().await.unwrap();
    }
}

/// A PostgreSQL warehouse in a schema of an existing database: the tables go there, what
/// else the database holds is left alone (another program's tables in that schema too, which
/// `status` does not count in the warehouse's size), and every bad URL (or a schema holding a
/// table named as one of the warehouse's) is one line, exit 2, with the password hidden.
#[test]
fn a_postgres_warehouse_lives_in_its_schema_and_bad_urls_are_one_line() {
    let (src, _, _dir) = sqlite_source();
    let (wh, guard) = common::temp_warehouse_on(common::Wh::Postgres);
    let common::WarehouseGuard::Postgres(db) = &guard else {
        unreachable!()
    };
    let db_url = format!("{}/{db}", common::postgres_server_url());
    let in_db = |sql: &str| common::psql_at(&db_url, sql);
    in_db(
        "CREATE SCHEMA analytics; CREATE TABLE public.fact_rental (note text); INSERT INTO public.fact_rental VALUES ('theirs')",
    );
    // Another program's table in the warehouse's schema, larger than the warehouse will be.
    in_db(
        "CREATE TABLE analytics.notes (note text); INSERT INTO analytics.notes SELECT 'note ' || g FROM generate_series(1, 1500000) g",
    );
    let notes_bytes: u64 = in_db("SELECT pg_total_relation_size('analytics.notes')")
        .parse()
        .unwrap();
    let in_schema = format!("{wh}?schema=analytics");
    for command in ["full-load", "incremental", "validate"] {
        let out = sync(&src, &in_schema, command);
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Nothing on stderr: no warning from the server either (an unlock sent on a
        // connection that does not hold the lock makes one).
        assert!(
            out.stderr.is_empty(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        in_db("SELECT COUNT(*) FROM analytics.fact_rental"),
        in_db("SELECT COUNT(*) FROM analytics.fact_rental WHERE rental_id > 0")
    );
    assert_ne!(in_db("SELECT COUNT(*) FROM analytics.fact_rental"), "0");
    assert_eq!(in_db("SELECT note FROM public.fact_rental"), "theirs");
    assert_eq!(
        in_db("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'"),
        "1"
    );
    assert_eq!(in_db("SELECT COUNT(*) FROM analytics.notes"), "1500000");
    let status = Command::new(env!("CARGO_BIN_EXE_sakila-sync"))
        .args(["--source", &src, "--warehouse", &in_schema, "status"])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout).to_string();
    let own_bytes: u64 = in_db(
        "SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'analytics' AND c.relkind = 'r' AND c.relname <> 'notes'",
    )
    .parse()
    .unwrap();
    let shown = status
        .lines()
        .next()
        .and_then(|l| l.split_once(" ("))
        .and_then(|(_, rest)| rest.split_once(" MB"))
        .and_then(|(mb, _)| mb.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no size in MB on the first line: {status}"));
    assert!(
        own_bytes < notes_bytes && (shown * 1e6 - own_bytes as f64).abs() < 0.1e6,
        "status shows {shown} MB; the warehouse's tables take {own_bytes} bytes, notes {notes_bytes}"
    );
    in_db("CREATE SCHEMA clash; CREATE TABLE clash.sync_run (x int)");

    let secret = "s3cr3t-pw";
    let server =
        common::postgres_server_url().replacen("postgres@", &format!("postgres:{secret}@"), 1);
    // A role that may not use a schema is told so, not that the schema is missing; one that
    // may use it but not create in it gets the server's refusal. Roles belong to the whole
    // server: this one is named for the test's database and dropped at the end.
    let role = format!("{db}_etl");
    in_db(&format!(
        "CREATE ROLE {role} LOGIN; CREATE SCHEMA walled; CREATE SCHEMA readonly; \
         GRANT USAGE ON SCHEMA readonly TO {role}"
    ));
    let as_role = server.replacen("//postgres:", &format!("//{role}:"), 1) + "/" + db;
    let cases = [
        (
            format!("{wh}?schema=missing"),
            "the schema missing does not exist",
        ),
        (
            format!("{wh}?schema=Not-A-Name"),
            "not a plain PostgreSQL name",
        ),
        (
            format!("{server}/no_such_database_here"),
            "no_such_database_here",
        ),
        // At once, not after the pool's 30 s of retries.
        (
            "postgres://postgres:s3cr3t-pw@127.0.0.1:1/x".to_string(),
            "127.0.0.1:1 refused the connection (is the PostgreSQL server running?)",
        ),
        (
            server.replacen("//postgres:", "//no_such_role:", 1) + "/postgres",
            "role \"no_such_role\" does not exist",
        ),
        (
            format!("{wh}?schema=clash"),
            "holds tables (sync_run) but no sakila-sync schema version",
        ),
        (
            format!("{as_role}?schema=walled"),
            &format!("the role {role} may not use the schema walled"),
        ),
        (
            format!("{as_role}?schema=readonly"),
            "permission denied for schema readonly",
        ),
    ];
    for (url, needle) in cases {
        let line = common::cli_error(&["--source", &src, "--warehouse", &url, "full-load"]);
        assert!(line.contains(needle), "{url}: {line}");
        assert!(!line.contains(secret), "{line}");
        // Not the line of the server's own source code that the driver appends.
        assert!(!line.contains(" at line "), "{line}");
    }
    in_db(&format!(
        "REVOKE USAGE ON SCHEMA readonly FROM {role}; DROP ROLE {role}"
    ));
}

/// Readers keep reading the previous warehouse while a full-load reloads it: on PostgreSQL
/// the load writes the rows that changed inside its transaction (no `DROP TABLE`, whose lock
/// would block them); on SQLite it writes through the write-ahead log, which readers read
/// beside (only a first load, of an empty star, takes the file for itself: see
/// `second_writer`). A load killed before its commit leaves that warehouse as it was.
#[test]
fn readers_see_the_previous_warehouse_while_a_reload_runs() {
    readers_during_a_reload(common::Wh::Sqlite);
}

#[test]
fn postgres_readers_see_the_previous_warehouse_while_a_full_load_runs() {
    readers_during_a_reload(common::Wh::Postgres);
}

fn readers_during_a_reload(kind: common::Wh) {
    let (src, _, _dir) = sqlite_source();
    let (wh, _guard) = common::temp_warehouse_on(kind);
    let out = sync(&src, &wh, "full-load");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if kind == common::Wh::Sqlite {
        // That first load wrote through a rollback journal; the file is back on its log.
        let mode = Command::new("sqlite3")
            .args([wh.trim_start_matches("sqlite://"), "PRAGMA journal_mode"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&mode.stdout).trim(), "wal");
    }
    let count = || {
        let sql = "SELECT COUNT(*) || '/' || SUM(amount_cents) FROM fact_payment";
        let out = match kind {
            common::Wh::Postgres => Command::new("psql")
                .args([wh.as_str(), "-v", "ON_ERROR_STOP=1", "-qtAc"])
                .arg(format!("SET statement_timeout = '5s'; {sql}"))
                .output()
                .unwrap(),
            // The shell waits for no lock: `database is locked` at once if it is blocked.
            common::Wh::Sqlite => Command::new("sqlite3")
                .args(["-readonly", wh.trim_start_matches("sqlite://"), sql])
                .output()
                .unwrap(),
        };
        assert!(
            out.status.success(),
            "blocked? {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let before = count();
    // Source activity since, so that the reload has rows to change.
    let activity = Command::new(common::bin())
        .args(["simulate", "--ops", "300", "--seed", "5", "--into", &src])
        .output()
        .unwrap();
    assert!(activity.status.success(), "{activity:?}");
    let mut second = paused(&src, &wh, "full-load", "run:before-commit");
    assert_eq!(
        count(),
        before,
        "a reader sees the last commit, without waiting"
    );
    // validate reads that last commit too, without waiting: the source has moved on since,
    // so it finds differences (exit 1), not an error.
    let validate = sync(&src, &wh, "validate");
    assert_eq!(
        validate.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&validate.stdout),
        String::from_utf8_lossy(&validate.stderr)
    );
    second.child.kill().unwrap();
    second.child.wait().unwrap();
    assert_eq!(count(), before);
    // Let through, the reload does change what readers see.
    let third = sync(&src, &wh, "full-load");
    assert!(third.status.success(), "{third:?}");
    assert_ne!(count(), before);
}
