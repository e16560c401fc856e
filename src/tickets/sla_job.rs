//! The SLA job (a driver around [`SlaMonitor`]): every `desk.sla_check_every` it records the
//! deadlines open tickets have missed (once each, counted in `qonyrau_sla_breaches_total`),
//! closes tickets that waited for the caller longer than the policy allows ("no response
//! from the user", with the actions already taken), and refreshes the open-ticket gauge.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::Row;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::db::millis;
use crate::tickets::change::{plan, FieldChange, TicketPatch, Value};
use crate::tickets::error::StoreError;
use crate::tickets::model::{ReasonCode, Status};
use crate::tickets::query::{summary_from_row, SUMMARY_COLUMNS};
use crate::tickets::sla::{BreachKind, SlaEvent, SlaMonitor};
use crate::tickets::store::TicketDesk;

pub const SLA_BREACHES: &str = "qonyrau_sla_breaches_total"; // {kind}
pub const TICKETS_OPEN: &str = "qonyrau_tickets_open"; // {status, priority}
pub const TICKETS_AUTO_CLOSED: &str = "qonyrau_tickets_auto_closed_total";

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub breaches: Vec<(String, BreachKind)>,
    pub auto_closed: Vec<String>,
}

fn kind_of(label: &str) -> Option<BreachKind> {
    [
        BreachKind::FirstResponse,
        BreachKind::Resolve,
        BreachKind::Fix,
        BreachKind::Review,
    ]
    .into_iter()
    .find(|k| k.label() == label)
}

impl TicketDesk {
    /// One pass at `now`.
    pub async fn sla_pass(&self, now: Timestamp) -> Result<Pass, StoreError> {
        let monitor = SlaMonitor {
            calendar: &self.calendar,
            policy: self.policy,
        };
        let at = millis(now);
        // Candidates only: a deadline has passed, or the ticket waits for the caller.
        let rows = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM tickets WHERE status NOT IN ('closed', 'refused') AND \
             (first_response_due < $1 OR resolve_due < $1 OR fix_due < $1 OR review_due < $1 OR status = 'waiting_customer')"
        ))
        .bind(at)
        .fetch_all(&self.db.pool)
        .await?;
        let mut pass = Pass::default();
        for row in rows {
            let t = summary_from_row(&row)?;
            let recorded: Vec<BreachKind> = t.breaches.iter().filter_map(|b| kind_of(b)).collect();
            let clock = t.clock();
            let events = monitor.check(now, &clock, &recorded)?;
            let mut breaches = t.breaches.clone();
            let mut new = Vec::new();
            let mut close = false;
            for e in events {
                match e {
                    SlaEvent::Breached(kind) => {
                        breaches.push(kind.label().to_string());
                        new.push(kind);
                    }
                    SlaEvent::AutoClose => close = true,
                }
            }
            let mut changes = Vec::new();
            if !new.is_empty() {
                changes.push(FieldChange {
                    column: "breaches",
                    before: Value::Text(Some(t.breaches.join(","))),
                    after: Value::Text(Some(breaches.join(","))),
                });
            }
            if close {
                let actions = self.actions_taken(t.id, t.resolution.as_deref()).await?;
                let patch = TicketPatch {
                    status: Some(Status::Closed),
                    reason: Some(ReasonCode::NoResponseFromUser),
                    resolution: Some(actions),
                    ..Default::default()
                };
                changes.extend(plan(&t, &patch, &self.matrix, now)?);
            }
            if changes.is_empty() {
                continue;
            }
            let mut tx = self.db.write().await?;
            match self
                .apply_in(&mut tx, now, "system", &t, "sla", &changes)
                .await
            {
                Ok(()) => tx.commit().await?,
                // Someone changed the ticket meanwhile: the next pass sees the new state.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
            for kind in new {
                metrics::counter!(SLA_BREACHES, "kind" => kind.label()).increment(1);
                pass.breaches.push((t.number.clone(), kind));
            }
            if close {
                metrics::counter!(TICKETS_AUTO_CLOSED).increment(1);
                pass.auto_closed.push(t.number.clone());
            }
        }
        self.refresh_open_gauge().await?;
        Ok(pass)
    }

    /// The actions already taken on a ticket, for the auto-close resolution: the notes.
    async fn actions_taken(&self, id: i64, resolution: Option<&str>) -> Result<String, StoreError> {
        let notes: Vec<String> =
            sqlx::query("SELECT body FROM ticket_notes WHERE ticket_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&self.db.pool)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?;
        let mut parts: Vec<String> = resolution.map(str::to_string).into_iter().collect();
        parts.extend(notes);
        Ok(if parts.is_empty() {
            String::new()
        } else {
            parts.join("; ")
        })
    }

    /// Set `qonyrau_tickets_open{status, priority}` for every open status and priority.
    pub async fn refresh_open_gauge(&self) -> Result<(), StoreError> {
        let rows = sqlx::query(
            "SELECT status, priority, COUNT(*) FROM tickets WHERE status NOT IN ('closed', 'refused') GROUP BY status, priority",
        )
        .fetch_all(&self.db.pool)
        .await?;
        let mut counts: HashMap<(String, i64), i64> = HashMap::new();
        for r in rows {
            counts.insert((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?);
        }
        for status in Status::ALL.iter().filter(|s| !s.is_final()) {
            for priority in 1..=5i64 {
                let n = counts
                    .get(&(status.as_str().to_string(), priority))
                    .copied()
                    .unwrap_or(0);
                metrics::gauge!(TICKETS_OPEN, "status" => status.as_str(), "priority" => priority.to_string())
                    .set(n as f64);
            }
        }
        Ok(())
    }
}

/// Run passes every `every` until `cancel`; a failed pass (database down) is logged and
/// retried at the next tick.
pub async fn run(
    desk: TicketDesk,
    clock: Arc<dyn Clock>,
    every: Duration,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        match desk.sla_pass(clock.now()).await {
            Ok(p) if !p.breaches.is_empty() || !p.auto_closed.is_empty() => {
                tracing::info!(
                    breaches = p.breaches.len(),
                    auto_closed = p.auto_closed.len(),
                    "SLA pass"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "SLA pass failed; retrying at the next tick"),
        }
    }
}
