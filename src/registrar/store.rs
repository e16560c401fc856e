//! SIP accounts and registrations in the database (a driver): the extension and digest HA1
//! values of a staff member, the SIP lock, and each extension's bindings, so a restart
//! keeps them. SQLite and PostgreSQL alike (`sqlx::Any`).

use std::net::SocketAddr;

use jiff::Timestamp;
use sqlx::Row;

use crate::audit;
use crate::db::{from_millis, millis, Db, DbError};
use crate::registrar::core::SipAccount;
use crate::sip::digest::{ha1, Algorithm};
use crate::sip::registrar::{Binding, Reach};
use crate::staff::lockout::LoginLock;

#[derive(Debug, thiserror::Error)]
pub enum SipAccountError {
    #[error("extension must be 2-15 digits")]
    BadExtension,
    #[error("the SIP password must be 8-128 characters")]
    WeakPassword,
    #[error("no staff member {0}")]
    NoStaff(String),
    #[error("extension {0} belongs to another staff member")]
    Taken(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for SipAccountError {
    fn from(e: sqlx::Error) -> Self {
        SipAccountError::Db(DbError::from(e))
    }
}

pub fn check_extension(ext: &str) -> Result<(), SipAccountError> {
    if (2..=15).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(SipAccountError::BadExtension)
    }
}

/// Give `login` the extension `ext` with this SIP password (stored as HA1 values only);
/// replaces the member's previous extension and lifts any SIP lock. Audited.
pub async fn set_account(
    db: &Db,
    now: Timestamp,
    actor: &str,
    login: &str,
    ext: &str,
    realm: &str,
    password: &str,
) -> Result<(), SipAccountError> {
    check_extension(ext)?;
    if !(8..=128).contains(&password.chars().count()) {
        return Err(SipAccountError::WeakPassword);
    }
    let login = login.trim().to_lowercase();
    let mut tx = db.write().await?;
    let exists = sqlx::query("SELECT 1 FROM staff WHERE login = $1")
        .bind(login.clone())
        .fetch_optional(tx.conn())
        .await?;
    if exists.is_none() {
        return Err(SipAccountError::NoStaff(login));
    }
    let owner = sqlx::query("SELECT login FROM sip_accounts WHERE extension = $1")
        .bind(ext.to_string())
        .fetch_optional(tx.conn())
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?;
    if owner.as_deref().is_some_and(|o| o != login) {
        return Err(SipAccountError::Taken(ext.to_string()));
    }
    let previous = sqlx::query("SELECT extension FROM sip_accounts WHERE login = $1")
        .bind(login.clone())
        .fetch_optional(tx.conn())
        .await?
        .map(|r| r.try_get::<String, _>(0))
        .transpose()?;
    if let Some(prev) = previous.as_deref().filter(|p| *p != ext) {
        sqlx::query("DELETE FROM sip_registrations WHERE extension = $1")
            .bind(prev.to_string())
            .execute(tx.conn())
            .await?;
        sqlx::query("DELETE FROM sip_accounts WHERE extension = $1")
            .bind(prev.to_string())
            .execute(tx.conn())
            .await?;
    }
    let md5 = ha1(Algorithm::Md5, ext, realm, password);
    let sha = ha1(Algorithm::Sha256, ext, realm, password);
    if previous.as_deref() == Some(ext) {
        sqlx::query("UPDATE sip_accounts SET realm = $1, ha1_md5 = $2, ha1_sha256 = $3, failed_count = 0, locked_until = NULL, updated_at = $4 WHERE extension = $5")
            .bind(realm.to_string())
            .bind(md5)
            .bind(sha)
            .bind(millis(now))
            .bind(ext.to_string())
            .execute(tx.conn())
            .await?;
    } else {
        sqlx::query("INSERT INTO sip_accounts (extension, login, realm, ha1_md5, ha1_sha256, updated_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(ext.to_string())
            .bind(login.clone())
            .bind(realm.to_string())
            .bind(md5)
            .bind(sha)
            .bind(millis(now))
            .execute(tx.conn())
            .await?;
    }
    audit::record(
        tx.conn(),
        now,
        actor,
        audit::Change {
            entity: "staff",
            entity_id: &login,
            action: "sip_account",
            field: Some("sip_extension"),
            before: previous,
            after: Some(ext.to_string()),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The account of an extension, if any. An account made under another realm cannot
/// authenticate (its HA1 values hash the old realm) and is reported as absent.
pub async fn account(db: &Db, ext: &str, realm: &str) -> Result<Option<SipAccount>, DbError> {
    let row = sqlx::query("SELECT extension, login, realm, ha1_md5, ha1_sha256, failed_count, locked_until FROM sip_accounts WHERE extension = $1")
        .bind(ext.to_string())
        .fetch_optional(&db.pool)
        .await?;
    let Some(r) = row else { return Ok(None) };
    let acct = SipAccount {
        extension: r.try_get(0)?,
        login: r.try_get(1)?,
        realm: r.try_get(2)?,
        ha1_md5: r.try_get(3)?,
        ha1_sha256: r.try_get(4)?,
        lock: LoginLock {
            failures: r.try_get::<i64, _>(5)? as u32,
            locked_until: r.try_get::<Option<i64>, _>(6)?.map(from_millis),
        },
    };
    if acct.realm != realm {
        tracing::warn!(extension = %ext, realm = %acct.realm, configured = %realm, "SIP account made under another realm; set its password again");
        return Ok(None);
    }
    Ok(Some(acct))
}

/// Save the SIP lock; `locked` audits that this change locked the extension.
pub async fn save_lock(
    db: &Db,
    now: Timestamp,
    acct: &SipAccount,
    locked: bool,
) -> Result<(), DbError> {
    let mut tx = db.write().await?;
    sqlx::query(
        "UPDATE sip_accounts SET failed_count = $1, locked_until = $2 WHERE extension = $3",
    )
    .bind(i64::from(acct.lock.failures))
    .bind(acct.lock.locked_until.map(millis))
    .bind(acct.extension.clone())
    .execute(tx.conn())
    .await?;
    if locked {
        let until = acct
            .lock
            .locked_until
            .map(|t| t.to_string())
            .unwrap_or_default();
        audit::record(
            tx.conn(),
            now,
            "sip-registrar",
            audit::Change::new("staff", &acct.login, "sip_locked").after(until),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Lift the SIP lock of `login`'s extension (with `users unlock`). `true` if one was held.
pub async fn unlock(db: &Db, now: Timestamp, actor: &str, login: &str) -> Result<bool, DbError> {
    let mut tx = db.write().await?;
    let done = sqlx::query("UPDATE sip_accounts SET failed_count = 0, locked_until = NULL, updated_at = $1 WHERE login = $2 AND (locked_until IS NOT NULL OR failed_count > 0)")
        .bind(millis(now))
        .bind(login.trim().to_lowercase())
        .execute(tx.conn())
        .await?;
    let lifted = done.rows_affected() > 0;
    if lifted {
        audit::record(
            tx.conn(),
            now,
            actor,
            audit::Change::new("staff", login, "sip_unlock"),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(lifted)
}

/// `login`'s extension and SIP lock, for `users` and the staff API.
pub async fn extension_of(
    db: &Db,
    login: &str,
) -> Result<Option<(String, Option<Timestamp>)>, DbError> {
    let row = sqlx::query("SELECT extension, locked_until FROM sip_accounts WHERE login = $1")
        .bind(login.trim().to_lowercase())
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| {
        Ok((
            r.try_get::<String, _>(0)?,
            r.try_get::<Option<i64>, _>(1)?.map(from_millis),
        ))
    })
    .transpose()
    .map_err(|e: sqlx::Error| DbError::from(e))
}

/// Make `bindings` (the registrar core's complete new set) the extension's bindings, given
/// `before` (what the location cache held): contacts that left are deleted, the rest are
/// upserted, in one transaction. A refresh is one statement.
pub async fn replace_bindings(
    db: &Db,
    ext: &str,
    before: &[Binding],
    bindings: &[Binding],
) -> Result<(), DbError> {
    let gone: Vec<&Binding> = before
        .iter()
        .filter(|b| !bindings.iter().any(|n| n.contact == b.contact))
        .collect();
    if gone.is_empty() && bindings.len() == 1 {
        // A refresh (the common case): one autocommit statement.
        let _gate = db.single_writer().await;
        upsert(&db.pool, ext, &bindings[0]).await?;
        return Ok(());
    }
    let mut tx = db.write().await?;
    for b in gone {
        sqlx::query("DELETE FROM sip_registrations WHERE extension = $1 AND contact = $2")
            .bind(ext.to_string())
            .bind(b.contact.clone())
            .execute(tx.conn())
            .await?;
    }
    for b in bindings {
        upsert(tx.conn(), ext, b).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn upsert<'c, E>(exec: E, ext: &str, b: &Binding) -> Result<(), DbError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let (source, conn) = match b.reach {
        Reach::Udp(a) => (a, None),
        Reach::Tcp { source, conn } => (source, Some(conn as i64)),
    };
    sqlx::query(
            "INSERT INTO sip_registrations (extension, contact, expires_at, call_id, cseq, transport, source, conn, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (extension, contact) DO UPDATE SET expires_at = excluded.expires_at, call_id = excluded.call_id, \
             cseq = excluded.cseq, transport = excluded.transport, source = excluded.source, conn = excluded.conn, \
             user_agent = excluded.user_agent",
        )
        .bind(ext.to_string())
        .bind(b.contact.clone())
        .bind(millis(b.expires_at))
        .bind(b.call_id.clone())
        .bind(i64::from(b.cseq))
        .bind(b.reach.transport())
        .bind(source.to_string())
        .bind(conn)
        .bind(b.user_agent.clone())
        .execute(exec)
        .await?;
    Ok(())
}

/// Every unexpired binding, by extension (the location cache at start-up).
pub async fn all_bindings(db: &Db, now: Timestamp) -> Result<Vec<(String, Binding)>, DbError> {
    let rows = sqlx::query("SELECT extension, contact, expires_at, call_id, cseq, transport, source, conn, user_agent FROM sip_registrations WHERE expires_at > $1 ORDER BY extension, contact")
        .bind(millis(now))
        .fetch_all(&db.pool)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let source: String = r.try_get(6)?;
        let Ok(source) = source.parse::<SocketAddr>() else {
            continue;
        };
        let transport: String = r.try_get(5)?;
        let reach = match (transport.as_str(), r.try_get::<Option<i64>, _>(7)?) {
            ("tcp", Some(conn)) => Reach::Tcp {
                source,
                conn: conn as u64,
            },
            _ => Reach::Udp(source),
        };
        out.push((
            r.try_get(0)?,
            Binding {
                contact: r.try_get(1)?,
                expires_at: from_millis(r.try_get(2)?),
                call_id: r.try_get(3)?,
                cseq: r.try_get::<i64, _>(4)? as u32,
                reach,
                user_agent: r.try_get(8)?,
            },
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)]
    use super::*;
    use crate::db::testing::databases;
    use crate::staff::{store as staff, Language, Role};

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[tokio::test]
    async fn accounts_store_ha1_only_and_bindings_survive_a_reopen() {
        for (db, _dir) in databases().await {
            staff::add(
                &db,
                now(),
                "op1",
                Role::Operator,
                Language::En,
                "Operator2026!",
            )
            .await
            .unwrap();
            set_account(&db, now(), "cli", "op1", "2001", "qonyrau", "sip-secret-1")
                .await
                .unwrap();
            let acct = account(&db, "2001", "qonyrau").await.unwrap().unwrap();
            assert_eq!(
                acct.ha1_md5,
                ha1(Algorithm::Md5, "2001", "qonyrau", "sip-secret-1")
            );
            let dump: Vec<String> =
                sqlx::query("SELECT ha1_md5 || ha1_sha256 || realm FROM sip_accounts")
                    .fetch_all(&db.pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.try_get::<String, _>(0).unwrap())
                    .collect();
            assert!(
                !dump.concat().contains("sip-secret-1"),
                "never the password in clear"
            );
            assert!(account(&db, "2001", "other-realm").await.unwrap().is_none());
            let b = Binding {
                contact: "sip:2001@127.0.0.1:25090".into(),
                expires_at: Timestamp::from_second(1_800_000_600).unwrap(),
                call_id: "c".into(),
                cseq: 2,
                reach: Reach::Tcp {
                    source: "127.0.0.1:40000".parse().unwrap(),
                    conn: 7,
                },
                user_agent: Some("baresip".into()),
            };
            replace_bindings(&db, "2001", &[], std::slice::from_ref(&b))
                .await
                .unwrap();
            assert_eq!(
                all_bindings(&db, now()).await.unwrap(),
                vec![("2001".to_string(), b.clone())]
            );
            // A refresh updates in place; a contact that left is deleted.
            let mut refreshed = b.clone();
            refreshed.cseq = 3;
            let other = Binding {
                contact: "sip:2001@127.0.0.1:25092".into(),
                ..b.clone()
            };
            let both = [refreshed.clone(), other];
            replace_bindings(&db, "2001", std::slice::from_ref(&b), &both)
                .await
                .unwrap();
            assert_eq!(all_bindings(&db, now()).await.unwrap().len(), 2);
            replace_bindings(&db, "2001", &both, std::slice::from_ref(&refreshed))
                .await
                .unwrap();
            assert_eq!(
                all_bindings(&db, now()).await.unwrap(),
                vec![("2001".to_string(), refreshed)]
            );
            let later = Timestamp::from_second(1_800_000_601).unwrap();
            assert!(
                all_bindings(&db, later).await.unwrap().is_empty(),
                "expired ones are not loaded"
            );
            // Another member cannot take the extension.
            staff::add(
                &db,
                now(),
                "op2",
                Role::Operator,
                Language::En,
                "Operator2026!",
            )
            .await
            .unwrap();
            let e = set_account(&db, now(), "cli", "op2", "2001", "qonyrau", "sip-secret-2").await;
            assert!(matches!(e, Err(SipAccountError::Taken(_))));
        }
    }

    #[tokio::test]
    async fn a_sip_lock_is_saved_and_lifted_by_unlock() {
        for (db, _dir) in databases().await {
            staff::add(
                &db,
                now(),
                "op1",
                Role::Operator,
                Language::En,
                "Operator2026!",
            )
            .await
            .unwrap();
            set_account(&db, now(), "cli", "op1", "2001", "qonyrau", "sip-secret-1")
                .await
                .unwrap();
            let mut acct = account(&db, "2001", "qonyrau").await.unwrap().unwrap();
            acct.lock = LoginLock {
                failures: 5,
                locked_until: Some(Timestamp::from_second(1_800_000_600).unwrap()),
            };
            save_lock(&db, now(), &acct, true).await.unwrap();
            let again = account(&db, "2001", "qonyrau").await.unwrap().unwrap();
            assert_eq!(again.lock, acct.lock);
            assert!(unlock(&db, now(), "cli", "op1").await.unwrap());
            let again = account(&db, "2001", "qonyrau").await.unwrap().unwrap();
            assert_eq!(again.lock, LoginLock::default());
            assert!(
                !unlock(&db, now(), "cli", "op1").await.unwrap(),
                "nothing left to lift"
            );
        }
    }
}
