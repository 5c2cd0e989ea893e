//! The one-writer rule of a run folder: `generate` (and `merge`) hold an exclusive lock on
//! `<run>/.lock` for as long as they write, so a second process aimed at the same folder is
//! refused by name instead of appending a second copy of every reply.
//!
//! The lock is an OS file lock (`flock` on Unix, `LockFileEx` on Windows, through `fs4`): the
//! kernel drops it when the holder exits, however it exits, so a SIGKILLed run never leaves a
//! stale lock behind. The file also holds who took it (pid, host, time, command) for the
//! refusal message; the file itself is left in place, only the lock on it matters.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::files::FileError;

/// Name of the lock file inside a run folder.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive lock on a run folder, held until dropped (or the process ends).
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    // Held for its lock; closing the file releases it.
    _file: File,
}

impl RunLock {
    /// Take the lock of the run folder `dir` (created if absent) for `command`, or refuse.
    ///
    /// # Errors
    /// Another process holds the lock: the message names the lock file and the holder written
    /// in it (pid, host, since when, which command). Or the folder or file cannot be written.
    pub fn acquire(dir: &Path, command: &str) -> Result<Self, FileError> {
        fs::create_dir_all(dir).map_err(|e| FileError::io(dir, e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| FileError::io(&path, e))?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // Best effort: the holder may be writing it this very moment.
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() { "another process (it has not written its name yet)" } else { holder };
                return Err(FileError::at(&path, None, format!(
                    "this run folder is in use by {holder}; wait for that run to end (or stop it), or write to another folder with --out"
                )));
            }
            Err(fs4::TryLockError::Error(e)) => return Err(FileError::io(&path, e)),
        }
        let holder = format!(
            "mhbench {command} (pid {}, host {}, since {})\n",
            std::process::id(),
            host_name(),
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        );
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(holder.as_bytes())?;
            file.sync_data()
        };
        write(&mut file).map_err(|e| FileError::io(&path, e))?;
        Ok(Self { path, _file: file })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// This machine's name, for the holder line (a run folder may sit on a shared disk).
fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buffer = [0u8; 256];
        // SAFETY: the pointer and length describe `buffer`, which outlives the call; the
        // result is read up to its first NUL (or the buffer's end when truncated).
        let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
        if status == 0 {
            let len = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
            let name = String::from_utf8_lossy(&buffer[..len]).trim().to_owned();
            if !name.is_empty() {
                return name;
            }
        }
    }
    std::env::var("COMPUTERNAME").or_else(|_| std::env::var("HOSTNAME")).unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_by_name_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let first = RunLock::acquire(&run, "generate").unwrap();
        let holder = fs::read_to_string(first.path()).unwrap();
        assert!(holder.starts_with(&format!("mhbench generate (pid {}, host ", std::process::id())), "{holder}");
        let err = RunLock::acquire(&run, "generate").unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: this run folder is in use by mhbench generate (pid {}", run.join(LOCK_FILE).display(), std::process::id())), "{err}");
        assert!(err.contains("--out"), "{err}");
        drop(first);
        let again = RunLock::acquire(&run, "merge").unwrap();
        assert!(fs::read_to_string(again.path()).unwrap().starts_with("mhbench merge (pid "));
    }
}
