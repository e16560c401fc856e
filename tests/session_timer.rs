//! Session timers (RFC 4028) and UPDATE (RFC 3311) with SIPp standing for a carrier's
//! trunk: `Require: timer` is answered 200 with the interval and refresher; an interval
//! under 90 s gets 422 with Min-SE; a session refreshed by UPDATE outlives its first
//! interval; one nobody refreshes is ended by our BYE at 60 s (90 − min(32, 90/3)).
// Real peers over real sockets: these tests measure wall-clock time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::{peer, sipp, Server, ServerOpts};

/// A flow that keeps the caller for minutes (a menu nobody answers, three times 60 s).
const WAIT_FLOW: &str = "start: wait\nnodes:\n  wait:\n    menu: { prompt: menu, options: { \"1\": bye }, timeout: 60s, retries: 2, on_failure: bye }\n  bye: { hangup: true }\n";

fn server() -> Server {
    Server::start_opts(ServerOpts {
        ivr: "[ivr.numbers]\n\"300\" = \"wait\"\n",
        // SIPp sends no audio: the RTP time-out must not end the calls first.
        rtp: "timeout = \"0s\"\n",
        flows: &[("wait", WAIT_FLOW)],
        ..ServerOpts::default()
    })
}

fn run(server: &Server, scenario: &str) -> (i32, String, Duration) {
    let started = Instant::now();
    let (code, log) = sipp(
        scenario,
        server.sip,
        &["-s", "300", "-timeout", "150s"],
        server.dir.path(),
    );
    (code, log, started.elapsed())
}

#[test]
fn require_timer_is_accepted_with_our_interval_and_the_caller_as_refresher() {
    if !peer("sipp") {
        return;
    }
    let server = server();
    let (code, log, _) = run(&server, "session_timer_require");
    assert_eq!(
        code, 0,
        "200 with Session-Expires 1800;refresher=uac and Require: timer:\n{log}"
    );
    assert!(!log.contains("420 Bad Extension"), "{log}");
}

#[test]
fn a_session_interval_under_90_s_gets_422_with_min_se() {
    if !peer("sipp") {
        return;
    }
    let server = server();
    let (code, log, _) = run(&server, "session_timer_too_small");
    assert_eq!(code, 0, "422 with Min-SE: 90:\n{log}");
    assert!(log.contains("422 Session Interval Too Small"), "{log}");
}

#[test]
fn a_session_refreshed_by_update_outlives_its_first_interval() {
    if !peer("sipp") {
        return;
    }
    let server = server();
    let (code, log, took) = run(&server, "session_timer_update");
    assert_eq!(
        code, 0,
        "refreshed at 40 s, still up at 80 s, the caller's own BYE answered 200:\n{log}"
    );
    assert!(took >= Duration::from_secs(80), "{took:?}");
    assert!(
        log.contains("UPDATE sip:") && log.contains("SIP/2.0 200 OK"),
        "{log}"
    );
}

#[test]
fn a_session_nobody_refreshes_is_ended_by_our_bye_at_60_s() {
    if !peer("sipp") {
        return;
    }
    let server = server();
    let (code, log, took) = run(&server, "session_timer_expiry");
    assert_eq!(code, 0, "our BYE came:\n{log}");
    assert!(
        took >= Duration::from_secs(59) && took < Duration::from_secs(66),
        "BYE 60 s after the answer (90 s interval − 30 s), not at {took:?}"
    );
    // The call event stream says why.
    common::wait_metric(
        &server,
        "qonyrau_calls_total{end=\"session_expired\",side=\"system\"}",
        1.0,
        Duration::from_secs(5),
    );
    let metrics = common::http_get(server.http, "/metrics");
    assert!(
        metrics.contains("end=\"session_expired\""),
        "qonyrau_calls_total counts the cause:\n{metrics}"
    );
}

#[test]
fn asked_to_refresh_we_send_an_update_at_half_the_interval() {
    if !peer("sipp") {
        return;
    }
    let server = server();
    let (code, log, took) = run(&server, "session_timer_refresh_update");
    assert_eq!(
        code, 0,
        "our UPDATE with Session-Expires 90;refresher=uas:\n{log}"
    );
    assert!(
        took >= Duration::from_secs(44) && took < Duration::from_secs(50),
        "the refresh comes at 45 s, not at {took:?}"
    );
}

#[test]
fn asked_to_refresh_by_a_peer_without_update_we_send_a_reinvite_and_ack_its_200() {
    if !peer("sipp") {
        return;
    }
    let server = server();
    let (code, log, took) = run(&server, "session_timer_refresh_reinvite");
    assert_eq!(code, 0, "our re-INVITE refresh, then our ACK:\n{log}");
    assert!(
        took >= Duration::from_secs(44) && took < Duration::from_secs(50),
        "the refresh comes at 45 s, not at {took:?}"
    );
}
