//! Staff accounts in the database (a driver around the password policy): argon2id hashes,
//! a temporary password on reset that must be changed at first login, unlock. Used by
//! `qonyrau users …` now and by the login endpoint next.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use jiff::Timestamp;
use sqlx::Row;

use crate::db::{millis, Db, DbError};
use crate::staff::password::{self, PasswordRule};
use crate::staff::{Language, Role};

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("login must be 3-64 letters, digits, '.', '_' or '-'")]
    BadLogin,
    #[error("the password breaks the policy: {}", .0.iter().map(|r| r.message(Language::En)).collect::<Vec<_>>().join(" "))]
    WeakPassword(Vec<PasswordRule>),
    #[error("staff member {0} already exists")]
    Exists(String),
    #[error("no staff member {0}")]
    NotFound(String),
    #[error("password hashing failed")]
    Hash,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for StaffError {
    fn from(e: sqlx::Error) -> Self {
        match DbError::from(e) {
            DbError::Conflict(_) => StaffError::Exists(String::new()),
            other => StaffError::Db(other),
        }
    }
}

fn hash(password: &str) -> Result<String, StaffError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| StaffError::Hash)
}

/// Constant-time check of a password against a stored PHC hash.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

fn check_login(login: &str) -> Result<String, StaffError> {
    let l = login.trim().to_lowercase();
    let ok = (3..=64).contains(&l.chars().count())
        && l.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(l)
    } else {
        Err(StaffError::BadLogin)
    }
}

pub async fn add(
    db: &Db,
    now: Timestamp,
    login: &str,
    role: Role,
    language: Language,
    password: &str,
) -> Result<(), StaffError> {
    let login = check_login(login)?;
    let broken = password::check(password);
    if !broken.is_empty() {
        return Err(StaffError::WeakPassword(broken));
    }
    let result = sqlx::query(
        "INSERT INTO staff (login, password_hash, role, language, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(login.clone())
    .bind(hash(password)?)
    .bind(role.as_str())
    .bind(language.as_str())
    .bind(millis(now))
    .bind(millis(now))
    .execute(&db.pool)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) => match StaffError::from(e) {
            StaffError::Exists(_) => Err(StaffError::Exists(login)),
            other => Err(other),
        },
    }
}

/// Issue a temporary password (returned once, to hand over) that must be changed at login;
/// also lifts a lock.
pub async fn reset(db: &Db, now: Timestamp, login: &str) -> Result<String, StaffError> {
    let login = check_login(login)?;
    let temporary = password::temporary(&mut rand::rng());
    let done = sqlx::query(
        "UPDATE staff SET password_hash = $1, must_change_password = 1, failed_count = 0, locked_until = NULL, updated_at = $2 WHERE login = $3",
    )
    .bind(hash(&temporary)?)
    .bind(millis(now))
    .bind(login.clone())
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StaffError::NotFound(login));
    }
    Ok(temporary)
}

pub async fn unlock(db: &Db, now: Timestamp, login: &str) -> Result<(), StaffError> {
    let login = check_login(login)?;
    let done = sqlx::query(
        "UPDATE staff SET failed_count = 0, locked_until = NULL, updated_at = $1 WHERE login = $2",
    )
    .bind(millis(now))
    .bind(login.clone())
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StaffError::NotFound(login));
    }
    Ok(())
}

/// The stored hash and whether a change is due (for the login endpoint and tests).
pub async fn credentials(db: &Db, login: &str) -> Result<Option<(String, bool)>, StaffError> {
    let login = check_login(login)?;
    let row = sqlx::query("SELECT password_hash, must_change_password FROM staff WHERE login = $1")
        .bind(login)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1) != 0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::databases;

    fn now() -> Timestamp {
        "2026-11-23T07:00:00Z".parse().unwrap()
    }

    #[tokio::test]
    async fn add_verify_reset_and_unlock() {
        for (db, _dir) in databases().await {
            add(
                &db,
                now(),
                "Op1",
                Role::Operator,
                Language::Kk,
                "Qonyrau2026",
            )
            .await
            .unwrap();
            let (stored, must_change) = credentials(&db, "op1").await.unwrap().unwrap();
            assert!(stored.starts_with("$argon2id$"), "{stored}");
            assert!(verify("Qonyrau2026", &stored));
            assert!(!verify("qonyrau2026", &stored));
            assert!(!must_change);
            let temporary = reset(&db, now(), "op1").await.unwrap();
            let (stored, must_change) = credentials(&db, "op1").await.unwrap().unwrap();
            assert!(verify(&temporary, &stored) && must_change);
            unlock(&db, now(), "op1").await.unwrap();
            assert!(matches!(
                unlock(&db, now(), "nobody").await,
                Err(StaffError::NotFound(_))
            ));
        }
    }

    #[tokio::test]
    async fn weak_passwords_duplicates_and_bad_logins_are_refused() {
        for (db, _dir) in databases().await {
            let err = add(&db, now(), "op2", Role::Operator, Language::En, "short")
                .await
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                "the password breaks the policy: The password must have at least 8 characters. The password needs an upper-case letter. The password needs a digit."
            );
            add(
                &db,
                now(),
                "op2",
                Role::Operator,
                Language::En,
                "Qonyrau2026",
            )
            .await
            .unwrap();
            let err = add(&db, now(), "OP2", Role::Admin, Language::En, "Qonyrau2026")
                .await
                .unwrap_err();
            assert_eq!(err.to_string(), "staff member op2 already exists");
            assert!(matches!(
                add(
                    &db,
                    now(),
                    "a b",
                    Role::Operator,
                    Language::En,
                    "Qonyrau2026"
                )
                .await,
                Err(StaffError::BadLogin)
            ));
        }
    }
}
