//! What the ACD core tells its driver ([`AcdAction`]: commands, facts for the call event
//! stream, activity-log lines) and the errors of its commands ([`AcdError`]).

use std::time::Duration;

use super::agent::{AgentActivity, AgentId, OfferFailure};
use super::queue::{EntryId, OverflowReason, QueueId};

/// What the driver must do or publish. Commands first, then facts for the call event stream,
/// then activity-log lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcdAction {
    /// Ring the agent's contacts with this waiting caller (`ring_timeout` is the core's).
    Offer {
        entry: EntryId,
        agent: AgentId,
    },
    /// Hold the agent for this callback; report the outcome as for an offer
    /// (`offer_answered` when the agent takes it).
    ReserveForCallback {
        entry: EntryId,
        agent: AgentId,
    },
    /// Stop ringing the agent for this entry. If the driver had already seen the agent
    /// answer (a race), it hangs the agent's leg up: the core has given the offer up.
    CancelOffer {
        entry: EntryId,
        agent: AgentId,
    },
    /// Bridge the entry's caller (or, for a callback, start the call-back) with the agent who
    /// answered. The entry has left the queue.
    Connect {
        entry: EntryId,
        agent: AgentId,
    },
    /// The entry leaves the queue unanswered: send the call on (the flow's overflow).
    Overflow {
        entry: EntryId,
        reason: OverflowReason,
    },
    Fact(QueueFact),
    Activity(AgentActivity),
}

/// Queue facts for the call event stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueFact {
    Entered {
        entry: EntryId,
        queue: QueueId,
        position: u32,
    },
    /// `attempt` counts the offers of this entry, from 1 (a ring-all round is one attempt).
    Offered {
        entry: EntryId,
        queue: QueueId,
        agent: AgentId,
        attempt: u32,
    },
    OfferFailed {
        entry: EntryId,
        agent: AgentId,
        failure: OfferFailure,
    },
    Answered {
        entry: EntryId,
        queue: QueueId,
        agent: AgentId,
        waited: Duration,
    },
    /// The caller hung up in the queue, or while an agent's phone rang (`while_ringing`).
    Abandoned {
        entry: EntryId,
        queue: QueueId,
        position: u32,
        waited: Duration,
        while_ringing: bool,
    },
    Overflowed {
        entry: EntryId,
        queue: QueueId,
        reason: OverflowReason,
        waited: Duration,
    },
    /// A caller's place is now kept as a callback.
    CallbackKept {
        entry: EntryId,
        queue: QueueId,
        position: u32,
    },
    /// A callback entry was withdrawn before reaching an agent.
    CallbackWithdrawn {
        entry: EntryId,
        queue: QueueId,
        position: u32,
        waited: Duration,
    },
}

/// A command the core cannot apply. Races (an answer after the core cancelled the offer)
/// come back as `NoSuchOffer`: the driver has already had the `CancelOffer`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    #[error("no queue {0:?}")]
    UnknownQueue(QueueId),
    #[error("no agent {0:?}")]
    UnknownAgent(AgentId),
    #[error("no entry {0:?} is waiting")]
    UnknownEntry(EntryId),
    #[error("entry {entry:?} is not being offered to agent {agent:?}")]
    NoSuchOffer { entry: EntryId, agent: AgentId },
    #[error("agent {0:?} is not on a queue call")]
    NotOnCall(AgentId),
}
