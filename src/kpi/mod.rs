//! KPIs and call metrics, computed by subscribers of the call event stream
//! (`crate::call::events`): a call never updates a KPI itself, it states facts and these
//! subscribers count them. Metric names live in `crate::telemetry`.

pub mod calls;
