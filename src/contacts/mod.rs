//! Callers and organisations: identification numbers (IIN/BIN) now; the contact record and
//! its store come with the service-desk storage.

pub mod ident;
