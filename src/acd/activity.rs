//! The agent activity log (a driver): every state change, pause reason and missed offer
//! the ACD reports, written to the database by a task of its own so the ACD never waits on
//! it. A full queue or a dead database loses log lines (counted in
//! `qonyrau_agent_activity_lost_total`), never calls.

use jiff::Timestamp;
use sqlx::Row;
use tokio::sync::mpsc;

use crate::db::{from_millis, millis, Db, DbError};

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ActivityLine {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub extension: String,
    /// The state left and the state entered (the API's names).
    pub from: String,
    pub to: String,
    /// Why: `login`, `logout`, `pause: lunch`, `missed offer`…
    pub reason: String,
}

/// The sending side, for the ACD task.
#[derive(Clone, Debug)]
pub struct ActivityLog {
    tx: mpsc::Sender<ActivityLine>,
}

impl ActivityLog {
    /// The log and its writer task (spawn `writer`).
    pub fn new(db: Db) -> (ActivityLog, impl std::future::Future<Output = ()>) {
        let (tx, mut rx) = mpsc::channel::<ActivityLine>(4096);
        let writer = async move {
            while let Some(line) = rx.recv().await {
                if let Err(e) = insert(&db, &line).await {
                    tracing::warn!(error = %e, "agent activity not written");
                    metrics::counter!(crate::telemetry::AGENT_ACTIVITY_LOST).increment(1);
                }
            }
        };
        (ActivityLog { tx }, writer)
    }

    pub fn record(&self, line: ActivityLine) {
        if self.tx.try_send(line).is_err() {
            metrics::counter!(crate::telemetry::AGENT_ACTIVITY_LOST).increment(1);
        }
    }
}

async fn insert(db: &Db, line: &ActivityLine) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO agent_activity (at, extension, from_state, to_state, reason) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(millis(line.at))
    .bind(&line.extension)
    .bind(&line.from)
    .bind(&line.to)
    .bind(&line.reason)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The newest `limit` lines of one extension, newest first.
pub async fn of_extension(
    db: &Db,
    extension: &str,
    limit: i64,
) -> Result<Vec<ActivityLine>, DbError> {
    let rows = sqlx::query(
        "SELECT at, extension, from_state, to_state, reason FROM agent_activity WHERE extension = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(extension)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(ActivityLine {
                at: from_millis(r.try_get(0)?),
                extension: r.try_get(1)?,
                from: r.try_get(2)?,
                to: r.try_get(3)?,
                reason: r.try_get(4)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::databases;

    #[tokio::test]
    async fn lines_are_written_and_read_back_newest_first() {
        for (db, _dir) in databases().await {
            let (log, writer) = ActivityLog::new(db.clone());
            let task = tokio::spawn(writer);
            for (s, to, reason) in [(1, "available", "login"), (2, "paused", "pause: lunch")] {
                log.record(ActivityLine {
                    at: Timestamp::from_second(1_800_000_000 + s).unwrap(),
                    extension: "2001".into(),
                    from: "logged_out".into(),
                    to: to.into(),
                    reason: reason.into(),
                });
            }
            drop(log);
            task.await.unwrap();
            let lines = of_extension(&db, "2001", 10).await.unwrap();
            assert_eq!(
                lines.iter().map(|l| l.reason.as_str()).collect::<Vec<_>>(),
                ["pause: lunch", "login"]
            );
            assert!(of_extension(&db, "2002", 10).await.unwrap().is_empty());
        }
    }
}
