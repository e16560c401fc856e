//! The routing strategies, pure functions: given the fitting free agents of a queue, whom to
//! offer its entry to. Ties always fall to the agent idle longest, then to the lower agent
//! number, so every choice is deterministic.

use std::cmp::Reverse;
use std::time::Instant;

use super::agent::AgentId;
use super::queue::Strategy;

/// A free agent who serves the queue, with what the strategies compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) id: AgentId,
    pub(crate) idle_since: Instant,
    pub(crate) answered: u32,
    /// Summed level over the queue's skills.
    pub(crate) score: u32,
}

/// Push the chosen agents into `out`: one, or every candidate for ring-all (a callback
/// reserves one agent whatever the strategy: the idle longest under ring-all).
/// `candidates` is in agent order and not empty; `last` is the agent round-robin chose last.
pub(crate) fn choose(
    strategy: Strategy,
    callback: bool,
    candidates: &[Candidate],
    last: Option<AgentId>,
    out: &mut Vec<AgentId>,
) {
    let all = candidates.iter();
    let chosen = match strategy {
        Strategy::RingAll if !callback => {
            out.extend(all.map(|c| c.id));
            return;
        }
        Strategy::LongestIdle | Strategy::RingAll => all.min_by_key(|c| (c.idle_since, c.id)),
        Strategy::FewestCalls => all.min_by_key(|c| (c.answered, c.idle_since, c.id)),
        Strategy::SkillsWeighted => all.min_by_key(|c| (Reverse(c.score), c.idle_since, c.id)),
        Strategy::RoundRobin => candidates
            .iter()
            .find(|c| last.is_some_and(|l| c.id > l))
            .or(candidates.first()),
    };
    out.extend(chosen.map(|c| c.id));
}
