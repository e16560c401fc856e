//! Ticket vocabulary (MISSION §4), with the string forms the store and the API use.

use std::fmt;

/// A string was not one of an enum's forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{value}\" is not a valid {what}; expected one of: {expected}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// An enum with fixed snake_case string forms: `as_str`, `FromStr`, `Display`, serde.
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue {
                        what: $what,
                        value: s.to_string(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(TicketType, "ticket type", {
    Consultation => "consultation",
    Incident => "incident",
    ServiceRequest => "service_request",
    Complaint => "complaint",
});

string_enum!(Channel, "channel", {
    Phone => "phone",
    Email => "email",
    Web => "web",
    Letter => "letter",
});

string_enum!(Status, "status", {
    New => "new",
    InProgress => "in_progress",
    WaitingCustomer => "waiting_customer",
    Resolved => "resolved",
    Closed => "closed",
    Deferred => "deferred",
    Refused => "refused",
});

string_enum!(
    /// Why a request is deferred or refused (MISSION §4), or closed without the caller.
    ReasonCode, "reason", {
    InsufficientInformation => "insufficient_information",
    UnclearSubject => "unclear_subject",
    AbusiveLanguage => "abusive_language",
    OutOfScopeThirdPartySoftware => "out_of_scope_third_party_software",
    OutOfScopeUserWorkstation => "out_of_scope_user_workstation",
    OutOfScopeLegalInterpretation => "out_of_scope_legal_interpretation",
    OutOfScopeThirdPartyActions => "out_of_scope_third_party_actions",
    NoResponseFromUser => "no_response_from_user",
});

string_enum!(
    /// Impact: a function stops for a group (high), for one user (medium), an inconvenience
    /// (low), planned work (minimal).
    Impact, "impact", {
    High => "high",
    Medium => "medium",
    Low => "low",
    Minimal => "minimal",
});

string_enum!(
    /// Urgency with its target: highest ≤ 2 h, high ≤ 4 h, medium ≤ 6 h, low ≤ 8 h, planning > 8 h.
    Urgency, "urgency", {
    Highest => "highest",
    High => "high",
    Medium => "medium",
    Low => "low",
    Planning => "planning",
});

string_enum!(ServiceLevel, "service level", {
    Basic => "basic",
    Individual => "individual",
});

string_enum!(
    /// Error criticality of an incident: level 1 the system stops, level 2 a process is
    /// blocked, level 3 anything else.
    Criticality, "criticality", {
    Level1 => "level1",
    Level2 => "level2",
    Level3 => "level3",
});

impl Status {
    /// Closed and refused tickets never change again.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Closed | Status::Refused)
    }
}

/// Priority 1 (most urgent) to 5.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Priority(u8);

impl Priority {
    pub fn new(p: u8) -> Option<Priority> {
        (1..=5).contains(&p).then_some(Priority(p))
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// Support line 1 (operators), 2 and 3 (engineers).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Line(u8);

impl Line {
    pub const FIRST: Line = Line(1);
    pub const LAST: Line = Line(3);

    pub fn new(l: u8) -> Option<Line> {
        (1..=3).contains(&l).then_some(Line(l))
    }

    pub fn get(self) -> u8 {
        self.0
    }

    /// Functional escalation goes one line at a time; `None` from line 3.
    pub fn next(self) -> Option<Line> {
        Line::new(self.0 + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_forms_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), *s);
        }
        assert_eq!(
            serde_json::to_string(&TicketType::ServiceRequest).unwrap(),
            "\"service_request\""
        );
        let err = "urgent".parse::<Urgency>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"urgent\" is not a valid urgency; expected one of: highest high medium low planning "
        );
    }

    #[test]
    fn lines_escalate_one_at_a_time() {
        assert_eq!(Line::FIRST.next(), Line::new(2));
        assert_eq!(Line::new(2).unwrap().next(), Some(Line::LAST));
        assert_eq!(Line::LAST.next(), None);
        assert_eq!(Priority::new(6), None);
    }
}
