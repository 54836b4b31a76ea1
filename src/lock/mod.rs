//! One writer at a time: `init`, `full-load` and `incremental` hold an exclusive lock on the
//! warehouse while they run.
//!
//! Without it a second writer waits on SQLite's own lock, silently, and past the busy timeout
//! fails with a bare "database is locked"; and a run that starts while another is live would
//! take that run's `sync_run` row for an abandoned one. The lock is an advisory lock
//! (`flock`) on a file beside the warehouse, `<warehouse>.lock`: the kernel releases it when
//! the holding process ends in any way, SIGKILL included, so a crashed run never leaves the
//! warehouse locked. The file also says who holds it (PID, command, since when), for the
//! refusal's message; it is left in place between runs (deleting it would let two processes
//! lock two different files of the same name).
//!
//! A warehouse on a PostgreSQL server is locked the same way by a server-side advisory lock
//! ([`server`]).
//!
//! `validate` (and `status`) never take the lock: they read a committed snapshot and neither
//! wait for a writer nor block one.

pub mod server;

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Another process holds the warehouse's lock.
#[derive(Debug, thiserror::Error)]
#[error(
    "the warehouse {warehouse} is being written by another sakila-sync ({holder}): wait for \
     it to finish, or pass --wait DURATION to queue behind it"
)]
pub struct Locked {
    /// The warehouse's file, or its redacted URL.
    pub warehouse: String,
    /// What the lock file says of its holder: `PID 1234, incremental, since ...`.
    pub holder: String,
}

/// The warehouse's lock, held until dropped.
#[derive(Debug)]
pub enum WriterLock {
    /// A file warehouse's lock file.
    File(LockFile),
    /// A server warehouse's advisory lock, held by a session of its own.
    Server(server::ServerLock),
}

impl WriterLock {
    /// Makes sure the lock is still this process's, before a long-running command (`watch`)
    /// writes again: a lock file cannot be lost while it is open, but a server's session can
    /// end under the process ([`server::ServerLock::hold`]).
    pub async fn hold(&self) -> anyhow::Result<()> {
        match self {
            WriterLock::File(_) => Ok(()),
            WriterLock::Server(lock) => lock.hold().await,
        }
    }

    /// Lets go of the lock, so that the next writer finds it free as soon as this returns
    /// (dropping it lets go too, but a server may take a moment to notice).
    pub async fn release(self) {
        match self {
            WriterLock::File(file) => drop(file),
            WriterLock::Server(lock) => lock.release().await,
        }
    }
}

/// Fails when the writer lock this process took is no longer its own, asked on a run's
/// warehouse connection `db` just before it commits. A lock file cannot be lost while it is
/// open; a server's lock goes with its session ([`server::still_ours`]).
pub async fn still_held<C: sea_orm::ConnectionTrait>(db: &C) -> anyhow::Result<()> {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => server::still_ours(db).await,
        _ => Ok(()),
    }
}

/// The open lock file: the kernel holds the lock while it is open.
#[derive(Debug)]
pub struct LockFile {
    file: File,
}

impl Drop for LockFile {
    /// Says nobody holds it any more (the kernel releases the lock itself when the file
    /// closes, next). A killed holder cannot do this: [`holder`] checks the PID is alive.
    fn drop(&mut self) {
        self.file.set_len(0).ok();
    }
}

/// Who holds the lock of the warehouse file `warehouse` now (`PID 1234, incremental, since
/// ...`), read from the lock file without touching the lock itself, so that a reader never
/// delays a writer: the holder's own line, if its process is alive.
pub fn holder(warehouse: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path_of(warehouse)).ok()?;
    let text = text.trim();
    let pid: u32 = text
        .strip_prefix("PID ")?
        .split(',')
        .next()?
        .trim()
        .parse()
        .ok()?;
    alive(pid).then(|| text.to_string())
}

#[cfg(target_os = "linux")]
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(not(target_os = "linux"))]
fn alive(_pid: u32) -> bool {
    true
}

/// The lock file of the warehouse file `warehouse`.
pub fn path_of(warehouse: &Path) -> PathBuf {
    let mut name = warehouse.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock of the warehouse file `warehouse` for `command`. If another process holds
/// it: fails at once with [`Locked`], or with `wait`, tries again until it is free or `wait`
/// has passed.
pub fn acquire(warehouse: &Path, command: &str, wait: Option<Duration>) -> Result<WriterLock> {
    let path = path_of(warehouse);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    // A wait past what the clock can count is a wait without end.
    let deadline = wait.map(|w| Instant::now().checked_add(w));
    let mut announced = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {
                let holder = holder_line(&mut file);
                match deadline {
                    Some(d) if d.is_none_or(|d| Instant::now() < d) => {
                        if !announced {
                            tracing::info!("waiting for the warehouse's other writer ({holder})");
                            announced = true;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    _ => {
                        return Err(Locked {
                            warehouse: warehouse.display().to_string(),
                            holder,
                        }
                        .into());
                    }
                }
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
    }
    let since = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC");
    let me = format!("PID {}, {command}, since {since}\n", std::process::id());
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(me.as_bytes()))
        .and_then(|()| file.flush())
        .with_context(|| format!("cannot write the lock file {}", path.display()))?;
    Ok(WriterLock::File(LockFile { file }))
}

/// What the lock file says of its holder (it may not have written it yet).
fn holder_line(file: &mut File) -> String {
    let mut text = String::new();
    let read = file.rewind().and_then(|()| file.read_to_string(&mut text));
    match read {
        Ok(_) if !text.trim().is_empty() => text.trim().to_string(),
        _ => "a process that has not said who it is yet".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_with_the_holder_named_and_let_in_once_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let wh = dir.path().join("warehouse.db");
        let first = acquire(&wh, "full-load", None).unwrap();
        let refused = acquire(&wh, "incremental", None).unwrap_err();
        let message = refused.to_string();
        assert!(refused.is::<Locked>(), "{message}");
        assert!(
            message.contains(&format!("PID {}, full-load, since ", std::process::id())),
            "{message}"
        );
        assert!(holder(&wh).unwrap().contains("full-load"));
        drop(first);
        assert_eq!(holder(&wh), None, "a lock let go names nobody");
        let second = acquire(&wh, "incremental", None).unwrap();
        let text = std::fs::read_to_string(path_of(&wh)).unwrap();
        assert!(text.starts_with(&format!("PID {}, incremental", std::process::id())));
        drop(second);
    }

    #[test]
    fn a_waiting_writer_gets_the_lock_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let wh = dir.path().join("warehouse.db");
        let first = acquire(&wh, "full-load", None).unwrap();
        let waiter = {
            let wh = wh.clone();
            std::thread::spawn(move || acquire(&wh, "incremental", Some(Duration::from_secs(30))))
        };
        std::thread::sleep(Duration::from_millis(300));
        assert!(!waiter.is_finished(), "it waits while the lock is held");
        drop(first);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn a_wait_that_runs_out_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let wh = dir.path().join("warehouse.db");
        let _first = acquire(&wh, "full-load", None).unwrap();
        let refused = acquire(&wh, "incremental", Some(Duration::from_millis(200))).unwrap_err();
        assert!(refused.is::<Locked>());
    }
}
