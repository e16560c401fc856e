//! Queues end to end: SIPp callers dial the queue's number; a baresip operator logs in by
//! the feature code *50 (hearing the confirmation), is offered the waiting caller and
//! answers, and the two hear each other. A caller waiting alone hears announcements that
//! start at once and then every 60 s start to start — found in the audio the caller
//! recorded.
// Real peers over real sockets: these tests measure wall-clock time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::calls::{sipp_caller, softphone, CALLER_HZ};
use common::rtp_peer::{best_tone_window, decode, Law, Received};
use common::{
    best_match, http_bearer as http, metric, peer, wait_metric, wav_samples, Server, ServerOpts,
};

const OPERATOR_HZ: f64 = 1000.0;

/// The support queue on 600 with members 2001 and 2002; offers ring 10 s, a failed offer
/// waits 1 s.
const QUEUES: &str = "[acd]\nannounce_every = \"60s\"\n[queues.support]\nnumber = \"600\"\nmembers = [\"2001\", \"2002\"]\nring_timeout = \"10s\"\nretry_delay = \"1s\"\n";

fn server() -> Server {
    Server::start_opts(ServerOpts {
        ivr: QUEUES,
        ..ServerOpts::default()
    })
}

fn prompt(name: &str) -> Vec<i16> {
    wav_samples(&common::repo().join(format!("sounds/en/{name}.wav")))
}

/// When each occurrence of `needle`'s first second starts in `packets` (a prompt starts on
/// a packet boundary): the arrival time of its first packet.
fn occurrences(packets: &[Received], needle: &[i16]) -> Vec<Instant> {
    occurrences_of_start(packets, needle, 8000)
}

/// As [`occurrences`], for the first `probe` samples of `needle` (a prompt cut short).
fn occurrences_of_start(packets: &[Received], needle: &[i16], probe: usize) -> Vec<Instant> {
    let samples = decode(packets);
    // The prompt's leading pause says nothing: the probe starts where the speech does.
    let lead = needle
        .iter()
        .position(|v| v.unsigned_abs() > 300)
        .unwrap_or(0);
    let probe = &needle[lead..needle.len().min(lead + probe)];
    let norm = |w: &[i16]| w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
    let pn = norm(probe);
    let mut found: Vec<Instant> = Vec::new();
    let mut i = 0;
    while i * 160 + lead + probe.len() <= samples.len() && i < packets.len() {
        let w = &samples[i * 160 + lead..i * 160 + lead + probe.len()];
        let dot: f64 = w
            .iter()
            .zip(probe)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum();
        let wn = norm(w);
        if wn > 0.0 && dot / (wn * pn) > 0.9 {
            found.push(packets[i].at);
            i += (lead + probe.len()) / 160; // skip past this one
        } else {
            i += 1;
        }
    }
    found
}

#[test]
fn an_operator_logs_in_by_star_50_and_is_put_through_to_the_waiting_caller() {
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    let server = server();
    let mut op = softphone(&server, "op1", "2001", OPERATOR_HZ, true);
    let (caller, call) = sipp_caller(&server, Law::Pcma, "call_operator", &["-s", "600"]);
    // Nobody is logged in: the caller waits, told they are next and that waiting is free.
    std::thread::sleep(Duration::from_secs(5));
    let waiting = decode(&caller.take());
    let next = best_match(&waiting, &prompt("queue_next"));
    assert!(
        next > 0.8,
        "the first announcement says the caller is next: {next:.2}"
    );
    // Live state on /metrics: one caller waiting, both members logged out.
    for (series, want) in [
        ("qonyrau_queue_waiting{queue=\"support\"}", 1.0),
        ("qonyrau_agents{state=\"logged_out\"}", 2.0),
    ] {
        assert_eq!(
            wait_metric(&server, series, want, Duration::from_secs(3)),
            Some(want),
            "{series}"
        );
    }

    let r = op.cmd("dial", &format!("sip:*50@{}", server.sip));
    assert_eq!(r["ok"], true, "baresip dials *50: {r}");
    assert!(
        wait_metric(
            &server,
            "qonyrau_agent_state_changes_total{to=\"available\"}",
            1.0,
            Duration::from_secs(10)
        ) == Some(1.0),
        "op1 logged in; server:\n{}",
        server.log_text()
    );
    // The ACD offers the caller to 2001 once its *50 call is over; baresip answers.
    let mut established = 0;
    let mut answered_at = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    while established < 2 && Instant::now() < deadline {
        if op
            .wait_event("CALL_ESTABLISHED", Duration::from_secs(1))
            .is_some()
        {
            established += 1;
            answered_at = Instant::now();
        }
    }
    assert_eq!(
        established,
        2,
        "the *50 call, then the queue's offer; log:\n{}",
        op.log_text()
    );
    std::thread::sleep(Duration::from_secs(3));
    let packets = caller.take();
    let talk = decode(&packets);
    // No dead air and no announcement over the operator: the first packet of the operator's
    // tone reaches the caller as soon as the answer is known here (ctrl_tcp's event).
    let (_, delay_ms) = operator_heard_after(&packets, answered_at);
    eprintln!("answer to the operator's audio at the caller: {delay_ms:.1} ms");
    assert!(
        delay_ms < 100.0,
        "the caller hears the operator at once: {delay_ms:.1} ms after the answer"
    );
    op.cmd("hangup", "");
    let (code, log) = call.join().unwrap();
    assert_eq!(
        code, 0,
        "the caller goes on to the flow's end and gets our BYE: {log}"
    );

    assert!(
        best_tone_window(&talk, OPERATOR_HZ) > 0.8,
        "the caller hears the operator"
    );
    // What op1 heard (its recordings are complete once the call is closed): the *50
    // confirmation, then the caller.
    for _ in 0..2 {
        op.wait_event("CALL_CLOSED", Duration::from_secs(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    let recordings = op.heard();
    assert!(
        recordings.len() >= 2,
        "two calls recorded: {recordings:?}; log:\n{}",
        op.log_text()
    );
    let confirmation = wav_samples(&recordings[0]);
    let said = best_match(&confirmation, &prompt("agent_logged_in"));
    assert!(said > 0.8, "*50 was confirmed: {said:.2}");
    let heard_caller = wav_samples(recordings.last().unwrap());
    let share = best_tone_window(&heard_caller, CALLER_HZ);
    assert!(
        share > 0.8,
        "the operator hears the caller: {share:.2} in {recordings:?} ({} samples, {:?} bytes)",
        heard_caller.len(),
        recordings
            .iter()
            .map(|r| std::fs::metadata(r).map(|m| m.len()).unwrap_or(0))
            .collect::<Vec<_>>()
    );
    let m = server.metrics();
    assert_eq!(
        metric(&m, "qonyrau_operator_legs_total{outcome=\"answered\"}"),
        Some(1.0),
        "{m}"
    );
}

/// When the operator's tone first reached the caller, and how long after the answer (ms;
/// negative when the packet came before the answer was known here).
fn operator_heard_after(packets: &[Received], answered_at: Instant) -> (Instant, f64) {
    let first_tone = packets
        .iter()
        .find(|p| {
            p.at + Duration::from_millis(200) >= answered_at
                && common::rtp_peer::tone_share(&decode(std::slice::from_ref(*p)), OPERATOR_HZ)
                    > 0.6
        })
        .map(|p| p.at)
        .expect("the operator's tone");
    let delay_ms = first_tone.duration_since(answered_at).as_secs_f64() * 1000.0
        - answered_at.duration_since(first_tone).as_secs_f64() * 1000.0;
    (first_tone, delay_ms)
}

/// The samples of a prompt, in seconds.
fn prompt_secs(name: &str) -> f64 {
    prompt(name).len() as f64 / 8000.0
}

#[test]
fn an_operator_answering_mid_announcement_is_heard_by_the_caller_within_40_ms() {
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    let server = server();
    let mut op = softphone(&server, "op1", "2001", OPERATOR_HZ, false);
    log_in(&server, &mut op);
    assert_eq!(
        wait_metric(
            &server,
            "qonyrau_agents{state=\"available\"}",
            1.0,
            Duration::from_secs(10)
        ),
        Some(1.0),
        "op1 is available"
    );
    // The caller enters: the first announcement starts at once and the free operator is
    // rung at once; the operator answers 0.7 s later, while the announcement plays.
    let (caller, call) = sipp_caller(&server, Law::Pcma, "call_operator", &["-s", "600"]);
    assert!(
        op.wait_event("CALL_INCOMING", Duration::from_secs(10))
            .is_some(),
        "the operator is offered the caller; log:\n{}",
        op.log_text()
    );
    std::thread::sleep(Duration::from_millis(700));
    let r = op.cmd("accept", "");
    assert_eq!(r["ok"], true, "baresip answers: {r}");
    let answered_at = op
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(5))
        .map(|_| Instant::now())
        .unwrap_or_else(|| panic!("the operator answered; log:\n{}", op.log_text()));
    std::thread::sleep(Duration::from_secs(3));
    let packets = caller.take();
    // Its first 200 ms: the answer may cut it soon after it starts.
    let announced = *occurrences_of_start(&packets, &prompt("queue_next"), 1600)
        .first()
        .expect("the announcement started before the answer");
    let answer_s = answered_at.duration_since(announced).as_secs_f64();
    assert!(
        answer_s > 0.0 && answer_s < prompt_secs("queue_next"),
        "the answer came {answer_s:.2} s into the announcement, while its first prompt ({:.2} s) played",
        prompt_secs("queue_next")
    );
    let (first_tone, delay_ms) = operator_heard_after(&packets, answered_at);
    eprintln!("answer mid-announcement to the operator's audio at the caller: {delay_ms:.1} ms");
    assert!(
        delay_ms <= 40.0,
        "the caller hears the operator within 40 ms of the answer: {delay_ms:.1} ms"
    );
    // The announcement was cut: from the operator's first packet on, the caller hears the
    // operator only.
    let from = packets.iter().position(|p| p.at >= first_tone).unwrap();
    let after = &packets[from..(from + 100).min(packets.len())];
    let share = common::rtp_peer::tone_share(&decode(after), OPERATOR_HZ);
    assert!(
        share > 0.8,
        "the two seconds after the answer are the operator: {share:.2}"
    );
    op.cmd("hangup", "");
    let (code, log) = call.join().unwrap();
    assert_eq!(code, 0, "{log}");
}

#[test]
fn a_waiting_caller_hears_announcements_at_once_then_every_60_s_start_to_start() {
    if !peer("sipp") {
        return;
    }
    let server = server();
    let (caller, call) = sipp_caller(
        &server,
        Law::Pcma,
        "queue_wait",
        &["-s", "600", "-timeout", "200s"],
    );
    let (code, log) = call.join().unwrap();
    assert_eq!(code, 0, "{log}");
    let packets = caller.take();
    let first = packets.first().expect("audio").at;
    let starts: Vec<f64> = occurrences(&packets, &prompt("queue_next"))
        .into_iter()
        .map(|t| t.duration_since(first).as_secs_f64())
        .collect();
    assert_eq!(
        starts.len(),
        3,
        "three announcements in 125 s, at {starts:?}"
    );
    assert!(
        starts[0] <= 1.0,
        "the first within 1 s of entering: {starts:?}"
    );
    for (k, s) in starts.iter().enumerate().skip(1) {
        let want = starts[0] + 60.0 * k as f64;
        assert!(
            (s - want).abs() <= 0.5,
            "announcement {k} at {s:.2} s, expected {want:.2} ± 0.5 s: {starts:?}"
        );
    }
}

#[test]
fn the_rest_api_shows_queues_and_agents_and_an_agent_logs_in_and_pauses_itself() {
    let server = server();
    server.add_operator("op1", "2001", "sip-secret-2001");
    server.add_operator("op3", "2003", "sip-secret-2003");
    let (status, body) = common::http_post_json(
        server.http,
        "/api/v1/session",
        r#"{"login":"op1","password":"Operator2026!"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, queues) = http(server.http, "GET", "/api/v1/queues", &token, "");
    assert_eq!(status, 200, "{queues}");
    let queues: serde_json::Value = serde_json::from_str(&queues).unwrap();
    assert_eq!(queues[0]["name"], "support");
    assert_eq!(queues[0]["waiting"], 0);
    assert_eq!(queues[0]["agents_logged_in"], 0);

    let set = |state: &str| {
        http(
            server.http,
            "POST",
            "/api/v1/agents/op1/state",
            &token,
            &format!(r#"{{"state":"{state}","reason":"lunch"}}"#),
        )
    };
    let (status, agent) = set("available");
    assert_eq!(status, 200, "{agent}");
    assert!(agent.contains(r#""state":"available""#), "{agent}");
    let (status, agent) = set("paused");
    assert_eq!(status, 200, "{agent}");
    assert!(
        agent.contains(r#""state":"paused""#) && agent.contains("lunch"),
        "{agent}"
    );
    let (_, agents) = http(server.http, "GET", "/api/v1/agents", &token, "");
    assert!(
        agents.contains(r#""extension":"2001","state":"paused""#),
        "{agents}"
    );
    // An operator changes only its own state; 2003 is in no queue anyway.
    let (status, _) = http(
        server.http,
        "POST",
        "/api/v1/agents/op3/state",
        &token,
        r#"{"state":"available"}"#,
    );
    assert_eq!(status, 403);
    let (status, body) = set("sleeping");
    assert_eq!(status, 422, "{body}");
    // Each change is in op1's activity log (SQL), newest first.
    let mut log = String::new();
    for _ in 0..20 {
        log = http(
            server.http,
            "GET",
            "/api/v1/agents/op1/activity",
            &token,
            "",
        )
        .1;
        if log.contains("pause: lunch") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let lines: serde_json::Value = serde_json::from_str(&log).unwrap();
    assert_eq!(lines[0]["to"], "paused", "{log}");
    assert_eq!(lines[0]["reason"], "pause: lunch", "{log}");
    assert_eq!(lines[1]["to"], "available", "{log}");
    assert_eq!(lines[1]["reason"], "login", "{log}");
}

/// Log `phone` in to its queues by *50 and wait for the confirmation call to end.
fn log_in(server: &Server, phone: &mut common::baresip::Baresip) {
    let r = phone.cmd("dial", &format!("sip:*50@{}", server.sip));
    assert_eq!(r["ok"], true, "baresip dials *50: {r}");
    assert!(
        phone
            .wait_event("CALL_CLOSED", Duration::from_secs(15))
            .is_some(),
        "the *50 call ends; log:\n{}",
        phone.log_text()
    );
    phone.wait_event("CALL_ESTABLISHED", Duration::from_millis(100)); // the *50 call's
}

#[test]
fn an_operator_transfers_the_caller_to_the_queue_and_the_other_operator_gets_them() {
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    const B_HZ: f64 = 1400.0;
    let server = server();
    let mut a = softphone(&server, "op1", "2001", OPERATOR_HZ, true);
    let mut b = softphone(&server, "op2", "2002", B_HZ, true);
    log_in(&server, &mut a);
    std::thread::sleep(Duration::from_millis(500)); // A has been idle longest
    log_in(&server, &mut b);
    let (caller, call) = sipp_caller(&server, Law::Pcma, "call_operator", &["-s", "600"]);
    assert!(
        a.wait_event("CALL_ESTABLISHED", Duration::from_secs(20))
            .is_some(),
        "the longest-idle operator A gets the caller; log:\n{}",
        a.log_text()
    );
    std::thread::sleep(Duration::from_secs(2));
    let with_a = decode(&caller.take());
    let r = a.cmd("transfer", &format!("sip:600@{}", server.sip));
    assert_eq!(r["ok"], true, "A transfers to the queue: {r}");
    assert!(
        b.wait_event("CALL_ESTABLISHED", Duration::from_secs(20))
            .is_some(),
        "B gets the caller from the queue (A is in wrap-up); log:\n{}",
        b.log_text()
    );
    caller.take();
    std::thread::sleep(Duration::from_secs(3));
    let with_b = decode(&caller.take());
    b.cmd("hangup", "");
    let (code, log) = call.join().unwrap();
    assert_eq!(code, 0, "{log}");
    assert!(best_tone_window(&with_a, OPERATOR_HZ) > 0.8, "A first");
    assert!(best_tone_window(&with_b, B_HZ) > 0.8, "then B");
}

/// A server whose support queue rings an agent for 3 s only.
fn server_ringing_3_s() -> Server {
    Server::start_opts(ServerOpts {
        ivr: "[queues.support]\nnumber = \"600\"\nmembers = [\"2001\", \"2002\"]\nring_timeout = \"3s\"\nretry_delay = \"1s\"\n",
        ..ServerOpts::default()
    })
}

#[test]
fn a_caller_who_hangs_up_while_the_agent_rings_cancels_the_ring_and_counts_as_abandoned() {
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    let server = server_ringing_3_s();
    let mut op = softphone(&server, "op1", "2001", OPERATOR_HZ, false);
    log_in(&server, &mut op);
    // The caller waits 6 s; the phone rings 3 s at a time without answering.
    let (_caller, call) = sipp_caller(&server, Law::Pcma, "queue_abandon", &["-s", "600"]);
    let incoming = op.wait_event("CALL_INCOMING", Duration::from_secs(10));
    assert!(
        incoming.is_some(),
        "the operator's phone rings; log:\n{}",
        op.log_text()
    );
    // What a plain phone shows: the caller, the queue and the wait so far.
    let shown = format!("{} {}", incoming.unwrap(), op.log_text());
    assert!(shown.contains("sipp support 0:0"), "{shown}");
    let (code, log) = call.join().unwrap();
    assert_eq!(code, 0, "{log}");
    assert!(
        op.wait_event("CALL_CLOSED", Duration::from_secs(5))
            .is_some(),
        "the ringing stopped (CANCEL); log:\n{}",
        op.log_text()
    );
    assert_eq!(
        wait_metric(
            &server,
            "qonyrau_queue_calls_total{queue=\"support\",outcome=\"abandoned\"}",
            1.0,
            Duration::from_secs(5)
        ),
        Some(1.0),
        "the abandon is counted"
    );
}

#[test]
fn an_unanswered_offer_times_out_and_the_caller_goes_to_the_other_operator() {
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    const B_HZ: f64 = 1400.0;
    let server = server_ringing_3_s();
    let mut a = softphone(&server, "op1", "2001", OPERATOR_HZ, false);
    let mut b = softphone(&server, "op2", "2002", B_HZ, true);
    log_in(&server, &mut a);
    std::thread::sleep(Duration::from_millis(500)); // A has been idle longest: rung first
    log_in(&server, &mut b);
    let (caller, call) = sipp_caller(&server, Law::Pcma, "call_operator", &["-s", "600"]);
    assert!(
        a.wait_event("CALL_INCOMING", Duration::from_secs(10))
            .is_some(),
        "A rings first; log:\n{}",
        a.log_text()
    );
    assert!(
        a.wait_event("CALL_CLOSED", Duration::from_secs(6))
            .is_some(),
        "A's ringing is cancelled at the 3 s ring time-out; log:\n{}",
        a.log_text()
    );
    assert!(
        b.wait_event("CALL_ESTABLISHED", Duration::from_secs(10))
            .is_some(),
        "then B gets the caller; log:\n{}",
        b.log_text()
    );
    caller.take();
    std::thread::sleep(Duration::from_secs(2));
    let with_b = decode(&caller.take());
    b.cmd("hangup", "");
    let (code, log) = call.join().unwrap();
    assert_eq!(code, 0, "{log}");
    assert!(best_tone_window(&with_b, B_HZ) > 0.8, "the caller hears B");
}

/// GET /api/v1/agents as op1 (password of `add_operator`).
fn agents(server: &Server) -> serde_json::Value {
    let (_, body) = common::http_post_json(
        server.http,
        "/api/v1/session",
        r#"{"login":"op1","password":"Operator2026!"}"#,
    );
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, body) = http(server.http, "GET", "/api/v1/agents", &token, "");
    serde_json::from_str(&body).unwrap()
}

fn busy_elsewhere(server: &Server, extension: &str) -> bool {
    agents(server)
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["extension"] == extension)
        .map(|a| a["busy_elsewhere"] == true)
        .unwrap_or(false)
}

#[test]
fn an_agent_in_a_direct_call_is_busy_for_every_queue_until_it_ends() {
    if !peer("baresip") {
        return;
    }
    let server = server();
    let mut agent = softphone(&server, "op1", "2001", OPERATOR_HZ, true);
    log_in(&server, &mut agent);
    let mut colleague = softphone(&server, "op3", "2003", CALLER_HZ, false);
    let r = colleague.cmd("dial", &format!("sip:2001@{}", server.sip));
    assert_eq!(r["ok"], true, "{r}");
    assert!(
        agent
            .wait_event("CALL_ESTABLISHED", Duration::from_secs(15))
            .is_some(),
        "2001 answers its colleague; log:\n{}",
        agent.log_text()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !busy_elsewhere(&server, "2001") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(busy_elsewhere(&server, "2001"), "{}", agents(&server));
    colleague.cmd("hangup", "");
    let deadline = Instant::now() + Duration::from_secs(5);
    while busy_elsewhere(&server, "2001") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !busy_elsewhere(&server, "2001"),
        "free for the queues again: {}",
        agents(&server)
    );
}
