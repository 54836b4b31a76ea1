//! The `sakila-sync` command line: parses flags, resolves configuration, runs one command and
//! maps the outcome to an exit code (0 ok, 1 validate found a difference, 2 any error).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use sakila_sync::config::{Config, FileConfig, redact};
use sakila_sync::db::{self, Role, SourceDb};
use sakila_sync::warehouse::backend::Warehouse;
use sakila_sync::warehouse::entity::sync_run::RunStatus;
use sakila_sync::{generate, source, sync, validate, warehouse};

/// Keeps a star-schema warehouse (a SQLite file or a PostgreSQL database) in step with the
/// MySQL Sakila database.
///
/// Connection URLs come from flags, then the environment variables SAKILA_SOURCE_URL and
/// SAKILA_WAREHOUSE_URL, then sakila-sync.toml (keys `source` and `warehouse`), then defaults.
#[derive(Parser)]
#[command(name = "sakila-sync", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Source (OLTP) database URL [default: mysql://root@127.0.0.1:3306/sakila]
    #[arg(
        long,
        global = true,
        env = "SAKILA_SOURCE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    source: Option<String>,
    /// Warehouse URL: a SQLite file [default: sqlite://analytics.db] or a PostgreSQL database
    /// (postgres://user@host:5432/db, ?schema=NAME for a schema other than public). init,
    /// full-load, incremental and watch create the SQLite file if missing; validate, status and
    /// report read an existing warehouse only, never writing it; demo uses its own, in --dir
    #[arg(
        long,
        global = true,
        env = "SAKILA_WAREHOUSE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    warehouse: Option<String>,
    /// Configuration file [default: ./sakila-sync.toml if it exists]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// init, full-load, incremental and watch: when another sakila-sync is writing the
    /// warehouse, wait up to DURATION for it (s, m, h or d) instead of stopping at once
    #[arg(long, global = true, value_name = "DURATION", value_parser = sakila_sync::config::parse_duration)]
    wait: Option<chrono::Duration>,
    /// Abandon a run (rolled back) when nothing has moved for DURATION: a source that
    /// stopped answering (a stalled network, a locked table) (s, m, h or d)
    #[arg(long, global = true, value_name = "DURATION", default_value = "5m", value_parser = sakila_sync::config::parse_duration)]
    idle_timeout: chrono::Duration,
    /// Log more (-v: progress of each step, -vv: debug)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,
    /// Log errors only
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Log lines as text, or as one JSON object per line (time, level, message, fields) for
    /// log shippers
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Create the warehouse schema, fill dim_date and sync_state, and check the source.
    /// Safe to run again: it only adds what is missing.
    Init(InitArgs),
    /// Rebuild the whole warehouse from the source in one transaction: on any failure the
    /// previous warehouse stays as it was.
    #[command(alias = "full_load")]
    FullLoad,
    /// Load only what changed in the source since the last run (by `last_update`, plus deletes
    /// and changes that reach a row through another table), however long the source's
    /// transactions stay open. Afterwards the warehouse holds what a full-load would produce.
    /// Right after `init` it loads everything.
    Incremental(IncrementalArgs),
    /// Create the Sakila schema in an empty database and fill it with deterministic synthetic
    /// data (same seed, same rows). Scale 1 has the real Sakila's cardinalities; scale N has N
    /// times the stores, staff, customers, inventory, rentals and payments.
    Generate(GenerateArgs),
    /// Apply random but realistic OLTP activity to a source (rentals, returns, payments, new
    /// customers and films, moves, renames, deletions) and print what was done.
    Simulate(SimulateArgs),
    /// Run `incremental` every interval until stopped (SIGINT or SIGTERM: a run under way is
    /// rolled back, and it exits 0). Outages are logged and retried with a backoff; one log
    /// line per cycle. Holds the warehouse's writer lock while it runs.
    Watch(WatchArgs),
    /// Show how far behind the warehouse is (per source table: watermark, lag, the warehouse
    /// rows it feeds), the last runs, whether a sync is running, and the last validate that
    /// `watch --validate-every` recorded. Reads only; an unreachable source is reported.
    Status(StatusArgs),
    /// Compare the warehouse with the source: counts, the rentals, payments and revenue of a
    /// time window, missing, extra and stale rows by natural key, and the warehouse's foreign
    /// keys and dates. Exit 0 when everything agrees, 1 when a difference is found, 2 on error.
    Validate(ValidateArgs),
    /// Write one self-contained HTML page of what the warehouse holds. Reads the warehouse
    /// only, never the source.
    ///
    /// The page shows revenue, rentals, paying customers, rental durations and late returns;
    /// revenue per month and store (by the staff member's store and by the rented copy's);
    /// the top categories, films and actors; countries; days of the week; inventory use; and
    /// when the warehouse was last synced and validated. Styles and SVG charts are inline and
    /// nothing is fetched: it works offline, on a phone and printed. Exit 0 when written, 2 on
    /// error (a bad window option, an --out that cannot be written, no warehouse).
    Report(ReportArgs),
    /// Show the whole pipeline with no server and no configuration: generate a Sakila into a
    /// SQLite file, then init, full-load, simulate OLTP activity, incremental and validate,
    /// and print an analytics summary from the warehouse. Exit 0 when validate agrees.
    Demo(DemoArgs),
}

#[derive(Args)]
struct DemoArgs {
    /// Folder for the demo's source and warehouse files (replaced on each run)
    #[arg(long, value_name = "DIR", default_value = "sakila-demo")]
    dir: PathBuf,
    /// Random seed of the generated data and the simulated activity
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// OLTP operations simulated between the full-load and the incremental
    #[arg(long, default_value_t = 500)]
    ops: u32,
}

#[derive(Args)]
struct IncrementalArgs {
    /// Margin below the previous run's horizon (the start of the oldest source transaction
    /// open when it took its snapshot, or its clock): rows stamped from there on are read
    /// again and compared. It covers stamps the server's clock did not write (an application
    /// clock behind the server's, a replica's lag) (s, m, h or d)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = sakila_sync::config::parse_duration)]
    lookback: chrono::Duration,
}

#[derive(Args)]
struct WatchArgs {
    /// From the start of one cycle to the start of the next (s, m, h or d)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = sakila_sync::config::parse_duration)]
    interval: chrono::Duration,
    /// Also validate after every Nth cycle, log the result and record it for `status` (a
    /// difference is logged as an error, and watching goes on)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    validate_every: Option<u32>,
    #[command(flatten)]
    incremental: IncrementalArgs,
}

#[derive(Args)]
struct StatusArgs {
    /// Print one JSON document instead of the tables (fields: see the README)
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct GenerateArgs {
    /// Multiplies stores, staff, customers, inventory, rentals and payments
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    scale: u32,
    /// Random seed: the same seed and scale always give the same rows
    #[arg(long, value_name = "S", default_value_t = generate::DEFAULT_SEED)]
    seed: u64,
    /// Database to create the tables in, which must be empty (mysql://... or sqlite://...).
    /// Required: generate never writes to the configured source by default
    #[arg(long, value_name = "URL")]
    into: String,
    /// First day of the rental history (default: the real Sakila's, 2005-05-24 to 2006-02-14).
    /// The rentals of the scale are spread over the history, busier in summer
    #[arg(long, value_name = "YYYY-MM-DD", requires = "years")]
    from: Option<NaiveDate>,
    /// Length of the rental history in years, from --from
    #[arg(long, value_name = "N", requires = "from", value_parser = clap::value_parser!(u32).range(1..=1000))]
    years: Option<u32>,
    /// Column types: `wide` (INT UNSIGNED ids, room for any scale) or `sakila` (the real
    /// Sakila's TINYINT/SMALLINT/MEDIUMINT ids, YEAR, ENUM, SET, ON UPDATE CURRENT_TIMESTAMP;
    /// MySQL/MariaDB only; an id the scale would overflow is widened, and said so)
    #[arg(long, value_enum, default_value_t = generate::Types::Wide)]
    types: generate::Types,
}

#[derive(Args)]
struct SimulateArgs {
    /// How many operations to apply
    #[arg(long, value_name = "N")]
    ops: u32,
    /// Random seed choosing the operations and their rows
    #[arg(long, value_name = "S", default_value_t = generate::DEFAULT_SEED)]
    seed: u64,
    /// How often each kind of operation is drawn: `shop` is an ordinary day (rentals,
    /// returns, payments; cities renamed and staff moving store are rare), `stress` makes every
    /// kind frequent
    #[arg(long, value_enum, default_value_t = generate::Mix::Shop)]
    mix: generate::Mix,
    /// Database to apply them to, made by `generate`. Required: simulate never writes to the
    /// configured source by default
    #[arg(long, value_name = "URL")]
    into: String,
    /// Write into a database that `generate` did not make (simulate deletes and rewrites
    /// rows: never point it at data you keep)
    #[arg(long)]
    force: bool,
    /// Connections writing at the same time, each with its own transactions (MySQL and
    /// MariaDB; SQLite has one writer)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    workers: u32,
    /// Operations per transaction
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    ops_per_transaction: u32,
    /// Percent of transactions that stay open for --hold halfway through, as a reporting job
    /// or an idle pooled connection would: they span sync runs
    #[arg(long, value_name = "PCT", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    long_transactions: u8,
    /// How long a long transaction stays open (s, m, h or d)
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = sakila_sync::config::parse_duration)]
    hold: chrono::Duration,
    /// Percent of transactions rolled back instead of committed
    #[arg(long, value_name = "PCT", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    rollbacks: u8,
    /// Date new rentals, returns, payments and customers from 10:00 on this day, a minute
    /// apart per operation, instead of now: the same seed then writes the same values
    /// (last_update is always now, as the server would stamp it)
    #[arg(long, value_name = "YYYY-MM-DD")]
    dated_from: Option<NaiveDate>,
}

/// The time window of validate's checks and of the report. The options take text so that
/// every bad value gets one clear line and exit code 2.
#[derive(Args)]
struct WindowArgs {
    /// Only the N days ending at the latest rental or payment date: the source's for
    /// validate (or --as-of), the warehouse's for report [default: all time]
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    days: Option<String>,
    /// First day of the window, inclusive (facts by their rental or payment date)
    #[arg(long, value_name = "YYYY-MM-DD")]
    since: Option<String>,
    /// Last day of the window, inclusive
    #[arg(long, value_name = "YYYY-MM-DD")]
    until: Option<String>,
}

impl WindowArgs {
    fn spec(&self, as_of: Option<&str>) -> Result<validate::WindowSpec> {
        validate::WindowSpec::from_options(
            self.days.as_deref(),
            self.since.as_deref(),
            self.until.as_deref(),
            as_of,
        )
    }
}

#[derive(Args)]
struct ValidateArgs {
    #[command(flatten)]
    window: WindowArgs,
    /// End of the window: the last of the --days N days; alone, everything up to this day
    #[arg(long, value_name = "YYYY-MM-DD")]
    as_of: Option<String>,
    /// Print one JSON document with every check, its values and ids, instead of the table
    #[arg(long)]
    json: bool,
    /// Read and compare every fact row on both sides, instead of comparing checksums of
    /// blocks of ids and reading only the rows of blocks that differ (a SQLite source is
    /// always compared row by row)
    #[arg(long)]
    exhaustive: bool,
}

#[derive(Args)]
struct ReportArgs {
    /// The HTML file to write (replaced if it exists)
    #[arg(long, value_name = "FILE", default_value = "report.html")]
    out: PathBuf,
    #[command(flatten)]
    window: WindowArgs,
    /// Open the page when written (xdg-open, or open on macOS; a note if neither works)
    #[arg(long)]
    open: bool,
}

#[derive(Args)]
struct InitArgs {
    /// First day of dim_date
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2000-01-01")]
    dates_from: NaiveDate,
    /// Last day of dim_date (loads add any day a fact needs outside the range)
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2030-12-31")]
    dates_to: NaiveDate,
}

/// mimalloc, also in place of C's `malloc` (its `override` feature), so SQLite's allocations
/// use it too. sqlx's SQLite thread allocates every value of every row it reads and the task
/// that decodes the row frees it: with glibc's allocator each of those frees lands in the
/// other thread's arena under its lock, and the two threads contend on every column (validate
/// reads millions of rows). mimalloc frees across threads without a lock.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logging(&cli.global, matches!(cli.command, Command::Watch(_)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    // Every URL's password, wherever the URL came from (flag, environment, file), is hidden
    // from every line this process prints or records from here on.
    let file = match FileConfig::load(cli.global.config.as_deref()) {
        Ok(file) => file,
        Err(e) => return fail(&e),
    };
    let config = Config::resolve(
        cli.global.source.clone(),
        cli.global.warehouse.clone(),
        file,
    );
    let into = match &cli.command {
        Command::Generate(a) => Some(a.into.as_str()),
        Command::Simulate(a) => Some(a.into.as_str()),
        _ => None,
    };
    for url in [
        Some(config.source_url.as_str()),
        Some(config.warehouse_url.as_str()),
        into,
    ]
    .into_iter()
    .flatten()
    {
        sakila_sync::config::hide_password_of(url);
    }
    match runtime.block_on(run(cli, config)) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

/// A command line clap refuses, as one line and exit code 2, like every other error: clap's
/// first paragraph (`error: unexpected argument '--weeks' found`, or the required arguments
/// it lists beneath) joined into one line, and where to look. `--help` and `--version` print
/// as clap prints them.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit();
    }
    let text = e.render().to_string();
    let first: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    eprintln!("{} (see --help)", first.join(" "));
    ExitCode::from(2)
}

/// Prints an error as one line, with any password hidden, and returns exit code 2.
fn fail(e: &anyhow::Error) -> ExitCode {
    let disk_full = if sakila_sync::error::is_disk_full(e) {
        "disk full: "
    } else {
        ""
    };
    eprintln!(
        "error: {disk_full}{}",
        sakila_sync::config::hide_passwords(&one_line(e))
    );
    ExitCode::from(2)
}

/// The error and its causes on one line, `: `-separated. A cause whose text the one before
/// already ends with is left out: SeaORM's errors print their source (`Query Error: error
/// returned from database: ...`) and then list it as their cause too.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = sakila_sync::error::without_server_line(&cause.to_string()).to_string();
        if !parts.last().is_some_and(|p| p.ends_with(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ").replace(['\n', '\r'], " ")
}

/// Prints `text` and a newline; a closed pipe (`validate | head`) is not an error.
fn print_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write the report to stdout"),
    }
}

/// Logs to stderr: warnings by default (and `watch`'s line per cycle), errors only with
/// `-q`, more with `-v`/`-vv`; as text (coloured on a terminal only) or JSON lines.
fn init_logging(global: &Global, watch: bool) {
    use std::io::IsTerminal;
    let default = match global.verbose {
        _ if global.quiet => "error",
        0 if watch => "warn,sakila_sync::watch=info",
        0 => "warn",
        1 => "info",
        // SeaORM's rusqlite driver logs every statement at debug level (the warehouse scans
        // run one per page): only with SAKILA_SYNC_LOG_SQL, like sqlx's statement log.
        _ if std::env::var_os("SAKILA_SYNC_LOG_SQL").is_some() => "debug",
        _ => "debug,sea_orm::driver::rusqlite=info",
    };
    // PostgreSQL's notices ("relation ... already exists, skipping" for every index that
    // `CREATE INDEX IF NOT EXISTS` finds) come through sqlx at info level: they say nothing
    // a user needs.
    let default = format!("{default},sqlx::postgres::notice=warn");
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| HidePasswords(std::io::stderr()))
        .with_target(false);
    match global.log_format {
        LogFormat::Json => logs.json().flatten_event(true).init(),
        // Text lines are the message only: its fields (watch's counts) say the same again,
        // and are for the JSON lines.
        LogFormat::Text => logs
            .fmt_fields(tracing_subscriber::fmt::format::debug_fn(
                |w, field, value| {
                    if field.name() == "message" {
                        write!(w, "{value:?}")
                    } else {
                        Ok(())
                    }
                },
            ))
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
    }
}

/// Completes at the first SIGINT or SIGTERM with its name.
fn first_signal() -> Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

/// After a signal stopped a one-shot command (whose transaction rolled back as it was
/// dropped): marks its run `interrupted`, says so in one line and returns 130 (SIGINT) or 143
/// (SIGTERM). A second signal meanwhile exits at once.
async fn interrupted(config: &Config, signal: &'static str) -> Result<ExitCode> {
    let code: u8 = if signal == "SIGINT" { 130 } else { 143 };
    tokio::spawn(async move {
        if let Ok(again) = first_signal() {
            again.await;
            std::process::exit(i32::from(code));
        }
    });
    if Warehouse::at(&config.warehouse_url)
        .require_existing()
        .is_ok()
        && let Ok(wh) = db::connect(&config.warehouse_url, Role::Warehouse).await
    {
        if let Err(e) = sync::run::mark_interrupted(&wh, signal).await {
            tracing::warn!("{e:#}");
        }
        close_warehouse(wh).await;
    }
    eprintln!(
        "error: interrupted by {signal}: the run was rolled back, the warehouse is as it was"
    );
    Ok(ExitCode::from(code))
}

/// Completes at the first SIGINT or SIGTERM.
fn stop_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
        }
    })
}

/// stderr, with every password the CLI was given hidden from each log line (the formatter
/// writes a whole line at once).
struct HidePasswords(std::io::Stderr);

impl std::io::Write for HidePasswords {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = String::from_utf8_lossy(buf);
        self.0
            .write_all(sakila_sync::config::hide_passwords(&line).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Opens `path` with the desktop's opener, best effort: a note on stderr if there is none.
fn open_file(path: &std::path::Path) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(opener)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => {}
        Err(e) => eprintln!(
            "note: cannot open {} with {opener} ({e}); open it in a browser",
            path.display()
        ),
    }
}

/// Closes the warehouse before the process exits. SQLite's last connection to close copies
/// the WAL back into the file and deletes it; left to the process's exit, that can be cut
/// short, and the next command pays for it (a no-op incremental right after an x100
/// full-load took 0.8 s instead of 0.05 s, checkpointing 540 MB of WAL).
async fn close_warehouse(wh: sea_orm::DatabaseConnection) {
    if let Err(e) = wh.close().await {
        tracing::warn!("closing the warehouse: {e}");
    }
}

/// Connects to the source and checks that it holds the Sakila tables the pipeline reads.
async fn checked_source(config: &Config) -> Result<SourceDb> {
    let source = SourceDb::connect(&config.source_url).await?;
    let txn = source.read().await?;
    source::check::sakila_tables(&txn)
        .await
        .with_context(|| format!("source {}", redact(&config.source_url)))?;
    txn.rollback().await.ok();
    Ok(source)
}

/// Takes the warehouse's writer lock for `command` (see `sakila_sync::lock`).
async fn writer_lock(
    config: &Config,
    command: &str,
    wait: Option<chrono::Duration>,
) -> Result<Option<sakila_sync::lock::WriterLock>> {
    let wait = wait.map(|w| w.to_std().unwrap_or_default());
    Warehouse::at(&config.warehouse_url)
        .writer_lock(&config.warehouse_url, command, wait)
        .await
}

async fn run(cli: Cli, config: Config) -> Result<ExitCode> {
    tracing::info!(
        "source {}, warehouse {}",
        redact(&config.source_url),
        redact(&config.warehouse_url)
    );
    if let Command::Init(args) = &cli.command {
        anyhow::ensure!(
            args.dates_from <= args.dates_to,
            "--dates-from {} is after --dates-to {}",
            args.dates_from,
            args.dates_to
        );
    }
    if !matches!(
        cli.command,
        Command::Generate(_) | Command::Simulate(_) | Command::Demo(_)
    ) {
        config.check_distinct()?;
    }
    // How long a run may go without anything moving (see `sync::progress`).
    let idle = cli
        .global
        .idle_timeout
        .to_std()
        .unwrap_or(std::time::Duration::MAX);
    // The commands that write the warehouse from the source check the source first, so that
    // one pointed at the wrong database fails saying so, before it creates anything.
    let checked_source = match &cli.command {
        Command::Init(_) | Command::FullLoad | Command::Incremental(_) => {
            let checked = tokio::time::timeout(idle, checked_source(&config)).await;
            Some(checked.map_err(|_| {
                anyhow::anyhow!(
                    "the source did not answer its catalog within {} (--idle-timeout)",
                    humantime::format_duration(idle)
                )
            })??)
        }
        _ => None,
    };
    // One writer at a time (see `sakila_sync::lock`): held until this command returns.
    let lock = match &cli.command {
        Command::Init(_) => writer_lock(&config, "init", cli.global.wait).await?,
        Command::FullLoad => writer_lock(&config, "full-load", cli.global.wait).await?,
        Command::Incremental(_) => writer_lock(&config, "incremental", cli.global.wait).await?,
        Command::Watch(_) => writer_lock(&config, "watch", cli.global.wait).await?,
        _ => None,
    };
    let result = if matches!(
        cli.command,
        Command::Init(_) | Command::FullLoad | Command::Incremental(_)
    ) {
        // A signal abandons the command while the lock is still held, so the run marked
        // interrupted is this one. The warehouse is opened here, so that its pool can be
        // closed after the command is dropped: closing waits until the dropped transaction's
        // connection has rolled back and let go of SQLite's write lock.
        let signal = first_signal()?;
        let wh = if matches!(cli.command, Command::FullLoad) {
            Warehouse::at(&config.warehouse_url)
                .connect_for_full_load(&config.warehouse_url)
                .await?
        } else {
            db::connect(&config.warehouse_url, Role::Warehouse).await?
        };
        tokio::select! {
            done = execute(cli.command, &config, checked_source, Some(wh.clone()), lock.as_ref(), idle) => done,
            name = signal => {
                wh.close().await.ok();
                interrupted(&config, name).await
            }
            step = sync::progress::stalled(idle) => {
                wh.close().await.ok();
                Err(stalled(&config, &step, idle).await)
            }
        }
    } else if matches!(cli.command, Command::Validate(_)) {
        tokio::select! {
            done = execute(cli.command, &config, checked_source, None, None, idle) => done,
            step = sync::progress::stalled(idle) => Err(stall_error(&step, idle)),
        }
    } else {
        execute(
            cli.command,
            &config,
            checked_source,
            None,
            lock.as_ref(),
            idle,
        )
        .await
    };
    if let Some(lock) = lock {
        lock.release().await;
    }
    result
}

/// The line of a run abandoned by the idle watchdog.
fn stall_error(step: &str, idle: std::time::Duration) -> anyhow::Error {
    anyhow::anyhow!(
        "nothing moved for {} while reading {step}: the source (or the warehouse) stopped \
         answering; the run was rolled back (--idle-timeout sets the limit)",
        humantime::format_duration(idle)
    )
}

/// After the idle watchdog abandoned a one-shot run (its transaction rolled back as it was
/// dropped, its pool closed): records the run as failed, with the line it returns.
async fn stalled(config: &Config, step: &str, idle: std::time::Duration) -> anyhow::Error {
    let e = stall_error(step, idle);
    if let Ok(wh) = db::connect(&config.warehouse_url, Role::Warehouse).await {
        let line = format!("{e:#}");
        if let Err(e) = sync::run::mark_unfinished(&wh, RunStatus::Failed, &line).await {
            tracing::warn!("{e:#}");
        }
        close_warehouse(wh).await;
    }
    e
}

/// Runs one command.
async fn execute(
    command: Command,
    config: &Config,
    mut checked_source: Option<SourceDb>,
    mut writer: Option<sea_orm::DatabaseConnection>,
    lock: Option<&sakila_sync::lock::WriterLock>,
    idle: std::time::Duration,
) -> Result<ExitCode> {
    match command {
        Command::Init(args) => {
            let source = checked_source
                .take()
                .context("the source is checked first")?;
            source.close().await.ok();
            let wh = writer.take().context("the warehouse is opened first")?;
            let added = warehouse::init(&wh, args.dates_from, args.dates_to).await?;
            close_warehouse(wh).await;
            println!(
                "warehouse {} is ready (dim_date: {} days added); source {} holds the Sakila tables",
                redact(&config.warehouse_url),
                added,
                redact(&config.source_url)
            );
        }
        Command::FullLoad => {
            let source = checked_source
                .take()
                .context("the source is checked first")?;
            let wh = writer.take().context("the warehouse is opened first")?;
            let report = sync::full_load::full_load(&source, &wh).await?;
            close_warehouse(wh).await;
            Warehouse::at(&config.warehouse_url)
                .after_full_load(&config.warehouse_url)
                .await;
            println!("{report}");
        }
        Command::Incremental(args) => {
            let source = checked_source
                .take()
                .context("the source is checked first")?;
            let wh = writer.take().context("the warehouse is opened first")?;
            let opts = sync::incremental::Options {
                lookback: args.lookback,
                ..Default::default()
            };
            let report = sync::incremental::incremental(&source, &wh, opts).await?;
            close_warehouse(wh).await;
            println!("{report}");
        }
        Command::Generate(args) => {
            let url = args.into;
            let db = db::connect(&url, Role::Generator).await?;
            let history = match (args.from, args.years) {
                (Some(from), Some(years)) => {
                    generate::History::years(from, years).with_context(|| {
                        format!("--from {from} --years {years} ends past the calendar")
                    })?
                }
                _ => generate::History::sakila(),
            };
            let spec = generate::Spec {
                scale: args.scale,
                seed: args.seed,
                history,
                types: args.types,
            };
            let report = generate::generate_with(&db, &spec)
                .await
                .with_context(|| format!("generate into {}", redact(&url)))?;
            // Closing checkpoints a SQLite target, leaving one self-contained file.
            db.close().await.ok();
            println!("{report}");
        }
        Command::Simulate(args) => {
            let url = args.into;
            let db = db::connect(&url, Role::SourceWriter).await?;
            if !args.force && !generate::is_generated(&db).await? {
                anyhow::bail!(
                    "{} was not made by `sakila-sync generate`: simulate deletes and rewrites \
                     rows, so it writes only into generated databases (--force writes into this \
                     one anyway)",
                    redact(&url)
                );
            }
            let writers = generate::Writers {
                workers: args.workers,
                ops_per_transaction: args.ops_per_transaction,
                long_share: f64::from(args.long_transactions) / 100.0,
                hold: args.hold.to_std().unwrap_or_default(),
                rollback_share: f64::from(args.rollbacks) / 100.0,
                dated_from: args.dated_from,
            };
            let report = generate::simulate_with(&db, args.ops, args.seed, args.mix, writers)
                .await
                .with_context(|| format!("simulate on {}", redact(&url)))?;
            db.close().await.ok();
            println!("{report}");
        }
        Command::Watch(args) => {
            let interval = args.interval.to_std().unwrap_or_default();
            anyhow::ensure!(
                interval > std::time::Duration::ZERO,
                "--interval must be longer than zero"
            );
            let opts = sakila_sync::watch::Options {
                interval,
                validate_every: args.validate_every,
                idle,
                incremental: sync::incremental::Options {
                    lookback: args.incremental.lookback,
                    ..Default::default()
                },
            };
            let stop = stop_signal()?;
            sakila_sync::watch::watch(&config.source_url, &config.warehouse_url, opts, lock, stop)
                .await;
        }
        Command::Status(args) => {
            let status =
                sakila_sync::status::status(&config.warehouse_url, &config.source_url).await?;
            if args.json {
                print_stdout(&status.to_json())?;
            } else {
                print_stdout(status.to_string().trim_end())?;
            }
        }
        Command::Validate(args) => {
            let window = args.window.spec(args.as_of.as_deref())?;
            Warehouse::at(&config.warehouse_url).require_existing()?;
            let source = SourceDb::connect(&config.source_url).await?;
            let wh = db::connect(&config.warehouse_url, Role::WarehouseReader).await?;
            let facts = if args.exhaustive {
                validate::Facts::Exhaustive
            } else {
                validate::Facts::Checksums
            };
            let report = validate::validate_with(&source, &wh, window, facts)
                .await
                .map_err(sakila_sync::error::explain_reader_error)?;
            close_warehouse(wh).await;
            if args.json {
                print_stdout(&report.to_json())?;
            } else {
                print_stdout(&format!(
                    "source:    {}\nwarehouse: {}\n{report}",
                    redact(&config.source_url),
                    redact(&config.warehouse_url)
                ))?;
            }
            if !report.passed() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Report(args) => {
            let window = args.window.spec(None)?;
            let summary =
                sakila_sync::report::write_report(&config.warehouse_url, window, &args.out)
                    .await
                    .map_err(sakila_sync::error::explain_reader_error)?;
            print_stdout(&format!(
                "wrote {} (window: {})",
                summary.path.display(),
                summary.window_text
            ))?;
            if args.open {
                open_file(&summary.path);
            }
        }
        Command::Demo(args) => {
            let opts = sakila_sync::demo::Options {
                dir: args.dir,
                seed: args.seed,
                ops: args.ops,
            };
            if !sakila_sync::demo::run(&opts).await? {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug)]
    struct Driver;
    impl std::fmt::Display for Driver {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error returned from database: 1054: Unknown column")
        }
    }
    impl std::error::Error for Driver {}

    /// Prints its source, and lists it as its cause too, as SeaORM's `DbErr` does.
    #[derive(Debug)]
    struct Orm(Driver);
    impl std::fmt::Display for Orm {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Query Error: {}", self.0)
        }
    }
    impl std::error::Error for Orm {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn errors_print_each_cause_once_on_one_line() {
        let e = anyhow::Error::new(Orm(Driver)).context("cannot read source table customer");
        assert_eq!(
            one_line(&e),
            "cannot read source table customer: Query Error: error returned from database: 1054: \
             Unknown column"
        );
        let e = anyhow::anyhow!("line one\nline two").context("outer");
        assert_eq!(one_line(&e), "outer: line one line two");
    }
}
