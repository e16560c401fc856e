//! The registrar: SIP accounts of operators (extension + digest HA1), REGISTER with digest
//! authentication and a SIP lockout, bindings kept in the database and in a location cache
//! that calls read to reach a softphone.
//!
//! - [`core`]: who may register and what to answer (sans-IO).
//! - [`store`]: accounts, locks and bindings in SQLite/PostgreSQL.
//! - [`actor`]: the task that runs the core against the store for the SIP endpoint.
//! - [`qualify`]: OPTIONS probes of registered contacts; unreachable ones are not called.
//! - [`Location`]: the current bindings by extension, shared read-mostly with call set-up.

pub mod actor;
pub mod core;
pub mod qualify;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use crate::sip::registrar::Binding;

/// Where each extension can be reached now. Written only by the registrar actor (and by
/// contact qualification), read by call set-up; the lock is never held across an await.
#[derive(Clone, Default)]
pub struct Location {
    inner: Arc<Mutex<Places>>,
}

#[derive(Default)]
struct Places {
    bindings: HashMap<String, Vec<Binding>>,
    /// (extension, contact) that did not answer their last OPTIONS.
    unreachable: HashSet<(String, String)>,
}

impl Location {
    /// The extension's unexpired bindings that are not known to be unreachable.
    pub fn lookup(&self, ext: &str, now: Timestamp) -> Vec<Binding> {
        let p = self.inner.lock().expect("location lock");
        p.bindings
            .get(ext)
            .map(|b| {
                b.iter()
                    .filter(|b| b.expires_at > now)
                    .filter(|b| {
                        !p.unreachable
                            .contains(&(ext.to_string(), b.contact.clone()))
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The extension's bindings after a REGISTER; a contact that registers is reachable.
    pub fn set(&self, ext: &str, bindings: Vec<Binding>) {
        let mut p = self.inner.lock().expect("location lock");
        p.unreachable.retain(|(e, _)| e != ext);
        if bindings.is_empty() {
            p.bindings.remove(ext);
        } else {
            p.bindings.insert(ext.to_string(), bindings);
        }
    }

    /// Every unexpired binding (to qualify them).
    pub fn all(&self, now: Timestamp) -> Vec<(String, Binding)> {
        let p = self.inner.lock().expect("location lock");
        p.bindings
            .iter()
            .flat_map(|(e, bs)| {
                bs.iter()
                    .filter(|b| b.expires_at > now)
                    .map(|b| (e.clone(), b.clone()))
            })
            .collect()
    }

    /// Record a probe's verdict on one contact.
    pub fn set_reachable(&self, ext: &str, contact: &str, reachable: bool) {
        let mut p = self.inner.lock().expect("location lock");
        let key = (ext.to_string(), contact.to_string());
        if reachable {
            p.unreachable.remove(&key);
        } else if p
            .bindings
            .get(ext)
            .is_some_and(|b| b.iter().any(|b| b.contact == contact))
        {
            p.unreachable.insert(key);
        }
    }

    /// Extensions with at least one unexpired binding.
    pub fn registered(&self, now: Timestamp) -> usize {
        let p = self.inner.lock().expect("location lock");
        p.bindings
            .values()
            .filter(|b| b.iter().any(|b| b.expires_at > now))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::registrar::Reach;

    fn binding(contact: &str) -> Binding {
        Binding {
            contact: contact.into(),
            expires_at: Timestamp::from_second(2_000_000_000).unwrap(),
            call_id: "c".into(),
            cseq: 1,
            reach: Reach::Udp("127.0.0.1:5070".parse().unwrap()),
            user_agent: None,
        }
    }

    #[test]
    fn an_unreachable_contact_is_not_looked_up_until_it_answers_or_registers_again() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let l = Location::default();
        l.set("2001", vec![binding("sip:a@h"), binding("sip:b@h")]);
        l.set_reachable("2001", "sip:a@h", false);
        let found: Vec<String> = l
            .lookup("2001", now)
            .into_iter()
            .map(|b| b.contact)
            .collect();
        assert_eq!(found, ["sip:b@h"]);
        l.set_reachable("2001", "sip:a@h", true);
        assert_eq!(l.lookup("2001", now).len(), 2);
        l.set_reachable("2001", "sip:a@h", false);
        l.set("2001", vec![binding("sip:a@h")]);
        assert_eq!(
            l.lookup("2001", now).len(),
            1,
            "a REGISTER makes it reachable again"
        );
        assert_eq!(l.registered(now), 1, "unreachable or not, it is registered");
    }
}
