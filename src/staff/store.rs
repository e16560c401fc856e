//! Staff accounts in the database (a driver around the password policy): argon2id hashes,
//! a temporary password on reset that must be changed at first login, unlock. Used by
//! `qonyrau users …` now and by the login endpoint next.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use jiff::Timestamp;
use sqlx::Row;

use sqlx::any::AnyRow;

use crate::audit;
use crate::db::filter::{Filter, Page};
use crate::db::{from_millis, millis, Db, DbError};
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
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("the new password must differ from the current one")]
    SamePassword,
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

pub(crate) fn hash(password: &str) -> Result<String, StaffError> {
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

pub(crate) fn check_login(login: &str) -> Result<String, StaffError> {
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

/// A new account. `must_change`: the password is a temporary one handed over by an admin.
#[derive(Debug, Clone)]
pub struct NewStaff<'a> {
    pub login: &'a str,
    pub role: Role,
    pub language: Language,
    pub accessibility: bool,
    pub password: &'a str,
    pub must_change: bool,
}

pub async fn add(
    db: &Db,
    now: Timestamp,
    login: &str,
    role: Role,
    language: Language,
    password: &str,
) -> Result<(), StaffError> {
    let new = NewStaff {
        login,
        role,
        language,
        accessibility: false,
        password,
        must_change: false,
    };
    create(db, now, "cli", &new).await.map(|_| ())
}

pub async fn create(
    db: &Db,
    now: Timestamp,
    actor: &str,
    n: &NewStaff<'_>,
) -> Result<StaffMember, StaffError> {
    let login = check_login(n.login)?;
    let broken = password::check(n.password);
    if !broken.is_empty() {
        return Err(StaffError::WeakPassword(broken));
    }
    let hashed = hash_blocking(n.password.to_string()).await?;
    let mut tx = db.write().await?;
    let result = sqlx::query(
        "INSERT INTO staff (login, password_hash, role, language, accessibility, must_change_password, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(login.clone())
    .bind(hashed)
    .bind(n.role.as_str())
    .bind(n.language.as_str())
    .bind(i64::from(n.accessibility))
    .bind(i64::from(n.must_change))
    .bind(millis(now))
    .bind(millis(now))
    .execute(tx.conn())
    .await;
    if let Err(e) = result {
        return match StaffError::from(e) {
            StaffError::Exists(_) => Err(StaffError::Exists(login)),
            other => Err(other),
        };
    }
    audit::record(
        tx.conn(),
        now,
        actor,
        audit::Change::new("staff", &login, "create")
            .after(format!("role {} language {}", n.role, n.language)),
    )
    .await?;
    tx.commit().await?;
    get(db, &login).await
}

/// Hash off the async threads: argon2 takes tens of milliseconds by design.
pub(crate) async fn hash_blocking(password: String) -> Result<String, StaffError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|_| StaffError::Hash)?
}

/// A staff account as the API shows it (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StaffMember {
    pub login: String,
    pub role: Role,
    pub language: Language,
    pub accessibility: bool,
    pub active: bool,
    pub must_change_password: bool,
    /// Set while the login is locked after too many wrong passwords.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub locked_until: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

const MEMBER_COLUMNS: &str =
    "login, role, language, accessibility, active, must_change_password, locked_until, created_at";

fn member(r: &AnyRow) -> Result<StaffMember, sqlx::Error> {
    use crate::tickets::error::decode;
    Ok(StaffMember {
        login: r.try_get(0)?,
        role: decode(&r.try_get::<String, _>(1)?)?,
        language: decode(&r.try_get::<String, _>(2)?)?,
        accessibility: r.try_get::<i64, _>(3)? != 0,
        active: r.try_get::<i64, _>(4)? != 0,
        must_change_password: r.try_get::<i64, _>(5)? != 0,
        locked_until: r.try_get::<Option<i64>, _>(6)?.map(from_millis),
        created_at: from_millis(r.try_get(7)?),
    })
}

pub async fn get(db: &Db, login: &str) -> Result<StaffMember, StaffError> {
    let login = check_login(login).map_err(|_| StaffError::NotFound(login.to_string()))?;
    let row = sqlx::query(&format!(
        "SELECT {MEMBER_COLUMNS} FROM staff WHERE login = $1"
    ))
    .bind(login.clone())
    .fetch_optional(&db.pool)
    .await?
    .ok_or(StaffError::NotFound(login))?;
    Ok(member(&row)?)
}

pub async fn list(db: &Db, page: Page) -> Result<(Vec<StaffMember>, u64), StaffError> {
    Ok(Filter::default()
        .page(db, MEMBER_COLUMNS, "staff", "login", page, member)
        .await?)
}

#[derive(Debug, Clone, Default)]
pub struct StaffPatch {
    pub role: Option<Role>,
    pub language: Option<Language>,
    pub accessibility: Option<bool>,
    pub active: Option<bool>,
}

/// Change an account; a deactivated account loses its sessions at once.
pub async fn update(
    db: &Db,
    now: Timestamp,
    actor: &str,
    login: &str,
    p: &StaffPatch,
) -> Result<StaffMember, StaffError> {
    let old = get(db, login).await?;
    let mut new = old.clone();
    new.role = p.role.unwrap_or(old.role);
    new.language = p.language.unwrap_or(old.language);
    new.accessibility = p.accessibility.unwrap_or(old.accessibility);
    new.active = p.active.unwrap_or(old.active);
    let changes: Vec<(&str, String, String)> = [
        ("role", old.role.to_string(), new.role.to_string()),
        (
            "language",
            old.language.to_string(),
            new.language.to_string(),
        ),
        (
            "accessibility",
            old.accessibility.to_string(),
            new.accessibility.to_string(),
        ),
        ("active", old.active.to_string(), new.active.to_string()),
    ]
    .into_iter()
    .filter(|(_, b, a)| b != a)
    .collect();
    if changes.is_empty() {
        return Ok(old);
    }
    let mut tx = db.write().await?;
    sqlx::query("UPDATE staff SET role = $1, language = $2, accessibility = $3, active = $4, updated_at = $5 WHERE login = $6")
        .bind(new.role.as_str())
        .bind(new.language.as_str())
        .bind(i64::from(new.accessibility))
        .bind(i64::from(new.active))
        .bind(millis(now))
        .bind(old.login.clone())
        .execute(tx.conn())
        .await?;
    if !new.active {
        sqlx::query("DELETE FROM sessions WHERE login = $1")
            .bind(old.login.clone())
            .execute(tx.conn())
            .await?;
    }
    for (field, before, after) in changes {
        audit::record(
            tx.conn(),
            now,
            actor,
            audit::Change {
                entity: "staff",
                entity_id: &old.login,
                action: "update",
                field: Some(field),
                before: Some(before),
                after: Some(after),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(new)
}

async fn audited(
    db: &Db,
    now: Timestamp,
    actor: &str,
    login: &str,
    action: &str,
    sql: &str,
) -> Result<(), StaffError> {
    let mut tx = db.write().await?;
    let done = sqlx::query(sql)
        .bind(millis(now))
        .bind(login.to_string())
        .execute(tx.conn())
        .await?;
    if done.rows_affected() == 0 {
        return Err(StaffError::NotFound(login.to_string()));
    }
    audit::record(
        tx.conn(),
        now,
        actor,
        audit::Change::new("staff", login, action),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Issue a temporary password (returned once, to hand over) that must be changed at login;
/// also lifts a lock.
/// Ends the account's sessions: whoever knew the old password is logged out.
pub async fn reset(
    db: &Db,
    now: Timestamp,
    actor: &str,
    login: &str,
) -> Result<String, StaffError> {
    let login = check_login(login)?;
    let temporary = password::temporary(&mut rand::rng());
    let hashed = hash_blocking(temporary.clone()).await?;
    let mut tx = db.write().await?;
    let done = sqlx::query(
        "UPDATE staff SET password_hash = $1, must_change_password = 1, failed_count = 0, locked_until = NULL, updated_at = $2 WHERE login = $3",
    )
    .bind(hashed)
    .bind(millis(now))
    .bind(login.clone())
    .execute(tx.conn())
    .await?;
    if done.rows_affected() == 0 {
        return Err(StaffError::NotFound(login));
    }
    sqlx::query("DELETE FROM sessions WHERE login = $1")
        .bind(login.clone())
        .execute(tx.conn())
        .await?;
    audit::record(
        tx.conn(),
        now,
        actor,
        audit::Change::new("staff", &login, "reset_password"),
    )
    .await?;
    tx.commit().await?;
    Ok(temporary)
}

pub async fn unlock(db: &Db, now: Timestamp, actor: &str, login: &str) -> Result<(), StaffError> {
    let login = check_login(login)?;
    audited(
        db,
        now,
        actor,
        &login,
        "unlock",
        "UPDATE staff SET failed_count = 0, locked_until = NULL, updated_at = $1 WHERE login = $2",
    )
    .await
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
            let temporary = reset(&db, now(), "admin", "op1").await.unwrap();
            let (stored, must_change) = credentials(&db, "op1").await.unwrap().unwrap();
            assert!(verify(&temporary, &stored) && must_change);
            unlock(&db, now(), "admin", "op1").await.unwrap();
            assert!(matches!(
                unlock(&db, now(), "admin", "nobody").await,
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
