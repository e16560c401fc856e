//! Which extensions are in a call now ("an extension in a call counts as busy"). Call tasks
//! mark an extension while they bridge a caller to it; a [`PresenceGuard`] unmarks it when
//! dropped, so a call task that ends any way at all (even by a panic) never leaves an
//! operator marked busy. A small lock, never held across an await (STYLE.md §4).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Presence {
    calls: Arc<Mutex<HashMap<Arc<str>, u32>>>,
}

impl Presence {
    pub fn is_busy(&self, ext: &str) -> bool {
        self.calls
            .lock()
            .expect("presence lock")
            .get(ext)
            .is_some_and(|n| *n > 0)
    }

    /// Mark `ext` as in a call until the guard is dropped.
    pub fn enter(&self, ext: Arc<str>) -> PresenceGuard {
        *self
            .calls
            .lock()
            .expect("presence lock")
            .entry(Arc::clone(&ext))
            .or_insert(0) += 1;
        PresenceGuard {
            presence: self.clone(),
            ext,
        }
    }
}

pub struct PresenceGuard {
    presence: Presence,
    ext: Arc<str>,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let mut map = self.presence.calls.lock().expect("presence lock");
        if let Some(n) = map.get_mut(&self.ext) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ext);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extension_is_busy_while_a_guard_lives() {
        let p = Presence::default();
        assert!(!p.is_busy("2001"));
        let a = p.enter(Arc::from("2001"));
        let b = p.enter(Arc::from("2001"));
        assert!(p.is_busy("2001"));
        drop(a);
        assert!(p.is_busy("2001"), "still in the second call");
        drop(b);
        assert!(!p.is_busy("2001"));
    }
}
