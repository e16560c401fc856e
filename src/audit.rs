//! The audit log (MISSION §4: every change, who, when, what, before/after). Rows are written
//! in the same transaction as the change they describe, so a change without its audit row
//! (or the reverse) cannot be committed.

use jiff::Timestamp;
use sqlx::{AnyConnection, Row};

use crate::db::filter::{Filter, Page};
use crate::db::{from_millis, millis, Db, DbError};

/// One change to record.
#[derive(Debug, Clone, Default)]
pub struct Change<'a> {
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub action: &'a str,
    pub field: Option<&'a str>,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl<'a> Change<'a> {
    /// A change to a whole entity (`create`, `login`, `note`…).
    pub fn new(entity: &'a str, entity_id: &'a str, action: &'a str) -> Change<'a> {
        Change {
            entity,
            entity_id,
            action,
            ..Default::default()
        }
    }

    /// What the entity is now (a summary, a note's text…).
    pub fn after(mut self, after: impl Into<String>) -> Change<'a> {
        self.after = Some(after.into());
        self
    }
}

pub async fn record(
    conn: &mut AnyConnection,
    at: Timestamp,
    actor: &str,
    c: Change<'_>,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, entity, entity_id, action, field, before, after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(millis(at))
    .bind(actor.to_string())
    .bind(c.entity.to_string())
    .bind(c.entity_id.to_string())
    .bind(c.action.to_string())
    .bind(c.field.map(str::to_string))
    .bind(c.before)
    .bind(c.after)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
    /// `ticket`, `contact`, `staff` or `session`.
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub field: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub actor: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// Newest first; with the total count for pagination.
pub async fn list(db: &Db, f: &AuditFilter, page: Page) -> Result<(Vec<AuditEntry>, u64), DbError> {
    let mut w = Filter::default();
    if let Some(e) = &f.entity {
        w.text("entity = ?", e.clone());
    }
    if let Some(id) = &f.entity_id {
        w.text("entity_id = ?", id.clone());
    }
    if let Some(a) = &f.actor {
        w.text("actor = ?", a.to_lowercase());
    }
    if let Some(t) = f.from {
        w.int("at >= ?", millis(t));
    }
    if let Some(t) = f.to {
        w.int("at < ?", millis(t));
    }
    w.page(
        db,
        "id, at, actor, entity, entity_id, action, field, before, after",
        "audit_log",
        "id DESC",
        page,
        |r| {
            Ok(AuditEntry {
                id: r.try_get(0)?,
                at: from_millis(r.try_get(1)?),
                actor: r.try_get(2)?,
                entity: r.try_get(3)?,
                entity_id: r.try_get(4)?,
                action: r.try_get(5)?,
                field: r.try_get(6)?,
                before: r.try_get(7)?,
                after: r.try_get(8)?,
            })
        },
    )
    .await
}
