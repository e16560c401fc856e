//! New-INVITE rate limit per source address, sans-IO: a token bucket per IP (a steady rate
//! and a burst), trusted sources (a trunk's address) exempt, idle buckets forgotten so the
//! table stays bounded under a scan from many addresses. Time is an argument.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq)]
pub struct RatePolicy {
    /// New INVITEs per second a source may keep up (0 = no limit).
    pub per_second: f64,
    /// How many may come at once.
    pub burst: f64,
    pub trusted: Vec<IpAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Admission {
    Allowed,
    /// Over the limit: refuse (503) and say when a token will be there.
    Limited {
        retry_after: Duration,
    },
}

/// Buckets idle this long are full again and are dropped.
const IDLE: Duration = Duration::from_secs(60);
/// The table is swept when it holds more sources than this.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
pub struct InviteRateLimiter {
    policy: RatePolicy,
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl InviteRateLimiter {
    pub fn new(policy: RatePolicy) -> InviteRateLimiter {
        InviteRateLimiter {
            policy,
            buckets: HashMap::new(),
        }
    }

    /// A new INVITE from `ip` at `now`: take a token, or be told to wait.
    pub fn check(&mut self, now: Instant, ip: IpAddr) -> Admission {
        let p = &self.policy;
        if p.per_second <= 0.0 || p.trusted.contains(&ip) {
            return Admission::Allowed;
        }
        if self.buckets.len() >= SWEEP_AT {
            self.buckets
                .retain(|_, (_, last)| now.saturating_duration_since(*last) < IDLE);
        }
        let (tokens, last) = self.buckets.entry(ip).or_insert((p.burst, now));
        let refill = now.saturating_duration_since(*last).as_secs_f64() * p.per_second;
        *tokens = (*tokens + refill).min(p.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Admission::Allowed
        } else {
            let wait = (1.0 - *tokens) / p.per_second;
            Admission::Limited {
                retry_after: Duration::from_secs_f64(wait.max(0.001)),
            }
        }
    }

    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    fn limiter(trusted: Vec<IpAddr>) -> InviteRateLimiter {
        InviteRateLimiter::new(RatePolicy {
            per_second: 10.0,
            burst: 5.0,
            trusted,
        })
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut l = limiter(vec![]);
        for _ in 0..5 {
            assert_eq!(l.check(t0, A), Admission::Allowed);
        }
        assert!(
            matches!(l.check(t0, A), Admission::Limited { retry_after } if retry_after <= Duration::from_millis(100))
        );
        // 100 ms later one more token has come.
        assert_eq!(
            l.check(t0 + Duration::from_millis(100), A),
            Admission::Allowed
        );
        assert!(matches!(
            l.check(t0 + Duration::from_millis(100), A),
            Admission::Limited { .. }
        ));
    }

    #[test]
    fn trusted_sources_and_a_zero_rate_are_never_limited() {
        let t0 = Instant::now();
        let mut l = limiter(vec![A]);
        for _ in 0..1000 {
            assert_eq!(l.check(t0, A), Admission::Allowed);
        }
        let mut l = InviteRateLimiter::new(RatePolicy {
            per_second: 0.0,
            burst: 0.0,
            trusted: vec![],
        });
        assert_eq!(l.check(t0, A), Admission::Allowed);
    }

    #[test]
    fn a_scan_from_many_sources_does_not_grow_the_table_without_bound() {
        let t0 = Instant::now();
        let mut l = limiter(vec![]);
        for i in 0..30_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            l.check(t0 + Duration::from_secs(u64::from(i / 100)), ip);
        }
        assert!(l.tracked() <= SWEEP_AT + 6_000, "{}", l.tracked());
    }
}
