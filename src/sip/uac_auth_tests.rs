//! Tests of `crate::sip::uac` answering digest challenges to its INVITE (RFC 3261 §22.2,
//! §8.1.3.5): what it sends, with explicit time.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use super::tests::drain;
use super::*;
use crate::sip::digest::{expected_response, ha1, Algorithm, Challenge, Credentials};

const REQUEST_URI: &str = "sip:+77011234567@trunk.example:5060";
const USER: &str = "qonyrau";
const PASSWORD: &str = "s3cret";
const REALM: &str = "trunk.example";
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

/// The plain tests' INVITE, sent to a trunk, with or without its credentials.
fn params(credentials: bool) -> OutboundParams {
    OutboundParams {
        request_uri: REQUEST_URI.into(),
        from: "\"support\" <sip:7172@qonyrau>".into(),
        to: "<sip:+77011234567@trunk.example>".into(),
        call_id: "call-auth".into(),
        credentials: credentials.then(|| DigestCredentials {
            username: USER.into(),
            password: PASSWORD.into(),
            realm: None,
        }),
        ..super::tests::params()
    }
}

fn start(t0: Instant, credentials: bool) -> (OutboundCall, Message) {
    let mut call = OutboundCall::new(t0, params(credentials), Timers::default());
    let (mut sent, events) = drain(&mut call);
    assert!(events.is_empty());
    assert_eq!(sent.len(), 1);
    (call, sent.remove(0))
}

fn reply(req: &Message, code: u16, tag: &str) -> Message {
    let mut resp = response_for(req, code, tag);
    if (101..300).contains(&code) && req.method() == Some(&Method::Invite) {
        resp.push_header("contact", "<sip:gw@trunk.example:5060>");
    }
    resp
}

fn challenge(nonce: &str, algorithm: Algorithm, stale: bool) -> String {
    Challenge {
        realm: REALM.into(),
        nonce: nonce.into(),
        algorithm,
        opaque: Some("op4que".into()),
        stale,
    }
    .header_value()
}

/// The trunk's 407 (Proxy-Authenticate) or 401 (WWW-Authenticate) to `req`.
fn challenged(req: &Message, code: u16, nonce: &str, stale: bool) -> Message {
    let mut resp = reply(req, code, "proxy");
    let header = if code == 407 {
        "proxy-authenticate"
    } else {
        "www-authenticate"
    };
    resp.push_header(header, challenge(nonce, Algorithm::Md5, stale));
    resp
}

fn method(m: &Message) -> &str {
    m.method().unwrap().as_str()
}

fn branch(m: &Message) -> String {
    m.top_via().unwrap().branch.unwrap()
}

/// The credentials in `header` of `req` are right for our password and `nonce`.
fn assert_credentials(req: &Message, header: &str, nonce: &str, alg: Algorithm) {
    let creds = Credentials::parse(req.header(header).expect(header)).unwrap();
    assert_eq!(creds.username, USER);
    assert_eq!(creds.realm, REALM);
    assert_eq!(creds.nonce, nonce);
    assert_eq!(creds.uri, REQUEST_URI);
    assert_eq!(creds.algorithm, alg);
    assert_eq!(creds.nc, Some(1));
    assert_eq!(creds.qop.as_deref(), Some("auth"));
    assert_eq!(creds.opaque.as_deref(), Some("op4que"));
    let cnonce = creds.cnonce.as_deref().expect("cnonce");
    assert!(!cnonce.is_empty());
    let want = expected_response(
        alg,
        &ha1(alg, USER, REALM, PASSWORD),
        nonce,
        Some(1),
        Some(cnonce),
        Some("auth"),
        "INVITE",
        REQUEST_URI,
    );
    assert_eq!(creds.response, want);
}

/// The challenged INVITE's ACK, then the INVITE again: checks both, returns the new INVITE.
fn ack_and_retry(sent: &[Message], first: &Message, cseq: u32) -> Message {
    let [ack, retry] = sent else {
        panic!("ACK and a new INVITE: {sent:?}")
    };
    assert_eq!(method(ack), "ACK");
    assert_eq!(branch(ack), branch(first), "the non-2xx ACK is the first's");
    assert_eq!(ack.cseq(), Some((cseq - 1, "ACK")));
    assert_eq!(ack.to().unwrap().tag(), Some("proxy"));
    assert_eq!(method(retry), "INVITE");
    assert_eq!(retry.request_uri(), Some(REQUEST_URI));
    assert_eq!(retry.cseq(), Some((cseq, "INVITE")));
    assert_ne!(branch(retry), branch(first));
    assert!(retry.top_via().unwrap().has_rfc3261_branch());
    assert_eq!(retry.call_id(), Some("call-auth"));
    assert_eq!(retry.header("from"), first.header("from"));
    assert_eq!(retry.from().unwrap().tag(), Some("ourtag"));
    assert_eq!(retry.to().unwrap().tag(), None);
    assert_eq!(retry.header("call-info"), Some("<urn:x>;purpose=info"));
    assert_eq!(retry.header("contact"), first.header("contact"));
    assert_eq!(retry.body_text(), Some("v=0\r\n"));
    retry.clone()
}

#[test]
fn a_407_is_acked_and_answered_with_proxy_authorization_then_the_200_is_acked_and_answered() {
    let t0 = Instant::now();
    let (mut call, first) = start(t0, true);
    assert_eq!(first.header("proxy-authorization"), None);
    call.handle_response(t0, &reply(&first, 100, ""));
    let t1 = t0 + Duration::from_millis(40);
    call.handle_response(t1, &challenged(&first, 407, "n1", false));
    let (sent, events) = drain(&mut call);
    assert_eq!(events, [], "an answered challenge is not a failure");
    let retry = ack_and_retry(&sent, &first, 2);
    assert_credentials(&retry, "proxy-authorization", "n1", Algorithm::Md5);
    assert_eq!(retry.header("authorization"), None);

    let t2 = t1 + Duration::from_secs(3);
    call.handle_response(t2, &reply(&retry, 180, "callee"));
    let (sent, events) = drain(&mut call);
    assert!(sent.is_empty());
    assert_eq!(events, [OutboundEvent::Ringing { early_sdp: None }]);
    let mut ok = reply(&retry, 200, "callee");
    ok.push_header("content-type", "application/sdp");
    ok.body = Bytes::copy_from_slice(SDP.as_bytes());
    call.handle_response(t2, &ok);
    let (sent, events) = drain(&mut call);
    assert_eq!(
        events,
        [OutboundEvent::Answered {
            sdp: Some(SDP.into())
        }]
    );
    let [ack] = &sent[..] else {
        panic!("one ACK: {sent:?}")
    };
    assert_eq!(method(ack), "ACK");
    assert_eq!(ack.cseq(), Some((2, "ACK")));
    assert_eq!(ack.to().unwrap().tag(), Some("callee"));
    assert_eq!(ack.request_uri(), Some("sip:gw@trunk.example:5060"));
    assert_eq!(
        ack.header("proxy-authorization"),
        retry.header("proxy-authorization"),
        "§13.2.2.4: the ACK carries the INVITE's credentials"
    );

    // In-dialog requests continue above the retried INVITE's CSeq.
    call.bye(t2 + Duration::from_secs(60));
    let (sent, _) = drain(&mut call);
    let [bye] = &sent[..] else {
        panic!("one BYE: {sent:?}")
    };
    assert_eq!(method(bye), "BYE");
    assert_eq!(bye.cseq(), Some((3, "BYE")));
}

#[test]
fn a_401_is_answered_with_authorization_from_www_authenticate() {
    let t0 = Instant::now();
    let (mut call, first) = start(t0, true);
    // Two challenges, the preferred one first (RFC 8760 §2.4): SHA-256 is answered.
    let mut resp = reply(&first, 401, "proxy");
    resp.push_header(
        "www-authenticate",
        challenge("n256", Algorithm::Sha256, false),
    );
    resp.push_header("www-authenticate", challenge("n5", Algorithm::Md5, false));
    call.handle_response(t0, &resp);
    let (sent, events) = drain(&mut call);
    assert_eq!(events, []);
    let retry = ack_and_retry(&sent, &first, 2);
    assert_credentials(&retry, "authorization", "n256", Algorithm::Sha256);
    assert_eq!(retry.header("proxy-authorization"), None);

    call.handle_response(t0, &reply(&retry, 200, "callee"));
    let (sent, events) = drain(&mut call);
    assert!(matches!(events[..], [OutboundEvent::Answered { .. }]));
    assert_eq!(sent[0].cseq(), Some((2, "ACK")));
    assert_eq!(
        sent[0].header("authorization"),
        retry.header("authorization")
    );
}

#[test]
fn a_second_407_to_the_answered_invite_fails_the_call_with_407() {
    let t0 = Instant::now();
    let (mut call, first) = start(t0, true);
    call.handle_response(t0, &challenged(&first, 407, "n1", false));
    let (sent, _) = drain(&mut call);
    let retry = ack_and_retry(&sent, &first, 2);
    call.handle_response(t0, &challenged(&retry, 407, "n2", false));
    let (sent, events) = drain(&mut call);
    assert_eq!(
        events,
        [OutboundEvent::Failed(Outcome::Rejected { status: 407 })]
    );
    let [ack] = &sent[..] else {
        panic!("only the ACK, no third INVITE: {sent:?}")
    };
    assert_eq!(method(ack), "ACK");
    assert_eq!(branch(ack), branch(&retry));
    assert_eq!(ack.cseq(), Some((2, "ACK")));
    assert!(call.is_ended());
}

#[test]
fn a_stale_challenge_is_answered_once_more_with_the_new_nonce() {
    let t0 = Instant::now();
    let (mut call, first) = start(t0, true);
    call.handle_response(t0, &challenged(&first, 401, "n1", false));
    let (sent, _) = drain(&mut call);
    let second = ack_and_retry(&sent, &first, 2);
    call.handle_response(t0, &challenged(&second, 401, "n2", true));
    let (sent, events) = drain(&mut call);
    assert_eq!(events, []);
    let third = ack_and_retry(&sent, &second, 3);
    assert_ne!(branch(&third), branch(&first));
    assert_credentials(&third, "authorization", "n2", Algorithm::Md5);

    // Stale again: not answered a third time.
    call.handle_response(t0, &challenged(&third, 401, "n3", true));
    let (sent, events) = drain(&mut call);
    assert_eq!(
        events,
        [OutboundEvent::Failed(Outcome::Rejected { status: 401 })]
    );
    assert_eq!(sent.len(), 1, "only the ACK: {sent:?}");
    assert_eq!(method(&sent[0]), "ACK");
}

#[test]
fn a_cancel_after_the_retry_matches_the_retried_invite() {
    let t0 = Instant::now();
    let (mut call, first) = start(t0, true);
    call.handle_response(t0, &reply(&first, 100, ""));
    call.handle_response(t0, &challenged(&first, 407, "n1", false));
    let (sent, _) = drain(&mut call);
    let retry = ack_and_retry(&sent, &first, 2);

    // The 100 was the first INVITE's: the CANCEL waits for one to the retried INVITE (§9.1).
    let t1 = t0 + Duration::from_millis(100);
    call.cancel(t1);
    assert_eq!(drain(&mut call), (vec![], vec![]));
    call.handle_response(t1, &reply(&retry, 180, "callee"));
    let (sent, events) = drain(&mut call);
    assert_eq!(events, [], "no ringing once cancelled");
    let [cancel] = &sent[..] else {
        panic!("one CANCEL: {sent:?}")
    };
    assert_eq!(method(cancel), "CANCEL");
    assert_eq!(branch(cancel), branch(&retry));
    assert_eq!(cancel.cseq(), Some((2, "CANCEL")));
    assert_eq!(cancel.request_uri(), Some(REQUEST_URI));
    assert_eq!(cancel.to().unwrap().tag(), None);

    call.handle_response(t1, &reply(cancel, 200, "callee"));
    call.handle_response(t1, &reply(&retry, 487, "callee"));
    let (sent, events) = drain(&mut call);
    assert_eq!(events, [OutboundEvent::Failed(Outcome::Cancelled)]);
    let [ack] = &sent[..] else {
        panic!("the 487's ACK: {sent:?}")
    };
    assert_eq!(branch(ack), branch(&retry));
    assert_eq!(ack.cseq(), Some((2, "ACK")));
}

#[test]
fn a_retransmitted_407_is_acked_again_by_the_challenged_transaction_only() {
    let t0 = Instant::now();
    let (mut call, first) = start(t0, true);
    let resp = challenged(&first, 407, "n1", false);
    call.handle_response(t0, &resp);
    let (sent, _) = drain(&mut call);
    let retry = ack_and_retry(&sent, &first, 2);
    let t1 = t0 + Duration::from_millis(500);
    call.handle_timeout(t1); // Timer A of the retried INVITE: retransmitted as it is
    let (sent, _) = drain(&mut call);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to_bytes(), retry.to_bytes());
    call.handle_response(t1, &resp);
    let (sent, events) = drain(&mut call);
    assert_eq!(events, []);
    let [ack] = &sent[..] else {
        panic!("the same ACK again, no new INVITE: {sent:?}")
    };
    assert_eq!(method(ack), "ACK");
    assert_eq!(branch(ack), branch(&first));
    assert_eq!(ack.cseq(), Some((1, "ACK")));

    // Timer D of the challenged transaction ends; the call keeps ringing.
    call.handle_response(t1, &reply(&retry, 180, "callee"));
    drain(&mut call);
    call.handle_timeout(t0 + Duration::from_secs(33));
    assert_eq!(drain(&mut call), (vec![], vec![]));
    assert_eq!(call.poll_timeout(), None);
    assert!(!call.is_ended());
}

#[test]
fn without_credentials_a_407_fails_the_call() {
    let t0 = Instant::now();
    let (mut call, first) = start(t0, false);
    call.handle_response(t0, &challenged(&first, 407, "n1", false));
    let (sent, events) = drain(&mut call);
    assert_eq!(
        events,
        [OutboundEvent::Failed(Outcome::Rejected { status: 407 })]
    );
    assert_eq!(sent.len(), 1, "only the ACK: {sent:?}");
    assert_eq!(method(&sent[0]), "ACK");
}

#[test]
fn a_challenge_we_cannot_answer_fails_the_call() {
    let t0 = Instant::now();
    for value in [
        "Basic realm=\"trunk.example\"",
        "Digest realm=\"trunk.example\", nonce=\"n1\"", // no qop: RFC 2069 only
        "Digest realm=\"trunk.example\", nonce=\"n1\", qop=\"auth\", algorithm=MD5-sess",
    ] {
        let (mut call, first) = start(t0, true);
        let mut resp = reply(&first, 401, "proxy");
        resp.push_header("www-authenticate", value);
        call.handle_response(t0, &resp);
        let (sent, events) = drain(&mut call);
        assert_eq!(
            events,
            [OutboundEvent::Failed(Outcome::Rejected { status: 401 })],
            "{value}"
        );
        assert_eq!(sent.len(), 1, "only the ACK: {sent:?}");
    }
    // A 407 that carries only WWW-Authenticate is not answered either.
    let (mut call, first) = start(t0, true);
    let mut resp = reply(&first, 407, "proxy");
    resp.push_header("www-authenticate", challenge("n1", Algorithm::Md5, false));
    call.handle_response(t0, &resp);
    let (_, events) = drain(&mut call);
    assert_eq!(
        events,
        [OutboundEvent::Failed(Outcome::Rejected { status: 407 })]
    );
}

#[test]
fn the_password_is_not_in_the_debug_output() {
    let text = format!("{:?}", params(true));
    assert!(text.contains(USER));
    assert!(!text.contains(PASSWORD));
}

#[test]
fn a_challenge_of_another_realm_than_the_trunks_is_not_answered() {
    let t0 = Instant::now();
    for (realm, answered) in [
        (Some("trunk.example"), true),
        (Some("other.example"), false),
    ] {
        let mut p = params(true);
        p.credentials.as_mut().unwrap().realm = realm.map(str::to_owned);
        let mut call = OutboundCall::new(t0, p, Timers::default());
        let (mut sent, _) = drain(&mut call);
        let first = sent.remove(0);
        call.handle_response(t0, &challenged(&first, 407, "n1", false));
        let (sent, events) = drain(&mut call);
        let retried = sent.iter().any(|m| method(m) == "INVITE");
        assert_eq!(retried, answered, "realm {realm:?}: {sent:?}");
        if !answered {
            assert_eq!(
                events,
                [OutboundEvent::Failed(Outcome::Rejected { status: 407 })]
            );
        }
    }
}
