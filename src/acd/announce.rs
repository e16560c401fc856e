//! When a waiting caller hears the queue announcement (MISSION §1.1): at once on entering the
//! queue, then every interval (60 s), measured start to start on a fixed grid from the moment
//! the caller entered: slot k is due at `entered + k·interval`, however long each announcement
//! plays and however late one started. Sans-IO: time comes in as arguments.
//!
//! The call task drives it: sleep until [`AnnouncementSchedule::poll_timeout`], call
//! [`AnnouncementSchedule::handle_timeout`]; on [`Due`] play [`crate::acd::phrases::announcement`]
//! and report [`AnnouncementSchedule::prompt_started`] and
//! [`AnnouncementSchedule::prompt_done`]; drain [`AnnouncementSchedule::poll_skip`] into the log;
//! on answer call [`AnnouncementSchedule::cut`].
//!
//! A slot is skipped, never moved: when the task wakes after a whole slot has passed
//! ([`SkipReason::WokeLate`]: the current slot is announced, the ones slept through are not), or
//! when the previous announcement is still playing at the slot ([`SkipReason::StillPlaying`]:
//! only possible after a late start, since [`check_length`] refuses an announcement longer than
//! the interval). A late start shortens the gap to the next slot by the same amount; the grid is
//! the promise.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// The shortest interval the regulation allows, and the one the product promises.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);

/// The announcements of one caller in one queue, from entering until an operator answers.
#[derive(Debug)]
pub struct AnnouncementSchedule {
    entered: Instant,
    interval: Duration,
    /// The first slot neither announced nor skipped.
    next: u32,
    state: State,
    skips: VecDeque<Skip>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    /// From [`Due`] until `prompt_done`; `started` once the driver says playback began.
    Playing {
        started: Option<Instant>,
    },
    /// An operator answered: nothing more, ever.
    Cut,
}

/// Announce now: slot `slot` (0 on entering), `late` after its time on the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub slot: u32,
    pub late: Duration,
}

/// A slot that passed without an announcement, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip {
    pub slot: u32,
    pub why: SkipReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The driver woke after this slot's whole interval had passed; a later slot was announced.
    WokeLate,
    /// The previous announcement was still playing at this slot.
    StillPlaying,
}

impl AnnouncementSchedule {
    /// The first announcement is due at `entered`, the next ones every `interval` after it
    /// (validated at load by [`check_interval`]).
    ///
    /// # Panics
    /// If `interval` is zero.
    pub fn new(entered: Instant, interval: Duration) -> AnnouncementSchedule {
        assert!(!interval.is_zero(), "an announcement interval of zero");
        AnnouncementSchedule {
            entered,
            interval,
            next: 0,
            state: State::Idle,
            skips: VecDeque::new(),
        }
    }

    /// When the next slot is due; `None` once cut.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Cut => None,
            State::Idle | State::Playing { .. } => Some(self.slot_time(self.next)),
        }
    }

    /// A timer fired: [`Due`] when an announcement should start now. Early or repeated calls
    /// do nothing; slots skipped on the way are queued for [`Self::poll_skip`].
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Due> {
        if self.state == State::Cut || now < self.slot_time(self.next) {
            return None;
        }
        let current = self.slot_at(now);
        for slot in self.next..current {
            self.skips.push_back(Skip {
                slot,
                why: SkipReason::WokeLate,
            });
        }
        self.next = current.saturating_add(1);
        if let State::Playing { .. } = self.state {
            self.skips.push_back(Skip {
                slot: current,
                why: SkipReason::StillPlaying,
            });
            return None;
        }
        self.state = State::Playing { started: None };
        Some(Due {
            slot: current,
            late: now - self.slot_time(current),
        })
    }

    /// The announcement began playing (perhaps later than its [`Due`]); the grid stays.
    pub fn prompt_started(&mut self, now: Instant) {
        if let State::Playing {
            started: started @ None,
        } = &mut self.state
        {
            *started = Some(now);
        }
    }

    /// The announcement finished; how long it played, from `prompt_started` (or zero when
    /// that was not reported). `None` when nothing was playing (or after [`Self::cut`]).
    pub fn prompt_done(&mut self, now: Instant) -> Option<Duration> {
        let State::Playing { started } = self.state else {
            return None;
        };
        self.state = State::Idle;
        Some(started.map_or(Duration::ZERO, |s| now.saturating_duration_since(s)))
    }

    /// An operator answered: stop at once, no more announcements. When one was playing, how
    /// long it had played (the driver stops it now).
    pub fn cut(&mut self, now: Instant) -> Option<Duration> {
        let played = match self.state {
            State::Playing { started } => {
                Some(started.map_or(Duration::ZERO, |s| now.saturating_duration_since(s)))
            }
            State::Idle | State::Cut => None,
        };
        self.state = State::Cut;
        played
    }

    /// The next slot that passed without an announcement, for the log.
    pub fn poll_skip(&mut self) -> Option<Skip> {
        self.skips.pop_front()
    }

    pub fn is_playing(&self) -> bool {
        matches!(self.state, State::Playing { .. })
    }

    pub fn is_cut(&self) -> bool {
        self.state == State::Cut
    }

    /// When slot `slot` is due.
    pub fn slot_time(&self, slot: u32) -> Instant {
        self.entered + self.interval * slot
    }

    /// The last slot due at or before `now`.
    fn slot_at(&self, now: Instant) -> u32 {
        let since = now.saturating_duration_since(self.entered);
        u32::try_from(since.as_nanos() / self.interval.as_nanos()).unwrap_or(u32::MAX)
    }
}

/// A configured announcement interval: under [`MIN_INTERVAL`] breaks the regulation and is
/// refused; over it is allowed with a warning (callers are promised one a minute).
pub fn check_interval(interval: Duration) -> Result<Option<IntervalWarning>, ScheduleError> {
    if interval < MIN_INTERVAL {
        Err(ScheduleError::IntervalTooShort { interval })
    } else if interval > MIN_INTERVAL {
        Ok(Some(IntervalWarning { interval }))
    } else {
        Ok(None)
    }
}

/// The longest announcement (in any language, from
/// [`crate::acd::phrases::longest_announcement`]) must fit in the interval, or it would still
/// be playing when the next is due and every other slot would be skipped.
pub fn check_length(
    longest_announcement: Duration,
    interval: Duration,
) -> Result<(), ScheduleError> {
    if longest_announcement > interval {
        Err(ScheduleError::AnnouncementTooLong {
            longest: longest_announcement,
            interval,
        })
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleError {
    IntervalTooShort {
        interval: Duration,
    },
    AnnouncementTooLong {
        longest: Duration,
        interval: Duration,
    },
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleError::IntervalTooShort { interval } => write!(
                f,
                "announcement interval of {} is refused: the regulation requires an \
                 announcement interval of at least one minute",
                seconds(*interval)
            ),
            ScheduleError::AnnouncementTooLong { longest, interval } => write!(
                f,
                "the longest queue announcement lasts {}, longer than the announcement interval \
                 of {}: it would still be playing when the next one is due",
                seconds(*longest),
                seconds(*interval)
            ),
        }
    }
}

impl std::error::Error for ScheduleError {}

/// An interval the regulation allows but longer than the one-minute promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalWarning {
    pub interval: Duration,
}

impl fmt::Display for IntervalWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "announcement interval of {} is longer than one minute: allowed by the regulation, \
             but callers are told their wait less often than every minute",
            seconds(self.interval)
        )
    }
}

/// "60 s", "49.6 s".
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

#[cfg(test)]
#[path = "announce_tests.rs"]
mod tests;
