//! Tests of `crate::sip::uac` (explicit time where time matters).
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use super::*;

const CONTACT: &str = "<sip:2001@127.0.0.1:25090;ob>";
const CONTACT_URI: &str = "sip:2001@127.0.0.1:25090;ob";
const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

pub(super) fn params() -> OutboundParams {
    OutboundParams {
        request_uri: "sip:2001@127.0.0.1:25090".into(),
        from: "\"+77011234567 support 0:42\" <sip:+77011234567@qonyrau>".into(),
        to: "<sip:2001@127.0.0.1:25090>".into(),
        contact: "sip:qonyrau@127.0.0.1:5060".into(),
        local: "127.0.0.1:5060".parse().unwrap(),
        transport: Transport::Udp,
        sdp_offer: "v=0\r\n".into(),
        user_agent: "Qonyrau".into(),
        extra_headers: vec![("Call-Info".into(), "<urn:x>;purpose=info".into())],
        call_id: "call-1".into(),
        from_tag: "ourtag".into(),
        credentials: None,
    }
}

/// Everything the core queued: sent messages (parsed) and events.
pub(super) fn drain(call: &mut OutboundCall) -> (Vec<Message>, Vec<OutboundEvent>) {
    let (mut sent, mut events) = (vec![], vec![]);
    while let Some(a) = call.poll_action() {
        match a {
            OutboundAction::Send(b) => sent.push(Message::parse(&b).unwrap()),
            OutboundAction::Event(e) => events.push(e),
        }
    }
    (sent, events)
}

fn start(t0: Instant) -> (OutboundCall, Message) {
    let mut call = OutboundCall::new(t0, params(), Timers::default());
    let (mut sent, events) = drain(&mut call);
    assert!(events.is_empty());
    assert_eq!(sent.len(), 1);
    (call, sent.remove(0))
}

/// The scripted peer's response to one of our requests.
fn reply(req: &Message, code: u16, tag: &str) -> Message {
    let mut resp = response_for(req, code, tag);
    if (101..300).contains(&code) && req.method() == Some(&Method::Invite) {
        resp.push_header("contact", CONTACT);
    }
    resp
}

fn with_sdp(mut resp: Message, sdp: &str) -> Message {
    resp.push_header("content-type", "application/sdp");
    resp.body = Bytes::copy_from_slice(sdp.as_bytes());
    resp
}

fn method(m: &Message) -> &str {
    m.method().unwrap().as_str()
}

fn branch(m: &Message) -> String {
    m.top_via().unwrap().branch.unwrap()
}

/// A request from the peer within the dialog (the peer's From tag is `tag`).
fn peer_request(method: &str, cseq: u32, tag: &str) -> Message {
    let text = format!(
        "{method} sip:qonyrau@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:25090;branch=z9hG4bKpeer{cseq};rport\r\nFrom: <sip:2001@127.0.0.1:25090>;tag={tag}\r\nTo: <sip:+77011234567@qonyrau>;tag=ourtag\r\nCall-ID: call-1\r\nCSeq: {cseq} {method}\r\n\r\n"
    );
    Message::parse(text.as_bytes()).unwrap()
}

fn answered(t0: Instant) -> (OutboundCall, Message) {
    let (mut call, invite) = start(t0);
    call.handle_response(t0, &with_sdp(reply(&invite, 200, "peer"), SDP));
    let (_, events) = drain(&mut call);
    assert!(matches!(events[..], [OutboundEvent::Answered { .. }]));
    (call, invite)
}

#[test]
fn the_invite_carries_via_branch_rport_cseq_contact_and_the_offer() {
    let (_, invite) = start(Instant::now());
    assert_eq!(method(&invite), "INVITE");
    let via = invite.top_via().unwrap();
    assert!(via.has_rfc3261_branch());
    assert_eq!(via.rport, Some(None));
    assert_eq!(invite.header("max-forwards"), Some("70"));
    assert_eq!(invite.cseq(), Some((1, "INVITE")));
    assert_eq!(invite.from().unwrap().tag(), Some("ourtag"));
    assert_eq!(
        invite.from().unwrap().display.as_deref(),
        Some("+77011234567 support 0:42")
    );
    assert_eq!(
        invite.header("contact"),
        Some("<sip:qonyrau@127.0.0.1:5060>")
    );
    assert_eq!(invite.header("call-info"), Some("<urn:x>;purpose=info"));
    assert_eq!(invite.content_type().as_deref(), Some("application/sdp"));
    assert_eq!(invite.body_text(), Some("v=0\r\n"));
}

#[test]
fn early_media_183_with_sdp_then_200_rings_then_answers_and_acks_the_contact() {
    let t0 = Instant::now();
    let (mut call, invite) = start(t0);
    call.handle_response(t0, &reply(&invite, 100, ""));
    assert_eq!(drain(&mut call), (vec![], vec![]), "100 reports nothing");
    let early = with_sdp(reply(&invite, 183, "peer"), SDP);
    call.handle_response(t0, &early);
    call.handle_response(t0, &early); // retransmitted: reported once
    let (sent, events) = drain(&mut call);
    assert!(sent.is_empty());
    assert_eq!(
        events,
        [OutboundEvent::Ringing {
            early_sdp: Some(SDP.into())
        }]
    );
    let t1 = t0 + Duration::from_secs(5);
    call.handle_response(t1, &with_sdp(reply(&invite, 200, "peer"), SDP));
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
    assert_eq!(ack.request_uri(), Some("sip:2001@127.0.0.1:25090;ob"));
    assert_eq!(ack.cseq(), Some((1, "ACK")));
    assert_eq!(ack.to().unwrap().tag(), Some("peer"));
    assert_ne!(
        branch(ack),
        branch(&invite),
        "a 2xx ACK is its own transaction"
    );
    assert_eq!(call.remote_tag(), Some("peer"));
    assert_eq!(call.local_tag(), "ourtag");
    assert_eq!(call.call_id(), "call-1");
    assert!(!call.is_ended());
}

#[test]
fn a_2xx_retransmitted_twice_is_acked_three_times_and_answered_once() {
    let t0 = Instant::now();
    let (mut call, invite) = start(t0);
    let ok = with_sdp(reply(&invite, 200, "peer"), SDP);
    let mut acks = vec![];
    let mut events = vec![];
    for i in 0..3 {
        call.handle_response(t0 + Duration::from_millis(500 * i), &ok);
        let (sent, evs) = drain(&mut call);
        acks.extend(sent);
        events.extend(evs);
    }
    assert_eq!(acks.len(), 3);
    assert!(acks.iter().all(|a| method(a) == "ACK"));
    assert!(
        acks.windows(2).all(|w| w[0] == w[1]),
        "the same ACK each time"
    );
    assert_eq!(
        events,
        [OutboundEvent::Answered {
            sdp: Some(SDP.into())
        }]
    );
}

#[test]
fn busy_486_is_acked_with_the_invite_branch_and_fails_busy() {
    let t0 = Instant::now();
    let (mut call, invite) = start(t0);
    call.handle_response(t0, &reply(&invite, 486, "peer"));
    let (sent, events) = drain(&mut call);
    assert_eq!(events, [OutboundEvent::Failed(Outcome::Busy)]);
    let [ack] = &sent[..] else {
        panic!("one ACK: {sent:?}")
    };
    assert_eq!(method(ack), "ACK");
    assert_eq!(branch(ack), branch(&invite));
    assert_eq!(ack.request_uri(), invite.request_uri());
    assert_eq!(ack.cseq(), Some((1, "ACK")));
    assert_eq!(ack.to().unwrap().tag(), Some("peer"));
    assert!(call.is_ended());
    call.handle_response(t0, &reply(&invite, 486, "peer"));
    let (sent, events) = drain(&mut call);
    assert_eq!(sent.len(), 1, "a retransmitted 486 is ACKed again");
    assert!(events.is_empty());
}

#[test]
fn a_cancel_before_any_provisional_is_held_until_the_180() {
    let t0 = Instant::now();
    let (mut call, invite) = start(t0);
    call.cancel(t0 + Duration::from_millis(100));
    assert_eq!(drain(&mut call), (vec![], vec![]), "§9.1: not yet");
    call.handle_response(
        t0 + Duration::from_millis(200),
        &reply(&invite, 180, "peer"),
    );
    let (sent, events) = drain(&mut call);
    assert!(events.is_empty(), "no Ringing once we gave up");
    let [cancel] = &sent[..] else {
        panic!("one CANCEL: {sent:?}")
    };
    assert_eq!(method(cancel), "CANCEL");
    assert_eq!(branch(cancel), branch(&invite));
    assert_eq!(cancel.request_uri(), invite.request_uri());
    assert_eq!(cancel.cseq(), Some((1, "CANCEL")));
    assert_eq!(cancel.to().unwrap().tag(), None);
    assert_eq!(cancel.header("from"), invite.header("from"));
}

#[test]
fn cancel_then_487_fails_cancelled() {
    let t0 = Instant::now();
    let (mut call, invite) = start(t0);
    call.handle_response(t0, &reply(&invite, 180, "peer"));
    drain(&mut call);
    call.cancel(t0 + Duration::from_secs(20));
    let (sent, _) = drain(&mut call);
    let cancel = &sent[0];
    call.handle_response(t0 + Duration::from_secs(20), &reply(cancel, 200, "peer"));
    assert_eq!(drain(&mut call), (vec![], vec![]));
    call.handle_response(t0 + Duration::from_secs(20), &reply(&invite, 487, "peer"));
    let (sent, events) = drain(&mut call);
    assert_eq!(events, [OutboundEvent::Failed(Outcome::Cancelled)]);
    assert_eq!(method(&sent[0]), "ACK");
    assert_eq!(branch(&sent[0]), branch(&invite));
    assert!(call.is_ended());
}

#[test]
fn a_200_racing_our_cancel_is_acked_then_byed_and_fails_cancelled_once() {
    let t0 = Instant::now();
    let (mut call, invite) = start(t0);
    call.handle_response(t0, &reply(&invite, 180, "peer"));
    drain(&mut call);
    call.cancel(t0 + Duration::from_secs(10));
    let (sent, _) = drain(&mut call);
    let cancel = sent[0].clone();
    let ok = with_sdp(reply(&invite, 200, "peer"), SDP);
    call.handle_response(t0 + Duration::from_secs(10), &ok);
    let (sent, events) = drain(&mut call);
    assert_eq!(events, [OutboundEvent::Failed(Outcome::Cancelled)]);
    assert_eq!(sent.iter().map(method).collect::<Vec<_>>(), ["ACK", "BYE"]);
    let bye = &sent[1];
    assert_eq!(bye.cseq(), Some((2, "BYE")));
    assert_eq!(bye.to().unwrap().tag(), Some("peer"));
    assert_eq!(bye.request_uri(), Some("sip:2001@127.0.0.1:25090;ob"));
    // The CANCEL's 481, a 2xx retransmission and the BYE's 200: no more events.
    call.handle_response(t0 + Duration::from_secs(10), &reply(&cancel, 481, "peer"));
    call.handle_response(t0 + Duration::from_secs(11), &ok);
    call.handle_response(t0 + Duration::from_secs(11), &reply(bye, 200, "peer"));
    let (sent, events) = drain(&mut call);
    assert_eq!(sent.iter().map(method).collect::<Vec<_>>(), ["ACK"]);
    assert!(events.is_empty());
    assert!(call.is_ended());
    assert_eq!(call.remote_tag(), None, "no dialog for the owner");
}

#[test]
fn ringing_60_s_after_a_180_does_not_time_out() {
    let t0 = Instant::now();
    let (mut call, invite) = start(t0);
    call.handle_response(t0 + Duration::from_secs(1), &reply(&invite, 180, "peer"));
    let (_, events) = drain(&mut call);
    assert_eq!(events, [OutboundEvent::Ringing { early_sdp: None }]);
    assert_eq!(call.poll_timeout(), None, "Proceeding runs no timer");
    for s in [33, 40, 60] {
        call.handle_timeout(t0 + Duration::from_secs(s));
        assert_eq!(drain(&mut call), (vec![], vec![]), "at {s} s");
    }
    call.handle_response(t0 + Duration::from_secs(61), &reply(&invite, 200, "peer"));
    let (_, events) = drain(&mut call);
    assert_eq!(events, [OutboundEvent::Answered { sdp: None }]);
}

#[test]
fn no_response_at_all_fails_no_answer_at_32_s() {
    let t0 = Instant::now();
    let (mut call, _) = start(t0);
    let mut failed_at = None;
    while let Some(t) = call.poll_timeout() {
        call.handle_timeout(t);
        let (_, events) = drain(&mut call);
        if events == [OutboundEvent::Failed(Outcome::NoAnswer)] {
            failed_at = Some(t - t0);
        }
    }
    assert_eq!(failed_at, Some(Duration::from_secs(32)));
    assert!(call.is_ended());
}

#[test]
fn a_cancel_with_no_final_response_gives_up_64_t1_later() {
    let t0 = Instant::now();
    let (mut call, invite) = start(t0);
    call.handle_response(t0, &reply(&invite, 180, "peer"));
    call.cancel(t0);
    drain(&mut call);
    let mut failed_at = None;
    while let Some(t) = call.poll_timeout() {
        call.handle_timeout(t);
        if drain(&mut call).1 == [OutboundEvent::Failed(Outcome::Cancelled)] {
            failed_at = Some(t - t0);
        }
    }
    assert_eq!(failed_at, Some(Duration::from_secs(32)));
}

#[test]
fn a_remote_bye_is_reported_and_answered_200() {
    let t0 = Instant::now();
    let (mut call, _) = answered(t0);
    let bye = peer_request("BYE", 1, "peer");
    assert!(call.matches(&bye));
    let InDialog::Respond(resp) = call.handle_request(t0, &bye) else {
        panic!("a response")
    };
    assert_eq!(resp.status(), Some(200));
    assert_eq!(resp.cseq(), Some((1, "BYE")));
    assert_eq!(resp.to().unwrap().tag(), Some("ourtag"));
    assert_eq!(drain(&mut call).1, [OutboundEvent::RemoteBye]);
    assert!(call.is_ended());
}

#[test]
fn requests_of_other_dialogs_are_not_ours() {
    let t0 = Instant::now();
    let (mut call, _) = answered(t0);
    let other = peer_request("BYE", 1, "someone-else");
    assert!(!call.matches(&other));
    assert_eq!(call.handle_request(t0, &other), InDialog::NotOurs);
    assert!(!call.is_ended());
}

#[test]
fn an_out_of_order_remote_cseq_is_rejected_500() {
    let t0 = Instant::now();
    let (mut call, _) = answered(t0);
    let reinvite = peer_request("INVITE", 5, "peer");
    assert_eq!(call.handle_request(t0, &reinvite), InDialog::PassUp);
    let late = peer_request("INFO", 4, "peer");
    let InDialog::Respond(resp) = call.handle_request(t0, &late) else {
        panic!("a response")
    };
    assert_eq!(resp.status(), Some(500));
}

#[test]
fn our_bye_ends_with_bye_done_on_its_200() {
    let t0 = Instant::now();
    let (mut call, _) = answered(t0);
    call.bye(t0 + Duration::from_secs(30));
    let (sent, events) = drain(&mut call);
    assert!(events.is_empty());
    let [bye] = &sent[..] else {
        panic!("one BYE: {sent:?}")
    };
    assert_eq!(method(bye), "BYE");
    assert_eq!(bye.cseq(), Some((2, "BYE")));
    assert_eq!(bye.request_uri(), Some("sip:2001@127.0.0.1:25090;ob"));
    assert_eq!(bye.to().unwrap().tag(), Some("peer"));
    assert_eq!(bye.from().unwrap().tag(), Some("ourtag"));
    assert!(!call.is_ended());
    call.handle_response(t0 + Duration::from_secs(30), &reply(bye, 200, "peer"));
    assert_eq!(drain(&mut call).1, [OutboundEvent::ByeDone]);
    assert!(call.is_ended());
}

#[test]
fn an_unanswered_bye_ends_with_bye_done_on_timer_f() {
    let t0 = Instant::now();
    let (mut call, _) = answered(t0);
    call.bye(t0);
    drain(&mut call);
    let mut done_at = None;
    while let Some(t) = call.poll_timeout() {
        call.handle_timeout(t);
        if drain(&mut call).1 == [OutboundEvent::ByeDone] {
            done_at = Some(t - t0);
        }
    }
    assert_eq!(done_at, Some(Duration::from_secs(32)));
}

#[test]
fn record_route_is_honoured_in_ack_and_bye() {
    let t0 = Instant::now();
    let (mut call, invite) = start(t0);
    let mut ok = reply(&invite, 200, "peer");
    ok.push_header("record-route", "<sip:p1.example;lr>, <sip:p2.example;lr>");
    ok.push_header("record-route", "<sip:p3.example;lr>");
    call.handle_response(t0, &ok);
    let (sent, _) = drain(&mut call);
    let route: Vec<_> = sent[0].header_values("route").collect();
    assert_eq!(
        route,
        [
            "<sip:p3.example;lr>",
            "<sip:p2.example;lr>",
            "<sip:p1.example;lr>"
        ]
    );
    assert_eq!(sent[0].request_uri(), Some("sip:2001@127.0.0.1:25090;ob"));
    call.bye(t0);
    let (sent, _) = drain(&mut call);
    assert_eq!(sent[0].header_values("route").collect::<Vec<_>>(), route);
    assert_eq!(sent[0].request_uri(), Some("sip:2001@127.0.0.1:25090;ob"));
}

#[test]
fn a_2xx_from_a_second_fork_is_acked_and_byed_silently() {
    let t0 = Instant::now();
    let (mut call, invite) = answered(t0);
    call.handle_response(t0, &reply(&invite, 200, "fork2"));
    let (sent, events) = drain(&mut call);
    assert!(events.is_empty());
    assert_eq!(sent.iter().map(method).collect::<Vec<_>>(), ["ACK", "BYE"]);
    assert!(sent.iter().all(|m| m.to().unwrap().tag() == Some("fork2")));
    assert_eq!(call.remote_tag(), Some("peer"));
    assert!(!call.is_ended());
}

#[test]
fn outcomes_map_statuses_and_labels() {
    let (_, invite) = start(Instant::now());
    let of = |code| Outcome::of_response(&reply(&invite, code, "p"), false);
    assert_eq!(of(600), Outcome::Busy);
    assert_eq!(of(603), Outcome::Declined);
    assert_eq!(of(480), Outcome::NoAnswer);
    assert_eq!(of(503), Outcome::Unavailable);
    assert_eq!(of(487), Outcome::Rejected { status: 487 });
    assert_eq!(of(404).status(), Some(404));
    let mut moved = reply(&invite, 302, "p");
    moved.push_header("contact", "<sip:2002@h>, <sip:2003@h>");
    assert_eq!(
        Outcome::of_response(&moved, false),
        Outcome::Redirected {
            status: 302,
            contacts: vec!["sip:2002@h".into(), "sip:2003@h".into()]
        }
    );
    assert_eq!(Outcome::NoAnswer.status(), None);
    assert_eq!(Outcome::NoAnswer.label(), "no_answer");
}

#[test]
fn every_outcome_label_is_among_the_labels() {
    for o in [
        Outcome::Busy,
        Outcome::Declined,
        Outcome::NoAnswer,
        Outcome::Cancelled,
        Outcome::Redirected {
            status: 302,
            contacts: vec![],
        },
        Outcome::Unavailable,
        Outcome::Rejected { status: 404 },
    ] {
        assert!(Outcome::LABELS.contains(&o.label()), "{}", o.label());
    }
}

#[test]
fn in_dialog_requests_other_than_bye_and_reinvite_are_refused_488() {
    let t0 = Instant::now();
    let (mut call, _) = answered(t0);
    let info = peer_request("INFO", 5, "peer");
    let InDialog::Respond(resp) = call.handle_request(t0, &info) else {
        panic!("a response")
    };
    assert_eq!(resp.status(), Some(488));
}

/// A REFER from the peer with this Refer-To.
fn peer_refer(cseq: u32, refer_to: &str) -> Message {
    let mut refer = peer_request("REFER", cseq, "peer");
    refer.push_header("refer-to", refer_to);
    refer
}

#[test]
fn a_refer_is_answered_202_then_notified_100_trying_and_the_final_status() {
    let t0 = Instant::now();
    let (mut call, _) = answered(t0);
    let InDialog::Respond(resp) =
        call.handle_request(t0, &peer_refer(5, "<sip:2002@127.0.0.1:5070>"))
    else {
        panic!("a response")
    };
    assert_eq!(resp.status(), Some(202));
    let (sent, events) = drain(&mut call);
    assert_eq!(
        events,
        [OutboundEvent::Refer {
            target: crate::sip::refer::ReferTo {
                uri: "sip:2002@127.0.0.1:5070".into(),
                user: Some("2002".into()),
                replaces: false,
            }
        }]
    );
    assert_eq!(sent.len(), 1, "{sent:?}");
    let trying = &sent[0];
    assert_eq!(method(trying), "NOTIFY");
    assert_eq!(trying.request_uri(), Some(CONTACT_URI));
    assert_eq!(trying.cseq(), Some((2, "NOTIFY")));
    assert_eq!(trying.to().unwrap().tag(), Some("peer"));
    assert_eq!(trying.header("event"), Some("refer"));
    assert_eq!(
        trying.header("subscription-state"),
        Some("active;expires=60")
    );
    assert_eq!(
        trying.header("content-type"),
        Some("message/sipfrag;version=2.0")
    );
    assert_eq!(trying.body_text(), Some("SIP/2.0 100 Trying\r\n"));
    assert_eq!(
        trying.header("contact"),
        Some("<sip:qonyrau@127.0.0.1:5060>")
    );
    call.handle_response(t0, &reply(trying, 200, "peer"));
    assert_eq!(drain(&mut call), (vec![], vec![]));

    call.notify_refer(t0, 200);
    let (sent, events) = drain(&mut call);
    assert!(events.is_empty());
    assert_eq!(sent[0].cseq(), Some((3, "NOTIFY")));
    assert_eq!(
        sent[0].header("subscription-state"),
        Some("terminated;reason=noresource")
    );
    assert_eq!(sent[0].body_text(), Some("SIP/2.0 200 OK\r\n"));
    call.notify_refer(t0, 486);
    assert_eq!(
        drain(&mut call),
        (vec![], vec![]),
        "nothing after the final NOTIFY"
    );
}

#[test]
fn an_unanswered_notify_is_retransmitted_over_udp_and_given_up_silently() {
    let t0 = Instant::now();
    let (mut call, _) = answered(t0);
    call.handle_request(t0, &peer_refer(5, "<sip:2002@h>"));
    let (sent, _) = drain(&mut call);
    assert_eq!(sent.len(), 1);
    call.handle_timeout(t0 + Duration::from_millis(500));
    let (again, events) = drain(&mut call);
    assert_eq!(again, sent, "Timer E resends the NOTIFY");
    assert!(events.is_empty());
    call.handle_timeout(t0 + Duration::from_secs(33));
    drain(&mut call);
    assert_eq!(
        call.poll_timeout(),
        None,
        "Timer F ended it, nothing reported"
    );
    assert!(!call.is_ended(), "the call itself goes on");
}

#[test]
fn a_second_refer_waits_for_the_first_and_then_names_its_cseq_as_the_event_id() {
    let t0 = Instant::now();
    let (mut call, _) = answered(t0);
    call.handle_request(t0, &peer_refer(5, "<sip:2002@h>"));
    drain(&mut call);
    let InDialog::Respond(busy) = call.handle_request(t0, &peer_refer(6, "<sip:2003@h>")) else {
        panic!("a response")
    };
    assert_eq!(busy.status(), Some(491), "one transfer at a time");
    call.notify_refer(t0, 486);
    drain(&mut call);
    let InDialog::Respond(ok) = call.handle_request(t0, &peer_refer(7, "<sip:2003@h>")) else {
        panic!("a response")
    };
    assert_eq!(ok.status(), Some(202));
    let (sent, _) = drain(&mut call);
    assert_eq!(sent[0].header("event"), Some("refer;id=7"));
}

#[test]
fn a_refer_without_refer_to_is_refused_400_and_starts_nothing() {
    let t0 = Instant::now();
    let (mut call, _) = answered(t0);
    let InDialog::Respond(resp) = call.handle_request(t0, &peer_request("REFER", 5, "peer")) else {
        panic!("a response")
    };
    assert_eq!(resp.status(), Some(400));
    assert_eq!(drain(&mut call), (vec![], vec![]));
    call.notify_refer(t0, 200);
    assert_eq!(
        drain(&mut call),
        (vec![], vec![]),
        "no subscription to notify"
    );
}
