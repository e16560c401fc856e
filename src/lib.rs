//! Qonyrau: a contact-center telephony and IVR engine.
//!
//! Layout follows `DESIGN.md`: sans-IO cores (SIP transactions, SDP, media framing, IVR
//! interpreter, ticket rules, working calendar) with thin tokio drivers around them.

pub mod acd;
pub mod audit;
pub mod calendar;
pub mod call;
pub mod callback_store;
pub mod clock;
pub mod config;
pub mod contacts;
pub mod db;
pub mod endpoint;
pub mod http;
pub mod ivr;
pub mod kpi;
pub mod media;
pub mod pii;
pub mod preflight;
pub mod registrar;
pub mod sdp;
pub mod server;
pub mod sip;
pub mod staff;
pub mod telemetry;
pub mod tickets;
pub mod transport;
pub mod units;
pub mod web;
