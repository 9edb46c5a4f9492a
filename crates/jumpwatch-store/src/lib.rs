//! Jumpwatch's SQLite store: every version of every JumpCloud resource and every change event,
//! committed in one transaction a poll, and queryable in SQL — as things are now, or as they
//! were at any instant.
//!
//! - [`SqliteStore`] implements the engine's [`InventoryStore`](jumpwatch_changes::InventoryStore) port: `load` gives the last
//!   snapshot, `commit` writes a poll's resources, versions, change events and breaker state
//!   atomically. A crash or an error at any point leaves the previous state intact, and the next
//!   poll produces the same events again.
//! - It also implements the notifier's [`Outbox`](jumpwatch_notify::Outbox) port: a poll's
//!   alerts are enqueued in the poll's own transaction ([`SqliteStore::commit_notified`]), and
//!   the `notifications` view shows the queue.
//! - Documents are stored with their secret paths replaced by a keyed hash marker: no secret
//!   reaches the database. The key is the process-wide one of
//!   [`jumpwatch_model::normalizer::set_secret_key`].
//! - [`SqliteStore::query`] runs read-only SQL over the generated views: one a kind (`users`,
//!   `systems`, `user_groups`, `user_group_members`, `system_user_bindings`, ...), `changes` (one
//!   row an event), `field_changes` and `<kind>_changes` (one row a field change). With an
//!   instant, the kind views show the versions valid then.
//!
//! ```
//! use jumpwatch_store::SqliteStore;
//! let store = SqliteStore::in_memory()?;
//! let result = store.query("SELECT count(*) AS n FROM users", None)?;
//! assert_eq!(result.columns[0].name, "n");
//! assert_eq!(result.rows[0][0], serde_json::json!(0));
//! # Ok::<(), jumpwatch_store::Error>(())
//! ```

mod findings;
mod insights;
mod outbox;
mod query;
mod schema;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags};

pub use insights::{KNOWN_EVENTS_SPAN, StoredEvent};
pub use query::{ColumnInfo, QueryResult};
pub use schema::{SCHEMA_VERSION, changes_view};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// SQLite reported an error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored document is not valid JSON (the database was edited by hand?).
    #[error("stored {kind} {id} is not valid JSON: {message}")]
    Corrupt {
        /// The kind.
        kind: String,
        /// The id.
        id: String,
        /// What the JSON parser said.
        message: String,
    },
    /// The database was written by a newer Jumpwatch.
    #[error(
        "the database has schema version {found}; this Jumpwatch reads up to {supported}: upgrade Jumpwatch"
    )]
    NewerSchema {
        /// The version found.
        found: i64,
        /// The version this build supports.
        supported: i64,
    },
    /// A query tried to change the database.
    #[error("queries are read-only: {0}")]
    ReadOnly(String),
    /// The store's lock was poisoned by a panic in another thread.
    #[error("the store's lock is poisoned")]
    Poisoned,
    /// A value of the notifier cannot be stored (it does not serialize, or this build does not
    /// know it).
    #[error("cannot store {what}: {message}")]
    Unstorable {
        /// What.
        what: String,
        /// Why.
        message: String,
    },
}

impl From<Error> for jumpwatch_changes::StoreError {
    fn from(error: Error) -> Self {
        Self { message: error.to_string(), source: Some(Box::new(error)) }
    }
}

/// Where the database lives.
#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    /// A shared in-memory database, by URI.
    Memory(String),
}

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    location: Location,
    writer: Mutex<Connection>,
}

fn now_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl SqliteStore {
    /// Opens (or creates) a database file, in WAL mode, migrating it to the current schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        // SQLite answers "busy" at once, without waiting, where waiting could deadlock (two
        // processes turning a new file to WAL): such an open is tried again, a little later.
        let mut attempt = 0u32;
        loop {
            match Self::open_once(&path) {
                Err(Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy && attempt < 50 =>
                {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5 * u64::from(attempt)));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path) -> Result<Self, Error> {
        let db = Connection::open(path)?;
        // Wait for another process's lock rather than fail, from the first statement on.
        db.busy_timeout(std::time::Duration::from_secs(30))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(Location::File(path.to_path_buf()), db)
    }

    /// A private in-memory database: for tests and one-off runs.
    pub fn in_memory() -> Result<Self, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let uri = format!(
            "file:jumpwatch-{}-{}?mode=memory&cache=shared",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI;
        let db = Connection::open_with_flags(&uri, flags)?;
        Self::init(Location::Memory(uri), db)
    }

    fn init(location: Location, mut db: Connection) -> Result<Self, Error> {
        db.busy_timeout(std::time::Duration::from_secs(30))?;
        db.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut db)?;
        // Views follow the catalog of this build; rebuilt in one transaction, so two processes
        // opening the same new database do not both try to create them.
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(&schema::kind_views(schema::CURRENT, false))?;
        tx.execute_batch(&schema::change_views())?;
        tx.commit()?;
        Ok(Self { location, writer: Mutex::new(db) })
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, Connection>, Error> {
        self.writer.lock().map_err(|_| Error::Poisoned)
    }

    /// A new read-only connection.
    fn reader(&self) -> Result<Connection, Error> {
        let db = match &self.location {
            Location::File(path) => Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
            Location::Memory(uri) => Connection::open_with_flags(
                uri,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
        };
        db.busy_timeout(std::time::Duration::from_secs(30))?;
        Ok(db)
    }

    /// Deletes versions that ended, change events observed, deleted resources that
    /// disappeared, outbox entries settled (delivered, dead, silenced, inhibited or dropped) and
    /// silences that ended, before `cutoff` — in batches, each its own short transaction, so
    /// polls are never blocked for long. Pending and in-flight outbox entries are always kept.
    /// Returns the number of rows removed.
    pub fn prune(&self, cutoff: DateTime<Utc>) -> Result<u64, Error> {
        const BATCH: usize = 5_000;
        let cutoff = now_text(cutoff);
        let statements = [
            "DELETE FROM resource_versions WHERE rowid IN (SELECT rowid FROM resource_versions WHERE valid_to IS NOT NULL AND valid_to < ?1 LIMIT ?2)",
            "DELETE FROM change_events WHERE seq IN (SELECT seq FROM change_events WHERE observed_at < ?1 LIMIT ?2)",
            "DELETE FROM resources WHERE rowid IN (SELECT rowid FROM resources WHERE deleted_at IS NOT NULL AND deleted_at < ?1 LIMIT ?2)",
            "DELETE FROM polls WHERE rowid IN (SELECT rowid FROM polls WHERE finished_at < ?1 LIMIT ?2)",
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE settled_at IS NOT NULL AND settled_at < ?1
               AND state IN ('delivered', 'dead', 'silenced', 'inhibited', 'dropped') LIMIT ?2)",
            "DELETE FROM notify_silences WHERE rowid IN (SELECT rowid FROM notify_silences WHERE ends_at < ?1 LIMIT ?2)",
            "DELETE FROM audit_events WHERE rowid IN (SELECT rowid FROM audit_events WHERE timestamp < ?1 LIMIT ?2)",
        ];
        let mut removed = 0u64;
        for sql in statements {
            loop {
                let db = self.writer()?;
                let n = db.execute(sql, rusqlite::params![cutoff, BATCH as i64])?;
                drop(db);
                removed += n as u64;
                if n < BATCH {
                    break;
                }
            }
        }
        Ok(removed)
    }
}
