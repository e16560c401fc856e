//! Two-leg calls with real peers: a SIPp caller reaches an operator's baresip (registered
//! with digest as 2001, auto-answer) through a flow's `dial` node, both hear each other
//! (tones found in what each side received), and who ends what: the operator's BYE sends
//! the caller on in the flow (the goodbye prompt, then our BYE); the caller's BYE ends the
//! operator's leg. The caller speaks PCMA and baresip answers PCMU: the bridge transcodes.
// Real peers over real sockets: these tests measure wall-clock time.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::baresip::Baresip;
use common::calls::{sipp_caller, softphone, softphone_over, CALLER_HZ};
use common::rtp_peer::{best_tone_window, decode, Law, RtpPeer};
use common::{
    best_match, metric, peer, sipp, wait_metric, wav_samples, Server, ServerOpts, OPERATOR_FLOW,
};

const IVR: &str = "[ivr.numbers]\n\"200\" = \"operator\"\n";

/// The operator's tone (the caller's is `CALLER_HZ`).
const OPERATOR_HZ: f64 = 1000.0;

fn server() -> Server {
    Server::start_opts(ServerOpts {
        ivr: IVR,
        flows: &[("operator", OPERATOR_FLOW)],
        ..ServerOpts::default()
    })
}

/// op1 with extension 2001, and a baresip registered as 2001 that answers at once and
/// says a 1 kHz tone.
fn operator(server: &Server) -> Baresip {
    softphone(server, "op1", "2001", OPERATOR_HZ, true)
}

#[test]
fn a_caller_reaches_the_operator_through_a_dial_node_with_two_way_transcoded_audio() {
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    let server = server();
    let mut op = operator(&server);
    let (caller, call) = sipp_caller(&server, Law::Pcma, "call_operator", &["-s", "200"]);
    let answered = op.wait_event("CALL_ESTABLISHED", Duration::from_secs(15));
    assert!(
        answered.is_some(),
        "the operator's phone rang and answered; log:\n{}\n{}",
        op.log_text(),
        server.log_text()
    );
    // Talk for three seconds, then the operator hangs up.
    std::thread::sleep(Duration::from_secs(3));
    let talk = caller.take();
    let hung_up_at = Instant::now();
    op.cmd("hangup", "");
    let (code, log) = call.join().unwrap();
    assert_eq!(
        code,
        0,
        "the caller got our BYE after the operator left; sipp log:\n{log}\nserver:\n{}",
        server.log_text()
    );
    let after = caller.take();

    // The caller heard the operator's tone, transcoded from baresip's PCMU into PCMA.
    assert!(
        talk.iter().all(|p| p.pt == 8 || p.pt == 101),
        "the caller's leg stays PCMA"
    );
    let heard = decode(&talk);
    let share = best_tone_window(&heard, OPERATOR_HZ);
    assert!(
        share > 0.8,
        "the operator's 1 kHz tone in what the caller received: {share:.2}"
    );
    // One continuous stream for the caller across music on hold and the bridge.
    let ssrcs: std::collections::BTreeSet<u32> = talk.iter().map(|p| p.ssrc).collect();
    assert_eq!(ssrcs.len(), 1, "one SSRC towards the caller");

    // The operator heard the caller's tone.
    op.wait_event("CALL_CLOSED", Duration::from_secs(5));
    let rec = op.heard();
    assert!(!rec.is_empty(), "baresip recorded the call");
    let op_heard = wav_samples(rec.last().unwrap());
    let share = best_tone_window(&op_heard, CALLER_HZ);
    assert!(
        share > 0.8,
        "the caller's 600 Hz tone in what the operator recorded: {share:.2}"
    );
    assert!(
        op.log_text().contains("PCMU"),
        "baresip answered PCMU (so the bridge transcoded)"
    );

    // After the operator's BYE the caller heard the flow's goodbye prompt, then our BYE.
    let goodbye = wav_samples(&common::repo().join("sounds/en/goodbye.wav"));
    let score = best_match(&decode(&after), &goodbye);
    assert!(
        score > 0.8,
        "the goodbye prompt after the operator left: {score:.2}"
    );
    assert!(after.first().is_some_and(|p| p.at >= hung_up_at));

    // The call's end is published once its media legs have reported their quality.
    wait_metric(
        &server,
        "qonyrau_calls_total{end=\"flow_completed\",side=\"system\"}",
        1.0,
        Duration::from_secs(5),
    );
    let m = server.metrics();
    assert_eq!(
        metric(&m, "qonyrau_operator_legs_total{outcome=\"answered\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "qonyrau_calls_total{end=\"flow_completed\",side=\"system\"}"
        ),
        Some(1.0),
        "{m}"
    );
    // Each media leg's quality at its end (its reception statistics, RFC 3550 A.3/A.8),
    // the caller's and the operator's. (The round trip needs a report from the peer about
    // our SR, which a 3-second call may not see: tests/media_rtcp.rs measures it.)
    for side in ["caller", "operator"] {
        assert_eq!(
            metric(
                &m,
                &format!("qonyrau_leg_jitter_ms_count{{side=\"{side}\"}}")
            ),
            Some(1.0),
            "{m}"
        );
        assert_eq!(
            metric(
                &m,
                &format!("qonyrau_leg_loss_ratio_bucket{{side=\"{side}\",le=\"0.01\"}}")
            ),
            Some(1.0),
            "no loss worth naming on loopback: {m}"
        );
    }
}

#[test]
fn the_callers_bye_ends_the_operators_leg() {
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    let server = server();
    let mut op = operator(&server);
    let (caller, call) = sipp_caller(
        &server,
        Law::Pcmu,
        "call_operator_bye",
        &["-s", "200", "-d", "4000"],
    );
    assert!(
        op.wait_event("CALL_ESTABLISHED", Duration::from_secs(15))
            .is_some(),
        "answered; log:\n{}",
        op.log_text()
    );
    let (code, log) = call.join().unwrap();
    assert_eq!(code, 0, "sipp:\n{log}");
    let closed = op.wait_event("CALL_CLOSED", Duration::from_secs(5));
    assert!(
        closed.is_some(),
        "our BYE reached the operator; log:\n{}",
        op.log_text()
    );
    let heard = decode(&caller.take());
    assert!(
        best_tone_window(&heard, OPERATOR_HZ) > 0.8,
        "PCMU both ways, no transcoding"
    );
    wait_metric(
        &server,
        "qonyrau_calls_total{end=\"caller_hung_up\",side=\"caller\"}",
        1.0,
        Duration::from_secs(5),
    );
}

#[test]
fn an_unregistered_extension_sends_the_caller_to_on_no_answer_at_once() {
    if !peer("sipp") {
        return;
    }
    let server = server();
    let caller = RtpPeer::start(Law::Pcmu, CALLER_HZ);
    let started = Instant::now();
    let (code, log) = sipp(
        "call_operator",
        server.sip,
        &["-s", "200", "-key", "sink_port", &caller.port.to_string()],
        server.dir.path(),
    );
    assert_eq!(code, 0, "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no 20 s ring time-out for nobody"
    );
    let goodbye = wav_samples(&common::repo().join("sounds/en/goodbye.wav"));
    assert!(best_match(&decode(&caller.take()), &goodbye) > 0.8);
}

#[test]
fn a_softphone_dials_another_extension_after_a_digest_challenge_and_both_hear_each_other() {
    if !peer("baresip") {
        return;
    }
    let server = server();
    let mut callee = softphone(&server, "op1", "2001", OPERATOR_HZ, true);
    let mut caller = softphone(&server, "op2", "2002", CALLER_HZ, false);
    caller.cmd("dial", &format!("sip:2001@{}", server.sip));
    assert!(
        callee
            .wait_event("CALL_ESTABLISHED", Duration::from_secs(15))
            .is_some(),
        "2001 answered; 2002's log:\n{}\nserver:\n{}",
        caller.log_text(),
        server.log_text()
    );
    std::thread::sleep(Duration::from_secs(3));
    caller.cmd("hangup", "");
    assert!(
        callee
            .wait_event("CALL_CLOSED", Duration::from_secs(5))
            .is_some(),
        "the caller's hang-up reached 2001"
    );
    let m = server.metrics();
    assert_eq!(
        metric(
            &m,
            "qonyrau_sip_responses_total{method=\"INVITE\",code=\"401\"}"
        ),
        Some(1.0),
        "the INVITE was challenged once: {m}"
    );
    let heard = |p: &Baresip| wav_samples(p.heard().last().expect("a recording"));
    let by_callee = best_tone_window(&heard(&callee), CALLER_HZ);
    let by_caller = best_tone_window(&heard(&caller), OPERATOR_HZ);
    assert!(by_callee > 0.8, "2001 heard 2002's 600 Hz: {by_callee:.2}");
    assert!(by_caller > 0.8, "2002 heard 2001's 1 kHz: {by_caller:.2}");
}

#[test]
fn an_unauthenticated_invite_to_an_extension_is_challenged_not_put_through() {
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    let server = server();
    let mut op = operator(&server);
    let (code, log) = sipp(
        "invite_unauthenticated",
        server.sip,
        &["-s", "2001"],
        server.dir.path(),
    );
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("401 Unauthorized") && log.contains("WWW-Authenticate: Digest"),
        "{log}"
    );
    assert!(
        op.wait_event("CALL_INCOMING", Duration::from_millis(500))
            .is_none()
            && op
                .wait_event("CALL_ESTABLISHED", Duration::from_millis(500))
                .is_none(),
        "the operator's phone never rang"
    );
}

#[test]
fn an_operator_registered_over_tcp_is_rung_on_its_own_connection() {
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    let server = server();
    let mut op = softphone_over(&server, "op1", "2001", OPERATOR_HZ, true, "tcp");
    assert!(
        op.log_text().contains("/TCP/v4} 200 OK"),
        "baresip registered over TCP; log:\n{}",
        op.log_text()
    );
    let (caller, call) = sipp_caller(
        &server,
        Law::Pcmu,
        "call_operator_bye",
        &["-s", "200", "-d", "3000"],
    );
    assert!(
        op.wait_event("CALL_ESTABLISHED", Duration::from_secs(15))
            .is_some(),
        // Its TCP source port listens for nothing else: only that connection reaches it.
        "the INVITE reached baresip over its TCP connection; log:\n{}\nserver:\n{}",
        op.log_text(),
        server.log_text()
    );
    let (code, log) = call.join().unwrap();
    assert_eq!(code, 0, "{log}");
    assert!(op
        .wait_event("CALL_CLOSED", Duration::from_secs(5))
        .is_some());
    assert!(best_tone_window(&decode(&caller.take()), OPERATOR_HZ) > 0.8);
}

#[test]
fn in_the_bundled_flow_key_0_puts_the_caller_in_the_support_queue_and_a_logged_in_operator_answers()
{
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    let server = Server::start("");
    let mut op = operator(&server);
    // 2001 is a member of the bundled support queue: it logs in by *50 first.
    let r = op.cmd("dial", &format!("sip:*50@{}", server.sip));
    assert_eq!(r["ok"], true, "baresip dials *50: {r}");
    assert!(
        op.wait_event("CALL_CLOSED", Duration::from_secs(15))
            .is_some(),
        "the *50 call ends after its confirmation; log:\n{}",
        op.log_text()
    );
    op.wait_event("CALL_ESTABLISHED", Duration::from_millis(100)); // the *50 call's
    let (caller, call) = sipp_caller(&server, Law::Pcmu, "ivr_info_operator", &["-s", "100"]);
    assert!(
        op.wait_event("CALL_ESTABLISHED", Duration::from_secs(30))
            .is_some(),
        "key 0 queued the caller and the queue rang 2001; log:\n{}\nserver:\n{}",
        op.log_text(),
        server.log_text()
    );
    std::thread::sleep(Duration::from_secs(2));
    op.cmd("hangup", "");
    let (code, log) = call.join().unwrap();
    assert_eq!(code, 0, "our BYE after the goodbye; sipp:\n{log}");
    let heard = decode(&caller.take());
    let connecting = wav_samples(&common::repo().join("sounds/en/connecting.wav"));
    assert!(
        best_match(&heard, &connecting) > 0.8,
        "the caller heard \"connecting\""
    );
    assert!(
        best_tone_window(&heard, OPERATOR_HZ) > 0.8,
        "then the operator"
    );
}

#[test]
fn the_operator_holds_and_the_caller_hears_music_then_the_operator_again() {
    if !peer("sipp") || !peer("baresip") {
        return;
    }
    let server = server();
    let mut op = operator(&server);
    let (caller, call) = sipp_caller(&server, Law::Pcmu, "call_operator", &["-s", "200"]);
    assert!(
        op.wait_event("CALL_ESTABLISHED", Duration::from_secs(15))
            .is_some(),
        "answered; log:\n{}",
        op.log_text()
    );
    std::thread::sleep(Duration::from_secs(2));
    let talk = caller.take();
    let r = op.cmd("hold", "");
    assert_eq!(r["ok"], true, "baresip holds: {r}");
    std::thread::sleep(Duration::from_secs(3));
    let held = caller.take();
    let r = op.cmd("resume", "");
    assert_eq!(r["ok"], true, "baresip resumes: {r}");
    std::thread::sleep(Duration::from_secs(2));
    let resumed = caller.take();
    op.cmd("hangup", "");
    let (code, log) = call.join().unwrap();
    assert_eq!(code, 0, "{log}");

    assert!(
        best_tone_window(&decode(&talk), OPERATOR_HZ) > 0.8,
        "the operator before hold"
    );
    // On hold: music on hold (the bundled melody), not the operator's tone.
    let moh = wav_samples(&common::repo().join("sounds/moh/default.wav"));
    let held_audio = decode(&held);
    let music = best_match(&held_audio, &moh[..8000 * 2]);
    assert!(music > 0.8, "the caller heard music on hold: {music:.2}");
    assert!(
        best_tone_window(&held_audio[8000..], OPERATOR_HZ) < 0.5,
        "no operator while held"
    );
    assert!(
        best_tone_window(&decode(&resumed), OPERATOR_HZ) > 0.8,
        "the operator again"
    );
    let ssrcs: std::collections::BTreeSet<u32> = talk
        .iter()
        .chain(&held)
        .chain(&resumed)
        .map(|p| p.ssrc)
        .collect();
    assert_eq!(ssrcs.len(), 1, "one stream towards the caller throughout");
}
