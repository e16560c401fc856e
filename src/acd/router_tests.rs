//! Routing decisions: the strategies, skills, and the order of entries (priority, then
//! first come first served, across the queues an agent serves). The helpers here serve the
//! other router test files too.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;

use super::super::queue::Strategy;
use super::*;

pub(super) const S: Duration = Duration::from_secs(1);
pub(super) const CALLER: EntryKind = EntryKind::Caller;

use AcdAction::{CancelOffer, Connect, Offer};

pub(super) fn queue(name: &str) -> QueueConfig {
    QueueConfig {
        name: name.into(),
        ring_timeout: 15 * S,
        retry_delay: 5 * S,
        wrap_up: Duration::ZERO,
        ..QueueConfig::default()
    }
}

pub(super) fn agent(login: &str, queues: &[QueueId], skills: &[(&str, u8)]) -> AgentConfig {
    AgentConfig {
        login: login.into(),
        extension: format!("2{login}"),
        skills: skills
            .iter()
            .map(|(s, l)| (s.to_string(), *l))
            .collect::<BTreeMap<_, _>>(),
        queues: queues.iter().copied().collect(),
    }
}

pub(super) fn drain(acd: &mut Acd) -> Vec<AcdAction> {
    std::iter::from_fn(|| acd.poll_action()).collect()
}

/// The commands only (no facts, no activity lines).
pub(super) fn commands(acd: &mut Acd) -> Vec<AcdAction> {
    drain(acd)
        .into_iter()
        .filter(|a| !matches!(a, AcdAction::Fact(_) | AcdAction::Activity(_)))
        .collect()
}

/// One queue with `strategy` and agents `a0..an` (all members, no skills), logged in one
/// second apart in the order given by `login_order`, so the first logged in is idle longest.
pub(super) fn team(
    strategy: Strategy,
    n: u32,
    login_order: &[u32],
    t0: Instant,
) -> (Acd, QueueId, Vec<AgentId>) {
    let mut acd = Acd::new(AcdSettings::default());
    let q = acd.add_queue(QueueConfig {
        strategy,
        ..queue("sales")
    });
    let agents: Vec<AgentId> = (0..n)
        .map(|i| acd.add_agent(agent(&format!("a{i}"), &[q], &[])))
        .collect();
    for (k, &i) in login_order.iter().enumerate() {
        acd.log_in(t0 + S * k as u32, agents[i as usize]).unwrap();
    }
    drain(&mut acd);
    (acd, q, agents)
}

/// Answer `entry` by `agent` and end the call at once (wrap-up 0): the agent is free again.
/// What the answer caused is drained; what the call's end caused is left to read.
pub(super) fn take_call(acd: &mut Acd, now: Instant, entry: EntryId, agent: AgentId) {
    acd.offer_answered(now, entry, agent).unwrap();
    drain(acd);
    acd.call_ended(now, agent).unwrap();
}

#[test]
fn longest_idle_offers_the_agent_idle_longest() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::LongestIdle, 3, &[1, 2, 0], t0);
    let e = acd.enqueue(t0 + 10 * S, q, 0, CALLER).unwrap();
    assert_eq!(
        commands(&mut acd),
        [Offer {
            entry: e,
            agent: a[1]
        }]
    );
}

#[test]
fn round_robin_rotates_the_starting_agent() {
    let t0 = Instant::now();
    // Logged in last to first, so longest-idle would start with a2.
    let (mut acd, q, a) = team(Strategy::RoundRobin, 3, &[2, 1, 0], t0);
    let mut chosen = vec![];
    for i in 0..4u32 {
        let now = t0 + 10 * S + i * S;
        let e = acd.enqueue(now, q, 0, CALLER).unwrap();
        let [Offer { agent, .. }] = commands(&mut acd)[..] else {
            panic!("one offer")
        };
        chosen.push(agent);
        take_call(&mut acd, now, e, agent);
        drain(&mut acd);
    }
    assert_eq!(chosen, [a[0], a[1], a[2], a[0]]);
}

#[test]
fn ring_all_rings_every_fitting_available_agent_and_the_first_answer_cancels_the_others() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings::default());
    let q = acd.add_queue(QueueConfig {
        strategy: Strategy::RingAll,
        skills: [("kk".to_string(), 3)].into(),
        ..queue("sales")
    });
    let a: Vec<AgentId> = [5, 7, 2, 9]
        .iter()
        .enumerate()
        .map(|(i, &lvl)| acd.add_agent(agent(&format!("a{i}"), &[q], &[("kk", lvl)])))
        .collect();
    for &x in &a {
        acd.log_in(t0, x).unwrap();
    }
    acd.pause(t0, a[3], "lunch".into()).unwrap();
    drain(&mut acd);
    let e = acd.enqueue(t0 + S, q, 0, CALLER).unwrap();
    assert_eq!(
        commands(&mut acd),
        [
            Offer {
                entry: e,
                agent: a[0]
            },
            Offer {
                entry: e,
                agent: a[1]
            }
        ],
        "a2 does not fit, a3 is paused"
    );
    acd.offer_answered(t0 + 3 * S, e, a[1]).unwrap();
    assert_eq!(
        commands(&mut acd),
        [
            Connect {
                entry: e,
                agent: a[1]
            },
            CancelOffer {
                entry: e,
                agent: a[0]
            }
        ]
    );
    let loser = acd.agent(a[0]).unwrap();
    assert_eq!(
        (loser.state, loser.missed_in_row),
        (&AgentState::Available, 0)
    );
    assert_eq!(acd.poll_timeout(), None, "no ring time-out left");
}

#[test]
fn fewest_calls_offers_the_agent_with_fewest_answered_calls() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings::default());
    let fewest = acd.add_queue(QueueConfig {
        strategy: Strategy::FewestCalls,
        ..queue("fewest")
    });
    let other = acd.add_queue(queue("other"));
    let a0 = acd.add_agent(agent("a0", &[fewest], &[]));
    let a1 = acd.add_agent(agent("a1", &[fewest, other], &[]));
    acd.log_in(t0, a1).unwrap();
    let e = acd.enqueue(t0 + S, other, 0, CALLER).unwrap();
    take_call(&mut acd, t0 + 5 * S, e, a1); // a1: one call, idle since t0+5
    acd.log_in(t0 + 20 * S, a0).unwrap(); // a0: no call, idle since t0+20 (shorter)
    drain(&mut acd);
    let e = acd.enqueue(t0 + 30 * S, fewest, 0, CALLER).unwrap();
    assert_eq!(
        commands(&mut acd),
        [Offer {
            entry: e,
            agent: a0
        }]
    );
}

#[test]
fn skills_weighted_offers_the_agent_with_the_highest_summed_level() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings::default());
    let q = acd.add_queue(QueueConfig {
        strategy: Strategy::SkillsWeighted,
        skills: [("kk".to_string(), 1), ("ru".to_string(), 1)].into(),
        ..queue("support")
    });
    let a0 = acd.add_agent(agent("a0", &[q], &[("kk", 5), ("ru", 5), ("en", 10)])); // 10
    let a1 = acd.add_agent(agent("a1", &[q], &[("kk", 9), ("ru", 9)])); // 18
    let a2 = acd.add_agent(agent("a2", &[q], &[("kk", 10), ("ru", 1)])); // 11
    for (i, x) in [a0, a2, a1].into_iter().enumerate() {
        acd.log_in(t0 + S * i as u32, x).unwrap(); // a1 idle the shortest
    }
    drain(&mut acd);
    let e = acd.enqueue(t0 + 10 * S, q, 0, CALLER).unwrap();
    assert_eq!(
        commands(&mut acd),
        [Offer {
            entry: e,
            agent: a1
        }]
    );
}

#[test]
fn an_agent_whose_skills_fit_is_offered_and_one_whose_skills_do_not_fit_is_not() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings::default());
    let q = acd.add_queue(QueueConfig {
        skills: [("kk".to_string(), 5), ("billing".to_string(), 2)].into(),
        ..queue("billing")
    });
    let low = acd.add_agent(agent("low", &[q], &[("kk", 4), ("billing", 9)]));
    let missing = acd.add_agent(agent("missing", &[q], &[("kk", 9)]));
    let fits = acd.add_agent(agent("fits", &[q], &[("kk", 5), ("billing", 2), ("ru", 1)]));
    acd.log_in(t0, low).unwrap();
    acd.log_in(t0, missing).unwrap();
    let e = acd.enqueue(t0 + S, q, 0, CALLER).unwrap();
    assert_eq!(commands(&mut acd), [], "nobody logged in fits");
    assert_eq!(acd.queue_status(t0 + S, q).unwrap().available_agents, 0);
    acd.log_in(t0 + 2 * S, fits).unwrap();
    assert_eq!(
        commands(&mut acd),
        [Offer {
            entry: e,
            agent: fits
        }]
    );
}

#[test]
fn higher_priority_is_offered_first_then_first_come_first_served() {
    let t0 = Instant::now();
    let (mut acd, q, a) = team(Strategy::LongestIdle, 1, &[0], t0);
    acd.pause(t0, a[0], "meeting".into()).unwrap();
    let e: Vec<EntryId> = [0, 0, 5, 5]
        .iter()
        .enumerate()
        .map(|(i, &p)| acd.enqueue(t0 + S * i as u32, q, p, CALLER).unwrap())
        .collect();
    let order: Vec<(u32, EntryId)> = acd
        .entries(t0 + 9 * S, q)
        .iter()
        .map(|x| (x.position, x.entry.id))
        .collect();
    assert_eq!(order, [(1, e[2]), (2, e[3]), (3, e[0]), (4, e[1])]);
    drain(&mut acd);
    acd.resume(t0 + 10 * S, a[0]).unwrap();
    let mut offered = vec![];
    for i in 0..4u32 {
        let [Offer { entry, agent }] = commands(&mut acd)[..] else {
            panic!("one offer")
        };
        offered.push(entry);
        take_call(&mut acd, t0 + 20 * S + i * S, entry, agent);
    }
    assert_eq!(offered, [e[2], e[3], e[0], e[1]]);
}

#[test]
fn a_freed_agent_gets_the_best_entry_across_its_queues() {
    let t0 = Instant::now();
    let mut acd = Acd::new(AcdSettings::default());
    let q1 = acd.add_queue(queue("one"));
    let q2 = acd.add_queue(queue("two"));
    let q3 = acd.add_queue(queue("not served"));
    let a = acd.add_agent(agent("a0", &[q1, q2], &[]));
    acd.log_in(t0, a).unwrap();
    acd.pause(t0, a, "meeting".into()).unwrap();
    let old = acd.enqueue(t0, q1, 0, CALLER).unwrap();
    acd.enqueue(t0 + S, q3, 9, CALLER).unwrap(); // more urgent, but not the agent's queue
    let urgent = acd.enqueue(t0 + 2 * S, q2, 5, CALLER).unwrap();
    let newer = acd.enqueue(t0 + 3 * S, q2, 0, CALLER).unwrap();
    drain(&mut acd);
    let mut served = vec![];
    acd.resume(t0 + 10 * S, a).unwrap();
    for i in 0..3u32 {
        let [Offer { entry, .. }] = commands(&mut acd)[..] else {
            panic!("one offer")
        };
        served.push(entry);
        take_call(&mut acd, t0 + 11 * S + i * S, entry, a);
    }
    assert_eq!(served, [urgent, old, newer]);
}

#[test]
fn an_agent_serves_the_queues_it_is_a_member_of_whose_skills_it_fits() {
    let mut acd = Acd::new(AcdSettings::default());
    let sales = acd.add_queue(queue("sales"));
    let billing = acd.add_queue(QueueConfig {
        skills: [("billing".to_string(), 5)].into(),
        ..queue("billing")
    });
    let other = acd.add_queue(queue("other"));
    let a = acd.add_agent(agent("a", &[sales, billing], &[("billing", 3)]));
    let b = acd.add_agent(agent("b", &[billing, other], &[("billing", 7)]));
    assert_eq!(acd.queues_served_by(a).collect::<Vec<_>>(), [sales]);
    assert_eq!(
        acd.queues_served_by(b).collect::<Vec<_>>(),
        [billing, other]
    );
}
