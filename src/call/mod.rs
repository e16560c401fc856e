//! Calls: the sans-IO orchestrator of one call ([`core`]) and the task that drives it
//! ([`driver`]): dialog events, the media leg and the IVR meet here.

pub mod core;
pub mod driver;
