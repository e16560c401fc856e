//! Opening and reading tickets in the database (a driver around the ticket cores).
//!
//! Opening a ticket is one transaction: allocate the registration number, find or create the
//! contact, insert the ticket with its priority and SLA deadlines, write the audit row. The
//! number is allocated *first* — an upsert on the year's counter row — so concurrent
//! openings queue on that row (PostgreSQL row lock, SQLite write lock) and a rolled-back
//! opening gives its number back: numbers are unique and gap-free per year.

use std::sync::Arc;

use jiff::Timestamp;
use sqlx::Row;

use crate::audit;
use crate::calendar::{CalendarError, WorkCalendar};
use crate::contacts::store::{self as contacts, NewContact};
use crate::db::{millis, Db};
use crate::tickets::complaint::ComplaintCategory;
use crate::tickets::error::invalid;
pub use crate::tickets::error::StoreError;
use crate::tickets::model::{
    Channel, Criticality, Impact, Priority, ServiceLevel, Status, TicketType, Urgency,
};
use crate::tickets::priority::PriorityMatrix;
use crate::tickets::query::{summary_from_row, Ticket, SUMMARY_COLUMNS};
use crate::tickets::sla::{deadlines, Deadlines, SlaPolicy};

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub kind: TicketType,
    pub channel: Channel,
    pub subject: String,
    pub description: String,
    pub impact: Impact,
    pub urgency: Urgency,
    pub service_level: ServiceLevel,
    pub criticality: Option<Criticality>,
    pub complaint_category: Option<ComplaintCategory>,
    pub department: Option<String>,
    pub contact: NewContact,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub id: i64,
    pub number: String,
    pub priority: Priority,
    pub status: Status,
    pub deadlines: Deadlines,
    /// The stored ticket, as `get` would return it (read back in the same transaction).
    pub ticket: Ticket,
}

pub const TICKET_OPENED: &str = "qonyrau_tickets_opened_total"; // {type, channel}

/// The registration number: `QN-2026-000123`.
pub fn format_number(year: i16, seq: i64) -> String {
    format!("QN-{year}-{seq:06}")
}

/// The service desk's tickets: a handle the API and the SLA job share (cheap to clone).
#[derive(Clone, Debug)]
pub struct TicketDesk {
    pub db: Db,
    pub calendar: Arc<WorkCalendar>,
    pub matrix: Arc<PriorityMatrix>,
    pub policy: SlaPolicy,
}

/// Subject 1–200 characters.
pub fn check_subject(subject: &str) -> Result<String, StoreError> {
    let subject = subject.trim();
    if subject.is_empty() {
        return Err(invalid("subject", "must not be empty"));
    }
    if subject.chars().count() > 200 {
        return Err(invalid("subject", "must be at most 200 characters"));
    }
    Ok(subject.to_string())
}

pub fn check_description(description: &str) -> Result<String, StoreError> {
    if description.chars().count() > 20_000 {
        return Err(invalid("description", "must be at most 20000 characters"));
    }
    Ok(description.to_string())
}

/// Department and ETA texts, 1–200 characters or none.
pub fn check_short(field: &'static str, s: Option<String>) -> Result<Option<String>, StoreError> {
    let s = s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if s.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err(invalid(field, "must be at most 200 characters"));
    }
    Ok(s)
}

impl TicketDesk {
    pub fn new(
        db: Db,
        calendar: Arc<WorkCalendar>,
        matrix: Arc<PriorityMatrix>,
        policy: SlaPolicy,
    ) -> TicketDesk {
        TicketDesk {
            db,
            calendar,
            matrix,
            policy,
        }
    }

    fn validate(mut t: NewTicket) -> Result<NewTicket, StoreError> {
        t.subject = check_subject(&t.subject)?;
        t.description = check_description(&t.description)?;
        t.department = check_short("department", t.department)?;
        t.contact = t.contact.validated(true)?;
        match (t.kind, t.criticality) {
            (TicketType::Incident, _) | (_, None) => {}
            (_, Some(_)) => return Err(invalid("criticality", "is only for incidents")),
        }
        if t.complaint_category.is_some() && t.kind != TicketType::Complaint {
            return Err(invalid("complaint_category", "is only for complaints"));
        }
        Ok(t)
    }

    /// Open a ticket at `now` on behalf of `actor` (a staff login or `system`).
    pub async fn open(
        &self,
        now: Timestamp,
        actor: &str,
        t: NewTicket,
    ) -> Result<Opened, StoreError> {
        let t = Self::validate(t)?;
        let priority = self.matrix.priority(t.impact, t.urgency);
        let deadlines = deadlines(
            &self.calendar,
            &self.policy,
            now,
            t.service_level,
            t.kind,
            t.criticality,
        )?;
        let year = now
            .to_zoned(
                jiff::tz::TimeZone::get("Asia/Almaty")
                    .map_err(|_| CalendarError::TimeZone("Asia/Almaty".into()))?,
            )
            .year();
        let at = millis(now);
        let mut tx = self.db.write().await?;
        let seq: i64 = sqlx::query(
            "INSERT INTO ticket_counters (year, last) VALUES ($1, 1) \
             ON CONFLICT (year) DO UPDATE SET last = ticket_counters.last + 1 RETURNING last",
        )
        .bind(i64::from(year))
        .fetch_one(tx.conn())
        .await?
        .try_get(0)?;
        let number = format_number(year, seq);
        let contact = contacts::find_or_insert(tx.conn(), now, actor, &t.contact).await?;
        let row = sqlx::query(&format!(
            "INSERT INTO tickets (number, year, seq, kind, channel, subject, description, impact, urgency, priority, \
             service_level, criticality, status, contact_id, created_at, updated_at, first_response_due, resolve_due, \
             fix_earliest, fix_due, review_due, complaint_category, department) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) RETURNING {SUMMARY_COLUMNS}",
        ))
        .bind(number.clone())
        .bind(i64::from(year))
        .bind(seq)
        .bind(t.kind.as_str())
        .bind(t.channel.as_str())
        .bind(t.subject)
        .bind(t.description)
        .bind(t.impact.as_str())
        .bind(t.urgency.as_str())
        .bind(i64::from(priority.get()))
        .bind(t.service_level.as_str())
        .bind(t.criticality.map(|c| c.as_str()))
        .bind(Status::New.as_str())
        .bind(contact.id)
        .bind(at)
        .bind(at)
        .bind(millis(deadlines.first_response_due))
        .bind(millis(deadlines.resolve_due))
        .bind(deadlines.fix.map(|f| millis(f.earliest)))
        .bind(deadlines.fix.map(|f| millis(f.due)))
        .bind(deadlines.review_due.map(millis))
        .bind(t.complaint_category.map(|c| c.as_str()))
        .bind(t.department)
        .fetch_one(tx.conn())
        .await?;
        let summary = summary_from_row(&row)?;
        audit::record(
            tx.conn(),
            now,
            actor,
            audit::Change::new("ticket", &number, "open").after(format!(
                "{} {} priority {}",
                t.kind,
                t.channel,
                priority.get()
            )),
        )
        .await?;
        tx.commit().await?;
        metrics::counter!(TICKET_OPENED, "type" => t.kind.as_str(), "channel" => t.channel.as_str())
            .increment(1);
        Ok(Opened {
            id: summary.id,
            number,
            priority,
            status: Status::New,
            deadlines,
            ticket: Ticket {
                summary,
                contact: Some(contact),
                escalations: Vec::new(),
                notes: Vec::new(),
                links: Vec::new(),
            },
        })
    }

    /// Registration numbers of a year, in order (for checks and reports).
    pub async fn numbers(&self, year: i16) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT number FROM tickets WHERE year = $1 ORDER BY seq")
            .bind(i64::from(year))
            .fetch_all(&self.db.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(StoreError::from))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::testing::cal as calendar;
    use crate::db::testing::databases;

    fn ticket(n: usize) -> NewTicket {
        NewTicket {
            kind: TicketType::Incident,
            channel: Channel::Phone,
            subject: format!("Portal login fails #{n}"),
            description: "The procurement portal rejects the signature".into(),
            impact: Impact::Medium,
            urgency: Urgency::High,
            service_level: ServiceLevel::Basic,
            criticality: Some(Criticality::Level2),
            complaint_category: None,
            department: None,
            contact: NewContact {
                name: Some("Айгерім Сейтқали".into()),
                phone: format!("+7701{n:07}"),
                ..Default::default()
            },
        }
    }

    pub(crate) fn desk(db: &Db) -> TicketDesk {
        TicketDesk::new(
            db.clone(),
            Arc::new(calendar()),
            Arc::new(PriorityMatrix::default()),
            SlaPolicy::default(),
        )
    }

    fn now() -> Timestamp {
        "2026-11-23T07:00:00Z".parse().unwrap() // 12:00 in Astana
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_tickets_from_fifty_clients_get_consecutive_numbers() {
        for (db, _dir) in databases().await {
            let shared = desk(&db);
            let mut tasks = tokio::task::JoinSet::new();
            for client in 0..50 {
                let desk = shared.clone();
                tasks.spawn(async move {
                    for i in 0..20 {
                        desk.open(now(), "test", ticket(client * 20 + i))
                            .await
                            .expect("open");
                    }
                });
            }
            while let Some(r) = tasks.join_next().await {
                r.unwrap();
            }
            let numbers = shared.numbers(2026).await.unwrap();
            let expected: Vec<String> = (1..=1000).map(|s| format_number(2026, s)).collect();
            assert_eq!(numbers, expected, "{:?}", db.backend);
        }
    }

    #[tokio::test]
    async fn an_opened_ticket_has_its_priority_deadlines_and_audit_row() {
        for (db, _dir) in databases().await {
            let desk = desk(&db);
            let opened = desk.open(now(), "op1", ticket(1)).await.unwrap();
            assert_eq!(opened.number, "QN-2026-000001");
            assert_eq!(opened.priority.get(), 2);
            assert_eq!(
                opened.deadlines.first_response_due.to_string(),
                "2026-11-24T07:00:00Z"
            );
            let audit: (String, String) = {
                let r = sqlx::query("SELECT actor, after FROM audit_log WHERE entity_id = $1")
                    .bind("QN-2026-000001")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
                (r.get(0), r.get(1))
            };
            assert_eq!(
                audit,
                ("op1".to_string(), "incident phone priority 2".to_string())
            );
        }
    }

    #[tokio::test]
    async fn a_bad_request_writes_nothing_and_uses_no_number() {
        for (db, _dir) in databases().await {
            let desk = desk(&db);
            let mut bad = ticket(1);
            bad.contact.iin = Some("900101300125".into());
            let err = desk.open(now(), "op1", bad).await.unwrap_err();
            assert_eq!(err.to_string(), "contact.iin: check digit does not match");
            let mut bad = ticket(2);
            bad.kind = TicketType::Consultation; // criticality on a consultation
            assert!(matches!(
                desk.open(now(), "op1", bad).await,
                Err(StoreError::Invalid {
                    field: "criticality",
                    ..
                })
            ));
            let ok = desk.open(now(), "op1", ticket(3)).await.unwrap();
            assert_eq!(
                ok.number, "QN-2026-000001",
                "no number was consumed by the refusals"
            );
            let contacts: i64 = sqlx::query("SELECT COUNT(*) FROM contacts")
                .fetch_one(&db.pool)
                .await
                .unwrap()
                .get(0);
            assert_eq!(contacts, 1);
        }
    }
}
