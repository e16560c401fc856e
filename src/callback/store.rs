//! Callback requests in the database (a driver): a caller waiting in a queue asks to be called
//! back, keeping their place (`entered_at`). The rows outlive a restart — the callback task
//! reloads the open ones with [`open`] — and every placing is logged in `callback_attempts`.
//!
//! The database itself keeps one open (`pending` or `placing`) request per number and queue
//! (a partial unique index): a second one is [`StoreError::Duplicate`], whichever process or
//! race wrote the first.

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::filter::{Arg, Filter};
use crate::db::{from_millis, millis, Db, DbError};

/// The states a request goes through (stored as these strings).
pub const STATES: [&str; 5] = ["pending", "placing", "completed", "failed", "closed"];
/// Why a request was closed.
pub const CLOSE_REASONS: [&str; 2] = ["served", "cancelled"];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The number already has an open request in this queue.
    #[error("an open callback request for this number and queue exists")]
    Duplicate,
    #[error("no callback request {0}")]
    NotFound(i64),
    /// A state or close reason this store does not know (nothing was written).
    #[error("{field}: unknown value {value:?}")]
    Invalid { field: &'static str, value: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        // The only unique constraint a write here can break, besides the generated id, is
        // `callbacks_one_open`; sqlx reports SQLite's SQLITE_CONSTRAINT_UNIQUE and
        // PostgreSQL's 23505 alike (`is_unique_violation`), which DbError maps to Conflict.
        match DbError::from(e) {
            DbError::Conflict(_) => StoreError::Duplicate,
            other => StoreError::Db(other),
        }
    }
}

/// One stored request, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CallbackRow {
    pub id: i64,
    pub queue: String,
    /// E.164.
    pub number: String,
    #[schema(value_type = String, format = DateTime)]
    pub requested_at: Timestamp,
    /// The caller's place in the queue (when they entered it, not when they asked).
    #[schema(value_type = String, format = DateTime)]
    pub entered_at: Timestamp,
    pub priority: i64,
    /// The earliest time it may be placed next.
    #[schema(value_type = String, format = DateTime)]
    pub due_at: Timestamp,
    /// The time the caller chose, if they chose one.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub chosen_at: Option<Timestamp>,
    /// `pending`, `placing`, `completed`, `failed` or `closed`.
    pub state: String,
    pub attempts: i64,
    /// `served` or `cancelled`, once closed.
    pub close_reason: Option<String>,
    pub ticket_id: Option<i64>,
    /// The SIP Call-ID of the call that asked.
    pub call_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// A new request; it starts `pending` with no attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCallback {
    pub queue: String,
    pub number: String,
    pub requested_at: Timestamp,
    pub entered_at: Timestamp,
    pub priority: i64,
    pub due_at: Timestamp,
    pub chosen_at: Option<Timestamp>,
    pub ticket_id: Option<i64>,
    pub call_id: Option<String>,
}

/// One placing of a request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AttemptRow {
    pub attempt: i64,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ended_at: Timestamp,
    /// The final SIP status, none when nothing answered.
    pub sip_status: Option<u16>,
    /// `answered`, `busy`, `no_answer`, `failed`, `rejected`…
    pub outcome: String,
}

const COLUMNS: &str = "id, queue, number, requested_at, entered_at, priority, due_at, chosen_at, \
     state, attempts, close_reason, ticket_id, call_id, updated_at";

fn row(r: &AnyRow) -> Result<CallbackRow, sqlx::Error> {
    Ok(CallbackRow {
        id: r.try_get(0)?,
        queue: r.try_get(1)?,
        number: r.try_get(2)?,
        requested_at: from_millis(r.try_get(3)?),
        entered_at: from_millis(r.try_get(4)?),
        priority: r.try_get(5)?,
        due_at: from_millis(r.try_get(6)?),
        chosen_at: r.try_get::<Option<i64>, _>(7)?.map(from_millis),
        state: r.try_get(8)?,
        attempts: r.try_get(9)?,
        close_reason: r.try_get(10)?,
        ticket_id: r.try_get(11)?,
        call_id: r.try_get(12)?,
        updated_at: from_millis(r.try_get(13)?),
    })
}

fn check(field: &'static str, value: &str, known: &[&str]) -> Result<(), StoreError> {
    if known.contains(&value) {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field,
            value: value.to_string(),
        })
    }
}

/// Store a new `pending` request; its id.
pub async fn insert(db: &Db, c: &NewCallback) -> Result<i64, StoreError> {
    let _gate = db.single_writer().await;
    let id: i64 = sqlx::query(
        "INSERT INTO callbacks (queue, number, requested_at, entered_at, priority, due_at, chosen_at, \
         state, attempts, close_reason, ticket_id, call_id, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, NULL, $8, $9, $10) RETURNING id",
    )
    .bind(&c.queue)
    .bind(&c.number)
    .bind(millis(c.requested_at))
    .bind(millis(c.entered_at))
    .bind(c.priority)
    .bind(millis(c.due_at))
    .bind(c.chosen_at.map(millis))
    .bind(c.ticket_id)
    .bind(c.call_id.as_deref())
    .bind(millis(c.requested_at))
    .fetch_one(&db.pool)
    .await?
    .try_get(0)?;
    Ok(id)
}

/// Move a request to `state` with its attempt count and next due time, at `now`. Reopening a
/// request (back to `pending`) while another is open for its number and queue is
/// [`StoreError::Duplicate`].
pub async fn update_state(
    db: &Db,
    id: i64,
    state: &str,
    attempts: i64,
    due_at: Timestamp,
    close_reason: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    check("state", state, &STATES)?;
    if let Some(reason) = close_reason {
        check("close_reason", reason, &CLOSE_REASONS)?;
    }
    let _gate = db.single_writer().await;
    let done = sqlx::query(
        "UPDATE callbacks SET state = $1, attempts = $2, due_at = $3, close_reason = $4, updated_at = $5 \
         WHERE id = $6",
    )
    .bind(state)
    .bind(attempts)
    .bind(millis(due_at))
    .bind(close_reason)
    .bind(millis(now))
    .bind(id)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(id));
    }
    Ok(())
}

/// Log one placing of request `id` (its `attempt`-th).
pub async fn record_attempt(
    db: &Db,
    id: i64,
    attempt: i64,
    started_at: Timestamp,
    ended_at: Timestamp,
    sip_status: Option<u16>,
    outcome: &str,
) -> Result<(), StoreError> {
    let _gate = db.single_writer().await;
    sqlx::query(
        "INSERT INTO callback_attempts (callback_id, attempt, started_at, ended_at, sip_status, outcome) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(attempt)
    .bind(millis(started_at))
    .bind(millis(ended_at))
    .bind(sip_status.map(i64::from))
    .bind(outcome)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The open requests (`pending` and `placing`) in queue order, for loading after a restart.
pub async fn open(db: &Db) -> Result<Vec<CallbackRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM callbacks WHERE state IN ('pending', 'placing') ORDER BY entered_at, id"
    ))
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
}

/// The open request of `number` in `queue`, if any.
pub async fn open_for(
    db: &Db,
    number: &str,
    queue: &str,
) -> Result<Option<CallbackRow>, StoreError> {
    let r = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM callbacks WHERE number = $1 AND queue = $2 AND state IN ('pending', 'placing')"
    ))
    .bind(number)
    .bind(queue)
    .fetch_optional(&db.pool)
    .await?;
    Ok(r.as_ref().map(row).transpose()?)
}

/// At most `limit` requests, newest first, of one queue and/or one state.
pub async fn list(
    db: &Db,
    queue: Option<&str>,
    state: Option<&str>,
    limit: i64,
) -> Result<Vec<CallbackRow>, StoreError> {
    let mut f = Filter::default();
    if let Some(q) = queue {
        f.and("queue = ?", [Arg::Text(q.to_string())]);
    }
    if let Some(s) = state {
        f.and("state = ?", [Arg::Text(s.to_string())]);
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM callbacks{} ORDER BY requested_at DESC, id DESC LIMIT ${}",
        f.sql(),
        f.next_placeholder()
    );
    let rows = f
        .bind(sqlx::query(&sql))
        .bind(limit.max(0))
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
}

pub async fn get(db: &Db, id: i64) -> Result<Option<CallbackRow>, StoreError> {
    let r = sqlx::query(&format!("SELECT {COLUMNS} FROM callbacks WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(r.as_ref().map(row).transpose()?)
}

/// The placings of request `id`, in order.
pub async fn attempts(db: &Db, id: i64) -> Result<Vec<AttemptRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT attempt, started_at, ended_at, sip_status, outcome FROM callback_attempts \
         WHERE callback_id = $1 ORDER BY attempt, id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    let attempts = rows
        .iter()
        .map(|r| -> Result<AttemptRow, sqlx::Error> {
            Ok(AttemptRow {
                attempt: r.try_get(0)?,
                started_at: from_millis(r.try_get(1)?),
                ended_at: from_millis(r.try_get(2)?),
                sip_status: r
                    .try_get::<Option<i64>, _>(3)?
                    .map(u16::try_from)
                    .transpose()
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                outcome: r.try_get(4)?,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(attempts)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::db::testing::databases;
    use crate::db::Backend;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn request(number: &str, queue: &str, entered: i64) -> NewCallback {
        NewCallback {
            queue: queue.into(),
            number: number.into(),
            requested_at: at(entered + 30),
            entered_at: at(entered),
            priority: 5,
            due_at: at(entered + 30),
            chosen_at: None,
            ticket_id: None,
            call_id: Some(format!("{number}-{queue}@qonyrau")),
        }
    }

    /// A real ticket to link to (the column references tickets).
    async fn a_ticket(db: &Db) -> i64 {
        use crate::contacts::store::NewContact;
        use crate::tickets::model::{Channel, Impact, ServiceLevel, TicketType, Urgency};
        use crate::tickets::store::{NewTicket, TicketDesk};
        let desk = TicketDesk::new(
            db.clone(),
            Arc::new(crate::calendar::testing::cal()),
            Arc::default(),
            Default::default(),
        );
        let t = NewTicket {
            kind: TicketType::Consultation,
            channel: Channel::Phone,
            subject: "Callback requested".into(),
            description: String::new(),
            impact: Impact::Low,
            urgency: Urgency::Low,
            service_level: ServiceLevel::Basic,
            criticality: None,
            complaint_category: None,
            department: None,
            contact: NewContact {
                phone: "+77011234567".into(),
                ..Default::default()
            },
        };
        desk.open(at(0), "system", t).await.expect("ticket").id
    }

    #[tokio::test]
    async fn a_request_is_stored_and_read_back() {
        for (db, _dir) in databases().await {
            let ticket = a_ticket(&db).await;
            let mut new = request("+77011234567", "support", 0);
            new.ticket_id = Some(ticket);
            new.chosen_at = Some(at(3600));
            new.priority = 2;
            let id = insert(&db, &new).await.unwrap();
            let got = get(&db, id).await.unwrap().expect("stored");
            assert_eq!(
                got,
                CallbackRow {
                    id,
                    queue: "support".into(),
                    number: "+77011234567".into(),
                    requested_at: at(30),
                    entered_at: at(0),
                    priority: 2,
                    due_at: at(30),
                    chosen_at: Some(at(3600)),
                    state: "pending".into(),
                    attempts: 0,
                    close_reason: None,
                    ticket_id: Some(ticket),
                    call_id: Some("+77011234567-support@qonyrau".into()),
                    updated_at: at(30),
                },
                "{:?}",
                db.backend
            );
            assert_eq!(get(&db, id + 1000).await.unwrap(), None);
            assert_eq!(
                open_for(&db, "+77011234567", "support")
                    .await
                    .unwrap()
                    .map(|r| r.id),
                Some(id)
            );
        }
    }

    #[tokio::test]
    async fn a_link_to_a_missing_ticket_is_refused() {
        for (db, _dir) in databases().await {
            let mut new = request("+77011234567", "support", 0);
            new.ticket_id = Some(999_999);
            let e = insert(&db, &new).await.unwrap_err();
            assert!(matches!(e, StoreError::Db(_)), "{:?}: {e:?}", db.backend);
        }
    }

    #[tokio::test]
    async fn a_second_open_request_is_refused_until_the_first_ends() {
        for (db, _dir) in databases().await {
            let b = db.backend;
            let first = insert(&db, &request("+77011234567", "support", 0))
                .await
                .unwrap();
            let again = insert(&db, &request("+77011234567", "support", 10)).await;
            assert!(
                matches!(again, Err(StoreError::Duplicate)),
                "{b:?}: {again:?}"
            );
            // Another queue or another number is another request.
            insert(&db, &request("+77011234567", "sales", 0))
                .await
                .unwrap();
            insert(&db, &request("+77017654321", "support", 0))
                .await
                .unwrap();
            // Still open while it is being placed.
            update_state(&db, first, "placing", 1, at(40), None, at(40))
                .await
                .unwrap();
            let again = insert(&db, &request("+77011234567", "support", 10)).await;
            assert!(
                matches!(again, Err(StoreError::Duplicate)),
                "{b:?}: {again:?}"
            );

            // Completed: a new one may be asked for.
            update_state(&db, first, "completed", 1, at(40), None, at(50))
                .await
                .unwrap();
            let second = insert(&db, &request("+77011234567", "support", 100))
                .await
                .unwrap();
            // Closed (cancelled): likewise.
            update_state(
                &db,
                second,
                "closed",
                0,
                at(130),
                Some("cancelled"),
                at(140),
            )
            .await
            .unwrap();
            let third = insert(&db, &request("+77011234567", "support", 200))
                .await
                .unwrap();
            // Reopening an ended one while another is open is a duplicate too.
            let reopen = update_state(&db, first, "pending", 1, at(300), None, at(300)).await;
            assert!(
                matches!(reopen, Err(StoreError::Duplicate)),
                "{b:?}: {reopen:?}"
            );

            let ended = get(&db, second).await.unwrap().unwrap();
            assert_eq!(
                (ended.state.as_str(), ended.close_reason.as_deref()),
                ("closed", Some("cancelled"))
            );
            assert_eq!(ended.updated_at, at(140));
            assert_ne!(third, second);
        }
    }

    #[tokio::test]
    async fn unknown_states_and_missing_requests_are_refused() {
        for (db, _dir) in databases().await {
            let id = insert(&db, &request("+77011234567", "support", 0))
                .await
                .unwrap();
            let e = update_state(&db, id, "lost", 0, at(0), None, at(0)).await;
            assert!(matches!(e, Err(StoreError::Invalid { field: "state", .. })));
            let e = update_state(&db, id, "closed", 0, at(0), Some("bored"), at(0)).await;
            assert!(matches!(
                e,
                Err(StoreError::Invalid {
                    field: "close_reason",
                    ..
                })
            ));
            let e = update_state(&db, id + 1000, "closed", 0, at(0), None, at(0)).await;
            assert!(matches!(e, Err(StoreError::NotFound(_))), "{e:?}");
            assert_eq!(get(&db, id).await.unwrap().unwrap().state, "pending");
        }
    }

    #[tokio::test]
    async fn attempts_are_recorded_in_order() {
        for (db, _dir) in databases().await {
            let id = insert(&db, &request("+77011234567", "support", 0))
                .await
                .unwrap();
            let other = insert(&db, &request("+77017654321", "support", 0))
                .await
                .unwrap();
            record_attempt(&db, id, 1, at(100), at(130), Some(486), "busy")
                .await
                .unwrap();
            record_attempt(&db, other, 1, at(100), at(160), None, "no_answer")
                .await
                .unwrap();
            record_attempt(&db, id, 2, at(400), at(460), None, "no_answer")
                .await
                .unwrap();
            record_attempt(&db, id, 3, at(700), at(705), Some(200), "answered")
                .await
                .unwrap();
            let got = attempts(&db, id).await.unwrap();
            assert_eq!(
                got.iter()
                    .map(|a| (a.attempt, a.sip_status, a.outcome.as_str()))
                    .collect::<Vec<_>>(),
                [
                    (1, Some(486), "busy"),
                    (2, None, "no_answer"),
                    (3, Some(200), "answered")
                ],
                "{:?}",
                db.backend
            );
            assert_eq!((got[1].started_at, got[1].ended_at), (at(400), at(460)));
            assert_eq!(attempts(&db, other).await.unwrap().len(), 1);
            assert!(attempts(&db, id + 1000).await.unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn open_requests_survive_a_restart_in_queue_order() {
        for (db, dir) in databases().await {
            // Asked in one order, entered the queue in another: the queue order wins.
            let late = insert(&db, &request("+77010000001", "support", 50))
                .await
                .unwrap();
            let early = insert(&db, &request("+77010000002", "support", 10))
                .await
                .unwrap();
            let done = insert(&db, &request("+77010000003", "support", 0))
                .await
                .unwrap();
            let placing = insert(&db, &request("+77010000004", "sales", 20))
                .await
                .unwrap();
            record_attempt(&db, early, 1, at(60), at(90), Some(486), "busy")
                .await
                .unwrap();
            update_state(&db, early, "pending", 1, at(390), None, at(90))
                .await
                .unwrap();
            update_state(&db, done, "completed", 1, at(60), Some("served"), at(70))
                .await
                .unwrap();
            update_state(&db, placing, "placing", 2, at(80), None, at(80))
                .await
                .unwrap();

            // "Restart": a new pool on the same SQLite file; PostgreSQL keeps its schema, so
            // reading through the same pool after the writes is the same check there.
            let again = match (db.backend, &dir) {
                (Backend::Sqlite, Some(dir)) => {
                    db.pool.close().await;
                    Db::open(&format!("sqlite://{}/t.db", dir.path().display()))
                        .await
                        .unwrap()
                }
                _ => db.clone(),
            };
            let rows = open(&again).await.unwrap();
            assert_eq!(
                rows.iter()
                    .map(|r| (r.id, r.state.as_str(), r.attempts, r.due_at))
                    .collect::<Vec<_>>(),
                [
                    (early, "pending", 1, at(390)),
                    (placing, "placing", 2, at(80)),
                    (late, "pending", 0, at(80)),
                ],
                "{:?}",
                db.backend
            );
            assert_eq!(attempts(&again, early).await.unwrap().len(), 1);
        }
    }

    #[tokio::test]
    async fn lists_filter_by_queue_and_state_newest_first() {
        for (db, _dir) in databases().await {
            let a = insert(&db, &request("+77010000001", "support", 0))
                .await
                .unwrap();
            let b = insert(&db, &request("+77010000002", "support", 10))
                .await
                .unwrap();
            let c = insert(&db, &request("+77010000003", "sales", 20))
                .await
                .unwrap();
            update_state(&db, a, "failed", 3, at(0), None, at(900))
                .await
                .unwrap();
            let ids = |rows: Vec<CallbackRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
            assert_eq!(ids(list(&db, None, None, 10).await.unwrap()), [c, b, a]);
            assert_eq!(ids(list(&db, None, None, 2).await.unwrap()), [c, b]);
            assert_eq!(
                ids(list(&db, Some("support"), None, 10).await.unwrap()),
                [b, a]
            );
            assert_eq!(
                ids(list(&db, None, Some("pending"), 10).await.unwrap()),
                [c, b]
            );
            assert_eq!(
                ids(list(&db, Some("support"), Some("failed"), 10)
                    .await
                    .unwrap()),
                [a]
            );
            assert!(list(&db, Some("billing"), None, 10)
                .await
                .unwrap()
                .is_empty());
        }
    }
}
