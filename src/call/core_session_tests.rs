//! UPDATE (RFC 3311) and the session timer's expiry (RFC 4028) in the call core, in
//! explicit time.

use super::*;

/// A call answered and ACKed (the IVR running).
fn up(t0: Instant) -> CallCore {
    let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
    drain(&mut c);
    c.handle_ack(t0, None);
    drain(&mut c);
    c
}

#[test]
fn an_update_without_a_body_is_a_session_refresh_answered_200() {
    let t0 = Instant::now();
    let mut c = up(t0);
    c.handle_update(t0, None);
    assert_eq!(
        drain_all(&mut c),
        [CallAction::AnswerUpdate {
            status: 200,
            sdp: None
        }]
    );
}

#[test]
fn an_update_with_an_offer_moves_the_media_and_answers_with_our_sdp() {
    let t0 = Instant::now();
    let mut c = up(t0);
    let moved = OFFER.replace("m=audio 30000", "m=audio 30100");
    c.handle_update(t0, Some(&moved));
    let a = drain(&mut c);
    match &a[..] {
        [CallAction::AnswerUpdate {
            status: 200,
            sdp: Some(sdp),
        }, CallAction::Media(MediaCommand::Update(n))] => {
            assert!(sdp.contains("m=audio 20000 RTP/AVP 0 101"), "{sdp}");
            assert_eq!(n.remote.port(), 30100);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_update_offer_without_a_common_codec_gets_488_and_changes_nothing() {
    let t0 = Instant::now();
    let mut c = up(t0);
    c.handle_update(t0, Some(&OFFER.replace("RTP/AVP 0 101", "RTP/AVP 18")));
    assert_eq!(
        drain(&mut c),
        [CallAction::AnswerUpdate {
            status: 488,
            sdp: None
        }]
    );
}

#[test]
fn an_update_offer_before_the_ack_gets_500_and_while_our_reoffer_waits_491() {
    let t0 = Instant::now();
    let mut c = CallCore::new(t0, setup(Duration::ZERO), Some(OFFER.into()));
    drain(&mut c);
    c.handle_update(t0, Some(OFFER));
    assert_eq!(
        drain(&mut c),
        [CallAction::AnswerUpdate {
            status: 500,
            sdp: None
        }]
    );
    let mut c = up(t0);
    c.handle_reinvite(t0, None); // we offer in the 200; the answer comes in the ACK
    drain(&mut c);
    c.handle_update(t0, Some(OFFER));
    assert_eq!(
        drain(&mut c),
        [CallAction::AnswerUpdate {
            status: 491,
            sdp: None
        }]
    );
}

#[test]
fn an_expired_session_timer_hangs_up_with_its_own_cause() {
    let t0 = Instant::now();
    let mut c = up(t0);
    c.handle_session_expired();
    let a = drain_all(&mut c);
    assert!(a.contains(&CallAction::SendBye), "{a:?}");
    c.handle_bye_completed();
    let a = drain_all(&mut c);
    assert!(facts(&a).contains(&CallFact::Ended {
        cause: EndCause::SessionExpired,
        side: Side::System
    }));
    assert_eq!(
        a.last(),
        Some(&CallAction::Ended(HangupCause::SessionExpired))
    );
}

// ---------------------------------------------------------------- the operator's leg

#[test]
fn an_offerless_operator_reinvite_gets_our_offer_and_its_acks_answer_holds_the_caller() {
    let t0 = Instant::now();
    let mut c = bridged_call(t0);
    c.handle_operator_reinvite(t0, LegId(1), None);
    match &drain(&mut c)[..] {
        [CallAction::AnswerOperatorReinvite {
            leg: LegId(1),
            status: 200,
            sdp: Some(offer),
        }] => assert!(offer.contains("m=audio 20100 RTP/AVP 0 8 101"), "{offer}"),
        other => panic!("{other:?}"),
    }
    let hold = OPERATOR_ANSWER.replace("t=0 0\r\n", "t=0 0\r\na=recvonly\r\n");
    c.handle_operator_ack(t0, LegId(1), Some(&hold));
    let a = drain_all(&mut c);
    assert!(
        matches!(a[0], CallAction::Media(MediaCommand::UpdateOperator(_))),
        "{a:?}"
    );
    assert!(a.contains(&CallAction::Media(MediaCommand::HoldCaller)));
    assert!(facts(&a).contains(&CallFact::Held { leg: LegId(1) }));
    // A second ACK (retransmitted) changes nothing.
    c.handle_operator_ack(t0, LegId(1), Some(&hold));
    assert!(drain_all(&mut c).is_empty());
}

#[test]
fn an_ack_without_the_answer_to_our_offer_ends_the_operators_leg() {
    let t0 = Instant::now();
    let mut c = bridged_call(t0);
    c.handle_operator_reinvite(t0, LegId(1), None);
    drain(&mut c);
    c.handle_operator_ack(t0, LegId(1), None);
    let a = drain_all(&mut c);
    assert!(a.contains(&CallAction::ByeLeg(LegId(1))), "{a:?}");
    assert!(facts(&a).contains(&CallFact::LegEnded {
        leg: LegId(1),
        cause: EndCause::NoCommonCodec,
        side: Side::System
    }));
    assert_eq!(prompts_of(&a), ["thanks"], "the caller goes on in the flow");
}

#[test]
fn no_ack_for_our_200_to_the_operators_reinvite_ends_their_leg() {
    let t0 = Instant::now();
    let mut c = bridged_call(t0);
    c.handle_operator_ack_timeout(t0, LegId(1));
    let a = drain_all(&mut c);
    assert!(a.contains(&CallAction::ByeLeg(LegId(1))), "{a:?}");
    assert!(facts(&a).contains(&CallFact::LegEnded {
        leg: LegId(1),
        cause: EndCause::AckTimeout,
        side: Side::System
    }));
}
