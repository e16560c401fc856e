//! Tests of the call core in explicit time: answering, the IVR, hold, who hangs up, and
//! the operator legs of a `dial` node (fork, bridge, who ends what), with the facts each
//! step publishes.
#![allow(clippy::disallowed_methods)]
use super::*;
use std::path::Path;

const FLOW: &str = "start: hello\nnodes:\n  hello: { play: welcome, next: menu }\n  menu:\n    menu: { prompt: menu, options: { \"1\": bye }, timeout: 5s, retries: 0, on_failure: bye }\n  bye: { hangup: true }\n";
pub(super) const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

pub(super) fn setup(answer_after: Duration) -> CallSetup {
    CallSetup {
        flow: Arc::new(Flow::parse(Path::new("t.yaml"), FLOW).unwrap()),
        media_ip: IpAddr::from([127, 0, 0, 1]),
        media_port: 20000,
        answer_after,
        session_id: 1,
        caller: "+77011234567".into(),
        dialled: "100".into(),
        transfer_ring_timeout: Duration::from_secs(30),
        announce_every: Duration::from_secs(60),
        queue_numbers: Arc::new(
            [("600".to_string(), Arc::from("support"))]
                .into_iter()
                .collect(),
        ),
        queue_music: Arc::new(
            [(Arc::from("support"), Arc::from("default"))]
                .into_iter()
                .collect(),
        ),
        queue_callbacks: Arc::default(),
        language: crate::acd::phrases::Lang::En,
    }
}

/// Music on hold of `class` on the caller's leg.
pub(super) fn moh(class: &str) -> CallAction {
    CallAction::Media(MediaCommand::MusicOnHold {
        class: Arc::from(class),
    })
}

/// Actions other than published facts (see `drain_all` for those).
pub(super) fn drain(c: &mut CallCore) -> Vec<CallAction> {
    drain_all(c)
        .into_iter()
        .filter(|a| !matches!(a, CallAction::Publish(_)))
        .collect()
}

pub(super) fn drain_all(c: &mut CallCore) -> Vec<CallAction> {
    std::iter::from_fn(|| c.poll_action()).collect()
}

pub(super) fn facts(actions: &[CallAction]) -> Vec<CallFact> {
    actions
        .iter()
        .filter_map(|a| match a {
            CallAction::Publish(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

fn play_id(actions: &[CallAction]) -> PlayId {
    actions
        .iter()
        .find_map(|a| match a {
            CallAction::Media(MediaCommand::Play { id, .. }) => Some(*id),
            _ => None,
        })
        .expect("a play")
}

#[test]
fn an_offer_is_answered_at_once_and_the_ivr_starts_on_ack() {
    let t0 = Instant::now();
    let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
    let a = drain(&mut c);
    assert!(
        matches!(&a[..], [CallAction::Answer { sdp }] if sdp.contains("m=audio 20000 RTP/AVP 0 101"))
    );
    c.handle_ack(t0, None);
    let a = drain(&mut c);
    assert!(matches!(a[0], CallAction::Media(MediaCommand::Start(_))));
    assert!(
        matches!(&a[1], CallAction::Media(MediaCommand::Play { prompts, .. }) if &*prompts[0] == "welcome")
    );
}

#[test]
fn no_common_codec_is_488_and_the_call_ends() {
    let offer = OFFER.replace("RTP/AVP 0 101", "RTP/AVP 18");
    let mut c = CallCore::new(Instant::now(), setup(Duration::ZERO), Some(offer));
    assert_eq!(
        drain(&mut c),
        [
            CallAction::Reject { status: 488 },
            CallAction::Ended(HangupCause::NoCommonCodec)
        ]
    );
}

#[test]
fn without_an_offer_we_offer_in_the_200_and_take_the_answer_from_the_ack() {
    let t0 = Instant::now();
    let mut c = CallCore::new(t0, setup(Duration::ZERO), None);
    let a = drain(&mut c);
    assert!(matches!(&a[..], [CallAction::Answer { sdp }] if sdp.contains("RTP/AVP 0 8 101")));
    c.handle_ack(t0, Some(OFFER));
    assert!(matches!(
        drain(&mut c)[0],
        CallAction::Media(MediaCommand::Start(_))
    ));
    let mut c = CallCore::new(t0, setup(Duration::ZERO), None);
    drain(&mut c);
    c.handle_ack(t0, None);
    let a = drain(&mut c);
    assert!(
        a.contains(&CallAction::SendBye),
        "an ACK without the answer ends the call: {a:?}"
    );
}

#[test]
fn ringing_then_answer_at_the_deadline_and_cancel_while_ringing() {
    let t0 = Instant::now();
    let mut c = CallCore::new(t0, setup(Duration::from_secs(2)), Some(OFFER.into()));
    assert_eq!(drain(&mut c), [CallAction::Ring]);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    c.handle_timeout(t0 + Duration::from_secs(1));
    assert!(drain(&mut c).is_empty(), "early timeout does nothing");
    c.handle_timeout(t0 + Duration::from_secs(2));
    assert!(matches!(drain(&mut c)[..], [CallAction::Answer { .. }]));
    let mut c = CallCore::new(t0, setup(Duration::from_secs(2)), Some(OFFER.into()));
    drain(&mut c);
    c.handle_cancel();
    assert_eq!(
        drain(&mut c),
        [
            CallAction::Terminated,
            CallAction::Ended(HangupCause::CallerCancelled)
        ]
    );
}

#[test]
fn the_flow_hangs_up_with_bye_and_ends_when_the_bye_completes() {
    let t0 = Instant::now();
    let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
    drain(&mut c);
    c.handle_ack(t0, None);
    let welcome = play_id(&drain(&mut c));
    c.handle_prompt_done(t0, welcome);
    let menu = play_id(&drain(&mut c));
    c.handle_prompt_done(t0, menu);
    c.handle_digit(t0, Digit::from_char('1').unwrap(), DigitSource::Info);
    let a = drain(&mut c);
    assert!(a.contains(&CallAction::SendBye), "{a:?}");
    assert!(!c.is_ended());
    c.handle_bye_completed();
    assert_eq!(
        drain(&mut c),
        [CallAction::Ended(HangupCause::Flow(FlowEnd::Completed))]
    );
}

#[test]
fn hold_is_answered_recvonly_and_the_leg_updated() {
    let t0 = Instant::now();
    let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
    drain(&mut c);
    c.handle_ack(t0, None);
    drain(&mut c);
    c.handle_reinvite(t0, Some(&format!("{OFFER}a=sendonly\r\n")));
    let a = drain(&mut c);
    assert!(
        matches!(&a[0], CallAction::AnswerReinvite { sdp } if sdp.contains("a=recvonly") && sdp.contains(" 2 IN IP4"))
    );
    assert!(
        matches!(&a[1], CallAction::Media(MediaCommand::Update(n)) if n.direction == crate::sdp::Direction::RecvOnly)
    );
}

#[test]
fn an_offerless_reinvite_gets_our_offer_and_the_acks_answer_moves_the_media() {
    let t0 = Instant::now();
    let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
    drain(&mut c);
    c.handle_ack(t0, None);
    drain(&mut c);
    c.handle_reinvite(t0, None);
    let a = drain(&mut c);
    assert!(
        matches!(&a[..], [CallAction::AnswerReinvite { sdp }] if sdp.contains("RTP/AVP 0 8 101"))
    );
    let moved = OFFER.replace("m=audio 30000", "m=audio 30400");
    c.handle_ack(t0, Some(&moved));
    let a = drain(&mut c);
    assert!(
        matches!(&a[..], [CallAction::Media(MediaCommand::Update(n))] if n.remote.port() == 30400),
        "{a:?}"
    );
    // A retransmitted ACK changes nothing more.
    c.handle_ack(t0, Some(&moved));
    assert!(drain(&mut c).is_empty());
}

#[test]
fn an_ack_without_the_answer_to_our_reoffer_ends_the_call() {
    let t0 = Instant::now();
    let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
    drain(&mut c);
    c.handle_ack(t0, None);
    drain(&mut c);
    c.handle_reinvite(t0, None);
    drain(&mut c);
    c.handle_ack(t0, None);
    assert!(drain(&mut c).contains(&CallAction::SendBye));
}

#[test]
fn the_caller_hanging_up_ends_the_call_and_stops_the_ivr() {
    let t0 = Instant::now();
    let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
    drain(&mut c);
    c.handle_ack(t0, None);
    drain(&mut c);
    c.handle_bye();
    assert_eq!(drain(&mut c), [CallAction::Ended(HangupCause::Caller)]);
    c.handle_digit(t0, Digit::from_char('1').unwrap(), DigitSource::Info);
    assert!(drain(&mut c).is_empty());
}

#[test]
fn shutdown_refuses_a_ringing_call_and_hangs_up_an_answered_one() {
    let t0 = Instant::now();
    let mut c = CallCore::new(t0, setup(Duration::from_secs(5)), Some(OFFER.into()));
    drain(&mut c);
    c.shut_down();
    assert_eq!(
        drain(&mut c),
        [
            CallAction::Reject { status: 503 },
            CallAction::Ended(HangupCause::Shutdown)
        ]
    );
    let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
    drain(&mut c);
    c.handle_ack(t0, None);
    drain(&mut c);
    c.shut_down();
    assert!(drain(&mut c).contains(&CallAction::SendBye));
    c.handle_bye_completed();
    assert_eq!(drain(&mut c), [CallAction::Ended(HangupCause::Shutdown)]);
}

#[test]
fn a_missing_ack_ends_the_call_with_ack_timeout() {
    let t0 = Instant::now();
    let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
    drain(&mut c);
    c.handle_ack_timeout();
    assert!(drain(&mut c).contains(&CallAction::SendBye));
    c.handle_bye_completed();
    assert_eq!(drain(&mut c), [CallAction::Ended(HangupCause::AckTimeout)]);
}

// ---------------------------------------------------------------- operator legs

const DIAL_FLOW: &str = "start: op\nnodes:\n  op:\n    dial: \"2001\"\n    ring_timeout: 20s\n    on_no_answer: sorry\n    on_busy: busy\n    next: thanks\n  sorry: { play: sorry, next: bye }\n  busy: { play: busy, next: bye }\n  thanks: { play: thanks, next: bye }\n  bye: { hangup: true }\n";
pub(super) const OPERATOR_ANSWER: &str = "v=0\r\no=- 7 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

pub(super) fn target(port: u16) -> DialTarget {
    DialTarget {
        extension: "2001".into(),
        contact: format!("sip:2001@127.0.0.1:{port}"),
        reach: crate::sip::registrar::Reach::Udp(format!("127.0.0.1:{port}").parse().unwrap()),
        trunk: None,
    }
}

/// A call in the dial flow, answered and ACKed; returns the core and the Dial action seen.
fn dialling_call(t0: Instant) -> CallCore {
    let mut s = setup(Duration::ZERO);
    s.flow = Arc::new(Flow::parse(Path::new("d.yaml"), DIAL_FLOW).unwrap());
    let mut c = CallCore::new(t0, s, Some(OFFER.into()));
    drain(&mut c);
    c.handle_ack(t0, None);
    let a = drain(&mut c);
    assert!(
        a.contains(&CallAction::Dial {
            extension: Arc::from("2001")
        }),
        "{a:?}"
    );
    c
}

#[test]
fn a_dial_node_naming_a_trunk_asks_for_the_number_through_that_trunk() {
    let t0 = Instant::now();
    let mut s = setup(Duration::ZERO);
    let flow = DIAL_FLOW.replace(
        "dial: \"2001\"",
        "dial: \"87011234567\"\n    trunk: carrier",
    );
    s.flow = Arc::new(Flow::parse(Path::new("d.yaml"), &flow).unwrap());
    let mut c = CallCore::new(t0, s, Some(OFFER.into()));
    drain(&mut c);
    c.handle_ack(t0, None);
    let a = drain(&mut c);
    assert!(
        a.contains(&CallAction::DialTrunk {
            trunk: Arc::from("carrier"),
            number: Arc::from("87011234567"),
        }),
        "{a:?}"
    );
    assert!(
        !a.iter().any(|a| matches!(a, CallAction::Dial { .. })),
        "never as an extension: {a:?}"
    );
}

/// A call in the dial flow whose one operator leg (leg 1, contact port 5001) answered.
pub(super) fn bridged_call(t0: Instant) -> CallCore {
    let mut c = dialling_call(t0);
    c.handle_dial_targets(t0, vec![target(5001)], false, Some(20100));
    drain(&mut c);
    c.handle_operator(t0, LegId(1), answered());
    drain(&mut c);
    c
}

pub(super) fn placed(actions: &[CallAction]) -> Vec<LegId> {
    actions
        .iter()
        .filter_map(|a| match a {
            CallAction::PlaceLeg { leg, sdp, .. } => {
                assert!(sdp.contains("m=audio 20100 RTP/AVP 0 8 101"), "{sdp}");
                Some(*leg)
            }
            _ => None,
        })
        .collect()
}

pub(super) fn answered() -> OutboundEvent {
    OutboundEvent::Answered {
        sdp: Some(OPERATOR_ANSWER.into()),
    }
}

pub(super) fn prompts_of(actions: &[CallAction]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            CallAction::Media(MediaCommand::Play { prompts, .. }) => Some(prompts[0].to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_dial_rings_every_contact_with_music_on_hold_and_bridges_the_first_answer() {
    let t0 = Instant::now();
    let mut c = dialling_call(t0);
    c.handle_dial_targets(t0, vec![target(5001), target(5002)], false, Some(20100));
    let a = drain(&mut c);
    assert!(a.contains(&moh("default")), "{a:?}");
    let legs = placed(&a);
    assert_eq!(legs, [LegId(1), LegId(2)]);
    c.handle_operator(t0, LegId(2), OutboundEvent::Ringing { early_sdp: None });
    assert_eq!(
        facts(&drain_all(&mut c)),
        [CallFact::LegRinging {
            leg: LegId(2),
            target: "sip:2001@127.0.0.1:5002".into()
        }]
    );
    c.handle_operator(t0, LegId(2), answered());
    let a = drain_all(&mut c);
    assert!(a.contains(&CallAction::CancelLeg(LegId(1))), "{a:?}");
    let start = a
        .iter()
        .position(|x| matches!(x, CallAction::Media(MediaCommand::StartOperator { negotiated: n, .. }) if n.codec == crate::sdp::Codec::Pcma))
        .expect("operator media started with the answer's codec");
    let bridge = a
        .iter()
        .position(|x| *x == CallAction::Media(MediaCommand::Bridge))
        .expect("bridged");
    assert!(start < bridge);
    let f = facts(&a);
    assert!(f.contains(&CallFact::Bridged {
        a: LegId(0),
        b: LegId(2)
    }));
    // The cancelled leg's 487 changes nothing.
    c.handle_operator(t0, LegId(1), OutboundEvent::Failed(Outcome::Cancelled));
    let a = drain(&mut c);
    assert!(
        !a.iter().any(|x| matches!(x, CallAction::Media(_))),
        "{a:?}"
    );
}

#[test]
fn the_operators_bye_ends_only_that_leg_and_the_caller_goes_on_in_the_flow() {
    let t0 = Instant::now();
    let mut c = bridged_call(t0);
    c.handle_operator(t0, LegId(1), OutboundEvent::RemoteBye);
    let a = drain_all(&mut c);
    assert!(a.contains(&CallAction::Media(MediaCommand::Unbridge)));
    assert_eq!(
        prompts_of(&a),
        ["thanks"],
        "the caller hears the flow's next node"
    );
    assert!(
        !a.contains(&CallAction::SendBye),
        "the caller's leg stays up"
    );
    assert!(facts(&a).contains(&CallFact::LegEnded {
        leg: LegId(1),
        cause: EndCause::OperatorHungUp,
        side: Side::Operator
    }));
    assert!(!c.is_ended());
}

#[test]
fn the_callers_bye_ends_the_call_and_hangs_up_the_operator() {
    let t0 = Instant::now();
    let mut c = bridged_call(t0);
    c.handle_bye();
    let a = drain_all(&mut c);
    assert!(a.contains(&CallAction::ByeLeg(LegId(1))), "{a:?}");
    assert_eq!(a.last(), Some(&CallAction::Ended(HangupCause::Caller)));
    let f = facts(&a);
    assert!(f.contains(&CallFact::LegEnded {
        leg: LegId(1),
        cause: EndCause::CallerHungUp,
        side: Side::Caller
    }));
    assert!(f.contains(&CallFact::Ended {
        cause: EndCause::CallerHungUp,
        side: Side::Caller
    }));
}

#[test]
fn the_caller_leaving_while_the_operator_rings_cancels_the_ringing_legs() {
    let t0 = Instant::now();
    let mut c = dialling_call(t0);
    c.handle_dial_targets(t0, vec![target(5001), target(5002)], false, Some(20100));
    drain(&mut c);
    c.handle_bye();
    let a = drain(&mut c);
    assert!(a.contains(&CallAction::CancelLeg(LegId(1))));
    assert!(a.contains(&CallAction::CancelLeg(LegId(2))));
}

#[test]
fn a_busy_extension_goes_to_on_busy_without_ringing_anyone() {
    let t0 = Instant::now();
    let mut c = dialling_call(t0);
    c.handle_dial_targets(t0, vec![target(5001)], true, Some(20100));
    let a = drain(&mut c);
    assert!(placed(&a).is_empty());
    assert!(a.contains(&CallAction::Media(MediaCommand::ReleaseOperator)));
    assert_eq!(prompts_of(&a), ["busy"]);
}

#[test]
fn an_unregistered_extension_goes_to_on_no_answer() {
    let t0 = Instant::now();
    let mut c = dialling_call(t0);
    c.handle_dial_targets(t0, vec![], false, Some(20100));
    assert_eq!(prompts_of(&drain(&mut c)), ["sorry"]);
}

#[test]
fn every_contact_busy_goes_to_on_busy_with_each_failure_published() {
    let t0 = Instant::now();
    let mut c = dialling_call(t0);
    c.handle_dial_targets(t0, vec![target(5001), target(5002)], false, Some(20100));
    drain(&mut c);
    c.handle_operator(t0, LegId(1), OutboundEvent::Failed(Outcome::Busy));
    c.handle_operator(t0, LegId(2), OutboundEvent::Failed(Outcome::NoAnswer));
    let a = drain_all(&mut c);
    assert_eq!(prompts_of(&a), ["busy"]);
    let failed: Vec<_> = facts(&a)
        .into_iter()
        .filter(|f| matches!(f, CallFact::LegFailed { .. }))
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(
        matches!(&failed[0], CallFact::LegFailed { status: Some(486), outcome, .. } if outcome == "busy")
    );
}

#[test]
fn the_ring_timeout_cancels_the_legs_and_a_late_answer_is_hung_up() {
    let t0 = Instant::now();
    let mut c = dialling_call(t0);
    c.handle_dial_targets(t0, vec![target(5001)], false, Some(20100));
    drain(&mut c);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(20)));
    c.handle_timeout(t0 + Duration::from_secs(20));
    let a = drain(&mut c);
    assert!(a.contains(&CallAction::CancelLeg(LegId(1))), "{a:?}");
    assert_eq!(prompts_of(&a), ["sorry"]);
    c.handle_operator(t0 + Duration::from_secs(21), LegId(1), answered());
    let a = drain(&mut c);
    assert_eq!(a, [CallAction::ByeLeg(LegId(1))]);
}

#[test]
fn the_facts_of_a_call_come_in_order_from_arrival_to_end() {
    let t0 = Instant::now();
    let mut s = setup(Duration::ZERO);
    s.flow = Arc::new(Flow::parse(Path::new("d.yaml"), DIAL_FLOW).unwrap());
    let mut c = CallCore::new(t0, s, Some(OFFER.into()));
    let mut all = drain_all(&mut c);
    c.handle_ack(t0, None);
    all.extend(drain_all(&mut c));
    c.handle_dial_targets(t0, vec![target(5001)], false, Some(20100));
    all.extend(drain_all(&mut c));
    c.handle_operator(t0, LegId(1), answered());
    all.extend(drain_all(&mut c));
    c.handle_bye();
    all.extend(drain_all(&mut c));
    let names: Vec<&str> = facts(&all)
        .iter()
        .map(|f| match f {
            CallFact::Arrived { .. } => "arrived",
            CallFact::Answered => "answered",
            CallFact::IvrNode { .. } => "ivr_node",
            CallFact::LegAnswered { .. } => "leg_answered",
            CallFact::Bridged { .. } => "bridged",
            CallFact::Unbridged { .. } => "unbridged",
            CallFact::LegEnded { .. } => "leg_ended",
            CallFact::Ended { .. } => "ended",
            _ => "other",
        })
        .collect();
    assert_eq!(
        names,
        [
            "arrived",
            "answered",
            "ivr_node",
            "leg_answered",
            "bridged",
            "unbridged",
            "leg_ended",
            "ended"
        ]
    );
}

#[test]
fn a_flow_can_dial_again_after_the_operator_hung_up() {
    let again = "start: op\nnodes:\n  op:\n    dial: \"2001\"\n    on_no_answer: bye\n    next: op2\n  op2:\n    dial: \"2002\"\n    on_no_answer: bye\n    next: bye\n  bye: { hangup: true }\n";
    let t0 = Instant::now();
    let mut s = setup(Duration::ZERO);
    s.flow = Arc::new(Flow::parse(Path::new("d.yaml"), again).unwrap());
    let mut c = CallCore::new(t0, s, Some(OFFER.into()));
    drain(&mut c);
    c.handle_ack(t0, None);
    drain(&mut c);
    c.handle_dial_targets(t0, vec![target(5001)], false, Some(20100));
    drain(&mut c);
    c.handle_operator(t0, LegId(1), answered());
    drain(&mut c);
    c.handle_operator(t0, LegId(1), OutboundEvent::RemoteBye);
    assert!(drain(&mut c).contains(&CallAction::Dial {
        extension: Arc::from("2002")
    }));
    c.handle_dial_targets(t0, vec![target(5002)], false, Some(20102));
    let a = drain(&mut c);
    assert!(
        a.iter()
            .any(|x| matches!(x, CallAction::PlaceLeg { leg: LegId(2), .. })),
        "the second dial rings on a new leg: {a:?}"
    );
}

#[test]
fn the_operator_holding_plays_music_to_the_caller_and_resuming_bridges_again() {
    let t0 = Instant::now();
    let mut c = bridged_call(t0);
    let hold = format!("{OPERATOR_ANSWER}a=sendonly\r\n");
    c.handle_operator_reinvite(t0, LegId(1), Some(&hold));
    let a = drain_all(&mut c);
    assert!(
        matches!(&a[0], CallAction::AnswerOperatorReinvite { leg: LegId(1), status: 200, sdp: Some(sdp) } if sdp.contains("a=recvonly") && sdp.contains("m=audio 20100")),
        "{a:?}"
    );
    assert!(a.contains(&CallAction::Media(MediaCommand::HoldCaller)));
    assert!(facts(&a).contains(&CallFact::Held { leg: LegId(1) }));
    assert!(
        !a.contains(&CallAction::Media(MediaCommand::Unbridge)),
        "hold keeps the operator in the call (and busy)"
    );
    let resume = format!("{OPERATOR_ANSWER}a=sendrecv\r\n");
    c.handle_operator_reinvite(t0, LegId(1), Some(&resume));
    let a = drain_all(&mut c);
    assert!(a.contains(&CallAction::Media(MediaCommand::ResumeBridge)));
    assert!(facts(&a).contains(&CallFact::Resumed { leg: LegId(1) }));
    // A re-INVITE that changes nothing about hold just answers.
    c.handle_operator_reinvite(t0, LegId(1), Some(&resume));
    let a = drain(&mut c);
    assert_eq!(a.len(), 2, "the 200 and the media update only: {a:?}");
}

#[test]
fn an_operator_reinvite_without_a_bridge_gets_491_and_one_without_codecs_488() {
    let t0 = Instant::now();
    let mut c = dialling_call(t0);
    c.handle_operator_reinvite(t0, LegId(1), Some(OPERATOR_ANSWER));
    assert_eq!(
        drain(&mut c),
        [CallAction::AnswerOperatorReinvite {
            leg: LegId(1),
            status: 491,
            sdp: None
        }]
    );
    c.handle_dial_targets(t0, vec![target(5001)], false, Some(20100));
    drain(&mut c);
    c.handle_operator(t0, LegId(1), answered());
    drain(&mut c);
    let g729 = OPERATOR_ANSWER.replace("RTP/AVP 8 101", "RTP/AVP 18");
    c.handle_operator_reinvite(t0, LegId(1), Some(&g729));
    assert!(matches!(
        drain(&mut c)[..],
        [CallAction::AnswerOperatorReinvite { status: 488, .. }]
    ));
}

#[path = "core_transfer_tests.rs"]
mod transfer;

#[path = "core_session_tests.rs"]
mod session;

#[path = "core_queue_tests.rs"]
mod queue;

#[path = "core_callback_tests.rs"]
mod callback;
