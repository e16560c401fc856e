//! Tickets (MISSION §4): the vocabulary ([`model`]), priority from impact × urgency
//! ([`priority`]), deadlines and breaches on the working calendar ([`sla`]), and which status
//! changes are allowed ([`lifecycle`]). All sans-IO; storage and the API come next.

pub mod change;
pub mod complaint;
pub mod error;
pub mod escalation;
pub mod lifecycle;
pub mod model;
pub mod priority;
pub mod query;
pub mod sla;
pub mod sla_job;
pub mod store;
