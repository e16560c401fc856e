//! One deadline per transaction or dialog timer, in a heap with lazy deletion: pushing a
//! new deadline for an owner replaces the old one (the stale heap entry is skipped when it
//! surfaces), so the endpoint wakes once for the earliest real deadline.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use crate::sip::transaction::TxKey;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TimerOwner {
    Server(TxKey),
    Client(String),
    Retransmit2xx(u64),
    /// An outbound leg: (Call-ID, our From tag).
    Outbound((String, String)),
    /// Our 2xx to an outbound leg's re-INVITE, resent until its ACK.
    Outbound2xx((String, String)),
    /// Time to send OPTIONS to every registered contact.
    Qualify,
    /// A dialog's session timer (RFC 4028): refresh or expiry.
    Session(u64),
    /// The INVITE client transaction of a dialog's re-INVITE refresh.
    RefreshInvite(u64),
}

#[derive(Default)]
pub struct TimerHeap {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    owners: HashMap<u64, TimerOwner>,
    scheduled: HashMap<TimerOwner, (Instant, u64)>,
    seq: u64,
}

impl TimerHeap {
    pub fn push(&mut self, at: Instant, owner: TimerOwner) {
        if let Some((old_at, _)) = self.scheduled.get(&owner) {
            if *old_at == at {
                return;
            }
        }
        self.seq += 1;
        if let Some((_, old)) = self.scheduled.insert(owner.clone(), (at, self.seq)) {
            self.owners.remove(&old);
        }
        self.owners.insert(self.seq, owner);
        self.heap.push(Reverse((at, self.seq)));
    }

    /// The earliest live deadline.
    pub fn next(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, seq))) = self.heap.peek().copied() {
            if self.owners.contains_key(&seq) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// An owner whose deadline is at or before `now`, removed.
    pub fn pop_due(&mut self, now: Instant) -> Option<TimerOwner> {
        loop {
            let Reverse((at, seq)) = *self.heap.peek()?;
            if at > now {
                return None;
            }
            self.heap.pop();
            if let Some(owner) = self.owners.remove(&seq) {
                self.scheduled.remove(&owner);
                return Some(owner);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_new_deadline_replaces_the_old_one() {
        let t0 = Instant::now();
        let mut h = TimerHeap::default();
        h.push(t0 + Duration::from_secs(1), TimerOwner::Retransmit2xx(1));
        h.push(t0 + Duration::from_secs(5), TimerOwner::Retransmit2xx(1));
        h.push(t0 + Duration::from_secs(2), TimerOwner::Retransmit2xx(2));
        assert_eq!(h.next(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(
            h.pop_due(t0 + Duration::from_secs(3)),
            Some(TimerOwner::Retransmit2xx(2))
        );
        assert_eq!(
            h.pop_due(t0 + Duration::from_secs(3)),
            None,
            "owner 1 moved to 5 s"
        );
        assert_eq!(
            h.pop_due(t0 + Duration::from_secs(5)),
            Some(TimerOwner::Retransmit2xx(1))
        );
        assert_eq!(h.next(), None);
    }
}
