//! Ringing an extension, sans-IO: one outbound leg per registered contact (parallel
//! forking), the first to answer wins and the others are cancelled, a second answer is hung
//! up, and when every leg has failed the dial's result is the best failure (busy before no
//! answer, RFC 3261 §16.7 in spirit: a busy phone is a more useful answer than silence).
//!
//! The call core owns one [`Fork`] per dial and performs its [`ForkAction`]s; the legs'
//! SIP lives in `crate::sip::uac` (run by the endpoint). Nothing here knows about media.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::call::events::LegId;
use crate::ivr::DialResult;
use crate::sip::registrar::Reach;
use crate::sip::uac::Outcome;

/// One registered contact to ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialTarget {
    /// The extension dialled (for events and the To header).
    pub extension: String,
    /// The binding's Contact URI: the outbound INVITE's Request-URI.
    pub contact: String,
    pub reach: Reach,
    /// Dialled through this trunk (`[trunks.NAME]`): the INVITE presents the trunk's caller
    /// ID and answers its digest challenge.
    pub trunk: Option<Arc<str>>,
}

/// The one target of a call through `trunk`: the number, written as the trunk wants it
/// (`dial_format`), at the trunk's proxy. Shared by a flow's dial through a trunk and a
/// callback's call to the customer. Err: a number the trunk's plan cannot read.
pub fn trunk_target(
    trunk: &crate::config::TrunkConfig,
    number: &str,
) -> Result<DialTarget, crate::trunk::NumberError> {
    let e164 = trunk.plan.canonical(number)?;
    let user = trunk.plan.for_trunk(&e164, trunk.dial_format);
    Ok(DialTarget {
        contact: format!("sip:{user}@{}", trunk.proxy),
        extension: user,
        reach: Reach::Udp(trunk.proxy),
        trunk: Some(Arc::from(trunk.name.as_str())),
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForkAction {
    /// Ring this contact on a new leg.
    Place { leg: LegId, target: DialTarget },
    /// Stop ringing this leg (CANCEL).
    Cancel(LegId),
    /// Hang up this leg (a late or second answer).
    Bye(LegId),
    /// The leg that won: bridge it.
    Won(LegId),
    /// Every leg failed (or none could be placed): the dial's outcome.
    Failed(DialResult),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Branch {
    Ringing,
    Answered,
    Failed(Outcome),
    Cancelled,
}

#[derive(Debug)]
pub struct Fork {
    legs: Vec<(LegId, DialTarget, Branch)>,
    winner: Option<LegId>,
    /// The dial was given up (ring time-out, caller left): answers are hung up.
    abandoned: bool,
    decided: bool,
    out: VecDeque<ForkAction>,
}

impl Fork {
    /// Ring every target; `first_leg` numbers the legs (`first_leg`, `first_leg + 1`, …).
    pub fn new(targets: Vec<DialTarget>, first_leg: u64) -> Fork {
        let mut f = Fork {
            legs: Vec::with_capacity(targets.len()),
            winner: None,
            abandoned: false,
            decided: false,
            out: VecDeque::new(),
        };
        if targets.is_empty() {
            f.decide(DialResult::NoAnswer);
        }
        for (i, target) in targets.into_iter().enumerate() {
            let leg = LegId(first_leg + i as u64);
            f.out.push_back(ForkAction::Place {
                leg,
                target: target.clone(),
            });
            f.legs.push((leg, target, Branch::Ringing));
        }
        f
    }

    /// Legs this fork created (the next free leg number follows the last).
    pub fn leg_count(&self) -> u64 {
        self.legs.len() as u64
    }

    pub fn target(&self, leg: LegId) -> Option<&DialTarget> {
        self.legs
            .iter()
            .find(|(l, ..)| *l == leg)
            .map(|(_, t, _)| t)
    }

    pub fn winner(&self) -> Option<LegId> {
        self.winner
    }

    /// A leg answered (2xx).
    pub fn handle_answered(&mut self, leg: LegId) {
        let Some(i) = self.index(leg) else { return };
        if self.winner.is_some() || self.abandoned || self.legs[i].2 != Branch::Ringing {
            self.legs[i].2 = Branch::Cancelled;
            self.out.push_back(ForkAction::Bye(leg));
            return;
        }
        self.legs[i].2 = Branch::Answered;
        self.winner = Some(leg);
        self.decided = true;
        for (other, _, state) in &mut self.legs {
            if *other != leg && *state == Branch::Ringing {
                *state = Branch::Cancelled;
                self.out.push_back(ForkAction::Cancel(*other));
            }
        }
        self.out.push_back(ForkAction::Won(leg));
    }

    /// A leg failed before answering (3xx–6xx, Timer B, our CANCEL's 487).
    pub fn handle_failed(&mut self, leg: LegId, outcome: Outcome) {
        let Some(i) = self.index(leg) else { return };
        if self.legs[i].2 == Branch::Ringing {
            self.legs[i].2 = Branch::Failed(outcome);
        }
        if self.decided || self.abandoned {
            return;
        }
        if self
            .legs
            .iter()
            .all(|(_, _, s)| matches!(s, Branch::Failed(_) | Branch::Cancelled))
        {
            let busy = self
                .legs
                .iter()
                .any(|(_, _, s)| matches!(s, Branch::Failed(Outcome::Busy | Outcome::Declined)));
            self.decide(if busy {
                DialResult::Busy
            } else {
                DialResult::NoAnswer
            });
        }
    }

    /// Give up (ring time-out, the caller hung up): cancel what still rings.
    pub fn abandon(&mut self) {
        self.abandoned = true;
        self.decided = true;
        for (leg, _, state) in &mut self.legs {
            if *state == Branch::Ringing {
                *state = Branch::Cancelled;
                self.out.push_back(ForkAction::Cancel(*leg));
            }
        }
    }

    pub fn poll_action(&mut self) -> Option<ForkAction> {
        self.out.pop_front()
    }

    fn decide(&mut self, result: DialResult) {
        self.decided = true;
        self.out.push_back(ForkAction::Failed(result));
    }

    fn index(&self, leg: LegId) -> Option<usize> {
        self.legs.iter().position(|(l, ..)| *l == leg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(n: u16) -> DialTarget {
        DialTarget {
            extension: "2001".into(),
            contact: format!("sip:2001@127.0.0.1:{n}"),
            reach: Reach::Udp(format!("127.0.0.1:{n}").parse().unwrap()),
            trunk: None,
        }
    }

    fn drain(f: &mut Fork) -> Vec<ForkAction> {
        std::iter::from_fn(|| f.poll_action()).collect()
    }

    #[test]
    fn every_contact_is_rung_and_the_first_answer_cancels_the_others() {
        let mut f = Fork::new(vec![target(1), target(2), target(3)], 10);
        let placed = drain(&mut f);
        assert_eq!(placed.len(), 3);
        assert!(matches!(
            placed[0],
            ForkAction::Place { leg: LegId(10), .. }
        ));
        f.handle_answered(LegId(11));
        assert_eq!(
            drain(&mut f),
            [
                ForkAction::Cancel(LegId(10)),
                ForkAction::Cancel(LegId(12)),
                ForkAction::Won(LegId(11))
            ]
        );
        // The cancelled legs' 487s decide nothing more.
        f.handle_failed(LegId(10), Outcome::Cancelled);
        f.handle_failed(LegId(12), Outcome::Cancelled);
        assert!(drain(&mut f).is_empty());
    }

    #[test]
    fn a_second_answer_racing_the_cancel_is_hung_up() {
        let mut f = Fork::new(vec![target(1), target(2)], 0);
        drain(&mut f);
        f.handle_answered(LegId(0));
        drain(&mut f);
        f.handle_answered(LegId(1));
        assert_eq!(drain(&mut f), [ForkAction::Bye(LegId(1))]);
        assert_eq!(f.winner(), Some(LegId(0)));
    }

    #[test]
    fn all_legs_failing_gives_busy_when_any_was_busy_else_no_answer() {
        let mut f = Fork::new(vec![target(1), target(2)], 0);
        drain(&mut f);
        f.handle_failed(LegId(0), Outcome::Busy);
        assert!(drain(&mut f).is_empty(), "one leg still rings");
        f.handle_failed(LegId(1), Outcome::NoAnswer);
        assert_eq!(drain(&mut f), [ForkAction::Failed(DialResult::Busy)]);

        let mut f = Fork::new(vec![target(1)], 0);
        drain(&mut f);
        f.handle_failed(LegId(0), Outcome::Unavailable);
        assert_eq!(drain(&mut f), [ForkAction::Failed(DialResult::NoAnswer)]);
    }

    #[test]
    fn no_contacts_is_no_answer_at_once() {
        let mut f = Fork::new(vec![], 0);
        assert_eq!(drain(&mut f), [ForkAction::Failed(DialResult::NoAnswer)]);
    }

    #[test]
    fn abandoning_cancels_what_rings_and_a_late_answer_is_hung_up() {
        let mut f = Fork::new(vec![target(1), target(2)], 0);
        drain(&mut f);
        f.handle_failed(LegId(1), Outcome::Busy);
        f.abandon();
        assert_eq!(drain(&mut f), [ForkAction::Cancel(LegId(0))]);
        f.handle_answered(LegId(0));
        assert_eq!(drain(&mut f), [ForkAction::Bye(LegId(0))]);
        f.handle_failed(LegId(0), Outcome::Cancelled);
        assert!(
            drain(&mut f).is_empty(),
            "an abandoned dial reports no result"
        );
    }
}
