//! End to end with SIPp as the caller over real sockets: the greeting heard (RTP counted,
//! timed and checked for continuity), DTMF 1 by RFC 4733, SIP INFO and in-band tones
//! reaching the branch and our BYE, CANCEL before the answer, re-INVITE hold and resume,
//! OPTIONS, a malformed request, over UDP and TCP.
// Real peers over real sockets: these tests measure wall-clock time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::{metric, peer, sipp, RtpSink, Server};

/// The default flow answers after ringing this long in these tests, so CANCEL can race it.
const CONFIG: &str = "language = \"en\"\n";

fn prompt_seconds(name: &str) -> f64 {
    prompt(name).len() as f64 / 8000.0
}

/// Run `scenario` as a caller whose SDP names an RTP sink; assert SIPp succeeded and return
/// the server (for its metrics) and the PCMU packets the caller received.
fn call_recording(scenario: &str) -> (Server, Vec<common::RtpPacket>) {
    let server = Server::start(CONFIG);
    let audio = record_call(&server, scenario, &[]);
    (server, audio)
}

/// Run `scenario` (with `extra` SIPp arguments) against `server` as a caller whose SDP
/// names an RTP sink; assert SIPp succeeded; the PCMU packets the caller received.
fn record_call(server: &Server, scenario: &str, extra: &[&str]) -> Vec<common::RtpPacket> {
    let sink = RtpSink::bind();
    let port = sink.port.to_string();
    let mut args = vec![
        "-s",
        "100",
        "-mi",
        "127.0.0.1",
        "-mp",
        "0",
        "-key",
        "sink_port",
        &port,
    ];
    args.extend_from_slice(extra);
    let (code, log) = sipp(scenario, server.sip, &args, server.dir.path());
    assert_eq!(
        code,
        0,
        "SIPp failed; messages:\n{log}\nserver:\n{}",
        server.log_text()
    );
    sink.packets().into_iter().filter(|p| p.pt == 0).collect()
}

fn linear(audio: &[common::RtpPacket]) -> Vec<i16> {
    audio
        .iter()
        .flat_map(|p| p.payload.iter().map(|&b| common::ulaw_to_linear(b)))
        .collect()
}

fn prompt(name: &str) -> Vec<i16> {
    common::wav_samples(&common::repo().join(format!("sounds/en/{name}.wav")))
}

#[test]
fn caller_hears_the_greeting_presses_1_by_rfc4733_and_gets_our_bye() {
    if !peer("sipp") {
        return;
    }
    let (server, audio) = call_recording("ivr_rfc4733");
    // The caller was up from the ACK to our BYE: greeting + part of the menu (barge-in
    // at 4.5 s) + the branch prompt + goodbye, in 20 ms PCMU frames.
    let heard = audio.len() as f64 * 0.020;
    let expected_min = 4.5 + prompt_seconds("service_info") + prompt_seconds("goodbye") - 0.5;
    assert!(
        heard >= expected_min,
        "heard {heard:.2}s of audio, expected ≥ {expected_min:.2}s"
    );
    assert!(
        audio.iter().all(|p| p.payload.len() == 160),
        "20 ms PCMU frames"
    );
    // Continuity: one SSRC, consecutive sequence numbers, timestamps +160 each.
    let ssrc = audio[0].ssrc;
    for w in audio.windows(2) {
        assert_eq!(w[1].ssrc, ssrc);
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1), "sequence gap");
        assert_eq!(w[1].ts, w[0].ts.wrapping_add(160), "timestamp step");
    }
    assert!(audio[0].marker, "marker bit on the first packet");
    // Pacing: the stream lasts as long as its content says (drift-free 20 ms).
    let span = audio.last().unwrap().at - audio[0].at;
    let nominal = Duration::from_millis(20 * (audio.len() as u64 - 1));
    let drift = span.as_secs_f64() - nominal.as_secs_f64();
    assert!(
        drift.abs() < 0.2,
        "stream of {span:?} for {nominal:?} of frames"
    );
    // The greeting is the first thing heard.
    let pcm = linear(&audio);
    let greeting = prompt("welcome");
    let first = &pcm[..pcm.len().min(greeting.len() + 8000)];
    let score = common::best_match(first, &greeting);
    assert!(score > 0.9, "greeting match score {score:.3}");
    let score = common::best_match(&pcm, &prompt("service_info"));
    assert!(
        score > 0.9,
        "branch prompt (service_info) match score {score:.3}"
    );
    let m = server.metrics();
    assert_eq!(
        metric(&m, "qonyrau_dtmf_digits_total{source=\"rfc4733\"}"),
        Some(1.0),
        "{m}"
    );
}

#[test]
fn sip_info_digit_reaches_the_branch() {
    if !peer("sipp") {
        return;
    }
    let (server, audio) = call_recording("ivr_info");
    let pcm = linear(&audio);
    let branch = prompt("service_info");
    assert!(
        common::best_match(&pcm, &branch) > 0.9,
        "branch prompt not heard"
    );
    assert_eq!(
        metric(
            &server.metrics(),
            "qonyrau_dtmf_digits_total{source=\"info\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn in_band_dtmf_tone_reaches_the_branch() {
    if !peer("sipp") || !peer("sox") {
        return;
    }
    let server = Server::start(CONFIG);
    // 150 ms of the tone for "1" (697 + 1209 Hz) between silences, as raw µ-law for SIPp.
    let dir = server.dir.path();
    let ok = std::process::Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-t", "ul"])
        .arg(dir.join("dtmf1.ul"))
        .args([
            "synth", "0.15", "sine", "697", "sine", "1209", "vol", "0.4", "pad", "0.2", "1.0",
        ])
        .status()
        .expect("sox")
        .success();
    assert!(ok);
    let audio = record_call(&server, "ivr_inband", &[]);
    assert_eq!(
        metric(
            &server.metrics(),
            "qonyrau_dtmf_digits_total{source=\"inband\"}"
        ),
        Some(1.0)
    );
    // The branch itself: key 1's prompt is heard (without the digit the menu repeats and
    // the call ends with the goodbye, and this prompt never plays).
    assert!(
        common::best_match(&linear(&audio), &prompt("service_info")) > 0.9,
        "the caller heard key 1's branch"
    );
}

#[test]
fn cancel_before_answer_gets_200_and_487() {
    if !peer("sipp") {
        return;
    }
    let server = Server::start("answer_after = \"3s\"\n");
    let (code, log) = sipp(
        "cancel",
        server.sip,
        &["-s", "100", "-mp", "0"],
        server.dir.path(),
    );
    assert_eq!(
        code,
        0,
        "SIPp failed; messages:\n{log}\nserver:\n{}",
        server.log_text()
    );
    // Every response (100, 180, 200 to CANCEL, 487) names the server the same way.
    let statuses = log
        .lines()
        .filter(|l| l.trim_start().starts_with("SIP/2.0 "))
        .count();
    let servers = log
        .lines()
        .filter(|l| l.trim_start().starts_with("Server: Qonyrau/"))
        .count();
    assert!(statuses >= 4, "{log}");
    assert_eq!(
        statuses, servers,
        "a Server header on every response:\n{log}"
    );
    assert!(log.contains("SIP/2.0 487"), "{log}");
    common::wait_metric(
        &server,
        "qonyrau_calls_total{end=\"caller_cancelled\",side=\"caller\"}",
        1.0,
        Duration::from_secs(5),
    );
    let m = server.metrics();
    assert_eq!(
        metric(
            &m,
            "qonyrau_calls_total{end=\"caller_cancelled\",side=\"caller\"}"
        ),
        Some(1.0),
        "{m}"
    );
}

#[test]
fn reinvite_hold_and_resume_are_answered_recvonly_then_sendrecv() {
    if !peer("sipp") {
        return;
    }
    let server = Server::start(CONFIG);
    let (code, log) = sipp(
        "hold_resume",
        server.sip,
        &[
            "-s",
            "100",
            "-mp",
            "0",
            "-trace_logs",
            "-log_file",
            "hold.log",
        ],
        server.dir.path(),
    );
    let logs = std::fs::read_to_string(server.dir.path().join("hold.log")).unwrap_or_default();
    assert_eq!(
        code,
        0,
        "SIPp failed; messages:\n{log}\nserver:\n{}",
        server.log_text()
    );
    assert!(
        logs.contains("reinvite sendonly answered a=recvonly"),
        "{logs}"
    );
    assert!(
        logs.contains("reinvite sendrecv answered a=sendrecv"),
        "{logs}"
    );
}

#[test]
fn options_is_answered_with_allow_accept_supported() {
    if !peer("sipp") {
        return;
    }
    let server = Server::start(CONFIG);
    for transport in ["u1", "t1"] {
        let (code, log) = sipp("options", server.sip, &["-t", transport], server.dir.path());
        assert_eq!(code, 0, "{transport}: {log}");
        assert!(log.contains("Allow: "), "{log}");
        assert!(
            log.contains("INVITE") && log.contains("BYE") && log.contains("CANCEL"),
            "{log}"
        );
    }
}

#[test]
fn a_malformed_request_gets_400_and_the_server_goes_on() {
    if !peer("sipp") {
        return;
    }
    let server = Server::start(CONFIG);
    let (code, log) = sipp("malformed", server.sip, &[], server.dir.path());
    assert_eq!(code, 0, "{log}\nserver:\n{}", server.log_text());
    let m = server.metrics();
    assert!(
        metric(
            &m,
            "qonyrau_sip_parse_errors_total{transport=\"udp\",action=\"rejected\"}"
        )
        .unwrap_or(0.0)
            >= 1.0,
        "{m}"
    );
}

#[test]
fn the_ivr_call_works_over_tcp() {
    if !peer("sipp") {
        return;
    }
    let server = Server::start(CONFIG);
    // The INFO digit and our BYE travel over TCP; the branch is found in the audio.
    let audio = record_call(&server, "ivr_info", &["-t", "t1"]);
    assert!(
        common::best_match(&linear(&audio), &prompt("service_info")) > 0.9,
        "key 1 sent by INFO over TCP reached its branch"
    );
    assert_eq!(
        metric(
            &server.metrics(),
            "qonyrau_sip_requests_total{method=\"INFO\"}"
        ),
        Some(1.0),
        "the INFO came once (over TCP, no retransmission)"
    );
}

#[test]
fn sipp_builtin_uac_completes_twenty_calls() {
    if !peer("sipp") {
        return;
    }
    let server = Server::start(CONFIG);
    let status = std::process::Command::new("sipp")
        .args([
            "-sn",
            "uac",
            &server.sip.to_string(),
            "-s",
            "100",
            "-m",
            "20",
            "-r",
            "10",
        ])
        .args(common::sipp_ports(&["-mp"]))
        .args([
            "-i",
            "127.0.0.1",
            "-mp",
            "0",
            "-nostdin",
            "-timeout",
            "60s",
            "-timeout_error",
        ])
        .current_dir(server.dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("sipp");
    assert_eq!(status.code(), Some(0), "server:\n{}", server.log_text());
    common::wait_metric(
        &server,
        "qonyrau_calls_total{end=\"caller_hung_up\",side=\"caller\"}",
        20.0,
        Duration::from_secs(5),
    );
    let m = server.metrics();
    assert_eq!(
        metric(
            &m,
            "qonyrau_calls_total{end=\"caller_hung_up\",side=\"caller\"}"
        ),
        Some(20.0),
        "{m}"
    );
}

#[test]
fn a_reinvite_without_sdp_gets_our_offer_and_the_media_moves_to_the_acks_port() {
    if !peer("sipp") {
        return;
    }
    let server = Server::start(CONFIG);
    let first = RtpSink::bind();
    let second = RtpSink::bind();
    let (code, log) = sipp(
        "reinvite_no_sdp",
        server.sip,
        &[
            "-s",
            "100",
            "-key",
            "sink_port",
            &first.port.to_string(),
            "-key",
            "sink2_port",
            &second.port.to_string(),
        ],
        server.dir.path(),
    );
    assert_eq!(
        code,
        0,
        "SIPp failed; messages:\n{log}\nserver:\n{}",
        server.log_text()
    );
    let before = first.packets().len();
    let after: Vec<_> = second.packets();
    assert!(
        before > 50,
        "the greeting went to the first port: {before} packets"
    );
    assert!(
        after.len() > 50,
        "after the ACK's answer the audio went to the new port: {} packets",
        after.len()
    );
    assert!(
        after.iter().all(|p| p.pt == 0),
        "in the answer's codec, PCMU"
    );
}
