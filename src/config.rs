//! Where the databases are: flags beat environment variables beat `sakila-sync.toml` beat
//! built-in defaults.
//!
//! URLs may carry passwords, so everything that prints a URL goes through [`redact`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

pub const DEFAULT_SOURCE_URL: &str = "mysql://root@127.0.0.1:3306/sakila";
pub const DEFAULT_WAREHOUSE_URL: &str = "sqlite://analytics.db";
pub const DEFAULT_CONFIG_FILE: &str = "sakila-sync.toml";

/// What `sakila-sync.toml` may contain. Unknown keys are an error, so a typo is not ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub source: Option<String>,
    pub warehouse: Option<String>,
}

impl FileConfig {
    /// Reads `path`; a missing file is only an error when the user named it explicitly.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let (path, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Self::default());
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read config file {}", path.display()));
            }
        };
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}", e.message()))
            .with_context(|| format!("invalid config file {}", path.display()))
    }
}

/// The resolved connection settings of one run.
#[derive(Debug, Clone)]
pub struct Config {
    pub source_url: String,
    pub warehouse_url: String,
}

impl Config {
    /// Refuses a warehouse that is the source: writing it would overwrite the source.
    pub fn check_distinct(&self) -> anyhow::Result<()> {
        let (Some(source), Some(warehouse)) = (
            sqlite_file(&self.source_url),
            sqlite_file(&self.warehouse_url),
        ) else {
            return Ok(());
        };
        let same = match (source.canonicalize(), warehouse.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => std::path::absolute(&source).ok() == std::path::absolute(&warehouse).ok(),
        };
        anyhow::ensure!(
            !same,
            "the warehouse {} is the source database: name another file for the warehouse",
            warehouse.display()
        );
        Ok(())
    }

    /// `flag` values already include the environment (clap reads the env vars); the file and
    /// the defaults fill what is left.
    pub fn resolve(source: Option<String>, warehouse: Option<String>, file: FileConfig) -> Self {
        Self {
            source_url: source
                .or(file.source)
                .unwrap_or_else(|| DEFAULT_SOURCE_URL.to_string()),
            warehouse_url: warehouse
                .or(file.warehouse)
                .unwrap_or_else(|| DEFAULT_WAREHOUSE_URL.to_string()),
        }
    }
}

/// The `sqlite://` URL of the file at `path`, whatever its name (see [`escape_path`]).
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}", escape_path(path))
}

/// The file a `sqlite:` URL names, as the driver will open it (its parser decodes escapes such
/// as `%20`); `None` for an in-memory database, another scheme, or a URL the driver cannot
/// parse (left for the connection to report).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" || rest.contains("mode=memory") {
        return None;
    }
    let options = url
        .parse::<sea_orm::sqlx::sqlite::SqliteConnectOptions>()
        .ok()?;
    Some(options.get_filename().to_path_buf())
}

/// Splits a PostgreSQL URL's `schema` parameter off: `(the URL without it, the schema)`. The
/// warehouse's tables live in that schema (default `public`), so that it can share an
/// analytics database with tables it never touches. Other URLs come back as they are.
pub fn split_schema(url: &str) -> Result<(String, Option<String>)> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Ok((url.to_string(), None));
    }
    let Ok(mut parsed) = url::Url::parse(url) else {
        return Ok((url.to_string(), None)); // the driver names what is wrong with it
    };
    let mut schema = None;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(k, v)| {
            if k == "schema" {
                schema = Some(v.into_owned());
                None
            } else {
                Some((k.into_owned(), v.into_owned()))
            }
        })
        .collect();
    if let Some(name) = &schema {
        anyhow::ensure!(
            !name.is_empty()
                && name.len() <= 63
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "schema={name} in the warehouse URL is not a plain PostgreSQL name (lower-case \
             letters, digits and _, not starting with a digit)"
        );
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((parsed.to_string(), schema))
}

/// Every byte of a path that a URL would misread (everything but letters, digits, `-._~`
/// and the `/` separators).
const PATH_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// `path` for a URL, percent-encoded, so that a space, `?`, `#` or `%` in a name neither breaks
/// the URL nor turns into a query parameter. Both drivers decode it: sqlx its `sqlite://`
/// paths, SQLite its `file:` URIs. The path's bytes are encoded as they are, so a name that is
/// not UTF-8 survives too.
pub fn escape_path(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    percent_encoding::percent_encode(path.as_os_str().as_bytes(), PATH_ESCAPES).to_string()
}

/// `url` with its password replaced by `***`. A URL that does not parse is shown up to its
/// scheme and after its last `@`, so that a password in it never is; so is one whose password
/// holds a raw `/`, `?` or `#` (`misread_userinfo`).
pub fn redact(url: &str) -> String {
    if let Some((scheme, at)) = misread_userinfo(url) {
        return format!("{scheme}://***{}", &url[at..]);
    }
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Setting a password fails only on URLs that cannot have one.
            if parsed.set_password(Some("***")).is_ok() {
                parsed.to_string().replacen("%2A%2A%2A", "***", 1)
            } else {
                hide_userinfo(url)
            }
        }
        Ok(_) => url.to_string(),
        Err(_) => hide_userinfo(url),
    }
}

/// Where a URL's user info ends as a person reads it, when a parser reads it otherwise: a
/// password with a raw `/`, `?` or `#` (`user:pa/ss@host`) ends the parser's authority early,
/// and the rest of the password lands in the path, where nothing would hide it. Returns the
/// scheme and the byte offset of the last `@` when the authority (up to the first `/`, `?`
/// or `#`) holds a `:` and that `@` lies beyond it. Over-cautious for a path holding an `@`
/// after a port (`db:3306/a@b`): that URL is shown without its user info, which costs
/// nothing.
fn misread_userinfo(url: &str) -> Option<(&str, usize)> {
    let (scheme, rest) = url.split_once("://")?;
    let start = scheme.len() + 3;
    let authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest.rfind('@')?;
    (at > authority && rest[..authority].contains(':')).then_some((scheme, start + at))
}

fn hide_userinfo(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://***{}", &url[at..]),
        _ => url.to_string(),
    }
}

/// The passwords [`hide_passwords`] hides, in every form they may be printed in.
static PASSWORDS: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Remembers the password of `url` (as written and decoded) so that [`hide_passwords`] hides
/// it from any text: the CLI registers every URL it was given, wherever it came from.
pub fn hide_password_of(url: &str) {
    let mut known = PASSWORDS.write().unwrap_or_else(|e| e.into_inner());
    for form in password_forms(url) {
        if !known.contains(&form) {
            known.push(form);
        }
    }
    // The longest first, so that a password containing another is hidden whole.
    known.sort_by_key(|p| std::cmp::Reverse(p.len()));
}

/// `text` with every password remembered by [`hide_password_of`] replaced by `***`: for
/// error lines, logs and what `sync_run` records.
pub fn hide_passwords(text: &str) -> String {
    let known = PASSWORDS.read().unwrap_or_else(|e| e.into_inner());
    known
        .iter()
        .fold(text.to_string(), |t, pw| t.replace(pw.as_str(), "***"))
}

/// The password of `url` as written and as decoded (for scrubbing driver messages, which may
/// echo either), without empty or repeated forms.
pub fn password_forms(url: &str) -> Vec<String> {
    // A password with a raw `/` is the text between the user's `:` and the last `@`.
    let misread = misread_userinfo(url).and_then(|(scheme, at)| {
        let userinfo = &url[scheme.len() + 3..at];
        userinfo.split_once(':').map(|(_, pw)| pw.to_string())
    });
    let Some(written) = misread.or_else(|| {
        url::Url::parse(url)
            .ok()
            .and_then(|u| u.password().map(str::to_string))
    }) else {
        return Vec::new();
    };
    let decoded = percent_encoding::percent_decode_str(&written)
        .decode_utf8_lossy()
        .into_owned();
    let mut forms = vec![written];
    if !forms.contains(&decoded) {
        forms.push(decoded);
    }
    forms.retain(|p| !p.is_empty());
    forms
}

/// Parses a duration such as `90s`, `10m`, `2h`, `1d` or `1h 30m` (a bare number is
/// seconds).
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    let std = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>()
            .map(std::time::Duration::from_secs)
            .map_err(|_| format!("'{text}' is too long"))?
    } else {
        humantime::parse_duration(text).map_err(|e| {
            format!("'{text}' is not a duration ({e}): write e.g. 90s, 10m, 2h or 1d")
        })?
    };
    chrono::Duration::from_std(std).map_err(|_| format!("'{text}' is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_escape_what_a_url_would_misread() {
        use std::path::Path;
        assert_eq!(
            sqlite_url(Path::new("sakila-demo/w.db")),
            "sqlite://sakila-demo/w.db"
        );
        assert_eq!(sqlite_url(Path::new("/tmp/x_1.db")), "sqlite:///tmp/x_1.db");
        assert_eq!(
            sqlite_url(Path::new("my demo/a?b#c%d:é.db")),
            "sqlite://my%20demo/a%3Fb%23c%25d%3A%C3%A9.db"
        );
        // A name that is not UTF-8 keeps its bytes.
        use std::os::unix::ffi::OsStrExt;
        let raw = std::ffi::OsStr::from_bytes(b"w\xff.db");
        assert_eq!(sqlite_url(Path::new(raw)), "sqlite://w%FF.db");
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(
            parse_duration("10m").unwrap(),
            chrono::Duration::minutes(10)
        );
        assert_eq!(parse_duration("90").unwrap(), chrono::Duration::seconds(90));
        assert_eq!(parse_duration("2h").unwrap(), chrono::Duration::hours(2));
        assert_eq!(parse_duration("0s").unwrap(), chrono::Duration::zero());
        assert_eq!(
            parse_duration("1h 30m").unwrap(),
            chrono::Duration::minutes(90)
        );
        assert!(parse_duration("-3m").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("").is_err());
        // Too long for any clock: an error, not an overflow.
        assert!(parse_duration("99999999999999999999").is_err());
        assert!(parse_duration("9999999999999999999d").is_err());
    }

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact("mysql://root:s3cret@db:3306/sakila"),
            "mysql://root:***@db:3306/sakila"
        );
        assert_eq!(redact("mysql://root@db/sakila"), "mysql://root@db/sakila");
        assert_eq!(redact("sqlite://analytics.db"), "sqlite://analytics.db");
        assert_eq!(redact("mysql://u:p@ss@h/d"), "mysql://u:***@h/d");
        // Passwords with URL delimiters, percent-encoded as users write them.
        for pw in ["a%2Fb", "a%3Fb", "a%23b", "a%40b", "a%3Ab"] {
            let url = format!("mysql://etl:{pw}@db:3306/sakila");
            assert_eq!(redact(&url), "mysql://etl:***@db:3306/sakila");
        }
        assert_eq!(redact("mysql://u:p w@h/d"), "mysql://u:***@h/d");
        // Unparsable (a port that is not a number): nothing before the last @ is shown.
        assert_eq!(redact("mysql://u:pw@h:port/d"), "mysql://***@h:port/d");
        // A raw `/` in a password ends a parser's authority early: the part after it must
        // not show in the path (found by the property test: `Ⱥ@\u{200b}/Ⱥ`).
        for (url, secret) in [
            ("mysql://user:pass/word@host:3306/db", "word"),
            ("mysql://user:/secret@host:3306/db", "secret"),
            ("mysql://user:Ⱥ@\u{200b}/Ⱥ@host:3306/db", "Ⱥ"),
            ("mysql://user:Ⱥ@\u{200b}/Ⱥ@host:3306/db", "%C8%BA"),
            ("postgres://u:a?b#c@h:5432/db", "b#c"),
        ] {
            let shown = redact(url);
            assert!(!shown.contains(secret), "{url} -> {shown}");
            assert!(
                shown.ends_with("@host:3306/db") || shown.ends_with("@h:5432/db"),
                "{shown}"
            );
            // What hide_passwords will hide in error lines: the password as written.
            assert!(
                secret.starts_with('%') || password_forms(url).iter().any(|p| p.contains(secret)),
                "{url}: {:?}",
                password_forms(url)
            );
        }
        // A path with an `@` and no password stays as it is.
        assert_eq!(redact("sqlite:///tmp/a@b.db"), "sqlite:///tmp/a@b.db");
        assert_eq!(password_forms("mysql://u:pw@h/d"), vec!["pw"]);
        assert_eq!(password_forms("mysql://u:a%2Fb@h/d"), vec!["a%2Fb", "a/b"]);
        assert!(password_forms("mysql://u@h/d").is_empty());
    }

    #[test]
    fn flags_beat_file_beat_defaults() {
        let file = FileConfig {
            source: Some("mysql://file/s".into()),
            warehouse: Some("sqlite://file.db".into()),
        };
        let c = Config::resolve(Some("mysql://flag/s".into()), None, file);
        assert_eq!(c.source_url, "mysql://flag/s");
        assert_eq!(c.warehouse_url, "sqlite://file.db");
        let c = Config::resolve(None, None, FileConfig::default());
        assert_eq!(c.source_url, DEFAULT_SOURCE_URL);
        assert_eq!(c.warehouse_url, DEFAULT_WAREHOUSE_URL);
    }

    #[test]
    fn config_file_is_parsed_and_typos_rejected() {
        let dir = std::env::temp_dir().join(format!("sakila-sync-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(&good, "source = \"mysql://a/b\"\n").unwrap();
        assert_eq!(
            FileConfig::load(Some(&good)).unwrap().source.as_deref(),
            Some("mysql://a/b")
        );
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "sorce = \"x\"\n").unwrap();
        let err = format!("{:#}", FileConfig::load(Some(&bad)).unwrap_err());
        assert!(err.contains("bad.toml") && err.contains("sorce"), "{err}");
        assert!(FileConfig::load(Some(&dir.join("missing.toml"))).is_err());
    }
}
