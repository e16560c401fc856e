//! Changing tickets: field updates and status changes (planned by a sans-IO function,
//! [`plan`], then applied in one transaction with an audit row per field), escalation,
//! notes and links. Every write checks the ticket's `version` so two people editing at once
//! cannot overwrite each other silently; a refused request writes nothing.

use jiff::Timestamp;

use crate::audit;
use crate::db::{millis, WriteTx};
use crate::tickets::complaint::{ComplaintCategory, ComplaintOutcome};
use crate::tickets::error::{invalid, StoreError};
use crate::tickets::escalation::escalate;
use crate::tickets::lifecycle::{self, transition};
use crate::tickets::model::{
    string_enum, Impact, Line, ReasonCode, Status, TicketType, UnknownValue, Urgency,
};
use crate::tickets::priority::PriorityMatrix;
use crate::tickets::query::{summary_by_number, Ticket, TicketSummary};
use crate::tickets::store::{check_description, check_short, check_subject, TicketDesk};

use std::fmt;

string_enum!(
    /// How two tickets relate; a link is stored from both ends, each with its own kind.
    LinkKind, "link kind", {
    Related => "related",
    Duplicates => "duplicates",
    DuplicatedBy => "duplicated_by",
    ParentOf => "parent_of",
    ChildOf => "child_of",
});

impl LinkKind {
    pub fn inverse(self) -> LinkKind {
        match self {
            LinkKind::Related => LinkKind::Related,
            LinkKind::Duplicates => LinkKind::DuplicatedBy,
            LinkKind::DuplicatedBy => LinkKind::Duplicates,
            LinkKind::ParentOf => LinkKind::ChildOf,
            LinkKind::ChildOf => LinkKind::ParentOf,
        }
    }
}

/// What to change; `None` leaves a field alone, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct TicketPatch {
    pub subject: Option<String>,
    pub description: Option<String>,
    pub impact: Option<Impact>,
    pub urgency: Option<Urgency>,
    pub department: Option<Option<String>>,
    pub eta: Option<Option<String>>,
    pub assignee: Option<Option<String>>,
    pub complaint_category: Option<ComplaintCategory>,
    pub complaint_outcome: Option<ComplaintOutcome>,
    pub status: Option<Status>,
    pub reason: Option<ReasonCode>,
    pub resolution: Option<String>,
}

/// A column's new or old value. Each kind carries its own NULL, so a bound NULL always has
/// its SQL type (PostgreSQL refuses a text NULL for a bigint column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(Option<String>),
    Int(i64),
    Time(Option<Timestamp>),
}

impl Value {
    fn text(s: impl Into<String>) -> Value {
        Value::Text(Some(s.into()))
    }

    fn shown(&self) -> Option<String> {
        match self {
            Value::Text(s) => s.clone(),
            Value::Int(i) => Some(i.to_string()),
            Value::Time(t) => t.map(|t| t.to_string()),
        }
    }
}

/// One column to set, with the value before (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub column: &'static str,
    pub before: Value,
    pub after: Value,
}

fn enum_value<T: fmt::Display>(v: Option<T>) -> Value {
    Value::Text(v.map(|v| v.to_string()))
}

/// What the resolution says when a ticket is closed for want of an answer from the caller:
/// the reason and the actions already taken.
pub fn no_response_resolution(actions: &str) -> String {
    let actions = actions.trim();
    let actions = if actions.is_empty() {
        "none recorded"
    } else {
        actions
    };
    format!("No response from the user. Actions taken: {actions}")
}

/// The column changes a patch makes to `cur` at `now` (sans-IO): validates every field and
/// the status change; returns nothing to do when the patch changes nothing.
pub fn plan(
    cur: &TicketSummary,
    p: &TicketPatch,
    matrix: &PriorityMatrix,
    now: Timestamp,
) -> Result<Vec<FieldChange>, StoreError> {
    let mut out = Vec::new();
    let mut set = |column: &'static str, before: Value, after: Value| {
        if before != after {
            out.push(FieldChange {
                column,
                before,
                after,
            });
        }
    };
    // A status change out of a final state is refused by the lifecycle below, naming both.
    if cur.status.is_final() && p.status.filter(|s| *s != cur.status).is_none() {
        return Err(StoreError::Conflict(format!(
            "ticket {} is {} and can no longer change",
            cur.number, cur.status
        )));
    }
    if let Some(s) = &p.subject {
        set(
            "subject",
            Value::text(cur.subject.clone()),
            Value::text(check_subject(s)?),
        );
    }
    if let Some(d) = &p.description {
        set(
            "description",
            Value::text(cur.description.clone()),
            Value::text(check_description(d)?),
        );
    }
    let impact = p.impact.unwrap_or(cur.impact);
    let urgency = p.urgency.unwrap_or(cur.urgency);
    set(
        "impact",
        Value::text(cur.impact.to_string()),
        Value::text(impact.to_string()),
    );
    set(
        "urgency",
        Value::text(cur.urgency.to_string()),
        Value::text(urgency.to_string()),
    );
    set(
        "priority",
        Value::Int(i64::from(cur.priority)),
        Value::Int(i64::from(matrix.priority(impact, urgency).get())),
    );
    if let Some(d) = &p.department {
        set(
            "department",
            Value::Text(cur.department.clone()),
            Value::Text(check_short("department", d.clone())?),
        );
    }
    if let Some(e) = &p.eta {
        set(
            "eta_text",
            Value::Text(cur.eta.clone()),
            Value::Text(check_short("eta", e.clone())?),
        );
    }
    if let Some(a) = &p.assignee {
        let a = a
            .as_ref()
            .map(|a| a.trim().to_lowercase())
            .filter(|a| !a.is_empty());
        set(
            "assignee",
            Value::Text(cur.assignee.clone()),
            Value::Text(a),
        );
    }
    let complaint = cur.kind == TicketType::Complaint;
    if p.complaint_category.is_some() && !complaint {
        return Err(invalid("complaint_category", "is only for complaints"));
    }
    if p.complaint_outcome.is_some() && !complaint {
        return Err(invalid("complaint_outcome", "is only for complaints"));
    }
    if let Some(c) = p.complaint_category {
        set(
            "complaint_category",
            enum_value(cur.complaint_category),
            enum_value(Some(c)),
        );
    }
    if let Some(o) = p.complaint_outcome {
        set(
            "complaint_outcome",
            enum_value(cur.complaint_outcome),
            enum_value(Some(o)),
        );
    }
    match p.status.filter(|s| *s != cur.status) {
        None => {
            if p.reason.is_some() {
                return Err(invalid("reason", "is given only with a change of status"));
            }
            if p.resolution.is_some() {
                return Err(invalid(
                    "resolution",
                    "is given only with a change of status",
                ));
            }
        }
        Some(to) => {
            let resolution = p
                .resolution
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty());
            if resolution.is_some_and(|r| r.chars().count() > 20_000) {
                return Err(invalid("resolution", "must be at most 20000 characters"));
            }
            transition(
                cur.status,
                to,
                &lifecycle::Change {
                    reason: p.reason,
                    resolution,
                },
            )?;
            if to == Status::Resolved
                && complaint
                && p.complaint_outcome.or(cur.complaint_outcome).is_none()
            {
                return Err(invalid(
                    "complaint_outcome",
                    "a complaint is resolved with the result of its review",
                ));
            }
            set(
                "status",
                Value::text(cur.status.to_string()),
                Value::text(to.to_string()),
            );
            let reason = match to {
                Status::Deferred | Status::Refused | Status::Closed => p.reason.or(cur.reason),
                _ => None,
            };
            set("reason", enum_value(cur.reason), enum_value(reason));
            let new_resolution = match (to, p.reason) {
                (Status::Closed, Some(ReasonCode::NoResponseFromUser)) => Some(
                    no_response_resolution(resolution.or(cur.resolution.as_deref()).unwrap_or("")),
                ),
                _ => resolution.map(str::to_string).or(cur.resolution.clone()),
            };
            set(
                "resolution",
                Value::Text(cur.resolution.clone()),
                Value::Text(new_resolution),
            );
            if cur.first_response_at.is_none() && cur.status == Status::New {
                set(
                    "first_response_at",
                    Value::Time(None),
                    Value::Time(Some(now)),
                );
            }
            let resolved_at = match to {
                Status::Resolved => Some(now),
                Status::Closed | Status::Refused => cur.resolved_at.or(Some(now)),
                _ => None,
            };
            set(
                "resolved_at",
                Value::Time(cur.resolved_at),
                Value::Time(resolved_at),
            );
            let waiting = (to == Status::WaitingCustomer).then_some(now);
            set(
                "waiting_since",
                Value::Time(cur.waiting_since),
                Value::Time(waiting),
            );
        }
    }
    Ok(out)
}

impl TicketDesk {
    /// Apply `changes` to `cur` in `tx` with one audit row each (for the SLA job too).
    pub(crate) async fn apply_in(
        &self,
        tx: &mut WriteTx,
        now: Timestamp,
        actor: &str,
        cur: &TicketSummary,
        action: &str,
        changes: &[FieldChange],
    ) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut sql = String::from("UPDATE tickets SET ");
        for (i, c) in changes.iter().enumerate() {
            sql.push_str(&format!("{} = ${}, ", c.column, i + 1));
        }
        let n = changes.len();
        sql.push_str(&format!(
            "updated_at = ${}, version = version + 1 WHERE id = ${} AND version = ${}",
            n + 1,
            n + 2,
            n + 3
        ));
        let mut q = sqlx::query(&sql);
        for c in changes {
            q = match &c.after {
                Value::Text(s) => q.bind(s.clone()),
                Value::Int(i) => q.bind(*i),
                Value::Time(t) => q.bind(t.map(millis)),
            };
        }
        let done = q
            .bind(millis(now))
            .bind(cur.id)
            .bind(cur.version)
            .execute(tx.conn())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "ticket {} was changed by someone else; reload it and try again",
                cur.number
            )));
        }
        for c in changes {
            audit::record(
                tx.conn(),
                now,
                actor,
                audit::Change {
                    entity: "ticket",
                    entity_id: &cur.number,
                    action,
                    field: Some(if c.column == "eta_text" {
                        "eta"
                    } else {
                        c.column
                    }),
                    before: c.before.shown(),
                    after: c.after.shown(),
                },
            )
            .await?;
        }
        Ok(())
    }

    async fn current(
        tx: &mut WriteTx,
        number: &str,
        version: Option<i64>,
    ) -> Result<TicketSummary, StoreError> {
        let cur = summary_by_number(tx.conn(), number).await?;
        if let Some(v) = version.filter(|v| *v != cur.version) {
            return Err(StoreError::Conflict(format!(
                "ticket {} is at version {}, not {v}; reload it and try again",
                cur.number, cur.version
            )));
        }
        Ok(cur)
    }

    async fn check_assignee(tx: &mut WriteTx, p: &TicketPatch) -> Result<(), StoreError> {
        if let Some(Some(login)) = &p.assignee {
            let login = login.trim().to_lowercase();
            let found = sqlx::query("SELECT 1 FROM staff WHERE login = $1 AND active = 1")
                .bind(login.clone())
                .fetch_optional(tx.conn())
                .await?;
            if found.is_none() && !login.is_empty() {
                return Err(invalid(
                    "assignee",
                    format!("no active staff member {login}"),
                ));
            }
        }
        Ok(())
    }

    /// Change fields and/or the status of a ticket.
    pub async fn update(
        &self,
        now: Timestamp,
        actor: &str,
        number: &str,
        version: Option<i64>,
        patch: TicketPatch,
    ) -> Result<Ticket, StoreError> {
        let mut tx = self.db.write().await?;
        let cur = Self::current(&mut tx, number, version).await?;
        let changes = plan(&cur, &patch, &self.matrix, now)?;
        Self::check_assignee(&mut tx, &patch).await?;
        self.apply_in(&mut tx, now, actor, &cur, "update", &changes)
            .await?;
        tx.commit().await?;
        self.get(&cur.number).await
    }

    /// Close a ticket: resolve it first (with `resolution`) when it is not resolved yet.
    pub async fn close(
        &self,
        now: Timestamp,
        actor: &str,
        number: &str,
        version: Option<i64>,
        resolution: Option<String>,
        reason: Option<ReasonCode>,
    ) -> Result<Ticket, StoreError> {
        let mut tx = self.db.write().await?;
        let mut cur = Self::current(&mut tx, number, version).await?;
        if matches!(cur.status, Status::New | Status::InProgress) {
            let resolve = TicketPatch {
                status: Some(Status::Resolved),
                resolution: resolution.clone(),
                ..Default::default()
            };
            let changes = plan(&cur, &resolve, &self.matrix, now)?;
            self.apply_in(&mut tx, now, actor, &cur, "resolve", &changes)
                .await?;
            cur = summary_by_number(tx.conn(), &cur.number).await?;
        }
        let close = TicketPatch {
            status: Some(Status::Closed),
            reason,
            resolution: (cur.status == Status::WaitingCustomer)
                .then_some(resolution)
                .flatten(),
            ..Default::default()
        };
        let changes = plan(&cur, &close, &self.matrix, now)?;
        if changes.is_empty() {
            return Err(lifecycle::TransitionError::NotAllowed {
                from: cur.status,
                to: Status::Closed,
            }
            .into());
        }
        self.apply_in(&mut tx, now, actor, &cur, "close", &changes)
            .await?;
        tx.commit().await?;
        self.get(&cur.number).await
    }

    /// Hand the ticket to the next support line (one at a time), with the reason; the new
    /// line picks an assignee, so the old one is cleared.
    #[allow(clippy::too_many_arguments)]
    pub async fn escalate(
        &self,
        now: Timestamp,
        actor: &str,
        number: &str,
        version: Option<i64>,
        to_line: Option<u8>,
        reason: &str,
        department: Option<String>,
    ) -> Result<Ticket, StoreError> {
        let requested = to_line
            .map(|l| Line::new(l).ok_or_else(|| invalid("to_line", "must be 1, 2 or 3")))
            .transpose()?;
        if reason.chars().count() > 2000 {
            return Err(invalid("reason", "must be at most 2000 characters"));
        }
        let department = check_short("department", department)?;
        let mut tx = self.db.write().await?;
        let cur = Self::current(&mut tx, number, version).await?;
        let line = Line::new(cur.line).unwrap_or(Line::FIRST);
        let e = escalate(line, cur.status, requested, actor, now, reason)?;
        let mut changes = vec![FieldChange {
            column: "line",
            before: Value::Int(i64::from(e.from.get())),
            after: Value::Int(i64::from(e.to.get())),
        }];
        if cur.assignee.is_some() {
            changes.push(FieldChange {
                column: "assignee",
                before: Value::Text(cur.assignee.clone()),
                after: Value::Text(None),
            });
        }
        if let Some(d) = department.filter(|d| Some(d) != cur.department.as_ref()) {
            changes.push(FieldChange {
                column: "department",
                before: Value::Text(cur.department.clone()),
                after: Value::text(d),
            });
        }
        sqlx::query(
            "INSERT INTO ticket_escalations (ticket_id, from_line, to_line, by_login, at, reason) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(cur.id)
        .bind(i64::from(e.from.get()))
        .bind(i64::from(e.to.get()))
        .bind(e.by.clone())
        .bind(millis(now))
        .bind(e.reason.clone())
        .execute(tx.conn())
        .await?;
        self.apply_in(&mut tx, now, actor, &cur, "escalate", &changes)
            .await?;
        tx.commit().await?;
        self.get(&cur.number).await
    }

    pub async fn add_note(
        &self,
        now: Timestamp,
        actor: &str,
        number: &str,
        body: &str,
    ) -> Result<Ticket, StoreError> {
        let body = body.trim();
        if body.is_empty() {
            return Err(invalid("body", "must not be empty"));
        }
        if body.chars().count() > 20_000 {
            return Err(invalid("body", "must be at most 20000 characters"));
        }
        let mut tx = self.db.write().await?;
        let cur = Self::current(&mut tx, number, None).await?;
        sqlx::query(
            "INSERT INTO ticket_notes (ticket_id, at, author, body) VALUES ($1, $2, $3, $4)",
        )
        .bind(cur.id)
        .bind(millis(now))
        .bind(actor.to_string())
        .bind(body.to_string())
        .execute(tx.conn())
        .await?;
        sqlx::query("UPDATE tickets SET updated_at = $1, version = version + 1 WHERE id = $2")
            .bind(millis(now))
            .bind(cur.id)
            .execute(tx.conn())
            .await?;
        audit::record(
            tx.conn(),
            now,
            actor,
            audit::Change::new("ticket", &cur.number, "note").after(body.to_string()),
        )
        .await?;
        tx.commit().await?;
        self.get(&cur.number).await
    }

    /// Link two tickets (stored from both ends).
    pub async fn link(
        &self,
        now: Timestamp,
        actor: &str,
        number: &str,
        other: &str,
        kind: LinkKind,
    ) -> Result<Ticket, StoreError> {
        let mut tx = self.db.write().await?;
        let a = Self::current(&mut tx, number, None).await?;
        let b = match summary_by_number(tx.conn(), other).await {
            Err(StoreError::NotFound { .. }) => {
                return Err(invalid("number", format!("no ticket {other}")))
            }
            r => r?,
        };
        if a.id == b.id {
            return Err(invalid("number", "a ticket cannot be linked to itself"));
        }
        let exists =
            sqlx::query("SELECT 1 FROM ticket_links WHERE ticket_id = $1 AND other_id = $2")
                .bind(a.id)
                .bind(b.id)
                .fetch_optional(tx.conn())
                .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "tickets {} and {} are already linked",
                a.number, b.number
            )));
        }
        for (from, to, k) in [(&a, &b, kind), (&b, &a, kind.inverse())] {
            sqlx::query("INSERT INTO ticket_links (ticket_id, other_id, kind, at, by_login) VALUES ($1, $2, $3, $4, $5)")
                .bind(from.id)
                .bind(to.id)
                .bind(k.as_str())
                .bind(millis(now))
                .bind(actor.to_string())
                .execute(tx.conn())
                .await?;
            audit::record(
                tx.conn(),
                now,
                actor,
                audit::Change::new("ticket", &from.number, "link")
                    .after(format!("{k} {}", to.number)),
            )
            .await?;
        }
        tx.commit().await?;
        self.get(&a.number).await
    }
}
