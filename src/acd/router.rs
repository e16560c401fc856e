//! The ACD core, sans-IO: every queue, agent and waiting entry on the node, and the routing
//! decisions between them. Inputs are the owner's verbs with `now` (an entry joins or
//! leaves, an offer was answered or failed, a call ended, an agent logs in, pauses, is busy
//! elsewhere) and [`Acd::handle_timeout`]; outputs are [`AcdAction`]s drained with
//! [`Acd::poll_action`], the next deadline is [`Acd::poll_timeout`].
//!
//! **Routing.** Whenever something may have changed who can take what, the router takes the
//! waiting entries in one order across all queues (priority, then time of entering) and
//! offers each entry not already being offered to the free agents its queue's strategy picks
//! among the queue's fitting members. So an agent who becomes free gets the highest-priority,
//! longest-waiting entry they can serve, and an entry that arrives while several agents are
//! free goes to the one its strategy prefers. A callback entry is routed in the same order but
//! reserves one agent ([`AcdAction::ReserveForCallback`]) instead of ringing them.
//!
//! **Timers** (one ordered set): an offer's ring time-out, a caller's `max_wait`, and each
//! agent's end of wrap-up or of the retry delay. The core never reads a clock.
//!
//! Not here: ringing phones and bridging media (the call task, told by the driver), the
//! estimated wait and announcements (separate cores fed by the same facts).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

pub use super::action::{AcdAction, AcdError, QueueFact};
use super::agent::{
    Agent, AgentActivity, AgentConfig, AgentId, AgentState, AgentStatus, OfferFailure, PauseReason,
};
use super::queue::{
    Entry, EntryId, EntryKind, OrderKey, OverflowReason, Queue, QueueConfig, QueueId,
};
use super::strategy::{self, Candidate};
pub use queries::{QueueStatus, QueuedEntry};

/// Settings for the whole ACD (per-queue ones are in [`QueueConfig`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcdSettings {
    /// Pause an agent with reason "missed offers" after this many no-answers or declines in
    /// a row; 0 never pauses.
    pub missed_offers_to_pause: u32,
}

impl Default for AcdSettings {
    fn default() -> Self {
        AcdSettings {
            missed_offers_to_pause: 3,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Ring(EntryId),
    MaxWait(EntryId),
    Agent(AgentId),
}

#[derive(Debug)]
struct Waiting {
    entry: Entry,
    /// Agents ringing (or reserved) for this entry; empty when no offer is out.
    offered_to: Vec<AgentId>,
    ring_deadline: Option<Instant>,
    attempts: u32,
}

/// The ACD of one node.
#[derive(Debug)]
pub struct Acd {
    settings: AcdSettings,
    queues: Vec<Queue>,
    agents: Vec<Agent>,
    entries: HashMap<EntryId, Waiting>,
    /// Agents who can take an offer now.
    free: BTreeSet<AgentId>,
    timers: BTreeSet<(Instant, Timer)>,
    next_entry: u64,
    out: VecDeque<AcdAction>,
    // Reused by `dispatch`, so routing allocates nothing once warm.
    candidates: Vec<Candidate>,
    chosen: Vec<AgentId>,
    /// Per queue, its first entry with no offer out (one routing pass).
    heads: Vec<Option<OrderKey>>,
}

#[path = "router_agents.rs"]
mod agents;
#[path = "router_dispatch.rs"]
mod dispatch;
#[path = "router_queries.rs"]
mod queries;

impl Acd {
    /// An ACD with no queues and no agents. Nothing in it depends on time until the first
    /// input, so it takes no `now`.
    pub fn new(settings: AcdSettings) -> Acd {
        Acd {
            settings,
            queues: Vec::new(),
            agents: Vec::new(),
            entries: HashMap::new(),
            free: BTreeSet::new(),
            timers: BTreeSet::new(),
            next_entry: 1,
            out: VecDeque::new(),
            candidates: Vec::new(),
            chosen: Vec::new(),
            heads: Vec::new(),
        }
    }

    /// Add a queue (already validated). Agents added earlier who list it become members.
    pub fn add_queue(&mut self, config: QueueConfig) -> QueueId {
        let id = QueueId(self.queues.len() as u32);
        let mut queue = Queue::new(config);
        for a in &self.agents {
            queue.add_agent(a.id, a.config.queues.contains(&id), &a.config.skills);
        }
        self.queues.push(queue);
        self.heads.push(None);
        id
    }

    /// Add an agent (logged out). It serves each listed queue whose skills it fits.
    pub fn add_agent(&mut self, config: AgentConfig) -> AgentId {
        let id = AgentId(self.agents.len() as u32);
        for (q, queue) in self.queues.iter_mut().enumerate() {
            queue.add_agent(
                id,
                config.queues.contains(&QueueId(q as u32)),
                &config.skills,
            );
        }
        self.agents.push(Agent::new(id, config));
        id
    }

    /// A caller (or a callback) joins `queue`. It gets `Entered` and may be offered at once,
    /// or overflows at once (`NoAgents`, `Full`).
    pub fn enqueue(
        &mut self,
        now: Instant,
        queue: QueueId,
        priority: u8,
        kind: EntryKind,
    ) -> Result<EntryId, AcdError> {
        self.enqueue_entered(now, now, queue, priority, kind)
    }

    /// As [`Acd::enqueue`], for an entry whose place dates from `entered` (a callback keeps
    /// the place its caller had: it is ordered among the others by that time, so it never
    /// jumps ahead of callers who came earlier nor is overtaken by later ones).
    pub fn enqueue_entered(
        &mut self,
        now: Instant,
        entered: Instant,
        queue: QueueId,
        priority: u8,
        kind: EntryKind,
    ) -> Result<EntryId, AcdError> {
        let q = self
            .queues
            .get(queue.0 as usize)
            .ok_or(AcdError::UnknownQueue(queue))?;
        let id = EntryId(self.next_entry);
        self.next_entry += 1;
        let refused = if !q.config.join_when_empty && !self.any_member_logged_in(queue) {
            Some(OverflowReason::NoAgents)
        } else if q
            .config
            .max_len
            .is_some_and(|max| q.waiting.len() >= max as usize)
        {
            Some(OverflowReason::Full)
        } else {
            None
        };
        if let Some(reason) = refused {
            self.out
                .push_back(AcdAction::Overflow { entry: id, reason });
            self.fact(QueueFact::Overflowed {
                entry: id,
                queue,
                reason,
                waited: Duration::ZERO,
            });
            return Ok(id);
        }
        let entry = Entry {
            id,
            queue,
            priority,
            entered: entered.min(now),
            kind,
        };
        let key = entry.key();
        let q = &mut self.queues[queue.0 as usize];
        q.waiting.insert(key);
        let position = q.position(&key);
        if let (EntryKind::Caller, Some(max_wait)) = (kind, q.config.max_wait) {
            self.timers.insert((now + max_wait, Timer::MaxWait(id)));
        }
        self.entries.insert(
            id,
            Waiting {
                entry,
                offered_to: Vec::new(),
                ring_deadline: None,
                attempts: 0,
            },
        );
        self.fact(QueueFact::Entered {
            entry: id,
            queue,
            position,
        });
        self.dispatch(now);
        Ok(id)
    }

    /// The caller hung up (or a callback was withdrawn): an offer out is cancelled at once and
    /// the abandon reported with the entry's position and wait.
    pub fn entry_left(&mut self, now: Instant, entry: EntryId) -> Result<(), AcdError> {
        let (w, position) = self
            .remove_entry(entry)
            .ok_or(AcdError::UnknownEntry(entry))?;
        let while_ringing = !w.offered_to.is_empty();
        self.cancel_offers(now, entry, &w.offered_to);
        let (queue, waited) = (
            w.entry.queue,
            now.saturating_duration_since(w.entry.entered),
        );
        self.fact(match w.entry.kind {
            EntryKind::Caller => QueueFact::Abandoned {
                entry,
                queue,
                position,
                waited,
                while_ringing,
            },
            EntryKind::Callback => QueueFact::CallbackWithdrawn {
                entry,
                queue,
                position,
                waited,
            },
        });
        self.dispatch(now);
        Ok(())
    }

    /// Keep a waiting caller's place as a callback (they asked to be called back and may
    /// hang up). An offer out is cancelled; `max_wait` no longer applies.
    pub fn convert_to_callback(&mut self, now: Instant, entry: EntryId) -> Result<(), AcdError> {
        let w = self
            .entries
            .get_mut(&entry)
            .ok_or(AcdError::UnknownEntry(entry))?;
        if w.entry.kind == EntryKind::Callback {
            return Ok(());
        }
        w.entry.kind = EntryKind::Callback;
        let offered = std::mem::take(&mut w.offered_to);
        let (key, queue) = (w.entry.key(), w.entry.queue);
        if let Some(deadline) = w.ring_deadline.take() {
            self.timers.remove(&(deadline, Timer::Ring(entry)));
        }
        self.timers.retain(|(_, t)| *t != Timer::MaxWait(entry));
        self.cancel_offers(now, entry, &offered);
        let position = self.queues[queue.0 as usize].position(&key);
        self.fact(QueueFact::CallbackKept {
            entry,
            queue,
            position,
        });
        self.dispatch(now);
        Ok(())
    }

    /// The agent answered the offer (or took the reserved callback): `Connect`, and the
    /// other agents of a ring-all are cancelled.
    pub fn offer_answered(
        &mut self,
        now: Instant,
        entry: EntryId,
        agent: AgentId,
    ) -> Result<(), AcdError> {
        self.check_offer(entry, agent)?;
        let (w, _) = self.remove_entry(entry).expect("checked");
        let queue = w.entry.queue;
        let act = self.with_agent(agent, |a| a.answered_offer(now, entry, queue));
        self.out.push_back(AcdAction::Connect { entry, agent });
        let waited = now.saturating_duration_since(w.entry.entered);
        self.fact(QueueFact::Answered {
            entry,
            queue,
            agent,
            waited,
        });
        self.out.push_back(AcdAction::Activity(act));
        let others: Vec<AgentId> = w.offered_to.into_iter().filter(|&a| a != agent).collect();
        self.cancel_offers(now, entry, &others);
        self.dispatch(now);
        Ok(())
    }

    /// The offer failed (no answer, busy, declined, unreachable): the agent rests for the
    /// queue's `retry_delay` (or is paused after too many misses) and the entry goes to the
    /// next agent.
    pub fn offer_failed(
        &mut self,
        now: Instant,
        entry: EntryId,
        agent: AgentId,
        failure: OfferFailure,
    ) -> Result<(), AcdError> {
        self.check_offer(entry, agent)?;
        let w = self.entries.get_mut(&entry).expect("checked");
        w.offered_to.retain(|&a| a != agent);
        if w.offered_to.is_empty() {
            if let Some(deadline) = w.ring_deadline.take() {
                self.timers.remove(&(deadline, Timer::Ring(entry)));
            }
        }
        self.fail_agent(now, entry, agent, failure);
        self.dispatch(now);
        Ok(())
    }

    /// The agent's queue call ended: wrap-up for the call's queue (or what the agent asked
    /// for during the call: log-out, pause).
    pub fn call_ended(&mut self, now: Instant, agent: AgentId) -> Result<(), AcdError> {
        let a = self
            .agents
            .get(agent.0 as usize)
            .ok_or(AcdError::UnknownAgent(agent))?;
        let AgentState::OnCall { queue, .. } = *a.state() else {
            return Err(AcdError::NotOnCall(agent));
        };
        let wrap_up = self.queues[queue.0 as usize].config.wrap_up;
        let act = self.with_agent(agent, |a| a.call_ended(now, wrap_up));
        let logged_out = act.to == AgentState::LoggedOut;
        self.out.push_back(AcdAction::Activity(act));
        if logged_out {
            self.evict_if_empty(now, agent);
        }
        self.dispatch(now);
        Ok(())
    }

    /// Fire every deadline at or before `now`. Early or repeated calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            match timer {
                Timer::Ring(entry) => self.ring_timed_out(now, entry),
                Timer::MaxWait(entry) => self.overflow(now, entry, OverflowReason::MaxWait),
                Timer::Agent(agent) => {
                    if let Some(act) = self.with_agent(agent, |a| a.handle_timeout(now)) {
                        self.out.push_back(AcdAction::Activity(act));
                    }
                }
            }
        }
        self.dispatch(now);
    }

    /// The next action, until `None`. Drain fully after every input.
    pub fn poll_action(&mut self) -> Option<AcdAction> {
        self.out.pop_front()
    }

    /// The earliest deadline, `None` when no timer is set. Changes after any input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    fn fact(&mut self, fact: QueueFact) {
        self.out.push_back(AcdAction::Fact(fact));
    }

    /// Run `f` on the agent, then keep its timer and the free set in step.
    fn with_agent<R>(&mut self, agent: AgentId, f: impl FnOnce(&mut Agent) -> R) -> R {
        let a = &mut self.agents[agent.0 as usize];
        let before = a.deadline();
        let r = f(a);
        let after = a.deadline();
        if a.is_free() {
            self.free.insert(agent);
        } else {
            self.free.remove(&agent);
        }
        if before != after {
            if let Some(at) = before {
                self.timers.remove(&(at, Timer::Agent(agent)));
            }
            if let Some(at) = after {
                self.timers.insert((at, Timer::Agent(agent)));
            }
        }
        r
    }

    fn check_offer(&self, entry: EntryId, agent: AgentId) -> Result<(), AcdError> {
        let offered = self
            .entries
            .get(&entry)
            .is_some_and(|w| w.offered_to.contains(&agent));
        if offered {
            Ok(())
        } else {
            Err(AcdError::NoSuchOffer { entry, agent })
        }
    }

    /// Take the entry out of every set and timer; its position just before.
    fn remove_entry(&mut self, entry: EntryId) -> Option<(Waiting, u32)> {
        let w = self.entries.remove(&entry)?;
        let key = w.entry.key();
        let q = &mut self.queues[w.entry.queue.0 as usize];
        let position = q.position(&key);
        q.waiting.remove(&key);
        if let Some(deadline) = w.ring_deadline {
            self.timers.remove(&(deadline, Timer::Ring(entry)));
        }
        if let (EntryKind::Caller, Some(max_wait)) = (w.entry.kind, q.config.max_wait) {
            self.timers
                .remove(&(w.entry.entered + max_wait, Timer::MaxWait(entry)));
        }
        Some((w, position))
    }

    /// Withdraw the offer from agents still ringing for `entry`: not their fault.
    fn cancel_offers(&mut self, now: Instant, entry: EntryId, agents: &[AgentId]) {
        for &agent in agents {
            self.out.push_back(AcdAction::CancelOffer { entry, agent });
            let act = self.with_agent(agent, |a| a.cancel_offer(now));
            self.out.push_back(AcdAction::Activity(act));
        }
    }

    fn drop_from_offer(&mut self, entry: EntryId, agent: AgentId) {
        if let Some(w) = self.entries.get_mut(&entry) {
            w.offered_to.retain(|&a| a != agent);
            if w.offered_to.is_empty() {
                if let Some(deadline) = w.ring_deadline.take() {
                    self.timers.remove(&(deadline, Timer::Ring(entry)));
                }
            }
        }
    }

    fn fail_agent(&mut self, now: Instant, entry: EntryId, agent: AgentId, failure: OfferFailure) {
        self.fact(QueueFact::OfferFailed {
            entry,
            agent,
            failure,
        });
        let queue = self.entries[&entry].entry.queue;
        let retry_delay = self.queues[queue.0 as usize].config.retry_delay;
        let pause_after = self.settings.missed_offers_to_pause;
        let act = self.with_agent(agent, |a| {
            a.failed_offer(now, failure, retry_delay, pause_after)
        });
        self.out.push_back(AcdAction::Activity(act));
    }

    fn ring_timed_out(&mut self, now: Instant, entry: EntryId) {
        let Some(w) = self.entries.get_mut(&entry) else {
            return;
        };
        w.ring_deadline = None;
        for agent in std::mem::take(&mut w.offered_to) {
            self.out.push_back(AcdAction::CancelOffer { entry, agent });
            self.fail_agent(now, entry, agent, OfferFailure::NoAnswer);
        }
    }

    fn overflow(&mut self, now: Instant, entry: EntryId, reason: OverflowReason) {
        let Some((w, _)) = self.remove_entry(entry) else {
            return;
        };
        self.cancel_offers(now, entry, &w.offered_to);
        self.out.push_back(AcdAction::Overflow { entry, reason });
        let waited = now.saturating_duration_since(w.entry.entered);
        self.fact(QueueFact::Overflowed {
            entry,
            queue: w.entry.queue,
            reason,
            waited,
        });
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "router_offer_tests.rs"]
mod offer_tests;

#[cfg(test)]
#[path = "router_entry_tests.rs"]
mod entry_tests;

#[cfg(test)]
#[path = "router_prop_tests.rs"]
mod prop_tests;
