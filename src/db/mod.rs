//! Storage (a driver): one sqlx `Any` pool over SQLite (the embedded default, WAL, created on
//! first start) or PostgreSQL (by URL), the same SQL on both. Queries use `$1, $2…`
//! placeholders in order of appearance, which both engines accept. Migrations live in
//! `migrations/sqlite` and `migrations/postgres` (DDL differs only in identity columns).
//!
//! Errors map to what a caller can act on: [`DbError::Unavailable`] (the database cannot be
//! reached now: the API answers 503 and the pool reconnects on the next request), a
//! constraint conflict, or a bug. A request that writes does so in one transaction.

pub mod backup;
pub mod filter;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    BadUrl(String),
    #[error("database error: {0}")]
    Other(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> DbError {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_) => DbError::Unavailable(e.to_string()),
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                DbError::Conflict(d.message().to_string())
            }
            // PostgreSQL shutting down or restarting (admin_shutdown, cannot_connect_now…).
            sqlx::Error::Database(d)
                if d.code()
                    .is_some_and(|c| c.starts_with("57P") || c.starts_with("08")) =>
            {
                DbError::Unavailable(d.message().to_string())
            }
            _ => DbError::Other(e),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// SQLite has one writer: write transactions queue here rather than in SQLite's busy
    /// handler, whose sleeps (up to 100 ms each) would ruin latency under load.
    write_gate: Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction: on SQLite it also holds the process's write gate.
pub struct WriteTx {
    pub tx: sqlx::Transaction<'static, sqlx::Any>,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), DbError> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl Db {
    /// Connect (creating a SQLite file and its directory when needed) and migrate.
    pub async fn open(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(DbError::BadUrl(url.to_string()));
        };
        let url = match backend {
            Backend::Sqlite => {
                let path = sqlite_path(url);
                if let Some(dir) = path.parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir).map_err(|e| {
                            DbError::Unavailable(format!("creating {}: {e}", dir.display()))
                        })?;
                    }
                }
                format!("sqlite://{}?mode=rwc", path.display())
            }
            Backend::Postgres => url.to_string(),
        };
        let options =
            AnyConnectOptions::from_str(&url).map_err(|_| DbError::BadUrl(url.clone()))?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(2))
            // A ping before each acquire is a round trip to sqlx's SQLite worker thread and
            // checks nothing a local file can lose; PostgreSQL keeps it (a server restart
            // leaves dead connections in the pool).
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let db = Db::from_pool(pool, backend);
        db.migrate().await?;
        Ok(db)
    }

    pub fn from_pool(pool: AnyPool, backend: Backend) -> Db {
        Db {
            pool,
            backend,
            write_gate: Arc::default(),
        }
    }

    /// Queue behind other writers (SQLite) for one statement run on the pool outside a
    /// transaction: a single autocommit statement is one round trip to the connection
    /// instead of three (BEGIN, the statement, COMMIT).
    pub async fn single_writer(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.backend {
            Backend::Sqlite => Some(Arc::clone(&self.write_gate).lock_owned().await),
            Backend::Postgres => None,
        }
    }

    /// Begin a write transaction (queued behind other writers on SQLite).
    pub async fn write(&self) -> Result<WriteTx, DbError> {
        let gate = match self.backend {
            Backend::Sqlite => Some(Arc::clone(&self.write_gate).lock_owned().await),
            Backend::Postgres => None,
        };
        Ok(WriteTx {
            tx: self.pool.begin().await?,
            _gate: gate,
        })
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// The newest migration this binary knows (restore refuses files newer than this).
    pub fn schema_version(&self) -> i64 {
        let m = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        m.iter().map(|m| m.version).max().unwrap_or(0)
    }
}

/// The file of a `sqlite://PATH[?options]` URL.
pub fn sqlite_path(url: &str) -> std::path::PathBuf {
    let p = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    std::path::PathBuf::from(p.split('?').next().unwrap_or(p))
}

/// Unix milliseconds, how times are stored.
pub fn millis(t: jiff::Timestamp) -> i64 {
    t.as_millisecond()
}

pub fn from_millis(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
pub mod testing {
    //! Run a test body against SQLite and, when `QONYRAU_TEST_PG_URL` is set (scripts/test.sh
    //! starts a throwaway cluster), PostgreSQL. Under CI=true a missing PostgreSQL fails.
    use super::*;

    pub async fn databases() -> Vec<(Db, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = Db::open(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .expect("open sqlite");
        let mut out = vec![(sqlite, Some(dir))];
        match std::env::var("QONYRAU_TEST_PG_URL") {
            Ok(url) => {
                // A fresh schema per test: a database per test name would be cleaner but
                // needs CREATE DATABASE rights; a random schema on the search path works too.
                let schema = format!("t{:016x}", rand::random::<u64>());
                let admin = Db::open_raw(&url)
                    .await
                    .expect("connect to the test PostgreSQL");
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&admin.pool)
                    .await
                    .expect("create schema");
                let sep = if url.contains('?') { '&' } else { '?' };
                let url = format!("{url}{sep}options=-csearch_path%3D{schema}");
                out.push((Db::open(&url).await.expect("open postgres"), None));
            }
            Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("QONYRAU_TEST_PG_URL is required under CI=true (scripts/test.sh starts PostgreSQL)")
            }
            Err(_) => eprintln!("note: QONYRAU_TEST_PG_URL unset; PostgreSQL part skipped"),
        }
        out
    }

    impl Db {
        async fn open_raw(url: &str) -> Result<Db, DbError> {
            sqlx::any::install_default_drivers();
            let pool = AnyPoolOptions::new()
                .max_connections(2)
                .connect(url)
                .await?;
            Ok(Db::from_pool(pool, Backend::Postgres))
        }
    }
}
