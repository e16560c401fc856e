//! Entries leaving unanswered (max wait, full, no agents), callbacks keeping their place,
//! a late answer, and the live queries.
#![allow(clippy::disallowed_methods)]

use super::super::queue::Strategy;
use super::tests::*;
use super::*;

use AcdAction::{CancelOffer, Connect, Offer, Overflow, ReserveForCallback};

#[test]
fn max_wait_overflows_the_caller_and_cancels_an_offer_out() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings::default());
    let q = acd.add_queue(QueueConfig {
        max_wait: Some(60 * S),
        ..queue("sales")
    });
    let a = acd.add_agent(agent("a0", &[q], &[]));
    acd.log_in(t0, a).unwrap();
    acd.pause(t0, a, "lunch".into()).unwrap();
    let e1 = acd.enqueue(t0, q, 0, CALLER).unwrap();
    let e2 = acd.enqueue(t0 + 10 * S, q, 0, CALLER).unwrap();
    assert_eq!(acd.poll_timeout(), Some(t0 + 60 * S));
    drain(&mut acd);
    acd.handle_timeout(t0 + 60 * S);
    assert_eq!(
        drain(&mut acd),
        [
            Overflow {
                entry: e1,
                reason: OverflowReason::MaxWait
            },
            AcdAction::Fact(QueueFact::Overflowed {
                entry: e1,
                queue: q,
                reason: OverflowReason::MaxWait,
                waited: 60 * S
            }),
        ]
    );
    acd.resume(t0 + 65 * S, a).unwrap();
    assert_eq!(
        commands(&mut acd),
        [Offer {
            entry: e2,
            agent: a
        }]
    );
    acd.handle_timeout(t0 + 70 * S);
    assert_eq!(
        commands(&mut acd),
        [
            CancelOffer {
                entry: e2,
                agent: a
            },
            Overflow {
                entry: e2,
                reason: OverflowReason::MaxWait
            }
        ]
    );
    assert_eq!(acd.agent(a).unwrap().state, &AgentState::Available);
}

#[test]
fn joining_a_full_queue_overflows_with_full() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings::default());
    let q = acd.add_queue(QueueConfig {
        max_len: Some(2),
        ..queue("sales")
    });
    acd.enqueue(t0, q, 0, CALLER).unwrap();
    acd.enqueue(t0, q, 0, EntryKind::Callback).unwrap();
    drain(&mut acd);
    let e = acd.enqueue(t0 + S, q, 9, CALLER).unwrap();
    assert_eq!(
        drain(&mut acd),
        [
            Overflow {
                entry: e,
                reason: OverflowReason::Full
            },
            AcdAction::Fact(QueueFact::Overflowed {
                entry: e,
                queue: q,
                reason: OverflowReason::Full,
                waited: Duration::ZERO
            }),
        ]
    );
    assert_eq!(acd.queue_status(t0 + S, q).unwrap().waiting, 2);
}

#[test]
fn with_nobody_logged_in_a_queue_refuses_or_lets_callers_join_per_config() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings::default());
    let refuse = acd.add_queue(QueueConfig {
        join_when_empty: false,
        ..queue("refuse")
    });
    let join = acd.add_queue(QueueConfig {
        join_when_empty: true,
        ..queue("join")
    });
    let a = acd.add_agent(agent("a0", &[refuse, join], &[]));
    let e = acd.enqueue(t0, refuse, 0, CALLER).unwrap();
    assert_eq!(
        commands(&mut acd),
        [Overflow {
            entry: e,
            reason: OverflowReason::NoAgents
        }]
    );
    let e = acd.enqueue(t0, join, 0, CALLER).unwrap();
    assert_eq!(
        drain(&mut acd),
        [AcdAction::Fact(QueueFact::Entered {
            entry: e,
            queue: join,
            position: 1
        })]
    );
    // A paused member is logged in: the queue is not empty.
    acd.log_in(t0, a).unwrap();
    acd.pause(t0, a, "lunch".into()).unwrap();
    drain(&mut acd);
    let e = acd.enqueue(t0, refuse, 0, CALLER).unwrap();
    assert_eq!(
        drain(&mut acd),
        [AcdAction::Fact(QueueFact::Entered {
            entry: e,
            queue: refuse,
            position: 1
        })]
    );
}

#[test]
fn the_last_member_logging_out_evicts_the_waiting_entries_when_leave_when_empty() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings::default());
    let leave = acd.add_queue(QueueConfig {
        leave_when_empty: true,
        ..queue("leave")
    });
    let stay = acd.add_queue(queue("stay"));
    let a0 = acd.add_agent(agent("a0", &[leave, stay], &[]));
    let a1 = acd.add_agent(agent("a1", &[leave, stay], &[]));
    for x in [a0, a1] {
        acd.log_in(t0, x).unwrap();
        acd.pause(t0, x, "meeting".into()).unwrap();
    }
    let e1 = acd.enqueue(t0, leave, 0, CALLER).unwrap();
    let e2 = acd.enqueue(t0 + S, leave, 0, EntryKind::Callback).unwrap();
    let kept = acd.enqueue(t0 + S, stay, 0, CALLER).unwrap();
    drain(&mut acd);
    acd.log_out(t0 + 5 * S, a0).unwrap();
    assert_eq!(commands(&mut acd), [], "a1 is still logged in");
    acd.log_out(t0 + 6 * S, a1).unwrap();
    assert_eq!(
        commands(&mut acd),
        [
            Overflow {
                entry: e1,
                reason: OverflowReason::NoAgents
            },
            Overflow {
                entry: e2,
                reason: OverflowReason::NoAgents
            },
        ]
    );
    assert_eq!(
        acd.position(kept),
        Some(1),
        "a queue without leave_when_empty keeps its callers"
    );
}

#[test]
fn a_callback_at_the_head_reserves_the_agent_instead_of_an_offer() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::RingAll, 2, &[1, 0], t0);
    let cb = acd.enqueue(t0 + 5 * S, q, 0, EntryKind::Callback).unwrap();
    assert_eq!(
        commands(&mut acd),
        [ReserveForCallback {
            entry: cb,
            agent: a[1]
        }],
        "one agent, the idle longest, even under ring-all"
    );
    assert_eq!(
        acd.agent(a[1]).unwrap().state,
        &AgentState::Reserved { entry: cb }
    );
    acd.offer_answered(t0 + 8 * S, cb, a[1]).unwrap();
    assert_eq!(
        commands(&mut acd),
        [Connect {
            entry: cb,
            agent: a[1]
        }]
    );
}

#[test]
fn a_callback_never_jumps_ahead_of_earlier_entries_nor_is_overtaken_by_later_ones() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::LongestIdle, 1, &[0], t0);
    acd.pause(t0, a[0], "meeting".into()).unwrap();
    let before = acd.enqueue(t0 + S, q, 0, CALLER).unwrap();
    let cb = acd.enqueue(t0 + 2 * S, q, 0, EntryKind::Callback).unwrap();
    let after = acd.enqueue(t0 + 3 * S, q, 0, CALLER).unwrap();
    drain(&mut acd);
    acd.resume(t0 + 10 * S, a[0]).unwrap();
    let mut served = vec![];
    for i in 0..3u32 {
        let entry = match commands(&mut acd)[..] {
            [Offer { entry, .. }] | [ReserveForCallback { entry, .. }] => entry,
            ref other => panic!("one offer or reservation, got {other:?}"),
        };
        served.push(entry);
        take_call(&mut acd, t0 + 20 * S + i * S, entry, a[0]);
    }
    assert_eq!(served, [before, cb, after]);
}

#[test]
fn a_caller_turned_callback_keeps_its_place() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::LongestIdle, 1, &[0], t0);
    let first = acd.enqueue(t0 + S, q, 0, CALLER).unwrap();
    let second = acd.enqueue(t0 + 2 * S, q, 0, CALLER).unwrap();
    drain(&mut acd); // `first` rings a0
    acd.convert_to_callback(t0 + 3 * S, first).unwrap();
    let acts = drain(&mut acd);
    assert_eq!(
        acts[0],
        CancelOffer {
            entry: first,
            agent: a[0]
        }
    );
    assert!(acts.contains(&AcdAction::Fact(QueueFact::CallbackKept {
        entry: first,
        queue: q,
        position: 1
    })));
    assert!(
        acts.contains(&ReserveForCallback {
            entry: first,
            agent: a[0]
        }),
        "still first"
    );
    let later = acd.enqueue(t0 + 4 * S, q, 0, CALLER).unwrap();
    let order: Vec<EntryId> = acd
        .entries(t0 + 4 * S, q)
        .iter()
        .map(|x| x.entry.id)
        .collect();
    assert_eq!(order, [first, second, later]);
}

#[test]
fn an_answer_after_the_core_cancelled_the_offer_is_refused() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::LongestIdle, 1, &[0], t0);
    let e = acd.enqueue(t0, q, 0, CALLER).unwrap();
    acd.handle_timeout(t0 + 15 * S);
    drain(&mut acd);
    assert_eq!(
        acd.offer_answered(t0 + 15 * S, e, a[0]),
        Err(AcdError::NoSuchOffer {
            entry: e,
            agent: a[0]
        })
    );
    assert_eq!(acd.position(e), Some(1), "the caller still waits");
}

#[test]
fn queue_status_counts_waiting_offered_and_the_longest_wait() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::LongestIdle, 2, &[0, 1], t0);
    acd.pause(t0, a[1], "break".into()).unwrap();
    acd.enqueue(t0 + 10 * S, q, 0, CALLER).unwrap();
    acd.enqueue(t0 + 12 * S, q, 3, CALLER).unwrap();
    assert_eq!(
        acd.queue_status(t0 + 40 * S, q),
        Some(QueueStatus {
            waiting: 2,
            offered: 1,
            longest_wait: Some(30 * S),
            logged_in_agents: 2,
            available_agents: 0,
        })
    );
    assert_eq!(acd.queue_id("sales"), Some(q));
    assert_eq!(acd.agent_id("a1"), Some(a[1]));
}

#[test]
fn a_callback_put_back_later_keeps_the_place_of_its_entry_time() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::LongestIdle, 1, &[0], t0);
    acd.pause(t0, a[0], "meeting".into()).unwrap();
    let first = acd.enqueue(t0 + S, q, 0, CALLER).unwrap();
    let later = acd.enqueue(t0 + 5 * S, q, 0, CALLER).unwrap();
    // Put back at 8 s (after a retry, or a restart) with the place its caller had at 3 s.
    let cb = acd
        .enqueue_entered(t0 + 8 * S, t0 + 3 * S, q, 0, EntryKind::Callback)
        .unwrap();
    assert_eq!(
        acd.position(cb),
        Some(2),
        "between the caller of 1 s and the one of 5 s"
    );
    drain(&mut acd);
    acd.resume(t0 + 10 * S, a[0]).unwrap();
    let mut served = vec![];
    for i in 0..3u32 {
        let entry = match commands(&mut acd)[..] {
            [Offer { entry, .. }] | [ReserveForCallback { entry, .. }] => entry,
            ref other => panic!("one offer or reservation, got {other:?}"),
        };
        served.push(entry);
        take_call(&mut acd, t0 + 20 * S + i * S, entry, a[0]);
    }
    assert_eq!(served, [first, cb, later]);
}
