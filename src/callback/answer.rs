//! What the book's answers mean to the others, as pure functions: the caller's
//! [`Booking`] for a refusal or an admission, the hour a caller chose as a time, the store's
//! names for states and attempts, and each fact's step on the event stream and on
//! `/metrics`. The callback service (a driver) only carries them out.

use jiff::Timestamp;

use super::book::{CallbackFact, CallbackId, CloseReason, Refused, State};
use crate::call::callback_offer::{Booking, Choice};

/// What a caller is told when the book refuses their request.
pub fn refused(r: &Refused) -> Booking {
    match r {
        Refused::Duplicate { .. } => Booking::Duplicate,
        Refused::DoNotContact => Booking::DoNotContact,
        Refused::OutsidePermittedHours | Refused::InPast | Refused::Calendar(_) => {
            Booking::HourClosed
        }
    }
}

/// What a caller is told when the book admitted their request.
pub fn booked(choice: Choice, out_of_hours: bool) -> Booking {
    match (choice, out_of_hours) {
        (Choice::Hour(h), _) => Booking::AtHour(h),
        (Choice::Asap, true) => Booking::NextWorkingDay,
        (Choice::Asap, false) => Booking::Asap,
    }
}

/// The next `hour`:00 in Almaty at or after `now` (the hour a caller keyed).
pub fn next_hour(now: Timestamp, hour: u8) -> Option<Timestamp> {
    let tz = jiff::tz::TimeZone::get("Asia/Almaty").ok()?;
    let z = now.to_zoned(tz);
    let hour = i8::try_from(hour).ok()?;
    let at = |date: jiff::civil::Date| {
        date.at(hour, 0, 0, 0)
            .to_zoned(z.time_zone().clone())
            .ok()
            .map(|z| z.timestamp())
    };
    match at(z.date())? {
        today if today >= now => Some(today),
        _ => at(z.date().tomorrow().ok()?),
    }
}

/// The store's state and close reason for a book state.
pub fn stored_state(state: State) -> (&'static str, Option<&'static str>) {
    match state {
        State::Scheduled | State::Queued => ("pending", None),
        State::Placing => ("placing", None),
        State::Completed => ("completed", None),
        State::Failed => ("failed", None),
        State::Closed(CloseReason::Served) => ("closed", Some("served")),
        State::Closed(CloseReason::Cancelled) => ("closed", Some("cancelled")),
    }
}

/// How an attempt ended, as the store names it.
pub fn attempt_label(status: Option<u16>, answered: bool) -> &'static str {
    match (answered, status) {
        (true, _) => "answered",
        (false, Some(486 | 600)) => "busy",
        (false, None | Some(408 | 480 | 487)) => "no_answer",
        (false, Some(603)) => "declined",
        (false, Some(_)) => "failed",
    }
}

/// A fact as the event stream states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub id: CallbackId,
    /// requested, queued, withdrawn, placing, attempt_failed, completed, failed,
    /// closed_served, cancelled, no_calendar.
    pub name: &'static str,
    pub attempt: Option<u32>,
    pub status: Option<u16>,
}

impl Step {
    pub fn of(fact: &CallbackFact) -> Step {
        let step = |id: &CallbackId, name, attempt: Option<u32>, status| Step {
            id: *id,
            name,
            attempt,
            status,
        };
        match fact {
            CallbackFact::Requested { id, .. } => step(id, "requested", None, None),
            CallbackFact::Queued { id } => step(id, "queued", None, None),
            CallbackFact::Withdrawn { id, .. } => step(id, "withdrawn", None, None),
            CallbackFact::Placing { id, attempt } => step(id, "placing", Some(*attempt), None),
            CallbackFact::AttemptFailed {
                id,
                attempt,
                status,
            } => step(id, "attempt_failed", Some(*attempt), *status),
            CallbackFact::Completed { id, attempt } => step(id, "completed", Some(*attempt), None),
            CallbackFact::Failed { id, attempts } => step(id, "failed", Some(*attempts), None),
            CallbackFact::Closed {
                id,
                reason: CloseReason::Served,
            } => step(id, "closed_served", None, None),
            CallbackFact::Closed { id, .. } => step(id, "cancelled", None, None),
            CallbackFact::NoCalendar { id, .. } => step(id, "no_calendar", None, None),
        }
    }

    /// The `outcome` label of `qonyrau_callbacks_total` this step counts under, if any.
    pub fn outcome(&self) -> Option<&'static str> {
        match self.name {
            "queued" | "withdrawn" | "no_calendar" => None,
            "placing" => Some("placed"),
            name => Some(name),
        }
    }

    /// The step ends the callback (the book forgets it).
    pub fn ends(&self) -> bool {
        matches!(
            self.name,
            "completed" | "failed" | "closed_served" | "cancelled"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse::<jiff::Zoned>().unwrap().timestamp()
    }

    #[test]
    fn the_hour_chosen_is_the_next_one_in_almaty() {
        let now = t("2026-12-01T10:30:00+05:00[Asia/Almaty]");
        assert_eq!(
            next_hour(now, 15),
            Some(t("2026-12-01T15:00:00+05:00[Asia/Almaty]"))
        );
        assert_eq!(
            next_hour(now, 9),
            Some(t("2026-12-02T09:00:00+05:00[Asia/Almaty]")),
            "an hour already past today is tomorrow's"
        );
    }

    #[test]
    fn attempts_are_named_for_the_store() {
        assert_eq!(attempt_label(Some(200), true), "answered");
        assert_eq!(attempt_label(Some(486), false), "busy");
        assert_eq!(attempt_label(None, false), "no_answer");
        assert_eq!(attempt_label(Some(503), false), "failed");
    }

    #[test]
    fn book_states_are_stored_as_the_store_names_them() {
        assert_eq!(stored_state(State::Queued), ("pending", None));
        assert_eq!(
            stored_state(State::Closed(CloseReason::Served)),
            ("closed", Some("served"))
        );
    }
}
