//! Which status changes are allowed (MISSION §4), sans-IO. A transition is checked with the
//! facts it needs: a reason for deferral or refusal, a resolution text to resolve, and the
//! "no response from the user" reason for closing a request that waits for the caller.

use crate::tickets::model::{ReasonCode, Status};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("a ticket cannot go from {from} to {to}")]
    NotAllowed { from: Status, to: Status },
    #[error("{to} needs a reason")]
    ReasonRequired { to: Status },
    #[error("reason {reason} is only for closing a ticket that waited for the caller")]
    WrongReason { reason: ReasonCode },
    #[error("resolving needs a resolution text")]
    ResolutionRequired,
}

/// What accompanies a status change.
#[derive(Debug, Clone, Default)]
pub struct Change<'a> {
    pub reason: Option<ReasonCode>,
    pub resolution: Option<&'a str>,
}

pub fn transition(from: Status, to: Status, change: &Change<'_>) -> Result<(), TransitionError> {
    use Status::*;
    let allowed = match from {
        New => matches!(
            to,
            InProgress | WaitingCustomer | Resolved | Deferred | Refused
        ),
        InProgress => matches!(to, WaitingCustomer | Resolved | Deferred | Refused),
        WaitingCustomer => matches!(to, InProgress | Resolved | Deferred | Closed),
        Deferred => matches!(to, InProgress | Refused),
        Resolved => matches!(to, Closed | InProgress), // reopen
        Closed | Refused => false,                     // Status::is_final
    };
    if !allowed {
        return Err(TransitionError::NotAllowed { from, to });
    }
    match to {
        Deferred | Refused => match change.reason {
            None => Err(TransitionError::ReasonRequired { to }),
            Some(ReasonCode::NoResponseFromUser) => Err(TransitionError::WrongReason {
                reason: ReasonCode::NoResponseFromUser,
            }),
            Some(_) => Ok(()),
        },
        Resolved if change.resolution.is_none_or(|r| r.trim().is_empty()) => {
            Err(TransitionError::ResolutionRequired)
        }
        Closed if from == WaitingCustomer => match change.reason {
            Some(ReasonCode::NoResponseFromUser) => Ok(()),
            _ => Err(TransitionError::ReasonRequired { to }),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    fn go(from: Status, to: Status) -> Result<(), TransitionError> {
        transition(
            from,
            to,
            &Change {
                reason: Some(ReasonCode::UnclearSubject),
                resolution: Some("done"),
            },
        )
    }

    #[test]
    fn the_normal_path() {
        assert_eq!(go(New, InProgress), Ok(()));
        assert_eq!(go(InProgress, WaitingCustomer), Ok(()));
        assert_eq!(go(WaitingCustomer, InProgress), Ok(()));
        assert_eq!(go(InProgress, Resolved), Ok(()));
        assert_eq!(go(Resolved, Closed), Ok(()));
    }

    #[test]
    fn illegal_changes_are_refused_naming_both_states() {
        let err = go(Closed, InProgress).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a ticket cannot go from closed to in_progress"
        );
        assert!(go(Refused, New).is_err());
        assert!(go(New, Closed).is_err());
        assert!(go(Deferred, Resolved).is_err());
    }

    #[test]
    fn deferral_and_refusal_need_one_of_the_regulations_reasons() {
        let none = Change::default();
        assert_eq!(
            transition(New, Deferred, &none),
            Err(TransitionError::ReasonRequired { to: Deferred })
        );
        let wrong = Change {
            reason: Some(ReasonCode::NoResponseFromUser),
            resolution: None,
        };
        assert!(matches!(
            transition(New, Refused, &wrong),
            Err(TransitionError::WrongReason { .. })
        ));
        let ok = Change {
            reason: Some(ReasonCode::AbusiveLanguage),
            resolution: None,
        };
        assert_eq!(transition(InProgress, Refused, &ok), Ok(()));
    }

    #[test]
    fn resolving_needs_a_text_and_auto_close_needs_its_reason() {
        let blank = Change {
            reason: None,
            resolution: Some("  "),
        };
        assert_eq!(
            transition(InProgress, Resolved, &blank),
            Err(TransitionError::ResolutionRequired)
        );
        let auto = Change {
            reason: Some(ReasonCode::NoResponseFromUser),
            resolution: None,
        };
        assert_eq!(transition(WaitingCustomer, Closed, &auto), Ok(()));
        assert!(transition(WaitingCustomer, Closed, &Change::default()).is_err());
    }

    #[test]
    fn a_resolved_ticket_can_be_reopened() {
        assert_eq!(go(Resolved, InProgress), Ok(()));
    }
}
