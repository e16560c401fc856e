//! Media: RTP, G.711, DTMF (RFC 4733, SIP INFO, in-band), prompts, per-leg state (pure),
//! and the engine that drives many legs from one task per core (`engine`, the driver).

pub mod bridge;
pub mod dtmf;
pub mod engine;
pub mod g711;
pub mod inband;
pub mod leg;
pub mod prompt;
pub mod rtcp;
pub mod rtp;
