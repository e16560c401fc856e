//! Routing micro-benchmark: 200 agents in 5 queues with 1,000 entries waiting.
//!
//! * `agent freed`: every agent is on a call; one call ends (wrap-up 0), the router walks
//!   the waiting entries and offers the best one to that agent. Timed: `call_ended` alone
//!   (the routing decision and its bookkeeping), and the whole cycle (call ended, offer
//!   answered, a new caller enqueued so 1,000 keep waiting, every action drained).
//! * `entry arrives`: 200 agents free, the queue empty; an entry arrives and the strategy
//!   picks among the queue's free fitting members. Timed: `enqueue` alone.
//!
//! Run: `cargo run --release --example route_bench`
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use qonyrau::acd::{
    Acd, AcdAction, AcdSettings, AgentConfig, AgentId, EntryKind, QueueConfig, QueueId, Strategy,
};

const AGENTS: u32 = 200;
const QUEUES: u32 = 5;
const WAITING: u32 = 1000;

fn build(strategy: Strategy, t0: Instant) -> (Acd, Vec<QueueId>, Vec<AgentId>) {
    let mut acd = Acd::new(AcdSettings::default());
    let queues: Vec<QueueId> = (0..QUEUES)
        .map(|i| {
            acd.add_queue(QueueConfig {
                name: format!("q{i}"),
                strategy,
                skills: [(format!("s{i}"), 2)].into(),
                wrap_up: Duration::ZERO,
                ..QueueConfig::default()
            })
        })
        .collect();
    let agents: Vec<AgentId> = (0..AGENTS)
        .map(|i| {
            // Each agent serves two or three queues, at levels 2–10.
            let member: Vec<u32> = vec![i % QUEUES, (i + 1) % QUEUES, (i * 7 + 3) % QUEUES];
            acd.add_agent(AgentConfig {
                login: format!("a{i}"),
                extension: format!("{}", 2000 + i),
                skills: member
                    .iter()
                    .map(|&q| (format!("s{q}"), (2 + (i + q) % 9) as u8))
                    .collect(),
                queues: member.iter().map(|&q| queues[q as usize]).collect(),
            })
        })
        .collect();
    for (k, &a) in agents.iter().enumerate() {
        acd.log_in(t0 + Duration::from_millis(k as u64), a).unwrap();
    }
    while acd.poll_action().is_some() {}
    (acd, queues, agents)
}

fn drain(acd: &mut Acd) -> Option<(qonyrau::acd::EntryId, AgentId)> {
    let mut offer = None;
    while let Some(a) = acd.poll_action() {
        if let AcdAction::Offer { entry, agent } | AcdAction::ReserveForCallback { entry, agent } =
            a
        {
            offer.get_or_insert((entry, agent));
        }
        black_box(&a);
    }
    offer
}

fn agent_freed(strategy: Strategy, rounds: u32) -> (f64, f64) {
    let t0 = Instant::now();
    let (mut acd, queues, agents) = build(strategy, t0);
    let mut now = t0 + Duration::from_secs(1);
    // Put every agent on a call (through a queue each serves), then fill the queues to 1,000.
    for (i, &agent) in agents.iter().enumerate() {
        while acd.agent(agent).unwrap().state == &qonyrau::acd::AgentState::Available {
            acd.enqueue(now, queues[i % QUEUES as usize], 0, EntryKind::Caller)
                .unwrap();
            while let Some((e, a)) = drain(&mut acd) {
                acd.offer_answered(now, e, a).unwrap();
            }
        }
    }
    for i in 0..WAITING {
        let q = queues[(i % QUEUES) as usize];
        acd.enqueue(now, q, (i % 3) as u8, EntryKind::Caller)
            .unwrap();
    }
    drain(&mut acd);
    let mut decide = Duration::ZERO;
    let started = Instant::now();
    for r in 0..rounds {
        now += Duration::from_millis(1);
        let agent = agents[(r % AGENTS) as usize];
        let t = Instant::now();
        acd.call_ended(now, agent).unwrap();
        decide += t.elapsed();
        let (entry, got) = drain(&mut acd).expect("an entry for the freed agent");
        assert_eq!(got, agent);
        acd.offer_answered(now, entry, agent).unwrap();
        drain(&mut acd);
        let q = queues[(r % QUEUES) as usize];
        acd.enqueue(now, q, (r % 3) as u8, EntryKind::Caller)
            .unwrap();
        drain(&mut acd);
    }
    let cycle = started.elapsed();
    assert_eq!(
        acd.queue_ids()
            .map(|q| acd.queue_status(now, q).unwrap().waiting)
            .sum::<u32>(),
        WAITING
    );
    (
        decide.as_nanos() as f64 / rounds as f64,
        cycle.as_nanos() as f64 / rounds as f64,
    )
}

fn entry_arrives(strategy: Strategy, rounds: u32) -> f64 {
    let t0 = Instant::now();
    let (mut acd, queues, _) = build(strategy, t0);
    let mut now = t0 + Duration::from_secs(1);
    let mut decide = Duration::ZERO;
    for r in 0..rounds {
        now += Duration::from_millis(1);
        let t = Instant::now();
        acd.enqueue(now, queues[(r % QUEUES) as usize], 0, EntryKind::Caller)
            .unwrap();
        decide += t.elapsed();
        // Answer one of the offers and end the call at once: everybody is free again.
        let mut offers = vec![];
        while let Some(a) = acd.poll_action() {
            if let AcdAction::Offer { entry, agent } = a {
                offers.push((entry, agent));
            }
        }
        let (e, a) = offers[0];
        acd.offer_answered(now, e, a).unwrap();
        acd.call_ended(now, a).unwrap();
        while acd.poll_action().is_some() {}
    }
    decide.as_nanos() as f64 / rounds as f64
}

fn main() {
    println!("{AGENTS} agents, {QUEUES} queues, {WAITING} entries waiting");
    println!(
        "{:<16} {:>22} {:>22} {:>24}",
        "strategy", "agent freed: decide", "agent freed: cycle", "entry arrives: decide"
    );
    for strategy in Strategy::ALL {
        agent_freed(strategy, 20_000); // warm-up
        let (decide, cycle) = agent_freed(strategy, 200_000);
        let arrive = entry_arrives(strategy, 50_000);
        println!(
            "{:<16} {:>19.0} ns {:>19.0} ns {:>21.0} ns   ({:.2} M routing decisions/s)",
            strategy.name(),
            decide,
            cycle,
            arrive,
            1e3 / decide
        );
    }
}
