//! The database: one [`Store`] over SQLite (default) or PostgreSQL (`DATABASE_URL=postgres://...`),
//! with migrations applied at connect.
//!
//! sqlx's `Any` driver keeps one code path for both databases; the SQL is kept portable (TEXT ids,
//! BIGINT Unix-millisecond times, `$n` placeholders, which SQLite also accepts).
//! Every query on tenant data takes a [`TenantId`], so a handler cannot forget the tenant filter.

mod keys;
mod tenants;

pub use keys::StoredKey;
pub use tenants::Tenant;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::AnyPool;

/// Database errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be reached or a query failed.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row that should exist does not.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A stored value could not be decoded.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The database folder could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The folder.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The engine behind a connection (or a transaction on one).
    pub fn of(conn: &sqlx::AnyConnection) -> Backend {
        if conn.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    /// `(..), (..)`: `rows` groups of `width` bind parameters each, taking the values in the
    /// order they are bound. Numbered (`$1`) on PostgreSQL; anonymous (`?`) on SQLite, where
    /// binding a numbered parameter looks its name up in a list of every parameter, which made
    /// binding a statement of many rows quadratic in its size.
    pub fn value_rows(self, rows: usize, width: usize) -> String {
        (0..rows)
            .map(|r| {
                let params: Vec<String> = (1..=width)
                    .map(|c| match self {
                        Backend::Sqlite => "?".to_owned(),
                        Backend::Postgres => format!("${}", r * width + c),
                    })
                    .collect();
                format!("({})", params.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A tenant's id: the only way store functions accept to scope tenant data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TenantId(pub String);

/// Connection pool plus the engine it talks to.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connects to `url` (creating an SQLite file and its folder if needed) and applies migrations.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        if backend == Backend::Sqlite {
            create_sqlite_folder(url)?;
        }
        let mut options = AnyPoolOptions::new();
        if backend == Backend::Sqlite {
            // Why: SQLite copies the write-ahead log back into the database inside the commit
            // that grows it past 1000 pages, so every few hundred orders one group of them waited
            // for that copy and its sync (most of order creation's p99); the copy runs in the
            // background instead (`checkpoints`). The setting is per connection.
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(conn, "PRAGMA wal_autocheckpoint = 0").await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .connect(url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers run while a writer commits, which the server's concurrent requests need.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
            tokio::spawn(checkpoints(pool.clone()));
        }
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, backend })
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for domain modules that keep their own tables (orders).
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later cannot wait
    /// for another writer (SQLite answers "database is locked" at once, as its snapshot would be
    /// stale), while one that starts as a writer waits its turn in the busy handler.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, Error> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Checks that the database answers (used by `/readyz`).
    pub async fn ping(&self) -> Result<(), Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// How often the SQLite write-ahead log is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Checkpoints the SQLite write-ahead log every [`CHECKPOINT_EVERY`] until the pool closes.
/// PASSIVE copies what no reader still needs without waiting for anyone, so writers and readers
/// carry on meanwhile; what it leaves, the next round takes.
async fn checkpoints(pool: AnyPool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(%error, "checkpointing the SQLite write-ahead log failed");
        }
    }
}

fn create_sqlite_folder(url: &str) -> Result<(), Error> {
    let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            path: parent.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// A new row id: a time-ordered UUID (version 7).
///
/// Why not random (version 4): every index on an id, or on columns led by one, then receives
/// its new entries at its end, so a commit of many rows dirties a few index pages instead of a
/// random page per row; with SQLite each dirty page is written to the log at every commit.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T, Error>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    use sqlx::Row;
    Ok(row.try_get(col)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_sqlite_log_is_checkpointed_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wal.db");
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .unwrap();
        let autocheckpoint: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(autocheckpoint, 0, "commits must not checkpoint");
        // 5 MB in one commit: past SQLite's own 1000-page threshold, in the log only until the
        // background checkpoint copies it into the database file.
        sqlx::query("CREATE TABLE filler (b BLOB)")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
             INSERT INTO filler SELECT randomblob(1000) FROM n",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let deadline = std::time::Instant::now() + 5 * CHECKPOINT_EVERY;
        loop {
            let size = std::fs::metadata(&file).unwrap().len();
            if size >= 5_000_000 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "database file still {size} bytes"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        store.close().await;
    }
}
