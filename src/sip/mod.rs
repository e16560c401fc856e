//! SIP: messages, screening, responses, transactions, framing (sans-IO cores), RFC 3261.
//!
//! The socket side is `crate::transport`; the endpoint that runs these cores is
//! `crate::endpoint`. Nothing here reads a clock or touches a socket.

pub mod framing;
pub mod message;
pub mod response;
pub mod screen;
pub mod transaction;
pub mod uri;

pub use message::{Message, Method};
