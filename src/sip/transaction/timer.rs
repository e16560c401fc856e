//! Timer values (RFC 3261 §17.1.1.1, Table 4) and a fixed table of deadlines.

use std::time::{Duration, Instant};

/// T1, T2, T4 and what derives from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64·T1: Timers B, F, H and J (32 s by default).
    pub fn t64(&self) -> Duration {
        self.t1 * 64
    }
}

/// The timers of RFC 3261 §17, by letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    A,
    B,
    D,
    E,
    F,
    G,
    H,
    I,
    J,
    K,
}

const COUNT: usize = 10;

/// Deadlines indexed by [`Timer`]; `None` = not running.
#[derive(Clone, Debug, Default)]
pub struct TimerTable {
    at: [Option<Instant>; COUNT],
}

impl TimerTable {
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.at[timer as usize] = Some(at);
    }

    pub fn stop(&mut self, timer: Timer) {
        self.at[timer as usize] = None;
    }

    pub fn stop_all(&mut self) {
        self.at = [None; COUNT];
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// The earliest timer due at `now`, removed from the table.
    pub fn expired(&mut self, now: Instant) -> Option<Timer> {
        const ALL: [Timer; COUNT] = [
            Timer::A,
            Timer::B,
            Timer::D,
            Timer::E,
            Timer::F,
            Timer::G,
            Timer::H,
            Timer::I,
            Timer::J,
            Timer::K,
        ];
        let (i, _) = self
            .at
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.filter(|t| *t <= now).map(|t| (i, t)))
            .min_by_key(|(_, t)| *t)?;
        self.at[i] = None;
        Some(ALL[i])
    }
}
