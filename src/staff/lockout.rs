//! Login lockout (MISSION §6), sans-IO: five wrong passwords in a row lock the login for ten
//! minutes (a success resets the count); and a per-source throttle — twenty failures from one
//! address within ten minutes refuse that address until the oldest failure ages out — so one
//! client cannot lock out everyone or try many logins. Time comes in as an argument.
//!
//! A login's state ([`LoginLock`]) is a value the caller keeps where the account is (the
//! `staff` row: `failed_count`, `locked_until`), so a lock survives a restart and holds on
//! every node. The source throttle ([`SourceThrottle`]) lives in memory; [`SourceThrottle::prune`]
//! forgets addresses whose failures have all aged out, so it cannot grow without bound.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use jiff::Timestamp;

use crate::clock::after;

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

/// One login's failures in a row and its lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginLock {
    pub failures: u32,
    pub locked_until: Option<Timestamp>,
}

impl LoginLock {
    /// Before checking the password. A lock that has run out gives a fresh start.
    pub fn check(&mut self, now: Timestamp) -> Access {
        match self.locked_until {
            Some(until) if now < until => Access::Locked { until },
            Some(_) => {
                *self = LoginLock::default();
                Access::Allowed
            }
            None => Access::Allowed,
        }
    }

    /// A wrong password; returns the lock when this failure caused one.
    pub fn fail(&mut self, now: Timestamp, policy: &LockoutPolicy) -> Option<Timestamp> {
        self.failures += 1;
        if self.failures >= policy.max_failures {
            let until = after(now, policy.lock_for);
            self.locked_until = Some(until);
            return Some(until);
        }
        None
    }
}

#[derive(Debug, Default)]
pub struct SourceThrottle {
    policy: LockoutPolicy,
    sources: HashMap<IpAddr, VecDeque<Timestamp>>,
}

impl SourceThrottle {
    pub fn new(policy: LockoutPolicy) -> SourceThrottle {
        SourceThrottle {
            policy,
            sources: HashMap::new(),
        }
    }

    pub fn check(&mut self, now: Timestamp, source: IpAddr) -> Access {
        let window = self.policy.source_window;
        if let Some(failures) = self.sources.get_mut(&source) {
            while failures.front().is_some_and(|t| after(*t, window) <= now) {
                failures.pop_front();
            }
            if failures.len() >= self.policy.source_failures {
                let oldest = *failures.front().expect("non-empty");
                return Access::Throttled {
                    until: after(oldest, window),
                };
            }
        }
        Access::Allowed
    }

    pub fn fail(&mut self, now: Timestamp, source: IpAddr) {
        let failures = self.sources.entry(source).or_default();
        failures.push_back(now);
        // Only the newest `source_failures` matter for the decision.
        while failures.len() > self.policy.source_failures {
            failures.pop_front();
        }
    }

    /// Forget addresses whose failures have all aged out.
    pub fn prune(&mut self, now: Timestamp) {
        let window = self.policy.source_window;
        self.sources
            .retain(|_, f| f.back().is_some_and(|t| after(*t, window) > now));
    }

    pub fn tracked(&self) -> usize {
        self.sources.len()
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
        let p = LockoutPolicy::default();
        let mut l = LoginLock::default();
        for i in 0..4 {
            assert_eq!(l.check(at(i)), Access::Allowed);
            assert_eq!(l.fail(at(i), &p), None);
        }
        assert_eq!(l.fail(at(4), &p), Some(at(604)));
        assert_eq!(l.check(at(5)), Access::Locked { until: at(604) });
        assert_eq!(l.check(at(603)), Access::Locked { until: at(604) });
        assert_eq!(
            l.check(at(604)),
            Access::Allowed,
            "unlocked after 10 minutes"
        );
        assert_eq!(l.fail(at(605), &p), None, "the count starts again");
        assert_eq!(l.failures, 1);
    }

    #[test]
    fn a_success_resets_the_count() {
        let p = LockoutPolicy::default();
        let mut l = LoginLock::default();
        for i in 0..4 {
            l.fail(at(i), &p);
        }
        l = LoginLock::default(); // what a success stores
        for i in 10..14 {
            assert_eq!(l.fail(at(i), &p), None);
        }
    }

    #[test]
    fn one_source_trying_many_logins_is_throttled() {
        let mut s = SourceThrottle::new(LockoutPolicy::default());
        for i in 0..25 {
            s.fail(at(i), IP);
        }
        // The newest twenty count: the oldest of them is at(5).
        assert_eq!(s.check(at(30), IP), Access::Throttled { until: at(605) });
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(s.check(at(30), other), Access::Allowed);
        assert_eq!(s.check(at(605), IP), Access::Allowed, "the oldest aged out");
    }

    #[test]
    fn pruning_forgets_addresses_whose_failures_aged_out() {
        let mut s = SourceThrottle::new(LockoutPolicy::default());
        for i in 0..1000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            s.fail(at(i64::from(i)), ip);
        }
        s.prune(at(600 + 499));
        assert_eq!(
            s.tracked(),
            500,
            "failures at 500..999 are still within the window"
        );
        s.prune(at(2000));
        assert_eq!(s.tracked(), 0);
    }
}
