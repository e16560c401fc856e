//! Login lockout (MISSION §6), sans-IO: five wrong passwords in a row lock the login for ten
//! minutes (a success resets the count); and a per-source throttle — twenty failures from one
//! address within ten minutes refuse that address until the oldest failure ages out — so one
//! client cannot lock out everyone or try many logins. Time comes in as an argument.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use jiff::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub lock_for: Duration,
    pub source_failures: usize,
    pub source_window: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 5,
            lock_for: Duration::from_secs(600),
            source_failures: 20,
            source_window: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// The login is locked until then (HTTP 423).
    Locked {
        until: Timestamp,
    },
    /// This address tried too often; try again then (HTTP 429).
    Throttled {
        until: Timestamp,
    },
}

#[derive(Debug, Default)]
struct LoginState {
    failures: u32,
    locked_until: Option<Timestamp>,
}

#[derive(Debug, Default)]
pub struct Lockout {
    policy: LockoutPolicy,
    logins: HashMap<String, LoginState>,
    sources: HashMap<IpAddr, VecDeque<Timestamp>>,
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(t)
}

impl Lockout {
    pub fn new(policy: LockoutPolicy) -> Lockout {
        Lockout {
            policy,
            ..Default::default()
        }
    }

    /// Before checking the password.
    pub fn check(&mut self, now: Timestamp, login: &str, source: IpAddr) -> Access {
        if let Some(failures) = self.sources.get_mut(&source) {
            while failures
                .front()
                .is_some_and(|t| plus(*t, self.policy.source_window) <= now)
            {
                failures.pop_front();
            }
            if failures.len() >= self.policy.source_failures {
                let oldest = *failures.front().expect("non-empty");
                return Access::Throttled {
                    until: plus(oldest, self.policy.source_window),
                };
            }
        }
        if let Some(state) = self.logins.get_mut(&login.to_lowercase()) {
            match state.locked_until {
                Some(until) if now < until => return Access::Locked { until },
                Some(_) => {
                    // The lock has run out: a fresh start.
                    state.locked_until = None;
                    state.failures = 0;
                }
                None => {}
            }
        }
        Access::Allowed
    }

    /// A wrong password; returns the lock when this failure caused one.
    pub fn handle_failure(
        &mut self,
        now: Timestamp,
        login: &str,
        source: IpAddr,
    ) -> Option<Timestamp> {
        self.sources.entry(source).or_default().push_back(now);
        let state = self.logins.entry(login.to_lowercase()).or_default();
        state.failures += 1;
        if state.failures >= self.policy.max_failures {
            let until = plus(now, self.policy.lock_for);
            state.locked_until = Some(until);
            return Some(until);
        }
        None
    }

    pub fn handle_success(&mut self, login: &str) {
        self.logins.remove(&login.to_lowercase());
    }

    /// An administrator's `users unlock`.
    pub fn unlock(&mut self, login: &str) {
        self.logins.remove(&login.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn five_failures_in_a_row_lock_for_ten_minutes() {
        let mut l = Lockout::new(LockoutPolicy::default());
        for i in 0..4 {
            assert_eq!(l.check(at(i), "op1", IP), Access::Allowed);
            assert_eq!(l.handle_failure(at(i), "op1", IP), None);
        }
        assert_eq!(l.handle_failure(at(4), "op1", IP), Some(at(604)));
        assert_eq!(l.check(at(5), "OP1", IP), Access::Locked { until: at(604) });
        assert_eq!(
            l.check(at(603), "op1", IP),
            Access::Locked { until: at(604) }
        );
        assert_eq!(
            l.check(at(604), "op1", IP),
            Access::Allowed,
            "unlocked after 10 minutes"
        );
        assert_eq!(
            l.handle_failure(at(605), "op1", IP),
            None,
            "the count starts again"
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let mut l = Lockout::new(LockoutPolicy::default());
        for i in 0..4 {
            l.handle_failure(at(i), "op1", IP);
        }
        l.handle_success("op1");
        for i in 10..14 {
            assert_eq!(l.handle_failure(at(i), "op1", IP), None);
        }
    }

    #[test]
    fn one_source_trying_many_logins_is_throttled() {
        let mut l = Lockout::new(LockoutPolicy::default());
        for i in 0..20 {
            l.handle_failure(at(i), &format!("user{i}"), IP);
        }
        assert_eq!(
            l.check(at(30), "someone", IP),
            Access::Throttled { until: at(600) }
        );
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(l.check(at(30), "someone", other), Access::Allowed);
        assert_eq!(
            l.check(at(600), "someone", IP),
            Access::Allowed,
            "the oldest aged out"
        );
    }

    #[test]
    fn an_admin_unlock_lifts_the_lock() {
        let mut l = Lockout::new(LockoutPolicy::default());
        for i in 0..5 {
            l.handle_failure(at(i), "op1", IP);
        }
        l.unlock("op1");
        assert_eq!(l.check(at(10), "op1", IP), Access::Allowed);
    }
}
