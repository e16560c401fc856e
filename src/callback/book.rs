//! The callback book, sans-IO: every pending callback request on the node and the rules for
//! calling people back (MISSION §1.7). Inputs are the owner's verbs with `now` (a request is
//! checked and admitted, an agent was reserved for a callback or missed it, an attempt to
//! reach the customer ended, the customer was served on a call of their own, the API
//! cancelled one) and [`CallbackBook::handle_timeout`]; outputs are [`CallbackAction`]s
//! drained with [`CallbackBook::poll_action`]; the next deadline is
//! [`CallbackBook::poll_timeout`].
//!
//! **Lifecycle.** `Scheduled` (waiting for its due time) → `Queued` (its place is held in the
//! ACD, [`CallbackAction::Enqueue`]) → `Placing` (an agent is reserved and the customer is
//! being called) → `Completed` (answered) | back to `Scheduled` after a failed attempt |
//! `Failed` (the last permitted attempt failed). `Closed` ends a pending callback the
//! customer no longer needs (served on a call of their own, or cancelled).
//!
//! **Permitted hours** are the working calendar's working time (`None`: always permitted). A
//! callback is queued only while they last; a queued one still waiting when they end is
//! withdrawn and becomes due at the next opening. A chosen time outside them is refused; an
//! "as soon as possible" request out of hours is due at the next opening.
//!
//! **Place in the queue.** Every `Enqueue` carries the time the caller entered the queue
//! (`since`), however many times the callback comes back: the ACD orders by it, so a
//! callback neither jumps ahead of callers who entered earlier nor is overtaken by later ones.
//!
//! **Timers** (one ordered set, at most one per callback): a scheduled callback's due time,
//! and a queued one's end of permitted hours. Commands first run the timers that are already
//! due, so a late `handle_timeout` never lets a command see a stale state.
//!
//! Not here: storing requests (the driver stores one, then [`CallbackBook::admit`]s it under
//! the stored id, and writes every [`CallbackAction::Persist`]), routing (the ACD), dialling
//! (the trunk), and the do-not-contact list itself (the driver looks the number up).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use jiff::Timestamp;

use crate::calendar::{CalendarError, WorkCalendar};

/// A callback's id: the row the driver stored it under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallbackId(pub i64);

/// How callbacks are retried. Permitted hours come from the calendar given to
/// [`CallbackBook::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackRules {
    /// After a failed attempt the callback is due again this much later (or at the next
    /// opening, if that falls outside permitted hours).
    pub retry_delay: Duration,
    /// Attempts to reach the customer before the callback fails. A reserved agent who does not
    /// answer costs no attempt.
    pub max_attempts: u32,
}

impl Default for CallbackRules {
    fn default() -> CallbackRules {
        CallbackRules {
            retry_delay: Duration::from_secs(10 * 60),
            max_attempts: 3,
        }
    }
}

/// When the customer wants to be called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// As soon as possible: now, or at the next opening when out of hours.
    Asap,
    /// At the time the customer chose; it must lie within permitted hours.
    At(Timestamp),
}

/// A request to be called back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub queue: String,
    /// Canonical E.164 (`+77011234567`).
    pub number: String,
    /// When the caller entered the queue: the place the callback keeps.
    pub entered_at: Timestamp,
    /// The ACD priority (higher first).
    pub priority: u8,
    pub when: When,
}

/// A request the book accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// When the callback is first due.
    pub due: Timestamp,
    /// An "as soon as possible" request made out of hours: due at the next opening, which the
    /// IVR tells the caller.
    pub out_of_hours: bool,
}

/// Why a request is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("callback {existing:?} to this number from this queue is already pending")]
    Duplicate { existing: CallbackId },
    #[error("the number is marked do-not-contact")]
    DoNotContact,
    #[error("the chosen time is outside the permitted hours")]
    OutsidePermittedHours,
    #[error("the chosen time has passed")]
    InPast,
    /// The calendar cannot tell the permitted hours (a year without a file).
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

/// A command the book cannot apply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("no callback {0:?}")]
    NotFound(CallbackId),
    #[error("callback {id:?} has already ended ({state:?})")]
    AlreadyEnded { id: CallbackId, state: State },
    /// The command does not apply in the callback's state (a race: e.g. an agent reserved for
    /// a callback the book withdrew when permitted hours ended; the driver releases the agent).
    #[error("callback {id:?} is {state:?}")]
    WrongState { id: CallbackId, state: State },
    #[error("callback {0:?} is already in the book")]
    IdInUse(CallbackId),
    #[error("request refused: {0}")]
    Refused(#[from] Refused),
}

/// A callback's state, as the driver stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Waiting for its due time.
    Scheduled,
    /// Holding its place in the ACD.
    Queued,
    /// An agent is reserved and the customer is being called.
    Placing,
    Completed,
    /// The last permitted attempt failed.
    Failed,
    Closed(CloseReason),
}

impl State {
    /// Not completed, failed or closed.
    pub fn is_pending(self) -> bool {
        matches!(self, State::Scheduled | State::Queued | State::Placing)
    }

    /// The name the store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Scheduled => "scheduled",
            State::Queued => "queued",
            State::Placing => "placing",
            State::Completed => "completed",
            State::Failed => "failed",
            State::Closed(CloseReason::Served) => "closed_served",
            State::Closed(CloseReason::Cancelled) => "closed_cancelled",
        }
    }
}

/// Why a pending callback was closed without being completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The customer called in again and an agent answered them in the queue.
    Served,
    Cancelled,
}

/// How an attempt to reach the customer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The final SIP status of the call to the customer, if one came (486, 480, 603…).
    pub status: Option<u16>,
    pub answered: bool,
}

/// A pending callback loaded from the store after a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub request: Request,
    /// Attempts already made.
    pub attempts: u32,
    /// The stored due time; a past one is queued at the first `handle_timeout`.
    pub due: Timestamp,
}

/// What the driver must do or publish. Within one step: `Withdraw` first, then `Persist`,
/// then `Enqueue`, then facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackAction {
    /// Put the callback into the ACD queue as a callback entry entered at `since`.
    Enqueue {
        id: CallbackId,
        queue: String,
        since: Timestamp,
        priority: u8,
    },
    /// Take the callback out of the ACD; if an agent is reserved or the customer is being
    /// called for it, release the agent and stop the call.
    Withdraw {
        id: CallbackId,
    },
    /// Write the callback's new state. `due` is when it is (or became) due while pending,
    /// `None` once it has ended.
    Persist {
        id: CallbackId,
        state: State,
        attempts: u32,
        due: Option<Timestamp>,
    },
    Fact(CallbackFact),
}

/// Callback facts for the call event stream. Outcome counts are counted from these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackFact {
    Requested {
        id: CallbackId,
        queue: String,
        due: Timestamp,
        out_of_hours: bool,
    },
    /// Its place is held in the ACD.
    Queued {
        id: CallbackId,
    },
    /// Taken out of the ACD when permitted hours ended; due again at `due`.
    Withdrawn {
        id: CallbackId,
        due: Timestamp,
    },
    /// `attempt` counts attempts to reach the customer, from 1.
    Placing {
        id: CallbackId,
        attempt: u32,
    },
    AttemptFailed {
        id: CallbackId,
        attempt: u32,
        status: Option<u16>,
    },
    Completed {
        id: CallbackId,
        attempt: u32,
    },
    Failed {
        id: CallbackId,
        attempts: u32,
    },
    Closed {
        id: CallbackId,
        reason: CloseReason,
    },
    /// The calendar cannot tell whether calling is permitted (a year without a file): the
    /// callback is not placed, and is looked at again at `recheck`.
    NoCalendar {
        id: CallbackId,
        error: CalendarError,
        recheck: Timestamp,
    },
}

/// Pending callbacks of one queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Waiting to be placed (scheduled or queued).
    pub pending: u32,
    /// An agent is reserved and the customer is being called.
    pub placing: u32,
}

/// A pending callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callback {
    request: Request,
    attempts: u32,
    phase: Phase,
}

/// The pending states, each with the data valid in it. `due` is when the callback is (or
/// became) due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Scheduled {
        due: Timestamp,
    },
    /// `until`: the end of the permitted hours it was queued in (`None`: no end).
    Queued {
        due: Timestamp,
        until: Option<Timestamp>,
    },
    Placing {
        due: Timestamp,
    },
}

impl Phase {
    fn due(self) -> Timestamp {
        match self {
            Phase::Scheduled { due } | Phase::Queued { due, .. } | Phase::Placing { due } => due,
        }
    }

    fn deadline(self) -> Option<Timestamp> {
        match self {
            Phase::Scheduled { due } => Some(due),
            Phase::Queued { until, .. } => until,
            Phase::Placing { .. } => None,
        }
    }

    fn state(self) -> State {
        match self {
            Phase::Scheduled { .. } => State::Scheduled,
            Phase::Queued { .. } => State::Queued,
            Phase::Placing { .. } => State::Placing,
        }
    }
}

impl Callback {
    pub fn request(&self) -> &Request {
        &self.request
    }

    pub fn state(&self) -> State {
        self.phase.state()
    }

    /// Attempts to reach the customer made so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When it is (or became) due.
    pub fn due(&self) -> Timestamp {
        self.phase.due()
    }
}

/// Whether calling is permitted at an instant.
enum Permit {
    Open { until: Option<Timestamp> },
    Closed { opens: Timestamp },
}

/// How long a callback waits before the book asks a failing calendar again.
const CALENDAR_RECHECK: Duration = Duration::from_secs(3600);
/// Ended callbacks remembered, so that cancelling one answers `AlreadyEnded`; older ones
/// answer `NotFound` and the driver answers from the store.
const ENDED_KEPT: usize = 4096;

/// Every pending callback and the rules for calling back. See the module doc.
pub struct CallbackBook {
    rules: CallbackRules,
    calendar: Option<WorkCalendar>,
    callbacks: HashMap<CallbackId, Callback>,
    timers: BTreeSet<(Timestamp, CallbackId)>,
    ended: VecDeque<(CallbackId, State)>,
    out: VecDeque<CallbackAction>,
}

impl CallbackBook {
    /// `calendar`: the permitted hours (its working time); `None` permits every hour.
    pub fn new(rules: CallbackRules, calendar: Option<WorkCalendar>) -> CallbackBook {
        CallbackBook {
            rules,
            calendar,
            callbacks: HashMap::new(),
            timers: BTreeSet::new(),
            ended: VecDeque::new(),
            out: VecDeque::new(),
        }
    }

    /// Whether the request would be accepted now, and when it would be due. Refusals in
    /// order: do-not-contact, a pending duplicate (same number and queue), then the time.
    pub fn check(
        &self,
        now: Timestamp,
        req: &Request,
        do_not_contact: bool,
    ) -> Result<Accepted, Refused> {
        if do_not_contact {
            return Err(Refused::DoNotContact);
        }
        if let Some(existing) = self.pending_for(&req.number, &req.queue).next() {
            return Err(Refused::Duplicate { existing });
        }
        match req.when {
            When::Asap => {
                let due = match self.permit(now)? {
                    Permit::Open { .. } => now,
                    Permit::Closed { opens } => opens,
                };
                Ok(Accepted {
                    due,
                    out_of_hours: due > now,
                })
            }
            When::At(at) if at < now => Err(Refused::InPast),
            When::At(at) => match self.permit(at)? {
                Permit::Open { .. } => Ok(Accepted {
                    due: at,
                    out_of_hours: false,
                }),
                Permit::Closed { .. } => Err(Refused::OutsidePermittedHours),
            },
        }
    }

    /// Take in a request the driver has stored under `id` after [`check`](Self::check)
    /// accepted it. It is checked again (except do-not-contact, which the driver looked up):
    /// another request may have been admitted meanwhile. One due now is queued at once.
    pub fn admit(
        &mut self,
        now: Timestamp,
        id: CallbackId,
        req: Request,
    ) -> Result<Accepted, CallbackError> {
        self.handle_timeout(now);
        if self.callbacks.contains_key(&id) || self.ended_state(id).is_some() {
            return Err(CallbackError::IdInUse(id));
        }
        let accepted = self.check(now, &req, false)?;
        let queue = req.queue.clone();
        self.insert(id, req, 0, Phase::Scheduled { due: accepted.due });
        self.persist(id);
        self.fact(CallbackFact::Requested {
            id,
            queue,
            due: accepted.due,
            out_of_hours: accepted.out_of_hours,
        });
        self.handle_timeout(now);
        Ok(accepted)
    }

    /// Load a pending callback from the store after a restart; it is scheduled at its stored
    /// due time with its attempts so far, whatever state it was stored in (the ACD and any
    /// call in progress did not survive the restart). Nothing is emitted.
    pub fn restore(&mut self, id: CallbackId, record: Record) -> Result<(), CallbackError> {
        if self.callbacks.contains_key(&id) {
            return Err(CallbackError::IdInUse(id));
        }
        let due = record.due;
        self.insert(
            id,
            record.request,
            record.attempts,
            Phase::Scheduled { due },
        );
        Ok(())
    }

    /// An agent was reserved for the queued callback and the customer is about to be called:
    /// `Placing`. From here on the book takes the callback to be out of the ACD queue.
    pub fn reserved(&mut self, now: Timestamp, id: CallbackId) -> Result<(), CallbackError> {
        self.handle_timeout(now);
        let cb = self.pending_in(id, State::Queued)?;
        let (due, attempt) = (cb.phase.due(), cb.attempts + 1);
        self.set_phase(id, Phase::Placing { due });
        self.persist(id);
        self.fact(CallbackFact::Placing { id, attempt });
        Ok(())
    }

    /// The reserved agent did not answer: no attempt against the customer. The callback goes
    /// back into the ACD at once with the same `since` (its place), or, if permitted hours
    /// have ended, is due at the next opening.
    pub fn agent_missed(&mut self, now: Timestamp, id: CallbackId) -> Result<(), CallbackError> {
        self.handle_timeout(now);
        let due = self.pending_in(id, State::Placing)?.phase.due();
        self.queue_or_defer(now, id, due, false);
        Ok(())
    }

    /// The attempt to reach the customer ended. Answered: `Completed`. Otherwise it counts:
    /// due again `retry_delay` later (moved to the next opening if that is out of hours)
    /// while attempts remain, else `Failed`.
    pub fn attempt_result(
        &mut self,
        now: Timestamp,
        id: CallbackId,
        outcome: AttemptOutcome,
    ) -> Result<(), CallbackError> {
        self.handle_timeout(now);
        self.pending_in(id, State::Placing)?;
        let cb = self.callbacks.get_mut(&id).expect("checked");
        cb.attempts += 1;
        let attempt = cb.attempts;
        if outcome.answered {
            self.end(id, State::Completed);
            self.fact(CallbackFact::Completed { id, attempt });
            return Ok(());
        }
        if attempt >= self.rules.max_attempts {
            self.end(id, State::Failed);
            self.fact(CallbackFact::AttemptFailed {
                id,
                attempt,
                status: outcome.status,
            });
            self.fact(CallbackFact::Failed {
                id,
                attempts: attempt,
            });
            return Ok(());
        }
        let retry = later(now, self.rules.retry_delay);
        // A failing calendar is met again (and reported) when the retry falls due.
        let due = match self.permit(retry) {
            Ok(Permit::Closed { opens }) => opens,
            Ok(Permit::Open { .. }) | Err(_) => retry,
        };
        self.set_phase(id, Phase::Scheduled { due });
        self.persist(id);
        self.fact(CallbackFact::AttemptFailed {
            id,
            attempt,
            status: outcome.status,
        });
        Ok(())
    }

    /// The customer called in again and an agent answered them in `queue`: every pending
    /// callback for `number` there is closed (`Served`), withdrawn from the ACD if it is in it.
    pub fn served(&mut self, now: Timestamp, number: &str, queue: &str) {
        self.handle_timeout(now);
        let mut ids: Vec<CallbackId> = self.pending_for(number, queue).collect();
        ids.sort();
        for id in ids {
            self.close(id, CloseReason::Served);
        }
    }

    /// The API cancels a pending callback: `Closed(Cancelled)`, withdrawn if in the ACD.
    pub fn cancel(&mut self, now: Timestamp, id: CallbackId) -> Result<(), CallbackError> {
        self.handle_timeout(now);
        self.find(id)?;
        self.close(id, CloseReason::Cancelled);
        Ok(())
    }

    /// Run the timers due at `now`: due callbacks are queued (or moved to the next opening),
    /// queued ones whose permitted hours ended are withdrawn. Early or repeated calls do
    /// nothing.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            let Some(cb) = self.callbacks.get(&id) else {
                continue;
            };
            match cb.phase {
                Phase::Scheduled { due } => self.queue_or_defer(now, id, due, false),
                Phase::Queued { due, .. } => self.queue_or_defer(now, id, due, true),
                Phase::Placing { .. } => {}
            }
        }
    }

    pub fn poll_action(&mut self) -> Option<CallbackAction> {
        self.out.pop_front()
    }

    /// The earliest timer, `None` when none is set. Changes after any command.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.first().map(|&(at, _)| at)
    }

    /// A pending callback.
    pub fn get(&self, id: CallbackId) -> Option<&Callback> {
        self.callbacks.get(&id)
    }

    /// The state of a pending callback or of one that ended recently.
    pub fn state(&self, id: CallbackId) -> Option<State> {
        self.callbacks
            .get(&id)
            .map(Callback::state)
            .or_else(|| self.ended_state(id))
    }

    /// Every pending callback, in no particular order.
    pub fn pending(&self) -> impl Iterator<Item = (CallbackId, &Callback)> + '_ {
        self.callbacks.iter().map(|(&id, cb)| (id, cb))
    }

    /// Pending callbacks per queue (queues without any are absent).
    pub fn counts_by_queue(&self) -> BTreeMap<String, Counts> {
        let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
        for cb in self.callbacks.values() {
            let c = counts.entry(cb.request.queue.clone()).or_default();
            match cb.phase {
                Phase::Placing { .. } => c.placing += 1,
                Phase::Scheduled { .. } | Phase::Queued { .. } => c.pending += 1,
            }
        }
        counts
    }

    /// Whether calling is permitted at `t`, and until when; or when it next is.
    fn permit(&self, t: Timestamp) -> Result<Permit, CalendarError> {
        let Some(cal) = &self.calendar else {
            return Ok(Permit::Open { until: None });
        };
        let (start, close) = cal.next_working_period(t)?;
        Ok(if start <= t {
            Permit::Open { until: Some(close) }
        } else {
            Permit::Closed { opens: start }
        })
    }

    /// Put a due callback into the ACD if calling is permitted at `now` (`in_acd`: it is
    /// there already, just renew its end of hours), else withdraw it if needed and schedule
    /// it at the next opening.
    fn queue_or_defer(&mut self, now: Timestamp, id: CallbackId, due: Timestamp, in_acd: bool) {
        match self.permit(now) {
            Ok(Permit::Open { until }) => {
                self.set_phase(id, Phase::Queued { due, until });
                if in_acd {
                    return;
                }
                self.persist(id);
                let req = &self.callbacks[&id].request;
                self.out.push_back(CallbackAction::Enqueue {
                    id,
                    queue: req.queue.clone(),
                    since: req.entered_at,
                    priority: req.priority,
                });
                self.fact(CallbackFact::Queued { id });
            }
            Ok(Permit::Closed { opens }) => {
                if in_acd {
                    self.out.push_back(CallbackAction::Withdraw { id });
                }
                self.set_phase(id, Phase::Scheduled { due: opens });
                self.persist(id);
                if in_acd {
                    self.fact(CallbackFact::Withdrawn { id, due: opens });
                }
            }
            Err(error) => {
                if in_acd {
                    self.out.push_back(CallbackAction::Withdraw { id });
                }
                let recheck = later(now, CALENDAR_RECHECK);
                self.set_phase(id, Phase::Scheduled { due: recheck });
                self.persist(id);
                if in_acd {
                    self.fact(CallbackFact::Withdrawn { id, due: recheck });
                }
                self.fact(CallbackFact::NoCalendar { id, error, recheck });
            }
        }
    }

    fn close(&mut self, id: CallbackId, reason: CloseReason) {
        if matches!(
            self.callbacks[&id].phase,
            Phase::Queued { .. } | Phase::Placing { .. }
        ) {
            self.out.push_back(CallbackAction::Withdraw { id });
        }
        self.end(id, State::Closed(reason));
        self.fact(CallbackFact::Closed { id, reason });
    }

    /// Remove an ending callback and persist its final state.
    fn end(&mut self, id: CallbackId, state: State) {
        let cb = self.callbacks.remove(&id).expect("pending");
        if let Some(at) = cb.phase.deadline() {
            self.timers.remove(&(at, id));
        }
        self.out.push_back(CallbackAction::Persist {
            id,
            state,
            attempts: cb.attempts,
            due: None,
        });
        if self.ended.len() == ENDED_KEPT {
            self.ended.pop_front();
        }
        self.ended.push_back((id, state));
    }

    fn insert(&mut self, id: CallbackId, request: Request, attempts: u32, phase: Phase) {
        if let Some(at) = phase.deadline() {
            self.timers.insert((at, id));
        }
        self.callbacks.insert(
            id,
            Callback {
                request,
                attempts,
                phase,
            },
        );
    }

    fn set_phase(&mut self, id: CallbackId, phase: Phase) {
        let cb = self.callbacks.get_mut(&id).expect("pending");
        if let Some(at) = cb.phase.deadline() {
            self.timers.remove(&(at, id));
        }
        cb.phase = phase;
        if let Some(at) = phase.deadline() {
            self.timers.insert((at, id));
        }
    }

    fn persist(&mut self, id: CallbackId) {
        let cb = &self.callbacks[&id];
        self.out.push_back(CallbackAction::Persist {
            id,
            state: cb.state(),
            attempts: cb.attempts,
            due: Some(cb.phase.due()),
        });
    }

    fn fact(&mut self, fact: CallbackFact) {
        self.out.push_back(CallbackAction::Fact(fact));
    }

    fn find(&self, id: CallbackId) -> Result<&Callback, CallbackError> {
        self.callbacks
            .get(&id)
            .ok_or_else(|| match self.ended_state(id) {
                Some(state) => CallbackError::AlreadyEnded { id, state },
                None => CallbackError::NotFound(id),
            })
    }

    fn pending_in(&self, id: CallbackId, state: State) -> Result<&Callback, CallbackError> {
        let cb = self.find(id)?;
        if cb.state() != state {
            return Err(CallbackError::WrongState {
                id,
                state: cb.state(),
            });
        }
        Ok(cb)
    }

    fn pending_for<'a>(
        &'a self,
        number: &'a str,
        queue: &'a str,
    ) -> impl Iterator<Item = CallbackId> + 'a {
        self.callbacks
            .iter()
            .filter(move |(_, cb)| cb.request.number == number && cb.request.queue == queue)
            .map(|(&id, _)| id)
    }

    fn ended_state(&self, id: CallbackId) -> Option<State> {
        self.ended
            .iter()
            .rev()
            .find(|&&(e, _)| e == id)
            .map(|&(_, s)| s)
    }
}

fn later(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;
