//! Graceful shutdown and overload, with SIPp as the caller: SIGTERM ends live calls with
//! BYE and the process exits within 5 s; beyond `max_calls` a new INVITE gets 503 with
//! Retry-After instead of waiting in a queue.
// Real peers over real sockets: these tests measure wall-clock time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::{metric, peer, sipp, Server};

#[test]
fn sigterm_ends_live_calls_with_bye_and_exits_within_five_seconds() {
    if !peer("sipp") {
        return;
    }
    let mut server = Server::start("");
    let (sip, dir) = (server.sip, server.dir.path().to_path_buf());
    let caller =
        std::thread::spawn(move || sipp("wait_bye", sip, &["-s", "100", "-mp", "0"], &dir));
    // Wait until the call is up.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&server.metrics(), "qonyrau_calls_active") != Some(1.0) {
        assert!(Instant::now() < deadline, "the call never came up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = server.terminate();
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    let (code, log) = caller.join().unwrap();
    assert_eq!(
        code,
        0,
        "the caller must receive our BYE:\n{log}\nserver:\n{}",
        server.log_text()
    );
    assert!(
        server.log_text().contains("end=\"shutdown\""),
        "{}",
        server.log_text()
    );
}

#[test]
fn beyond_max_calls_an_invite_gets_503_with_retry_after() {
    if !peer("sipp") {
        return;
    }
    let mut server = Server::start_full("max_calls = 1\nretry_after = 7\n", "", &[]);
    let (sip, dir) = (server.sip, server.dir.path().to_path_buf());
    let first = std::thread::spawn(move || sipp("wait_bye", sip, &["-s", "100", "-mp", "0"], &dir));
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&server.metrics(), "qonyrau_calls_active") != Some(1.0) {
        assert!(Instant::now() < deadline, "the first call never came up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, log) = sipp(
        "busy",
        server.sip,
        &[
            "-s",
            "100",
            "-mp",
            "0",
            "-trace_logs",
            "-log_file",
            "busy.log",
        ],
        server.dir.path(),
    );
    assert_eq!(code, 0, "{log}");
    let logs = std::fs::read_to_string(server.dir.path().join("busy.log")).unwrap_or_default();
    assert!(logs.contains("Retry-After: 7"), "{logs}");
    let m = server.metrics();
    assert_eq!(
        metric(&m, "qonyrau_calls_refused_total{reason=\"overload\"}"),
        Some(1.0),
        "{m}"
    );
    server.terminate(); // SIGTERM: the first caller gets our BYE and its SIPp ends
    let (code, log) = first.join().unwrap();
    assert_eq!(
        code, 0,
        "the first call was ended with BYE at shutdown:\n{log}"
    );
}
