//! Functional escalation between support lines (MISSION §4), sans-IO: line 1 operators hand
//! a ticket to line 2 engineers, who hand it to line 3, one line at a time. Only open tickets
//! move; line 3 is the last; every escalation says why. The result is the record to store
//! (from, to, who, when, why); picking an assignee and telling the caller are elsewhere.

use jiff::Timestamp;

use crate::tickets::model::{Line, Status};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub from: Line,
    pub to: Line,
    pub by: String,
    pub at: Timestamp,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscalationError {
    #[error("the ticket is already on line {0}, the last line")]
    AtTopLine(u8),
    #[error("escalation goes one line at a time: from line {from} only to line {expected}, not {requested}")]
    NotNextLine {
        from: u8,
        requested: u8,
        expected: u8,
    },
    #[error("a {0} ticket cannot be escalated")]
    NotOpen(Status),
    #[error("an escalation needs a reason")]
    ReasonRequired,
}

/// Escalate from `current` to the next line; `requested`, when given, must be that line.
pub fn escalate(
    current: Line,
    status: Status,
    requested: Option<Line>,
    by: &str,
    at: Timestamp,
    reason: &str,
) -> Result<Escalation, EscalationError> {
    if !matches!(
        status,
        Status::New | Status::InProgress | Status::WaitingCustomer
    ) {
        return Err(EscalationError::NotOpen(status));
    }
    let next = current
        .next()
        .ok_or(EscalationError::AtTopLine(current.get()))?;
    if let Some(requested) = requested.filter(|r| *r != next) {
        return Err(EscalationError::NotNextLine {
            from: current.get(),
            requested: requested.get(),
            expected: next.get(),
        });
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(EscalationError::ReasonRequired);
    }
    Ok(Escalation {
        from: current,
        to: next,
        by: by.to_string(),
        at,
        reason: reason.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Timestamp {
        "2026-11-23T07:00:00Z".parse().unwrap()
    }

    #[test]
    fn one_line_at_a_time_up_to_three() {
        let e = escalate(
            Line::FIRST,
            Status::InProgress,
            None,
            "op1",
            at(),
            "needs an engineer",
        )
        .unwrap();
        assert_eq!((e.from.get(), e.to.get(), e.by.as_str()), (1, 2, "op1"));
        let e = escalate(
            e.to,
            Status::InProgress,
            Line::new(3),
            "eng2",
            at(),
            "code defect",
        )
        .unwrap();
        assert_eq!(e.to, Line::LAST);
        assert_eq!(
            escalate(Line::LAST, Status::InProgress, None, "eng3", at(), "x"),
            Err(EscalationError::AtTopLine(3))
        );
    }

    #[test]
    fn skipping_a_line_closed_tickets_and_missing_reasons_are_refused() {
        let err = escalate(
            Line::FIRST,
            Status::New,
            Line::new(3),
            "op1",
            at(),
            "urgent",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "escalation goes one line at a time: from line 1 only to line 2, not 3"
        );
        assert_eq!(
            escalate(Line::FIRST, Status::Resolved, None, "op1", at(), "x"),
            Err(EscalationError::NotOpen(Status::Resolved))
        );
        assert_eq!(
            escalate(Line::FIRST, Status::New, None, "op1", at(), "  "),
            Err(EscalationError::ReasonRequired)
        );
    }
}
