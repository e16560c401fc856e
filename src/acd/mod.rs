//! Queues and operators (issue #10), sans-IO: agents ([`agent`]), queues and their waiting
//! entries ([`queue`]), the router that offers entries to agents ([`router`]; its agent
//! verbs, routing pass and queries live in `router_agents.rs`, `router_dispatch.rs`,
//! `router_queries.rs`; the strategies in `strategy`), what it tells its driver
//! ([`action`]), the announcement schedule ([`announce`]) and the phrases a waiting caller
//! hears in kk/ru/en ([`phrases`]).

pub mod action;
pub mod activity;
pub mod actor;
pub mod agent;
pub mod announce;
pub mod ewt;
pub mod phrases;
pub mod queue;
pub mod replay;
pub mod router;
mod strategy;

pub use agent::{
    ActivityReason, AgentActivity, AgentConfig, AgentId, AgentState, AgentStatus, OfferFailure,
    PauseReason,
};
pub use queue::{
    ConfigIssue, Entry, EntryId, EntryKind, OverflowReason, QueueConfig, QueueId, Strategy,
};
pub use router::{Acd, AcdAction, AcdError, AcdSettings, QueueFact, QueueStatus, QueuedEntry};
