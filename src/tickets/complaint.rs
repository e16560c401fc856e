//! Complaint vocabulary (MISSION §1.8: complaints are registered by category, reviewed in set
//! time, escalated and answered; §3: the report counts confirmed complaints). The review
//! deadline is in [`crate::tickets::sla`]. The category list is our own: the regulation
//! names none.

use std::fmt;

use crate::tickets::model::{string_enum, UnknownValue};

string_enum!(ComplaintCategory, "complaint category", {
    ServiceQuality => "service_quality",
    StaffConduct => "staff_conduct",
    WaitingTime => "waiting_time",
    WrongInformation => "wrong_information",
    MissedDeadline => "missed_deadline",
    Technical => "technical",
    Other => "other",
});

string_enum!(
    /// The result of the review, told to the complainant.
    ComplaintOutcome, "complaint outcome", {
    Upheld => "upheld",
    PartiallyUpheld => "partially_upheld",
    Rejected => "rejected",
});

impl ComplaintOutcome {
    /// Counted as a confirmed complaint in the semi-annual report (MISSION §3).
    pub fn is_confirmed(self) -> bool {
        matches!(
            self,
            ComplaintOutcome::Upheld | ComplaintOutcome::PartiallyUpheld
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_and_categories() {
        assert!(ComplaintOutcome::PartiallyUpheld.is_confirmed());
        assert!(!ComplaintOutcome::Rejected.is_confirmed());
        assert_eq!(
            "waiting_time".parse::<ComplaintCategory>(),
            Ok(ComplaintCategory::WaitingTime)
        );
    }
}
