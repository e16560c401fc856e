//! Qonyrau: a contact-center telephony and IVR engine.
//!
//! Layout follows `DESIGN.md`: sans-IO cores (SIP transactions, SDP, media framing, IVR
//! interpreter, ticket rules, working calendar) with thin tokio drivers around them.

pub mod config;
pub mod ivr;
pub mod sip;
pub mod media;
pub mod sdp;
pub mod units;
