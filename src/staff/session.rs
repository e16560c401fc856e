//! Logging in and API sessions (a driver around [`crate::staff::lockout`]): the per-login
//! lock is kept in the account's row (so it survives restarts and holds on every node), the
//! per-source throttle in memory. A session is a random token the client keeps (bearer
//! header or cookie); only its SHA-256 is stored, so a copy of the database logs nobody in.

use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use jiff::Timestamp;

use crate::clock::after;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::audit;
use crate::db::{from_millis, millis, Db};
use crate::staff::lockout::{Access, LockoutPolicy, LoginLock, SourceThrottle};
use crate::staff::password;
use crate::staff::store::{check_login, hash_blocking, verify, StaffError};
use crate::staff::{Language, Role};
use crate::tickets::error::decode;

pub const LOGIN_FAILURES: &str = "qonyrau_login_failures_total"; // {reason}
pub const LOGIN_LOCKOUTS: &str = "qonyrau_login_lockouts_total";

/// Who a valid session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub login: String,
    pub role: Role,
    pub language: Language,
    pub must_change_password: bool,
    pub expires_at: Timestamp,
}

#[derive(Debug)]
pub enum LoginOutcome {
    Started { token: String, session: SessionInfo },
    BadCredentials,
    Locked { until: Timestamp },
    Throttled { until: Timestamp },
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// A hash no password matches, verified against for unknown logins so that they take as
/// long as known ones (no login enumeration by timing).
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| crate::staff::store::hash(&new_token()).unwrap_or_default())
}

/// Check a password off the async threads (argon2 takes tens of milliseconds by design);
/// `None` checks against the decoy, which is itself made there on first use.
async fn verify_blocking(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify(&password, &stored),
        None => verify(&password, decoy_hash()),
    })
    .await
    .unwrap_or(false)
}

/// The login desk: policy, the in-memory source throttle, session lifetime.
#[derive(Debug)]
pub struct Logins {
    pub policy: LockoutPolicy,
    pub ttl: Duration,
    throttle: Mutex<SourceThrottle>,
}

impl Logins {
    pub fn new(policy: LockoutPolicy, ttl: Duration) -> Logins {
        Logins {
            policy,
            ttl,
            throttle: Mutex::new(SourceThrottle::new(policy)),
        }
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, SourceThrottle> {
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn failed(&self, now: Timestamp, source: IpAddr, reason: &'static str) {
        let mut t = self.throttle();
        t.fail(now, source);
        if t.tracked() > 10_000 {
            t.prune(now);
        }
        metrics::counter!(LOGIN_FAILURES, "reason" => reason).increment(1);
    }

    pub async fn login(
        &self,
        db: &Db,
        now: Timestamp,
        login: &str,
        password: &str,
        source: IpAddr,
    ) -> Result<LoginOutcome, StaffError> {
        if let Access::Throttled { until } = self.throttle().check(now, source) {
            metrics::counter!(LOGIN_FAILURES, "reason" => "throttled").increment(1);
            return Ok(LoginOutcome::Throttled { until });
        }
        let Ok(login) = check_login(login) else {
            self.failed(now, source, "unknown_login");
            return Ok(LoginOutcome::BadCredentials);
        };
        let row = sqlx::query(
            "SELECT password_hash, role, language, must_change_password, failed_count, locked_until, active \
             FROM staff WHERE login = $1",
        )
        .bind(login.clone())
        .fetch_optional(&db.pool)
        .await
        ?;
        let Some(row) = row.filter(|r| r.try_get::<i64, _>(6).unwrap_or(0) != 0) else {
            verify_blocking(password.to_string(), None).await;
            self.failed(now, source, "unknown_login");
            return Ok(LoginOutcome::BadCredentials);
        };
        let stored: String = row.try_get(0)?;
        let mut lock = LoginLock {
            failures: u32::try_from(row.try_get::<i64, _>(4)?).unwrap_or(0),
            locked_until: row.try_get::<Option<i64>, _>(5)?.map(from_millis),
        };
        if let Access::Locked { until } = lock.check(now) {
            metrics::counter!(LOGIN_FAILURES, "reason" => "locked").increment(1);
            return Ok(LoginOutcome::Locked { until });
        }
        if !verify_blocking(password.to_string(), Some(stored)).await {
            let locked = lock.fail(now, &self.policy);
            let mut tx = db.write().await?;
            sqlx::query("UPDATE staff SET failed_count = $1, locked_until = $2 WHERE login = $3")
                .bind(i64::from(lock.failures))
                .bind(lock.locked_until.map(millis))
                .bind(login.clone())
                .execute(tx.conn())
                .await?;
            if let Some(until) = locked {
                audit::record(
                    tx.conn(),
                    now,
                    "system",
                    audit::Change::new("staff", &login, "lock").after(until.to_string()),
                )
                .await?;
            }
            tx.commit().await?;
            self.failed(now, source, "bad_password");
            return Ok(match locked {
                Some(until) => {
                    metrics::counter!(LOGIN_LOCKOUTS).increment(1);
                    LoginOutcome::Locked { until }
                }
                None => LoginOutcome::BadCredentials,
            });
        }
        let token = new_token();
        let expires_at = after(now, self.ttl);
        let mut tx = db.write().await?;
        sqlx::query("UPDATE staff SET failed_count = 0, locked_until = NULL WHERE login = $1")
            .bind(login.clone())
            .execute(tx.conn())
            .await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(millis(now))
            .execute(tx.conn())
            .await?;
        sqlx::query("INSERT INTO sessions (token_hash, login, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash(&token))
            .bind(login.clone())
            .bind(millis(now))
            .bind(millis(expires_at))
            .execute(tx.conn())
            .await
            ?;
        audit::record(
            tx.conn(),
            now,
            &login,
            audit::Change::new("session", &login, "login").after(source.to_string()),
        )
        .await?;
        tx.commit().await?;
        let session = SessionInfo {
            login,
            role: decode(&row.try_get::<String, _>(1)?)?,
            language: decode(&row.try_get::<String, _>(2)?)?,
            must_change_password: row.try_get::<i64, _>(3)? != 0,
            expires_at,
        };
        Ok(LoginOutcome::Started { token, session })
    }
}

/// The session a token names, if it is valid at `now` and its account active.
pub async fn lookup(
    db: &Db,
    token: &str,
    now: Timestamp,
) -> Result<Option<SessionInfo>, StaffError> {
    let row = sqlx::query(
        "SELECT s.login, st.role, st.language, st.must_change_password, s.expires_at FROM sessions s \
         JOIN staff st ON st.login = s.login WHERE s.token_hash = $1 AND s.expires_at > $2 AND st.active = 1",
    )
    .bind(token_hash(token))
    .bind(millis(now))
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(SessionInfo {
        login: r.try_get(0)?,
        role: decode(&r.try_get::<String, _>(1)?)?,
        language: decode(&r.try_get::<String, _>(2)?)?,
        must_change_password: r.try_get::<i64, _>(3)? != 0,
        expires_at: from_millis(r.try_get(4)?),
    }))
}

pub async fn logout(db: &Db, now: Timestamp, token: &str, login: &str) -> Result<(), StaffError> {
    let mut tx = db.write().await?;
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(tx.conn())
        .await?;
    audit::record(
        tx.conn(),
        now,
        login,
        audit::Change::new("session", login, "logout"),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Change one's own password (required after a reset); other sessions end.
pub async fn change_password(
    db: &Db,
    now: Timestamp,
    login: &str,
    current: &str,
    new: &str,
    keep_token: &str,
) -> Result<(), StaffError> {
    let broken = password::check(new);
    if !broken.is_empty() {
        return Err(StaffError::WeakPassword(broken));
    }
    if current == new {
        return Err(StaffError::SamePassword);
    }
    let stored: String = sqlx::query("SELECT password_hash FROM staff WHERE login = $1")
        .bind(login.to_string())
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| StaffError::NotFound(login.to_string()))?
        .try_get(0)?;
    if !verify_blocking(current.to_string(), Some(stored)).await {
        return Err(StaffError::WrongPassword);
    }
    let hashed = hash_blocking(new.to_string()).await?;
    let mut tx = db.write().await?;
    sqlx::query("UPDATE staff SET password_hash = $1, must_change_password = 0, updated_at = $2 WHERE login = $3")
        .bind(hashed)
        .bind(millis(now))
        .bind(login.to_string())
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM sessions WHERE login = $1 AND token_hash <> $2")
        .bind(login.to_string())
        .bind(token_hash(keep_token))
        .execute(tx.conn())
        .await?;
    audit::record(
        tx.conn(),
        now,
        login,
        audit::Change::new("staff", login, "change_password"),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
