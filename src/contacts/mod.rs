//! Callers and organisations: identification numbers (IIN/BIN, [`ident`]) and the contact
//! records in the database ([`store`]).

pub mod ident;
pub mod store;
