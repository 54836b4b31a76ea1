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

/// `path` for a URL: every byte but letters, digits, `-._~` and `/` percent-encoded, so that a
/// space, `?`, `#` or `%` in a name neither breaks the URL nor turns into a query parameter.
/// Both drivers decode it: sqlx its `sqlite://` paths, SQLite its `file:` URIs.
pub fn escape_path(path: &std::path::Path) -> String {
    let mut out = String::new();
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Replaces the password of a `scheme://user:password@host/...` URL with `***`.
pub fn redact(url: &str) -> String {
    match password_span(url) {
        Some((start, end)) => format!("{}***{}", &url[..start], &url[end..]),
        None => url.to_string(),
    }
}

/// The password of `url`, if it has one (used to scrub it from error messages).
pub fn password(url: &str) -> Option<&str> {
    password_span(url)
        .map(|(s, e)| &url[s..e])
        .filter(|p| !p.is_empty())
}

fn password_span(url: &str) -> Option<(usize, usize)> {
    let after_scheme = url.find("://")? + 3;
    let rest = &url[after_scheme..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    Some((after_scheme + colon + 1, after_scheme + at))
}

/// Parses a duration such as `90s`, `10m`, `2h` or `1d` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().map_err(|_| {
        format!("'{text}' is not a duration: use a whole number with s, m, h or d, e.g. 10m")
    })?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "'{text}' has an unknown unit '{unit}': use s, m, h or d"
            ));
        }
    };
    n.checked_mul(seconds)
        .and_then(chrono::Duration::try_seconds)
        .ok_or_else(|| format!("'{text}' is too long"))
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
        assert!(parse_duration("-3m").is_err());
        assert!(parse_duration("10 minutes").is_err());
        assert!(parse_duration("m").is_err());
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
        assert_eq!(password("mysql://u:pw@h/d"), Some("pw"));
        assert_eq!(password("mysql://u@h/d"), None);
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
