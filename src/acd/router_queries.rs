//! Read-only queries on the live ACD state, for the REST API and metrics: queues by name,
//! their figures and waiting entries in order, agents and their states. Nothing here
//! changes state or emits actions.

use std::time::{Duration, Instant};

use super::{Acd, AgentId, AgentStatus, Entry, EntryId, QueueConfig, QueueId};

/// A queue's live figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueStatus {
    pub waiting: u32,
    /// Entries with an offer out (they are waiting too).
    pub offered: u32,
    pub longest_wait: Option<Duration>,
    pub logged_in_agents: u32,
    pub available_agents: u32,
}

/// One waiting entry as queries show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedEntry {
    /// 1 + the entries ahead in the queue's own order.
    pub position: u32,
    pub entry: Entry,
    pub waited: Duration,
    pub offered_to: Vec<AgentId>,
}

impl Acd {
    pub fn queue_id(&self, name: &str) -> Option<QueueId> {
        self.queues
            .iter()
            .position(|q| q.config.name == name)
            .map(|i| QueueId(i as u32))
    }

    pub fn queue_config(&self, queue: QueueId) -> Option<&QueueConfig> {
        self.queues.get(queue.0 as usize).map(|q| &q.config)
    }

    pub fn queue_ids(&self) -> impl Iterator<Item = QueueId> + '_ {
        (0..self.queues.len()).map(|i| QueueId(i as u32))
    }

    pub fn agent_id(&self, login: &str) -> Option<AgentId> {
        self.agents
            .iter()
            .find(|a| a.config.login == login)
            .map(|a| a.id)
    }

    /// The queues `agent` serves: it is a member and fits their skills.
    pub fn queues_served_by(&self, agent: AgentId) -> impl Iterator<Item = QueueId> + '_ {
        self.queues
            .iter()
            .enumerate()
            .filter(move |(_, q)| q.members.contains_key(&agent))
            .map(|(i, _)| QueueId(i as u32))
    }

    pub fn agent(&self, agent: AgentId) -> Option<AgentStatus<'_>> {
        self.agents.get(agent.0 as usize).map(|a| a.status())
    }

    pub fn agents(&self) -> impl Iterator<Item = AgentStatus<'_>> + '_ {
        self.agents.iter().map(|a| a.status())
    }

    /// A waiting entry (being offered counts as waiting).
    pub fn entry(&self, entry: EntryId) -> Option<&Entry> {
        self.entries.get(&entry).map(|w| &w.entry)
    }

    /// 1 + the entries ahead in the entry's queue's own order. O(entries ahead).
    pub fn position(&self, entry: EntryId) -> Option<u32> {
        let w = self.entries.get(&entry)?;
        Some(self.queues[w.entry.queue.0 as usize].position(&w.entry.key()))
    }

    pub fn queue_status(&self, now: Instant, queue: QueueId) -> Option<QueueStatus> {
        let q = self.queues.get(queue.0 as usize)?;
        let waiting = q.waiting.iter().map(|k| &self.entries[&k.id]);
        let offered = waiting.clone().filter(|w| !w.offered_to.is_empty()).count();
        let earliest = waiting.map(|w| w.entry.entered).min();
        let logged_in = q
            .members
            .keys()
            .filter(|a| self.agents[a.0 as usize].is_logged_in())
            .count();
        let available = q.members.keys().filter(|a| self.free.contains(a)).count();
        Some(QueueStatus {
            waiting: q.waiting.len() as u32,
            offered: offered as u32,
            longest_wait: earliest.map(|e| now.saturating_duration_since(e)),
            logged_in_agents: logged_in as u32,
            available_agents: available as u32,
        })
    }

    /// The queue's waiting entries in order, with positions 1, 2, …
    pub fn entries(&self, now: Instant, queue: QueueId) -> Vec<QueuedEntry> {
        let Some(q) = self.queues.get(queue.0 as usize) else {
            return Vec::new();
        };
        q.waiting
            .iter()
            .zip(1..)
            .map(|(k, position)| {
                let w = &self.entries[&k.id];
                QueuedEntry {
                    position,
                    entry: w.entry,
                    waited: now.saturating_duration_since(w.entry.entered),
                    offered_to: w.offered_to.clone(),
                }
            })
            .collect()
    }
}
