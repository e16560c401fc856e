//! Session timers (RFC 4028) for dialogs we answer, sans-IO: what a session-refresh request
//! (the INVITE, a re-INVITE or an UPDATE) asks for, our 422 when its interval is too brief,
//! the headers of our 2xx, and the two deadlines that follow — when we refresh (if we are
//! the refresher) and when a session nobody refreshed is over (BYE).
//!
//! A peer that did not say `Supported: timer` (or `Require: timer`) gets no session timer at
//! all: we never send a refresh to a peer that does not know what it is (baresip 1.0 does
//! not). When the peer supports it and leaves the choice to us, the peer refreshes
//! (`refresher=uac`, RFC 4028 §9 recommends it). When it asks us to refresh, we refresh
//! with UPDATE if its `Allow` lists it, otherwise with a re-INVITE.

use std::time::{Duration, Instant};

use crate::sip::message::Message;

/// Our side of the negotiation (config `sip.session_expires`, `sip.min_se`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimerPolicy {
    /// The interval we ask for when the peer supports timers but names none; also the
    /// longest we accept.
    pub session_expires: Duration,
    /// The briefest interval we accept (a shorter one gets 422 with this as Min-SE).
    pub min_se: Duration,
}

impl Default for SessionTimerPolicy {
    fn default() -> Self {
        SessionTimerPolicy {
            session_expires: Duration::from_secs(1800),
            min_se: Duration::from_secs(90),
        }
    }
}

/// RFC 4028 §4: no interval below 90 s, ever.
pub const ABSOLUTE_MIN_SE: Duration = Duration::from_secs(90);

/// Who sends the refreshes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresher {
    /// The peer that sent the INVITE (the caller).
    Uac,
    /// We do.
    Uas,
}

/// How we refresh, when we are the refresher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshMethod {
    Update,
    ReInvite,
}

/// What a session-refresh request leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Negotiated {
    /// No session timer for this dialog (the peer does not support them, or asked none).
    Off,
    /// Session timer on: add [`SessionTimer::response_headers`] to the 2xx.
    On(SessionTimer),
    /// 422 Session Interval Too Small, with `Min-SE` in seconds.
    TooSmall { min_se: u32 },
}

/// A running session timer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTimer {
    interval: Duration,
    refresher: Refresher,
    method: RefreshMethod,
    /// Our latest refresh was sent and not yet answered.
    refreshing: bool,
    /// When the current interval started (the last 2xx to a refresh).
    started: Instant,
}

/// What a deadline means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerAction {
    /// Send a session refresh now (we are the refresher).
    Refresh(RefreshMethod),
    /// No refresh came in time: end the session (BYE).
    Expired,
}

/// The session-refresh request `req` (initial INVITE, re-INVITE or UPDATE) under `policy`,
/// answered (2xx) at `now`.
pub fn negotiate(req: &Message, policy: &SessionTimerPolicy, now: Instant) -> Negotiated {
    let supports = option_tag(req, "supported") || option_tag(req, "require");
    let requested = req
        .header("session-expires")
        .and_then(parse_session_expires);
    let min_se = policy.min_se.max(ABSOLUTE_MIN_SE);
    if !supports {
        return Negotiated::Off;
    }
    let (interval, refresher) = match requested {
        Some((secs, refresher)) => {
            let asked = Duration::from_secs(u64::from(secs));
            if asked < min_se {
                return Negotiated::TooSmall {
                    min_se: min_se.as_secs() as u32,
                };
            }
            // §9: the UAS may shorten the interval, never below the request's Min-SE.
            let floor = req
                .header("min-se")
                .and_then(|v| v.split(';').next()?.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(ABSOLUTE_MIN_SE)
                .max(min_se);
            let interval = asked.min(policy.session_expires.max(floor));
            (interval, refresher.unwrap_or(Refresher::Uac))
        }
        None => (policy.session_expires.max(min_se), Refresher::Uac),
    };
    let method = if allows(req, "UPDATE") {
        RefreshMethod::Update
    } else {
        RefreshMethod::ReInvite
    };
    Negotiated::On(SessionTimer {
        interval,
        refresher,
        method,
        refreshing: false,
        started: now,
    })
}

impl SessionTimer {
    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn refresher(&self) -> Refresher {
        self.refresher
    }

    /// Headers of our 2xx (§9): `Session-Expires` with the refresher, `Require: timer` when
    /// the peer refreshes (it supports timers, or it would not be on).
    pub fn response_headers(&self) -> Vec<(&'static str, String)> {
        let who = match self.refresher {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        };
        vec![
            (
                "session-expires",
                format!("{};refresher={who}", self.interval.as_secs()),
            ),
            ("require", "timer".to_string()),
        ]
    }

    /// The next deadline: our refresh at half the interval (§10), or the end of a session
    /// the peer did not refresh: the interval minus min(32 s, a third of it) (§10).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.refresher {
            Refresher::Uas if !self.refreshing => Some(self.started + self.interval / 2),
            _ => Some(
                self.started + self.interval - (self.interval / 3).min(Duration::from_secs(32)),
            ),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimerAction> {
        let due = self.poll_timeout()?;
        if now < due {
            return None;
        }
        match self.refresher {
            Refresher::Uas if !self.refreshing => {
                self.refreshing = true;
                Some(TimerAction::Refresh(self.method))
            }
            _ => Some(TimerAction::Expired),
        }
    }

    /// The final response to our refresh: a 2xx starts a new interval; 408 or 481 mean the
    /// session is gone (§10); any other failure leaves the session to expire.
    pub fn refresh_answered(&mut self, now: Instant, status: u16) -> Option<TimerAction> {
        self.refreshing = false;
        match status {
            200..=299 => {
                self.started = now;
                None
            }
            408 | 481 => Some(TimerAction::Expired),
            _ => {
                // Try no more; the session ends at its expiry.
                self.refresher = Refresher::Uac;
                None
            }
        }
    }
}

/// `Session-Expires: 1800;refresher=uac` → (1800, Some(Uac)). `x` as a header value or a
/// missing number is no header at all.
fn parse_session_expires(value: &str) -> Option<(u32, Option<Refresher>)> {
    let mut parts = value.split(';');
    let secs = parts.next()?.trim().parse::<u32>().ok()?;
    let refresher = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("refresher") {
            return None;
        }
        match v.trim().to_ascii_lowercase().as_str() {
            "uac" => Some(Refresher::Uac),
            "uas" => Some(Refresher::Uas),
            _ => None,
        }
    });
    Some((secs, refresher))
}

fn option_tag(req: &Message, header: &str) -> bool {
    req.header_values(header)
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("timer"))
}

fn allows(req: &Message, method: &str) -> bool {
    req.header_values("allow")
        .flat_map(|v| v.split(','))
        .any(|m| m.trim().eq_ignore_ascii_case(method))
}

#[cfg(test)]
#[path = "session_timer_tests.rs"]
mod tests;
