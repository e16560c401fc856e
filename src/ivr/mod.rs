//! IVR: the flow language ([`flow`]) and its sans-IO interpreter ([`interpreter`]).
//!
//! Flows are YAML files in `ivr-flows/` (one per entry number or purpose). They are parsed
//! and validated at start-up, every problem reported with file and line; the call task runs
//! one [`interpreter::IvrSession`] per caller. Prompts are names resolved against
//! `sounds/<lang>/<name>.wav` by the media layer.

pub mod flow;
pub mod interpreter;

pub use flow::{Flow, FlowErrors, FlowSet};
pub use interpreter::{DialResult, FlowEnd, IvrAction, IvrSession, PlayId};
