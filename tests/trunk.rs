//! A flow dials a number outside through a trunk: the carrier's gateway (a SIPp UAS) challenges
//! the INVITE with 401, gets it again with our digest answer, sees the number in the format
//! the trunk wants and the caller ID we present, and answers; the caller and the far end
//! then hear each other.
// Real peers over real sockets.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::calls::{sipp_caller, CALLER_HZ};
use common::rtp_peer::{best_tone_window, decode, Law, RtpPeer};
use common::{free_udp_port, peer, sipp, Server, ServerOpts};

const FAR_HZ: f64 = 1000.0;

/// "Connecting", then the number through the trunk. (The test's RTP ends, like the
/// caller's, speak once they hear something: the prompt starts the caller's side.)
const FLOW: &str = "start: hello\nnodes:\n  hello: { play: connecting, next: out }\n  out:\n    dial: \"+77011234567\"\n    trunk: carrier\n    ring_timeout: 20s\n    on_no_answer: bye\n    next: bye\n  bye: { hangup: true }\n";

#[test]
fn a_flow_dials_through_the_trunk_answering_its_digest_challenge_and_the_two_hear_each_other() {
    if !peer("sipp") {
        return;
    }
    let carrier_port = free_udp_port(false);
    let ivr = format!(
        "[ivr.numbers]\n\"700\" = \"outside\"\n[trunks.carrier]\nproxy = \"sip:127.0.0.1:{carrier_port}\"\n\
         username = \"qonyrau\"\npassword = \"trunk-secret\"\ncaller_id = \"+77172000000\"\n\
         dial_format = \"national\"\nrealm = \"carrier.test\"\n"
    );
    let server = Server::start_opts(ServerOpts {
        ivr: &ivr,
        flows: &[("outside", FLOW)],
        ..ServerOpts::default()
    });
    let far = RtpPeer::start(Law::Pcmu, FAR_HZ);
    let (target, dir) = (server.sip, server.dir.path().to_path_buf());
    let far_port = far.port.to_string();
    let carrier_port_s = carrier_port.to_string();
    let carrier = std::thread::spawn(move || {
        sipp(
            "trunk_uas",
            target,
            &[
                "-p",
                &carrier_port_s,
                "-key",
                "sink_port",
                &far_port,
                "-timeout",
                "90s",
            ],
            &dir,
        )
    });
    std::thread::sleep(Duration::from_millis(300)); // SIPp binds its port
    let (caller, call) = sipp_caller(
        &server,
        Law::Pcmu,
        "call_operator_bye",
        &["-s", "700", "-d", "7000"],
    );
    let (code, log) = call.join().unwrap();
    let (carrier_code, carrier_log) = carrier.join().unwrap();
    assert_eq!(
        code,
        0,
        "the caller's call: {log}\ncarrier:\n{carrier_log}\nserver:\n{}",
        server.log_text()
    );
    let code = carrier_code;
    assert_eq!(
        code,
        0,
        "the carrier checked our credentials and got our BYE: {carrier_log}\nserver:\n{}",
        server.log_text()
    );
    // What the carrier received: the number as the trunk wants it (national), our caller
    // ID, and the second INVITE with the digest answer.
    assert!(
        carrier_log.contains(&format!(
            "INVITE sip:87011234567@127.0.0.1:{carrier_port} SIP/2.0"
        )),
        "{carrier_log}"
    );
    assert!(
        carrier_log.contains("From: <sip:+77172000000@"),
        "our caller ID: {carrier_log}"
    );
    assert!(
        carrier_log.contains("Authorization: Digest username=\"qonyrau\", realm=\"carrier.test\""),
        "{carrier_log}"
    );
    let (to_caller, to_far) = (caller.take(), far.take());
    let heard_far = best_tone_window(&decode(&to_caller), FAR_HZ);
    assert!(
        heard_far > 0.8,
        "the caller hears the far end: {heard_far:.2}"
    );
    let heard_caller = best_tone_window(&decode(&to_far), CALLER_HZ);
    assert!(
        heard_caller > 0.8,
        "the far end hears the caller: {heard_caller:.2}"
    );
}
