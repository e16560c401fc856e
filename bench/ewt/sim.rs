//! EWT benchmark, part 1: simulate one FIFO queue and write replay traces.
//!
//! `ewt-sim OUT_DIR [--hours 8] [--warmup 1] [--reps 4] [--only SUBSTRING]`
//!
//! Writes `OUT_DIR/<cell>-r<k>.jsonl` (the `qonyrau acd replay` format) and a sidecar
//! `<cell>-r<k>.meta.json` (`cell`, `agents`, the scored interval, the disturbance window)
//! and `<cell>-r<k>.oracle.tsv` (the oracle's estimate for each caller who queues, `oracle.rs`).
//! The grid: agents c ∈ {3, 10, 30}; load ρ = λ(AHT + 10 s)/c ∈ {0.75, 0.9, 0.97}; mean talk
//! 180 or 360 s, lognormal (CV 0.8) or exponential; patience exponential (mean 120 s) or
//! none; 10 s wrap-up. Plus `peak` (10 agents, ρ 0.9, arrivals ×1.5 for 30 min) and
//! `logout` (2 of 10 agents log out for 20 min). Arrivals run for warm-up + `hours`; the
//! queue then drains, so no waiting caller is cut off. Seeds are fixed per cell and rep.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt::Write as _;

#[path = "oracle.rs"]
mod oracle;

const WRAP: f64 = 10.0;

#[derive(Clone, Debug)]
struct Cell {
    name: String,
    agents: usize,
    rho: f64,
    talk_mean: f64,
    lognormal: bool,
    patience: Option<f64>,
    /// Arrivals ×1.5 in this window (s after the start of scoring).
    peak: Option<(f64, f64)>,
    /// Agents 0 and 1 log out during this window.
    logout: Option<(f64, f64)>,
}

fn grid() -> Vec<Cell> {
    let mut cells = Vec::new();
    for agents in [3, 10, 30] {
        for rho in [0.75, 0.9, 0.97] {
            for talk_mean in [180.0, 360.0] {
                for lognormal in [true, false] {
                    for patience in [None, Some(120.0)] {
                        let name = format!(
                            "c{agents}-r{:.0}-t{talk_mean:.0}-{}-{}",
                            rho * 100.0,
                            if lognormal { "logn" } else { "exp" },
                            if patience.is_some() { "ab120" } else { "noab" }
                        );
                        cells.push(Cell {
                            name,
                            agents,
                            rho,
                            talk_mean,
                            lognormal,
                            patience,
                            peak: None,
                            logout: None,
                        });
                    }
                }
            }
        }
    }
    let base = Cell {
        name: String::new(),
        agents: 10,
        rho: 0.9,
        talk_mean: 180.0,
        lognormal: true,
        patience: Some(120.0),
        peak: None,
        logout: None,
    };
    let hour = 3600.0;
    cells.push(Cell {
        name: "peak".into(),
        peak: Some((3.0 * hour, 3.5 * hour)),
        ..base.clone()
    });
    cells.push(Cell {
        name: "logout".into(),
        logout: Some((3.0 * hour, 3.0 * hour + 1200.0)),
        ..base
    });
    cells
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: f64| -> f64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect(name))
    };
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let Some(out_dir) = args.first().filter(|a| !a.starts_with("--")) else {
        eprintln!("usage: ewt-sim OUT_DIR [--hours 8] [--warmup 1] [--reps 4] [--only SUBSTRING]");
        std::process::exit(2);
    };
    let (hours, warmup, reps) = (
        opt("--hours", 8.0),
        opt("--warmup", 1.0) * 3600.0,
        opt("--reps", 4.0) as u64,
    );
    std::fs::create_dir_all(out_dir).expect("create OUT_DIR");
    for (i, cell) in grid().iter().enumerate() {
        if only
            .as_ref()
            .is_some_and(|o| !cell.name.contains(o.as_str()))
        {
            continue;
        }
        for rep in 0..reps {
            let seed = 0x5EED_0000 + (i as u64) * 1000 + rep;
            let (trace, oracle) = simulate(cell, seed, warmup, warmup + hours * 3600.0);
            let base = format!("{out_dir}/{}-r{rep}", cell.name);
            std::fs::write(format!("{base}.jsonl"), trace).expect("write trace");
            std::fs::write(format!("{base}.oracle.tsv"), oracle).expect("write oracle");
            let window = cell
                .peak
                .or(cell.logout)
                .map(|(a, b)| [warmup + a, warmup + b]);
            let meta = serde_json::json!({
                "cell": cell.name, "rep": rep, "seed": seed, "agents": cell.agents,
                "score_from": warmup, "score_to": warmup + hours * 3600.0, "window": window,
            });
            std::fs::write(format!("{base}.meta.json"), meta.to_string()).expect("write meta");
        }
    }
}

/// SplitMix64: tiny, seedable, the same stream on every platform and crate version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * self.unit().ln()
    }
    fn normal(&mut self) -> f64 {
        (-2.0 * self.unit().ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Ev {
    Arrival,
    TalkEnd(usize),
    WrapEnd(usize),
    Patience(usize),
    LogoutAll,
    LoginAll,
}

struct Timed(f64, u64, Ev);

impl PartialEq for Timed {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timed {
    /// Reversed: BinaryHeap pops the earliest, ties in scheduling order.
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.total_cmp(&self.0).then(o.1.cmp(&self.1))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Agent {
    Idle { since: f64 },
    Talking { start: f64 },
    Wrap { end: f64 },
    Out,
}

struct Sim<'c> {
    cell: &'c Cell,
    rng: Rng,
    heap: BinaryHeap<Timed>,
    seq: u64,
    agents: Vec<Agent>,
    leaving: Vec<bool>,
    queue: VecDeque<usize>,
    /// Per caller: still waiting?
    waiting: Vec<bool>,
    out: String,
    /// `caller<TAB>oracle median wait` for callers who queue.
    oracle_out: String,
    oracle_rng: Rng,
    truth: oracle::Truth,
    seen: Vec<oracle::Seen>,
    buf: (Vec<f64>, Vec<f64>),
}

fn simulate(cell: &Cell, seed: u64, warmup: f64, arrivals_end: f64) -> (String, String) {
    let lambda = cell.rho * cell.agents as f64 / (cell.talk_mean + WRAP);
    let lambda_max = lambda * if cell.peak.is_some() { 1.5 } else { 1.0 };
    let mut sim = Sim {
        cell,
        rng: Rng(seed),
        heap: BinaryHeap::new(),
        seq: 0,
        agents: vec![Agent::Idle { since: 0.0 }; cell.agents],
        leaving: vec![false; cell.agents],
        queue: VecDeque::new(),
        waiting: Vec::new(),
        out: String::new(),
        oracle_out: String::new(),
        oracle_rng: Rng(seed ^ 0x0_AC1E),
        truth: oracle::Truth {
            talk_mean: cell.talk_mean,
            lognormal: cell.lognormal,
            patience: cell.patience,
        },
        seen: Vec::new(),
        buf: (Vec::new(), Vec::new()),
    };
    for a in 0..cell.agents {
        sim.line(0.0, "login", None, Some(a));
    }
    let first = sim.rng.exp(1.0 / lambda_max);
    sim.at(first, Ev::Arrival);
    if let Some((a, b)) = cell.logout {
        sim.at(warmup + a, Ev::LogoutAll);
        sim.at(warmup + b, Ev::LoginAll);
    }
    while let Some(Timed(t, _, ev)) = sim.heap.pop() {
        match ev {
            Ev::Arrival => {
                if t > arrivals_end {
                    continue;
                }
                let next = t + sim.rng.exp(1.0 / lambda_max);
                sim.at(next, Ev::Arrival);
                let rate = match cell.peak {
                    Some((a, b)) if t >= warmup + a && t < warmup + b => lambda * 1.5,
                    _ => lambda,
                };
                if sim.rng.unit() * lambda_max > rate {
                    continue; // thinned
                }
                sim.arrive(t);
            }
            Ev::TalkEnd(a) => {
                sim.line(t, "hangup", None, Some(a));
                sim.agents[a] = Agent::Wrap { end: t + WRAP };
                sim.at(t + WRAP, Ev::WrapEnd(a));
            }
            Ev::WrapEnd(a) => {
                if sim.leaving[a] {
                    sim.agents[a] = Agent::Out; // gone after the call: no "ready"
                    sim.leaving[a] = false;
                } else {
                    sim.line(t, "ready", None, Some(a));
                    sim.agents[a] = Agent::Idle { since: t };
                    sim.dispatch(t, a);
                }
            }
            Ev::Patience(c) => {
                if sim.waiting[c] {
                    sim.waiting[c] = false;
                    sim.queue.retain(|&q| q != c);
                    sim.line(t, "abandon", Some(c), None);
                }
            }
            Ev::LogoutAll => {
                for a in 0..2 {
                    sim.line(t, "logout", None, Some(a));
                    match sim.agents[a] {
                        Agent::Idle { .. } => sim.agents[a] = Agent::Out,
                        _ => sim.leaving[a] = true,
                    }
                }
            }
            Ev::LoginAll => {
                for a in 0..2 {
                    sim.line(t, "login", None, Some(a));
                    sim.leaving[a] = false;
                    if sim.agents[a] == Agent::Out {
                        sim.agents[a] = Agent::Idle { since: t };
                        sim.dispatch(t, a);
                    }
                }
            }
        }
    }
    (sim.out, sim.oracle_out)
}

impl Sim<'_> {
    fn at(&mut self, t: f64, ev: Ev) {
        self.seq += 1;
        self.heap.push(Timed(t, self.seq, ev));
    }

    fn line(&mut self, t: f64, ev: &str, caller: Option<usize>, agent: Option<usize>) {
        let _ = write!(self.out, "{{\"t\":{t:.3},\"ev\":\"{ev}\"");
        if let Some(c) = caller {
            let _ = write!(self.out, ",\"caller\":\"c{c}\"");
        }
        if let Some(a) = agent {
            let _ = write!(self.out, ",\"agent\":\"a{a}\"");
        }
        self.out.push_str("}\n");
    }

    fn arrive(&mut self, t: f64) {
        let c = self.waiting.len();
        self.waiting.push(true);
        self.line(t, "enter", Some(c), None);
        // The agent idle longest answers; else the caller queues.
        let idle = (0..self.agents.len())
            .filter_map(|a| match self.agents[a] {
                Agent::Idle { since } => Some((since, a)),
                _ => None,
            })
            .min_by(|x, y| x.0.total_cmp(&y.0));
        self.queue.push_back(c);
        match idle {
            Some((_, a)) => self.dispatch(t, a),
            None => {
                self.tell_oracle(t, c);
                if let Some(mean) = self.cell.patience {
                    let p = self.rng.exp(mean);
                    self.at(t + p, Ev::Patience(c));
                }
            }
        }
    }

    /// Idle agent `a` answers the head of the queue, if any.
    fn dispatch(&mut self, t: f64, a: usize) {
        let Some(c) = self.queue.pop_front() else {
            return;
        };
        self.waiting[c] = false;
        self.line(t, "answer", Some(c), Some(a));
        self.agents[a] = Agent::Talking { start: t };
        let talk = self.truth.talk(&mut self.rng);
        self.at(t + talk, Ev::TalkEnd(a));
    }

    /// The oracle's estimate for caller `c`, who queues behind everyone waiting.
    fn tell_oracle(&mut self, t: f64, c: usize) {
        self.seen.clear();
        for (a, &st) in self.agents.iter().enumerate() {
            self.seen.push(match st {
                _ if self.leaving[a] => oracle::Seen::Gone,
                Agent::Idle { .. } => oracle::Seen::Free,
                Agent::Talking { start } => oracle::Seen::Talking { start },
                Agent::Wrap { end } => oracle::Seen::Wrap { end },
                Agent::Out => oracle::Seen::Gone,
            });
        }
        let ahead = self.queue.len() - 1;
        let (free, out) = &mut self.buf;
        let w = oracle::median_wait(
            t,
            &self.seen,
            ahead,
            &self.truth,
            &mut self.oracle_rng,
            free,
            out,
        );
        let _ = writeln!(self.oracle_out, "c{c}\t{w:.1}");
    }
}
