//! Callbacks (MISSION §1.7): a caller waiting in a queue asks to be called back and keeps
//! their place. [`book`] is the sans-IO core that keeps the requests and applies the rules for
//! outbound contact: only in permitted hours (the working calendar) or at the time the caller
//! chose, never to a do-not-contact number, never twice for one need, retried a few times
//! and closed when the customer no longer needs it. The driver connects it to the ACD (a
//! callback entry keeps the caller's place), the store ([`store`], SQL) and the trunk.

pub mod answer;
pub mod book;
pub mod call;
pub mod call_task;
pub mod service;
pub mod store;

pub use book::{
    Accepted, AttemptOutcome, Callback, CallbackAction, CallbackBook, CallbackError, CallbackFact,
    CallbackId, CallbackRules, CloseReason, Counts, Record, Refused, Request, State, When,
};
