//! A caller in a flow's `queue` node, in the call core, in explicit time: music on hold at
//! once, the first announcement due at once and then every 60 s start to start, the ACD's
//! offer ringing the agent, the answer bridging at once (cutting an announcement), and what
//! the ACD hears back (answered, failed, left, call ended), overflow to `on_overflow`.

use super::*;
use crate::acd::{AgentId, EntryId, OfferFailure, OverflowReason};

const QUEUE_FLOW: &str = "start: q\nnodes:\n  q:\n    queue: support\n    priority: 3\n    on_overflow: sorry\n    next: thanks\n  sorry: { play: sorry, next: bye }\n  thanks: { play: thanks, next: bye }\n  bye: { hangup: true }\n";

/// A call in the queue flow, answered and ACKed, taken in by the ACD as entry 7.
fn queued(t0: Instant) -> CallCore {
    queued_with(t0, setup(Duration::ZERO))
}

/// [`queued`] with the support queue's music-on-hold class `class` (entering the queue
/// plays it: `queued_with` checks).
fn queued_hearing(t0: Instant, class: &str) -> CallCore {
    let mut s = setup(Duration::ZERO);
    s.queue_music = Arc::new([(Arc::from("support"), Arc::from(class))].into());
    queued_with(t0, s)
}

fn queued_with(t0: Instant, mut s: CallSetup) -> CallCore {
    s.flow = Arc::new(Flow::parse(Path::new("q.yaml"), QUEUE_FLOW).unwrap());
    let class = s
        .queue_music
        .get("support")
        .cloned()
        .unwrap_or_else(|| Arc::from("default"));
    let mut c = CallCore::new(t0, s, Some(OFFER.into()));
    drain(&mut c);
    c.handle_ack(t0, None);
    let a = drain(&mut c);
    assert!(
        a.contains(&CallAction::EnterQueue {
            queue: Arc::from("support"),
            priority: 3
        }),
        "{a:?}"
    );
    assert!(a.contains(&moh(&class)), "{a:?}");
    c.handle_queue_entered(t0, EntryId(7));
    c
}

/// The ACD offers the caller to agent 4 (2001), whose one contact now rings on leg 1.
fn ringing(c: &mut CallCore, t0: Instant) -> Vec<CallAction> {
    c.handle_queue_offer(AgentId(4), Arc::from("2001"));
    drain(c);
    c.handle_dial_targets(t0, vec![target(5001)], false, Some(20100));
    drain(c)
}

fn announcement_prompts() -> Vec<Arc<str>> {
    vec![Arc::from("queue_position_is"), Arc::from("num_2")]
}

/// The id of the announcement the core asked to play.
fn announced(c: &mut CallCore, now: Instant) -> PlayId {
    c.handle_timeout(now);
    let a = drain(c);
    assert_eq!(a, [CallAction::Announce { entry: EntryId(7) }]);
    c.handle_announcement(now, 2, Some(150.0), announcement_prompts());
    let a = drain(c);
    match &a[..] {
        [CallAction::Media(MediaCommand::Play { id, prompts })] => {
            assert_eq!(prompts, &announcement_prompts());
            *id
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_first_announcement_is_due_at_once_then_every_60_s_start_to_start() {
    let t0 = Instant::now();
    let mut c = queued(t0);
    assert_eq!(c.poll_timeout(), Some(t0), "the first at once");
    let first = announced(&mut c, t0);
    // A 50 s announcement does not move the next one.
    c.handle_prompt_done(t0 + Duration::from_secs(50), first);
    assert_eq!(
        drain(&mut c),
        [moh("default")],
        "music on hold between announcements"
    );
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(60)));
    let second = announced(&mut c, t0 + Duration::from_secs(60));
    assert_ne!(first, second);
    c.handle_prompt_done(t0 + Duration::from_secs(70), second);
    drain(&mut c);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(120)));
}

#[test]
fn the_announcement_publishes_the_position_and_estimate_told() {
    let t0 = Instant::now();
    let mut c = queued(t0);
    c.handle_timeout(t0);
    drain(&mut c);
    c.handle_announcement(t0, 2, Some(149.6), announcement_prompts());
    let f = facts(&drain_all(&mut c));
    assert_eq!(
        f,
        [CallFact::QueueAnnounced {
            position: 2,
            ewt_s: Some(150)
        }]
    );
}

#[test]
fn an_offer_rings_the_agent_and_the_answer_bridges_at_once_and_tells_the_acd() {
    let t0 = Instant::now();
    let mut c = queued(t0);
    let playing = announced(&mut c, t0);
    c.handle_queue_offer(AgentId(4), Arc::from("2001"));
    assert_eq!(
        drain(&mut c),
        [CallAction::Dial {
            extension: Arc::from("2001")
        }]
    );
    c.handle_dial_targets(t0, vec![target(5001)], false, Some(20100));
    let a = drain(&mut c);
    assert!(
        !a.contains(&moh("default")),
        "the announcement playing is not cut by the ringing: {a:?}"
    );
    assert_eq!(placed(&a), [LegId(1)]);
    c.handle_operator(t0, LegId(1), answered());
    let a = drain_all(&mut c);
    assert!(
        a.contains(&CallAction::Media(MediaCommand::Bridge)),
        "{a:?}"
    );
    assert!(a.contains(&CallAction::QueueAnswered {
        entry: EntryId(7),
        agent: AgentId(4)
    }));
    // The announcement cut by the bridge ends later: no music on hold over the operator.
    c.handle_prompt_done(t0, playing);
    assert!(drain(&mut c).is_empty());
    assert_eq!(c.poll_timeout(), None, "no more announcements");
    // The agent hangs up: the ACD starts their wrap-up; the caller goes on to `next`.
    c.handle_operator(t0, LegId(1), OutboundEvent::RemoteBye);
    let a = drain_all(&mut c);
    assert!(a.contains(&CallAction::QueueCallEnded { agent: AgentId(4) }));
    assert_eq!(prompts_of(&a), ["thanks"]);
}

#[test]
fn a_busy_agent_is_reported_to_the_acd_and_the_caller_keeps_waiting() {
    let t0 = Instant::now();
    let mut c = queued(t0);
    c.handle_queue_offer(AgentId(4), Arc::from("2001"));
    drain(&mut c);
    c.handle_dial_targets(t0, vec![target(5001)], true, Some(20100));
    let a = drain_all(&mut c);
    assert!(a.contains(&CallAction::QueueOfferFailed {
        entry: EntryId(7),
        agent: AgentId(4),
        failure: OfferFailure::Busy
    }));
    assert!(prompts_of(&a).is_empty(), "the caller stays in the queue");
    // The next offer is taken.
    c.handle_queue_offer(AgentId(5), Arc::from("2002"));
    assert_eq!(
        drain(&mut c),
        [CallAction::Dial {
            extension: Arc::from("2002")
        }]
    );
}

#[test]
fn the_acds_cancel_stops_the_ringing_and_the_callers_bye_tells_the_acd_they_left() {
    let t0 = Instant::now();
    let mut c = queued(t0);
    ringing(&mut c, t0);
    c.handle_queue_cancel_offer(AgentId(4));
    let a = drain(&mut c);
    assert!(a.contains(&CallAction::CancelLeg(LegId(1))), "{a:?}");
    c.handle_bye();
    let a = drain_all(&mut c);
    assert!(
        a.contains(&CallAction::QueueLeft { entry: EntryId(7) }),
        "{a:?}"
    );
}

#[test]
fn an_overflow_stops_the_ringing_and_goes_to_on_overflow() {
    let t0 = Instant::now();
    let mut c = queued(t0);
    ringing(&mut c, t0);
    c.handle_queue_overflow(t0, OverflowReason::MaxWait);
    let a = drain_all(&mut c);
    assert!(a.contains(&CallAction::CancelLeg(LegId(1))), "{a:?}");
    assert_eq!(prompts_of(&a), ["sorry"]);
    assert_eq!(
        c.poll_timeout(),
        None,
        "no announcement after leaving the queue"
    );
}

#[test]
fn a_transfer_to_the_queues_number_puts_the_caller_back_in_it_with_their_priority() {
    let t0 = Instant::now();
    let mut c = queued(t0);
    ringing(&mut c, t0);
    c.handle_operator(t0, LegId(1), answered());
    drain_all(&mut c);
    // The agent transfers the caller to 600, the support queue's number.
    c.handle_operator(
        t0,
        LegId(1),
        OutboundEvent::Refer {
            target: crate::sip::refer::ReferTo {
                uri: "sip:600@127.0.0.1".into(),
                user: Some("600".into()),
                replaces: false,
            },
        },
    );
    let a = drain_all(&mut c);
    for want in [
        CallAction::NotifyLeg {
            leg: LegId(1),
            status: 200,
        },
        CallAction::ByeLeg(LegId(1)),
        CallAction::QueueCallEnded { agent: AgentId(4) },
        CallAction::EnterQueue {
            queue: Arc::from("support"),
            priority: 3,
        },
        moh("default"),
    ] {
        assert!(a.contains(&want), "{want:?} in {a:?}");
    }
    assert!(facts(&a).contains(&CallFact::LegEnded {
        leg: LegId(1),
        cause: EndCause::Transferred,
        side: Side::Operator
    }));
    // Back in the queue: a new entry, announcements again, and an overflow now goes on as
    // after the operator (the flow's `next`).
    c.handle_queue_entered(t0, EntryId(8));
    assert_eq!(c.poll_timeout(), Some(t0));
    c.handle_queue_overflow(t0, OverflowReason::MaxWait);
    assert_eq!(prompts_of(&drain_all(&mut c)), ["thanks"]);
}

#[test]
fn a_queue_with_the_class_calm_plays_calm_while_waiting_and_after_a_failed_offer() {
    let t0 = Instant::now();
    // Entering: `queued_with` asserts MusicOnHold { class: "calm" } came with EnterQueue.
    let mut c = queued_hearing(t0, "calm");
    let first = announced(&mut c, t0);
    c.handle_prompt_done(t0 + Duration::from_secs(20), first);
    assert_eq!(
        drain(&mut c),
        [moh("calm")],
        "calm again after the announcement"
    );
    // A busy agent: the caller keeps the queue's music (nothing else is started).
    c.handle_queue_offer(AgentId(4), Arc::from("2001"));
    drain(&mut c);
    c.handle_dial_targets(t0, vec![target(5001)], true, Some(20100));
    let a = drain(&mut c);
    assert!(
        !a.iter()
            .any(|a| matches!(a, CallAction::Media(MediaCommand::MusicOnHold { .. }))),
        "{a:?}"
    );
    // Ringing the next agent while an announcement plays, then it ends: calm.
    let second = announced(&mut c, t0 + Duration::from_secs(60));
    ringing(&mut c, t0 + Duration::from_secs(61));
    c.handle_prompt_done(t0 + Duration::from_secs(70), second);
    assert_eq!(drain(&mut c), [moh("calm")]);
}

#[test]
fn a_queue_missing_from_the_class_map_plays_the_default_class() {
    let t0 = Instant::now();
    let mut s = setup(Duration::ZERO);
    s.queue_music = Arc::new(std::collections::BTreeMap::new());
    // `queued_with` asserts MusicOnHold { class: "default" } on entering.
    let mut c = queued_with(t0, s);
    let first = announced(&mut c, t0);
    c.handle_prompt_done(t0 + Duration::from_secs(20), first);
    assert_eq!(drain(&mut c), [moh("default")]);
}

#[test]
fn a_call_from_a_calm_queue_put_on_transfer_hold_hears_the_default_class() {
    let t0 = Instant::now();
    let mut c = queued_hearing(t0, "calm");
    ringing(&mut c, t0);
    c.handle_operator(t0, LegId(1), answered());
    drain_all(&mut c);
    // The agent transfers the caller to extension 2002: parked, the target rings.
    c.handle_operator(
        t0,
        LegId(1),
        OutboundEvent::Refer {
            target: crate::sip::refer::ReferTo {
                uri: "sip:2002@127.0.0.1".into(),
                user: Some("2002".into()),
                replaces: false,
            },
        },
    );
    let a = drain(&mut c);
    assert!(
        a.contains(&CallAction::Media(MediaCommand::ParkOperator)),
        "{a:?}"
    );
    c.handle_dial_targets(
        t0,
        vec![DialTarget {
            extension: "2002".into(),
            ..target(5002)
        }],
        false,
        Some(20200),
    );
    let a = drain(&mut c);
    assert!(a.contains(&moh("default")), "{a:?}");
    assert!(!a.contains(&moh("calm")), "{a:?}");
    // A transfer back to the queue's number: the queue's class again.
    let mut c = queued_hearing(t0, "calm");
    ringing(&mut c, t0);
    c.handle_operator(t0, LegId(1), answered());
    drain_all(&mut c);
    c.handle_operator(
        t0,
        LegId(1),
        OutboundEvent::Refer {
            target: crate::sip::refer::ReferTo {
                uri: "sip:600@127.0.0.1".into(),
                user: Some("600".into()),
                replaces: false,
            },
        },
    );
    let a = drain(&mut c);
    assert!(a.contains(&moh("calm")), "{a:?}");
}
