//! Blind transfer with real peers: a SIPp caller reaches operator A (baresip, 2001) through
//! a `dial` node; A transfers the caller by REFER to extension 2002 (baresip B). The caller
//! then hears B (tones found in what the caller received) without a gap in its stream, A's
//! phone is told the transfer succeeded (NOTIFY 200: baresip closes the call "transfered"),
//! and a transfer to a phone that does not answer is reported to A (NOTIFY 480), and the
//! caller is not left in silence.
// Real peers over real sockets: these tests measure wall-clock time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::baresip::Baresip;
use common::calls::{sipp_caller, softphone};
use common::rtp_peer::{best_tone_window, decode, Law, Received, RtpPeer};
use common::{peer, Server, ServerOpts, OPERATOR_FLOW};

const IVR: &str = "[ivr.numbers]\n\"200\" = \"operator\"\n";
const A_HZ: f64 = 1000.0;
const B_HZ: f64 = 1400.0;

fn server(ivr: &'static str) -> Server {
    Server::start_opts(ServerOpts {
        ivr,
        flows: &[("operator", OPERATOR_FLOW)],
        ..ServerOpts::default()
    })
}

/// A (2001, answering) and B (2002, answering when `b_answers`) registered; a SIPp caller
/// put through to A; A has asked to transfer the caller to 2002.
fn transfer_asked(
    server: &Server,
    b_answers: bool,
) -> (
    Baresip,
    Baresip,
    RtpPeer,
    std::thread::JoinHandle<(i32, String)>,
    Vec<Received>,
) {
    let mut a = softphone(server, "op1", "2001", A_HZ, true);
    let b = softphone(server, "op2", "2002", B_HZ, b_answers);
    let (caller, call) = sipp_caller(server, Law::Pcma, "call_operator", &["-s", "200"]);
    assert!(
        a.wait_event("CALL_ESTABLISHED", Duration::from_secs(15))
            .is_some(),
        "A answered; log:\n{}",
        a.log_text()
    );
    std::thread::sleep(Duration::from_secs(2));
    let with_a = caller.take();
    let r = a.cmd("transfer", &format!("sip:2002@{}", server.sip));
    assert_eq!(r["ok"], true, "baresip transfers: {r}");
    (a, b, caller, call, with_a)
}

#[test]
fn the_operator_transfers_the_caller_to_another_extension_and_the_caller_then_hears_it() {
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    let server = server(IVR);
    let (mut a, mut b, caller, call, with_a) = transfer_asked(&server, true);
    assert!(
        b.wait_event("CALL_ESTABLISHED", Duration::from_secs(15))
            .is_some(),
        "B answered the transferred call; log:\n{}",
        b.log_text()
    );
    let closed = a
        .wait_event("CALL_CLOSED", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("A's call ends; log:\n{}", a.log_text()));
    assert!(
        closed.to_string().to_lowercase().contains("transfer"),
        "A's phone read NOTIFY 200 (sipfrag) and closed as transferred: {closed}"
    );
    std::thread::sleep(Duration::from_secs(3));
    let after = caller.take();
    b.cmd("hangup", "");
    let (code, log) = call.join().unwrap();
    assert_eq!(
        code, 0,
        "the caller goes on in the flow and gets our BYE: {log}"
    );

    assert!(
        best_tone_window(&decode(&with_a), A_HZ) > 0.8,
        "the caller heard A before the transfer"
    );
    let after_audio = decode(&after);
    assert!(
        best_tone_window(&after_audio[after_audio.len() / 2..], B_HZ) > 0.8,
        "the caller hears B after the transfer"
    );
    assert!(
        best_tone_window(&after_audio[after_audio.len() / 2..], A_HZ) < 0.3,
        "and no longer A"
    );
    // Music on hold while B rang: the caller's stream never stopped.
    let packets: Vec<_> = with_a.iter().chain(&after).collect();
    let longest_gap = packets
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at))
        .max()
        .unwrap_or_default();
    assert!(
        longest_gap < Duration::from_millis(300),
        "no silence in the caller's stream across the transfer: gap {longest_gap:?}"
    );
    let ssrcs: std::collections::BTreeSet<u32> = packets.iter().map(|p| p.ssrc).collect();
    assert_eq!(ssrcs.len(), 1, "one stream towards the caller throughout");
}

#[test]
fn a_transfer_nobody_answers_is_reported_480_to_the_operator_and_the_caller_goes_on_in_the_flow() {
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    let server = server("transfer_ring_timeout = \"5s\"\n[ivr.numbers]\n\"200\" = \"operator\"\n");
    let (mut a, mut b, caller, call, _) = transfer_asked(&server, false);
    assert!(
        b.wait_event("CALL_INCOMING", Duration::from_secs(10))
            .is_some(),
        "B rings; log:\n{}",
        b.log_text()
    );
    let failed = a
        .wait_event("TRANSFER_FAILED", Duration::from_secs(15))
        .unwrap_or_else(|| panic!("A is told the transfer failed; log:\n{}", a.log_text()));
    assert!(
        failed.to_string().contains("480"),
        "NOTIFY with 480 after the 5 s ring time-out: {failed}"
    );
    assert!(
        b.wait_event("CALL_CLOSED", Duration::from_secs(5))
            .is_some(),
        "B stops ringing (CANCEL)"
    );
    // baresip 1.0 hangs up after a failed transfer (a phone that stays gets the caller
    // back: the call core's tests): the caller goes on to the dial node's `next`, the
    // goodbye prompt, then our BYE.
    let (code, log) = call.join().unwrap();
    assert_eq!(code, 0, "{log}");
    let goodbye = common::wav_samples(&common::repo().join("sounds/en/goodbye.wav"));
    assert!(
        common::best_match(&decode(&caller.take()), &goodbye) > 0.8,
        "the caller heard the flow's goodbye, not silence"
    );
}
