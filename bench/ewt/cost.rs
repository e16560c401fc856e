//! Cost of one estimate: 30 agents talking, 300 talk times in history, abandonment on.
//! `cargo run --release --example ewt-cost`
#![allow(clippy::disallowed_methods)] // a benchmark: times estimates with the wall clock

use qonyrau::acd::ewt::{AgentId, CallerId, Ewt, EwtConfig, QueueEvent};

fn main() {
    let mut e = Ewt::new(EwtConfig::default());
    let mut t = 0.0;
    let mut caller = 0u64;
    let mut next = |e: &mut Ewt, t: f64| {
        caller += 1;
        e.handle(
            t,
            &QueueEvent::Enter {
                caller: CallerId(caller),
            },
        );
        CallerId(caller)
    };
    for a in 0..30 {
        e.handle(0.0, &QueueEvent::Login { agent: AgentId(a) });
    }
    // 300 calls with talk times spread 20..=600 s, then every agent busy.
    for i in 0..300u32 {
        let agent = AgentId(i % 30);
        let c = next(&mut e, t);
        e.handle(t, &QueueEvent::Answer { caller: c, agent });
        t += 1.0;
        e.handle(
            t + f64::from((i * 7919) % 580 + 20),
            &QueueEvent::Hangup { agent },
        );
        e.handle(t + 700.0, &QueueEvent::Ready { agent });
        t += 700.0;
    }
    for a in 0..30 {
        let c = next(&mut e, t);
        e.handle(
            t + f64::from(a),
            &QueueEvent::Answer {
                caller: c,
                agent: AgentId(a),
            },
        );
    }
    t += 30.0;
    let waiting: Vec<CallerId> = (0..1000).map(|_| next(&mut e, t)).collect();
    t += 60.0;
    for c in waiting.iter().step_by(10) {
        e.handle(t, &QueueEvent::Abandon { caller: *c });
    }
    println!("hazard {:.5}/s", e.abandon_hazard());
    for positions in [1..=10usize, 1..=100, 1..=1000] {
        let n = positions.end();
        let start = std::time::Instant::now();
        let mut sum = 0.0;
        for p in positions.clone() {
            sum += e.estimate(t, p).unwrap();
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / *n as f64;
        println!(
            "positions 1..={n}: {per:.1} µs per estimate (mean estimate {:.0} s)",
            sum / *n as f64
        );
    }
}
