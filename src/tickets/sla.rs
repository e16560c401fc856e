//! Service levels and deadlines on the working calendar (MISSION §4), sans-IO.
//!
//! - basic: first response ≤ 1 working day, closure ≤ 3 working days;
//! - individual: first response ≤ 2 working hours, closure ≤ 5 working days;
//! - incident criticality (the fix deadline, in the units the regulation gives): level 1
//!   ≤ 2 clock hours; level 2 not before 2 h, ≤ 5 working days; level 3 not before 72 h,
//!   ≤ 15 calendar days;
//! - complaints: reviewed within a configurable number of working days (default 5);
//! - a request waiting for the caller with no reply for 8 working hours may be closed as
//!   "no response from the user".
//!
//! The clocks do not pause while waiting for the caller (a simplification, stated here).
//! [`SlaMonitor::check`] reports each breach once: it is told which were already recorded.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::calendar::{CalendarError, WorkCalendar};
use crate::tickets::model::{Criticality, ServiceLevel, Status, TicketType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaPolicy {
    pub complaint_review_days: u32,
    pub auto_close_after: Duration,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        SlaPolicy {
            complaint_review_days: 5,
            auto_close_after: Duration::from_secs(8 * 3600),
        }
    }
}

/// The fix window of an incident: not before `earliest`, at the latest `due`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixWindow {
    pub earliest: Timestamp,
    pub due: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub first_response_due: Timestamp,
    pub resolve_due: Timestamp,
    pub fix: Option<FixWindow>,
    pub review_due: Option<Timestamp>,
}

pub fn deadlines(
    cal: &WorkCalendar,
    policy: &SlaPolicy,
    opened: Timestamp,
    level: ServiceLevel,
    kind: TicketType,
    criticality: Option<Criticality>,
) -> Result<Deadlines, CalendarError> {
    let (first_response_due, resolve_due) = match level {
        ServiceLevel::Basic => (
            cal.add_working_days(opened, 1)?,
            cal.add_working_days(opened, 3)?,
        ),
        ServiceLevel::Individual => (
            cal.add_working(opened, Duration::from_secs(2 * 3600))?,
            cal.add_working_days(opened, 5)?,
        ),
    };
    let clock = |d: SignedDuration| opened.checked_add(d).map_err(|_| CalendarError::Range);
    let fix = match (kind, criticality) {
        (TicketType::Incident, Some(Criticality::Level1)) => Some(FixWindow {
            earliest: opened,
            due: clock(SignedDuration::from_hours(2))?,
        }),
        (TicketType::Incident, Some(Criticality::Level2)) => Some(FixWindow {
            earliest: clock(SignedDuration::from_hours(2))?,
            due: cal.add_working_days(opened, 5)?,
        }),
        (TicketType::Incident, Some(Criticality::Level3)) => Some(FixWindow {
            earliest: clock(SignedDuration::from_hours(72))?,
            due: clock(SignedDuration::from_hours(15 * 24))?,
        }),
        _ => None,
    };
    let review_due = match kind {
        TicketType::Complaint => Some(cal.add_working_days(opened, policy.complaint_review_days)?),
        _ => None,
    };
    Ok(Deadlines {
        first_response_due,
        resolve_due,
        fix,
        review_due,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BreachKind {
    FirstResponse,
    Resolve,
    Fix,
    Review,
}

impl BreachKind {
    pub fn label(self) -> &'static str {
        match self {
            BreachKind::FirstResponse => "first_response",
            BreachKind::Resolve => "resolve",
            BreachKind::Fix => "fix",
            BreachKind::Review => "review",
        }
    }
}

/// What the SLA job must do for one ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaEvent {
    Breached(BreachKind),
    /// Close as "no response from the user".
    AutoClose,
}

/// The facts of one ticket the monitor needs.
#[derive(Debug, Clone, Copy)]
pub struct TicketClock {
    pub status: Status,
    pub deadlines: Deadlines,
    pub first_response_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    /// When the ticket entered `waiting_customer`.
    pub waiting_since: Option<Timestamp>,
}

pub struct SlaMonitor<'a> {
    pub calendar: &'a WorkCalendar,
    pub policy: SlaPolicy,
}

impl SlaMonitor<'_> {
    /// Events due at `now` that are not in `recorded`.
    pub fn check(
        &self,
        now: Timestamp,
        t: &TicketClock,
        recorded: &[BreachKind],
    ) -> Result<Vec<SlaEvent>, CalendarError> {
        let mut out = Vec::new();
        let open = !matches!(
            t.status,
            Status::Resolved | Status::Closed | Status::Refused
        );
        let mut breach = |kind: BreachKind, due: Timestamp, done: Option<Timestamp>| {
            let late = match done {
                Some(at) => at > due,
                None => now > due,
            };
            if late && !recorded.contains(&kind) {
                out.push(SlaEvent::Breached(kind));
            }
        };
        breach(
            BreachKind::FirstResponse,
            t.deadlines.first_response_due,
            t.first_response_at,
        );
        if open || t.resolved_at.is_some() {
            breach(BreachKind::Resolve, t.deadlines.resolve_due, t.resolved_at);
            if let Some(fix) = t.deadlines.fix {
                breach(BreachKind::Fix, fix.due, t.resolved_at);
            }
            if let Some(review) = t.deadlines.review_due {
                breach(BreachKind::Review, review, t.resolved_at);
            }
        }
        if t.status == Status::WaitingCustomer {
            if let Some(since) = t.waiting_since {
                if self.calendar.working_time_between(since, now)? >= self.policy.auto_close_after {
                    out.push(SlaEvent::AutoClose);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::testing::{cal, local, t};

    fn d(level: ServiceLevel, kind: TicketType, crit: Option<Criticality>) -> Deadlines {
        deadlines(
            &cal(),
            &SlaPolicy::default(),
            t("2026-11-23T12:00"),
            level,
            kind,
            crit,
        )
        .unwrap()
    }

    #[test]
    fn basic_and_individual_service_levels() {
        let b = d(ServiceLevel::Basic, TicketType::Consultation, None);
        assert_eq!(local(b.first_response_due), "2026-11-24T12:00:00");
        assert_eq!(local(b.resolve_due), "2026-11-26T12:00:00");
        let i = d(ServiceLevel::Individual, TicketType::Consultation, None);
        assert_eq!(local(i.first_response_due), "2026-11-23T14:00:00");
        assert_eq!(local(i.resolve_due), "2026-11-30T12:00:00");
        assert_eq!((b.fix, b.review_due), (None, None));
    }

    #[test]
    fn criticality_fix_windows_mix_clock_and_working_time() {
        let l1 = d(
            ServiceLevel::Basic,
            TicketType::Incident,
            Some(Criticality::Level1),
        )
        .fix
        .unwrap();
        assert_eq!(local(l1.due), "2026-11-23T14:00:00");
        let l2 = d(
            ServiceLevel::Basic,
            TicketType::Incident,
            Some(Criticality::Level2),
        )
        .fix
        .unwrap();
        assert_eq!(
            (local(l2.earliest), local(l2.due)),
            ("2026-11-23T14:00:00".into(), "2026-11-30T12:00:00".into())
        );
        let l3 = d(
            ServiceLevel::Basic,
            TicketType::Incident,
            Some(Criticality::Level3),
        )
        .fix
        .unwrap();
        assert_eq!(
            (local(l3.earliest), local(l3.due)),
            ("2026-11-26T12:00:00".into(), "2026-12-08T12:00:00".into())
        );
        // Level 1 counts clock hours even outside working time: Friday 17:30 -> 19:30.
        let late = deadlines(
            &cal(),
            &SlaPolicy::default(),
            t("2026-11-27T17:30"),
            ServiceLevel::Basic,
            TicketType::Incident,
            Some(Criticality::Level1),
        )
        .unwrap();
        assert_eq!(local(late.fix.unwrap().due), "2026-11-27T19:30:00");
    }

    #[test]
    fn complaints_get_a_review_deadline() {
        let c = d(ServiceLevel::Basic, TicketType::Complaint, None);
        assert_eq!(local(c.review_due.unwrap()), "2026-11-30T12:00:00");
    }

    fn clock(status: Status) -> TicketClock {
        TicketClock {
            status,
            deadlines: d(
                ServiceLevel::Individual,
                TicketType::Incident,
                Some(Criticality::Level1),
            ),
            first_response_at: None,
            resolved_at: None,
            waiting_since: None,
        }
    }

    #[test]
    fn breaches_are_reported_once() {
        let cal = cal();
        let m = SlaMonitor {
            calendar: &cal,
            policy: SlaPolicy::default(),
        };
        let c = clock(Status::New);
        assert!(m.check(t("2026-11-23T13:59"), &c, &[]).unwrap().is_empty());
        let ev = m.check(t("2026-11-23T14:01"), &c, &[]).unwrap();
        assert_eq!(
            ev,
            [
                SlaEvent::Breached(BreachKind::FirstResponse),
                SlaEvent::Breached(BreachKind::Fix)
            ]
        );
        let ev = m
            .check(
                t("2026-11-23T15:00"),
                &c,
                &[BreachKind::FirstResponse, BreachKind::Fix],
            )
            .unwrap();
        assert!(ev.is_empty());
    }

    #[test]
    fn a_timely_answer_is_no_breach_even_when_checked_late() {
        let cal = cal();
        let m = SlaMonitor {
            calendar: &cal,
            policy: SlaPolicy::default(),
        };
        let mut c = clock(Status::Resolved);
        c.first_response_at = Some(t("2026-11-23T12:30"));
        c.resolved_at = Some(t("2026-11-23T13:00"));
        assert!(m.check(t("2026-12-23T12:00"), &c, &[]).unwrap().is_empty());
    }

    #[test]
    fn waiting_for_the_caller_closes_after_eight_working_hours() {
        let cal = cal();
        let m = SlaMonitor {
            calendar: &cal,
            policy: SlaPolicy::default(),
        };
        let mut c = clock(Status::WaitingCustomer);
        c.first_response_at = Some(t("2026-11-23T12:10"));
        c.resolved_at = None;
        c.deadlines.fix = None;
        c.waiting_since = Some(t("2026-11-27T15:00")); // Friday afternoon
                                                       // Friday 3.5 h + Monday 4.5 h = 8 working hours at Monday 13:30.
        let before = m
            .check(t("2026-11-30T13:29"), &c, &[BreachKind::Resolve])
            .unwrap();
        assert!(!before.contains(&SlaEvent::AutoClose));
        let after = m
            .check(t("2026-11-30T13:30"), &c, &[BreachKind::Resolve])
            .unwrap();
        assert!(after.contains(&SlaEvent::AutoClose));
    }
}
