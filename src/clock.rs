//! Wall-clock time for the drivers that need "now" (the API, the SLA job). Cores take time
//! as an argument; the drivers take a [`Clock`] so tests can set it (the lockout's ten
//! minutes, the SLA's working hours) without sleeping.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

/// `t + d`, saturating at `t` when it would leave jiff's range (deadlines and locks are
/// never that far out).
/// `t` minus `d` (`t` itself if that is out of range).
pub fn before(t: Timestamp, d: std::time::Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_sub(d).ok())
        .unwrap_or(t)
}

pub fn after(t: Timestamp, d: std::time::Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(t)
}

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // The one place the server reads the wall clock.
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now();
        Timestamp::try_from(now).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// A clock that moves only when told to (tests, simulations).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(at)))
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut t = self.0.lock().expect("clock lock");
        *t = t.checked_add(by).expect("time in range");
    }

    pub fn set(&self, at: Timestamp) {
        *self.0.lock().expect("clock lock") = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("clock lock")
    }
}

/// Monotonic "now" for drivers: tokio's clock, so paused-time tests move it (outside a
/// runtime it is the OS clock). Cores never read it: drivers pass it in.
pub fn monotonic_now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Sleep until `deadline` (forever when there is none): a driver's timer branch in
/// `select!`, for a core's `poll_timeout()`.
pub async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
