//! Offers: ring time-out, failures, retry delay, missed-offer pause, the caller leaving while
//! ringing, wrap-up, one call at a time, busy elsewhere, log-out.
#![allow(clippy::disallowed_methods)]

use super::super::agent::ActivityReason;
use super::super::queue::Strategy;
use super::tests::*;
use super::*;

use AcdAction::{CancelOffer, Connect, Offer};

#[test]
fn ring_time_out_cancels_the_offer_and_offers_the_entry_to_the_next_agent() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::LongestIdle, 2, &[0, 1], t0);
    let e = acd.enqueue(t0 + 10 * S, q, 0, CALLER).unwrap();
    assert_eq!(
        commands(&mut acd),
        [Offer {
            entry: e,
            agent: a[0]
        }]
    );
    assert_eq!(acd.poll_timeout(), Some(t0 + 25 * S));
    acd.handle_timeout(t0 + 24 * S);
    assert_eq!(drain(&mut acd), [], "early: nothing");
    acd.handle_timeout(t0 + 25 * S);
    let acts = drain(&mut acd);
    assert!(acts.contains(&AcdAction::Fact(QueueFact::OfferFailed {
        entry: e,
        agent: a[0],
        failure: OfferFailure::NoAnswer
    })));
    let cmds: Vec<_> = acts
        .into_iter()
        .filter(|x| !matches!(x, AcdAction::Fact(_) | AcdAction::Activity(_)))
        .collect();
    assert_eq!(
        cmds,
        [
            CancelOffer {
                entry: e,
                agent: a[0]
            },
            Offer {
                entry: e,
                agent: a[1]
            }
        ]
    );
    assert_eq!(
        acd.agent(a[0]).unwrap().state,
        &AgentState::RetryDelay { until: t0 + 30 * S }
    );
}

#[test]
fn a_missed_agent_is_not_offered_again_before_its_retry_delay() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::LongestIdle, 1, &[0], t0);
    let e = acd.enqueue(t0, q, 0, CALLER).unwrap();
    drain(&mut acd);
    acd.handle_timeout(t0 + 15 * S);
    assert_eq!(
        commands(&mut acd),
        [CancelOffer {
            entry: e,
            agent: a[0]
        }],
        "nobody else to offer"
    );
    assert_eq!(
        acd.poll_timeout(),
        Some(t0 + 20 * S),
        "the retry delay's end"
    );
    acd.handle_timeout(t0 + 19 * S);
    assert_eq!(commands(&mut acd), []);
    acd.handle_timeout(t0 + 20 * S);
    assert_eq!(
        commands(&mut acd),
        [Offer {
            entry: e,
            agent: a[0]
        }]
    );
}

#[test]
fn busy_or_decline_offers_the_entry_to_the_next_agent() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::LongestIdle, 3, &[0, 1, 2], t0);
    let e = acd.enqueue(t0 + 10 * S, q, 0, CALLER).unwrap();
    drain(&mut acd);
    acd.offer_failed(t0 + 11 * S, e, a[0], OfferFailure::Busy)
        .unwrap();
    assert_eq!(
        commands(&mut acd),
        [Offer {
            entry: e,
            agent: a[1]
        }]
    );
    acd.offer_failed(t0 + 12 * S, e, a[1], OfferFailure::Declined)
        .unwrap();
    assert_eq!(
        commands(&mut acd),
        [Offer {
            entry: e,
            agent: a[2]
        }]
    );
    assert_eq!(
        acd.poll_timeout(),
        Some(t0 + 16 * S),
        "a0's retry delay ends first"
    );
    assert_eq!(
        acd.offer_failed(t0 + 12 * S, e, a[0], OfferFailure::Busy),
        Err(AcdError::NoSuchOffer {
            entry: e,
            agent: a[0]
        }),
        "a late report for an offer already failed"
    );
}

#[test]
fn caller_leaving_while_ringing_cancels_at_once_and_is_abandoned_with_position_and_wait() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::LongestIdle, 1, &[0], t0);
    let e1 = acd.enqueue(t0, q, 0, CALLER).unwrap();
    let e2 = acd.enqueue(t0 + S, q, 0, CALLER).unwrap();
    let e3 = acd.enqueue(t0 + 2 * S, q, 0, CALLER).unwrap();
    drain(&mut acd);
    acd.entry_left(t0 + 7 * S, e1).unwrap();
    let acts = drain(&mut acd);
    assert_eq!(
        acts[0],
        CancelOffer {
            entry: e1,
            agent: a[0]
        },
        "first thing"
    );
    assert!(acts.contains(&AcdAction::Fact(QueueFact::Abandoned {
        entry: e1,
        queue: q,
        position: 1,
        waited: 7 * S,
        while_ringing: true
    })));
    assert!(
        acts.contains(&Offer {
            entry: e2,
            agent: a[0]
        }),
        "the agent is free at once"
    );
    acd.entry_left(t0 + 9 * S, e3).unwrap();
    assert_eq!(
        drain(&mut acd),
        [AcdAction::Fact(QueueFact::Abandoned {
            entry: e3,
            queue: q,
            position: 2,
            waited: 7 * S,
            while_ringing: false
        })]
    );
    assert_eq!(acd.agent(a[0]).unwrap().missed_in_row, 0);
}

#[test]
fn missed_offers_in_a_row_pause_the_agent_with_every_activity_logged() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings {
        missed_offers_to_pause: 2,
    });
    let q = acd.add_queue(queue("sales"));
    let a = acd.add_agent(agent("a0", &[q], &[]));
    acd.log_in(t0, a).unwrap();
    let e = acd.enqueue(t0, q, 0, CALLER).unwrap();
    acd.handle_timeout(t0 + 15 * S);
    acd.handle_timeout(t0 + 20 * S);
    acd.offer_failed(t0 + 21 * S, e, a, OfferFailure::Declined)
        .unwrap();
    let log: Vec<(&str, ActivityReason, Instant)> = drain(&mut acd)
        .into_iter()
        .filter_map(|x| match x {
            AcdAction::Activity(act) => Some((act.to.name(), act.reason, act.at)),
            _ => None,
        })
        .collect();
    let missed = |failure, n| ActivityReason::OfferFailed {
        entry: e,
        failure,
        missed_in_row: n,
    };
    assert_eq!(
        log,
        [
            ("available", ActivityReason::LogIn, t0),
            ("ringing", ActivityReason::Offered, t0),
            (
                "retry_delay",
                missed(OfferFailure::NoAnswer, 1),
                t0 + 15 * S
            ),
            ("available", ActivityReason::DeadlinePassed, t0 + 20 * S),
            ("ringing", ActivityReason::Offered, t0 + 20 * S),
            ("paused", missed(OfferFailure::Declined, 2), t0 + 21 * S),
        ]
    );
    assert_eq!(
        acd.agent(a).unwrap().state,
        &AgentState::Paused {
            reason: PauseReason::MissedOffers
        }
    );
    acd.resume(t0 + 60 * S, a).unwrap();
    assert!(commands(&mut acd).contains(&Offer { entry: e, agent: a }));
}

#[test]
fn wrap_up_lasts_as_set_by_the_queue_of_the_call_just_ended_then_available() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings::default());
    let short = acd.add_queue(QueueConfig {
        wrap_up: 10 * S,
        ..queue("short")
    });
    let long = acd.add_queue(QueueConfig {
        wrap_up: 30 * S,
        ..queue("long")
    });
    let a = acd.add_agent(agent("a0", &[short, long], &[]));
    acd.log_in(t0, a).unwrap();
    let e = acd.enqueue(t0, long, 0, CALLER).unwrap();
    acd.offer_answered(t0, e, a).unwrap();
    acd.call_ended(t0 + 100 * S, a).unwrap();
    assert_eq!(
        acd.agent(a).unwrap().state,
        &AgentState::WrapUp {
            until: t0 + 130 * S
        }
    );
    let e = acd.enqueue(t0 + 101 * S, short, 0, CALLER).unwrap();
    assert_eq!(acd.poll_timeout(), Some(t0 + 130 * S));
    drain(&mut acd);
    acd.handle_timeout(t0 + 130 * S);
    assert_eq!(
        commands(&mut acd),
        [Offer { entry: e, agent: a }],
        "available at the deadline"
    );
    acd.offer_answered(t0 + 131 * S, e, a).unwrap();
    acd.call_ended(t0 + 200 * S, a).unwrap();
    assert_eq!(
        acd.agent(a).unwrap().state,
        &AgentState::WrapUp {
            until: t0 + 210 * S
        }
    );
}

#[test]
fn an_agent_in_two_queues_gets_one_call_at_a_time() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings::default());
    let q1 = acd.add_queue(queue("one"));
    let q2 = acd.add_queue(queue("two"));
    let a = acd.add_agent(agent("a0", &[q1, q2], &[]));
    acd.log_in(t0, a).unwrap();
    let e1 = acd.enqueue(t0, q1, 0, CALLER).unwrap();
    let e2 = acd.enqueue(t0, q2, 0, CALLER).unwrap();
    assert_eq!(
        commands(&mut acd),
        [Offer {
            entry: e1,
            agent: a
        }]
    );
    acd.offer_answered(t0 + S, e1, a).unwrap();
    assert_eq!(
        commands(&mut acd),
        [Connect {
            entry: e1,
            agent: a
        }]
    );
    acd.call_ended(t0 + 60 * S, a).unwrap();
    assert_eq!(
        commands(&mut acd),
        [Offer {
            entry: e2,
            agent: a
        }]
    );
}

#[test]
fn busy_elsewhere_excludes_the_agent_from_every_queue() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings::default());
    let q1 = acd.add_queue(queue("one"));
    let q2 = acd.add_queue(queue("two"));
    let a0 = acd.add_agent(agent("a0", &[q1, q2], &[]));
    let a1 = acd.add_agent(agent("a1", &[q1], &[]));
    acd.log_in(t0, a0).unwrap();
    acd.log_in(t0 + S, a1).unwrap();
    acd.set_busy_elsewhere(t0 + 2 * S, a0, true).unwrap();
    drain(&mut acd);
    let e1 = acd.enqueue(t0 + 3 * S, q1, 0, CALLER).unwrap();
    let e2 = acd.enqueue(t0 + 3 * S, q2, 0, CALLER).unwrap();
    assert_eq!(
        commands(&mut acd),
        [Offer {
            entry: e1,
            agent: a1
        }],
        "a0 idles longer but is busy"
    );
    acd.set_busy_elsewhere(t0 + 9 * S, a0, false).unwrap();
    assert_eq!(
        commands(&mut acd),
        [Offer {
            entry: e2,
            agent: a0
        }]
    );
}

#[test]
fn log_out_during_a_call_takes_effect_after_the_call() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings::default());
    let q = acd.add_queue(QueueConfig {
        wrap_up: 30 * S,
        ..queue("sales")
    });
    let a = acd.add_agent(agent("a0", &[q], &[]));
    acd.log_in(t0, a).unwrap();
    let e = acd.enqueue(t0, q, 0, CALLER).unwrap();
    acd.offer_answered(t0, e, a).unwrap();
    acd.log_out(t0 + 5 * S, a).unwrap();
    assert_eq!(
        acd.agent(a).unwrap().state,
        &AgentState::OnCall { entry: e, queue: q }
    );
    let waiting = acd.enqueue(t0 + 6 * S, q, 0, CALLER).unwrap();
    drain(&mut acd);
    acd.call_ended(t0 + 60 * S, a).unwrap();
    assert_eq!(
        acd.agent(a).unwrap().state,
        &AgentState::LoggedOut,
        "no wrap-up"
    );
    assert_eq!(commands(&mut acd), []);
    assert_eq!(acd.position(waiting), Some(1), "the caller still waits");
}

#[test]
fn log_out_while_ringing_cancels_the_offer_and_offers_the_next_agent() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::LongestIdle, 2, &[0, 1], t0);
    let e = acd.enqueue(t0 + 5 * S, q, 0, CALLER).unwrap();
    drain(&mut acd);
    acd.log_out(t0 + 6 * S, a[0]).unwrap();
    assert_eq!(
        commands(&mut acd),
        [
            CancelOffer {
                entry: e,
                agent: a[0]
            },
            Offer {
                entry: e,
                agent: a[1]
            }
        ]
    );
    assert_eq!(acd.agent(a[0]).unwrap().missed_in_row, 0);
}

#[test]
fn ring_all_waits_for_every_agent_rung_and_a_time_out_is_a_miss_for_each() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::RingAll, 3, &[0, 1, 2], t0);
    let e = acd.enqueue(t0 + 10 * S, q, 0, CALLER).unwrap();
    drain(&mut acd);
    acd.offer_failed(t0 + 11 * S, e, a[0], OfferFailure::Declined)
        .unwrap();
    assert_eq!(commands(&mut acd), [], "the others still ring");
    acd.handle_timeout(t0 + 25 * S);
    assert_eq!(
        commands(&mut acd),
        [
            CancelOffer {
                entry: e,
                agent: a[1]
            },
            CancelOffer {
                entry: e,
                agent: a[2]
            },
            // a0's retry delay ended at t0+16: rung again, alone; a1 and a2 rest until t0+30.
            Offer {
                entry: e,
                agent: a[0]
            },
        ]
    );
    for x in &a {
        assert_eq!(acd.agent(*x).unwrap().missed_in_row, 1);
    }
}
