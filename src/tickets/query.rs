//! Reading tickets: one by number with its contact, escalations, notes and links; a filtered,
//! paginated search. Queues are ordered by priority, then first come first served.

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::contacts::store::{self as contacts, Contact};
use crate::db::filter::{contains_pattern, Arg, Filter, Page};
use crate::db::{from_millis, millis};
use crate::tickets::complaint::{ComplaintCategory, ComplaintOutcome};
use crate::tickets::error::{decode, not_found, StoreError};
use crate::tickets::model::{
    Channel, Criticality, Impact, ReasonCode, ServiceLevel, Status, TicketType, Urgency,
};
use crate::tickets::sla::{Deadlines, FixWindow, TicketClock};
use crate::tickets::store::TicketDesk;

/// A ticket's own fields (what a search returns).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TicketSummary {
    #[serde(skip)]
    pub id: i64,
    /// Registration number, `QN-YYYY-NNNNNN`.
    pub number: String,
    #[serde(rename = "type")]
    pub kind: TicketType,
    pub channel: Channel,
    pub subject: String,
    pub description: String,
    pub impact: Impact,
    pub urgency: Urgency,
    /// 1 (most urgent) to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub priority: u8,
    pub service_level: ServiceLevel,
    pub criticality: Option<Criticality>,
    /// Support line 1–3.
    #[schema(minimum = 1, maximum = 3)]
    pub line: u8,
    /// The department responsible, told to the caller.
    pub department: Option<String>,
    /// When the caller may expect an answer, as told to them.
    pub eta: Option<String>,
    pub status: Status,
    pub reason: Option<ReasonCode>,
    pub resolution: Option<String>,
    pub contact_id: Option<i64>,
    pub assignee: Option<String>,
    pub complaint_category: Option<ComplaintCategory>,
    pub complaint_outcome: Option<ComplaintOutcome>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_response_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub waiting_since: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub first_response_due: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub resolve_due: Timestamp,
    /// Incidents: the fix may not be promised before this.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub fix_earliest: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub fix_due: Option<Timestamp>,
    /// Complaints: the review deadline.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub review_due: Option<Timestamp>,
    /// Deadlines already missed: first_response, resolve, fix, review.
    pub breaches: Vec<String>,
    /// Increases with every change; send it back as `version` to update safely.
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct EscalationRecord {
    pub from_line: u8,
    pub to_line: u8,
    pub by: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct NoteRecord {
    pub id: i64,
    pub author: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct LinkRecord {
    /// The other ticket's number.
    pub number: String,
    pub kind: crate::tickets::change::LinkKind,
    pub by: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

/// A ticket with everything about it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Ticket {
    #[serde(flatten)]
    pub summary: TicketSummary,
    pub contact: Option<Contact>,
    pub escalations: Vec<EscalationRecord>,
    pub notes: Vec<NoteRecord>,
    pub links: Vec<LinkRecord>,
}

pub const SUMMARY_COLUMNS: &str = "id, number, kind, channel, subject, description, impact, urgency, priority, \
    service_level, criticality, line, department, eta_text, status, reason, resolution, contact_id, assignee, \
    complaint_category, complaint_outcome, created_at, updated_at, first_response_at, resolved_at, waiting_since, \
    first_response_due, resolve_due, fix_earliest, fix_due, review_due, breaches, version";

fn opt_time(r: &AnyRow, i: usize) -> Result<Option<Timestamp>, sqlx::Error> {
    Ok(r.try_get::<Option<i64>, _>(i)?.map(from_millis))
}

fn opt_enum<T: std::str::FromStr>(r: &AnyRow, i: usize) -> Result<Option<T>, sqlx::Error>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    r.try_get::<Option<String>, _>(i)?
        .map(|s| decode(&s))
        .transpose()
}

impl TicketSummary {
    /// The facts the SLA monitor needs.
    pub fn clock(&self) -> TicketClock {
        TicketClock {
            status: self.status,
            deadlines: Deadlines {
                first_response_due: self.first_response_due,
                resolve_due: self.resolve_due,
                fix: self
                    .fix_earliest
                    .zip(self.fix_due)
                    .map(|(earliest, due)| FixWindow { earliest, due }),
                review_due: self.review_due,
            },
            first_response_at: self.first_response_at,
            resolved_at: self.resolved_at,
            waiting_since: self.waiting_since,
        }
    }
}

pub fn summary_from_row(r: &AnyRow) -> Result<TicketSummary, sqlx::Error> {
    let small = |i: usize| -> Result<u8, sqlx::Error> {
        Ok(u8::try_from(r.try_get::<i64, _>(i)?).unwrap_or(0))
    };
    Ok(TicketSummary {
        id: r.try_get(0)?,
        number: r.try_get(1)?,
        kind: decode(&r.try_get::<String, _>(2)?)?,
        channel: decode(&r.try_get::<String, _>(3)?)?,
        subject: r.try_get(4)?,
        description: r.try_get(5)?,
        impact: decode(&r.try_get::<String, _>(6)?)?,
        urgency: decode(&r.try_get::<String, _>(7)?)?,
        priority: small(8)?,
        service_level: decode(&r.try_get::<String, _>(9)?)?,
        criticality: opt_enum(r, 10)?,
        line: small(11)?,
        department: r.try_get(12)?,
        eta: r.try_get(13)?,
        status: decode(&r.try_get::<String, _>(14)?)?,
        reason: opt_enum(r, 15)?,
        resolution: r.try_get(16)?,
        contact_id: r.try_get(17)?,
        assignee: r.try_get(18)?,
        complaint_category: opt_enum(r, 19)?,
        complaint_outcome: opt_enum(r, 20)?,
        created_at: from_millis(r.try_get(21)?),
        updated_at: from_millis(r.try_get(22)?),
        first_response_at: opt_time(r, 23)?,
        resolved_at: opt_time(r, 24)?,
        waiting_since: opt_time(r, 25)?,
        first_response_due: from_millis(r.try_get(26)?),
        resolve_due: from_millis(r.try_get(27)?),
        fix_earliest: opt_time(r, 28)?,
        fix_due: opt_time(r, 29)?,
        review_due: opt_time(r, 30)?,
        breaches: r
            .try_get::<String, _>(31)?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        version: r.try_get(32)?,
    })
}

/// A ticket's own row by number (inside a transaction when `conn` is one).
pub async fn summary_by_number(
    conn: &mut AnyConnection,
    number: &str,
) -> Result<TicketSummary, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM tickets WHERE number = $1"
    ))
    .bind(number.trim().to_uppercase())
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| not_found("ticket", number))?;
    Ok(summary_from_row(&row)?)
}

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub status: Vec<Status>,
    pub kind: Option<TicketType>,
    pub channel: Option<Channel>,
    pub priority: Option<u8>,
    pub line: Option<u8>,
    pub assignee: Option<String>,
    pub contact_id: Option<i64>,
    pub phone: Option<String>,
    /// Part of the subject or the number.
    pub q: Option<String>,
    pub created_from: Option<Timestamp>,
    pub created_to: Option<Timestamp>,
    /// Only tickets with a missed deadline.
    pub breached: Option<bool>,
}

impl TicketDesk {
    pub async fn get(&self, number: &str) -> Result<Ticket, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        let summary = summary_by_number(&mut conn, number).await?;
        drop(conn);
        let contact = match summary.contact_id {
            Some(id) => Some(contacts::get(&self.db, id).await?),
            None => None,
        };
        let escalations = sqlx::query(
            "SELECT from_line, to_line, by_login, at, reason FROM ticket_escalations WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(summary.id)
        .fetch_all(&self.db.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(EscalationRecord {
                from_line: u8::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                to_line: u8::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                by: r.try_get(2)?,
                at: from_millis(r.try_get(3)?),
                reason: r.try_get(4)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let notes = sqlx::query(
            "SELECT id, author, at, body FROM ticket_notes WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(summary.id)
        .fetch_all(&self.db.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(NoteRecord {
                id: r.try_get(0)?,
                author: r.try_get(1)?,
                at: from_millis(r.try_get(2)?),
                body: r.try_get(3)?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let links = sqlx::query(
            "SELECT t.number, l.kind, l.by_login, l.at FROM ticket_links l JOIN tickets t ON t.id = l.other_id \
             WHERE l.ticket_id = $1 ORDER BY t.number",
        )
        .bind(summary.id)
        .fetch_all(&self.db.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(LinkRecord {
                number: r.try_get(0)?,
                kind: decode(&r.try_get::<String, _>(1)?)?,
                by: r.try_get(2)?,
                at: from_millis(r.try_get(3)?),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Ticket {
            summary,
            contact,
            escalations,
            notes,
            links,
        })
    }

    /// Matching tickets, most urgent first, then oldest first; with the total count.
    pub async fn search(
        &self,
        f: &TicketFilter,
        page: Page,
    ) -> Result<(Vec<TicketSummary>, u64), StoreError> {
        let mut w = Filter::default();
        if !f.status.is_empty() {
            let marks = vec!["?"; f.status.len()].join(", ");
            w.and(
                &format!("status IN ({marks})"),
                f.status.iter().map(|s| Arg::Text(s.as_str().into())),
            );
        }
        if let Some(k) = f.kind {
            w.text("kind = ?", k.as_str());
        }
        if let Some(c) = f.channel {
            w.text("channel = ?", c.as_str());
        }
        if let Some(p) = f.priority {
            w.int("priority = ?", i64::from(p));
        }
        if let Some(l) = f.line {
            w.int("line = ?", i64::from(l));
        }
        if let Some(a) = &f.assignee {
            w.text("assignee = ?", a.trim().to_lowercase());
        }
        if let Some(c) = f.contact_id {
            w.int("contact_id = ?", c);
        }
        if let Some(p) = &f.phone {
            w.text(
                "contact_id IN (SELECT id FROM contacts WHERE phone = ?)",
                p.trim(),
            );
        }
        if let Some(q) = &f.q {
            let p = contains_pattern(q.trim());
            w.and(
                "(LOWER(subject) LIKE ? ESCAPE '\\' OR LOWER(number) LIKE ? ESCAPE '\\')",
                [Arg::Text(p.clone()), Arg::Text(p)],
            );
        }
        if let Some(t) = f.created_from {
            w.int("created_at >= ?", millis(t));
        }
        if let Some(t) = f.created_to {
            w.int("created_at < ?", millis(t));
        }
        match f.breached {
            Some(true) => {
                w.and("breaches <> ''", []);
            }
            Some(false) => {
                w.and("breaches = ''", []);
            }
            None => {}
        }
        Ok(w.page(
            &self.db,
            SUMMARY_COLUMNS,
            "tickets",
            "priority, created_at, id",
            page,
            summary_from_row,
        )
        .await?)
    }
}
