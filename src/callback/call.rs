//! One callback call, sans-IO (MISSION §1.7: keep the wait minimal, reach the right person,
//! state the reason first). The ACD has reserved an agent for a callback that reached the
//! head of its queue; this core runs the call from there, **agent first**: the customer must
//! never wait on our side.
//!
//! 1. Ring the agent's extension ([`CallbackCallAction::RingAgent`]) for up to
//!    `agent_ring_timeout`; no answer in time (we cancel), busy, declined or unreachable:
//!    [`CallbackReport::AgentMissed`], which is not an attempt against the customer.
//! 2. The agent answers and hears who is being called and why
//!    ([`PROMPT_TO_AGENT`]); only when that prompt has finished is the customer dialled
//!    through the trunk ([`CallbackCallAction::DialCustomer`], [`CallbackReport::Placing`]).
//! 3. The customer rings for up to `customer_ring_timeout`. Not reached (busy, no answer,
//!    our CANCEL after the time-out, any other failure): the attempt is reported at once
//!    ([`CallbackReport::Attempt`], `answered: false`), the agent hears
//!    [`PROMPT_NOT_REACHED`], then is hung up.
//! 4. The customer answers: the attempt is reported at once (`answered: true`, status 200:
//!    a customer reached counts as reached, even one who hangs up during the reason), and
//!    the customer hears the reason first ([`PROMPT_TO_CUSTOMER`]) while the agent hears
//!    nothing new. When it has finished, agent and customer are bridged.
//! 5. After the bridge, either side hanging up ends the other's leg.
//!
//! **Reports** (for the callback book): exactly one of `AgentMissed`, `AgentLeft` or
//! `Attempt` per call, and `Placing` before any `Attempt`. `AgentLeft`: the agent answered
//! but hung up before the customer answered (the customer leg, if dialled, is cancelled);
//! like `AgentMissed` it costs the customer no attempt. [`CallbackCall::shut_down`] before
//! the customer answered reports `AgentLeft` if the agent had answered, else `AgentMissed`.
//!
//! **Legs**, as the call event stream names them: the customer is [`CUSTOMER_LEG`] (0, like
//! the caller of an inbound call; [`Side::Caller`]), the agent [`AGENT_LEG`] (1, like an
//! operator leg; [`Side::Operator`]). Facts: `LegRinging` on each leg's first provisional
//! response, `LegAnswered`, `LegFailed` (a leg that did not answer, with its outcome, also
//! when we cancelled it after its time-out), `Bridged`/`Unbridged`, `LegEnded` for every
//! answered leg when it ends, and `Ended` just before [`CallbackCallAction::Finished`].
//!
//! **Order within one step**: leg and media commands first (they are what the people on
//! the line wait for), then facts, then the report, then `Ended` and `Finished`.
//!
//! **Late events.** Once a leg is cancelled the UAC core ends it itself: a 2xx that crosses
//! our CANCEL is ACKed and hung up there and reported as `Failed(Cancelled)`
//! (`crate::sip::uac`). So a cancelled leg is over for this core, and any event that does
//! not fit the state (a late 487, a repeated answer, anything after `Finished`) is ignored.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::call::events::{CallFact, EndCause, LegId, Side};
use crate::callback::book::{AttemptOutcome, CallbackId};
use crate::sip::uac::Outcome;

/// The customer's leg (the outbound call through the trunk).
pub const CUSTOMER_LEG: LegId = LegId(0);
/// The agent's leg (their extension).
pub const AGENT_LEG: LegId = LegId(1);

/// To the agent once they answer: who is being called back and why.
pub const PROMPT_TO_AGENT: &str = "callback_to_agent";
/// To the customer once they answer, before the bridge: "This is the contact centre calling
/// you back, as you asked…".
pub const PROMPT_TO_CUSTOMER: &str = "callback_to_customer";
/// To the agent when the customer was not reached, before we hang up.
pub const PROMPT_NOT_REACHED: &str = "callback_not_reached";

/// How long the agent's extension rings by default.
pub const DEFAULT_AGENT_RING_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the customer's phone rings by default.
pub const DEFAULT_CUSTOMER_RING_TIMEOUT: Duration = Duration::from_secs(40);

/// The SIP status of an answered attempt (the 2xx the customer's phone sent).
const ANSWERED: u16 = 200;

/// Static facts for one callback call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackCallSetup {
    pub callback: CallbackId,
    /// The reserved agent's extension.
    pub agent_extension: Arc<str>,
    /// Canonical E.164 (`+77011234567`).
    pub customer_number: String,
    /// Default [`DEFAULT_AGENT_RING_TIMEOUT`].
    pub agent_ring_timeout: Duration,
    /// Default [`DEFAULT_CUSTOMER_RING_TIMEOUT`].
    pub customer_ring_timeout: Duration,
}

impl CallbackCallSetup {
    /// A setup with the default ring time-outs.
    pub fn new(
        callback: CallbackId,
        agent_extension: Arc<str>,
        customer_number: String,
    ) -> CallbackCallSetup {
        CallbackCallSetup {
            callback,
            agent_extension,
            customer_number,
            agent_ring_timeout: DEFAULT_AGENT_RING_TIMEOUT,
            customer_ring_timeout: DEFAULT_CUSTOMER_RING_TIMEOUT,
        }
    }
}

/// What the driver must do or publish.
#[derive(Clone, Debug, PartialEq)]
pub enum CallbackCallAction {
    /// Ring the agent's extension on [`AGENT_LEG`]; report with `agent_ringing`,
    /// `agent_answered` or `agent_failed`.
    RingAgent { extension: Arc<str> },
    /// Play these prompts to the agent; report the end with `agent_prompt_done`.
    PlayToAgent { prompts: Vec<&'static str> },
    /// Play these prompts to the customer; report the end with `customer_prompt_done`.
    PlayToCustomer { prompts: Vec<&'static str> },
    /// Call the customer through the outbound trunk on [`CUSTOMER_LEG`]; report with
    /// `customer_ringing`, `customer_answered` or `customer_failed`.
    DialCustomer { number: String },
    /// CANCEL the agent's ringing leg.
    CancelAgent,
    /// CANCEL the customer's ringing leg.
    CancelCustomer,
    /// BYE the agent's answered leg.
    HangUpAgent,
    /// BYE the customer's answered leg.
    HangUpCustomer,
    /// Relay audio between agent and customer.
    Bridge,
    /// Tell the callback book.
    Report(CallbackReport),
    /// A fact for the call event stream (the driver adds the time and the call's id).
    Fact(CallFact),
    /// Both legs are over (or left to the UAC core to finish); always the last action.
    Finished(CallbackEnd),
}

/// What the callback book must learn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackReport {
    /// The reserved agent did not answer (no answer in time, busy, declined, unreachable):
    /// no attempt against the customer.
    AgentMissed,
    /// The agent answered; the customer is being dialled.
    Placing,
    /// The attempt to reach the customer ended: answered, or not reached with the status
    /// the customer's side gave (`None`: no answer, including our CANCEL after the time-out).
    Attempt(AttemptOutcome),
    /// The agent answered but hung up before the customer answered: any customer leg is
    /// cancelled, and this is not counted against the customer.
    AgentLeft,
}

/// How a callback call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackEnd {
    /// The agent never answered (the report was `AgentMissed`).
    AgentMissed,
    /// The agent hung up before the customer answered (`AgentLeft`).
    AgentLeft,
    /// The customer was not reached; the agent was told and hung up.
    CustomerNotReached,
    /// The agent hung up after the customer answered (or after hearing they were not
    /// reached).
    AgentHungUp,
    /// The customer hung up after answering.
    CustomerHungUp,
    /// The server is stopping.
    Shutdown,
}

impl CallbackEnd {
    /// The cause and side as the call event stream states them. The stream has no cause
    /// for "not reached": a leg that did not answer is `Rejected`, and its `LegFailed` fact
    /// says how (`no_answer`, `busy`…).
    pub fn fact(self) -> (EndCause, Side) {
        match self {
            CallbackEnd::AgentMissed => (EndCause::Rejected, Side::Operator),
            CallbackEnd::AgentLeft | CallbackEnd::AgentHungUp => {
                (EndCause::OperatorHungUp, Side::Operator)
            }
            CallbackEnd::CustomerNotReached => (EndCause::Rejected, Side::Caller),
            CallbackEnd::CustomerHungUp => (EndCause::CallerHungUp, Side::Caller),
            CallbackEnd::Shutdown => (EndCause::Shutdown, Side::System),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// `RingAgent` sent; cancelled at `give_up_at`.
    AgentRinging {
        give_up_at: Instant,
        ringing: bool,
    },
    /// The agent answered and hears who is being called.
    AgentIntro,
    /// `DialCustomer` sent; cancelled at `give_up_at`. The agent waits on the line.
    CustomerRinging {
        give_up_at: Instant,
        ringing: bool,
    },
    /// The customer answered and hears the reason first; the agent hears nothing new.
    CustomerIntro,
    Bridged,
    /// The customer was not reached; the agent hears so before we hang up.
    NotReached,
    Finished,
}

/// A leg's condition when the call ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Leg {
    /// Not placed, or already over (failed, cancelled, hung up by its side).
    None,
    Ringing,
    Up,
}

pub struct CallbackCall {
    setup: CallbackCallSetup,
    state: State,
    /// `AgentMissed`, `AgentLeft` or `Attempt` was reported.
    reported: bool,
    out: VecDeque<CallbackCallAction>,
}

impl CallbackCall {
    /// The agent is reserved: ring their extension.
    pub fn new(now: Instant, setup: CallbackCallSetup) -> CallbackCall {
        let mut call = CallbackCall {
            state: State::AgentRinging {
                give_up_at: now + setup.agent_ring_timeout,
                ringing: false,
            },
            reported: false,
            out: VecDeque::new(),
            setup,
        };
        call.out.push_back(CallbackCallAction::RingAgent {
            extension: call.setup.agent_extension.clone(),
        });
        call
    }

    pub fn callback(&self) -> CallbackId {
        self.setup.callback
    }

    /// The reserved agent's extension.
    pub fn agent_extension(&self) -> &Arc<str> {
        &self.setup.agent_extension
    }

    /// The customer's number (canonical E.164), for the agent's display.
    pub fn customer_number(&self) -> &str {
        &self.setup.customer_number
    }

    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    pub fn poll_action(&mut self) -> Option<CallbackCallAction> {
        self.out.pop_front()
    }

    /// The ring time-out of the leg that rings, if one does.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::AgentRinging { give_up_at, .. } | State::CustomerRinging { give_up_at, .. } => {
                Some(give_up_at)
            }
            _ => None,
        }
    }

    /// A ringing leg's time is up: cancel it. Early or repeated calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::AgentRinging { give_up_at, .. } if now >= give_up_at => {
                let failed = self.leg_failed(AGENT_LEG, None, &Outcome::NoAnswer);
                self.close(CallbackEnd::AgentMissed, None, Some(failed));
            }
            State::CustomerRinging { give_up_at, .. } if now >= give_up_at => {
                self.out.push_back(CallbackCallAction::CancelCustomer);
                self.not_reached(None);
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------ the agent's leg

    /// A provisional response (180/183) on the agent's leg.
    pub fn agent_ringing(&mut self, _now: Instant) {
        if let State::AgentRinging { ringing, .. } = &mut self.state {
            if !*ringing {
                *ringing = true;
                let target = self.setup.agent_extension.to_string();
                self.fact(CallFact::LegRinging {
                    leg: AGENT_LEG,
                    target,
                });
            }
        }
    }

    /// The agent answered: tell them who is being called and why.
    pub fn agent_answered(&mut self, _now: Instant) {
        if !matches!(self.state, State::AgentRinging { .. }) {
            return;
        }
        self.state = State::AgentIntro;
        self.out.push_back(CallbackCallAction::PlayToAgent {
            prompts: vec![PROMPT_TO_AGENT],
        });
        let target = self.setup.agent_extension.to_string();
        self.fact(CallFact::LegAnswered {
            leg: AGENT_LEG,
            target,
        });
    }

    /// The agent's leg failed before answering (busy, declined, unreachable…).
    pub fn agent_failed(&mut self, _now: Instant, outcome: Outcome) {
        if !matches!(self.state, State::AgentRinging { .. }) {
            return;
        }
        let failed = self.leg_failed(AGENT_LEG, outcome.status(), &outcome);
        self.close(CallbackEnd::AgentMissed, Some(AGENT_LEG), Some(failed));
    }

    /// The prompt to the agent finished: after the introduction the customer is dialled;
    /// after "not reached" the agent is hung up.
    pub fn agent_prompt_done(&mut self, now: Instant) {
        match self.state {
            State::AgentIntro => {
                self.state = State::CustomerRinging {
                    give_up_at: now + self.setup.customer_ring_timeout,
                    ringing: false,
                };
                self.out.push_back(CallbackCallAction::DialCustomer {
                    number: self.setup.customer_number.clone(),
                });
                self.report(CallbackReport::Placing);
            }
            State::NotReached => self.close(CallbackEnd::CustomerNotReached, None, None),
            _ => {}
        }
    }

    /// BYE from the agent.
    pub fn agent_hung_up(&mut self, _now: Instant) {
        let end = match self.state {
            State::AgentIntro | State::CustomerRinging { .. } => CallbackEnd::AgentLeft,
            State::CustomerIntro | State::Bridged | State::NotReached => CallbackEnd::AgentHungUp,
            // Not answered (a BYE cannot come before the answer), or over.
            State::AgentRinging { .. } | State::Finished => return,
        };
        self.close(end, Some(AGENT_LEG), None);
    }

    // ------------------------------------------------------------ the customer's leg

    /// A provisional response (180/183) on the customer's leg.
    pub fn customer_ringing(&mut self, _now: Instant) {
        if let State::CustomerRinging { ringing, .. } = &mut self.state {
            if !*ringing {
                *ringing = true;
                let target = self.setup.customer_number.clone();
                self.fact(CallFact::LegRinging {
                    leg: CUSTOMER_LEG,
                    target,
                });
            }
        }
    }

    /// The customer answered: the attempt succeeded, and they hear the reason first.
    pub fn customer_answered(&mut self, _now: Instant) {
        if !matches!(self.state, State::CustomerRinging { .. }) {
            return;
        }
        self.state = State::CustomerIntro;
        self.out.push_back(CallbackCallAction::PlayToCustomer {
            prompts: vec![PROMPT_TO_CUSTOMER],
        });
        let target = self.setup.customer_number.clone();
        self.fact(CallFact::LegAnswered {
            leg: CUSTOMER_LEG,
            target,
        });
        self.report(CallbackReport::Attempt(AttemptOutcome {
            status: Some(ANSWERED),
            answered: true,
        }));
    }

    /// The customer's leg failed before answering, with its final status (`None`: no
    /// response, Timer B).
    pub fn customer_failed(&mut self, _now: Instant, status: Option<u16>) {
        if !matches!(self.state, State::CustomerRinging { .. }) {
            return;
        }
        self.not_reached(status);
    }

    /// The reason was told: bridge agent and customer.
    pub fn customer_prompt_done(&mut self, _now: Instant) {
        if self.state != State::CustomerIntro {
            return;
        }
        self.state = State::Bridged;
        self.out.push_back(CallbackCallAction::Bridge);
        self.fact(CallFact::Bridged {
            a: CUSTOMER_LEG,
            b: AGENT_LEG,
        });
    }

    /// BYE from the customer.
    pub fn customer_hung_up(&mut self, _now: Instant) {
        if matches!(self.state, State::CustomerIntro | State::Bridged) {
            self.close(CallbackEnd::CustomerHungUp, Some(CUSTOMER_LEG), None);
        }
    }

    /// The server is stopping: cancel what rings, hang up what is answered.
    pub fn shut_down(&mut self, _now: Instant) {
        self.close(CallbackEnd::Shutdown, None, None);
    }

    // ------------------------------------------------------------ internals

    /// The customer's leg is over unanswered (failed, or cancelled by the time-out): report
    /// the attempt now (the book need not wait for the agent's prompt), then tell the agent.
    fn not_reached(&mut self, status: Option<u16>) {
        self.state = State::NotReached;
        self.out.push_back(CallbackCallAction::PlayToAgent {
            prompts: vec![PROMPT_NOT_REACHED],
        });
        // The status as received (a 480 stays 480), the outcome as the UAC core names it.
        let failed = self.leg_failed(CUSTOMER_LEG, status, &outcome_of(status));
        self.fact(failed);
        self.report(CallbackReport::Attempt(AttemptOutcome {
            status,
            answered: false,
        }));
    }

    /// End the call from its current state. `gone`: the leg already over by its own side
    /// (it failed or hung up), which gets no command. `failed`: that step's `LegFailed`.
    fn close(&mut self, end: CallbackEnd, gone: Option<LegId>, failed: Option<CallFact>) {
        let (agent, customer) = match self.state {
            State::AgentRinging { .. } => (Leg::Ringing, Leg::None),
            State::AgentIntro | State::NotReached => (Leg::Up, Leg::None),
            State::CustomerRinging { .. } => (Leg::Up, Leg::Ringing),
            State::CustomerIntro | State::Bridged => (Leg::Up, Leg::Up),
            State::Finished => return,
        };
        let bridged = self.state == State::Bridged;
        self.state = State::Finished;
        let (cause, side) = end.fact();
        for (leg, condition) in [(CUSTOMER_LEG, customer), (AGENT_LEG, agent)] {
            if gone == Some(leg) {
                continue;
            }
            let command = match (leg == AGENT_LEG, condition) {
                (_, Leg::None) => continue,
                (true, Leg::Ringing) => CallbackCallAction::CancelAgent,
                (true, Leg::Up) => CallbackCallAction::HangUpAgent,
                (false, Leg::Ringing) => CallbackCallAction::CancelCustomer,
                (false, Leg::Up) => CallbackCallAction::HangUpCustomer,
            };
            self.out.push_back(command);
        }
        if let Some(failed) = failed {
            self.fact(failed);
        }
        if bridged {
            self.fact(CallFact::Unbridged {
                a: CUSTOMER_LEG,
                b: AGENT_LEG,
            });
        }
        for (leg, condition) in [(CUSTOMER_LEG, customer), (AGENT_LEG, agent)] {
            if condition == Leg::Up {
                self.fact(CallFact::LegEnded { leg, cause, side });
            }
        }
        if !self.reported {
            // Before the customer answered: not an attempt against them.
            self.report(if agent == Leg::Up {
                CallbackReport::AgentLeft
            } else {
                CallbackReport::AgentMissed
            });
        }
        self.fact(CallFact::Ended { cause, side });
        self.out.push_back(CallbackCallAction::Finished(end));
    }

    fn leg_failed(&self, leg: LegId, status: Option<u16>, outcome: &Outcome) -> CallFact {
        let target = if leg == AGENT_LEG {
            self.setup.agent_extension.to_string()
        } else {
            self.setup.customer_number.clone()
        };
        CallFact::LegFailed {
            leg,
            target,
            status,
            outcome: outcome.label().to_string(),
        }
    }

    fn report(&mut self, report: CallbackReport) {
        if report != CallbackReport::Placing {
            debug_assert!(!self.reported, "one outcome per callback call");
            self.reported = true;
        }
        self.out.push_back(CallbackCallAction::Report(report));
    }

    fn fact(&mut self, fact: CallFact) {
        self.out.push_back(CallbackCallAction::Fact(fact));
    }
}

/// The outcome a final status from the trunk stands for (as `crate::sip::uac` reads one),
/// for the `LegFailed` fact; `None` is no answer.
fn outcome_of(status: Option<u16>) -> Outcome {
    match status {
        None | Some(408 | 480) => Outcome::NoAnswer,
        Some(486 | 600) => Outcome::Busy,
        Some(603) => Outcome::Declined,
        Some(487) => Outcome::Cancelled,
        Some(503) => Outcome::Unavailable,
        Some(status @ 300..=399) => Outcome::Redirected {
            status,
            contacts: Vec::new(),
        },
        Some(status) => Outcome::Rejected { status },
    }
}

#[cfg(test)]
#[path = "call_tests.rs"]
mod tests;
