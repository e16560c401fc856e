//! The registrar: SIP accounts of operators (extension + digest HA1), REGISTER with digest
//! authentication and a SIP lockout, bindings kept in the database and in a location cache
//! that calls read to reach a softphone.
//!
//! - [`core`]: who may register and what to answer (sans-IO).
//! - [`store`]: accounts, locks and bindings in SQLite/PostgreSQL.
//! - [`actor`]: the task that runs the core against the store for the SIP endpoint.
//! - [`Location`]: the current bindings by extension, shared read-mostly with call set-up.

pub mod actor;
pub mod core;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use crate::sip::registrar::Binding;

/// Where each extension can be reached now. Written only by the registrar actor (and by
/// contact qualification), read by call set-up; the lock is never held across an await.
#[derive(Clone, Default)]
pub struct Location {
    inner: Arc<Mutex<HashMap<String, Vec<Binding>>>>,
}

impl Location {
    /// The extension's unexpired bindings.
    pub fn lookup(&self, ext: &str, now: Timestamp) -> Vec<Binding> {
        let map = self.inner.lock().expect("location lock");
        map.get(ext)
            .map(|b| b.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default()
    }

    pub fn set(&self, ext: &str, bindings: Vec<Binding>) {
        let mut map = self.inner.lock().expect("location lock");
        if bindings.is_empty() {
            map.remove(ext);
        } else {
            map.insert(ext.to_string(), bindings);
        }
    }

    /// Extensions with at least one unexpired binding.
    pub fn registered(&self, now: Timestamp) -> usize {
        let map = self.inner.lock().expect("location lock");
        map.values()
            .filter(|b| b.iter().any(|b| b.expires_at > now))
            .count()
    }
}
