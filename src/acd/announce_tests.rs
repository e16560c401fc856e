#![allow(clippy::disallowed_methods)] // a base instant; every later time is derived from it

use std::time::{Duration, Instant};

use super::*;

const MINUTE: Duration = Duration::from_secs(60);

fn s(secs: f64) -> Duration {
    Duration::from_secs_f64(secs)
}

/// A caller who entered at `t0` with the one-minute interval.
fn entered() -> (AnnouncementSchedule, Instant) {
    let t0 = Instant::now();
    (AnnouncementSchedule::new(t0, MINUTE), t0)
}

/// Plays the announcement due at `now` for `length`, started on time; returns its slot.
fn announce(a: &mut AnnouncementSchedule, now: Instant, length: Duration) -> u32 {
    let due = a.handle_timeout(now).expect("an announcement is due");
    a.prompt_started(now);
    assert_eq!(a.prompt_done(now + length), Some(length));
    due.slot
}

#[test]
fn the_first_announcement_is_due_at_once_then_every_minute_start_to_start() {
    let (mut a, t0) = entered();
    assert_eq!(a.poll_timeout(), Some(t0));
    assert_eq!(
        a.handle_timeout(t0),
        Some(Due {
            slot: 0,
            late: Duration::ZERO
        })
    );
    a.prompt_started(t0);
    a.prompt_done(t0 + s(12.0));
    assert_eq!(a.poll_timeout(), Some(t0 + s(60.0)));
    assert_eq!(
        a.handle_timeout(t0 + s(60.0)),
        Some(Due {
            slot: 1,
            late: Duration::ZERO
        })
    );
    a.prompt_started(t0 + s(60.0));
    a.prompt_done(t0 + s(72.0));
    assert_eq!(a.poll_timeout(), Some(t0 + s(120.0)));
    assert_eq!(
        a.handle_timeout(t0 + s(120.0)),
        Some(Due {
            slot: 2,
            late: Duration::ZERO
        })
    );
    assert_eq!(a.poll_skip(), None);
}

#[test]
fn an_early_or_repeated_timeout_does_nothing() {
    let (mut a, t0) = entered();
    announce(&mut a, t0, s(10.0));
    assert_eq!(a.handle_timeout(t0 + s(30.0)), None);
    assert_eq!(a.handle_timeout(t0 + s(59.999)), None);
    assert_eq!(a.poll_timeout(), Some(t0 + s(60.0)));
    assert!(a.handle_timeout(t0 + s(60.0)).is_some());
    assert_eq!(a.handle_timeout(t0 + s(60.0)), None, "repeated");
    assert_eq!(a.poll_timeout(), Some(t0 + s(120.0)));
    assert_eq!(a.poll_skip(), None);
}

#[test]
fn a_50_s_announcement_does_not_shift_the_grid() {
    let (mut a, t0) = entered();
    for k in 0..5u32 {
        let slot_time = t0 + MINUTE * k;
        assert_eq!(a.poll_timeout(), Some(slot_time));
        assert_eq!(announce(&mut a, slot_time, s(50.0)), k);
    }
    assert_eq!(a.poll_timeout(), Some(t0 + s(300.0)));
    assert_eq!(a.poll_skip(), None);
}

#[test]
fn a_late_start_does_not_shift_the_grid() {
    let (mut a, t0) = entered();
    // Woken 0.3 s late, playback began 0.9 s after entering (within the 1 s promise).
    assert_eq!(
        a.handle_timeout(t0 + s(0.3)),
        Some(Due {
            slot: 0,
            late: s(0.3)
        })
    );
    a.prompt_started(t0 + s(0.9));
    assert_eq!(a.prompt_done(t0 + s(20.9)), Some(s(20.0)));
    assert_eq!(a.poll_timeout(), Some(t0 + s(60.0)));
    assert_eq!(
        a.handle_timeout(t0 + s(60.0)),
        Some(Due {
            slot: 1,
            late: Duration::ZERO
        })
    );
}

#[test]
fn a_late_wake_up_announces_the_current_slot_and_skips_the_ones_slept_through() {
    let (mut a, t0) = entered();
    announce(&mut a, t0, s(20.0));
    // Slot 1 (60 s) and slot 2 (120 s) passed while the task was starved.
    assert_eq!(
        a.handle_timeout(t0 + s(130.0)),
        Some(Due {
            slot: 2,
            late: s(10.0)
        })
    );
    assert_eq!(
        a.poll_skip(),
        Some(Skip {
            slot: 1,
            why: SkipReason::WokeLate
        })
    );
    assert_eq!(a.poll_skip(), None);
    a.prompt_started(t0 + s(130.0));
    a.prompt_done(t0 + s(150.0));
    assert_eq!(
        a.poll_timeout(),
        Some(t0 + s(180.0)),
        "the grid, not 130 + 60"
    );
    // Late within its own slot only: nothing skipped.
    assert_eq!(
        a.handle_timeout(t0 + s(185.0)),
        Some(Due {
            slot: 3,
            late: s(5.0)
        })
    );
    assert_eq!(a.poll_skip(), None);
}

#[test]
fn an_announcement_still_playing_at_the_next_slot_makes_that_slot_skipped() {
    let (mut a, t0) = entered();
    announce(&mut a, t0, s(10.0));
    // Slot 1 starts 15 s late and lasts 50 s: still playing at slot 2 (120 s).
    assert_eq!(
        a.handle_timeout(t0 + s(75.0)),
        Some(Due {
            slot: 1,
            late: s(15.0)
        })
    );
    a.prompt_started(t0 + s(75.0));
    assert_eq!(a.handle_timeout(t0 + s(120.0)), None);
    assert!(a.is_playing());
    assert_eq!(
        a.poll_skip(),
        Some(Skip {
            slot: 2,
            why: SkipReason::StillPlaying
        })
    );
    assert_eq!(a.poll_skip(), None);
    assert_eq!(a.prompt_done(t0 + s(125.0)), Some(s(50.0)));
    assert_eq!(a.poll_timeout(), Some(t0 + s(180.0)));
    assert_eq!(
        a.handle_timeout(t0 + s(180.0)),
        Some(Due {
            slot: 3,
            late: Duration::ZERO
        })
    );
}

#[test]
fn the_operator_answering_cuts_the_announcement_at_once_and_for_good() {
    let (mut a, t0) = entered();
    announce(&mut a, t0, s(10.0));
    assert!(a.handle_timeout(t0 + s(60.0)).is_some());
    a.prompt_started(t0 + s(60.0));
    assert_eq!(a.cut(t0 + s(63.5)), Some(s(3.5)), "stop the one playing");
    assert!(a.is_cut() && !a.is_playing());
    assert_eq!(a.poll_timeout(), None);
    assert_eq!(a.handle_timeout(t0 + s(120.0)), None);
    assert_eq!(a.handle_timeout(t0 + s(600.0)), None);
    assert_eq!(
        a.prompt_done(t0 + s(64.0)),
        None,
        "the driver's late report changes nothing"
    );
    assert_eq!(a.poll_timeout(), None);
    assert_eq!(a.poll_skip(), None);
}

#[test]
fn an_answer_between_announcements_or_before_playback_began() {
    let (mut a, t0) = entered();
    announce(&mut a, t0, s(10.0));
    assert_eq!(a.cut(t0 + s(30.0)), None, "nothing to stop");
    assert_eq!(a.poll_timeout(), None);

    let (mut b, t0) = entered();
    assert!(b.handle_timeout(t0).is_some());
    assert_eq!(
        b.cut(t0 + s(0.1)),
        Some(Duration::ZERO),
        "due, not yet playing: do not start it"
    );
    assert_eq!(b.poll_timeout(), None);
}

/// A driver that wakes with jitter and plays announcements of every length that fits:
/// each announcement is for a slot later than the last, starts at or after its grid time, and
/// a slot is skipped only when a late start makes an announcement overlap it.
#[test]
fn announcements_stay_on_the_grid_whatever_their_length_and_the_wake_up_jitter() {
    for length_s in [1u64, 10, 30, 45, 59, 60] {
        // How late the driver wakes for slot k: jitter[k % len].
        for jitter in [&[0u64][..], &[7], &[999], &[400, 0], &[999, 0]] {
            let (mut a, t0) = entered();
            let length = Duration::from_secs(length_s);
            let mut last_slot = None;
            let mut starts = 0;
            let mut done_at = None;
            let end = t0 + MINUTE * 30;
            loop {
                // The next event: the announcement ends, or the (jittered) timer fires.
                let wake = a.poll_timeout().map(|t| {
                    let slot = ((t - t0).as_secs() / 60) as usize;
                    t + Duration::from_millis(jitter[slot % jitter.len()])
                });
                let now = match (done_at, wake) {
                    (Some(d), Some(w)) if d <= w => d,
                    (_, Some(w)) => w,
                    (Some(d), None) => d,
                    (None, None) => break,
                };
                if now >= end {
                    break;
                }
                if done_at == Some(now) {
                    assert_eq!(a.prompt_done(now), Some(length));
                    done_at = None;
                    continue;
                }
                let Some(due) = a.handle_timeout(now) else {
                    continue;
                };
                assert!(last_slot < Some(due.slot), "{due:?} after {last_slot:?}");
                assert_eq!(now, a.slot_time(due.slot) + due.late);
                last_slot = Some(due.slot);
                starts += 1;
                a.prompt_started(now);
                done_at = Some(now + length);
            }
            let skips = std::iter::from_fn(|| a.poll_skip()).count();
            assert_eq!(starts + skips, 30, "{length_s} s, jitter {jitter:?} ms");
            // Only a 60 s announcement started late overlaps an on-time next slot (here every
            // other one: slots 1, 3, 5, …).
            let overlap = length_s == 60 && jitter.len() == 2;
            let expected = if overlap { 15 } else { 0 };
            assert_eq!(skips, expected, "{length_s} s, jitter {jitter:?} ms");
        }
    }
}

#[test]
fn an_interval_under_a_minute_is_refused_naming_the_rule_and_over_a_minute_warned() {
    assert_eq!(check_interval(MINUTE), Ok(None));
    let err = check_interval(s(59.0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "announcement interval of 59 s is refused: the regulation requires an announcement \
         interval of at least one minute"
    );
    assert!(check_interval(Duration::ZERO).is_err());
    let warning = check_interval(s(90.0)).unwrap().expect("a warning");
    assert_eq!(
        warning.to_string(),
        "announcement interval of 90 s is longer than one minute: allowed by the regulation, \
         but callers are told their wait less often than every minute"
    );
}

#[test]
fn an_announcement_longer_than_the_interval_is_refused() {
    assert_eq!(check_length(s(49.6), MINUTE), Ok(()));
    assert_eq!(check_length(MINUTE, MINUTE), Ok(()));
    let err = check_length(s(61.5), MINUTE).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the longest queue announcement lasts 61.5 s, longer than the announcement interval \
         of 60 s: it would still be playing when the next one is due"
    );
    assert_eq!(check_length(s(80.0), s(90.0)), Ok(()));
}

#[test]
#[should_panic(expected = "an announcement interval of zero")]
fn a_zero_interval_is_a_bug() {
    let _ = AnnouncementSchedule::new(Instant::now(), Duration::ZERO);
}
