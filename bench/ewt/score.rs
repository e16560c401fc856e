//! EWT benchmark, part 2: replay every trace and score the first estimate each caller heard.
//!
//! `ewt-score TRACE_DIR REPLAY_COMMAND...`, e.g. `ewt-score traces target/release/ewt-replay`
//! or, in Qonyrau, `ewt-score traces target/release/qonyrau acd replay`.
//!
//! For each `TRACE_DIR/*.jsonl` (with its `.meta.json` and `.oracle.tsv` from `ewt-sim`) this
//! runs `REPLAY_COMMAND... TRACE`, joins its estimates with the
//! waits in the trace, and scores callers who entered in the scored interval, were answered
//! and had to queue (wait > 0). Error = estimate − real wait. It scores, on the same callers,
//! Asterisk app_queue's estimator: `holdtime ← (3·holdtime + wait)/4` at each answer (integer
//! seconds, as `recalc_holdtime`), announced × position (`pos`) and as is (`flat`).

#![allow(clippy::disallowed_methods)] // a benchmark: times the replay with the wall clock

use std::collections::{BTreeMap, HashMap};
use std::process::Command;

/// Targets from issue #10: median |error|, share within ±60 s (more with ≥ 10 agents), |bias|.
const MDAE_MAX: f64 = 20.0;
const WITHIN_MIN: f64 = 0.75;
const WITHIN_MIN_10: f64 = 0.83;
const BIAS_MAX: f64 = 15.0;
/// Upper bounds of the signed-error histogram, seconds (the `le` of `qonyrau_ewt_error_seconds`).
const BUCKETS: [f64; 11] = [
    -300.0, -120.0, -60.0, -30.0, -15.0, 0.0, 15.0, 30.0, 60.0, 120.0, 300.0,
];

#[derive(Default, Clone)]
struct Errors {
    ours: Vec<f64>,
    ast_pos: Vec<f64>,
    ast_flat: Vec<f64>,
    oracle: Vec<f64>,
    unscored_null: u64,
}

impl Errors {
    fn extend(&mut self, o: &Errors) {
        self.ours.extend_from_slice(&o.ours);
        self.ast_pos.extend_from_slice(&o.ast_pos);
        self.ast_flat.extend_from_slice(&o.ast_flat);
        self.oracle.extend_from_slice(&o.oracle);
        self.unscored_null += o.unscored_null;
    }
}

struct Score {
    n: usize,
    mdae: f64,
    mae: f64,
    within: f64,
    bias: f64,
}

fn score(errs: &[f64]) -> Score {
    let n = errs.len();
    if n == 0 {
        return Score {
            n,
            mdae: f64::NAN,
            mae: f64::NAN,
            within: f64::NAN,
            bias: f64::NAN,
        };
    }
    let mut abs: Vec<f64> = errs.iter().map(|e| e.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let mdae = if n % 2 == 1 {
        abs[n / 2]
    } else {
        0.5 * (abs[n / 2 - 1] + abs[n / 2])
    };
    Score {
        n,
        mdae,
        mae: abs.iter().sum::<f64>() / n as f64,
        within: abs.iter().filter(|&&a| a <= 60.0).count() as f64 / n as f64,
        bias: errs.iter().sum::<f64>() / n as f64,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(replay_bin)) = (args.first(), args.get(1)) else {
        eprintln!("usage: ewt-score TRACE_DIR REPLAY_COMMAND...");
        std::process::exit(2);
    };
    let mut traces: Vec<_> = std::fs::read_dir(dir)
        .expect("read TRACE_DIR")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    traces.sort();
    // cell -> (agents, all scored callers, callers in the disturbance window)
    let mut cells: BTreeMap<String, (u64, Errors, Errors)> = BTreeMap::new();
    let mut replay_secs = 0.0;
    let mut estimates = 0usize;
    for path in &traces {
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(path.with_extension("meta.json"))
                .expect("meta.json next to the trace"),
        )
        .expect("meta JSON");
        let started = std::time::Instant::now();
        let out = Command::new(replay_bin)
            .args(&args[2..])
            .arg(path)
            .output()
            .expect("run the replay");
        replay_secs += started.elapsed().as_secs_f64();
        if !out.status.success() {
            panic!(
                "{}: replay failed: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let told = String::from_utf8(out.stdout).expect("utf-8");
        estimates += told.lines().count();
        let trace = std::fs::read_to_string(path).expect("read trace");
        let oracle = std::fs::read_to_string(path.with_extension("oracle.tsv")).unwrap_or_default();
        let (all, window) = score_trace(&trace, &told, &oracle, &meta);
        let entry = cells
            .entry(meta["cell"].as_str().expect("cell").to_owned())
            .or_default();
        entry.0 = meta["agents"].as_u64().expect("agents");
        entry.1.extend(&all);
        entry.2.extend(&window);
    }
    print_report(&cells);
    eprintln!(
        "{} traces, {estimates} estimates replayed in {replay_secs:.2} s (parse + estimate: {:.1} µs each)",
        traces.len(),
        replay_secs * 1e6 / estimates.max(1) as f64
    );
}

/// Scores one trace: all callers in the scored interval, and those entering in the window.
fn score_trace(
    trace: &str,
    told: &str,
    oracle: &str,
    meta: &serde_json::Value,
) -> (Errors, Errors) {
    let from = meta["score_from"].as_f64().expect("score_from");
    let to = meta["score_to"].as_f64().expect("score_to");
    let window = meta["window"]
        .as_array()
        .map(|w| (w[0].as_f64().unwrap(), w[1].as_f64().unwrap()));
    let mut ours: HashMap<String, Option<f64>> = HashMap::new();
    for l in told.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("replay output line");
        ours.insert(
            v["caller"].as_str().unwrap().to_owned(),
            v["ewt_s"].as_f64(),
        );
    }
    let oracle: HashMap<&str, f64> = oracle
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(c, w)| (c, w.parse().expect("oracle estimate")))
        .collect();
    // Asterisk's state runs along the trace; it tells each caller at entry.
    let mut holdtime: i64 = 0;
    let mut entered: HashMap<String, (f64, i64, usize)> = HashMap::new(); // t, asterisk holdtime, position
    let mut waiting = 0usize;
    let (mut all, mut win) = (Errors::default(), Errors::default());
    for l in trace.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("trace line");
        let t = v["t"].as_f64().unwrap();
        match v["ev"].as_str().unwrap() {
            "enter" => {
                waiting += 1;
                entered.insert(
                    v["caller"].as_str().unwrap().to_owned(),
                    (t, holdtime, waiting),
                );
            }
            "abandon" => waiting -= 1,
            "answer" => {
                waiting -= 1;
                let name = v["caller"].as_str().unwrap();
                let (t0, hold_at_entry, position) = entered[name];
                let wait = t - t0;
                holdtime = (3 * holdtime + (t.floor() as i64 - t0.floor() as i64)) >> 2;
                if wait <= 1e-9 || t0 < from || t0 > to {
                    continue;
                }
                let mut e = Errors::default();
                match ours.get(name).copied().flatten() {
                    Some(est) => e.ours.push(est - wait),
                    None => e.unscored_null += 1,
                }
                e.ast_pos
                    .push(hold_at_entry as f64 * position as f64 - wait);
                e.ast_flat.push(hold_at_entry as f64 - wait);
                if let Some(o) = oracle.get(name) {
                    e.oracle.push(o - wait);
                }
                all.extend(&e);
                if window.is_some_and(|(a, b)| t0 >= a && t0 < b) {
                    win.extend(&e);
                }
            }
            _ => {}
        }
    }
    (all, win)
}

fn print_report(cells: &BTreeMap<String, (u64, Errors, Errors)>) {
    println!("| cell | n | ours MdAE | ±60 s | bias | met | oracle MdAE | ±60 s | bias | Ast×pos MdAE | ±60 s | bias | Ast flat MdAE | ±60 s | bias |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut total = Errors::default();
    let (mut met, mut cells_n) = (0, 0);
    let mut row = |name: &str, agents: u64, e: &Errors, count: bool| {
        let o = score(&e.ours);
        let within_min = if agents >= 10 {
            WITHIN_MIN_10
        } else {
            WITHIN_MIN
        };
        let ok = o.mdae <= MDAE_MAX && o.within >= within_min && o.bias.abs() <= BIAS_MAX;
        if count {
            cells_n += 1;
            met += usize::from(ok);
        }
        let cols = |s: Score| format!("{:.1} | {:.0} % | {:+.1}", s.mdae, 100.0 * s.within, s.bias);
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            o.n,
            cols(score(&e.ours)),
            if ok { "yes" } else { "no" },
            cols(score(&e.oracle)),
            cols(score(&e.ast_pos)),
            cols(score(&e.ast_flat))
        );
    };
    for (name, (agents, all, win)) in cells {
        row(name, *agents, all, true);
        if !win.ours.is_empty() {
            row(&format!("{name} (window)"), *agents, win, false);
        }
        total.extend(all);
    }
    println!("\ncells meeting all three targets: {met} / {cells_n}; callers with no estimate (no agent): {}", total.unscored_null);
    let group = |keep: &dyn Fn(u64) -> bool| {
        let mut e = Errors::default();
        for (agents, all, _) in cells.values() {
            if keep(*agents) {
                e.extend(all);
            }
        }
        e
    };
    println!("\n| scored callers | estimator | n | MdAE | MAE | ±60 s | bias |\n|---|---|---|---|---|---|---|");
    let groups: [(&str, &dyn Fn(u64) -> bool); 4] = [
        ("all", &|_| true),
        ("3 agents", &|c| c == 3),
        ("10 agents", &|c| c == 10),
        ("30 agents", &|c| c == 30),
    ];
    for (label, keep) in groups {
        let e = group(keep);
        for (est, v) in [
            ("ours", &e.ours),
            ("oracle", &e.oracle),
            ("Asterisk×pos", &e.ast_pos),
            ("Asterisk flat", &e.ast_flat),
        ] {
            let s = score(v);
            println!(
                "| {label} | {est} | {} | {:.1} | {:.1} | {:.1} % | {:+.1} |",
                s.n,
                s.mdae,
                s.mae,
                100.0 * s.within,
                s.bias
            );
        }
    }
    println!(
        "\nSigned error (estimate − wait) histogram, all cells, cumulative as Prometheus `le`:\n"
    );
    println!("| le (s) | ours | oracle | Asterisk×pos | Asterisk flat |\n|---|---|---|---|---|");
    for b in BUCKETS.iter().copied().chain([f64::INFINITY]) {
        let cum = |v: &[f64]| v.iter().filter(|&&e| e <= b).count();
        let label = if b.is_infinite() {
            "+Inf".to_owned()
        } else {
            format!("{b}")
        };
        println!(
            "| {label} | {} | {} | {} | {} |",
            cum(&total.ours),
            cum(&total.oracle),
            cum(&total.ast_pos),
            cum(&total.ast_flat)
        );
    }
}
