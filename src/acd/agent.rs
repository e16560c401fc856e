//! One agent (an operator: a login and an extension) as the ACD sees it, sans-IO: logged
//! out, available, ringing with an offer, reserved for a callback, on a queue call, wrapping
//! up, resting after a failed offer, or paused with a reason. Every change is an
//! [`AgentActivity`] for the activity log.
//!
//! Inputs are verbs from the router ([`crate::router`]) with `now`; each returns the
//! activity it caused. The agent knows nothing of queues' waiting callers: the router decides
//! who is offered what and owns the timers; the agent only says when its own deadline (end of
//! wrap-up or of the retry delay) falls. "Busy elsewhere" (a direct call, a flow's `dial`) is
//! a flag beside the state: it keeps an available agent from every queue without changing
//! the state the console shows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use super::queue::{EntryId, QueueId};

/// An agent, numbered by the ACD core in the order agents were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(pub u32);

/// Who the agent is and what they can serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentConfig {
    pub login: String,
    pub extension: String,
    /// Skill name → level 1–10.
    pub skills: BTreeMap<String, u8>,
    /// The queues the agent is a member of; a member is offered a queue's calls only when
    /// its skills fit the queue's minimums.
    pub queues: BTreeSet<QueueId>,
}

impl AgentConfig {
    /// Every problem, each naming its field (`skills.<name>`).
    pub fn validate(&self) -> Vec<super::queue::ConfigIssue> {
        let mut issues = Vec::new();
        if self.login.is_empty() {
            issues.push(super::queue::ConfigIssue::new("login", "must not be empty"));
        }
        if self.extension.is_empty() {
            issues.push(super::queue::ConfigIssue::new(
                "extension",
                "must not be empty",
            ));
        }
        for (name, level) in &self.skills {
            if !(1..=10).contains(level) {
                issues.push(super::queue::ConfigIssue::new(
                    format!("skills.{name}"),
                    format!("= {level}: a skill level is 1 to 10"),
                ));
            }
        }
        issues
    }
}

/// Why an agent is paused.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PauseReason {
    /// The router paused the agent after N offers missed in a row.
    MissedOffers,
    /// The agent or a supervisor chose to pause ("lunch", "training", …).
    Requested(String),
}

impl fmt::Display for PauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PauseReason::MissedOffers => f.write_str("missed offers"),
            PauseReason::Requested(r) => f.write_str(r),
        }
    }
}

/// The agent's state; each variant holds only what is valid in it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AgentState {
    LoggedOut,
    /// Can be offered a call (unless busy elsewhere).
    Available,
    /// An offer of this queue entry is out: the agent's phones ring.
    Ringing {
        entry: EntryId,
    },
    /// Held for this callback entry (the driver rings the agent for the callback).
    Reserved {
        entry: EntryId,
    },
    /// Talking to this entry's caller, who came through this queue.
    OnCall {
        entry: EntryId,
        queue: QueueId,
    },
    /// After a queue call, until the deadline (the call's queue sets the length).
    WrapUp {
        until: Instant,
    },
    /// After a failed offer: not offered again until the deadline (the queue's
    /// `retry_delay`).
    RetryDelay {
        until: Instant,
    },
    Paused {
        reason: PauseReason,
    },
}

impl AgentState {
    /// Short name for logs and the REST API.
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Available => "available",
            AgentState::Ringing { .. } => "ringing",
            AgentState::Reserved { .. } => "reserved",
            AgentState::OnCall { .. } => "on_call",
            AgentState::WrapUp { .. } => "wrap_up",
            AgentState::RetryDelay { .. } => "retry_delay",
            AgentState::Paused { .. } => "paused",
        }
    }
}

/// How an offer failed (the driver's report, or the core's own ring time-out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OfferFailure {
    NoAnswer,
    Busy,
    Declined,
    Unreachable,
}

impl OfferFailure {
    /// No answer and decline count towards the missed-offers pause; a busy or unreachable
    /// phone is not the agent ignoring a call.
    pub fn counts_as_missed(self) -> bool {
        matches!(self, OfferFailure::NoAnswer | OfferFailure::Declined)
    }
}

/// Why the agent's state changed (or, for `BusyElsewhere`, why the activity log has a line
/// though the state did not change).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ActivityReason {
    LogIn,
    LogOut,
    /// Log-out asked while on a call: it takes effect when the call ends.
    LogOutAfterCall,
    /// Pause asked while on a call: it takes effect when the call ends.
    PauseAfterCall,
    Pause,
    Resume,
    Offered,
    ReservedForCallback,
    Answered,
    /// The offer failed; `missed_in_row` counts no-answers and declines since the last
    /// answer (or resume, or log-in).
    OfferFailed {
        entry: EntryId,
        failure: OfferFailure,
        missed_in_row: u32,
    },
    /// The router withdrew the offer (caller left, another agent answered a ring-all, the
    /// entry overflowed or turned into a callback): not the agent's fault.
    OfferCancelled {
        entry: EntryId,
    },
    CallEnded,
    /// The agent ended wrap-up early.
    WrapUpDone,
    /// A deadline (wrap-up, retry delay) passed.
    DeadlinePassed,
    BusyElsewhere {
        busy: bool,
    },
}

/// One line of the activity log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AgentActivity {
    pub agent: AgentId,
    pub from: AgentState,
    pub to: AgentState,
    pub reason: ActivityReason,
    pub at: Instant,
}

/// What to do when the current call ends.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AfterCall {
    LogOut,
    Pause(PauseReason),
}

/// A read-only view for queries (REST API, metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentStatus<'a> {
    pub id: AgentId,
    pub login: &'a str,
    pub extension: &'a str,
    pub state: &'a AgentState,
    pub busy_elsewhere: bool,
    pub missed_in_row: u32,
    pub answered_since_login: u32,
    /// When the agent last became available after work (log-in, resume, end of wrap-up).
    pub idle_since: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub(crate) id: AgentId,
    pub(crate) config: AgentConfig,
    state: AgentState,
    busy_elsewhere: bool,
    after_call: Option<AfterCall>,
    missed_in_row: u32,
    answered: u32,
    idle_since: Option<Instant>,
}

impl Agent {
    pub(crate) fn new(id: AgentId, config: AgentConfig) -> Agent {
        Agent {
            id,
            config,
            state: AgentState::LoggedOut,
            busy_elsewhere: false,
            after_call: None,
            missed_in_row: 0,
            answered: 0,
            idle_since: None,
        }
    }

    pub(crate) fn state(&self) -> &AgentState {
        &self.state
    }

    pub(crate) fn status(&self) -> AgentStatus<'_> {
        AgentStatus {
            id: self.id,
            login: &self.config.login,
            extension: &self.config.extension,
            state: &self.state,
            busy_elsewhere: self.busy_elsewhere,
            missed_in_row: self.missed_in_row,
            answered_since_login: self.answered,
            idle_since: self.idle_since,
        }
    }

    pub(crate) fn is_logged_in(&self) -> bool {
        self.state != AgentState::LoggedOut
    }

    /// Can take an offer now.
    pub(crate) fn is_free(&self) -> bool {
        self.state == AgentState::Available && !self.busy_elsewhere
    }

    pub(crate) fn answered(&self) -> u32 {
        self.answered
    }

    /// For longest-idle; `None` only when logged out.
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        self.idle_since
    }

    /// The offer out to this agent, if any.
    pub(crate) fn offered_entry(&self) -> Option<EntryId> {
        match self.state {
            AgentState::Ringing { entry } | AgentState::Reserved { entry } => Some(entry),
            _ => None,
        }
    }

    /// The agent's own deadline: end of wrap-up or of the retry delay.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state {
            AgentState::WrapUp { until } | AgentState::RetryDelay { until } => Some(until),
            _ => None,
        }
    }

    fn go(&mut self, now: Instant, to: AgentState, reason: ActivityReason) -> AgentActivity {
        let from = std::mem::replace(&mut self.state, to.clone());
        AgentActivity {
            agent: self.id,
            from,
            to,
            reason,
            at: now,
        }
    }

    fn become_available(&mut self, now: Instant, reason: ActivityReason) -> AgentActivity {
        self.idle_since = Some(now);
        self.go(now, AgentState::Available, reason)
    }

    /// Logged out → available; the answered count starts again.
    pub(crate) fn log_in(&mut self, now: Instant) -> Option<AgentActivity> {
        if self.is_logged_in() {
            return None;
        }
        self.missed_in_row = 0;
        self.answered = 0;
        self.after_call = None;
        Some(self.become_available(now, ActivityReason::LogIn))
    }

    /// Log out now, or after the call when on one. A pending offer is withdrawn: the router
    /// cancels it (the entry in `offer_withdrawn`).
    pub(crate) fn log_out(&mut self, now: Instant) -> Option<StateChange> {
        self.leave(now, AfterCall::LogOut)
    }

    /// Pause now, or after the call when on one; an offer out is withdrawn as for log-out.
    pub(crate) fn pause(&mut self, now: Instant, reason: PauseReason) -> Option<StateChange> {
        self.leave(now, AfterCall::Pause(reason))
    }

    fn leave(&mut self, now: Instant, to: AfterCall) -> Option<StateChange> {
        let (target, reason) = match &to {
            AfterCall::LogOut => (AgentState::LoggedOut, ActivityReason::LogOut),
            AfterCall::Pause(r) => (
                AgentState::Paused { reason: r.clone() },
                ActivityReason::Pause,
            ),
        };
        match &self.state {
            AgentState::LoggedOut => None,
            _ if self.state == target => None,
            AgentState::OnCall { .. } => {
                // A log-out wins over a pause asked earlier; a pause never replaces a log-out.
                if self.after_call == Some(AfterCall::LogOut) {
                    return None;
                }
                let reason = match to {
                    AfterCall::LogOut => ActivityReason::LogOutAfterCall,
                    AfterCall::Pause(_) => ActivityReason::PauseAfterCall,
                };
                self.after_call = Some(to);
                let state = self.state.clone();
                Some(StateChange {
                    activity: AgentActivity {
                        agent: self.id,
                        from: state.clone(),
                        to: state,
                        reason,
                        at: now,
                    },
                    offer_withdrawn: None,
                })
            }
            _ => {
                let offer_withdrawn = self.offered_entry();
                if matches!(target, AgentState::LoggedOut) {
                    self.idle_since = None;
                }
                Some(StateChange {
                    activity: self.go(now, target, reason),
                    offer_withdrawn,
                })
            }
        }
    }

    /// Paused → available; the missed-offer count starts again.
    pub(crate) fn resume(&mut self, now: Instant) -> Option<AgentActivity> {
        if matches!(self.after_call, Some(AfterCall::Pause(_))) {
            self.after_call = None;
        }
        if !matches!(self.state, AgentState::Paused { .. }) {
            return None;
        }
        self.missed_in_row = 0;
        Some(self.become_available(now, ActivityReason::Resume))
    }

    /// The router offers (or reserves for a callback) `entry`. Call only when [`Agent::is_free`].
    pub(crate) fn offer(&mut self, now: Instant, entry: EntryId, callback: bool) -> AgentActivity {
        debug_assert!(self.is_free(), "offer to an agent who is not free");
        if callback {
            self.go(
                now,
                AgentState::Reserved { entry },
                ActivityReason::ReservedForCallback,
            )
        } else {
            self.go(now, AgentState::Ringing { entry }, ActivityReason::Offered)
        }
    }

    /// The offer of `entry` was answered: on a call for `queue`.
    pub(crate) fn answered_offer(
        &mut self,
        now: Instant,
        entry: EntryId,
        queue: QueueId,
    ) -> AgentActivity {
        self.missed_in_row = 0;
        self.answered += 1;
        self.go(
            now,
            AgentState::OnCall { entry, queue },
            ActivityReason::Answered,
        )
    }

    /// The offer failed: rest for `retry_delay`, or pause when this makes `pause_after`
    /// misses in a row (0: never pause).
    pub(crate) fn failed_offer(
        &mut self,
        now: Instant,
        failure: OfferFailure,
        retry_delay: Duration,
        pause_after: u32,
    ) -> AgentActivity {
        let entry = self
            .offered_entry()
            .expect("failed_offer only while an offer is out");
        if failure.counts_as_missed() {
            self.missed_in_row += 1;
        }
        let reason = ActivityReason::OfferFailed {
            entry,
            failure,
            missed_in_row: self.missed_in_row,
        };
        if pause_after > 0 && failure.counts_as_missed() && self.missed_in_row >= pause_after {
            self.go(
                now,
                AgentState::Paused {
                    reason: PauseReason::MissedOffers,
                },
                reason,
            )
        } else if retry_delay.is_zero() {
            self.go(now, AgentState::Available, reason)
        } else {
            self.go(
                now,
                AgentState::RetryDelay {
                    until: now + retry_delay,
                },
                reason,
            )
        }
    }

    /// The router withdrew the offer: available again at once, idle time kept.
    pub(crate) fn cancel_offer(&mut self, now: Instant) -> AgentActivity {
        let entry = self
            .offered_entry()
            .expect("cancel_offer only while an offer is out");
        self.go(
            now,
            AgentState::Available,
            ActivityReason::OfferCancelled { entry },
        )
    }

    /// The queue call ended: what was asked during the call, else wrap-up (or available at
    /// once when `wrap_up` is zero).
    pub(crate) fn call_ended(&mut self, now: Instant, wrap_up: Duration) -> AgentActivity {
        match self.after_call.take() {
            Some(AfterCall::LogOut) => {
                self.idle_since = None;
                self.go(now, AgentState::LoggedOut, ActivityReason::CallEnded)
            }
            Some(AfterCall::Pause(reason)) => self.go(
                now,
                AgentState::Paused { reason },
                ActivityReason::CallEnded,
            ),
            None if wrap_up.is_zero() => self.become_available(now, ActivityReason::CallEnded),
            None => self.go(
                now,
                AgentState::WrapUp {
                    until: now + wrap_up,
                },
                ActivityReason::CallEnded,
            ),
        }
    }

    /// The agent finished wrap-up before the deadline.
    pub(crate) fn end_wrap_up(&mut self, now: Instant) -> Option<AgentActivity> {
        matches!(self.state, AgentState::WrapUp { .. })
            .then(|| self.become_available(now, ActivityReason::WrapUpDone))
    }

    /// Wrap-up or the retry delay ended by `now`. Early or repeated calls change nothing.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<AgentActivity> {
        match self.state {
            AgentState::WrapUp { until } if until <= now => {
                Some(self.become_available(now, ActivityReason::DeadlinePassed))
            }
            // Resting after a failed offer is not work: the idle time runs on.
            AgentState::RetryDelay { until } if until <= now => {
                Some(self.go(now, AgentState::Available, ActivityReason::DeadlinePassed))
            }
            _ => None,
        }
    }

    /// On a direct call (not through a queue) or off it again. Kept while logged out too,
    /// so an agent who logs in during a direct call is not offered one.
    pub(crate) fn set_busy_elsewhere(&mut self, now: Instant, busy: bool) -> Option<AgentActivity> {
        if self.busy_elsewhere == busy {
            return None;
        }
        self.busy_elsewhere = busy;
        let state = self.state.clone();
        Some(AgentActivity {
            agent: self.id,
            from: state.clone(),
            to: state,
            reason: ActivityReason::BusyElsewhere { busy },
            at: now,
        })
    }
}

/// A log-out or pause: the activity, and the entry whose offer the router must withdraw.
#[derive(Debug)]
pub(crate) struct StateChange {
    pub(crate) activity: AgentActivity,
    pub(crate) offer_withdrawn: Option<EntryId>,
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
