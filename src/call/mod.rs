//! Calls: the sans-IO orchestrator of one call ([`core`]) and the task that drives it
//! ([`driver`]): dialog events, the media leg and the IVR meet here. Every call fact is
//! published on the call event stream ([`events`]), which records and KPIs subscribe to.

pub mod admission;
pub mod callback_offer;
pub mod core;
pub mod dial;
pub mod driver;
pub mod events;
pub mod presence;
pub mod routing;
