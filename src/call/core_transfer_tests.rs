//! Blind transfer by the operator (REFER, RFC 3515) in the call core, in explicit time:
//! the target rings while the caller hears music on hold; its answer bridges it and ends
//! the operator's leg (NOTIFY 200, BYE); busy, no answer or a bad target bring the caller
//! back to the operator, or on in the flow when the operator has hung up meanwhile.

use super::*;

/// The operator on leg 1 transfers to `user`.
fn refer(user: &str) -> OutboundEvent {
    OutboundEvent::Refer {
        target: ReferTo {
            uri: format!("sip:{user}@127.0.0.1"),
            user: Some(user.to_string()),
            replaces: false,
        },
    }
}

fn target_2002(port: u16) -> DialTarget {
    DialTarget {
        extension: "2002".into(),
        ..target(port)
    }
}

/// A bridged call whose operator (leg 1) asked to transfer to 2002, which now rings on
/// leg 2 (operator media port 20200).
fn transferring(t0: Instant) -> CallCore {
    let mut c = bridged_call(t0);
    c.handle_operator(t0, LegId(1), refer("2002"));
    drain(&mut c);
    c.handle_dial_targets(t0, vec![target_2002(5002)], false, Some(20200));
    let a = drain(&mut c);
    assert!(
        a.iter().any(|a| matches!(a, CallAction::PlaceLeg { leg: LegId(2), sdp, .. } if sdp.contains("m=audio 20200"))),
        "{a:?}"
    );
    c
}

fn notifies(actions: &[CallAction]) -> Vec<(LegId, u16)> {
    actions
        .iter()
        .filter_map(|a| match a {
            CallAction::NotifyLeg { leg, status } => Some((*leg, *status)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_refer_parks_the_operator_plays_music_to_the_caller_and_rings_the_target() {
    let t0 = Instant::now();
    let mut c = bridged_call(t0);
    c.handle_operator(t0, LegId(1), refer("2002"));
    let a = drain_all(&mut c);
    assert_eq!(
        a.iter()
            .filter(|a| !matches!(a, CallAction::Publish(_)))
            .collect::<Vec<_>>(),
        [
            &CallAction::Media(MediaCommand::ParkOperator),
            &CallAction::Dial {
                extension: Arc::from("2002")
            }
        ]
    );
    assert_eq!(
        facts(&a),
        [
            CallFact::Unbridged {
                a: CALLER_LEG,
                b: LegId(1)
            },
            CallFact::TransferRequested {
                leg: LegId(1),
                target: "2002".into()
            }
        ]
    );
    c.handle_dial_targets(t0, vec![target_2002(5002)], false, Some(20200));
    let a = drain(&mut c);
    assert!(a.contains(&moh("default")));
    assert!(matches!(
        &a[..],
        [.., CallAction::PlaceLeg { leg: LegId(2), target, .. }] if target.extension == "2002"
    ));
}

#[test]
fn the_targets_answer_bridges_it_ends_the_operators_leg_and_keeps_the_flow_where_it_was() {
    let t0 = Instant::now();
    let mut c = transferring(t0);
    c.handle_operator(t0, LegId(2), answered());
    let a = drain_all(&mut c);
    assert_eq!(
        notifies(&a),
        [(LegId(1), 200)],
        "NOTIFY 200 to the operator"
    );
    let order: Vec<&CallAction> = a
        .iter()
        .filter(|a| !matches!(a, CallAction::Publish(_)))
        .collect();
    assert_eq!(
        order,
        [
            &CallAction::Media(MediaCommand::StartOperator {
                leg: LegId(2),
                negotiated: sdp::parse_answer(OPERATOR_ANSWER).unwrap()
            }),
            &CallAction::NotifyLeg {
                leg: LegId(1),
                status: 200
            },
            &CallAction::ByeLeg(LegId(1)),
            &CallAction::Media(MediaCommand::ReleaseParked),
            &CallAction::Media(MediaCommand::Bridge),
        ]
    );
    let f = facts(&a);
    assert!(f.contains(&CallFact::LegEnded {
        leg: LegId(1),
        cause: EndCause::Transferred,
        side: Side::Operator
    }));
    assert!(f.contains(&CallFact::Bridged {
        a: CALLER_LEG,
        b: LegId(2)
    }));
    assert!(
        prompts_of(&a).is_empty(),
        "no prompt between the two operators"
    );
    // The new operator hangs up: the caller goes on to the dial node's `next`.
    c.handle_operator(t0, LegId(2), OutboundEvent::RemoteBye);
    assert_eq!(prompts_of(&drain_all(&mut c)), ["thanks"]);
}

#[test]
fn a_busy_target_brings_the_caller_back_to_the_operator() {
    let t0 = Instant::now();
    let mut c = bridged_call(t0);
    c.handle_operator(t0, LegId(1), refer("2002"));
    drain(&mut c);
    c.handle_dial_targets(t0, vec![target_2002(5002)], true, Some(20200));
    let a = drain_all(&mut c);
    assert_eq!(notifies(&a), [(LegId(1), 486)]);
    let media: Vec<&CallAction> = a
        .iter()
        .filter(|a| matches!(a, CallAction::Media(_)))
        .collect();
    assert_eq!(
        media,
        [
            &CallAction::Media(MediaCommand::ReleaseOperator),
            &CallAction::Media(MediaCommand::UnparkOperator),
            &CallAction::Media(MediaCommand::Bridge),
        ]
    );
    assert!(facts(&a).contains(&CallFact::TransferFailed {
        leg: LegId(1),
        status: 486
    }));
    assert!(prompts_of(&a).is_empty());
    // Connected to the operator again: their hold works as before.
    let hold = OPERATOR_ANSWER.replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
    c.handle_operator_reinvite(t0, LegId(1), Some(&hold));
    let a = drain(&mut c);
    assert!(
        a.contains(&CallAction::Media(MediaCommand::HoldCaller)),
        "{a:?}"
    );
}

#[test]
fn an_unanswered_target_is_cancelled_at_the_transfer_ring_timeout() {
    let t0 = Instant::now();
    let mut c = transferring(t0);
    let give_up = t0 + Duration::from_secs(30);
    assert_eq!(c.poll_timeout(), Some(give_up));
    c.handle_timeout(give_up - Duration::from_millis(1));
    assert!(drain(&mut c).is_empty());
    c.handle_timeout(give_up);
    let a = drain_all(&mut c);
    assert!(a.contains(&CallAction::CancelLeg(LegId(2))), "{a:?}");
    assert_eq!(notifies(&a), [(LegId(1), 480)]);
    assert!(a.contains(&CallAction::Media(MediaCommand::UnparkOperator)));
    assert!(a.contains(&CallAction::Media(MediaCommand::Bridge)));
    assert_eq!(c.poll_timeout(), None, "no transfer deadline left");
}

#[test]
fn when_the_operator_hangs_up_at_once_a_failed_transfer_sends_the_caller_on_in_the_flow() {
    let t0 = Instant::now();
    let mut c = transferring(t0);
    c.handle_operator(t0, LegId(1), OutboundEvent::RemoteBye);
    let a = drain_all(&mut c);
    assert!(a.contains(&CallAction::Media(MediaCommand::ReleaseParked)));
    assert!(facts(&a).contains(&CallFact::LegEnded {
        leg: LegId(1),
        cause: EndCause::OperatorHungUp,
        side: Side::Operator
    }));
    assert!(prompts_of(&a).is_empty(), "the transfer goes on");
    c.handle_operator(
        t0,
        LegId(2),
        OutboundEvent::Failed(Outcome::Rejected { status: 486 }),
    );
    let a = drain_all(&mut c);
    assert!(notifies(&a).is_empty(), "nobody left to notify");
    assert_eq!(prompts_of(&a), ["thanks"]);
}

#[test]
fn a_refer_to_no_extension_or_with_replaces_is_refused_and_the_bridge_stays() {
    let t0 = Instant::now();
    let mut c = bridged_call(t0);
    c.handle_operator(t0, LegId(1), refer("alice"));
    assert_eq!(
        drain_all(&mut c),
        [CallAction::NotifyLeg {
            leg: LegId(1),
            status: 404
        }]
    );
    let mut attended = refer("2002");
    if let OutboundEvent::Refer { target } = &mut attended {
        target.replaces = true;
    }
    c.handle_operator(t0, LegId(1), attended);
    assert_eq!(
        drain_all(&mut c),
        [CallAction::NotifyLeg {
            leg: LegId(1),
            status: 501
        }]
    );
}

#[test]
fn the_caller_hanging_up_during_a_transfer_ends_both_operator_legs() {
    let t0 = Instant::now();
    let mut c = transferring(t0);
    c.handle_bye();
    let a = drain_all(&mut c);
    assert!(a.contains(&CallAction::CancelLeg(LegId(2))), "{a:?}");
    assert_eq!(notifies(&a), [(LegId(1), 487)]);
    assert!(a.contains(&CallAction::ByeLeg(LegId(1))));
    assert!(a.contains(&CallAction::Media(MediaCommand::ReleaseParked)));
    assert!(facts(&a).contains(&CallFact::LegEnded {
        leg: LegId(1),
        cause: EndCause::CallerHungUp,
        side: Side::Caller
    }));
    assert_eq!(a.last(), Some(&CallAction::Ended(HangupCause::Caller)));
}
