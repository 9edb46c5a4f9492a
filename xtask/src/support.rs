//! What the measuring commands (`bench`, `soak`, `crash`) share: writing their JSON report, a
//! two-thread runtime beside the simulator's, and removing a SQLite file with its WAL.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// Writes `report`, pretty, to `root`/`out` (creating the directory); returns the path.
pub(crate) fn write_report(root: &Path, out: &Path, report: &Value) -> Result<std::path::PathBuf> {
    let path = root.join(out);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A multi-thread runtime of `threads` workers, with time and I/O.
pub(crate) fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("building the runtime")
}

/// Removes a SQLite database and its `-wal` and `-shm` files, if they are there.
pub(crate) fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}
