//! A waiting caller books a callback, in the call core, in explicit time: the offer in the
//! announcement, the key, the dialogue's plays and request, the service's answer, and then
//! either back to music on hold or goodbye with the place handed to the callback.

use super::*;
use crate::acd::EntryId;
use crate::call::callback_offer::{self as offer, Booking, Choice};
use crate::call::core::CallbackKey;

const QUEUE_FLOW: &str = "start: q\nnodes:\n  q:\n    queue: support\n    priority: 3\n    on_overflow: bye\n    next: bye\n  bye: { hangup: true }\n";

/// A caller in the support queue, which offers callbacks on key 5 once the wait is 2 min.
fn waiting(t0: Instant) -> CallCore {
    let mut s = setup(Duration::ZERO);
    s.flow = Arc::new(Flow::parse(Path::new("q.yaml"), QUEUE_FLOW).unwrap());
    s.queue_callbacks = Arc::new(
        [(
            Arc::from("support"),
            CallbackKey {
                key: '5',
                offer_after: Duration::from_secs(120),
            },
        )]
        .into(),
    );
    let mut c = CallCore::new(t0, s, Some(OFFER.into()));
    drain(&mut c);
    c.handle_ack(t0, None);
    drain(&mut c);
    c.handle_queue_entered(t0, EntryId(7));
    c
}

fn key(c: &mut CallCore, now: Instant, d: char) -> Vec<CallAction> {
    c.handle_digit(now, Digit::from_char(d).unwrap(), DigitSource::Rfc4733);
    drain(c)
}

/// The prompts and id of the one play in `a`.
fn played(a: &[CallAction]) -> (PlayId, Vec<String>) {
    let plays: Vec<_> = a
        .iter()
        .filter_map(|a| match a {
            CallAction::Media(MediaCommand::Play { id, prompts }) => {
                Some((*id, prompts.iter().map(|p| p.to_string()).collect()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(plays.len(), 1, "one play: {a:?}");
    plays.into_iter().next().unwrap()
}

#[test]
fn the_announcement_offers_a_callback_only_when_the_wait_is_long() {
    let t0 = Instant::now();
    let mut c = waiting(t0);
    c.handle_timeout(t0);
    assert_eq!(drain(&mut c), [CallAction::Announce { entry: EntryId(7) }]);
    c.handle_announcement(t0, 4, Some(60.0), vec![Arc::from("queue_position_is")]);
    let (_, prompts) = played(&drain(&mut c));
    assert_eq!(prompts, ["queue_position_is"], "a minute's wait: no offer");
    c.handle_timeout(t0 + Duration::from_secs(60));
    drain(&mut c);
    c.handle_announcement(
        t0 + Duration::from_secs(60),
        4,
        Some(300.0),
        vec![Arc::from("queue_position_is")],
    );
    let (_, prompts) = played(&drain(&mut c));
    assert_eq!(prompts, ["queue_position_is", offer::OFFER, "num_5"]);
}

#[test]
fn pressing_the_key_books_a_callback_then_the_caller_leaves_with_the_place_kept() {
    let t0 = Instant::now();
    let mut c = waiting(t0);
    let at = t0 + Duration::from_secs(30);
    let (_, prompts) = played(&key(&mut c, at, '5'));
    assert_eq!(
        prompts[0],
        offer::NUMBER_IS,
        "the number read back: {prompts:?}"
    );
    assert_eq!(prompts.last().unwrap(), offer::CONFIRM);
    let (_, prompts) = played(&key(&mut c, at, '1'));
    assert_eq!(prompts, [offer::WHEN]);
    let a = key(&mut c, at, '1');
    assert_eq!(
        a[1..],
        [CallAction::RequestCallback {
            queue: Arc::from("support"),
            number: "77011234567".into(),
            when: Choice::Asap,
            waited: Duration::from_secs(30),
            priority: 3,
        }],
        "the prompt stopped, then the request with the caller ID's digits: {a:?}"
    );
    assert_eq!(a[0], CallAction::Media(MediaCommand::StopPlayback));
    c.handle_callback_booked(at, Booking::Asap);
    let (id, prompts) = played(&drain(&mut c));
    assert_eq!(prompts, [offer::BOOKED_ASAP]);
    c.handle_prompt_done(at + Duration::from_secs(8), id);
    let a = drain(&mut c);
    assert_eq!(
        a[0],
        CallAction::QueueLeftForCallback { entry: EntryId(7) },
        "{a:?}"
    );
    assert!(a.contains(&CallAction::SendBye), "then our BYE: {a:?}");
    assert!(
        !a.iter().any(|a| matches!(a, CallAction::QueueLeft { .. })),
        "no abandon: {a:?}"
    );
}

#[test]
fn a_duplicate_goes_back_to_music_on_hold_and_the_announcements_go_on() {
    let t0 = Instant::now();
    let mut c = waiting(t0);
    c.handle_timeout(t0);
    drain(&mut c);
    c.handle_announcement(t0, 1, None, vec![Arc::from("queue_next")]);
    drain(&mut c);
    key(&mut c, t0 + Duration::from_secs(5), '5');
    key(&mut c, t0 + Duration::from_secs(6), '1');
    key(&mut c, t0 + Duration::from_secs(7), '1');
    // An announcement falls due while the caller is in the dialogue: skipped.
    c.handle_timeout(t0 + Duration::from_secs(60));
    assert!(
        !drain(&mut c)
            .iter()
            .any(|a| matches!(a, CallAction::Announce { .. })),
        "no announcement over the dialogue"
    );
    c.handle_callback_booked(t0 + Duration::from_secs(61), Booking::Duplicate);
    let (id, prompts) = played(&drain(&mut c));
    assert_eq!(prompts, [offer::ALREADY_BOOKED]);
    c.handle_prompt_done(t0 + Duration::from_secs(65), id);
    assert_eq!(drain(&mut c), [moh("default")]);
    // The grid goes on: the slot at 120 s is announced.
    c.handle_timeout(t0 + Duration::from_secs(120));
    assert_eq!(drain(&mut c), [CallAction::Announce { entry: EntryId(7) }]);
}

#[test]
fn another_key_while_waiting_is_not_the_dialogues_and_a_queue_without_callbacks_ignores_it() {
    let t0 = Instant::now();
    let mut c = waiting(t0);
    assert!(key(&mut c, t0, '3').is_empty(), "not the callback key");
    let mut plain = waiting(t0);
    plain.setup.queue_callbacks = Arc::default();
    assert!(
        key(&mut plain, t0, '5').is_empty(),
        "no callbacks offered here"
    );
}
