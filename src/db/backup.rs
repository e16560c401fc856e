//! `qonyrau db backup FILE` and `db restore FILE` (MISSION §6: admins restore the database
//! after tampering). SQLite: `VACUUM INTO` makes a consistent copy while the server runs;
//! restore checks the copy's schema version and swaps the file in. PostgreSQL: `pg_dump` /
//! `pg_restore` in custom format, with the same schema check. A backup from a newer schema
//! than this binary knows is refused: restoring it would leave tables this binary misreads.

use std::path::{Path, PathBuf};

use sqlx::Row;
use tokio::process::Command;

use crate::db::{sqlite_path, Backend, Db, DbError};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{file}: schema version {found} is newer than this qonyrau's {known}; upgrade qonyrau first")]
    NewerSchema {
        file: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{file}: not a Qonyrau backup ({why})")]
    NotABackup { file: PathBuf, why: String },
    #[error("{0} exists; remove it or choose another name")]
    Exists(PathBuf),
    #[error("{tool} failed: {why}")]
    Tool { tool: &'static str, why: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        BackupError::Db(e.into())
    }
}

/// The highest applied migration of a database.
async fn applied_version(db: &Db) -> Result<i64, BackupError> {
    let row =
        sqlx::query("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_one(&db.pool)
            .await?;
    Ok(row.try_get(0)?)
}

pub async fn backup(db: &Db, url: &str, file: &Path) -> Result<(), BackupError> {
    if file.exists() {
        return Err(BackupError::Exists(file.to_path_buf()));
    }
    match db.backend {
        Backend::Sqlite => {
            let target = file.to_string_lossy().replace('\'', "''");
            sqlx::query(&format!("VACUUM INTO '{target}'"))
                .execute(&db.pool)
                .await?;
        }
        Backend::Postgres => {
            run(
                "pg_dump",
                &[
                    "--format=custom",
                    "--no-owner",
                    "--file",
                    &file.to_string_lossy(),
                    url,
                ],
            )
            .await?
        }
    }
    Ok(())
}

pub async fn restore(db: &Db, url: &str, file: &Path) -> Result<(), BackupError> {
    let known = db.schema_version();
    match db.backend {
        Backend::Sqlite => {
            let copy =
                Db::open_existing_sqlite(file)
                    .await
                    .map_err(|e| BackupError::NotABackup {
                        file: file.to_path_buf(),
                        why: e.to_string(),
                    })?;
            let found = applied_version(&copy)
                .await
                .map_err(|e| BackupError::NotABackup {
                    file: file.to_path_buf(),
                    why: e.to_string(),
                })?;
            copy.pool.close().await;
            if found > known {
                return Err(BackupError::NewerSchema {
                    file: file.to_path_buf(),
                    found,
                    known,
                });
            }
            let live = sqlite_path(url);
            db.pool.close().await;
            // Replace the database and drop WAL side files of the old one.
            tokio::fs::copy(file, &live).await?;
            for ext in ["-wal", "-shm"] {
                let _ = tokio::fs::remove_file(format!("{}{ext}", live.display())).await;
            }
            let reopened = Db::open(url).await?; // applies migrations newer than the backup
            reopened.pool.close().await;
        }
        Backend::Postgres => {
            // Read the dump's migration table first: a refused restore must leave the live
            // database as it was.
            let found = dump_version(file).await?;
            if found > known {
                return Err(BackupError::NewerSchema {
                    file: file.to_path_buf(),
                    found,
                    known,
                });
            }
            run(
                "pg_restore",
                &[
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--dbname",
                    url,
                    &file.to_string_lossy(),
                ],
            )
            .await?;
            db.migrate().await?;
        }
    }
    Ok(())
}

/// The highest successful migration recorded in a `pg_dump --format=custom` file, read with
/// `pg_restore --data-only --table=_sqlx_migrations --file=-` (its COPY block, tab-separated,
/// columns version, description, installed_on, success, …).
async fn dump_version(file: &Path) -> Result<i64, BackupError> {
    let not_a_backup = |why: String| BackupError::NotABackup {
        file: file.to_path_buf(),
        why,
    };
    let out = Command::new("pg_restore")
        .args(["--data-only", "--table=_sqlx_migrations", "--file=-"])
        .arg(file)
        .output()
        .await
        .map_err(|e| BackupError::Tool {
            tool: "pg_restore",
            why: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(not_a_backup(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    match migration_version(&String::from_utf8_lossy(&out.stdout)) {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(not_a_backup("no migration table in the dump".into())),
        Err(row) => Err(not_a_backup(format!("bad migration row {row:?}"))),
    }
}

/// The highest successful version in the `_sqlx_migrations` COPY block of a SQL script;
/// `Err` names a row that cannot be read.
fn migration_version(script: &str) -> Result<Option<i64>, String> {
    let rows = script
        .lines()
        .skip_while(|l| !l.starts_with("COPY ") || !l.contains("_sqlx_migrations"))
        .skip(1)
        .take_while(|l| *l != "\\.");
    let mut found = None;
    for row in rows {
        let cols: Vec<&str> = row.split('\t').collect();
        if cols.get(3) == Some(&"t") {
            let v: i64 = cols[0].parse().map_err(|_| row.to_string())?;
            found = found.max(Some(v));
        }
    }
    Ok(found)
}

async fn run(tool: &'static str, args: &[&str]) -> Result<(), BackupError> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .await
        .map_err(|e| BackupError::Tool {
            tool,
            why: e.to_string(),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BackupError::Tool {
            tool,
            why: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

impl Db {
    /// Open a SQLite file read-write without creating or migrating it.
    async fn open_existing_sqlite(path: &Path) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        if !path.exists() {
            return Err(DbError::BadUrl(path.display().to_string()));
        }
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}?mode=ro", path.display()))
            .await?;
        Ok(Db::from_pool(pool, Backend::Sqlite))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open(dir: &Path) -> (Db, String) {
        let url = format!("sqlite://{}/live.db", dir.display());
        (Db::open(&url).await.unwrap(), url)
    }

    async fn contacts(db: &Db) -> i64 {
        sqlx::query("SELECT COUNT(*) FROM contacts")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get(0)
    }

    async fn add_contact(db: &Db) {
        sqlx::query("INSERT INTO contacts (phone, created_at) VALUES ('+77010000000', 0)")
            .execute(&db.pool)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_sqlite_backup_restores_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let (db, url) = open(dir.path()).await;
        add_contact(&db).await;
        let file = dir.path().join("backup.db");
        backup(&db, &url, &file).await.unwrap();
        add_contact(&db).await; // tampering after the backup
        assert_eq!(contacts(&db).await, 2);
        restore(&db, &url, &file).await.unwrap();
        let db = Db::open(&url).await.unwrap();
        assert_eq!(contacts(&db).await, 1);
        assert!(
            matches!(backup(&db, &url, &file).await, Err(BackupError::Exists(_))),
            "never overwrite a backup"
        );
    }

    #[tokio::test]
    async fn a_backup_from_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (db, url) = open(dir.path()).await;
        let file = dir.path().join("future.db");
        backup(&db, &url, &file).await.unwrap();
        {
            let future = Db::open(&format!("sqlite://{}", file.display()))
                .await
                .unwrap();
            sqlx::query("INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) VALUES (99990101000000, 'future', '2030-01-01', TRUE, X'00', 0)")
                .execute(&future.pool)
                .await
                .unwrap();
            future.pool.close().await;
        }
        let err = restore(&db, &url, &file).await.unwrap_err();
        assert!(
            matches!(
                err,
                BackupError::NewerSchema {
                    found: 99990101000000,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("is newer than this qonyrau's"),
            "{err}"
        );
    }

    #[test]
    fn the_migration_version_is_read_from_a_dump_script() {
        let script = "SET x = 1;\n\
            COPY public._sqlx_migrations (version, description, installed_on, success, checksum, execution_time) FROM stdin;\n\
            1\tservice desk\t2026-11-23 06:00:00+00\tt\t\\\\x00\t5\n\
            99999\tfuture\t2026-11-23 06:00:00+00\tt\t\\\\x00\t0\n\
            100000\tfailed\t2026-11-23 06:00:00+00\tf\t\\\\x00\t0\n\
            \\.\n\
            COPY public.other (a) FROM stdin;\n7\tx\tx\tt\n\\.\n";
        assert_eq!(migration_version(script), Ok(Some(99999)));
        assert_eq!(migration_version("SET x = 1;\n"), Ok(None));
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_backup_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (db, url) = open(dir.path()).await;
        let file = dir.path().join("junk.db");
        std::fs::write(&file, b"not a database").unwrap();
        assert!(matches!(
            restore(&db, &url, &file).await,
            Err(BackupError::NotABackup { .. })
        ));
    }
}
