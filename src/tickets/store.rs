//! Opening and reading tickets in the database (a driver around the ticket cores).
//!
//! Opening a ticket is one transaction: allocate the registration number, find or create the
//! contact, insert the ticket with its priority and SLA deadlines, write the audit row. The
//! number is allocated *first* — an upsert on the year's counter row — so concurrent
//! openings queue on that row (PostgreSQL row lock, SQLite write lock) and a rolled-back
//! opening gives its number back: numbers are unique and gap-free per year.

use jiff::Timestamp;
use sqlx::Row;

use crate::calendar::{CalendarError, WorkCalendar};
use crate::contacts::ident::{Bin, IdentError, Iin};
use crate::db::{millis, Db, DbError};
use crate::tickets::model::{
    Channel, Criticality, Impact, Priority, ServiceLevel, Status, TicketType, Urgency,
};
use crate::tickets::priority::PriorityMatrix;
use crate::tickets::sla::{deadlines, Deadlines, SlaPolicy};

#[derive(Debug, Clone)]
pub struct NewContact {
    pub name: Option<String>,
    pub phone: String,
    pub iin: Option<String>,
    pub organisation: Option<String>,
    pub bin: Option<String>,
}

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
    pub contact: NewContact,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub id: i64,
    pub number: String,
    pub priority: Priority,
    pub status: Status,
    pub deadlines: Deadlines,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A field is wrong; nothing was written.
    #[error("{field}: {why}")]
    Invalid { field: &'static str, why: String },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        StoreError::Db(e.into())
    }
}

fn invalid(field: &'static str, why: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field,
        why: why.into(),
    }
}

/// The registration number: `QN-2026-000123`.
pub fn format_number(year: i16, seq: i64) -> String {
    format!("QN-{year}-{seq:06}")
}

pub struct TicketDesk<'a> {
    pub db: &'a Db,
    pub calendar: &'a WorkCalendar,
    pub matrix: &'a PriorityMatrix,
    pub policy: SlaPolicy,
}

impl TicketDesk<'_> {
    fn validate(t: &NewTicket) -> Result<(), StoreError> {
        let subject = t.subject.trim();
        if subject.is_empty() {
            return Err(invalid("subject", "must not be empty"));
        }
        if subject.chars().count() > 200 {
            return Err(invalid("subject", "must be at most 200 characters"));
        }
        if t.description.chars().count() > 20_000 {
            return Err(invalid("description", "must be at most 20000 characters"));
        }
        let phone = t.contact.phone.trim();
        if phone.is_empty()
            || !phone
                .chars()
                .all(|c| c.is_ascii_digit() || "+-() ".contains(c))
        {
            return Err(invalid("contact.phone", "must be a phone number"));
        }
        if let Some(iin) = &t.contact.iin {
            Iin::parse(iin).map_err(|e: IdentError| invalid("contact.iin", e.to_string()))?;
        }
        if let Some(bin) = &t.contact.bin {
            Bin::parse(bin).map_err(|e: IdentError| invalid("contact.bin", e.to_string()))?;
        }
        match (t.kind, t.criticality) {
            (TicketType::Incident, _) | (_, None) => Ok(()),
            (_, Some(_)) => Err(invalid("criticality", "is only for incidents")),
        }
    }

    /// Open a ticket at `now` on behalf of `actor` (a staff login or `system`).
    pub async fn open(
        &self,
        now: Timestamp,
        actor: &str,
        t: NewTicket,
    ) -> Result<Opened, StoreError> {
        Self::validate(&t)?;
        let priority = self.matrix.priority(t.impact, t.urgency);
        let deadlines = deadlines(
            self.calendar,
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
        let mut tx = self.db.pool.begin().await?;
        let seq: i64 = sqlx::query(
            "INSERT INTO ticket_counters (year, last) VALUES ($1, 1) \
             ON CONFLICT (year) DO UPDATE SET last = ticket_counters.last + 1 RETURNING last",
        )
        .bind(i64::from(year))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let number = format_number(year, seq);
        let c = &t.contact;
        let existing: Option<i64> = match &c.iin {
            Some(iin) => sqlx::query("SELECT id FROM contacts WHERE iin = $1 ORDER BY id LIMIT 1")
                .bind(iin.trim()),
            None => sqlx::query(
                "SELECT id FROM contacts WHERE phone = $1 AND iin IS NULL ORDER BY id LIMIT 1",
            )
            .bind(c.phone.trim()),
        }
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
        let contact_id = match existing {
            Some(id) => id,
            None => sqlx::query(
                "INSERT INTO contacts (name, organisation, phone, iin, bin, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(c.name.clone())
            .bind(c.organisation.clone())
            .bind(c.phone.trim().to_string())
            .bind(c.iin.as_ref().map(|s| s.trim().to_string()))
            .bind(c.bin.as_ref().map(|s| s.trim().to_string()))
            .bind(at)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?,
        };
        let id: i64 = sqlx::query(
            "INSERT INTO tickets (number, year, seq, kind, channel, subject, description, impact, urgency, priority, \
             service_level, criticality, status, contact_id, created_at, updated_at, first_response_due, resolve_due, \
             fix_earliest, fix_due, review_due) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) RETURNING id",
        )
        .bind(number.clone())
        .bind(i64::from(year))
        .bind(seq)
        .bind(t.kind.as_str())
        .bind(t.channel.as_str())
        .bind(t.subject.trim().to_string())
        .bind(t.description.clone())
        .bind(t.impact.as_str())
        .bind(t.urgency.as_str())
        .bind(i64::from(priority.get()))
        .bind(t.service_level.as_str())
        .bind(t.criticality.map(|c| c.as_str()))
        .bind(Status::New.as_str())
        .bind(contact_id)
        .bind(at)
        .bind(at)
        .bind(millis(deadlines.first_response_due))
        .bind(millis(deadlines.resolve_due))
        .bind(deadlines.fix.map(|f| millis(f.earliest)))
        .bind(deadlines.fix.map(|f| millis(f.due)))
        .bind(deadlines.review_due.map(millis))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        sqlx::query(
            "INSERT INTO audit_log (at, actor, entity, entity_id, action, field, before, after) VALUES ($1, $2, 'ticket', $3, 'open', NULL, NULL, $4)",
        )
        .bind(at)
        .bind(actor.to_string())
        .bind(number.clone())
        .bind(format!("{} {} priority {}", t.kind, t.channel, priority.get()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Opened {
            id,
            number,
            priority,
            status: Status::New,
            deadlines,
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
            contact: NewContact {
                name: Some("Айгерім Сейтқали".into()),
                phone: format!("+7701{n:07}"),
                iin: None,
                organisation: None,
                bin: None,
            },
        }
    }

    fn now() -> Timestamp {
        "2026-11-23T07:00:00Z".parse().unwrap() // 12:00 in Astana
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_thousand_tickets_from_fifty_clients_get_consecutive_numbers() {
        for (db, _dir) in databases().await {
            let cal = calendar();
            let matrix = PriorityMatrix::default();
            let db = std::sync::Arc::new(db);
            let cal = std::sync::Arc::new(cal);
            let matrix = std::sync::Arc::new(matrix);
            let mut tasks = tokio::task::JoinSet::new();
            for client in 0..50 {
                let (db, cal, matrix) = (db.clone(), cal.clone(), matrix.clone());
                tasks.spawn(async move {
                    let desk = TicketDesk {
                        db: &db,
                        calendar: &cal,
                        matrix: &matrix,
                        policy: SlaPolicy::default(),
                    };
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
            let desk = TicketDesk {
                db: &db,
                calendar: &cal,
                matrix: &matrix,
                policy: SlaPolicy::default(),
            };
            let numbers = desk.numbers(2026).await.unwrap();
            let expected: Vec<String> = (1..=1000).map(|s| format_number(2026, s)).collect();
            assert_eq!(numbers, expected, "{:?}", db.backend);
        }
    }

    #[tokio::test]
    async fn an_opened_ticket_has_its_priority_deadlines_and_audit_row() {
        for (db, _dir) in databases().await {
            let cal = calendar();
            let matrix = PriorityMatrix::default();
            let desk = TicketDesk {
                db: &db,
                calendar: &cal,
                matrix: &matrix,
                policy: SlaPolicy::default(),
            };
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
            let cal = calendar();
            let matrix = PriorityMatrix::default();
            let desk = TicketDesk {
                db: &db,
                calendar: &cal,
                matrix: &matrix,
                policy: SlaPolicy::default(),
            };
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
