//! Random sequences of operations (proptest): after each one, the core's books agree with
//! themselves and the rules hold — an agent has one call at a time, every entry ends exactly
//! once, an agent is never offered an entry while an earlier one it could serve waits
//! unoffered, and no free member is left idle while its queue has an unoffered entry.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;

use super::super::queue::Strategy as Routing;
use super::*;

const S: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
enum Op {
    LogIn(u8),
    LogOut(u8),
    Pause(u8),
    Resume(u8),
    Busy(u8, bool),
    Enqueue {
        queue: u8,
        priority: u8,
        callback: bool,
    },
    Leave(u8),
    ToCallback(u8),
    Answer(u8),
    Fail(u8, u8),
    CallEnded(u8),
    EndWrapUp(u8),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..6u8).prop_map(Op::LogIn),
        1 => (0..6u8).prop_map(Op::LogOut),
        1 => (0..6u8).prop_map(Op::Pause),
        1 => (0..6u8).prop_map(Op::Resume),
        1 => (0..6u8, any::<bool>()).prop_map(|(a, b)| Op::Busy(a, b)),
        3 => (0..3u8, 0..3u8, prop::bool::weighted(0.2))
            .prop_map(|(queue, priority, callback)| Op::Enqueue { queue, priority, callback }),
        1 => (0..16u8).prop_map(Op::Leave),
        1 => (0..16u8).prop_map(Op::ToCallback),
        3 => (0..16u8).prop_map(Op::Answer),
        2 => (0..16u8, 0..4u8).prop_map(|(o, f)| Op::Fail(o, f)),
        2 => (0..6u8).prop_map(Op::CallEnded),
        1 => (0..6u8).prop_map(Op::EndWrapUp),
        3 => (0..40u16).prop_map(Op::Advance),
    ]
}

fn setup() -> Acd {
    let mut acd = Acd::new(AcdSettings {
        missed_offers_to_pause: 2,
    });
    let q0 = acd.add_queue(QueueConfig {
        name: "skilled".into(),
        skills: [("kk".to_string(), 3)].into(),
        strategy: Routing::SkillsWeighted,
        ring_timeout: 15 * S,
        retry_delay: 5 * S,
        wrap_up: 10 * S,
        ..QueueConfig::default()
    });
    let q1 = acd.add_queue(QueueConfig {
        name: "all".into(),
        strategy: Routing::RingAll,
        ring_timeout: 10 * S,
        retry_delay: Duration::ZERO,
        wrap_up: Duration::ZERO,
        max_wait: Some(60 * S),
        join_when_empty: false,
        ..QueueConfig::default()
    });
    let q2 = acd.add_queue(QueueConfig {
        name: "small".into(),
        strategy: Routing::RoundRobin,
        ring_timeout: 20 * S,
        max_len: Some(4),
        max_wait: Some(100 * S),
        leave_when_empty: true,
        ..QueueConfig::default()
    });
    let members: [(&[QueueId], u8); 6] = [
        (&[q0, q1], 5),
        (&[q0, q1, q2], 2),
        (&[q1], 9),
        (&[q0, q2], 3),
        (&[q2], 1),
        (&[q0, q1, q2], 10),
    ];
    for (i, (queues, kk)) in members.iter().enumerate() {
        acd.add_agent(AgentConfig {
            login: format!("a{i}"),
            extension: format!("20{i}"),
            skills: [("kk".to_string(), *kk)].into(),
            queues: queues.iter().copied().collect(),
        });
    }
    acd
}

#[derive(Default)]
struct Books {
    entered: HashSet<EntryId>,
    ended: HashSet<EntryId>,
    on_call: HashMap<AgentId, EntryId>,
}

fn check(acd: &Acd, books: &mut Books, actions: &[AcdAction]) {
    for a in actions {
        match *a {
            AcdAction::Fact(QueueFact::Entered { entry, .. }) => {
                assert!(books.entered.insert(entry))
            }
            AcdAction::Connect { entry, agent } => {
                assert!(books.ended.insert(entry), "{entry:?} ended twice");
                assert!(
                    books.on_call.insert(agent, entry).is_none(),
                    "{agent:?} got a second call"
                );
            }
            AcdAction::Overflow { entry, .. }
            | AcdAction::Fact(QueueFact::Abandoned { entry, .. })
            | AcdAction::Fact(QueueFact::CallbackWithdrawn { entry, .. })
                if books.entered.contains(&entry) =>
            {
                // (An entry refused on joining overflows without having entered.)
                assert!(books.ended.insert(entry), "{entry:?} ended twice");
            }
            _ => {}
        }
    }
    // Every entry that entered and has not ended still waits, and nothing else does.
    let waiting: HashSet<EntryId> = acd.entries.keys().copied().collect();
    let expected: HashSet<EntryId> = books.entered.difference(&books.ended).copied().collect();
    assert_eq!(waiting, expected, "entries lost or invented");
    // Offers and agent states agree both ways; the free set is exact.
    for agent in &acd.agents {
        if let Some(entry) = agent.offered_entry() {
            assert!(acd.entries[&entry].offered_to.contains(&agent.id));
        }
        assert_eq!(agent.is_free(), acd.free.contains(&agent.id));
        if let Some(at) = agent.deadline() {
            assert!(acd.timers.contains(&(at, Timer::Agent(agent.id))));
        }
    }
    for w in acd.entries.values() {
        for a in &w.offered_to {
            assert_eq!(acd.agents[a.0 as usize].offered_entry(), Some(w.entry.id));
        }
        assert_eq!(w.ring_deadline.is_some(), !w.offered_to.is_empty());
    }
    let agent_timers = acd.agents.iter().filter(|a| a.deadline().is_some()).count();
    let ring_timers = acd
        .entries
        .values()
        .filter(|w| w.ring_deadline.is_some())
        .count();
    let wait_timers = acd
        .timers
        .iter()
        .filter(|(_, t)| matches!(t, Timer::MaxWait(_)))
        .count();
    assert_eq!(
        acd.timers.len(),
        agent_timers + ring_timers + wait_timers,
        "stale timers"
    );
    // Routing order: nothing is offered to an agent in this step while an earlier entry of
    // any queue that agent serves waits with no offer out.
    for a in actions {
        if let AcdAction::Offer { entry, agent } | AcdAction::ReserveForCallback { entry, agent } =
            *a
        {
            let Some(w) = acd.entries.get(&entry) else {
                continue;
            };
            let key = w.entry.key();
            for q in acd
                .queues
                .iter()
                .filter(|q| q.score_of[agent.0 as usize].is_some())
            {
                for k in q.waiting.range(..key) {
                    assert!(
                        !acd.entries[&k.id].offered_to.is_empty(),
                        "{:?} overtook {:?}",
                        entry,
                        k.id
                    );
                }
            }
        }
    }
    // Work-conserving: a free member never idles while its queue has an unoffered entry.
    for w in acd.entries.values().filter(|w| w.offered_to.is_empty()) {
        let q = &acd.queues[w.entry.queue.0 as usize];
        assert!(
            !q.members.keys().any(|a| acd.free.contains(a)),
            "a free agent idles"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn any_sequence_of_operations_keeps_the_books_and_the_rules(ops in prop::collection::vec(op(), 1..120)) {
        let mut acd = setup();
        let mut books = Books::default();
        let mut now = Instant::now();
        for op in ops {
            let agent = |i: u8| AgentId(u32::from(i));
            let nth_entry = |acd: &Acd, i: u8| {
                let mut ids: Vec<EntryId> = acd.entries.keys().copied().collect();
                ids.sort();
                (!ids.is_empty()).then(|| ids[i as usize % ids.len()])
            };
            let nth_offer = |acd: &Acd, i: u8| {
                let mut offers: Vec<(EntryId, AgentId)> = acd
                    .agents
                    .iter()
                    .filter_map(|a| a.offered_entry().map(|e| (e, a.id)))
                    .collect();
                offers.sort();
                (!offers.is_empty()).then(|| offers[i as usize % offers.len()])
            };
            match op {
                Op::LogIn(a) => acd.log_in(now, agent(a)).unwrap(),
                Op::LogOut(a) => acd.log_out(now, agent(a)).unwrap(),
                Op::Pause(a) => acd.pause(now, agent(a), "break".into()).unwrap(),
                Op::Resume(a) => acd.resume(now, agent(a)).unwrap(),
                Op::Busy(a, b) => acd.set_busy_elsewhere(now, agent(a), b).unwrap(),
                Op::Enqueue { queue, priority, callback } => {
                    let kind = if callback { EntryKind::Callback } else { EntryKind::Caller };
                    acd.enqueue(now, QueueId(u32::from(queue)), priority, kind).unwrap();
                }
                Op::Leave(i) => {
                    if let Some(e) = nth_entry(&acd, i) {
                        acd.entry_left(now, e).unwrap();
                    }
                }
                Op::ToCallback(i) => {
                    if let Some(e) = nth_entry(&acd, i) {
                        acd.convert_to_callback(now, e).unwrap();
                    }
                }
                Op::Answer(i) => {
                    if let Some((e, a)) = nth_offer(&acd, i) {
                        acd.offer_answered(now, e, a).unwrap();
                    }
                }
                Op::Fail(i, f) => {
                    let failure = [OfferFailure::NoAnswer, OfferFailure::Busy, OfferFailure::Declined, OfferFailure::Unreachable][f as usize];
                    if let Some((e, a)) = nth_offer(&acd, i) {
                        acd.offer_failed(now, e, a, failure).unwrap();
                    }
                }
                Op::CallEnded(a) => {
                    if acd.call_ended(now, agent(a)).is_ok() {
                        books.on_call.remove(&agent(a));
                    }
                }
                Op::EndWrapUp(a) => acd.end_wrap_up(now, agent(a)).unwrap(),
                Op::Advance(secs) => {
                    now += Duration::from_secs(u64::from(secs));
                    acd.handle_timeout(now);
                }
            }
            let actions: Vec<AcdAction> = std::iter::from_fn(|| acd.poll_action()).collect();
            check(&acd, &mut books, &actions);
            if let Some(t) = acd.poll_timeout() {
                prop_assert!(t > now, "a timer at or before now was not fired");
            }
        }
    }
}
