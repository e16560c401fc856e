//! Routing: which waiting entry goes to which free agent, and making the offer.

use std::ops::Bound::{Excluded, Unbounded};
use std::time::Instant;

use super::strategy::{self, Candidate};
use super::{Acd, AcdAction, AgentId, EntryId, EntryKind, OrderKey, QueueFact, Timer};

impl Acd {
    /// Offer every entry that can be offered, in routing order, to the agents its queue's
    /// strategy picks among the free fitting members.
    ///
    /// A merge across queues: each queue's first entry with no offer out is its head; the
    /// smallest head (priority, then time of entering) goes first. A queue with no free
    /// fitting member drops out of the pass. The cost grows with the number of queues and of
    /// offers out, not with the number of entries waiting.
    pub(super) fn dispatch(&mut self, now: Instant) {
        if self.free.is_empty() {
            return;
        }
        let mut candidates = std::mem::take(&mut self.candidates);
        let mut chosen = std::mem::take(&mut self.chosen);
        for q in 0..self.queues.len() {
            self.heads[q] = self.next_unoffered(q, None);
        }
        loop {
            let best = (0..self.heads.len())
                .filter_map(|q| self.heads[q].map(|k| (k, q)))
                .min();
            let Some((key, q)) = best else { break };
            let queue = &self.queues[q];
            candidates.clear();
            for &id in &self.free {
                if let Some(score) = queue.score_of[id.0 as usize] {
                    let a = &self.agents[id.0 as usize];
                    let idle_since = a.idle_since().unwrap_or(now);
                    candidates.push(Candidate {
                        id,
                        idle_since,
                        answered: a.answered(),
                        score,
                    });
                }
            }
            if candidates.is_empty() {
                self.heads[q] = None;
                continue;
            }
            chosen.clear();
            let callback = self.entries[&key.id].entry.kind == EntryKind::Callback;
            strategy::choose(
                queue.config.strategy,
                callback,
                &candidates,
                queue.last_chosen,
                &mut chosen,
            );
            self.make_offer(now, key.id, &chosen);
            if self.free.is_empty() {
                break;
            }
            self.heads[q] = self.next_unoffered(q, Some(key));
        }
        self.candidates = candidates;
        self.chosen = chosen;
    }

    /// Queue `q`'s first entry after `after` with no offer out.
    fn next_unoffered(&self, q: usize, after: Option<OrderKey>) -> Option<OrderKey> {
        let waiting = &self.queues[q].waiting;
        let rest = match after {
            None => waiting.range(..),
            Some(k) => waiting.range((Excluded(k), Unbounded)),
        };
        rest.copied()
            .find(|k| self.entries[&k.id].offered_to.is_empty())
    }

    fn make_offer(&mut self, now: Instant, entry: EntryId, agents: &[AgentId]) {
        let w = self
            .entries
            .get_mut(&entry)
            .expect("dispatch offers waiting entries");
        let (queue, callback) = (w.entry.queue, w.entry.kind == EntryKind::Callback);
        let q = &mut self.queues[queue.0 as usize];
        let deadline = now + q.config.ring_timeout;
        q.last_chosen = agents.last().copied();
        w.attempts += 1;
        w.offered_to.extend_from_slice(agents);
        w.ring_deadline = Some(deadline);
        let attempt = w.attempts;
        self.timers.insert((deadline, Timer::Ring(entry)));
        for &agent in agents {
            let act = self.with_agent(agent, |a| a.offer(now, entry, callback));
            self.out.push_back(if callback {
                AcdAction::ReserveForCallback { entry, agent }
            } else {
                AcdAction::Offer { entry, agent }
            });
            self.fact(QueueFact::Offered {
                entry,
                queue,
                agent,
                attempt,
            });
            self.out.push_back(AcdAction::Activity(act));
        }
    }
}
