//! The report in a real browser: Debian's `chromium`, headless, renders the page of the real
//! Sakila to PNG at 1280x2000 and at a phone's 420 px, and dumps its DOM. The page must have
//! rendered (not blank), hold its title and figures, log nothing to the console and fetch
//! nothing.
//!
//! Its own runner (`harness = false`, libtest-mimic) so that a machine without chromium reports
//! the test as *ignored*, loudly, instead of passing a test it did not run. Under `CI=true`
//! there is no such excuse: `.ci/run` installs chromium, and a missing one fails the test.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};

const NAME: &str = "report_of_the_real_sakila_renders_in_chromium";

fn main() {
    let mut args = Arguments::from_args();
    let trial = match chromium() {
        Some(browser) => Trial::test(NAME, move || renders(&browser)),
        None if std::env::var_os("CI").is_some() => Trial::test(NAME, || {
            Err("chromium is not installed: .ci/run installs it (apt-get install chromium)".into())
        }),
        None => {
            eprintln!(
                "\n*** {NAME} is SKIPPED: no chromium on this machine. Install it \
                 (apt-get install chromium, or set SAKILA_TEST_CHROMIUM to a Chromium or Chrome \
                 binary) to run it; CI always runs it. ***\n"
            );
            // Reported as ignored even under --include-ignored: there is nothing to run it with.
            args.include_ignored = false;
            args.ignored = false;
            Trial::test(NAME, || Ok(())).with_ignored_flag(true)
        }
    };
    libtest_mimic::run(&args, vec![trial]).exit();
}

/// The browser to test with: `SAKILA_TEST_CHROMIUM`, else the first of Chromium's usual names
/// found on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SAKILA_TEST_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

fn check(ok: bool, message: impl FnOnce() -> String) -> Result<(), Failed> {
    if ok { Ok(()) } else { Err(message().into()) }
}

fn renders(browser: &Path) -> Result<(), Failed> {
    let dump = common::dump_dir();
    let (src_url, _g) = common::sakila_db(&dump, "browser");
    let (wh_url, dir) = common::temp_warehouse();
    let sync = |args: &[&str]| -> Result<(), Failed> {
        let out = Command::new(common::bin())
            .args(["--source", &src_url, "--warehouse", &wh_url])
            .args(args)
            .output()
            .map_err(|e| format!("cannot run sakila-sync: {e}"))?;
        check(out.status.success(), || {
            format!(
                "sakila-sync {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    sync(&["full-load"])?;
    let page = dir.path().join("report.html");
    sync(&["report", "--out", page.to_str().unwrap()])?;
    let url = format!("file://{}", page.display());

    // The DOM as the browser built it: title and headline figures of the real Sakila.
    let dom = run(
        browser,
        dir.path(),
        &["--dump-dom", &url],
        &dir.path().join("dom.netlog"),
    )?;
    for needle in ["<title>", "Sakila", "$67,416.51", "16,044"] {
        check(dom.stdout.contains(needle), || {
            format!("the rendered DOM lacks {needle:?}")
        })?;
    }
    // Nothing on the page can fetch anything: no scripts, frames, links to load, images or
    // CSS urls.
    for fetches in [
        "<script", "<iframe", "<link", "<img", "url(", "@import", " src=",
    ] {
        check(!dom.stdout.contains(fetches), || {
            format!("the page holds {fetches:?}, which would fetch from outside the file")
        })?;
    }

    for (width, name) in [(1280, "report-1280.png"), (420, "report-420.png")] {
        let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        let _ = std::fs::remove_file(&shot);
        let netlog = dir.path().join(format!("{width}.netlog"));
        let screenshot = format!("--screenshot={}", shot.display());
        let window = format!("--window-size={width},2000");
        let out = run(browser, dir.path(), &[&screenshot, &window, &url], &netlog)?;
        check(shot.exists(), || {
            format!("chromium wrote no screenshot at {width} px: {}", out.stderr)
        })?;
        let (w, h, inked, colours) = ink(&shot)?;
        check((w, h) == (width, 2000), || {
            format!("the screenshot is {w}x{h}, not {width}x2000")
        })?;
        // A blank or unstyled page is almost all one colour; this one has text, tables and
        // coloured charts in its first 2000 px.
        check(inked > 0.03 && colours > 50, || {
            format!(
                "the page at {width} px looks blank: {:.1}% of pixels not background, {colours} colours",
                inked * 100.0
            )
        })?;
        eprintln!(
            "{width} px: {:.1}% of pixels inked, {colours} colours ({})",
            inked * 100.0,
            shot.display()
        );
        // The console stays silent (no errors, no warnings) and the page loads nothing but
        // itself; Chromium's own background traffic to Google's update and account services
        // is not the page's.
        let console: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
            .collect();
        check(console.is_empty(), || {
            format!("console output at {width} px: {console:#?}")
        })?;
        let requests = requested_urls(&netlog)?;
        let foreign: Vec<&String> = requests
            .iter()
            .filter(|u| *u != &url && !chromium_own(u))
            .collect();
        check(foreign.is_empty(), || {
            format!("the page made requests at {width} px: {foreign:#?}")
        })?;
    }
    Ok(())
}

struct Output {
    stdout: String,
    stderr: String,
}

/// Runs headless chromium with a private profile in `dir`, logging the console to stderr and
/// every network request to `netlog`.
fn run(browser: &Path, dir: &Path, args: &[&str], netlog: &Path) -> Result<Output, Failed> {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--log-net-log={}", netlog.display()))
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", browser.display()))?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    check(out.status.success(), || {
        format!("{} {args:?} failed: {stderr}", browser.display())
    })?;
    Ok(Output { stdout, stderr })
}

/// Every `"url"` in a Chromium net log.
fn requested_urls(netlog: &Path) -> Result<Vec<String>, Failed> {
    let text = std::fs::read_to_string(netlog)
        .map_err(|e| format!("cannot read the net log {}: {e}", netlog.display()))?;
    let mut urls = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("\"url\":\"") {
        rest = &rest[at + 7..];
        let end = rest.find('"').unwrap_or(rest.len());
        urls.push(rest[..end].to_string());
    }
    Ok(urls)
}

/// Chromium's own background requests (updates, clock, accounts), made whatever the page.
fn chromium_own(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':', '?']).next())
        .unwrap_or("");
    ["google.com", "googleapis.com", "gstatic.com", "gvt1.com"]
        .iter()
        .any(|own| host == *own || host.ends_with(&format!(".{own}")))
}

/// (width, height, share of pixels that differ from the top-left one, distinct colours).
fn ink(png_path: &Path) -> Result<(u32, u32, f64, usize), Failed> {
    let file = std::fs::File::open(png_path).map_err(|e| e.to_string())?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let background = pixels[0];
    let inked = pixels.iter().filter(|p| **p != background).count();
    let colours: std::collections::HashSet<&[u8]> = pixels.iter().copied().collect();
    Ok((
        info.width,
        info.height,
        inked as f64 / pixels.len() as f64,
        colours.len(),
    ))
}
