//! The agents' verbs on the ACD core: log in and out, pause and resume, end wrap-up, busy
//! elsewhere. Each changes one agent through [`crate::agent`], withdraws an offer the agent
//! can no longer take, sends a `leave_when_empty` queue's entries on when its last member
//! logs out, and routes again.

use std::time::Instant;

use super::{Acd, AcdAction, AcdError, Agent, AgentActivity, AgentId, AgentState, EntryId};
use super::{OverflowReason, PauseReason, QueueId};

impl Acd {
    pub fn log_in(&mut self, now: Instant, agent: AgentId) -> Result<(), AcdError> {
        self.agent_verb(now, agent, |a| a.log_in(now))
    }

    /// Log out now, or when the current call ends. An offer out is cancelled.
    pub fn log_out(&mut self, now: Instant, agent: AgentId) -> Result<(), AcdError> {
        self.leave(now, agent, None)
    }

    /// Pause now, or when the current call ends. An offer out is cancelled.
    pub fn pause(&mut self, now: Instant, agent: AgentId, reason: String) -> Result<(), AcdError> {
        self.leave(now, agent, Some(PauseReason::Requested(reason)))
    }

    /// End a pause (also one for missed offers); the missed-offer count starts again.
    pub fn resume(&mut self, now: Instant, agent: AgentId) -> Result<(), AcdError> {
        self.agent_verb(now, agent, |a| a.resume(now))
    }

    /// The agent is done wrapping up before the deadline.
    pub fn end_wrap_up(&mut self, now: Instant, agent: AgentId) -> Result<(), AcdError> {
        self.agent_verb(now, agent, |a| a.end_wrap_up(now))
    }

    /// The agent is on (or off) a call that did not come through a queue: while busy
    /// elsewhere, no queue offers them anything.
    pub fn set_busy_elsewhere(
        &mut self,
        now: Instant,
        agent: AgentId,
        busy: bool,
    ) -> Result<(), AcdError> {
        self.agent_verb(now, agent, |a| a.set_busy_elsewhere(now, busy))
    }

    fn agent_verb(
        &mut self,
        now: Instant,
        agent: AgentId,
        f: impl FnOnce(&mut Agent) -> Option<AgentActivity>,
    ) -> Result<(), AcdError> {
        if agent.0 as usize >= self.agents.len() {
            return Err(AcdError::UnknownAgent(agent));
        }
        if let Some(act) = self.with_agent(agent, f) {
            self.out.push_back(AcdAction::Activity(act));
            self.dispatch(now);
        }
        Ok(())
    }

    /// Log out (`pause` is `None`) or pause.
    fn leave(
        &mut self,
        now: Instant,
        agent: AgentId,
        pause: Option<PauseReason>,
    ) -> Result<(), AcdError> {
        if agent.0 as usize >= self.agents.len() {
            return Err(AcdError::UnknownAgent(agent));
        }
        let change = self.with_agent(agent, |a| match pause {
            Some(reason) => a.pause(now, reason),
            None => a.log_out(now),
        });
        let Some(change) = change else { return Ok(()) };
        if let Some(entry) = change.offer_withdrawn {
            self.out.push_back(AcdAction::CancelOffer { entry, agent });
            self.drop_from_offer(entry, agent);
        }
        let logged_out = change.activity.to == AgentState::LoggedOut;
        self.out.push_back(AcdAction::Activity(change.activity));
        if logged_out {
            self.evict_if_empty(now, agent);
        }
        self.dispatch(now);
        Ok(())
    }

    pub(super) fn any_member_logged_in(&self, queue: QueueId) -> bool {
        self.queues[queue.0 as usize]
            .members
            .keys()
            .any(|a| self.agents[a.0 as usize].is_logged_in())
    }

    /// `agent` logged out: each `leave_when_empty` queue it served that now has no member
    /// logged in sends its waiting entries on.
    pub(super) fn evict_if_empty(&mut self, now: Instant, agent: AgentId) {
        for q in 0..self.queues.len() {
            let queue = &self.queues[q];
            if !queue.config.leave_when_empty || !queue.members.contains_key(&agent) {
                continue;
            }
            if self.any_member_logged_in(QueueId(q as u32)) {
                continue;
            }
            let waiting: Vec<EntryId> = queue.waiting.iter().map(|k| k.id).collect();
            for entry in waiting {
                self.overflow(now, entry, OverflowReason::NoAgents);
            }
        }
    }
}
